"""One verify tool, one run, in its own process: the worker side of ``verify.py``.

``verify.py`` starts ``python benchmarks/verify_worker.py SPEC_JSON`` for every run and reads one
JSON line from its stdout. This module's own imports are the standard library only; each tool
imports what it needs (datacompy and pandas for datacompy, reladiff for reladiff, pandas and
shopmig for shopmig, SQLAlchemy for the tools that connect through it) before its clock starts,
so a worker's whole-process time is that tool's start-up, imports and work, and nothing else's.
The table and key names come in the spec (``verify.py`` takes them from shopmig).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import resource
import sys
import time
from typing import Any

KEYS_KEPT = 1_000  # a worker reports at most this many keys per kind (enough to check damage)
SUM_TOLERANCE = 0.005  # amounts have 2 decimals; float sums may differ in the last bits
TABLE, KEY = "orders", "order_id"  # set from the spec by worker()
SHOPMIG_TOOLS = ("auto", "stream")


def _status_mb(field: str) -> float:
    """``field`` (``VmRSS``, ``VmHWM``) of /proc/self/status in MB (no psutil import in the
    worker); ``ru_maxrss`` where /proc cannot be read."""
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return ru_maxrss_mb()


def rss_mb() -> float:
    """This process's resident memory now."""
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM).

    ``ru_maxrss`` is not used as the headline: Linux keeps it across fork + exec, so a worker
    started by a big parent would report the parent's size. VmHWM belongs to the worker's own
    address space, created fresh by exec. ``ru_maxrss`` is recorded beside it.
    """
    return _status_mb("VmHWM")


def ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _keys(values: Any) -> list[str]:
    return sorted(str(v) for v in list(values)[:KEYS_KEPT])


def _answer(missing: Any, unexpected: Any, changed: dict[str, Any], counted_changed: int,
            rows: tuple[int, int]) -> dict[str, Any]:
    """The common shape of every tool's answer: counts and (up to KEYS_KEPT) keys."""
    return {
        "counts": {"rows_before": rows[0], "rows_after": rows[1], "missing": len(missing),
                   "unexpected": len(unexpected), "changed": counted_changed},
        "keys": {"missing": _keys(missing), "unexpected": _keys(unexpected),
                 "changed": {col: _keys(keys) for col, keys in changed.items() if len(keys)}},
    }


def run_shopmig(before: str, after: str, method: str) -> dict[str, Any]:
    import inspect

    import shopmig

    params = inspect.signature(shopmig.verify).parameters
    if "method" in params:
        result = shopmig.verify(before, after, expect=None, method=method)
    elif method == "auto":  # the engine before "verify: streaming": load both, pandas merge
        result = shopmig.verify(before, after, expect=None)
    else:
        raise NotImplementedError("this shopmig.verify has no method= parameter")
    counts = result.counts
    out: dict[str, Any] = {
        "engine_method": getattr(result, "method", "pandas (verify without method=)"),
        "ok": bool(result.ok),
        "counts": {k: int(counts[k]) for k in
                   ("rows_before", "rows_after", "missing", "unexpected", "changed")},
    }
    try:
        changed: dict[str, list[Any]] = {}
        frame = result.changed
        for col, keys in frame.groupby("column")["key"]:
            changed[str(col)] = list(keys)
        out["keys"] = _answer(result.missing[KEY], result.unexpected[KEY], changed, 0,
                              (0, 0))["keys"]
    except Exception as exc:  # the counts are still checked
        out["keys_error"] = f"{type(exc).__name__}: {exc}"
    return out


def read_both(before: str, after: str) -> tuple[Any, Any]:
    import pandas as pd
    import sqlalchemy as sa

    frames = []
    for url in (before, after):
        engine = sa.create_engine(url)
        try:
            frames.append(pd.read_sql(f"SELECT * FROM {TABLE}", engine))
        finally:
            engine.dispose()
    return frames[0], frames[1]


