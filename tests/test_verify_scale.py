"""shopmig.verify at scale: every method against an independent oracle, on every backend.

A seeded generator builds a *before* table of a few thousand orders (plus awkward keys that
differ only by case, trailing spaces or in non-ASCII characters), copies it and damages the
copy (deletes, inserts, amount changes, NULL amounts, status changes, wrong values in a column
the migration added). Both tables are written to real databases and compared with
``shopmig.verify`` by every method that applies to the pair; each answer is checked against
differences computed with plain dicts (:func:`oracle`), which knows nothing about chunks,
segments, checksums or SQL.

Key comparison is binary: Python's ``str`` ordering (code points) is the same as the ordering
of the UTF-8 bytes, so the oracle filters ``key_range`` with plain ``<=``.

Backend notes:

- MariaDB: the orders key column is ``utf8mb4_nopad_bin``. The default collation is case
  insensitive and ``utf8mb4_bin`` is PAD SPACE (``'abc' = 'abc '``), so either would refuse
  the awkward keys in one primary key. Non-key text columns keep the default case-insensitive
  collation on purpose: ``'pending'`` vs ``'Pending'`` / ``'pending '`` must still be changes.
  :func:`test_case_insensitive_key_column_still_compares_binary` uses the default collation on
  a non-unique key column, where those keys are distinct rows.
- PostgreSQL: the *before* key column uses the linguistic ICU collation ``en-x-icu`` when the
  server has it (its ORDER BY is not binary), the *after* side the database default.
"""

from __future__ import annotations

import contextlib
import gc
import math
import random
import sqlite3
import tracemalloc
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import execute

import shopmig
from shopmig.errors import KeyColumnError, KeyNotUniqueError, NoPrimaryKeyError

KEY = "order_id"
EXPECT = {"channel": "web"}
SEGMENT_COLUMNS = ["lo", "hi", "rows_before", "missing", "unexpected", "changed",
                   "expectation_failures"]
KINDS = ("missing", "unexpected", "changed", "expectation_failures")

# keys that a case-insensitive, PAD SPACE or non-binary comparison would confuse
AWKWARD_KEYS = ["abc", "ABC", "abc ", "Abc", "é…", "e…", "É", "日本", "🛒",
                "ORD-0000001 ", "ORD-0000002\t"]
AWKWARD_NEW_KEYS = ["aBc", "abc  ", "ABC ", "é… ", "E…", "ORD-0000003 ", "🛒🛒", "zzz"]
STATUSES = ["pending", "paid", "shipped", None, "expédiée"]
STATUS_DAMAGE = ["paid", "Pending", "pending ", "PENDING", "shipped", None, "cancelled"]

METHODS = {
    "sqlite": ["auto", "pandas", "stream", "sqlite-join"],
    "postgresql": ["auto", "pandas", "stream", "checksum"],
    "mariadb": ["auto", "pandas", "stream", "checksum"],
}
AUTO = {"sqlite": "sqlite-join", "postgresql": "checksum", "mariadb": "checksum"}
DOUBLE = {"sqlite": "REAL", "postgresql": "DOUBLE PRECISION", "mariadb": "DOUBLE"}
SINGLE = {"postgresql": "REAL", "mariadb": "FLOAT"}
MARIADB_BINARY_KEY = "VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"


def server(*values: Any) -> Any:
    """A parameter that needs at least one server gets the ``server`` marker."""
    needs = any(v in ("postgresql", "mariadb") for v in values)
    return pytest.param(*values, marks=[pytest.mark.server] if needs else [])


# ------------------------------------------------------------------ writing tables


Rows = dict[str, dict[str, Any]]  # key -> {column: value}


def key_sql(backend: str, url: str, side: str) -> str:
    if backend == "mariadb":
        return MARIADB_BINARY_KEY
    if backend == "postgresql" and side == "before" and _has_icu(url):
        return 'VARCHAR(40) COLLATE "en-x-icu"'
    return "VARCHAR(40)"


def _has_icu(url: str) -> bool:
    engine = shopmig.open_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text(
                "SELECT count(*) FROM pg_collation WHERE collname = 'en-x-icu'")).scalar())
    finally:
        engine.dispose()


def write_table(url: str, rows: Rows, columns: Mapping[str, str], *, key: str = KEY,
                key_type: str = "VARCHAR(40)", primary_key: bool = True,
                extra_rows: Iterable[dict[str, Any]] = (), seed: int = 0) -> None:
    """Create ``orders`` (``key`` plus ``columns`` {name: SQL type}) and insert ``rows``
    in shuffled order (physical order must not matter), plus ``extra_rows`` as they are."""
    pk = f", PRIMARY KEY ({key})" if primary_key else ""
    cols = "".join(f", {name} {sql}" for name, sql in columns.items())
    execute(url, f"CREATE TABLE orders ({key} {key_type} NOT NULL{cols}{pk})",
            must_exist=False)
    records = [{key: k, **{c: v.get(c) for c in columns}} for k, v in rows.items()]
    random.Random(seed).shuffle(records)
    records += list(extra_rows)
    t = sa.table("orders", sa.column(key), *(sa.column(c) for c in columns))
    engine = shopmig.open_engine(url)
    try:
        with engine.begin() as conn:
            for start in range(0, len(records), 2_000):
                conn.execute(sa.insert(t), records[start:start + 2_000])
    finally:
        engine.dispose()


def new_db(make_url: Any, backend: str) -> str:
    url = make_url(backend)
    shopmig.create_database(url)
    return url


# ------------------------------------------------------------------ data and damage


