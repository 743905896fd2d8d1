"""Rehearse the migration on a copy, under a synthetic shop workload, and report what happened.

:func:`rehearse` makes (or reuses) a marked copy of the source, backs it up, runs every pending
step one at a time while :class:`~shopmig.workload.ShopWorkload` writes to ``orders``, then checks
that every row that existed before and every write the workload saw committed is there with the
right values. It then rolls all the way back and forward again (the round trip) and checks again.
The source is only ever read. The result is a :class:`Rehearsal` value with ``to_dict()`` (the
CLI's ``--json``) and ``to_html()`` (a self-contained report).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from tqdm import tqdm

from shopmig.copying import copy_database
from shopmig.databases import database_exists, database_marker, drop_database, is_server
from shopmig.db import database_file, mask_url, parse_url, use_connection
from shopmig.errors import NotACopyError, ShopmigError
from shopmig.migrate import steps
from shopmig.migrate.core import (
    current_revision,
    downgrade,
    half_applied,
    plan,
    revisions,
    upgrade,
)
from shopmig.migrate.steps import MigrationOptions
from shopmig.rehearsal.workload import (
    ShopWorkload,
    WriteEvent,
    expected_state,
    require_local,
    window_stats,
)
from shopmig.verification.api import VerifyResult, verify

TAIL_S = 0.5  # the workload keeps writing this long after the last step


@dataclass(frozen=True)
class RehearsedStep:
    """One step as it ran on the copy under the workload.

    ``verify_ok`` is the check made right after the step, with the workload's writes held:
    every pre-existing row unchanged (a new ``status`` column 'pending') and every write
    committed so far present; None for a step that failed (or a round-trip step, which is
    checked once at the end). ``seconds`` is the step's wall time, ``started_s`` when it began
    (seconds since the workload started); ``attempts`` how many tries it took (lock-timeout
    retries); ``phase`` is ``forward`` for the rehearsed steps, ``roundtrip`` for the steps
    of the round trip.
    """

    revision: str
    direction: str
    summary: str
    sql: str
    lock: str
    rewrites_table: bool
    started_s: float
    seconds: float
    writes: int
    failed_writes: int
    max_write_stall_s: float
    p50_write_latency_s: float
    p99_write_latency_s: float
    ok: bool
    verify_ok: bool | None = None
    error: str | None = None
    attempts: int = 1
    phase: str = "forward"

    def to_dict(self) -> dict[str, Any]:
        """The step as a plain dict."""
        return asdict(self)


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _shopmig_version() -> str:
    from shopmig._version import __version__

    return __version__


@dataclass(frozen=True, eq=False)
class Rehearsal:
    """Everything a rehearsal measured. ``ok`` means every step ran, nothing was lost or
    changed that the workload did not change, and the round trip returned the data exactly.

    What the run was (for the report's header): ``started_at`` (ISO 8601, UTC; ``created_at``
    is when this result was made), ``shopmig_version``, ``server_version`` (``PostgreSQL
    15.4``), the workload's ``rows_per_sec`` and ``duration_s`` limit, and ``options`` (the
    :class:`MigrationOptions` as a dict: lock and statement timeouts, retries, rewrites
    allowed). ``roundtrip_steps`` are the round trip's steps, timed like ``steps``.
    """

    source: str
    copy: str
    dialect: str
    start_revision: str | None
    end_revision: str | None
    steps: list[RehearsedStep]
    lost_writes: int
    failed_writes: int
    committed_writes: int
    unexplained_differences: int
    roundtrip_ok: bool | None
    status_values_dropped: int
    verification: VerifyResult | None
    roundtrip_verification: VerifyResult | None
    events: pd.DataFrame
    backup: dict[str, Any] | None = None
    failure: str | None = None
    notes: list[str] = field(default_factory=list)
    started_at: str | None = None
    created_at: str = field(default_factory=_now_iso)
    shopmig_version: str = field(default_factory=_shopmig_version)
    server_version: str | None = None
    rows_per_sec: float | None = None
    duration_s: float | None = None
    options: dict[str, Any] | None = None
    roundtrip_steps: list[RehearsedStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step ran and every check passed."""
        return (self.failure is None and self.lost_writes == 0
                and self.unexplained_differences == 0 and bool(self.roundtrip_ok)
                and all(s.ok and s.verify_ok is not False for s in self.steps))

    def reasons(self) -> list[str]:
        """Why the rehearsal is not OK, most important first (empty when it is OK)."""
        out = []
        if self.failure:
            out.append(self.failure)
        bad = [s.revision for s in self.steps if s.verify_ok is False]
        if bad:
            out.append(f"check failed after step(s) {', '.join(bad)}")
        if self.lost_writes:
            out.append(f"{self.lost_writes} committed write(s) lost")
        if self.unexplained_differences:
            out.append(f"{self.unexplained_differences} difference(s) the workload does not "
                       "explain")
        if self.roundtrip_ok is False:
            out.append("the round trip did not give the data back")
        elif self.roundtrip_ok is None and self.failure is None:
            out.append("the round trip did not run")
        return out

    def failed_write_errors(self) -> list[dict[str, Any]]:
        """The workload's failed writes grouped by error text: ``error``, ``count``,
        ``first_s`` and ``last_s`` (seconds since the workload started)."""
        from shopmig.rehearsal.report import failed_write_errors

        return failed_write_errors(self.events)

    def data_checks(self) -> dict[str, Any]:
        """The verifications as plain data that agrees with ``ok`` (see
        :func:`shopmig.rehearsal.report.verification_dict`)."""
        from shopmig.rehearsal.report import verification_dict

        return {
            "verification": verification_dict(
                self.verification, self.events,
                ok=self.lost_writes == 0 and self.unexplained_differences == 0),
            "roundtrip_verification": verification_dict(
                self.roundtrip_verification, self.events, ok=self.roundtrip_ok),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: ``ok``, ``lost_writes``, ``failed_writes``, ``roundtrip_ok``,
        ``steps`` (each with revision, seconds, max_write_stall_s, p99_write_latency_s,
        verify_ok) and the rest of the measurements. Every ``ok`` in it agrees with the
        headline: the verifications' ``ok`` counts only differences the workload does not
        explain (``identical`` says whether the copy equals its baseline at all, and
        ``explained_by_workload`` how many differences the workload's own writes made);
        ``reasons`` says why ``ok`` is false."""
        return {
            "ok": self.ok,
            "headline": self.summary(),
            "reasons": self.reasons(),
            "started_at": self.started_at,
            "created_at": self.created_at,
            "shopmig_version": self.shopmig_version,
            "server_version": self.server_version,
            "source": self.source,
            "copy": self.copy,
            "dialect": self.dialect,
            "rows_per_sec": self.rows_per_sec,
            "duration_s": self.duration_s,
            "options": self.options,
            "start_revision": self.start_revision,
            "end_revision": self.end_revision,
            "lost_writes": self.lost_writes,
            "failed_writes": self.failed_writes,
            "failed_write_errors": self.failed_write_errors(),
            "committed_writes": self.committed_writes,
            "unexplained_differences": self.unexplained_differences,
            "roundtrip_ok": self.roundtrip_ok,
            "status_values_dropped": self.status_values_dropped,
            "failure": self.failure,
            "backup": self.backup,
            "notes": list(self.notes),
            "steps": [s.to_dict() for s in self.steps],
            "roundtrip_steps": [s.to_dict() for s in self.roundtrip_steps],
            **self.data_checks(),
        }

    def summary(self) -> str:
        """One line: ``REHEARSAL OK: ...`` or ``REHEARSAL FAILED: <why>; ...`` (milliseconds)."""
        worst = max((s.max_write_stall_s for s in self.steps), default=0.0)
        on = self.server_version or self.dialect
        stats = (f"{len(self.steps)} step(s) on {on}, longest write stall "
                 f"{worst * 1000:,.0f} ms, {self.committed_writes} committed writes, "
                 f"{self.lost_writes} lost, {self.failed_writes} failed")
        if self.ok:
            return f"REHEARSAL OK: {stats}, round trip ok"
        trip = {True: "ok", False: "NOT ok", None: "not run"}[self.roundtrip_ok]
        return f"REHEARSAL FAILED: {'; '.join(self.reasons())}. {stats}, round trip {trip}"

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<Rehearsal {self.summary()}>"

    def to_html(self) -> str:
        """A self-contained HTML report (plots embedded as PNG)."""
        from shopmig.rehearsal.report import rehearsal_html

        return rehearsal_html(self)

    def _repr_html_(self) -> str:
        from shopmig.rehearsal.report import rehearsal_html

        return rehearsal_html(self, standalone=False)


def default_copy_url(source: str) -> str:
    """``<name>_rehearsal`` next to the source: a file beside a SQLite file, a database on the
    same server otherwise."""
    url = parse_url(source)
    path = database_file(url)
    if url.get_backend_name() == "sqlite":
        if path is None:
            raise ShopmigError("an in-memory database cannot be rehearsed from a URL.",
                               hint="Rehearse a SQLite file or a server database.")
        p = Path(path)
        return url.set(database=str(p.with_name(p.stem + "_rehearsal" + p.suffix))
                       ).render_as_string(hide_password=False)
    return url.set(database=f"{url.database}_rehearsal").render_as_string(hide_password=False)


def _prepare_copy(source: str, copy_to: str, allow_not_a_copy: bool) -> list[str]:
    notes = []
    if database_exists(copy_to):
        marker = database_marker(copy_to) if _has_tables(copy_to) else None
        if not allow_not_a_copy and (not marker or marker.get("role") != "copy"):
            raise NotACopyError(mask_url(copy_to), "rehearse on")
        notes.append(f"reused the existing copy {mask_url(copy_to)} at revision "
                     f"{current_revision(copy_to) or 'untracked'}")
    else:
        result = copy_database(source, copy_to)
        notes.append(f"copied {result.source} to {result.target} by {result.method}")
        notes.extend(result.notes)
    return notes


def _has_tables(url: str) -> bool:
    with use_connection(url) as conn:
        return bool(sa.inspect(conn).get_table_names())


def _baseline_url(copy_url: str) -> str:
    url = parse_url(copy_url)
    if url.get_backend_name() == "sqlite":
        p = Path(database_file(url) or "rehearsal.db")
        return url.set(database=str(p.with_name(p.stem + "_baseline" + p.suffix))
                       ).render_as_string(hide_password=False)
    return url.set(database=f"{url.database}_baseline").render_as_string(hide_password=False)


def _sample_keys(url: str, n: int) -> list[str]:
    with use_connection(url) as conn:
        t = sa.table(steps.TABLE, sa.column(steps.KEY))
        return [r[0] for r in conn.execute(sa.select(t.c[steps.KEY])
                                           .order_by(t.c[steps.KEY]).limit(n))]


def _actual_rows(url: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    with use_connection(url) as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns(steps.TABLE)}
        names = [steps.KEY, "amount", *([steps.STATUS] if steps.STATUS in cols else [])]
        t = sa.table(steps.TABLE, *(sa.column(n) for n in names))
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            stmt = sa.select(*t.c).where(t.c[steps.KEY].in_(keys[i : i + 500]))
            for row in conn.execute(stmt).mappings():
                out[row[steps.KEY]] = dict(row)
    return out


def _explain(copy_url: str, result: VerifyResult, events: list[WriteEvent]
             ) -> tuple[int, int, int]:
    """Explain the copy's differences from the baseline by the workload's committed writes.

    Returns (lost_writes, unexplained_differences, committed_writes): a committed write is lost
    when the copy does not hold what it wrote (its last value per key); a difference is
    unexplained when no committed write touched that key (the migration changed data).
    """
    expected = expected_state(events)
    actual = _actual_rows(copy_url, list(expected))
    lost = sum(not _holds(actual.get(k), want) for k, want in expected.items())
    differing = (set(result.unexpected[result.key]) | set(result.changed["key"]))
    unexplained = len(result.missing) + len(differing - set(expected))
    return lost, unexplained, sum(e.ok for e in events)


def _holds(got: dict[str, Any] | None, want: dict[str, Any]) -> bool:
    """Does the copy's row ``got`` hold what the committed writes ``want`` left?"""
    if got is None:
        return False
    if "amount" in want and _amount(got["amount"]) != _amount(want["amount"]):
        return False
    return not ("status" in want and steps.STATUS in got and got[steps.STATUS] != want["status"])


def _amount(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 6)


def _check(copy_url: str, baseline: str, events: list[WriteEvent]
           ) -> tuple[VerifyResult, int, int, int]:
    """Verify the copy against the baseline and explain the differences by ``events``:
    (result, lost_writes, unexplained_differences, committed_writes)."""
    result = verify(baseline, copy_url)
    lost, unexplained, committed = _explain(copy_url, result, events)
    if steps.STATUS in result.columns_added:  # new column: pre-existing rows must be 'pending'
        unexplained += _status_failures(copy_url, events, baseline)
    return result, lost, unexplained, committed


def _status_failures(copy: str, events: list[WriteEvent], baseline: str) -> int:
    """Pre-existing rows whose status is not 'pending' and no committed write explains it."""
    touched = {e.key for e in events if e.ok and e.kind == "update_status"}
    result = verify(baseline, copy, expect={steps.STATUS: steps.STATUS_DEFAULT})
    return sum(1 for k in result.expectation_failures["key"] if k not in touched)


def rehearse(
    source: str,
    *,
    copy_to: str | None = None,
    target: str = "head",
    rows_per_sec: float = 50.0,
    duration_s: float = 300.0,
    options: MigrationOptions | None = None,
    backup_dir: str | Path | None = "shopmig-backups",
    allow_not_a_copy: bool = False,
    roundtrip: bool = True,
    seed: int = 0,
    progress: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> Rehearsal:
    """Rehearse every pending step on a copy of ``source`` under a synthetic write workload.

    - ``copy_to``: the rehearsal copy (default ``<name>_rehearsal`` beside the source). Made with
      :func:`shopmig.copy_database` if missing; reused if it is a shopmig copy (so a second run
      resumes where a failed one stopped); anything else raises
      :class:`~shopmig.errors.NotACopyError` unless ``allow_not_a_copy``.
    - ``backup_dir``: where the pre-migration backup of the copy goes (None: no backup).
    - ``rows_per_sec``/``duration_s``: the workload's rate and its hard time limit.
    - ``options``: lock timeouts, retries and whether table rewrites are allowed.
    - ``progress``: a tqdm bar on stderr; ``on_step(message)`` is called as each phase starts.

    Steps run one at a time (each its own transaction where the database allows). A failing
    step stops the rehearsal: the copy stays at the last good revision and the failure is in the
    result (``ok`` is False). Never writes to ``source``.
    """
    require_local(source) if is_server(source) else None
    copy_url = copy_to or default_copy_url(source)
    require_local(copy_url)
    notes = _prepare_copy(source, copy_url, allow_not_a_copy)
    bar = tqdm(desc="rehearse", unit="step", disable=not progress, leave=False,
               file=sys.stderr)

    def say(message: str) -> None:
        bar.set_postfix_str(message[:60])
        bar.update(1)
        if on_step is not None:
            on_step(message)

    backup = None
    if backup_dir is not None:
        from shopmig.copying.backup import backup_database

        backup = backup_database(copy_url, Path(backup_dir)).to_dict()
        say(f"backed up the copy to {backup.get('path')}")
    baseline = _baseline_url(copy_url)
    if database_exists(baseline):
        drop_database(baseline)
    copy_database(copy_url, baseline)
    start = current_revision(copy_url)
    pending = plan(copy_url, target)
    keys = _sample_keys(copy_url, 2_000)
    opts = options or MigrationOptions()
    workload = ShopWorkload(copy_url, existing_keys=keys, rows_per_sec=rows_per_sec,
                            duration_s=duration_s, seed=seed)
    workload.status_ready = start not in (None, steps.BASELINE)
    ran: list[RehearsedStep] = []
    failure = None
    try:
        workload.start()
        time.sleep(min(TAIL_S, duration_s / 10))
        for step in pending:
            say(f"step {step.revision}: {step.impact.summary}")
            t0 = workload.now()
            error = None
            try:
                upgrade(copy_url, step.revision, options=opts)
            except ShopmigError as exc:
                error = str(exc)
            t1 = workload.now()
            if step.revision == steps.ADD_STATUS and error is None:
                workload.status_ready = True
            record = _step_record(step, t0, t1, error)
            if error is None:
                with workload.paused():  # the check sees every write that was logged
                    _, lost, unexplained, _ = _check(copy_url, baseline, list(workload.events))
                record = _replace(record, verify_ok=lost == 0 and unexplained == 0)
            ran.append(record)
            if error is not None:
                failure = f"step {step.revision} failed: {error}"
                mismatch = half_applied(copy_url)
                if mismatch:
                    failure += f" Half-applied: {mismatch}"
                break
        time.sleep(min(TAIL_S, duration_s / 10))
    finally:
        events = workload.stop()
    frame = workload.frame()
    ran = [_with_stats(s, frame) for s in ran]
    end = current_revision(copy_url)
    result, lost, unexplained, committed = _check(copy_url, baseline, events)
    rt_ok, rt_result, dropped = None, None, 0
    if roundtrip and failure is None and ran:
        say("round trip: down to the start, then up again")
        rt_ok, rt_result, dropped = _roundtrip(copy_url, baseline, start, end, result, opts,
                                               events)
    drop_database(baseline)
    bar.close()
    return Rehearsal(
        source=mask_url(source), copy=mask_url(copy_url),
        dialect=parse_url(copy_url).get_backend_name(),
        start_revision=start, end_revision=end, steps=ran, lost_writes=lost,
        failed_writes=int((~frame["ok"]).sum()) if len(frame) else 0,
        committed_writes=committed, unexplained_differences=unexplained, roundtrip_ok=rt_ok,
        status_values_dropped=dropped, verification=result, roundtrip_verification=rt_result,
        events=frame, backup=backup, failure=failure, notes=notes,
    )


def _step_record(step: Any, t0: float, t1: float, error: str | None) -> RehearsedStep:
    return RehearsedStep(
        revision=step.revision, direction=step.direction, summary=step.impact.summary,
        sql=step.sql, lock=step.impact.lock, rewrites_table=step.impact.rewrites_table,
        started_s=round(t0, 4), seconds=round(t1 - t0, 4), writes=0, failed_writes=0,
        max_write_stall_s=0.0, p50_write_latency_s=0.0, p99_write_latency_s=0.0,
        ok=error is None, error=error,
    )


def _with_stats(step: RehearsedStep, frame: pd.DataFrame) -> RehearsedStep:
    stats = window_stats(frame, step.started_s, step.started_s + step.seconds)
    return _replace(step, **stats)


def _replace(step: RehearsedStep, **changes: Any) -> RehearsedStep:
    return RehearsedStep(**{**step.to_dict(), **changes})


def _roundtrip(copy_url: str, baseline: str, start: str | None, end: str | None,
               before: VerifyResult, opts: MigrationOptions, events: list[WriteEvent]
               ) -> tuple[bool, VerifyResult, int]:
    """Down to ``start`` and up to ``end`` again (no workload): rows and amounts must come back
    exactly as they were; status values set since the upgrade are dropped (counted)."""
    with use_connection(copy_url) as conn:
        t = sa.table(steps.TABLE, sa.column(steps.STATUS))
        dropped = conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c[steps.STATUS] != steps.STATUS_DEFAULT)).scalar_one()
    downgrade(copy_url, start or revisions()[0], options=opts)
    upgrade(copy_url, end or "head", options=opts)
    after = verify(baseline, copy_url, expect={steps.STATUS: steps.STATUS_DEFAULT})
    same = (before.missing.equals(after.missing) and before.unexpected[before.key].tolist()
            == after.unexpected[after.key].tolist()
            and _amount_changes(before) == _amount_changes(after))
    statuses_reset = after.expectation_failures.empty
    return bool(same and statuses_reset), after, int(dropped)


def _amount_changes(result: VerifyResult) -> list[tuple[Any, ...]]:
    changed = result.changed[result.changed["column"] != steps.STATUS]
    return sorted(changed[["key", "column", "after"]].itertuples(index=False, name=None))
