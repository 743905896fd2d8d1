"""A synthetic shop writing to ``orders`` while a rehearsal migrates it.

:class:`ShopWorkload` runs in a background thread on its own connection and makes small
single-row writes at a bounded rate for a bounded time: new orders, amount updates and, once the
rehearsal says the ``status`` column exists, status updates. Every write is timed and logged with
whether it committed, so the rehearsal can say how long writes stalled during each step and check
that every committed write survived. It only ever talks to the rehearsal copy, on this machine.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError

from shopmig.db import is_memory_database, mask_url, open_engine, parse_url
from shopmig.dialects import dialect_for
from shopmig.errors import InvalidArgumentError
from shopmig.migrate import steps

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAID = "paid"


@dataclass(frozen=True)
class WriteEvent:
    """One workload write: when it started (seconds since the workload began), how long it took,
    what it wrote, and whether it committed."""

    started_s: float
    latency_s: float
    kind: str
    key: str
    amount: float | None
    status: str | None
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a plain dict."""
        return asdict(self)


def require_local(url: str | URL) -> None:
    """Refuse a workload against anything but this machine (SQLite files and loopback servers)."""
    parsed = parse_url(url)
    if not dialect_for(parsed).is_server:
        if is_memory_database(parsed):
            raise InvalidArgumentError(
                "url", mask_url(parsed),
                "a SQLite file or a server database (an in-memory database cannot be shared "
                "with a second connection)")
        return
    if (parsed.host or "localhost") not in LOOPBACK_HOSTS:
        raise InvalidArgumentError(
            "url", mask_url(parsed),
            "a database on this machine (127.0.0.1/localhost): the synthetic workload only "
            "writes to loopback servers")


class ShopWorkload:
    """Background writes to ``orders`` at ``rows_per_sec`` for at most ``duration_s`` seconds.

    Use as a context manager (or :meth:`start`/:meth:`stop`). ``existing_keys`` are order ids
    that amount and status updates may touch; inserts use new ids ``W-<seed>-000001``...
    Set :attr:`status_ready` once the ``status`` column exists so status updates begin.
    """

    def __init__(self, url: str | URL, *, existing_keys: list[str], rows_per_sec: float = 50.0,
                 duration_s: float = 120.0, seed: int = 0) -> None:
        if not rows_per_sec > 0:
            raise InvalidArgumentError("rows_per_sec", rows_per_sec, "a positive number")
        if not duration_s > 0:
            raise InvalidArgumentError("duration_s", duration_s, "a positive number of seconds")
        require_local(url)
        self.url = url
        self.rows_per_sec = float(rows_per_sec)
        self.duration_s = float(duration_s)
        self.keys = list(existing_keys)
        self.rng = random.Random(seed)
        self.prefix = f"W-{seed}-"
        self.status_ready = False
        self.events: list[WriteEvent] = []
        self._stop = threading.Event()
        self._gate = threading.Lock()  # held by each write, and by paused()
        self._paused_s = 0.0
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self.t0 = 0.0

    # -------------------------------------------------------------- lifecycle

    def start(self) -> ShopWorkload:
        """Open the workload's own connection and start writing in a background thread."""
        self._engine = open_engine(self.url, pooled=False)
        self.t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="shopmig-workload", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[WriteEvent]:
        """Stop writing (the write under way finishes first) and return the log."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._engine is not None:
            self._engine.dispose()
        return list(self.events)

    def __enter__(self) -> ShopWorkload:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def now(self) -> float:
        """Seconds since the workload started (the time base of every event)."""
        return time.perf_counter() - self.t0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the writes while the block runs (to check the copy between steps, say): the
        write under way finishes and is logged first. The schedule moves on by the pause, so
        the writes do not come in a burst afterwards."""
        with self._gate:
            began = self.now()
            try:
                yield
            finally:
                self._paused_s += self.now() - began

    # -------------------------------------------------------------- writing

    def _run(self) -> None:
        assert self._engine is not None
        table = sa.table(steps.TABLE, sa.column(steps.KEY), sa.column("amount"),
                         sa.column(steps.STATUS))
        interval = 1.0 / self.rows_per_sec
        n = 0
        with self._engine.connect() as conn:
            while not self._stop.is_set() and self.now() < self.duration_s:
                n += 1
                with self._gate:
                    self._write(conn, table, n)
                next_at = n * interval + self._paused_s
                pause = next_at - self.now()
                if pause > 0:
                    self._stop.wait(pause)

    def _write(self, conn: sa.Connection, table: sa.TableClause, n: int) -> None:
        roll = self.rng.random()
        amount = round(self.rng.uniform(1, 500), 2)
        status: str | None = None
        if roll < 0.4 or not self.keys:
            kind, key = "insert", f"{self.prefix}{n:06d}"
            stmt: sa.Executable = sa.insert(table).values({steps.KEY: key, "amount": amount})
        elif roll < 0.8 or not self.status_ready:
            kind, key = "update_amount", self.rng.choice(self.keys)
            stmt = sa.update(table).where(table.c[steps.KEY] == key).values(amount=amount)
        else:
            kind, key, status = "update_status", self.rng.choice(self.keys), PAID
            amount = None
            stmt = sa.update(table).where(table.c[steps.KEY] == key).values(status=status)
        started = self.now()
        try:
            with conn.begin():
                conn.execute(stmt)
            ok, error = True, None
        except DBAPIError as exc:
            ok, error = False, str(exc.orig).strip().splitlines()[0][:200]
            if conn.in_transaction():
                conn.rollback()
        self.events.append(WriteEvent(started, self.now() - started, kind, key, amount, status,
                                      ok, error))

    # -------------------------------------------------------------- results

    def frame(self) -> pd.DataFrame:
        """Every write so far as a DataFrame (one row per write)."""
        return pd.DataFrame([e.to_dict() for e in self.events],
                            columns=list(WriteEvent.__dataclass_fields__))