def run_datacompy(before: str, after: str) -> dict[str, Any]:
    import datacompy

    compare_class = getattr(datacompy, "PandasCompare", None) or datacompy.Compare
    df1, df2 = read_both(before, after)
    cmp = compare_class(df1, df2, join_columns=KEY)
    changed: dict[str, Any] = {}
    total = 0
    for stat in cmp.column_stats:
        if stat["column"] == KEY:
            continue
        total += int(stat["unequal_cnt"])
        mask = ~cmp.intersect_rows[stat["match_column"]].astype(bool)
        changed[stat["column"]] = cmp.intersect_rows.loc[mask, KEY]
    return {"ok": bool(cmp.matches()),
            **_answer(cmp.df1_unq_rows[KEY], cmp.df2_unq_rows[KEY], changed, total,
                      (len(df1), len(df2)))}


def reladiff_uri(url: str) -> str:
    """A SQLAlchemy URL as reladiff wants it: no driver part (it brings psycopg2 and
    mysql-connector itself), MariaDB as ``mysql://``. String surgery, so that a reladiff worker
    does not import SQLAlchemy."""
    scheme, sep, rest = url.partition("://")
    backend = scheme.split("+", 1)[0]
    return {"mariadb": "mysql"}.get(backend, backend) + sep + rest


def run_reladiff(before: str, after: str) -> dict[str, Any]:
    """reladiff's own answer: ``-`` rows are only in ``before`` (or its old values), ``+`` rows
    only in ``after`` (or its new values); a key in both is a changed row.

    ``skip_sort_results=True``: reladiff 0.6 sorts a segment's differences by the whole row, and
    a row whose ``amount`` became NULL makes that sort compare ``None`` with a string
    (``TypeError``); the order does not matter here.
    """
    import reladiff

    t1, t2 = (reladiff.connect_to_table(reladiff_uri(u), TABLE, KEY) for u in (before, after))
    # reladiff's own schema query: the columns, as a reladiff user would list them
    columns = [c for c in t1.database.query_table_schema(t1.table_path) if c != KEY]
    algorithm = "joindiff" if t1.database is t2.database else "hashdiff"
    with reladiff.diff_tables(t1, t2, extra_columns=tuple(columns),
                              skip_sort_results=True) as diff:
        rows = list(diff)
        counts = dict(diff.info_tree.info.rowcounts)
    old = {row[0]: row for sign, row in rows if sign == "-"}
    new = {row[0]: row for sign, row in rows if sign == "+"}
    missing = [k for k in old if k not in new]
    unexpected = [k for k in new if k not in old]
    changed: dict[str, list[Any]] = {c: [] for c in columns}
    for key in old.keys() & new.keys():
        for i, col in enumerate(columns, start=1):
            if old[key][i] != new[key][i]:
                changed[col].append(key)
    total = sum(len(v) for v in changed.values())
    return {"engine_method": algorithm, "ok": not rows, "diff_rows": len(rows),
            **_answer(missing, unexpected, changed, total,
                      (int(counts.get(1, -1)), int(counts.get(2, -1))))}


def run_pandas(before: str, after: str) -> dict[str, Any]:
    b, a = read_both(before, after)
    merged = b.merge(a, on=KEY, how="outer", suffixes=("__b", "__a"), indicator=True)
    missing = merged.loc[merged["_merge"] == "left_only", KEY]
    unexpected = merged.loc[merged["_merge"] == "right_only", KEY]
    both = merged[merged["_merge"] == "both"]
    changed: dict[str, Any] = {}
    for col in (c for c in b.columns if c in a.columns and c != KEY):
        left, right = both[f"{col}__b"], both[f"{col}__a"]
        differs = (left != right) & ~(left.isna() & right.isna())
        changed[col] = both.loc[differs, KEY]
    total = sum(len(v) for v in changed.values())
    return {"ok": not (len(missing) or len(unexpected) or total),
            **_answer(missing, unexpected, changed, total, (len(b), len(a)))}


