"""The lock queue, measured: what waits behind a "metadata-only" step that is waiting for its lock.

Step 0002 changes only the catalog, yet it needs an exclusive lock on ``orders`` (PostgreSQL:
ACCESS EXCLUSIVE; MariaDB: an exclusive metadata lock; SQLite: the database's write lock). If a
transaction that read ``orders`` is still open, the step waits for it, and while it waits, every
later query on ``orders``, plain reads too, waits behind the step. :func:`measure_lock_queue`
makes that happen on a shop of your own and measures it:

- a *report* transaction reads ``orders`` and stays open for ``hold_s`` seconds (the blocker);
- a *reader* and a *writer* probe ``orders`` on connections of their own every
  ``probe_interval_s`` (a plain ``SELECT`` of one order; an ``UPDATE`` of one amount), each
  probe timed;
- ``lead_s`` after the blocker began, the step runs: ``shopmig.upgrade(conn, "+1",
  options=MigrationOptions(lock_timeout_s=..., retries=0))``, attempt after attempt with a
  backoff in between, up to ``retries`` more times, each attempt timed. With
  ``lock_timeout_s=None`` it waits as long as the blocker lasts (the naive way).

The result, a :class:`LockQueueRun`, says which probes *queued* behind an attempt (started
while it waited and finished only when it ended), and the facts that do not depend on timing
(:meth:`LockQueueRun.facts`): reads queued; without a lock timeout they were released only when
the blocker ended; with one they were released by the timeout, before the blocker ended, and
the step still got applied once the blocker was gone. Nothing here compares database names:
how a session bounds its wait and what queues are questions for :mod:`shopmig.dialects`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from shopmig.db import mask_url, open_engine, url_of
from shopmig.dialects import dialect_for
from shopmig.errors import InvalidArgumentError, LockTimeoutError, ShopmigError
from shopmig.migrate import steps
from shopmig.migrate.core import current_revision, upgrade
from shopmig.migrate.options import MigrationOptions

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: A lock timeout long enough to mean "none": the step waits for as long as the blocker lasts.
#: The longest shopmig accepts: a lock timeout may not exceed the statement timeout.
NO_LOCK_TIMEOUT_S = MigrationOptions.statement_timeout_s
#: A probe counts as queued when it waited at least ten times as long as a probe with nothing
#: waiting, and at least this long (shorter waits are scheduling noise on a busy machine).
MIN_QUEUE_S = 0.05
EVENT_COLUMNS = ["kind", "started_s", "latency_s", "ok", "error"]


@dataclass(frozen=True)
class Attempt:
    """One try of the step: when it started and how long it ran (workload time base), and how
    it ended: ``applied``, ``gave up`` (the lock timeout) or ``failed``."""

    started_s: float
    seconds: float
    outcome: str
    error: str | None = None

    @property
    def ended_s(self) -> float:
        """When the attempt ended."""
        return self.started_s + self.seconds

    # the shape shopmig.rehearsal.report.plot_latency reads for a shaded window
    @property
    def revision(self) -> str:
        """A label for the plot: the attempt's outcome."""
        return self.outcome

    @property
    def ok(self) -> bool:
        """True for the attempt that applied the step."""
        return self.outcome == "applied"


