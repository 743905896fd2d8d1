"""Benchmark shopmig's ``orders.status`` migration against the naive path, and write stalls.

Three measurements, each on fresh scratch copies of a demo shop (``shopmig.make_demo_shop``):

1. ``add_status``: shopmig's step 1 (revision ``0002_add_status`` through
   ``shopmig.upgrade(conn, "+1")``) at every ``--sizes`` row count, side by side with the naive
   way to add the same column on the same backend (see ``NAIVE`` below). The ratio of the
   largest to the smallest size tells constant time (about 1) from "grows with the table".
2. ``write_stall`` (PostgreSQL only, largest size): a concurrent writer thread on its own
   loopback connection does single-row UPDATEs and INSERTs on ``orders`` while the CHECK step
   (``0003`` NOT VALID + ``0004`` VALIDATE) or the index step (``0005`` CREATE INDEX
   CONCURRENTLY) runs, against the naive statement on an identical fresh copy. Every write's
   latency is recorded; the longest write (the stall) and p99 during the DDL are reported.

Usage (from the repository root)::

    python benchmarks/status_step.py --sizes 10000,1000000 \\
        --backends sqlite,postgresql,mariadb --out benchmarks/results/status_step.json

Server URLs come from ``SHOPMIG_BENCH_POSTGRES_URL`` / ``SHOPMIG_BENCH_MARIADB_URL`` (their
database part is ignored). Scratch databases are named ``shopmig_bench_*`` (SQLite: files in a
temporary folder); stale ones from an interrupted run are dropped first, all are dropped at
the end. Results go to ``--out`` (JSON) and the same name with ``.md`` (a table, also printed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import Scratch as BaseScratch
from _common import log, machine_info, write_atomic
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Connection

import shopmig
from shopmig.db import parse_url, quote, reading, use_connection
from shopmig.migrate import steps

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "status_step.json"
DEFAULT_SIZES = (10_000, 1_000_000)
BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVER_ENV = {
    "postgresql": ("SHOPMIG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": ("SHOPMIG_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
PREFIX = "shopmig_bench"
LOOPBACK = {None, "", "localhost", "127.0.0.1", "::1"}

# Write-stall experiment: how long the writer runs before and after the DDL, and hard bounds.
STALL_BEFORE_S = 1.0
STALL_AFTER_S = 0.5
WRITER_MAX_S = 300.0
WRITER_STATEMENT_TIMEOUT_MS = 120_000

SHOPMIG = "shopmig"
NAIVE = {
    "sqlite": {
        "rebuild": "Alembic batch mode, recreate='always': CREATE TABLE _alembic_tmp_orders "
        "with status, INSERT ... SELECT every row, DROP orders, RENAME (one transaction)",
    },
    "postgresql": {
        "backfill": "ADD COLUMN status (nullable, no default); UPDATE orders SET status = "
        "'pending'; SET DEFAULT 'pending'; SET NOT NULL (one transaction)",
        "volatile_default": "ADD COLUMN status NOT NULL DEFAULT ('pending' || left(random()::text,"
        " 0)) (volatile, so PostgreSQL rewrites the table); SET DEFAULT 'pending' (one "
        "transaction)",
    },
    "mariadb": {
        "copy": "the same ADD COLUMN as shopmig's step with ALGORITHM=COPY instead of INSTANT",
    },
}
STALL_VARIANTS = {
    "check": {
        "safe": "shopmig.upgrade to 0004: ADD CONSTRAINT ... NOT VALID (0003), then "
        "VALIDATE CONSTRAINT (0004)",
        "naive": "ALTER TABLE orders ADD CONSTRAINT ck_orders_status CHECK (status IN (...)) "
        "(validated at once, under ACCESS EXCLUSIVE)",
    },
    "index": {
        "safe": "shopmig.upgrade +1 (0005): CREATE INDEX CONCURRENTLY ix_orders_status",
        "naive": "CREATE INDEX ix_orders_status ON orders (status) (SHARE lock: blocks writes)",
    },
}


# ------------------------------------------------------------------ scratch databases


class Scratch(BaseScratch):
    """The benchmark's own databases on one backend: named ``shopmig_bench_*``, dropped at end."""

    def __init__(self, backend: str, server_url: URL | None, folder: Path) -> None:
        super().__init__(backend, server_url, folder, PREFIX)

    def copy(self, template: URL, name: str) -> URL:
        """A fresh copy of ``template`` (PostgreSQL: CREATE DATABASE ... TEMPLATE)."""
        url = self.fresh(name)
        result = shopmig.copy_database(template, url)
        if result.notes:
            log(f"  note: {' '.join(result.notes)}")
        return url


