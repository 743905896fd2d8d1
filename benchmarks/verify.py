"""Benchmark ``shopmig.verify`` against reladiff, datacompy, plain pandas and a count/sum floor.

For every backend and ``--sizes`` row count:

1. A source demo shop (``shopmig.make_demo_shop``) is migrated to ``--revision`` (default
   ``head``, with ``allow_table_rewrite=True``), then copied twice with
   ``shopmig.copy_database``: a *clean* copy, and a *damaged* one in which a known set of rows
   was deleted, inserted, or had ``amount`` or ``status`` changed (``--damage`` rows in all).
2. Every tool compares the source with each copy in its OWN subprocess
   (``verify_worker.py``, which imports only that tool's packages), so its peak memory is that
   process's own; a watchdog kills a run over ``--cap-s`` seconds or ``--cap-mb`` resident
   memory and records that it could not finish:

   - ``shopmig-cli``: ``python -m shopmig verify --before URL --after URL --json`` as its own
     process (no ``--expect``, like ``auto``), timed from spawn to exit; exit 1 = differences;
   - ``shopmig auto``: ``shopmig.verify(src, copy, expect=None, method="auto")``;
   - ``shopmig stream``: the same with ``method="stream"`` (reference);
   - ``reladiff``: ``reladiff.connect_to_table`` of both tables (key ``order_id``) and
     ``reladiff.diff_tables`` over every other column (hashdiff: the two tables are in two
     databases); reladiff 0.6 has no SQLite and no text key on MySQL/MariaDB, and such a run
     is recorded as unavailable with reladiff's own ``NotImplementedError``;
   - ``datacompy``: ``pd.read_sql`` of both tables, then ``datacompy.PandasCompare`` (the
     1.x name of ``datacompy.Compare``) joined on ``order_id``; load time included;
   - ``pandas``: ``pd.read_sql`` of both, ``merge(how="outer", indicator=True)`` and a
     NULL-aware comparison of every shared column;
   - ``floor``: ``SELECT count(*), sum(amount) FROM orders`` on both sides (finds *that*
     something differs, not what).

   Each answer is checked against the known damage (the exact keys missing, unexpected and
   changed per column): ``correct`` in the results.
3. Cross-backend (``--cross-rows``, PostgreSQL only): the clean and the damaged PostgreSQL
   copies are copied into SQLite files and verified against the PostgreSQL source; the answer
   must be the same as on PostgreSQL alone.

Usage (from the repository root)::

    python benchmarks/verify.py --sizes 1000000,10000000 \\
        --backends sqlite,postgresql,mariadb --out benchmarks/results/verify.json

    # reladiff vs shopmig vs datacompy (make bench): servers at 1M and 10M, SQLite at 1M
    python benchmarks/verify.py --backends sqlite,postgresql,mariadb \\
        --sizes 1000000,10000000 --backend-sizes sqlite=1000000 \\
        --tools auto,reladiff,datacompy,floor --repeat 2 --cross-rows 0 \\
        --out benchmarks/results/verify_reladiff.json

    # the whole-process comparison: the shopmig command vs each tool's whole process
    python benchmarks/verify.py --backends sqlite,postgresql --sizes 1000000,10000000 \\
        --backend-sizes sqlite=1000000 --tools shopmig-cli,auto,reladiff,datacompy,floor \\
        --size-tools 10000000=shopmig-cli,auto,reladiff,floor --repeat 2 --cross-rows 0 \\
        --out benchmarks/results/verify_process.json

Server URLs come from ``SHOPMIG_BENCH_POSTGRES_URL`` / ``SHOPMIG_BENCH_MARIADB_URL`` (their
database part is ignored). Scratch databases are named ``shopmig_bench_verify_*`` (SQLite:
files in a temporary folder); stale ones from an interrupted run are dropped first, all are
dropped at the end. Results go to ``--out`` (JSON) and the same name with ``.md`` (printed);
both are rewritten after every backend and size (``"complete": false`` until the end), so an
interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import inspect
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _common import Scratch, log, write_atomic
from _common import machine_info as common_machine_info
from sqlalchemy.engine import URL

import shopmig
from shopmig.db import parse_url
from shopmig.migrate import steps

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "verify.json"
DEFAULT_SIZES = (1_000_000, 10_000_000)
BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVER_ENV = {
    "postgresql": ("SHOPMIG_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": ("SHOPMIG_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
PREFIX = "shopmig_bench_verify"
TABLE, KEY = steps.TABLE, steps.KEY
TOOLS = ("shopmig-cli", "auto", "stream", "reladiff", "datacompy", "pandas", "floor")
WORKER = HERE / "verify_worker.py"
CLI_EXAMPLES = 5  # example keys per kind in `shopmig verify --json`
TOOL_LABEL = {
    "shopmig-cli": "shopmig-cli",
    "auto": "shopmig auto",
    "stream": "shopmig stream",
    "reladiff": "reladiff",
    "datacompy": "datacompy",
    "pandas": "pandas merge",
    "floor": "floor count+sum",
}
TOOL_DESCRIPTION = {
    "shopmig-cli": "python -m shopmig verify --before <URL> --after <URL> --json (what `auto` "
    "compares: every column, no expectation, method auto), run by the parent as its own "
    "process and timed from spawn to exit (time = process); exit 1 = differences found; the "
    "JSON's counts are checked, and its example keys must be among the damaged ones",
    "auto": "shopmig.verify(src, copy, expect=None, method='auto')",
    "stream": "shopmig.verify(src, copy, expect=None, method='stream')",
    "reladiff": "reladiff.connect_to_table(<URL>, 'orders', 'order_id') of both sides, then "
    "reladiff.diff_tables(t1, t2, extra_columns=<every other column>, skip_sort_results=True), "
    "its defaults otherwise (hashdiff across two databases, bisection_factor 32, "
    "bisection_threshold 16384, one connection per side); the +/- rows give the missing, "
    "unexpected and changed keys",
    "datacompy": "pd.read_sql('SELECT * FROM orders') of both sides, then "
    "datacompy.PandasCompare(df1, df2, join_columns='order_id') (datacompy.Compare before 1.0)",
    "pandas": "pd.read_sql('SELECT * FROM orders') of both sides, merge(on='order_id', "
    "how='outer', indicator=True), NULL-aware != on every shared column",
    "floor": "SELECT count(*), sum(amount) FROM orders on both sides (detects only)",
}
WATCH_INTERVAL_S = 0.2




# ------------------------------------------------------------------ running a worker


def command(spec: dict[str, Any]) -> list[str]:
    """The process one run is: ``shopmig verify`` itself for shopmig-cli, else a worker."""
    if spec["tool"] == "shopmig-cli":
        return [sys.executable, "-m", "shopmig", "verify", "--before", spec["before"],
                "--after", spec["after"], "--table", spec["table"], "--json"]
    return [sys.executable, str(WORKER), json.dumps(spec)]


def launch(spec: dict[str, Any], cap_s: float, cap_mb: float) -> dict[str, Any]:
    """Run one process under a time and resident-memory watchdog, timed from spawn to exit.

    A thread waits for the process (``os.wait4``), so the exit time is exact rather than the
    watchdog's next tick, and the process's ``ru_maxrss`` is read too.
    """
    import psutil

    spec = {"table": TABLE, "key": KEY, **spec}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        exited: dict[str, Any] = {}
        started = time.perf_counter()
        proc = subprocess.Popen(command(spec), stdout=out, stderr=err)

        def wait() -> None:
            _, status, usage = os.wait4(proc.pid, 0)
            exited["at"] = time.perf_counter()
            exited["code"] = os.waitstatus_to_exitcode(status)
            exited["ru_maxrss_mb"] = usage.ru_maxrss / 1024  # KiB on Linux

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        handle = psutil.Process(proc.pid)
        killed, watched_peak = None, 0.0
        try:
            while waiter.is_alive():
                with contextlib.suppress(psutil.Error):
                    rss = handle.memory_info().rss / 2**20
                    watched_peak = max(watched_peak, rss)
                    if rss > cap_mb:
                        killed = f"killed: resident memory over the {cap_mb:,.0f} MB cap"
                if time.perf_counter() - started > cap_s:
                    killed = f"killed: over the {cap_s:,.0f} s cap"
                if killed:
                    proc.kill()
                    waiter.join()
                    break
                waiter.join(WATCH_INTERVAL_S)
        except BaseException:  # stopped by a signal: do not leave the run going
            with contextlib.suppress(OSError):
                proc.kill()
            raise
        proc.returncode = exited.get("code", -9)  # reaped by the thread, not by Popen
        wall = exited.get("at", time.perf_counter()) - started
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if killed:
        return {"status": "capped", "error": killed, "seconds_at_kill": round(wall, 1),
                "watched_peak_mb": round(watched_peak, 1)}
    if spec["tool"] == "shopmig-cli":
        return cli_result(text, errors, proc.returncode, wall, watched_peak,
                          exited["ru_maxrss_mb"])
    try:
        result = json.loads(text.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"status": "error", "error": f"worker exited {proc.returncode}: "
                f"{errors.strip()[-2000:]}"}
    result["process_wall_s"] = round(wall, 2)
    return result


def cli_result(text: str, errors: str, code: int, wall: float, watched_peak: float,
               ru_maxrss: float) -> dict[str, Any]:
    """``shopmig verify --json``'s answer in the workers' shape. Exit 1 = differences found."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        answer = None
    if code not in (0, 1) or not isinstance(answer, dict):
        return {"status": "error", "error": f"shopmig verify exited {code}: "
                f"{(errors or text).strip()[-2000:]}", "process_wall_s": round(wall, 2)}
    out = {
        "status": "ok", "seconds": round(wall, 3), "process_wall_s": round(wall, 2),
        # no VmHWM from outside: the watchdog's samples (every WATCH_INTERVAL_S); ru_maxrss
        # is kept beside it, but on Linux it starts from the parent's size at fork
        "peak_mb": round(watched_peak, 1), "peak_source": "watchdog samples",
        "watched_peak_mb": round(watched_peak, 1), "ru_maxrss_mb": round(ru_maxrss, 1),
        "engine_method": answer.get("method"), "ok": bool(answer.get("ok")), "exit_code": code,
        "counts": {k: answer.get(k) for k in
                   ("rows_before", "rows_after", "missing", "unexpected", "changed")},
        "expectation_failures": answer.get("expectation_failures"),
        "examples": answer.get("examples", {}),
    }
    if out["ok"] != (code == 0):
        out["exit_code_mismatch"] = f"ok={out['ok']} but exit code {code}"
    return out