def build_dataset(seed: int, n: int | None = None) -> tuple[Rows, Rows]:
    """``before`` rows (order_id -> amount, status) and a damaged copy with ``channel``."""
    rng = random.Random(seed)
    n = n if n is not None else rng.randint(2_000, 5_000)
    keys = [f"ORD-{i:07d}" for i in range(1, n + 1)] + AWKWARD_KEYS
    before: Rows = {
        k: {"amount": None if rng.random() < 0.03 else round(rng.uniform(1, 999), 2),
            "status": rng.choice(STATUSES)}
        for k in keys
    }
    after: Rows = {k: {**v, "channel": "web"} for k, v in before.items()}
    # always damage a few awkward keys: one lost, one amount and one status changed
    gone, money, state = rng.sample(AWKWARD_KEYS, 3)
    del after[gone]
    for k in rng.sample(sorted(after.keys() - {money, state}), max(1, n // 50)):  # deletes
        del after[k]
    alive = sorted(after)
    for k in [money, *rng.sample(alive, n // 50)]:  # amount changes (and NULL -> value)
        old = after[k]["amount"]
        delta = rng.choice([0.01, -0.01, 0.5, 1.0, 100.0])
        after[k]["amount"] = round((old if old is not None else 7.0) + delta, 2)
    for k in rng.sample(alive, n // 100):  # value -> NULL
        after[k]["amount"] = None
    for k in [state, *rng.sample(alive, n // 50)]:  # status changes, some only by case/space
        old = after[k]["status"]
        after[k]["status"] = rng.choice([s for s in STATUS_DAMAGE if s != old])
    for k in rng.sample(alive, max(1, n // 200)):  # the added column has a wrong value
        after[k]["channel"] = rng.choice(["app", None, "Web", "web "])
    inserted = [f"ORD-{i:07d}" for i in range(n + 1, n + 1 + n // 100)]
    inserted += [f"NEW-{i:04d}" for i in range(rng.randint(1, 5))]
    inserted += rng.sample(AWKWARD_NEW_KEYS, 3)
    for k in inserted:
        after[k] = {"amount": round(rng.uniform(1, 999), 2), "status": "pending",
                    "channel": "web"}
    return before, after


# ------------------------------------------------------------------ the oracle


def norm(value: Any) -> Any:
    """One spelling of NULL (None) and plain Python scalars."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def close(a: Any, b: Any, rtol: float = 1e-9) -> bool:
    a, b = norm(a), norm(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def in_range(k: str, key_range: tuple[str | None, str | None] | None) -> bool:
    if key_range is None:
        return True
    lo, hi = key_range
    return (lo is None or lo <= k) and (hi is None or k <= hi)


@dataclass
class Expected:
    rows_before: int
    rows_after: int
    missing: Rows
    unexpected: Rows
    changed: dict[tuple[str, str], tuple[Any, Any]]
    failures: dict[tuple[str, str], Any]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.changed or self.failures)


def oracle(before: Rows, after: Rows, expect: Mapping[str, Any] = EXPECT,
           key_range: tuple[str | None, str | None] | None = None) -> Expected:
    """The differences, from dicts: no sorting, chunking, hashing or SQL involved."""
    b = {k: v for k, v in before.items() if in_range(k, key_range)}
    a = {k: v for k, v in after.items() if in_range(k, key_range)}
    shared = [c for c in next(iter(before.values())) if c in next(iter(after.values()))]
    changed, failures = {}, {}
    for k in b.keys() & a.keys():
        for col in shared:
            if b[k][col] != a[k][col]:
                changed[(k, col)] = (b[k][col], a[k][col])
        for col, value in expect.items():
            if a[k][col] != value:
                failures[(k, col)] = a[k][col]
    return Expected(len(b), len(a), {k: b[k] for k in b.keys() - a.keys()},
                    {k: a[k] for k in a.keys() - b.keys()}, changed, failures)


def _first(items: Iterable[Any], n: int = 8) -> list[Any]:
    return sorted(items, key=repr)[:n]


def check(result: shopmig.VerifyResult, want: Expected, *, rtol: float = 1e-9,
          what: str = "") -> None:
    """``result`` says exactly what the oracle says (floats within ``rtol``)."""
    msg = f"[{what} method={result.method}]"
    assert (result.rows_before, result.rows_after) == (want.rows_before, want.rows_after), msg
    for name, got_frame, rows in (("missing", result.missing, want.missing),
                                  ("unexpected", result.unexpected, want.unexpected)):
        got_keys = [norm(k) for k in got_frame[KEY]]
        assert len(got_keys) == len(set(got_keys)), f"{msg} {name}: a key reported twice"
        assert set(got_keys) == set(rows), (
            f"{msg} {name}: extra {_first(set(got_keys) - set(rows))}, "
            f"not found {_first(set(rows) - set(got_keys))}")
        for record in got_frame.to_dict(orient="records"):
            expected_row = rows[record[KEY]]
            for col, value in expected_row.items():
                assert close(record[col], value, rtol), (
                    f"{msg} {name} row {record[KEY]!r}.{col}: {record[col]!r} != {value!r}")

    got_changed = {(norm(k), c): (o, n) for k, c, o, n in
                   result.changed[["key", "column", "before", "after"]].itertuples(
                       index=False, name=None)}
    assert len(got_changed) == len(result.changed), f"{msg} a changed cell reported twice"
    assert got_changed.keys() == want.changed.keys(), (
        f"{msg} changed: extra {_first(got_changed.keys() - want.changed.keys())}, "
        f"not found {_first(want.changed.keys() - got_changed.keys())}")
    for cell, (old, new) in want.changed.items():
        got_old, got_new = got_changed[cell]
        assert close(got_old, old, rtol) and close(got_new, new, rtol), (
            f"{msg} changed {cell}: got {got_old!r} -> {got_new!r}, want {old!r} -> {new!r}")

    got_failures = {(norm(k), c): norm(v) for k, c, v in
                    result.expectation_failures[["key", "column", "actual"]].itertuples(
                        index=False, name=None)}
    assert len(got_failures) == len(result.expectation_failures), f"{msg} failure twice"
    assert got_failures == want.failures, (
        f"{msg} expectation failures: extra "
        f"{_first(got_failures.items() - want.failures.items())}, not found "
        f"{_first(want.failures.items() - got_failures.items())}")
    assert result.ok is want.ok, msg
    check_segments(result)


def check_segments(result: shopmig.VerifyResult) -> None:
    seg = result.segments
    assert list(seg.columns[:len(SEGMENT_COLUMNS)]) == SEGMENT_COLUMNS, list(seg.columns)
    assert int(seg["rows_before"].sum()) == result.rows_before, seg
    for kind in KINDS:
        assert int(seg[kind].sum()) == result.counts[kind], (kind, seg)
    los = [norm(v) for v in seg["lo"]]
    his = [norm(v) for v in seg["hi"]]
    for lo, hi in zip(los, his, strict=True):
        if lo is not None and hi is not None:
            assert lo <= hi, (lo, hi)
    for prev_hi, next_lo in zip(his, los[1:], strict=False):  # in binary key order, disjoint
        if prev_hi is not None and next_lo is not None:
            assert prev_hi < next_lo, (prev_hi, next_lo)


def canonical(result: shopmig.VerifyResult) -> dict[str, list[tuple]]:
    """The four difference frames as sorted tuples of plain values (floats rounded)."""

    def plain(v: Any) -> Any:
        v = norm(v)
        return round(v, 6) if isinstance(v, float) else v

    out = {}
    for kind in KINDS:
        frame = getattr(result, kind)
        out[kind] = sorted((tuple(plain(v) for v in row)
                            for row in frame.itertuples(index=False, name=None)), key=repr)
    out["columns"] = [list(getattr(result, k).columns) for k in KINDS]
    out["counts"] = result.counts
    return out


def assert_binary_order(result: shopmig.VerifyResult) -> None:
    """Difference frames come in binary key order (changed: then by column)."""
    for frame, cols in ((result.missing, [KEY]), (result.unexpected, [KEY]),
                        (result.changed, ["key", "column"]),
                        (result.expectation_failures, ["key", "column"])):
        rows = [tuple(norm(v) for v in r) for r in frame[cols].itertuples(index=False)]
        assert rows == sorted(rows), f"[method={result.method}] not in binary key order"


# ------------------------------------------------------------------ oracle tests


def run_pair(before_url: str, after_url: str, before: Rows, after: Rows,
             methods: list[str], auto: str, chunk_rows: int = 50_000) -> None:
    want = oracle(before, after)
    results = {}
    for method in methods:
        result = shopmig.verify(before_url, after_url, method=method, expect=EXPECT,
                                chunk_rows=chunk_rows)
        assert result.method == (auto if method == "auto" else method)
        check(result, want, what=f"{method} chunk_rows={chunk_rows}")
        assert_binary_order(result)
        results[method] = canonical(result)
    first = results[methods[0]]
    for method, got in results.items():
        assert got == first, f"{method} differs from {methods[0]}"


def setup_pair(make_url: Any, backends: tuple[str, str], seed: int, n: int | None = None
               ) -> tuple[str, str, Rows, Rows]:
    """Two new databases holding ``build_dataset(seed)``: before on ``backends[0]``, the
    damaged copy (with the added ``channel`` column) on ``backends[1]``."""
    before, after = build_dataset(seed, n)
    urls = []
    for side, backend, rows in (("before", backends[0], before), ("after", backends[1], after)):
        url = new_db(make_url, backend)
        columns = {"amount": DOUBLE[backend], "status": "VARCHAR(20)"}
        if side == "after":
            columns["channel"] = "VARCHAR(10)"
        write_table(url, rows, columns, key_type=key_sql(backend, url, side), seed=seed)
        urls.append(url)
    return urls[0], urls[1], before, after


@pytest.mark.parametrize("seed", range(10))
def test_sqlite_every_method_matches_oracle(make_url, seed: int) -> None:
    before_url, after_url, before, after = setup_pair(make_url, ("sqlite", "sqlite"), seed)
    chunk_rows = random.Random(seed).choice([97, 500, 1_000, 50_000])
    run_pair(before_url, after_url, before, after, METHODS["sqlite"], AUTO["sqlite"],
             chunk_rows=chunk_rows)
    want = oracle(before, after)
    # a DataFrame side means pandas
    frame = shopmig.snapshot(before_url)
    result = shopmig.verify(frame, after_url, expect=EXPECT)
    assert result.method == "pandas"
    check(result, want, what="DataFrame before")
    # an Engine and a live Connection are sources like URLs
    engine = shopmig.open_engine(before_url)
    try:
        with shopmig.connect(after_url) as conn:
            for method in ("auto", "stream"):
                check(shopmig.verify(engine, conn, method=method, expect=EXPECT,
                                     chunk_rows=chunk_rows), want, what="engine/connection")
    finally:
        engine.dispose()


@pytest.mark.server
@pytest.mark.parametrize("seed", range(2))
def test_server_every_method_matches_oracle(make_url, server_backend: str, seed: int) -> None:
    before_url, after_url, before, after = setup_pair(
        make_url, (server_backend, server_backend), seed)
    for chunk_rows in (97, 50_000):
        run_pair(before_url, after_url, before, after, METHODS[server_backend],
                 AUTO[server_backend], chunk_rows=chunk_rows)


@pytest.mark.parametrize(("before_backend", "after_backend"), [
    server("sqlite", "postgresql"),
    server("sqlite", "mariadb"),
    server("postgresql", "mariadb"),
    server("mariadb", "sqlite"),
])
def test_cross_backend_matches_oracle(make_url, before_backend: str, after_backend: str
                                      ) -> None:
    before_url, after_url, before, after = setup_pair(
        make_url, (before_backend, after_backend), seed=11)
    for chunk_rows in (97, 50_000):
        run_pair(before_url, after_url, before, after, ["auto", "stream", "pandas"],
                 "stream", chunk_rows=chunk_rows)


# ------------------------------------------------------------------ chunks, ranges, samples


KEY_RANGES = [
    ("ORD-0001000", "ORD-0001999"),
    (None, "ORD-0000300"),
    ("abc", None),
    ("ORD-0000500 ", "ORD-0000600"),  # the lower bound's trailing space excludes ORD-0000500
    ("Abc", "abc"),  # binary: takes 'Abc', 'abc'; not 'ABC' or 'abc '
    ("ORD-0000001", "ORD-0000001"),
    ("zz", "zzz"),  # only an inserted key (if this seed inserted it)
    ("ORD-0000010", "ORD-0000001"),  # empty: lo > hi
]


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_chunks_key_range_and_sample(make_url, backend: str) -> None:
    before_url, after_url, before, after = setup_pair(make_url, (backend, backend), seed=100,
                                                      n=3_000)
    want = oracle(before, after)
    assert len(want.missing) > 20 and len(want.changed) > 50  # enough to sample from
    for method in METHODS[backend][1:]:
        def run(**kwargs: Any) -> shopmig.VerifyResult:
            return shopmig.verify(before_url, after_url, method=method,  # noqa: B023
                                  expect=EXPECT, **kwargs)

        full = run(chunk_rows=50_000)
        small = run(chunk_rows=97)
        check(full, want, what="chunk_rows=50000")
        check(small, want, what="chunk_rows=97")
        assert canonical(small) == canonical(full)

        for key_range in KEY_RANGES:
            got = run(chunk_rows=97, key_range=key_range)
            check(got, oracle(before, after, key_range=key_range),
                  what=f"key_range={key_range}")

        assert canonical(run(chunk_rows=97, sample=1.0)) == canonical(full), method
        part = run(chunk_rows=97, sample=0.3)
        again = run(chunk_rows=97, sample=0.3)
        assert canonical(again) == canonical(part), f"{method}: sample is not seeded"
        check_segments(part)
        sampled, everything = canonical(part), canonical(full)
        for kind in KINDS:
            assert set(sampled[kind]) <= set(everything[kind]), (method, kind)
        found = sum(part.counts[k] for k in KINDS)
        total = sum(full.counts[k] for k in KINDS)
        assert 0 < found < total, (method, found, total)
        # within the segments it compared, the sample finds every difference of the before
        # side's rows (missing rows and changed cells carry before-side keys)
        compared = [(norm(lo), norm(hi)) for lo, hi in part.segments[["lo", "hi"]]
                    .itertuples(index=False, name=None)]

        def inside(k: str, compared: list = compared) -> bool:
            return any((lo is None or lo <= k) and (hi is None or k <= hi)
                       for lo, hi in compared)

        assert {r[0] for r in sampled["missing"]} == {
            r[0] for r in everything["missing"] if inside(r[0])}, method
        assert set(sampled["changed"]) == {r for r in everything["changed"] if inside(r[0])}


def test_progress_gives_the_same_answer(make_url) -> None:
    before_url, after_url, before, after = setup_pair(make_url, ("sqlite", "sqlite"), seed=5,
                                                      n=1_000)
    want = oracle(before, after)
    for method in METHODS["sqlite"]:
        check(shopmig.verify(before_url, after_url, method=method, expect=EXPECT,
                             chunk_rows=97, progress=True), want, what="progress")


# ------------------------------------------------------------------ float precision


AMOUNTS = [0.01, 0.1, 0.3, 1.0, 9.99, 10.01, 19.95, 123.45, 333.33, 499.5, 999.99, 12.34]


@pytest.mark.parametrize(("single", "double"), [
    server("mariadb", "postgresql"),
    server("postgresql", "postgresql"),
    server("mariadb", "mariadb"),
    server("mariadb", "sqlite"),
    server("postgresql", "mariadb"),
])
def test_single_precision_vs_double_compares_equal(make_url, single: str, double: str
                                                    ) -> None:
    rng = random.Random(3)
    rows: Rows = {f"ORD-{i:07d}": {"amount": rng.choice(AMOUNTS) if i % 3 else
                                   round(rng.uniform(0.01, 999.99), 2)}
                  for i in range(1, 401)}
    rows["ORD-0000400"]["amount"] = None
    single_url, double_url = new_db(make_url, single), new_db(make_url, double)
    write_table(single_url, rows, {"amount": SINGLE[single]},
                key_type=key_sql(single, single_url, "after"))
    write_table(double_url, rows, {"amount": DOUBLE[double]},
                key_type=key_sql(double, double_url, "after"))
    same = single == double
    methods = METHODS[single] if same else ["auto", "stream", "pandas"]
    auto = AUTO[single] if same else "stream"
    no_change = oracle(rows, rows, expect={})
    for method in methods:
        for a, b in ((single_url, double_url), (double_url, single_url)):
            result = shopmig.verify(a, b, method=method, chunk_rows=97)
            assert result.method == (auto if method == "auto" else method)
            check(result, no_change, rtol=1e-6, what="single vs double")
            assert result.ok, str(result)

    # a real change of 0.01 (and NULL vs value) on the double side is found
    changed_keys = ["ORD-0000010", "ORD-0000200", "ORD-0000399"]
    execute(double_url,
            "UPDATE orders SET amount = amount + 0.01 WHERE order_id IN ("
            + ", ".join(f"'{k}'" for k in changed_keys) + ")",
            "UPDATE orders SET amount = 5.0 WHERE order_id = 'ORD-0000400'")
    damaged = {k: dict(v) for k, v in rows.items()}
    for k in changed_keys:
        damaged[k]["amount"] = round(damaged[k]["amount"] + 0.01, 2)
    damaged["ORD-0000400"]["amount"] = 5.0
    want = oracle(rows, damaged, expect={})
    assert len(want.changed) == 4
    for method in methods:
        result = shopmig.verify(single_url, double_url, method=method, chunk_rows=97)
        check(result, want, rtol=1e-6, what="0.01 change")
        assert sorted(result.changed["key"]) == sorted([*changed_keys, "ORD-0000400"])


def test_float_rtol_default_and_override(make_url) -> None:
    rows: Rows = {f"K{i:03d}": {"amount": 100.0 + i} for i in range(50)}
    nudged = {k: {"amount": v["amount"] * (1 + 1e-7)} for k, v in rows.items()}
    noise = {k: {"amount": v["amount"] * (1 + 1e-11)} for k, v in rows.items()}
    a, b, c = (new_db(make_url, "sqlite") for _ in range(3))
    write_table(a, rows, {"amount": "REAL"})
    write_table(b, nudged, {"amount": "REAL"})
    write_table(c, noise, {"amount": "REAL"})
    for method in METHODS["sqlite"]:
        # double precision by default (rtol 1e-9): a relative change of 1e-7 is a change,
        # one of 1e-11 is not
        assert shopmig.verify(a, b, method=method).counts["changed"] == 50, method
        assert shopmig.verify(a, c, method=method).ok, method
        assert shopmig.verify(a, b, method=method, float_rtol=1e-6).ok, method
        assert shopmig.verify(a, c, method=method, float_rtol=1e-13).counts["changed"] == 50


def float_pairs(seed: int = 5) -> tuple[Rows, Rows]:
    """Before/after rows whose floats sit on every edge a server-side float hash could get
    wrong: zero and NULL, signs, powers of two apart, subnormal and huge values, swaps, and
    relative changes just under and over verify's default tolerance (1e-9). Two rows whose
    text would run together without quoting (``p,q`` + ``x`` vs ``p`` + ``q,x``) trade places.
    """
    edge = [  # before, after
        (0.0, None), (None, 0.0), (None, None), (0.0, -0.0), (1.5, -1.5), (-2.25, -2.25),
        (1e-300, 2e-300), (5e-324, 1e-323), (1e308, 1.0000001e308), (3.0, 6.0),
        (0.75, 0.375), (-1e-5, -1.1e-5), (10.0, 20.0), (20.0, 10.0),
        (123.456, 123.456 * (1 + 3e-10)), (1.0, 1.0 + 5e-11), (123.456, 123.456 * (1 + 3e-9)),
    ]
    rng = random.Random(seed)
    for _ in range(300):
        x = rng.choice([-1, 1]) * rng.uniform(1, 2) * 2.0 ** rng.randint(-900, 900)
        edge.append((x, x * (1 + rng.choice([0.0, 1e-12, 1e-10, 3e-10, 2e-9, 1e-7]))))
    before = {f"F-{i:03d}": {"amount": b, "note": "n"} for i, (b, _) in enumerate(edge)}
    after = {f"F-{i:03d}": {"amount": a, "note": "n"} for i, (_, a) in enumerate(edge)}
    before["x"] = {"amount": 1.0, "note": "p,q"}
    after["q,x"] = {"amount": 1.0, "note": "p"}
    for key in ("K'", "K\\", "K,'1'"):  # quotes, a backslash, a comma in keys
        before[key] = {"amount": 2.0, "note": "it's"}
        after[key] = {"amount": 2.0, "note": "it's"}
    after["K'"]["note"] = "it\\'s"
    return before, after


def float_changes(before: Rows, after: Rows, rtol: float) -> set[tuple[str, str]]:
    """The (key, column) cells that differ, floats by verify's rule (relative, no absolute
    floor): the oracle for :func:`test_float_edges_and_row_text_every_method`."""
    out = set()
    for key in before.keys() & after.keys():
        for col in ("amount", "note"):
            b, a = before[key][col], after[key][col]
            if (b is None) != (a is None):
                out.add((key, col))
            elif isinstance(b, float):
                if not math.isclose(b, a, rel_tol=rtol, abs_tol=0.0):
                    out.add((key, col))
            elif b != a:
                out.add((key, col))
    return out


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_float_edges_and_row_text_every_method(make_url, backend: str) -> None:
    before, after = float_pairs()
    urls = []
    for side, rows in (("before", before), ("after", after)):
        url = new_db(make_url, backend)
        write_table(url, rows, {"amount": DOUBLE[backend], "note": "VARCHAR(20)"},
                    key_type=key_sql(backend, url, side))
        urls.append(url)
    for rtol in (1e-9, 1e-13):  # 1e-13 is below the MariaDB log hash's step: exact text
        want = float_changes(before, after, rtol)
        assert ("F-014", "amount") in want if rtol < 1e-9 else ("F-016", "amount") in want
        for method in METHODS[backend]:
            for chunk_rows in (97, 50_000):  # many buckets; one bucket for the whole table
                result = shopmig.verify(*urls, method=method, chunk_rows=chunk_rows,
                                        float_rtol=None if rtol == 1e-9 else rtol)
                what = f"{method} rtol={rtol} chunk_rows={chunk_rows}"
                got = {(k, c) for k, c in result.changed[["key", "column"]].itertuples(
                    index=False, name=None)}
                assert got == want, (what, sorted(got ^ want)[:8])
                assert sorted(result.missing[KEY]) == ["x"], what
                assert sorted(result.unexpected[KEY]) == ["q,x"], what
    for method in METHODS[backend]:  # alone in the range, the two rows' texts must differ
        result = shopmig.verify(*urls, method=method, key_range=("q,x", "x"))
        assert (result.counts["missing"], result.counts["unexpected"]) == (1, 1), method


@contextlib.contextmanager
def pair_queries(*urls: str) -> Iterator[tuple[list[sa.Connection], list[int]]]:
    """Connections to ``urls`` to pass to verify, and the row count of every (key, hash)
    query the checksum engine sends on them, seen as statements reach the server (SQLAlchemy's
    ``after_cursor_execute``): a SELECT of two columns filtered by an IN list, not grouped
    (the bucket totals are grouped; the rows fetched at the end have every column; the
    expectation query has no IN list)."""
    rows: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = " ".join(statement.upper().split())
        if (text.startswith("SELECT") and " IN (" in text and "GROUP BY" not in text
                and cursor.description is not None and len(cursor.description) == 2):
            rows.append(cursor.rowcount)

    conns = [shopmig.connect(url) for url in urls]
    try:
        for conn in conns:
            sa.event.listen(conn, "after_cursor_execute", seen)
        yield conns, rows
    finally:
        for conn in conns:
            conn.close()
            conn.engine.dispose()


@pytest.mark.server
def test_checksum_float_vs_double_sends_no_pairs(make_url, server_backend: str) -> None:
    """A FLOAT copy of a DOUBLE column is equal (single precision), and the checksum engine
    must see that from the bucket sums alone: no bucket's (key, hash) pairs are fetched."""
    rng = random.Random(4)
    rows: Rows = {f"ORD-{i:07d}": {"amount": round(rng.uniform(0.01, 999.99), 2)}
                  for i in range(1, 301)}
    single_url, double_url = new_db(make_url, server_backend), new_db(make_url, server_backend)
    write_table(single_url, rows, {"amount": SINGLE[server_backend]},
                key_type=key_sql(server_backend, single_url, "after"))
    write_table(double_url, rows, {"amount": DOUBLE[server_backend]},
                key_type=key_sql(server_backend, double_url, "after"))
    with pair_queries(single_url, double_url) as (conns, fetched):
        assert shopmig.verify(*conns, method="checksum").ok
    if server_backend == "mariadb":
        assert fetched == []
    else:  # PostgreSQL hashes a real and a double differently: candidates, then equal
        assert fetched, "PostgreSQL's sums differ, so some buckets' pairs are compared"


@pytest.mark.server
def test_postgres_buckets_group_by_hashing_then_the_setting_is_back(make_url) -> None:
    """The planner would sort every row to group a few thousand buckets; the bucket pass
    runs as a hash aggregate, and the caller's ``enable_sort`` is as it was afterwards."""
    from shopmig.verification.engines import checksum as compare
    from shopmig.verification.engines.common import open_side

    rows: Rows = {f"ORD-{i:07d}": {"amount": float(i)} for i in range(1, 2001)}
    url = new_db(make_url, "postgresql")
    write_table(url, rows, {"amount": "DOUBLE PRECISION"})
    with shopmig.connect(url) as conn:
        side = open_side("before", conn, "orders", [KEY])
        b = side.db.key_bucket(side.keys, 64).label("b")
        stmt = (sa.select(b, sa.func.count(), sa.func.sum(compare.row_hash(side, [KEY], set())))
                .select_from(side.table).group_by(b))
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        conn.exec_driver_sql("SET LOCAL work_mem = '64kB'")  # as at 10M rows: sorting looks
        plain = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))  # cheaper
        assert "Sort" in plain, plain
        with side.db.hash_grouping(conn):
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
        assert "HashAggregate" in plan and "Sort" not in plan, plan
        assert conn.exec_driver_sql("SHOW enable_sort").scalar_one() == "on"
        result = shopmig.verify(conn, url, method="checksum")
        assert result.ok and result.rows_before == 2000
        assert conn.exec_driver_sql("SHOW enable_sort").scalar_one() == "on"


@pytest.mark.server
def test_checksum_many_differences_in_bounded_batches(make_url, server_backend: str) -> None:
    """With most buckets differing, the (key, hash) pass runs in batches of about
    8 * chunk_rows rows per side, and the answer is the oracle's."""
    before, after = build_dataset(seed=21, n=2_000)
    for i, k in enumerate(sorted(after)):
        if i % 3 == 0 and after[k]["amount"] is not None:
            after[k]["amount"] = round(after[k]["amount"] + 1.0, 2)
    before_url, after_url = new_db(make_url, server_backend), new_db(make_url, server_backend)
    write_table(before_url, before, {"amount": DOUBLE[server_backend], "status": "VARCHAR(20)"},
                key_type=key_sql(server_backend, before_url, "before"))
    write_table(after_url, after, {"amount": DOUBLE[server_backend], "status": "VARCHAR(20)",
                                   "channel": "VARCHAR(10)"},
                key_type=key_sql(server_backend, after_url, "after"))
    # chunk_rows=20: one row per bucket, at most 8 * 20 = 160 (key, hash) pairs a batch
    with pair_queries(before_url, after_url) as (conns, pairs):
        result = shopmig.verify(*conns, method="checksum", expect=EXPECT, chunk_rows=20)
    check(result, oracle(before, after), what="batched")
    assert len(pairs) > 8, pairs  # both sides, several batches each
    assert max(pairs) <= 2 * 160, pairs  # give or take the hash's spread over the buckets


# ------------------------------------------------------------------ keys


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_case_insensitive_key_column_still_compares_binary(make_url, backend: str) -> None:
    """A key column whose collation ignores case (or trailing spaces) is still matched by
    exact value: 'abc', 'ABC', 'abc ' are three keys, not duplicates."""
    a, b = new_db(make_url, backend), new_db(make_url, backend)
    if backend == "sqlite":
        key_type = "VARCHAR(40) COLLATE NOCASE"
    elif backend == "postgresql":
        key_type = "VARCHAR(40) COLLATE ci_test"
        for url in (a, b):  # a nondeterministic collation: 'abc' = 'ABC' in PostgreSQL
            execute(url, "CREATE COLLATION ci_test (provider = icu, "
                         "locale = 'und-u-ks-level2', deterministic = false)")
    else:
        key_type = "VARCHAR(40)"  # the database default: utf8mb4_general_ci, PAD SPACE
    before: Rows = {k: {"amount": float(i)} for i, k in
                    enumerate(["abc", "ABC", "abc ", "Abc", "x1", "X1", "é", "É"])}
    after = {k: dict(v) for k, v in before.items() if k not in ("ABC", "É")}
    after["abc "]["amount"] = 99.0
    after["x1 "] = {"amount": 1.0}
    write_table(a, before, {"amount": DOUBLE[backend]}, key_type=key_type, primary_key=False)
    write_table(b, after, {"amount": DOUBLE[backend]}, key_type=key_type, primary_key=False)
    want = oracle(before, after, expect={})
    assert set(want.missing) == {"ABC", "É"} and set(want.unexpected) == {"x1 "}
    for method in METHODS[backend]:
        for chunk_rows in (3, 50_000):
            result = shopmig.verify(a, b, method=method, chunk_rows=chunk_rows, key=KEY)
            check(result, want, what=f"ci key column chunk_rows={chunk_rows}")


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_duplicate_key_raises_key_not_unique(make_url, backend: str) -> None:
    rows: Rows = {f"D{i:04d}": {"amount": float(i)} for i in range(300)}
    dup_url, ok_url = new_db(make_url, backend), new_db(make_url, backend)
    key_type = MARIADB_BINARY_KEY if backend == "mariadb" else "VARCHAR(40)"
    # duplicates far apart in key order (first, middle, last segment) and physically last
    dups = [{KEY: "D0000", "amount": 1.5}, {KEY: "D0150", "amount": 2.5},
            {KEY: "D0299", "amount": 3.5}]
    write_table(dup_url, rows, {"amount": DOUBLE[backend]}, key_type=key_type,
                primary_key=False, extra_rows=dups)
    write_table(ok_url, rows, {"amount": DOUBLE[backend]}, key_type=key_type)
    for method in METHODS[backend]:
        for chunk_rows in (7, 50_000):
            err = key_not_unique(dup_url, ok_url, method=method, chunk_rows=chunk_rows, key=KEY)
            assert (err.key, err.side) == (KEY, "before"), method
            assert set(err.duplicates) <= {"D0000", "D0150", "D0299"}, method
            assert err.duplicates, method
            err = key_not_unique(ok_url, dup_url, method=method, chunk_rows=chunk_rows, key=KEY)
            assert err.side == "after", method
    gc.collect()  # anything the interrupted reads left open is closed within this test


def key_not_unique(before: str, after: str, **kwargs: Any) -> KeyNotUniqueError:
    """The KeyNotUniqueError verify raises; it must come alone (no warnings about results
    or cursors left open by the interrupted read)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            shopmig.verify(before, after, **kwargs)
        except KeyNotUniqueError as exc:
            err = exc
        else:
            pytest.fail(f"no KeyNotUniqueError ({kwargs})")
        err.__traceback__ = None  # release the frames (and anything they left open)
    assert not caught, f"{kwargs}: {[str(w.message) for w in caught]}"
    return err


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_missing_key_column_raises_key_column_error(make_url, backend: str) -> None:
    rows: Rows = {f"K{i}": {"amount": float(i)} for i in range(20)}
    with_key, without = new_db(make_url, backend), new_db(make_url, backend)
    write_table(with_key, rows, {"amount": DOUBLE[backend]})
    write_table(without, rows, {"amount": DOUBLE[backend]}, key="id")
    for method in METHODS[backend]:
        with pytest.raises(KeyColumnError) as info:
            shopmig.verify(with_key, without, method=method, key=KEY)
        assert (info.value.key, info.value.side) == (KEY, "after"), method
        assert "id" in info.value.columns
        with pytest.raises(KeyColumnError) as info:
            shopmig.verify(without, with_key, method=method, key=KEY)
        assert info.value.side == "before", method
        with pytest.raises(KeyColumnError):
            shopmig.verify(with_key, with_key, method=method, key="nope")


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_no_primary_key_needs_a_key(make_url, backend: str) -> None:
    rows: Rows = {f"K{i}": {"amount": float(i)} for i in range(5)}
    url = new_db(make_url, backend)
    write_table(url, rows, {"amount": DOUBLE[backend]}, primary_key=False)
    for method in METHODS[backend]:
        with pytest.raises(NoPrimaryKeyError) as info:
            shopmig.verify(url, url, method=method)
        assert (info.value.table, info.value.side) == ("orders", "before")
        assert "key=" in str(info.value) and "--key" in str(info.value)
        assert shopmig.verify(url, url, method=method, key=KEY).ok  # named, it compares


# ------------------------------------------------------------------ bounded memory


def _sqlite_orders(path: str, rows: list[tuple]) -> None:
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("CREATE TABLE orders (order_id VARCHAR(40) PRIMARY KEY, amount REAL, "
                    "status VARCHAR(20))")
        raw.executemany("INSERT INTO orders VALUES (?, ?, ?)", rows)
    raw.close()


def _peak(fn: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_stream_memory_is_bounded(tmp_path) -> None:
    n = 200_000
    rng = random.Random(9)
    rows = [(f"ORD-{i:07d}", round(rng.uniform(1, 999), 2),
             rng.choice(["pending", "paid", "shipped"])) for i in range(n)]
    after = list(rows)
    after[50_000] = (after[50_000][0], after[50_000][1] + 1, after[50_000][2])
    after[120_000] = (after[120_000][0], after[120_000][1], None)
    del after[150_000]
    del after[1_000]
    after.append(("ORD-9999999", 1.0, "pending"))
    before_path, after_path = tmp_path / "before.db", tmp_path / "after.db"
    _sqlite_orders(str(before_path), rows)
    _sqlite_orders(str(after_path), after)
    del rows, after
    b, a = f"sqlite:///{before_path}", f"sqlite:///{after_path}"

    full, pandas_peak = _peak(lambda: shopmig.verify(b, a, method="pandas"))
    streamed, stream_peak = _peak(lambda: shopmig.verify(b, a, method="stream",
                                                         chunk_rows=5_000))
    assert canonical(streamed) == canonical(full)
    assert full.missing[KEY].tolist() == ["ORD-0001000", "ORD-0150000"]
    assert full.unexpected[KEY].tolist() == ["ORD-9999999"]
    assert sorted(full.changed[["key", "column"]].itertuples(index=False, name=None)) == [
        ("ORD-0050000", "amount"), ("ORD-0120000", "status")]
    # measured: ~5 MB streamed vs ~87 MB in pandas
    assert stream_peak < 0.25 * pandas_peak, (stream_peak, pandas_peak)


# ------------------------------------------------------------------ keys of any arity and type


def _composite_orders(url: str, lines: dict[tuple[int, int], str], *,
                      primary_key: bool = True) -> None:
    pk = ", PRIMARY KEY (order_no, line_no)" if primary_key else ""
    execute(url, "CREATE TABLE order_lines (order_no INTEGER NOT NULL, line_no INTEGER NOT NULL, "
                 f"sku VARCHAR(20){pk})", must_exist=False)
    t = sa.table("order_lines", sa.column("order_no"), sa.column("line_no"), sa.column("sku"))
    engine = shopmig.open_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(t), [{"order_no": o, "line_no": n, "sku": s}
                                        for (o, n), s in lines.items()])
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_composite_primary_key_is_the_default_key(make_url, backend: str) -> None:
    """A two-column primary key: every engine matches rows by both columns and names each
    difference by its (order_no, line_no) tuple; line 1 of order 2 is not line 2 of order 1."""
    before = {(o, n): f"SKU-{o}-{n}" for o in range(1, 61) for n in range(1, 4)}
    after = dict(before)
    del after[(7, 2)]
    after[(61, 1)] = "SKU-new"
    after[(12, 3)] = "SKU-changed"
    after[(2, 1)], after[(1, 2)] = before[(1, 2)], before[(2, 1)]  # swapped across orders
    b_url, a_url = new_db(make_url, backend), new_db(make_url, backend)
    _composite_orders(b_url, before)
    _composite_orders(a_url, after)
    for method in METHODS[backend]:
        for chunk_rows in (7, 50_000):
            result = shopmig.verify(b_url, a_url, table="order_lines", method=method,
                                    chunk_rows=chunk_rows)
            what = f"{method} chunk_rows={chunk_rows}"
            assert result.key_columns == ["order_no", "line_no"], what
            assert (result.rows_before, result.rows_after) == (180, 180), what
            assert result.examples()["missing"] == [(7, 2)], what
            assert result.examples()["unexpected"] == [(61, 1)], what
            assert sorted(result.changed["key"]) == [(1, 2), (2, 1), (12, 3)], what
            assert set(result.changed["column"]) == {"sku"}, what
            assert result.to_dict()["examples"]["missing"] == [[7, 2]], what
    # a key range on a composite key is a range of tuples
    part = shopmig.verify(b_url, a_url, table="order_lines", key_range=((2, 1), (12, 3)))
    assert sorted(part.changed["key"]) == [(2, 1), (12, 3)]
    assert part.examples()["missing"] == [(7, 2)] and part.unexpected.empty
    assert part.rows_before == 3 + 9 * 3 + 3  # (2,1)..(2,3), orders 3 to 11, (12,1)..(12,3)


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_no_primary_key_and_a_named_composite_key(make_url, backend: str) -> None:
    lines = {(o, n): "x" for o in range(1, 4) for n in range(1, 3)}
    url = new_db(make_url, backend)
    _composite_orders(url, lines, primary_key=False)
    with pytest.raises(NoPrimaryKeyError):
        shopmig.verify(url, url, table="order_lines")
    result = shopmig.verify(url, url, table="order_lines", key=["order_no", "line_no"])
    assert result.ok and result.rows_before == 6
    with pytest.raises(KeyNotUniqueError):  # order_no alone repeats: refused, not guessed
        shopmig.verify(url, url, table="order_lines", key="order_no", method="stream")


@pytest.mark.server
def test_uuid_key_postgresql_vs_its_sqlite_copy(make_url, tmp_path) -> None:
    """A uuid key read from PostgreSQL and the same uuid stored as text in SQLite are one key:
    a cross-database verify (stream) finds exactly the damage, not every row."""
    import uuid

    rng = random.Random(9)
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(200)]
    pg = new_db(make_url, "postgresql")
    execute(pg, "CREATE TABLE orders (id UUID PRIMARY KEY, amount DOUBLE PRECISION)",
            must_exist=False)
    lite = f"sqlite:///{tmp_path / 'copy.db'}"
    execute(lite, "CREATE TABLE orders (id VARCHAR(36) PRIMARY KEY, amount REAL)",
            must_exist=False)
    t = sa.table("orders", sa.column("id"), sa.column("amount"))
    for url, as_text in ((pg, False), (lite, True)):
        engine = shopmig.open_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.insert(t), [{"id": str(u) if as_text else u, "amount": float(i)}
                                        for i, u in enumerate(ids)
                                        if not (as_text and i == 5)])
            if as_text:
                conn.execute(sa.update(t).where(t.c.id == str(ids[9])).values(amount=-1.0))
        engine.dispose()
    result = shopmig.verify(pg, lite, chunk_rows=17)
    assert result.method == "stream"
    assert (result.rows_before, result.rows_after) == (200, 199)
    assert result.examples()["missing"] == [str(ids[5])]
    assert result.changed["key"].tolist() == [str(ids[9])]


# ------------------------------------------------------------------ equal copies, no pandas


PANDAS_PROBE = ("import json, sys, runpy\nsys.argv = ['shopmig', *sys.argv[1:]]\n"
                "try:\n    runpy.run_module('shopmig', run_name='__main__')\n"
                "except SystemExit as exc:\n    code = exc.code\n"
                "print('LOADED:' + json.dumps({'code': code, 'pandas': 'pandas' in sys.modules,"
                " 'numpy': 'numpy' in sys.modules}))")


def _verify_command(before: str, after: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``shopmig verify --json`` run as a command: its answer and which heavy modules it loaded."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PANDAS_PROBE, "verify", "--before", before,
                           "--after", after, "--json"], capture_output=True, text=True,
                          timeout=120)
    *answer, loaded = done.stdout.strip().splitlines()
    assert loaded.startswith("LOADED:"), done.stderr
    return json.loads("\n".join(answer)), json.loads(loaded.removeprefix("LOADED:"))


@pytest.mark.parametrize("backend", ["sqlite", server("postgresql"), server("mariadb")])
def test_equal_copies_are_verified_without_pandas_and_a_difference_still_is_found(
        make_url, backend: str) -> None:
    """Two equal databases are answered from the engines' counts and hashes: the command never
    imports pandas or numpy (a quarter of a second of its start). One changed row brings the
    DataFrames back, and the answer names it."""
    before, after = make_url(backend), make_url(backend)
    shopmig.make_demo_shop(before, rows=2_000, seed=4)
    shopmig.copy_database(before, after)
    answer, loaded = _verify_command(before, after)
    assert loaded == {"code": 0, "pandas": False, "numpy": False}
    assert answer["ok"] is True and answer["method"] in ("checksum", "sqlite-join")
    assert (answer["rows_before"], answer["rows_after"], answer["changed"]) == (2_000, 2_000, 0)
    # the tables made on first read are those an engine that holds rows returns
    lazy, eager = shopmig.verify(before, after), shopmig.verify(before, after, method="stream")
    for kind in (*KINDS, "segments"):
        got, want = getattr(lazy, kind), getattr(eager, kind)
        assert got.columns.tolist() == want.columns.tolist(), kind
        assert len(got) == len(want) or kind == "segments", kind
    assert lazy.segments["rows_before"].sum() == 2_000
    assert lazy.to_dict() == {**eager.to_dict(), "method": lazy.method}
    execute(after, "UPDATE orders SET amount = amount + 1 WHERE order_id = 'ORD-0000007'")
    answer, loaded = _verify_command(before, after)
    assert loaded["code"] == 1 and loaded["pandas"] is True
    assert answer["changed"] == 1 and answer["examples"]["changed"] == ["ORD-0000007"]