def expected_state(events: list[WriteEvent]) -> dict[str, dict[str, Any]]:
    """What committed writes should have left behind, per key: the last committed amount and
    status (inserted rows get the server default 'pending' unless a status update followed)."""
    state: dict[str, dict[str, Any]] = {}
    for e in sorted((e for e in events if e.ok), key=lambda e: e.started_s + e.latency_s):
        row = state.setdefault(e.key, {"inserted": False})
        if e.kind == "insert":
            row.update(inserted=True, amount=e.amount)
            row.setdefault("status", steps.STATUS_DEFAULT)
        elif e.kind == "update_amount":
            row["amount"] = e.amount
        elif e.kind == "update_status":
            row["status"] = e.status
    return state


def window_stats(events: pd.DataFrame, start_s: float, end_s: float) -> dict[str, Any]:
    """Latency of the writes that overlapped [start_s, end_s]: count, failures, longest stall
    (max latency), p50 and p99."""
    if events.empty:
        return {"writes": 0, "failed_writes": 0, "max_write_stall_s": 0.0,
                "p50_write_latency_s": 0.0, "p99_write_latency_s": 0.0}
    end = events["started_s"] + events["latency_s"]
    hit = events[(events["started_s"] <= end_s) & (end >= start_s)]
    if hit.empty:
        return {"writes": 0, "failed_writes": 0, "max_write_stall_s": 0.0,
                "p50_write_latency_s": 0.0, "p99_write_latency_s": 0.0}
    lat = hit["latency_s"]
    return {
        "writes": len(hit),
        "failed_writes": int((~hit["ok"]).sum()),
        "max_write_stall_s": round(float(lat.max()), 4),
        "p50_write_latency_s": round(float(lat.quantile(0.5)), 4),
        "p99_write_latency_s": round(float(lat.quantile(0.99)), 4),
    }
