"""Benchmark copying a shop: shopmig.copy_database per method, next to the dump tools by hand.

The shop (built once per backend, outside the timings): ``customers`` (10,000 rows), ``orders``
(``--rows``, 1M by default: bigint identity key, a required ``customer_id`` foreign key, an
index, a trigger-free CHECK) and ``order_items`` (``--rows`` rows, a foreign key to orders and
an index). Every method copies it into a new database, which is then dropped:

- PostgreSQL: ``template`` (``CREATE DATABASE ... TEMPLATE``), ``pg_dump`` (``pg_dump -Fc |
  pg_restore``, shopmig's method when another session is on the source) and ``pg_dump --jobs``
  (through a file, ``pg_restore --jobs 2``), each by shopmig (which then compares every
  object) and by hand in a shell (``createdb``, the same tool commands, nothing compared);
  ``stream to SQLite`` (shopmig's cross-engine copy).
- MariaDB: ``mariadb-dump | mariadb`` by shopmig and by hand; ``stream to SQLite``.
- SQLite: the backup API by shopmig, and ``sqlite3 src ".backup dst"`` by hand.

Usage (from the repository root)::

    python benchmarks/copy_bench.py --rows 1000000 --out benchmarks/results/copy.json

Servers: ``SHOPMIG_BENCH_POSTGRES_URL`` / ``SHOPMIG_BENCH_MARIADB_URL`` (database part ignored).
Scratch databases are ``shopmig_bench_copy_*`` (SQLite: files in a temporary folder), dropped
first if a run left them and all dropped at the end. Results: ``--out`` (JSON) and ``.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Scratch, log, machine_info, write_atomic
from sqlalchemy.engine import URL

import shopmig
from shopmig.db import parse_url
from shopmig.dialects import dialect_for

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "copy.json"
BACKENDS = ("postgresql", "mariadb", "sqlite")
SERVER_ENV = {
    "postgresql": ("SHOPMIG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": ("SHOPMIG_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
PREFIX = "shopmig_bench_copy"
CUSTOMERS = 10_000

SHOP_SQL = {
    "postgresql": [
        "CREATE TABLE customers (customer_id integer PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE orders (order_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "customer_id integer NOT NULL REFERENCES customers, amount numeric(10,2) NOT NULL "
        "CHECK (amount >= 0), placed_at timestamptz NOT NULL, note text)",
        "CREATE TABLE order_items (order_id bigint NOT NULL REFERENCES orders ON DELETE "
        "CASCADE, line_no integer NOT NULL, sku text NOT NULL, qty integer NOT NULL, "
        "PRIMARY KEY (order_id, line_no))",
        f"INSERT INTO customers SELECT n, 'Customer ' || n FROM generate_series(1, {CUSTOMERS}) n",
        "INSERT INTO orders (customer_id, amount, placed_at, note) SELECT 1 + n % {customers}, "
        "(n * 37 % 100000) / 100.0, timestamptz '2024-01-01' + n * interval '1 minute', "
        "CASE WHEN n % 10 = 0 THEN 'gift ' || n END FROM generate_series(1, {rows}) n",
        "INSERT INTO order_items SELECT n, 1, 'SKU-' || (n % 5000), 1 + n % 4 "
        "FROM generate_series(1, {rows}) n",
        "CREATE INDEX orders_customer_idx ON orders (customer_id)",
        "CREATE INDEX order_items_sku_idx ON order_items (sku)",
        "VACUUM ANALYZE",
    ],
    "mariadb": [
        "CREATE TABLE customers (customer_id INT NOT NULL PRIMARY KEY, name VARCHAR(60) "
        "NOT NULL)",
        "CREATE TABLE orders (order_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "customer_id INT NOT NULL, amount DECIMAL(10,2) NOT NULL CHECK (amount >= 0), "
        "placed_at DATETIME NOT NULL, note VARCHAR(40) NULL, "
        "CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers "
        "(customer_id))",
        "CREATE TABLE order_items (order_id BIGINT NOT NULL, line_no INT NOT NULL, "
        "sku VARCHAR(20) NOT NULL, qty INT NOT NULL, PRIMARY KEY (order_id, line_no), "
        "CONSTRAINT order_items_order_fk FOREIGN KEY (order_id) REFERENCES orders (order_id) "
        "ON DELETE CASCADE)",
        f"INSERT INTO customers SELECT seq, CONCAT('Customer ', seq) FROM seq_1_to_{CUSTOMERS}",
        "SET SESSION foreign_key_checks = 0",
        "INSERT INTO orders (order_id, customer_id, amount, placed_at, note) SELECT seq, "
        "1 + seq % {customers}, (seq * 37 % 100000) / 100.0, '2024-01-01' + INTERVAL seq "
        "MINUTE, IF(seq % 10 = 0, CONCAT('gift ', seq), NULL) FROM seq_1_to_{rows}",
        "INSERT INTO order_items SELECT seq, 1, CONCAT('SKU-', seq % 5000), 1 + seq % 4 "
        "FROM seq_1_to_{rows}",
        "SET SESSION foreign_key_checks = 1",
        "CREATE INDEX order_items_sku_idx ON order_items (sku)",
        "ANALYZE TABLE customers, orders, order_items",
    ],
    "sqlite": [
        "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL "
        "REFERENCES customers, amount NUMERIC(10,2) NOT NULL CHECK (amount >= 0), "
        "placed_at TEXT NOT NULL, note TEXT)",
        "CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders ON DELETE "
        "CASCADE, line_no INTEGER NOT NULL, sku TEXT NOT NULL, qty INTEGER NOT NULL, "
        "PRIMARY KEY (order_id, line_no))",
        f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {CUSTOMERS}) "
        "INSERT INTO customers SELECT n, 'Customer ' || n FROM s",
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) "
        "INSERT INTO orders SELECT n, 1 + n % {customers}, (n * 37 % 100000) / 100.0, "
        "datetime('2024-01-01', '+' || n || ' minutes'), CASE WHEN n % 10 = 0 THEN 'gift ' "
        "|| n END FROM s",
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows}) "
        "INSERT INTO order_items SELECT n, 1, 'SKU-' || (n % 5000), 1 + n % 4 FROM s",
        "CREATE INDEX orders_customer_idx ON orders (customer_id)",
        "CREATE INDEX order_items_sku_idx ON order_items (sku)",
    ],
}


def server_url(backend: str) -> URL:
    var, default = SERVER_ENV[backend]
    return parse_url(os.environ.get(var) or default)


def build_shop(url: URL, backend: str, rows: int) -> None:
    """The benchmark shop in the new database ``url``."""
    shopmig.create_database(url)
    engine = shopmig.open_engine(url, must_exist=False)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            cursor = raw.cursor()  # the driver's own: no parameters, '%' is modulo
            try:
                for statement in SHOP_SQL[backend]:
                    cursor.execute(statement.format(rows=rows, customers=CUSTOMERS))
                    with contextlib.suppress(Exception):
                        cursor.fetchall()
            finally:
                cursor.close()
    finally:
        engine.dispose()


def size_of(url: URL, backend: str) -> int:
    """The database's size in bytes (server's own count, or the file)."""
    if backend == "sqlite":
        return Path(url.database or "").stat().st_size
    engine = shopmig.open_engine(url)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                return int(conn.exec_driver_sql(
                    "SELECT pg_database_size(current_database())").scalar_one())
            return int(conn.exec_driver_sql(
                "SELECT SUM(data_length + index_length) FROM information_schema.tables "
                "WHERE table_schema = DATABASE()").scalar_one())
    finally:
        engine.dispose()


def shell(command: str, env: dict[str, str] | None = None) -> None:
    """Run ``command`` in a shell, as a person would; fail loudly."""
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command!r} failed: {done.stderr.strip()[:500]}")


def hand_commands(backend: str, source: URL, target: URL, folder: Path) -> dict[str, str]:
    """The shell commands a DBA would type for each method (the same tools and options)."""
    dialect = dialect_for(source)
    q = shlex.quote
    if backend == "postgresql":
        dump = dialect.find_tool(dialect.dump_tools, source)
        restore = dialect.find_tool(dialect.restore_tools, source)
        conn = " ".join(q(a) for a in dialect.tool_args(source))
        create = f"createdb {conn} {q(target.database or '')}"
        file = q(str(folder / "hand.dump"))
        return {
            "template": f"createdb {conn} --template={q(source.database or '')} "
                        f"{q(target.database or '')}",
            "pg_dump": f"{create} && {dump} -Fc --no-owner {conn} {q(source.database or '')} "
                       f"| {restore} --no-owner --exit-on-error {conn} "
                       f"--dbname={q(target.database or '')}",
            "pg_dump --jobs": f"{create} && {dump} -Fc --no-owner {conn} --file={file} "
                              f"{q(source.database or '')} && {restore} --no-owner "
                              f"--exit-on-error --jobs=2 {conn} "
                              f"--dbname={q(target.database or '')} {file} && rm -f {file}",
        }
    if backend == "mariadb":
        conn = " ".join(q(a) for a in dialect.tool_args(source))
        return {"mariadb-dump": (
            f"mariadb {conn} -e {q('CREATE DATABASE `' + (target.database or '') + '`')} && "
            f"mariadb-dump {conn} --single-transaction --routines --triggers --events "
            f"--hex-blob --skip-add-locks {q(source.database or '')} | mariadb {conn} "
            f"{q(target.database or '')}")}
    return {"sqlite-backup": f"sqlite3 {q(source.database or '')} "
                             f"{q('.backup ' + (target.database or ''))}"}


def timed(run: Callable[[], Any], cleanup: Callable[[], None], repeat: int) -> dict[str, Any]:
    """Median and all wall times of ``run`` (``cleanup`` after each, untimed)."""
    times = []
    extra: Any = None
    for _ in range(repeat):
        cleanup()
        start = time.perf_counter()
        extra = run()
        times.append(time.perf_counter() - start)
        cleanup()
    return {"median_s": statistics.median(times), "runs_s": times, "extra": extra}


def bench_backend(backend: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    scratch = Scratch(backend, server_url(backend) if backend != "sqlite" else None, folder,
                      PREFIX)
    try:
        source = scratch.fresh("source")
        log(f"[{backend}] building the shop ({args.rows:,} orders + {args.rows:,} items)")
        start = time.perf_counter()
        build_shop(source, backend, args.rows)
        built = time.perf_counter() - start
        target = scratch.fresh("target")
        sqlite_target = scratch.fresh("stream", "sqlite")
        env = dialect_for(source).tool_env(source)
        hand = hand_commands(backend, source, target, folder)
        results: dict[str, Any] = {"size_bytes": size_of(source, backend),
                                   "build_s": round(built, 1), "methods": {}}

        def drop() -> None:
            shopmig.drop_database(target)

        def shopmig_copy(jobs: int | None = None, hold: bool = False) -> Callable[[], Any]:
            def run() -> Any:
                with shopmig.connect(source) if hold else contextlib.nullcontext():
                    result = shopmig.copy_database(source, target, jobs=jobs)
                return {"method": result.method, "objects": result.objects,
                        "rows": sum(result.tables.values())}
            return run

        plan: list[tuple[str, str, Callable[[], Any], Callable[[], None], int]] = []
        if backend == "postgresql":
            plan += [
                ("template", "shopmig", shopmig_copy(), drop, args.repeat),
                ("template", "by hand", lambda: shell(hand["template"], env), drop, args.repeat),
                ("pg_dump | pg_restore", "shopmig", shopmig_copy(jobs=1, hold=True), drop,
                 args.repeat),
                ("pg_dump | pg_restore", "by hand", lambda: shell(hand["pg_dump"], env), drop,
                 args.repeat),
                ("pg_dump file + pg_restore --jobs 2", "shopmig", shopmig_copy(jobs=2, hold=True),
                 drop, args.repeat),
                ("pg_dump file + pg_restore --jobs 2", "by hand",
                 lambda: shell(hand["pg_dump --jobs"], env), drop, args.repeat),
            ]
        elif backend == "mariadb":
            plan += [
                ("mariadb-dump | mariadb", "shopmig", shopmig_copy(), drop, args.repeat),
                ("mariadb-dump | mariadb", "by hand", lambda: shell(hand["mariadb-dump"], env),
                 drop, args.repeat),
            ]
        else:
            plan += [
                ("backup API", "shopmig", shopmig_copy(), drop, args.repeat),
                ("backup API", "by hand (sqlite3 .backup)",
                 lambda: shell(hand["sqlite-backup"]), drop, args.repeat),
            ]
        if backend != "sqlite":
            def stream() -> Any:
                result = shopmig.copy_database(source, sqlite_target)
                return {"method": result.method, "rows": sum(result.tables.values()),
                        "notes": result.notes}
            plan.append(("stream to SQLite", "shopmig", stream,
                         lambda: shopmig.drop_database(sqlite_target), args.stream_repeat))
        # The runs of one method alternate between shopmig and by hand (ABAB...), so a
        # neighbour's load on the machine falls on both alike.
        methods: dict[str, list[tuple[str, Callable[[], Any], Callable[[], None], int]]] = {}
        for method, who, run, cleanup, repeat in plan:
            methods.setdefault(method, []).append((who, run, cleanup, repeat))
        for method, entries in methods.items():
            times: dict[str, list[float]] = {who: [] for who, *_ in entries}
            extra: dict[str, Any] = {}
            for _ in range(max(repeat for *_, repeat in entries)):
                for who, run, cleanup, _repeat in entries:
                    got = timed(run, cleanup, 1)
                    times[who] += got["runs_s"]
                    extra[who] = got["extra"]
            for who, runs in times.items():
                results["methods"].setdefault(method, {})[who] = {
                    "median_s": statistics.median(runs), "runs_s": runs, "extra": extra[who]}
                log(f"[{backend}] {method} ({who}): median {statistics.median(runs):.2f}s "
                    f"of {len(runs)}")
        results["commands"] = {k: v.replace(str(folder), "$TMP") for k, v in hand.items()}
        return results
    finally:
        scratch.drop_all()


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Copying a shop: shopmig per method, next to the tools by hand",
        "",
        f"Shop: {report['rows']:,} orders (bigint key, customer FK, CHECK, index) + "
        f"{report['rows']:,} order_items (FK to orders, composite key, index) + "
        f"{CUSTOMERS:,} customers. Median of {report['repeat']} runs (streaming: "
        f"{report['stream_repeat']}). shopmig's time includes comparing every object of the "
        "copy with the source and marking the copy; by hand is the same tool command in a "
        "shell, nothing checked. The runs of a method alternate (shopmig, by hand, shopmig, "
        "...), so load from elsewhere on the machine falls on both; single runs still vary "
        "(every run is in the JSON).",
        "",
        "| backend | size | method | shopmig (s) | by hand (s) | shopmig / by hand |",
        "|---|---|---|---|---|---|",
    ]
    for backend, res in report["backends"].items():
        size = f"{res['size_bytes'] / 2**20:,.0f} MB"
        for method, who in res["methods"].items():
            ours = who.get("shopmig", {}).get("median_s")
            hand_key = next((k for k in who if k.startswith("by hand")), None)
            hand = who[hand_key]["median_s"] if hand_key else None
            ratio = f"{ours / hand:.2f}" if ours and hand else "n/a"
            method = method.replace("|", "\\|")
            lines.append(f"| {backend} | {size} | {method} | "
                         f"{ours:.2f} | {hand:.2f} | {ratio} |" if hand else
                         f"| {backend} | {size} | {method} | {ours:.2f} | n/a | n/a |")
    lines += ["", "Commands run by hand:", ""]
    for backend, res in report["backends"].items():
        for method, command in res.get("commands", {}).items():
            lines.append(f"- {backend}, {method}: `{command}`")
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="orders (and order items)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per method")
    parser.add_argument("--stream-repeat", type=int, default=1,
                        help="timed runs of the cross-engine streaming copy")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import shopmig.copying.stream  # noqa: F401 - imported before any timing, not in the first run
    backends = [b for b in args.backends.split(",") if b]
    servers = {b: server_url(b) for b in backends if b != "sqlite"}
    report: dict[str, Any] = {
        "rows": args.rows, "repeat": args.repeat, "stream_repeat": args.stream_repeat,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(servers, {"pg_dump": shutil.which("pg_dump"),
                                          "mariadb-dump": shutil.which("mariadb-dump")}),
        "backends": {},
    }
    with tempfile.TemporaryDirectory(prefix="shopmig-bench-copy-") as tmp:
        for backend in backends:
            report["backends"][backend] = bench_backend(backend, args, Path(tmp))
    write_atomic(args.out, json.dumps(report, indent=2, default=str) + "\n")
    text = markdown(report)
    write_atomic(args.out.with_suffix(".md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