@contextlib.contextmanager
def session(url: URL, *, autocommit: bool = False) -> Iterator[Connection]:
    """One connection to ``url``; its engine is disposed afterwards so no session lingers
    (PostgreSQL copies a template database only when nobody is connected to it)."""
    with use_connection(url) as conn:
        if autocommit:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def build_template(scratch: Scratch, rows: int, name: str, upto: str | None = None) -> URL:
    """A demo shop with ``rows`` orders (optionally migrated to ``upto``), ready to copy."""
    url = scratch.fresh(name)
    started = time.perf_counter()
    shopmig.make_demo_shop(url, rows=rows)
    with session(url) as conn:
        if upto is not None:
            shopmig.upgrade(conn, upto)
    if scratch.backend == "postgresql":
        # Every copy starts with hint bits set and statistics fresh, like a table in service.
        with session(url, autocommit=True) as conn:
            conn.exec_driver_sql(f"VACUUM (FREEZE, ANALYZE) {quote(conn, steps.TABLE)}")
    log(f"  template {name}: {rows:,} rows in {time.perf_counter() - started:.1f}s")
    return url


_CHECKPOINT_DENIED: list[str] = []


def settle(url: URL) -> None:
    """PostgreSQL: CHECKPOINT, so no timed run pays for the writes that made its fresh copy.

    CHECKPOINT needs a superuser (or ``pg_checkpoint`` on 15+); without one the runs go on
    without it and the results say so. MariaDB gets nothing on purpose: ``FLUSH TABLES ... FOR
    EXPORT`` would leave the table in a state where even ALGORITHM=INSTANT takes longer the
    bigger the table (measured), which no table in service is in.
    """
    if url.get_backend_name() != "postgresql" or _CHECKPOINT_DENIED:
        return
    with session(url, autocommit=True) as conn:
        try:
            conn.exec_driver_sql("CHECKPOINT")
        except sa.exc.DBAPIError as exc:
            _CHECKPOINT_DENIED.append(str(exc.orig).splitlines()[0])
            log(f"  note: no CHECKPOINT between runs ({_CHECKPOINT_DENIED[0]})")


# ------------------------------------------------------------------ the add-status step


def operations(conn: Connection) -> Operations:
    """Alembic operations on ``conn``: the naive migrations are what plain Alembic emits."""
    return Operations(MigrationContext.configure(conn))


def status_default() -> sa.TextClause:
    default = steps.status_column().server_default
    assert isinstance(default, sa.DefaultClause) and isinstance(default.arg, sa.TextClause)
    return default.arg


def naive_sqlite_rebuild(conn: Connection) -> None:
    with conn.begin(), operations(conn).batch_alter_table(steps.TABLE, recreate="always") as batch:
        batch.add_column(steps.status_column())


def naive_pg_backfill(conn: Connection) -> None:
    orders = sa.table(steps.TABLE, sa.column(steps.STATUS))
    with conn.begin():
        ops = operations(conn)
        ops.add_column(steps.TABLE, sa.Column(steps.STATUS, sa.String(steps.STATUS_LENGTH)))
        ops.execute(orders.update().values({steps.STATUS: steps.STATUS_DEFAULT}))
        ops.alter_column(steps.TABLE, steps.STATUS, server_default=status_default())
        ops.alter_column(steps.TABLE, steps.STATUS, nullable=False)


def naive_pg_volatile_default(conn: Connection) -> None:
    # random() makes the default volatile: PostgreSQL must evaluate it per row, so it rewrites
    # the table. left(..., 0) is '' so every row still gets exactly 'pending'.
    volatile = sa.text(f"{status_default().text} || left(random()::text, 0)")
    column = sa.Column(steps.STATUS, sa.String(steps.STATUS_LENGTH), nullable=False,
                       server_default=volatile)
    with conn.begin():
        ops = operations(conn)
        ops.add_column(steps.TABLE, column)
        ops.alter_column(steps.TABLE, steps.STATUS, server_default=status_default())