# ------------------------------------------------------------------ scratch databases and damage


def vacuum(url: URL) -> None:
    """PostgreSQL: hint bits set and statistics fresh, like a table in service."""
    if url.get_backend_name() != "postgresql":
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"VACUUM (FREEZE, ANALYZE) {TABLE}")
    finally:
        engine.dispose()


def plan_damage(rows: int, damage: int, seed: int) -> dict[str, Any]:
    """Which keys to delete, insert and change: about ``damage`` rows, a quarter of each."""
    quarter = max(1, damage // 4)
    rng = random.Random(seed)
    picked = rng.sample(range(1, rows + 1), 3 * quarter)
    ids = [f"ORD-{n:07d}" for n in picked]
    inserted = sorted(f"ORD-{n:07d}-X" for n in rng.sample(range(1, rows + 1), quarter))
    return {
        "delete": sorted(ids[:quarter]),
        "insert": inserted,  # sorts between existing keys, spread over the whole key range
        "amount": sorted(ids[quarter: 2 * quarter]),  # + 0.01, the first one set to NULL
        "status": sorted(ids[2 * quarter:]),  # 'pending' -> 'paid'
    }


def apply_damage(url: URL, plan: dict[str, Any]) -> None:
    orders = sa.table(TABLE, sa.column(KEY), sa.column("amount"), sa.column(steps.STATUS))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(orders.delete().where(orders.c[KEY].in_(plan["delete"])))
            conn.execute(orders.insert(), [
                {KEY: key, "amount": 12.34, steps.STATUS: steps.STATUS_DEFAULT}
                for key in plan["insert"]
            ])
            null_key, *others = plan["amount"]
            conn.execute(orders.update().where(orders.c[KEY] == null_key).values(amount=None))
            conn.execute(orders.update().where(orders.c[KEY].in_(others))
                         .values(amount=orders.c.amount + 0.01))
            conn.execute(orders.update().where(orders.c[KEY].in_(plan["status"]))
                         .values({steps.STATUS: "paid"}))
    finally:
        engine.dispose()


def expected_answer(rows: int, plan: dict[str, Any] | None) -> dict[str, Any]:
    if plan is None:
        return {"counts": {"rows_before": rows, "rows_after": rows, "missing": 0,
                           "unexpected": 0, "changed": 0},
                "keys": {"missing": [], "unexpected": [], "changed": {}}}
    return {
        "counts": {"rows_before": rows,
                   "rows_after": rows - len(plan["delete"]) + len(plan["insert"]),
                   "missing": len(plan["delete"]), "unexpected": len(plan["insert"]),
                   "changed": len(plan["amount"]) + len(plan["status"])},
        "keys": {"missing": plan["delete"], "unexpected": plan["insert"],
                 "changed": {"amount": plan["amount"], steps.STATUS: plan["status"]}},
    }


def judge(tool: str, result: dict[str, Any], expected: dict[str, Any]) -> tuple[bool, str]:
    """Is the tool's answer the known damage? The floor only has to say *whether* it differs."""
    damaged = bool(expected["counts"]["missing"] or expected["counts"]["unexpected"]
                   or expected["counts"]["changed"])
    if tool == "floor":
        ok = result["ok"] != damaged
        state = "damaged" if damaged else "clean"
        return ok, "" if ok else f"floor says ok={result['ok']} on a {state} copy"
    problems = []
    for name, want in expected["counts"].items():
        got = result["counts"].get(name)
        if got != want:
            problems.append(f"{name} {got} != {want}")
    if bool(result.get("ok")) == damaged:
        problems.append(f"ok={result.get('ok')}")
    if tool == "shopmig-cli":
        problems += cli_example_problems(result, expected)
        return not problems, "; ".join(problems)
    keys = result.get("keys")
    if keys is None:
        problems.append("keys not reported (" + result.get("keys_error", "?") + ")")
    else:
        for kind in ("missing", "unexpected"):
            if sorted(keys[kind]) != sorted(expected["keys"][kind]):
                problems.append(f"{kind} keys differ from the damage")
        want_changed = {c: sorted(v) for c, v in expected["keys"]["changed"].items()}
        got_changed = {c: sorted(v) for c, v in keys["changed"].items()}
        if got_changed != want_changed:
            problems.append(f"changed keys per column differ: got columns {sorted(got_changed)} "
                            f"with {[len(v) for v in got_changed.values()]} keys")
    return not problems, "; ".join(problems)


def cli_example_problems(result: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """``shopmig verify --json`` lists up to CLI_EXAMPLES keys per kind: each must be a damaged
    key of that kind, and there must be as many as the damage allows."""
    problems = []
    if result.get("exit_code_mismatch"):
        problems.append(result["exit_code_mismatch"])
    if result.get("expectation_failures"):
        problems.append(f"expectation_failures {result['expectation_failures']}")
    examples = result.get("examples") or {}
    want = {"missing": expected["keys"]["missing"], "unexpected": expected["keys"]["unexpected"],
            "changed": sorted({k for keys in expected["keys"]["changed"].values() for k in keys})}
    for kind, keys in want.items():
        got = [str(k) for k in examples.get(kind, [])]
        if not set(got) <= set(keys):
            problems.append(f"{kind} examples not among the damaged keys: {got}")
        if len(got) != min(CLI_EXAMPLES, len(keys)):
            problems.append(f"{len(got)} {kind} examples, {min(CLI_EXAMPLES, len(keys))} wanted")
    return problems


# ------------------------------------------------------------------ one backend


def run_tools(pair: dict[str, Any], tools: list[str], args: argparse.Namespace,
              expected: dict[str, Any], label: str) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for tool in tools:
        attempts = []
        for _ in range(args.repeat):
            spec = {"tool": tool, "before": pair["before"], "after": pair["after"],
                    "modules": True}
            result = launch(spec, args.cap_s, args.cap_mb)
            if result["status"] == "ok":
                result["correct"], result["problems"] = judge(tool, result, expected)
            attempts.append(result)
            shown = (f"{result['seconds']:8.2f} s {result['peak_mb']:8.0f} MB "
                     f"correct={result['correct']}"
                     + (f" [{result['engine_method']}]" if "engine_method" in result else "")
                     + (f" {result['problems']}" if result.get("problems") else "")
                     if result["status"] == "ok" else f"{result['status']}: {result['error']}")
            log(f"    {label} {TOOL_LABEL[tool]:>16}: {shown}")
            if result["status"] != "ok":
                break  # capped, failed or unavailable: do not try again
        ok = [a for a in attempts if a["status"] == "ok"]
        best = min(ok, key=lambda a: a["seconds"]) if ok else attempts[-1]
        runs[tool] = {"best": best, "attempts": attempts}
    return runs


def build_source(scratch: Scratch, rows: int, revision: str) -> tuple[URL, dict[str, Any]]:
    url = scratch.fresh(f"src_{rows}")
    info = launch({"tool": "build", "after": url.render_as_string(hide_password=False),
                   "rows": rows, "revision": revision}, 3600, math.inf)
    if info.get("status") != "ok":
        raise RuntimeError(f"building the {rows:,}-row source failed: {info.get('error')}")
    vacuum(url)
    log(f"  source {rows:,} rows: demo {info['make_demo_shop_s']}s, upgrade to "
        f"{info['revision']} {info['upgrade_s']}s")
    return url, {k: info[k] for k in ("make_demo_shop_s", "upgrade_s", "revision")}


def make_copy(scratch: Scratch, source: URL, name: str, backend: str | None = None
              ) -> tuple[URL, dict[str, Any]]:
    url = scratch.fresh(name, backend)
    started = time.perf_counter()
    result = shopmig.copy_database(source, url)
    info = {"method": result.method, "seconds": round(time.perf_counter() - started, 1),
            "notes": result.notes}
    log(f"  copy {name}: {result.method} in {info['seconds']}s")
    return url, info


def bench_backend(scratch: Scratch, args: argparse.Namespace,
                  done: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Every size on one backend; ``done(out)`` after each size (partial results)."""
    out: dict[str, Any] = {}
    for rows in args.backend_sizes.get(scratch.backend, args.sizes):
        log(f"{scratch.backend}: {rows:,} rows")
        source, build = build_source(scratch, rows, args.revision)
        clean, build["clean_copy"] = make_copy(scratch, source, f"clean_{rows}")
        damaged, build["damaged_copy"] = make_copy(scratch, source, f"damaged_{rows}")
        plan = plan_damage(rows, args.damage, args.seed)
        apply_damage(damaged, plan)
        vacuum(damaged)
        entry: dict[str, Any] = {"build": build, "damage": plan, "pairs": {}}
        pairs = {"clean": (clean, None), "damaged": (damaged, plan)}
        cross = args.cross_rows == rows and scratch.backend == "postgresql"
        if cross:
            for kind, (url, _) in list(pairs.items()):
                sqlite_url, build[f"cross_{kind}_copy"] = make_copy(
                    scratch, url, f"cross_{kind}_{rows}", backend="sqlite")
                pairs[f"cross_{kind}"] = (sqlite_url, pairs[kind][1])
        # Warm-up, not recorded: both tables read once (OS cache, buffer pool), imports compiled.
        for url, _ in pairs.values():
            launch({"tool": "floor", "before": source.render_as_string(hide_password=False),
                    "after": url.render_as_string(hide_password=False)},
                   args.cap_s, args.cap_mb)
        for kind, (url, damage) in pairs.items():
            expected = expected_answer(rows, damage)
            pair = {"before": source.render_as_string(hide_password=False),
                    "after": url.render_as_string(hide_password=False)}
            runs = run_tools(pair, args.size_tools.get(rows, args.tools), args, expected,
                             f"{kind:>13}")
            entry["pairs"][kind] = {"after": shopmig.mask_url(url),
                                    "expected": expected["counts"], "tools": runs}
        if cross:
            entry["cross_same_answer"] = {
                kind: same_answer(entry["pairs"][kind]["tools"],
                                  entry["pairs"][f"cross_{kind}"]["tools"])
                for kind in ("clean", "damaged")
            }
        for url in [u for u, _ in pairs.values()] + [source]:
            scratch.drop(url)
        out[str(rows)] = entry
        done(out)
    return out


def same_answer(same: dict[str, Any], cross: dict[str, Any]) -> dict[str, bool | None]:
    """Per tool: did the cross-backend run give the same counts and keys as same-backend?"""
    answers: dict[str, bool | None] = {}
    for tool, run in cross.items():
        a, b = same.get(tool, {}).get("best", {}), run["best"]
        if a.get("status") != "ok" or b.get("status") != "ok":
            answers[tool] = None
            continue
        answers[tool] = (a.get("counts") == b.get("counts") and a.get("keys") == b.get("keys")
                         and a.get("ok") == b.get("ok"))
    return answers


# ------------------------------------------------------------------ machine info and output




@contextlib.contextmanager
def mariadb_buffer_pool(url: URL | None, mb: int) -> Any:
    """Run with MariaDB's InnoDB buffer pool at ``mb`` MB (0: as it is), then restore it.

    Debian's MariaDB ships a 128 MB pool, a quarter of one 10M-row orders table, so every
    full scan reads the table back in through it; a server holding such tables is normally
    given a pool that fits them. Every tool runs against the same setting.
    """
    if url is None or mb <= 0:
        yield
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            old = int(conn.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar_one())
            _resize_pool(conn, mb * 2**20)
            log(f"mariadb: innodb_buffer_pool_size {old // 2**20} MB -> {mb} MB for this run")
        try:
            yield
        finally:
            with engine.connect() as conn:
                _resize_pool(conn, old)
                log(f"mariadb: innodb_buffer_pool_size back to {old // 2**20} MB")
    finally:
        engine.dispose()


def _resize_pool(conn: sa.Connection, size: int) -> None:
    """Ask for a new pool size and wait until InnoDB says the resize is done."""
    conn.exec_driver_sql(f"SET GLOBAL innodb_buffer_pool_size = {int(size)}")
    deadline = time.monotonic() + 300
    while True:
        status = str(conn.exec_driver_sql(
            "SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'").one()[1])
        if not status or "completed" in status.lower():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"MariaDB's buffer pool resize did not finish: {status}")
        time.sleep(0.5)


def machine_info(servers: dict[str, URL], tools: list[str]) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import datacompy
    import pandas as pd
    import psutil

    extra = {
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "pandas": pd.__version__,
        "datacompy": datacompy.__version__,
    }
    if "reladiff" in tools:
        for package in ("reladiff", "sqeleton", "psycopg2-binary", "mysql-connector-python"):
            with contextlib.suppress(PackageNotFoundError):
                extra[package] = version(package)
    return common_machine_info(servers, extra)


def leftovers(servers: dict[str, URL]) -> list[str]:
    """Databases named ``shopmig_bench_*`` still on the servers (should be none)."""
    found = []
    for backend, url in servers.items():
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                sql = ("SELECT datname FROM pg_database" if backend == "postgresql"
                       else "SELECT schema_name FROM information_schema.schemata")
                found += [f"{backend}:{n}" for (n,) in conn.exec_driver_sql(sql)
                          if n.startswith("shopmig_bench_")]
        finally:
            engine.dispose()
    return found


def drop_stale(servers: dict[str, URL]) -> None:
    for item in leftovers(servers):
        backend, name = item.split(":", 1)
        if name.startswith(PREFIX + "_"):
            log(f"dropping stale {item}")
            shopmig.drop_database(servers[backend].set(database=name))


def fmt_s(result: dict[str, Any]) -> str:
    if result["status"] == "ok":
        return f"{result['seconds']:,.2f} s"
    if result["status"] == "capped":
        return f"> {result['seconds_at_kill']:,.0f} s ({result['error'].split(': ', 1)[1]})"
    return result["status"]


def ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> str:
    """``numerator`` seconds / ``denominator`` seconds; '>' when the numerator was capped."""
    if denominator.get("status") != "ok" or denominator["seconds"] <= 0:
        return "-"
    if numerator.get("status") == "ok":
        return f"{numerator['seconds'] / denominator['seconds']:,.1f}x"
    if numerator.get("status") == "capped":
        return f"> {numerator['seconds_at_kill'] / denominator['seconds']:,.1f}x"
    return "-"


def process_ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> str:
    """``numerator``'s whole-process seconds / ``denominator``'s; '>' when capped."""
    if denominator.get("status") != "ok" or not denominator.get("process_wall_s"):
        return "-"
    if numerator.get("status") == "ok" and numerator.get("process_wall_s"):
        return f"{numerator['process_wall_s'] / denominator['process_wall_s']:,.1f}x"
    if numerator.get("status") == "capped":
        return f"> {numerator['seconds_at_kill'] / denominator['process_wall_s']:,.1f}x"
    return "-"


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [
        "# shopmig verify benchmark",
        "",
        f"Date {results['date']}; machine: " + ", ".join(
            f"{k} {v}" for k, v in results["machine"].items()),
        "",
        f"Source: demo shop migrated to `{s['revision']}`; copies by `shopmig.copy_database`; "
        f"the damaged copy has {s['damage_rows']} rows damaged (a quarter each deleted, "
        "inserted, amount changed, status changed). Each tool runs in its own process; "
        f"best of {s['repeat']} run(s); caps {s['cap_s']:,.0f} s and {s['cap_mb']:,.0f} MB "
        "resident. Peak = the worker process's own peak resident memory (VmHWM; about "
        f"{results.get('import_mb', 0):,.0f} MB of it is the bare Python worker; each worker "
        "imports only what its tool needs); for shopmig-cli, the watchdog's samples every "
        f"{WATCH_INTERVAL_S} s (it cannot read its own). `time` runs from the URLs to the "
        "answer, the tool's imports done before the clock; `process` is the whole process "
        "from spawn to exit "
        "(interpreter start-up, that tool's imports and the work): what a user waits for. "
        "`shopmig-cli` is the real command, `python -m shopmig verify --before URL --after "
        "URL --json`, run as its own process, so its `time` is its `process`. "
        "`vs reladiff` = reladiff time / this time, `vs datacompy` = datacompy time / this "
        "time (how many times faster, imports excluded on both sides; not shown for "
        "shopmig-cli, which has no import-free time); `vs reladiff (process)` = reladiff "
        "process / this process, `vs datacompy (process)` = datacompy process / this process "
        "(the same, whole process on both sides; on the shopmig-cli row: how many times "
        "faster the command is than each tool's whole run); `vs floor` = this time / floor "
        "time. A tool that cannot run on a backend shows its own error in `method`, no "
        "time, correct n/a.",
        "",
    ]
    if not results.get("complete", True):
        lines += ["**Partial results: the run was interrupted or is still going.**", ""]
    lines += [
        "| backend | rows | copy | tool | method | time | process | peak MB | correct "
        "| vs reladiff | vs datacompy | vs reladiff (process) | vs datacompy (process) "
        "| vs floor |",
        "|---|---:|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for backend, sizes in results["backends"].items():
        for rows, entry in sizes.items():
            for kind, pair in entry["pairs"].items():
                tools = {t: r["best"] for t, r in pair["tools"].items()}
                for tool, r in tools.items():
                    ok = r["status"] == "ok"
                    unavailable = r["status"] == "unavailable"
                    peak = (f"{r['peak_mb']:,.0f}" if ok else
                            f"> {r['watched_peak_mb']:,.0f}" if r["status"] == "capped" else
                            "" if unavailable else "-")
                    correct = ("yes" if r.get("correct") else f"**NO**: {r.get('problems')}"
                               if ok else "n/a" if unavailable else "-")
                    method = r.get("error", "") if unavailable else r.get("engine_method", "")
                    process = (f"{r['process_wall_s']:,.2f} s"
                               if ok and "process_wall_s" in r else "")
                    cli = tool == "shopmig-cli"
                    vs = [ratio(tools[other], r)
                          if other in tools and tool != other and not cli else ""
                          for other in ("reladiff", "datacompy")]
                    vs += [process_ratio(tools[other], r) if other in tools and tool != other
                           else "" for other in ("reladiff", "datacompy")]
                    lines.append(
                        f"| {backend} | {int(rows):,} | {kind} | {TOOL_LABEL[tool]} | "
                        f"{method} | {'' if unavailable else fmt_s(r)} | {process} | {peak} | "
                        f"{correct} | {vs[0]} | {vs[1]} | {vs[2]} | {vs[3]} | "
                        + (ratio(r, tools['floor'])
                           if 'floor' in tools and tool != 'floor' and not cli else '')
                        + " |")
            if "cross_same_answer" in entry:
                lines.append("")
                lines.append(f"Cross-backend ({backend} source vs SQLite copy, {int(rows):,} "
                             "rows), same answer as same-backend: " + "; ".join(
                                 f"{k}: " + ", ".join(f"{TOOL_LABEL[t]} {v}" for t, v in
                                                      same.items())
                                 for k, same in entry["cross_same_answer"].items()))
                lines.append("")
    lines += ["", "## Targets at the largest size", ""]
    lines += [f"- {t}" for t in results.get("targets", [])]
    if results.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def targets(results: dict[str, Any]) -> list[str]:
    """shopmig auto at the largest size: peak < 500 MB, >= 10x faster than datacompy (damaged
    and clean), within 10x of the floor on the clean copy."""
    found = []
    for backend, sizes in results["backends"].items():
        rows = max(sizes, key=int)
        entry = sizes[rows]
        for kind in ("clean", "damaged"):
            tools = {t: r["best"] for t, r in entry["pairs"][kind]["tools"].items()}
            auto = tools.get("auto")
            if not auto or auto["status"] != "ok":
                found.append(f"{backend} {int(rows):,} {kind}: shopmig auto did not finish")
                continue
            checks = [f"peak {auto['peak_mb']:,.0f} MB "
                      + ("< 500 MB" if auto["peak_mb"] < 500 else "**not < 500 MB**"),
                      "correct" if auto.get("correct") else "**wrong**"]
            rd = tools.get("reladiff")
            if rd:
                checks.append(f"vs reladiff {ratio(rd, auto)}" if rd["status"] != "unavailable"
                              else "reladiff cannot run here")
            dc = tools.get("datacompy")
            if dc:
                r = ratio(dc, auto)
                num = float(r.strip("> x").replace(",", "")) if r != "-" else math.nan
                checks.append(f"vs datacompy {r} " + ("(>= 10x)" if num >= 10 else "**(< 10x)**"))
            floor = tools.get("floor")
            if floor and kind == "clean":
                r = ratio(auto, floor)
                num = float(r.strip("> x").replace(",", "")) if r != "-" else math.nan
                checks.append(f"vs floor {r} " + ("(within 10x)" if num <= 10
                                                   else "**(not within 10x)**"))
            found.append(f"{backend} {int(rows):,} {kind} [{auto.get('engine_method')}]: "
                         + ", ".join(checks))
    return found




# ------------------------------------------------------------------ command line


def row_counts(text: str) -> list[int]:
    """``"1000000,10_000_000"`` as sorted whole numbers (ValueError if one is not)."""
    return sorted({int(s.replace("_", "")) for s in text.split(",") if s})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated row counts (default: %(default)s)")
    parser.add_argument("--backend-sizes", action="append", default=[], metavar="BACKEND=SIZES",
                        help="other row counts for one backend, e.g. sqlite=1000000 "
                        "(repeatable; default: --sizes for every backend)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated, from sqlite,postgresql,mariadb (default: all)")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help="comma-separated, from %(default)s")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="JSON results file; a .md table is written next to it")
    parser.add_argument("--revision", default="head",
                        help="migrate the source to this revision first (default: %(default)s)")
    parser.add_argument("--damage", type=int, default=100,
                        help="rows damaged in the damaged copy (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="picks the damaged rows")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed runs per tool and copy; the fastest counts (default: 1)")
    parser.add_argument("--cap-s", type=float, default=600.0,
                        help="kill a tool's run after this many seconds (default: %(default)s)")
    parser.add_argument("--cap-mb", type=float, default=12_288.0,
                        help="kill a tool's run above this resident memory (default: "
                        "%(default)s)")
    parser.add_argument("--cross-rows", type=int, default=1_000_000,
                        help="size at which a PostgreSQL source is also verified against "
                        "SQLite copies (0: never; default: %(default)s)")
    parser.add_argument("--mariadb-buffer-pool-mb", type=int, default=0,
                        help="set MariaDB's innodb_buffer_pool_size for the run and put the old "
                        "size back afterwards; the same for every tool (0: leave the server as "
                        "it is; default: %(default)s)")
    parser.add_argument("--note", action="append", default=[],
                        help="a note recorded with the results (repeatable)")
    parser.add_argument("--size-tools", action="append", default=[], metavar="ROWS=TOOLS",
                        help="run only these of --tools at that row count, e.g. "
                        "10000000=shopmig-cli,auto,reladiff,floor (repeatable)")
    args = parser.parse_args(argv)
    try:
        args.sizes = row_counts(args.sizes)
    except ValueError:
        parser.error(f"--sizes must be whole numbers, got {args.sizes!r}")
    if not args.sizes or args.sizes[0] < 1000:
        parser.error("--sizes needs row counts of at least 1000")
    per_backend: dict[str, list[int]] = {}
    for item in args.backend_sizes:
        backend, _, sizes = (part.strip() for part in item.partition("="))
        try:
            per_backend[backend] = row_counts(sizes)
        except ValueError:
            parser.error(f"--backend-sizes wants BACKEND=SIZES, got {item!r}")
        if backend not in BACKENDS or not per_backend[backend] or min(per_backend[backend]) < 1000:
            parser.error(f"--backend-sizes wants BACKEND=SIZES (at least 1000), got {item!r}")
    args.backend_sizes = per_backend
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown or not args.backends:
        parser.error(f"--backends must be from {','.join(BACKENDS)}, got {sorted(unknown)}")
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if set(args.tools) - set(TOOLS) or not args.tools:
        parser.error(f"--tools must be from {','.join(TOOLS)}")
    size_tools: dict[int, list[str]] = {}
    for item in args.size_tools:
        rows, _, tools = item.partition("=")
        chosen = [t.strip() for t in tools.split(",") if t.strip()]
        if not rows.replace("_", "").isdigit() or not chosen or set(chosen) - set(args.tools):
            parser.error(f"--size-tools wants ROWS=TOOLS (from --tools), got {item!r}")
        size_tools[int(rows.replace("_", ""))] = chosen
    args.size_tools = size_tools
    if args.repeat < 1 or args.damage < 4:
        parser.error("--repeat must be at least 1 and --damage at least 4")
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # so the scratch databases are dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        return run(args)
    except shopmig.ShopmigError as exc:
        log(f"verify benchmark: {exc}")
        return 2


def run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    servers = {
        b: parse_url(os.environ.get(SERVER_ENV[b][0]) or SERVER_ENV[b][1])
        for b in args.backends if b in SERVER_ENV
    }
    if "postgresql" in args.backends and args.cross_rows in args.backend_sizes.get(
            "postgresql", args.sizes):
        servers.setdefault("postgresql", parse_url(SERVER_ENV["postgresql"][1]))
    results: dict[str, Any] = {
        "benchmark": "verify",
        "date": dt.date.today().isoformat(),
        "machine": None,  # read below, with the cache settings of this run
        "complete": False,
        "settings": {"sizes": args.sizes, "backend_sizes": args.backend_sizes,
                     "backends": args.backends, "tools": args.tools,
                     "revision": args.revision, "damage_rows": args.damage, "seed": args.seed,
                     "repeat": args.repeat, "cap_s": args.cap_s, "cap_mb": args.cap_mb,
                     "cross_rows": args.cross_rows,
                     "size_tools": {str(k): v for k, v in args.size_tools.items()},
                     "mariadb_buffer_pool_mb": args.mariadb_buffer_pool_mb or "as found",
                     "servers": {b: shopmig.mask_url(u) for b, u in servers.items()}},
        "tools": {t: TOOL_DESCRIPTION[t] for t in args.tools},
        "verify_has_method": "method" in inspect.signature(shopmig.verify).parameters,
        "backends": {},
    }
    results["shopmig_package"] = str(Path(shopmig.__file__).parent)
    if args.note:
        results["notes"] = list(args.note)
    drop_stale(servers)
    with (mariadb_buffer_pool(servers.get("mariadb"), args.mariadb_buffer_pool_mb),
          tempfile.TemporaryDirectory(prefix=f"{PREFIX}_") as folder):
        results["machine"] = machine_info(servers, args.tools)  # this run's cache settings
        results["import_mb"] = launch({"tool": "idle", "before": "", "after": ""},
                                      60, args.cap_mb).get("peak_mb")
        for backend in args.backends:
            scratch = Scratch(backend, servers.get(backend), Path(folder), PREFIX)

            def done(sizes: dict[str, Any], backend: str = backend) -> None:
                results["backends"][backend] = sizes
                write_results(args.out, results, began)

            try:
                results["backends"][backend] = bench_backend(scratch, args, done)
            finally:
                scratch.drop_all()
    left = leftovers(servers)
    if left:
        results.setdefault("notes", []).append(f"left over scratch databases: {left}")
    results["complete"] = True
    table = write_results(args.out, results, began)
    print(table)
    log(f"wrote {args.out} and {args.out.with_suffix('.md')} in {results['elapsed_s']}s")
    return 0


def write_results(out: Path, results: dict[str, Any], began: float) -> str:
    """Write the JSON and the Markdown table (also partway through a run); the table."""
    results["targets"] = targets(results)
    results["elapsed_s"] = round(time.perf_counter() - began, 1)
    table = markdown(results)
    write_atomic(out, json.dumps(results, indent=2, default=str) + "\n")
    write_atomic(out.with_suffix(".md"), table)
    return table


if __name__ == "__main__":
    sys.exit(main())
