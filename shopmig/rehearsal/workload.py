"""A synthetic shop writing to the table while a rehearsal migrates it.

:class:`ShopWorkload` runs in a background thread on its own connection and makes small
single-row writes at a bounded rate for a bounded time. By default the writes are *derived from
the table* (:func:`derive_workload`): inserts like sampled rows with fresh keys (identity left to
the server, new uuids, per-run unique text, fresh composite keys), required columns filled from
the samples, foreign keys pointing at parents that exist; updates of one plain non-key column;
and, once the rehearsal says the migration's column exists, updates of that column. Or the
user's own statements (``statements=``). Every write is timed and logged with whether it
committed and, when it failed, why; a failure that is not the migration's (not a lock wait) is a
*workload error*. It only ever talks to the rehearsal copy, on this machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from shopmig.db import (
    is_memory_database,
    mask_url,
    open_engine,
    parse_url,
    reading,
    reflect_table,
)
from shopmig.dialects import dialect_for
from shopmig.errors import InvalidArgumentError
from shopmig.migrate.options import STATUS_DEFAULT
from shopmig.migrate.target import Target, resolve_target

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAID = "paid"
SAMPLE_ROWS = 200
KEY_POOL = 2_000


@dataclass(frozen=True)
class WriteEvent:
    """One workload write: when it started (seconds since the workload began), how long it took,
    what it wrote (``values``, by column), and whether it committed. ``key`` is the row's key
    (a value, or a list for a composite key). ``error_kind`` is ``"lock"`` for a write that gave
    up waiting behind the migration and ``"workload"`` for any other failure (a write the table
    refuses: a workload error). ``amount``/``status`` repeat the demo table's columns."""

    started_s: float
    latency_s: float
    kind: str
    key: Any
    amount: float | None
    status: str | None
    ok: bool
    error: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    error_kind: str | None = None

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


# ------------------------------------------------------------------ deriving it from the table


@dataclass
class WorkloadPlan:
    """What the derived workload writes, read from the table once (read-only).

    ``fresh`` says how each key column gets a new value on insert: ``"server"`` (identity /
    autoincrement: left out), ``"uuid"``, ``"text"`` (per-run unique), ``"int"`` (above the
    largest), ``"sample"`` (copied from the sampled row: a composite key's other parts).
    ``unique`` columns outside the key get fresh values too. ``update_column`` is the plain
    column updates change (None: inserts only)."""

    target: Target
    table: sa.Table
    key: list[str]
    insert_columns: list[str]
    fresh: dict[str, str]
    samples: list[dict[str, Any]]
    keys: list[tuple[Any, ...]]
    update_column: str | None
    int_floor: dict[str, int] = field(default_factory=dict)


_SKIP_TYPES = (sa.LargeBinary, sa.JSON, sa.ARRAY)