@dataclass(frozen=True, eq=False)
class LockQueueRun:
    """One measured run: the blocker's window, every attempt of the step, every probe.

    ``events`` has one row per probe (``kind`` read or write, ``started_s``, ``latency_s``,
    ``ok``, ``error``); times are seconds since the run began.
    """

    label: str
    database: str
    lock_timeout_s: float | None
    blocker_started_s: float
    blocker_ended_s: float
    attempts: list[Attempt]
    events: pd.DataFrame
    applied: bool
    explained: str
    notes: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- derived

    @property
    def steps(self) -> list[Attempt]:
        """The attempts (what :func:`shopmig.plot_latency` shades)."""
        return self.attempts

    def baseline_latency_s(self) -> float:
        """The median latency of probes that ran while no attempt and no blocker was running
        (what a probe costs when nothing waits)."""
        quiet = self.events[~self._inside(self.events["started_s"], self.events["latency_s"],
                                          self.blocker_started_s, self.blocker_ended_s)]
        if quiet.empty:
            quiet = self.events
        return float(quiet["latency_s"].median()) if len(quiet) else 0.0

    @staticmethod
    def _inside(start: pd.Series, latency: pd.Series, lo: float, hi: float) -> pd.Series:
        return (start < hi) & (start + latency > lo)

    def queue_floor_s(self) -> float:
        """How long a probe must wait to count as queued: ten times the baseline latency, and
        at least :data:`MIN_QUEUE_S`."""
        return max(10 * self.baseline_latency_s(), MIN_QUEUE_S)

    def queued(self) -> pd.DataFrame:
        """The probes that queued behind an attempt: started while it ran and waited at least
        :meth:`queue_floor_s`. Adds ``attempt`` (its number, from 1) and ``ended_s``."""
        ev = self.events.assign(ended_s=self.events["started_s"] + self.events["latency_s"])
        floor = self.queue_floor_s()
        rows = []
        for number, attempt in enumerate(self.attempts, start=1):
            hit = ev[(ev["started_s"] >= attempt.started_s) & (ev["started_s"] < attempt.ended_s)
                     & (ev["latency_s"] >= floor)]
            rows.append(hit.assign(attempt=number))
        if not rows:
            return ev.head(0).assign(attempt=0)
        return pd.concat(rows, ignore_index=True)

    def between_attempts(self) -> pd.DataFrame:
        """Probes that started while no attempt ran (before, between or after them)."""
        ev = self.events
        inside = pd.Series(False, index=ev.index)
        for attempt in self.attempts:
            inside |= (ev["started_s"] >= attempt.started_s) & (ev["started_s"] < attempt.ended_s)
        return ev[~inside]

    def stats(self) -> dict[str, int]:
        """Timings in whole milliseconds (they vary run to run): the longest read (and write)
        stall, how many probes queued, reads that were slow although no attempt ran, the
        attempts, how long the step took from its first try, how long the blocker held its
        transaction. Writes appear only when they were probed."""
        def longest(kind: str) -> int:
            lat = self.events.loc[self.events["kind"] == kind, "latency_s"]
            return round(float(lat.max()) * 1000) if len(lat) else 0

        queued = self.queued()
        first = self.attempts[0].started_s if self.attempts else 0.0
        last = self.attempts[-1].ended_s if self.attempts else 0.0
        writes = bool((self.events["kind"] == "write").any())
        out = {"longest read stall (ms)": longest("read")}
        if writes:
            out["longest write stall (ms)"] = longest("write")
        out["reads queued"] = int((queued["kind"] == "read").sum())
        if writes:
            out["writes queued"] = int((queued["kind"] == "write").sum())
        out |= {
            "reads slow between attempts": len(self.stalled_between_attempts()),
            "attempts": len(self.attempts),
            "step took (ms)": round((last - first) * 1000),
            "blocker held its transaction (ms)":
                round((self.blocker_ended_s - self.blocker_started_s) * 1000),
        }
        return out

    def facts(self) -> dict[str, bool]:
        """What does not depend on timing: safe to print and assert in a notebook.

        - ``reads queued behind the waiting step``: at least one plain read waited for an
          attempt that was itself waiting for its lock;
        - ``queued reads released when the blocker ended``: every queued read finished only
          once the blocker's transaction had ended (the naive way: the queue lasts as long as
          the blocker);
        - ``queued reads released by the lock timeout``: every read queued behind an attempt
          that gave up finished before the blocker ended, when that attempt gave up (none
          waited on after the timeout); reads queued behind the attempt that applied the step
          wait for it, as they must;
        - ``step applied``: the step ran in the end;
        - ``step applied after the blocker ended``: the attempt that applied it ended after
          the blocker's transaction did.
        """
        queued = self.queued()
        reads = queued[queued["kind"] == "read"]
        ends = reads["ended_s"]
        gave_up = {n for n, a in enumerate(self.attempts, start=1) if a.outcome == "gave up"}
        behind_timeouts = reads.loc[reads["attempt"].isin(gave_up), "ended_s"]
        applied = [a for a in self.attempts if a.ok]
        return {
            "reads queued behind the waiting step": bool(len(ends)),
            "queued reads released when the blocker ended":
                bool(len(ends)) and bool((ends >= self.blocker_ended_s).all()),
            "queued reads released by the lock timeout":
                bool(len(behind_timeouts))
                and bool((behind_timeouts < self.blocker_ended_s).all()),
            "step applied": self.applied,
            "step applied after the blocker ended":
                bool(applied) and applied[-1].ended_s >= self.blocker_ended_s,
        }

    def stalled_between_attempts(self) -> pd.DataFrame:
        """Reads that started while no attempt ran, overlapped none, and still waited
        :meth:`queue_floor_s` or more (nothing should make them wait)."""
        between = self.between_attempts()
        between = between[between["kind"] == "read"]
        return between[(between["latency_s"] >= self.queue_floor_s())
                       & ~self._overlaps_attempt(between)]

    def _overlaps_attempt(self, frame: pd.DataFrame) -> pd.Series:
        hit = pd.Series(False, index=frame.index)
        for attempt in self.attempts:
            hit |= self._inside(frame["started_s"], frame["latency_s"], attempt.started_s,
                                attempt.ended_s)
        return hit

    def summary(self) -> str:
        """One line with the timings (for a plot title or a log, not for compared output)."""
        s = self.stats()
        writes = (f", longest write stall {s['longest write stall (ms)']:,} ms"
                  if "longest write stall (ms)" in s else "")
        return (f"{self.label}: {s['attempts']} attempt(s), longest read stall "
                f"{s['longest read stall (ms)']:,} ms{writes}")

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (without the probe log)."""
        return {"label": self.label, "database": self.database,
                "lock_timeout_s": self.lock_timeout_s,
                "blocker_started_s": self.blocker_started_s,
                "blocker_ended_s": self.blocker_ended_s,
                "attempts": [a.__dict__ | {"ended_s": a.ended_s} for a in self.attempts],
                "applied": self.applied, "facts": self.facts(), "stats": self.stats(),
                "notes": list(self.notes)}


# ------------------------------------------------------------------ measuring


class _Clock:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.t0


def _probe_loop(engine: Engine, kind: str, clock: _Clock, stop: threading.Event,
                interval_s: float, log: list[dict[str, Any]]) -> None:
    """Time one small read or write on ``orders`` every ``interval_s`` until ``stop``."""
    t = sa.table(steps.TABLE, sa.column(steps.KEY), sa.column("amount"))
    key = "ORD-0000001" if kind == "read" else "ORD-0000002"
    stmt: sa.Executable = (sa.select(t.c.amount).where(t.c[steps.KEY] == key) if kind == "read"
                           else sa.update(t).where(t.c[steps.KEY] == key)
                           .values(amount=t.c.amount))
    with engine.connect() as conn:
        while not stop.is_set():
            started = clock.now()
            ok, error = True, None
            try:
                conn.execute(stmt)
                conn.commit()
            except sa.exc.DBAPIError as exc:
                ok, error = False, str(exc.orig).strip().splitlines()[0][:200]
                conn.rollback()
            log.append({"kind": kind, "started_s": started, "latency_s": clock.now() - started,
                        "ok": ok, "error": error})
            stop.wait(interval_s)


def _blocker(engine: Engine, clock: _Clock, hold_s: float, began: threading.Event,
             window: list[float]) -> None:
    """A report that reads orders in a transaction and keeps it open for ``hold_s``."""
    with engine.connect() as conn:
        conn.execute(sa.select(sa.func.count()).select_from(sa.table(steps.TABLE))).scalar()
        window.append(clock.now())
        began.set()
        time.sleep(hold_s)
        conn.rollback()
        window.append(clock.now())


def _attempt(conn: Connection, dialect: Any, timeout_s: float) -> tuple[str, str | None]:
    """One try of the next step with a lock timeout and no retry: (outcome, error)."""
    dialect.bound_lock_wait(conn, timeout_s)
    if conn.in_transaction():
        conn.commit()
    try:
        upgrade(conn, "+1", options=MigrationOptions(lock_timeout_s=timeout_s, retries=0))
    except LockTimeoutError as exc:
        return "gave up", str(exc)
    except ShopmigError as exc:  # a lock wait some check before the step reports otherwise
        return ("gave up" if dialect.gave_up_waiting(str(exc)) else "failed"), str(exc)
    return "applied", None


def measure_lock_queue(
    source: str | URL | Engine,
    *,
    lock_timeout_s: float | None,
    retries: int = 0,
    backoff_s: float = 0.2,
    hold_s: float = 3.0,
    lead_s: float = 0.5,
    tail_s: float = 0.5,
    probe_interval_s: float = 0.05,
    probe_writes: bool | None = None,
    label: str | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> LockQueueRun:
    """Hold a read transaction open on ``orders``, run the next step behind it, and time every
    read and write that arrives meanwhile.

    ``source`` is a shop at the baseline that a second connection can reach (a SQLite file or a
    server database; see :func:`shopmig.workload_url`). ``lock_timeout_s=None`` runs the step
    with no practical lock timeout (:data:`NO_LOCK_TIMEOUT_S`): it waits as long as the blocker.
    Otherwise each attempt gives up after ``lock_timeout_s`` (MariaDB: whole seconds, rounded
    up) and is retried up to ``retries`` more times, ``backoff_s * 2**n`` seconds apart.
    ``hold_s`` is how long the blocker's transaction stays open; the step starts ``lead_s``
    after it began. ``probe_writes`` (default: what the database's
    ``lock_queue_write_probe`` says) adds the write probe. Returns a :class:`LockQueueRun`.
    """
    if hold_s <= 0 or lead_s < 0 or lead_s >= hold_s:
        raise InvalidArgumentError("hold_s/lead_s", (hold_s, lead_s),
                                   "hold_s > lead_s >= 0: the step must start while the "
                                   "blocker's transaction is open")
    if lock_timeout_s is not None and not lock_timeout_s > 0:
        raise InvalidArgumentError("lock_timeout_s", lock_timeout_s,
                                   "a positive number of seconds, or None for no timeout")
    url = url_of(source)
    dialect = dialect_for(url)
    timeout = NO_LOCK_TIMEOUT_S if lock_timeout_s is None else float(lock_timeout_s)
    kinds = ["read", *(["write"] if (dialect.lock_queue_write_probe if probe_writes is None
                                      else probe_writes) else [])]
    engines = [open_engine(url, pooled=False) for _ in range(2 + len(kinds))]
    blocker_engine, step_engine, *probe_engines = engines
    clock = _Clock()
    stop, began = threading.Event(), threading.Event()
    log: list[dict[str, Any]] = []
    window: list[float] = []
    attempts: list[Attempt] = []
    threads = [threading.Thread(target=_probe_loop, args=(e, k, clock, stop, probe_interval_s,
                                                          log), daemon=True)
               for e, k in zip(probe_engines, kinds, strict=True)]
    blocker = threading.Thread(target=_blocker, args=(blocker_engine, clock, hold_s, began,
                                                      window), daemon=True)
    try:
        for thread in threads:
            thread.start()
        time.sleep(lead_s)
        blocker.start()
        began.wait()
        time.sleep(lead_s)
        for n in range(retries + 1):
            with step_engine.connect() as conn:  # a connection per attempt, as a retry would
                dialect = dialect_for(conn)  # with the server's version
                started = clock.now()
                outcome, error = _attempt(conn, dialect, timeout)
            attempt = Attempt(round(started, 4), round(clock.now() - started, 4), outcome,
                              error)
            attempts.append(attempt)
            if on_attempt is not None:
                on_attempt(attempt)
            if outcome != "gave up" or n == retries:
                break
            time.sleep(backoff_s * 2 ** n)
        blocker.join()
        time.sleep(tail_s)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        blocker.join()
        for engine in engines:
            engine.dispose()
    applied = current_revision(url) == steps.ADD_STATUS
    events = pd.DataFrame(log, columns=EVENT_COLUMNS).sort_values("started_s",
                                                                   ignore_index=True)
    return LockQueueRun(
        label=label or ("no lock timeout" if lock_timeout_s is None
                        else f"lock timeout {lock_timeout_s:g} s + retry"),
        database=dialect.server_label, lock_timeout_s=lock_timeout_s,
        blocker_started_s=round(window[0], 4), blocker_ended_s=round(window[1], 4),
        attempts=attempts, events=events, applied=applied,
        explained=dialect.lock_queue_explained,
        notes=[f"measured on {mask_url(url)}"],
    )


def compare_facts(*runs: LockQueueRun) -> pd.DataFrame:
    """The timing-free :meth:`LockQueueRun.facts` of several runs side by side."""
    return pd.DataFrame({run.label: run.facts() for run in runs})


def compare_stats(*runs: LockQueueRun) -> pd.DataFrame:
    """The timings of several runs side by side (they vary from run to run)."""
    return pd.DataFrame({run.label: run.stats() for run in runs})


def plot_lock_queue(*runs: LockQueueRun) -> Figure:
    """Each run's probes over time on its own axes: reads and writes (their latency), the
    blocker's open transaction (grey) and each attempt of the step (yellow, green when it
    applied the step), on a shared latency scale."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 3.4), sharey=True,
                             squeeze=False)
    for run, ax in zip(runs, axes[0], strict=True):
        ev = run.events
        ax.axvspan(run.blocker_started_s, run.blocker_ended_s, color="#8c959f", alpha=0.18,
                   label="open transaction (blocker)")
        for i, attempt in enumerate(run.attempts):
            colour = "#1a7f37" if attempt.ok else "#bf8700"
            ax.axvspan(attempt.started_s, attempt.ended_s, color=colour, alpha=0.3,
                       label="step waiting / running" if i == 0 else None)
        for kind, marker, colour in (("read", ".", "#0969da"), ("write", "x", "#cf222e")):
            part = ev[ev["kind"] == kind]
            ax.plot(part["started_s"], part["latency_s"] * 1000, marker, ms=4, color=colour,
                    label=f"{kind} (latency)")
        ax.set_xlabel("seconds since the run began (each probe at its start)")
        ax.set_ylabel("latency (ms)")
        ax.set_title(run.summary(), fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                  frameon=False)
    fig.tight_layout()
    return fig