def run_floor(before: str, after: str) -> dict[str, Any]:
    import sqlalchemy as sa

    sides = []
    for url in (before, after):
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                count, total = conn.execute(
                    sa.text(f"SELECT count(*), sum(amount) FROM {TABLE}")
                ).one()
            sides.append((int(count), float(total or 0)))
        finally:
            engine.dispose()
    (n_b, s_b), (n_a, s_a) = sides
    same = n_b == n_a and abs(s_b - s_a) <= SUM_TOLERANCE
    return {"ok": same, "counts": {"rows_before": n_b, "rows_after": n_a},
            "sums": [round(s_b, 4), round(s_a, 4)]}


def build(url: str, rows: int, revision: str) -> dict[str, Any]:
    """Make the source demo shop and migrate it (in a worker, so the parent stays small)."""
    import shopmig

    started = time.perf_counter()
    shopmig.make_demo_shop(url, rows=rows)
    made = time.perf_counter() - started
    shopmig.upgrade(url, revision, options=shopmig.MigrationOptions(allow_table_rewrite=True))
    return {"make_demo_shop_s": round(made, 1),
            "upgrade_s": round(time.perf_counter() - started - made, 1),
            "revision": shopmig.current_revision(url)}


# What each tool imports before its clock starts: what it needs, and only that.
# (shopmig.verification.api no longer loads pandas when two copies are equal, but run_shopmig
# reads the result's DataFrames to report keys, as a notebook user would, so pandas is
# imported before the clock as for datacompy; SQLAlchemy is the connection pd.read_sql and
# the floor use.)
IMPORTS = {
    "auto": ("shopmig.verification.api", "pandas"),
    "stream": ("shopmig.verification.api", "pandas"),
    "reladiff": ("reladiff",),
    "datacompy": ("datacompy", "pandas", "sqlalchemy"),
    "pandas": ("pandas", "sqlalchemy"),
    "floor": ("sqlalchemy",),
    "idle": (),
}


def import_for(tool: str) -> None:
    """Import what ``tool`` needs, and only that, before its clock starts."""
    for module in IMPORTS.get(tool, ()):
        importlib.import_module(module)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one tool once; everything from the URLs to the answer is timed."""
    global TABLE, KEY
    TABLE, KEY = spec.get("table", TABLE), spec.get("key", KEY)
    if spec["tool"] == "build":
        return build(spec["after"], spec["rows"], spec["revision"])
    tool, before, after = spec["tool"], spec["before"], spec["after"]
    import_for(tool)
    base = rss_mb()
    started = time.perf_counter()
    if tool in SHOPMIG_TOOLS:
        out = run_shopmig(before, after, tool)
    elif tool == "reladiff":
        out = run_reladiff(before, after)
    elif tool == "datacompy":
        out = run_datacompy(before, after)
    elif tool == "pandas":
        out = run_pandas(before, after)
    elif tool == "floor":
        out = run_floor(before, after)
    elif tool == "idle":  # start-up only: the baseline every peak includes
        out = {}
    else:
        raise ValueError(f"unknown tool {tool!r}")
    seconds = time.perf_counter() - started
    out = {"seconds": round(seconds, 3), "peak_mb": round(peak_mb(), 1),
           "ru_maxrss_mb": round(ru_maxrss_mb(), 1), "base_mb": round(base, 1), **out}
    if spec.get("modules"):  # which of the heavy packages this worker had loaded
        out["modules"] = sorted(m for m in ("pandas", "datacompy", "reladiff", "sqlalchemy",
                                            "alembic", "shopmig", "numpy") if m in sys.modules)
    return out


def worker_main(spec_json: str) -> int:
    try:
        out = {"status": "ok", **worker(json.loads(spec_json))}
    except NotImplementedError as exc:
        out = {"status": "unavailable", "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:
        import traceback

        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()[-4000:], "peak_mb": round(peak_mb(), 1)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