def _uuid_text(value: Any) -> bool:
    """``value`` is a uuid written as 36-character text (with its dashes)."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _generated(column: sa.Column) -> bool:
    return column.computed is not None


def derive_workload(conn: Connection, target: Target | None = None, *,
                    existing_keys: Sequence[Any] | None = None,
                    status_column: str | None = None) -> WorkloadPlan:
    """Read the table (columns, key, unique columns, a sample of rows) and decide what the
    workload writes. Runs only SELECTs."""
    dialect = dialect_for(conn)
    with reading(conn):
        target = target or resolve_target(conn)
        table = reflect_table(conn, target.table, target.schema)
        uniques = dialect.unique_column_sets(conn, target)
        key = [c.name for c in table.primary_key.columns]
        if not key:
            raise InvalidArgumentError("table", target.display,
                                       "a table with a primary key (the workload writes by it)")
        skip = {status_column or target.column}
        columns = [c for c in table.columns if not _generated(c) and c.name not in skip]
        fresh: dict[str, str] = {}
        for name in key:
            col = table.c[name]
            if dialect.assigns_key(table, col) and (len(key) == 1 or col.identity is not None):
                fresh[name] = "server"
            elif isinstance(col.type, sa.Uuid) or "uuid" in str(col.type).lower():
                fresh[name] = "uuid"
            elif isinstance(col.type, sa.Integer):
                fresh[name] = "int"
            elif isinstance(col.type, sa.String):
                fresh[name] = "text"
            else:
                fresh[name] = "sample"
        if len(key) > 1 and all(v == "sample" for v in fresh.values()):
            raise InvalidArgumentError("table", target.display, "a key with an integer, text or "
                                       "uuid column the workload can make fresh values for")
        if len(key) > 1 and "server" in fresh.values():  # an identity part makes it unique
            fresh = {k: how if how == "server" else "sample" for k, how in fresh.items()}
        elif len(key) > 1:  # a composite key: the last part that can be fresh is, the rest copied
            freshable = [k for k in key if fresh[k] != "sample"]
            for name in key:
                if name != freshable[-1]:
                    fresh[name] = "sample"
        for col in table.columns:  # identity outside the key: the server's to fill
            if col.identity is not None and col.name not in fresh:
                fresh[col.name] = "server"
        for group in uniques:  # one fresh value per unique group makes each insert unique
            if any(fresh.get(name, "sample") != "sample" for name in group):
                continue
            for name in reversed(group):
                kind = table.c[name].type if name in table.c else None
                if isinstance(kind, sa.Integer | sa.String):
                    fresh[name] = "int" if isinstance(kind, sa.Integer) else "text"
                    break
        required = {c.name for c in columns if not c.nullable and c.server_default is None}
        insert_columns = [c.name for c in columns if fresh.get(c.name) != "server" and (
            not isinstance(c.type, _SKIP_TYPES) or c.name in required)]
        sample_sql = sa.select(*(table.c[n] for n in dict.fromkeys([*key, *insert_columns]))
                               ).limit(SAMPLE_ROWS)
        samples = [dict(r) for r in conn.execute(sample_sql).mappings()]
        for name, how in fresh.items():  # text keys that hold uuids get new uuids, as text
            if how == "text" and samples and all(_uuid_text(r.get(name)) for r in samples):
                fresh[name] = "uuid"
        floors = {}
        for name, how in fresh.items():
            if how == "int":
                top = conn.execute(sa.select(sa.func.max(table.c[name]))).scalar()
                floors[name] = int(top or 0)
        if existing_keys is not None:
            keys = [k if isinstance(k, tuple) else (k,) for k in existing_keys]
        else:
            keys = [tuple(r) for r in conn.execute(
                sa.select(*(table.c[k] for k in key)).order_by(*(table.c[k] for k in key))
                .limit(KEY_POOL))]
    update = _update_column(table, key, fresh, skip)
    return WorkloadPlan(target, table, key, insert_columns, fresh, samples, keys, update, floors)


def _update_column(table: sa.Table, key: list[str], fresh: dict[str, str], skip: set[str]
                   ) -> str | None:
    """A plain column to update: not the key, not generated, not a foreign key, not unique,
    not the migration's; numbers first (``amount`` if there is one)."""
    fk_columns = {el.parent.name for fk in table.foreign_key_constraints for el in fk.elements}
    candidates = [c for c in table.columns if c.name not in key and c.name not in skip
                  and not _generated(c) and c.name not in fk_columns and c.name not in fresh]
    numeric = [c for c in candidates if isinstance(c.type, sa.Float | sa.Numeric)
               and not isinstance(c.type, sa.Integer)]
    numeric.sort(key=lambda c: c.name != "amount")
    return numeric[0].name if numeric else None