def naive_mariadb_copy(conn: Connection) -> None:
    column = sa.schema.CreateColumn(steps.status_column()).compile(dialect=conn.dialect)
    conn.exec_driver_sql(
        f"ALTER TABLE {quote(conn, steps.TABLE)} ADD COLUMN {column}, ALGORITHM=COPY"
    )
    conn.commit()


NAIVE_RUNNERS: dict[str, dict[str, Callable[[Connection], None]]] = {
    "sqlite": {"rebuild": naive_sqlite_rebuild},
    "postgresql": {"backfill": naive_pg_backfill, "volatile_default": naive_pg_volatile_default},
    "mariadb": {"copy": naive_mariadb_copy},
}


def check_status_column(conn: Connection, rows: int) -> None:
    """Every way of adding the column must end in the same place: NOT NULL, all 'pending'."""
    with reading(conn):
        column = {c["name"]: c for c in sa.inspect(conn).get_columns(steps.TABLE)}[steps.STATUS]
        pending = conn.execute(
            sa.select(sa.func.count())
            .select_from(sa.table(steps.TABLE))
            .where(sa.column(steps.STATUS) == steps.STATUS_DEFAULT)
        ).scalar_one()
    if column["nullable"] or pending != rows:
        raise AssertionError(f"status column ended wrong: nullable={column['nullable']}, "
                             f"{pending:,} of {rows:,} rows 'pending'")


def run_add_status(conn: Connection, method: str, backend: str) -> tuple[float, float | None]:
    """Run one way of adding the column; return (wall seconds, shopmig's own step seconds)."""
    if method == SHOPMIG:
        started = time.perf_counter()
        applied = shopmig.upgrade(conn, "+1")
        wall = time.perf_counter() - started
        assert [a.revision for a in applied] == [steps.ADD_STATUS], applied
        return wall, applied[0].seconds
    started = time.perf_counter()
    NAIVE_RUNNERS[backend][method](conn)
    return time.perf_counter() - started, None


def bench_add_status(scratch: Scratch, sizes: list[int], repeat: int) -> dict[str, Any]:
    backend = scratch.backend
    methods = [SHOPMIG, *NAIVE_RUNNERS[backend]]
    templates = {rows: build_template(scratch, rows, f"tpl_{rows}") for rows in sizes}
    times: dict[str, dict[int, list[float]]] = {m: {r: [] for r in sizes} for m in methods}
    step_times: dict[int, list[float]] = {r: [] for r in sizes}

    def once(rows: int, method: str, *, record: bool) -> None:
        url = scratch.copy(templates[rows], "run")
        try:
            settle(url)
            with session(url) as conn:
                wall, step = run_add_status(conn, method, backend)
                check_status_column(conn, rows)
        finally:
            scratch.drop(url)
        if record:
            times[method][rows].append(wall)
            if step is not None:
                step_times[rows].append(step)
            log(f"  {method:>16} {rows:>10,} rows: {wall * 1000:10.1f} ms")

    for method in methods:  # warm-up: imports, Alembic script loading, server caches
        once(min(sizes), method, record=False)
    for _ in range(repeat):  # interleaved, so machine noise hits every cell alike
        for rows in sizes:
            for method in methods:
                once(rows, method, record=True)
    for url in templates.values():
        scratch.drop(url)

    small, large = min(sizes), max(sizes)
    result: dict[str, Any] = {"methods": {}}
    medians = {m: {r: statistics.median(times[m][r]) for r in sizes} for m in methods}
    minima = {m: {r: min(times[m][r]) for r in sizes} for m in methods}
    for method in methods:
        entry: dict[str, Any] = {
            "description": (
                "shopmig.upgrade(conn, '+1'): revision 0002_add_status"
                if method == SHOPMIG else NAIVE[backend][method]
            ),
            "seconds": {str(r): [round(t, 5) for t in times[method][r]] for r in sizes},
            "median_s": {str(r): round(medians[method][r], 5) for r in sizes},
            "min_s": {str(r): round(minima[method][r], 5) for r in sizes},
            "ratio_largest_vs_smallest": round(medians[method][large] / medians[method][small], 2),
            "ratio_largest_vs_smallest_min": round(
                minima[method][large] / minima[method][small], 2
            ),
        }
        if method == SHOPMIG:
            entry["step_seconds_median_s"] = {
                str(r): round(statistics.median(step_times[r]), 5) for r in sizes
            }
        else:
            entry["vs_shopmig_at_largest"] = round(
                medians[method][large] / medians[SHOPMIG][large], 1
            )
        result["methods"][method] = entry
    return result