class ShopWorkload:
    """Background writes to the table at ``rows_per_sec`` for at most ``duration_s`` seconds.

    Use as a context manager (or :meth:`start`/:meth:`stop`). The writes are derived from the
    table (see :func:`derive_workload`; ``existing_keys`` restricts the updates to those keys),
    or are ``statements``: SQL of your own, run in turn, with ``:run`` (this run's id) and
    ``:n`` (the write's number) as parameters to keep each run's rows apart. Set
    :attr:`status_ready` once the migration's column exists so its updates begin. Each run
    gets its own ``run_id`` (from ``seed`` and the clock), so a rerun never reuses a key.
    """

    def __init__(self, url: str | URL, *, existing_keys: Sequence[Any] | None = None,
                 rows_per_sec: float = 50.0, duration_s: float = 120.0, seed: int = 0,
                 table: str | None = None, column: str | None = None,
                 statements: Sequence[str] | None = None) -> None:
        if not rows_per_sec > 0:
            raise InvalidArgumentError("rows_per_sec", rows_per_sec, "a positive number")
        if not duration_s > 0:
            raise InvalidArgumentError("duration_s", duration_s, "a positive number of seconds")
        require_local(url)
        self.url = url
        self.rows_per_sec = float(rows_per_sec)
        self.duration_s = float(duration_s)
        self.existing_keys = None if existing_keys is None else list(existing_keys)
        self.table_name = table
        self.column = column
        self.statements = list(statements) if statements else None
        self.rng = random.Random(seed)
        self.run_id = f"{seed}{int(time.time() * 1000) % 100_000_000:08d}"
        self.status_ready = False
        self.events: list[WriteEvent] = []
        self.plan: WorkloadPlan | None = None
        self._stop = threading.Event()
        self._gate = threading.Lock()  # held by each write, and by paused()
        self._paused_s = 0.0
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self.t0 = 0.0

    @property
    def keys(self) -> list[Any]:
        """The keys updates may touch (a value, or a tuple for a composite key)."""
        if self.plan is None:
            return list(self.existing_keys or [])
        return [k[0] if len(k) == 1 else k for k in self.plan.keys]

    # -------------------------------------------------------------- lifecycle

    def start(self) -> ShopWorkload:
        """Read the table, open the workload's own connection and start writing in a
        background thread."""
        self._engine = open_engine(self.url, pooled=False)
        if self.statements is None:
            with self._engine.connect() as conn:
                target = resolve_target(conn, self.table_name, self.column)
                self.plan = derive_workload(conn, target, existing_keys=self.existing_keys)
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
        interval = 1.0 / self.rows_per_sec
        n = 0
        with self._engine.connect() as conn:
            while not self._stop.is_set() and self.now() < self.duration_s:
                n += 1
                with self._gate:
                    self._write(conn, n)
                next_at = n * interval + self._paused_s
                pause = next_at - self.now()
                if pause > 0:
                    self._stop.wait(min(pause, self.duration_s))

    def _write(self, conn: Connection, n: int) -> None:
        if self.statements is not None:
            sql = self.statements[(n - 1) % len(self.statements)]
            self._timed(conn, "statement", None, {}, sa.text(sql).bindparams(
                **{k: v for k, v in (("run", self.run_id), ("n", n)) if f":{k}" in sql}))
            return
        plan = self.plan
        assert plan is not None
        roll = self.rng.random()
        status_col = self.column or plan.target.column
        if roll < 0.4 or not plan.keys or (plan.update_column is None
                                            and not self.status_ready):
            values = self._insert_values(plan, n)
            key = [values.get(k) for k in plan.key]
            self._timed(conn, "insert", key, values, sa.insert(plan.table).values(values),
                        inserted=True)
        elif (roll < 0.8 and plan.update_column is not None) or not self.status_ready:
            assert plan.update_column is not None
            chosen = self.rng.choice(plan.keys)
            value = round(self.rng.uniform(1, 500), 2)
            self._timed(conn, "update_amount", list(chosen), {plan.update_column: value},
                        self._update(plan, chosen, {plan.update_column: value}))
        else:
            chosen = self.rng.choice(plan.keys)
            self._timed(conn, "update_status", list(chosen), {status_col: PAID},
                        self._update(plan, chosen, {status_col: PAID}))

    def _update(self, plan: WorkloadPlan, key: tuple[Any, ...], values: dict[str, Any]
                ) -> sa.Executable:
        table = sa.table(plan.table.name, *(sa.column(c) for c in [*plan.key, *values]),
                         schema=plan.table.schema)
        cond = [table.c[k] == v for k, v in zip(plan.key, key, strict=True)]
        return sa.update(table).where(*cond).values(values)

    def _insert_values(self, plan: WorkloadPlan, n: int) -> dict[str, Any]:
        row = dict(self.rng.choice(plan.samples)) if plan.samples else {}
        values = {c: row.get(c) for c in plan.insert_columns}
        for name, how in plan.fresh.items():
            column = plan.table.c[name]
            if how == "server":
                values.pop(name, None)
            elif how == "uuid":
                new = uuid.uuid4()
                values[name] = new if isinstance(column.type, sa.Uuid) else str(new)
            elif how == "int":
                values[name] = plan.int_floor.get(name, 0) + 1_000_000 + n
            elif how == "text":
                length = getattr(column.type, "length", None) or 64
                values[name] = f"W{self.run_id}-{n}"[-length:]
            elif how == "sample" and name in row:
                values[name] = row[name]
        return values

    def _timed(self, conn: Connection, kind: str, key: Any, values: dict[str, Any],
               statement: sa.Executable, inserted: bool = False) -> None:
        started = self.now()
        error = kind_of_error = None
        try:
            with conn.begin():
                result = conn.execute(statement)
                if inserted and key is not None and any(v is None for v in key):
                    key = list(result.inserted_primary_key or key)
            ok = True
        except DBAPIError as exc:
            ok = False
            error = str(exc.orig).strip().splitlines()[0][:300] if str(exc.orig).strip() \
                else type(exc.orig).__name__
            kind_of_error = "lock" if dialect_for(conn).is_lock_wait(exc) else "workload"
            if conn.in_transaction():
                conn.rollback()
        shown = _plain_key(key)
        self.events.append(WriteEvent(
            started, self.now() - started, kind, shown, _num(values.get("amount")),
            values.get(self.column or (self.plan.target.column if self.plan else "status")),
            ok, error, {k: _plain(v) for k, v in values.items()}, kind_of_error))

    # -------------------------------------------------------------- results

    def frame(self) -> pd.DataFrame:
        """Every write so far as a DataFrame (one row per write)."""
        return pd.DataFrame([e.to_dict() for e in self.events],
                            columns=list(WriteEvent.__dataclass_fields__))


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _plain_key(key: Any) -> Any:
    if key is None:
        return None
    parts = [_plain(k) for k in key]
    return parts[0] if len(parts) == 1 else parts


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def key_of(value: Any) -> tuple[Any, ...]:
    """An event's key as a tuple (for a composite key, its parts)."""
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def expected_state(events: list[WriteEvent]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """What committed writes should have left behind, per key (as a tuple): the last committed
    value of each column they wrote (an inserted row: every value it was inserted with, and the
    migration's column its default unless a later write set it)."""
    state: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in sorted((e for e in events if e.ok and e.key is not None),
                    key=lambda e: e.started_s + e.latency_s):
        row = state.setdefault(key_of(e.key), {})
        row.update(e.values if e.values else {
            k: v for k, v in (("amount", e.amount), ("status", e.status)) if v is not None})
        if e.kind == "insert":
            row["__inserted__"] = True
    return state


def inserted_default(column: str) -> str:
    """The value an inserted row's migration column holds when no write set it."""
    del column
    return STATUS_DEFAULT


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