# ------------------------------------------------------------------ PostgreSQL write stall


class Writer(threading.Thread):
    """Single-row UPDATEs and INSERTs on ``orders`` in a tight loop, each write timed.

    Bounded: it stops when told, after ``WRITER_MAX_S``, or on any error (kept in ``error``).
    """

    def __init__(self, url: URL, rows: int, seed: int = 7) -> None:
        super().__init__(name="shopmig-bench-writer", daemon=True)
        self.url, self.rows, self.seed = url, rows, seed
        self.writes: list[tuple[float, float]] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        orders = sa.table(steps.TABLE, sa.column(steps.KEY), sa.column("amount"))
        update = (
            orders.update()
            .where(orders.c[steps.KEY] == sa.bindparam("key"))
            .values(amount=orders.c.amount + 0.01)
        )
        insert = orders.insert().values({steps.KEY: sa.bindparam("key"), "amount": 1.0})
        rng = random.Random(self.seed)
        deadline = time.perf_counter() + WRITER_MAX_S
        try:
            with session(self.url, autocommit=True) as conn:
                conn.exec_driver_sql(f"SET statement_timeout = {WRITER_STATEMENT_TIMEOUT_MS}")
                n = 0
                while not self.stop.is_set() and time.perf_counter() < deadline:
                    n += 1
                    if n % 2:
                        statement = update
                        key = f"ORD-{rng.randint(1, self.rows):07d}"
                    else:
                        statement, key = insert, f"BENCH-{n:09d}"
                    started = time.perf_counter()
                    conn.execute(statement, {"key": key})
                    self.writes.append((started, time.perf_counter()))
                    if n == 50:
                        self.ready.set()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.ready.set()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency_stats(latencies: list[float]) -> dict[str, float | int]:
    if not latencies:
        return {"writes": 0}
    return {
        "writes": len(latencies),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def stall_run(
    scratch: Scratch, template: URL, rows: int, ddl: Callable[[Connection], None]
) -> dict[str, Any]:
    url = scratch.copy(template, "stall")
    try:
        settle(url)
        with session(url) as conn:
            writer = Writer(url, rows)
            writer.start()
            try:
                writer.ready.wait(timeout=30)
                time.sleep(STALL_BEFORE_S)
                started = time.perf_counter()
                ddl(conn)
                ended = time.perf_counter()
                time.sleep(STALL_AFTER_S)
            finally:
                writer.stop.set()
                writer.join(timeout=WRITER_MAX_S)
        if writer.error is not None:
            raise RuntimeError(f"writer thread failed: {writer.error}") from writer.error
    finally:
        scratch.drop(url)
    before = [e - s for s, e in writer.writes if e < started]
    during = [e - s for s, e in writer.writes if s < ended and e > started]
    ddl_s = ended - started
    return {
        "ddl_ms": round(ddl_s * 1000, 1),
        "baseline": latency_stats(before[len(before) // 5 :]),  # skip the writer's warm-up
        "during": latency_stats(during),
        "writes_per_s_baseline": round(len(before) / (started - writer.writes[0][0]), 1),
        "writes_per_s_during": round(
            sum(1 for _, e in writer.writes if started < e <= ended) / ddl_s, 1
        ),
    }


def naive_check(conn: Connection) -> None:
    with conn.begin():
        operations(conn).create_check_constraint(
            steps.CHECK_NAME, steps.TABLE, sa.column(steps.STATUS).in_(steps.STATUS_VALUES)
        )


def naive_index(conn: Connection) -> None:
    with conn.begin():
        operations(conn).create_index(steps.INDEX_NAME, steps.TABLE, [steps.STATUS])


def safe_check(conn: Connection) -> None:
    applied = shopmig.upgrade(conn, steps.VALIDATE_CHECK)
    assert [a.revision for a in applied] == [steps.STATUS_CHECK, steps.VALIDATE_CHECK], applied


def safe_index(conn: Connection) -> None:
    applied = shopmig.upgrade(conn, "+1")
    assert [a.revision for a in applied] == [steps.STATUS_INDEX], applied


STALL_RUNNERS = {
    "check": (steps.ADD_STATUS, {"safe": safe_check, "naive": naive_check}),
    "index": (steps.VALIDATE_CHECK, {"safe": safe_index, "naive": naive_index}),
}


def bench_write_stall(scratch: Scratch, rows: int, repeat: int) -> dict[str, Any]:
    host = scratch.server_url.host if scratch.server_url is not None else None
    if host not in LOOPBACK:
        return {"skipped": f"the writer thread only runs against a loopback server, not {host}"}
    result: dict[str, Any] = {
        "rows": rows,
        "writer": "one thread, own autocommit connection: alternating single-row UPDATE "
        "(random existing order) and INSERT (new order) on orders, back to back",
        "window": f"writer runs {STALL_BEFORE_S}s before the DDL and {STALL_AFTER_S}s after; "
        "'during' = writes that overlap the DDL",
    }
    for experiment, (start_at, variants) in STALL_RUNNERS.items():
        template = build_template(scratch, rows, f"stall_tpl_{experiment}", upto=start_at)
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for _ in range(repeat):  # interleaved safe/naive
            for variant, ddl in variants.items():
                run = stall_run(scratch, template, rows, ddl)
                runs[variant].append(run)
                during = run["during"]
                log(f"  {experiment} {variant:>5}: ddl {run['ddl_ms']:8.1f} ms, longest write "
                    f"{during.get('max_ms', 0):8.1f} ms, p99 {during.get('p99_ms', 0):7.1f} ms")
        scratch.drop(template)
        out: dict[str, Any] = {}
        for variant, variant_runs in runs.items():
            out[variant] = {
                "description": STALL_VARIANTS[experiment][variant],
                "median_ddl_ms": statistics.median(r["ddl_ms"] for r in variant_runs),
                "median_max_ms": statistics.median(r["during"]["max_ms"] for r in variant_runs),
                "median_p99_ms": statistics.median(r["during"]["p99_ms"] for r in variant_runs),
                "median_baseline_p99_ms": statistics.median(
                    r["baseline"]["p99_ms"] for r in variant_runs
                ),
                "median_baseline_max_ms": statistics.median(
                    r["baseline"]["max_ms"] for r in variant_runs
                ),
                "median_writes_per_s_during": statistics.median(
                    r["writes_per_s_during"] for r in variant_runs
                ),
                "median_writes_per_s_baseline": statistics.median(
                    r["writes_per_s_baseline"] for r in variant_runs
                ),
                "runs": variant_runs,
            }
        result[experiment] = out
    return result


# ------------------------------------------------------------------ machine info and output






def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def markdown(results: dict[str, Any]) -> str:
    sizes: list[int] = results["settings"]["sizes"]
    small, large = min(sizes), max(sizes)
    lines = [
        "# shopmig status step benchmark",
        "",
        f"Date {results['date']}; machine: " + ", ".join(
            f"{k} {v}" for k, v in results["machine"].items()
        ),
        "",
        "## Adding orders.status (median wall time, "
        f"{results['settings']['repeat']} runs each)",
        "",
        f"| backend | method | {small:,} rows | {large:,} rows | {large:,}/{small:,} "
        f"| same, from the fastest runs | vs shopmig at {large:,} |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for backend, data in results["add_status"].items():
        for method, entry in data["methods"].items():
            med = entry["median_s"]
            versus = entry.get("vs_shopmig_at_largest")
            lines.append(
                f"| {backend} | {method} | {fmt_ms(med[str(small)])} | {fmt_ms(med[str(large)])} "
                f"| {entry['ratio_largest_vs_smallest']:,.2f}x "
                f"| {entry['ratio_largest_vs_smallest_min']:,.2f}x "
                f"| {'1x' if versus is None else f'{versus:,.1f}x'} |"
            )
    stall = results.get("write_stall")
    if isinstance(stall, dict) and "skipped" not in stall:
        lines += [
            "",
            f"## PostgreSQL: concurrent writes during the DDL ({stall['rows']:,} rows, "
            "medians over runs)",
            "",
            "| step | variant | DDL time | longest write (stall) | p99 during | writes/s during "
            "| p99 before | longest before | writes/s before |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for experiment in STALL_RUNNERS:
            for variant, e in stall[experiment].items():
                lines.append(
                    f"| {experiment} | {variant} | {e['median_ddl_ms']:,.1f} ms | "
                    f"{e['median_max_ms']:,.1f} ms | {e['median_p99_ms']:,.1f} ms | "
                    f"{e['median_writes_per_s_during']:,.0f} | "
                    f"{e['median_baseline_p99_ms']:,.1f} ms | "
                    f"{e['median_baseline_max_ms']:,.1f} ms | "
                    f"{e['median_writes_per_s_baseline']:,.0f} |"
                )
    elif isinstance(stall, dict):
        lines += ["", f"Write stall: skipped ({stall['skipped']})"]
    return "\n".join(lines) + "\n"




# ------------------------------------------------------------------ command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated row counts (default: %(default)s)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated, from sqlite,postgresql,mariadb (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON results file; a .md table is written next to it")
    parser.add_argument("--repeat", type=int, default=7,
                        help="timed runs per size and method (default: %(default)s)")
    parser.add_argument("--stall-rows", type=int, default=None,
                        help="table size for the write-stall runs (default: the largest size)")
    parser.add_argument("--stall-repeat", type=int, default=3,
                        help="PostgreSQL write-stall runs per variant (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s})
    except ValueError:
        parser.error(f"--sizes must be whole numbers, got {args.sizes!r}")
    if len(args.sizes) < 2 or args.sizes[0] < 1:
        parser.error("--sizes needs at least two different positive row counts")
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        parser.error(f"--backends must be from {','.join(BACKENDS)}, got {sorted(unknown)}")
    if args.repeat < 1 or args.stall_repeat < 1:
        parser.error("--repeat and --stall-repeat must be at least 1")
    if args.stall_rows is None:
        args.stall_rows = max(args.sizes)
    elif args.stall_rows < 1:
        parser.error("--stall-rows must be a positive row count")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except shopmig.ShopmigError as exc:
        log(f"status_step: {exc}")
        return 2


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    servers = {
        b: parse_url(os.environ.get(SERVER_ENV[b][0]) or SERVER_ENV[b][1])
        for b in args.backends if b in SERVER_ENV
    }
    results: dict[str, Any] = {
        "benchmark": "status_step",
        "date": dt.date.today().isoformat(),
        "machine": machine_info(servers),
        "settings": {"sizes": args.sizes, "backends": args.backends, "repeat": args.repeat,
                     "stall_rows": args.stall_rows, "stall_repeat": args.stall_repeat,
                     "servers": {b: shopmig.mask_url(u) for b, u in servers.items()}},
        "add_status": {},
    }
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}_") as folder:
        for backend in args.backends:
            scratch = Scratch(backend, servers.get(backend), Path(folder))
            try:
                log(f"{backend}: adding orders.status")
                results["add_status"][backend] = bench_add_status(
                    scratch, args.sizes, args.repeat
                )
                if backend == "postgresql":
                    log(f"{backend}: write stall during the CHECK and index steps")
                    results["write_stall"] = bench_write_stall(
                        scratch, args.stall_rows, args.stall_repeat
                    )
            finally:
                scratch.drop_all()
    if _CHECKPOINT_DENIED:
        results["notes"] = [f"PostgreSQL CHECKPOINT between runs refused: {_CHECKPOINT_DENIED[0]}"]
    results["elapsed_s"] = round(time.perf_counter() - began, 1)
    table = markdown(results)
    write_atomic(args.out, json.dumps(results, indent=2) + "\n")
    write_atomic(args.out.with_suffix(".md"), table)
    print(table)
    log(f"wrote {args.out} and {args.out.with_suffix('.md')} in {results['elapsed_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
