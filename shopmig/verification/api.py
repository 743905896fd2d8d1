"""Verify data before vs after a migration: which rows were lost, added or changed.

:func:`snapshot` reads a table into a DataFrame ordered by its key. :func:`verify` compares two
snapshots (or two databases) by key and returns a :class:`VerifyResult`: counts, the differing
rows as DataFrames, ``to_dict()`` for JSON and an HTML view for notebooks. Expectations check
columns the migration added, for example that every pre-existing order has
``status == 'pending'``.
"""

from __future__ import annotations

import bisect
import contextlib
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from tqdm import tqdm

from shopmig import validate
from shopmig.db import Source, database_file, mask_url, reading, use_connection
from shopmig.errors import (
    InvalidArgumentError,
    KeyColumnError,
    KeyNotUniqueError,
    TableNotFoundError,
)
from shopmig.migrate import steps
from shopmig.verification import engines as compare

DIFF_COLUMNS = ["kind", "key", "column", "before", "after"]
CHANGED_COLUMNS = ["key", "column", "before", "after"]
FAILURE_COLUMNS = ["key", "column", "expected", "actual"]
SEGMENT_COLUMNS = ["lo", "hi", "rows_before", "missing", "unexpected", "changed",
                   "expectation_failures"]


def snapshot(
    source: Source, table: str = steps.TABLE, *, key: str = steps.KEY,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read ``table`` into a DataFrame ordered by ``key`` (all columns, or ``columns``)."""
    with use_connection(source) as conn, reading(conn):
        insp = sa.inspect(conn)
        if not insp.has_table(table):
            raise TableNotFoundError(table, mask_url(conn), insp.get_table_names())
        names = [c["name"] for c in insp.get_columns(table)]
        if key not in names:
            raise KeyColumnError(key, mask_url(conn), names)
        wanted = list(columns) if columns is not None else names
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidArgumentError("columns", missing, f"columns of {table} ({names})")
        if key not in wanted:
            wanted.insert(0, key)
        t = sa.table(table, *(sa.column(c) for c in names))
        stmt = sa.select(*(t.c[c] for c in wanted)).order_by(t.c[key])
        rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=wanted)


@dataclass(frozen=True, eq=False)
class VerifyResult:
    """The outcome of :func:`verify`: counts plus the rows behind every difference.

    - ``missing``: rows in *before* whose key is not in *after* (lost rows).
    - ``unexpected``: rows in *after* whose key was not in *before*.
    - ``changed``: one row per (key, column) whose value differs, with ``before`` and ``after``.
    - ``expectation_failures``: one row per pre-existing key whose new column has the wrong value.
    """

    table: str
    key: str
    rows_before: int
    rows_after: int
    missing: pd.DataFrame
    unexpected: pd.DataFrame
    changed: pd.DataFrame
    expectation_failures: pd.DataFrame
    columns_compared: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    expectations: dict[str, Any] = field(default_factory=dict)
    method: str = "pandas"
    segments: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SEGMENT_COLUMNS))

    @property
    def ok(self) -> bool:
        """True when no row was lost, added or changed and every expectation holds."""
        return not any(self.counts[k] for k in
                       ("missing", "unexpected", "changed", "expectation_failures"))

    @property
    def counts(self) -> dict[str, int]:
        """Row counts on each side and the number of each kind of difference."""
        return {
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "changed": len(self.changed),
            "expectation_failures": len(self.expectation_failures),
        }

    @property
    def differences(self) -> pd.DataFrame:
        """Every difference in one long table: ``kind``, ``key``, ``column``, ``before``,
        ``after``."""
        parts = [
            pd.DataFrame({"kind": "missing", "key": self.missing[self.key], "column": None,
                          "before": "(row)", "after": None}),
            pd.DataFrame({"kind": "unexpected", "key": self.unexpected[self.key],
                          "column": None, "before": None, "after": "(row)"}),
            self.changed.assign(kind="changed"),
            self.expectation_failures.rename(columns={"expected": "before", "actual": "after"})
            .assign(kind="expectation"),
        ]
        parts = [p[DIFF_COLUMNS].astype(object) for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=DIFF_COLUMNS)
        return pd.concat(parts, ignore_index=True).sort_values(
            ["key", "kind"], kind="stable"
        ).reset_index(drop=True)

    def examples(self, n: int = 5) -> dict[str, list[Any]]:
        """Up to ``n`` example keys for each kind of difference."""
        return {
            "missing": self.missing[self.key].head(n).tolist(),
            "unexpected": self.unexpected[self.key].head(n).tolist(),
            "changed": list(dict.fromkeys(self.changed["key"].tolist()))[:n],
            "expectation_failures": list(
                dict.fromkeys(self.expectation_failures["key"].tolist())
            )[:n],
        }

    def to_dict(self, examples: int = 5) -> dict[str, Any]:
        """Plain-data summary (the CLI's ``verify --json``): ``ok``, counts and example keys."""
        return {
            "ok": self.ok,
            "method": self.method,
            "table": self.table,
            "key": self.key,
            **self.counts,
            "columns_compared": list(self.columns_compared),
            "columns_added": list(self.columns_added),
            "columns_removed": list(self.columns_removed),
            "expectations": {k: _plain(v) for k, v in self.expectations.items()},
            "examples": {k: [_plain(x) for x in v] for k, v in self.examples(examples).items()},
        }

    def summary(self) -> str:
        """One line: OK or the counts of each kind of difference."""
        c = self.counts
        head = "OK" if self.ok else "DIFFERENCES FOUND"
        return (
            f"{head}: {c['rows_before']:,} rows before, {c['rows_after']:,} after; "
            f"{c['missing']} missing, {c['unexpected']} unexpected, {c['changed']} changed "
            f"value(s), {c['expectation_failures']} expectation failure(s)"
        )

    def __str__(self) -> str:
        lines = [self.summary()]
        if not self.ok:
            lines.append(self.differences.to_string(index=False))
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's plain-text view: the summary and differences, not every field's repr."""
        p.text(str(self))

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        counts = pd.DataFrame([self.counts]).to_html(index=False)
        body = (f"<p style='color:{colour};font-weight:bold'>{html.escape(self.summary())}</p>"
                + counts)
        if not self.ok:
            body += self.differences.to_html(index=False, max_rows=50)
        return body


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return None if isinstance(value, float) and pd.isna(value) else value
    if hasattr(value, "item"):
        return _plain(value.item())
    return str(value)


def _as_frame(side: str, data: pd.DataFrame | Source, table: str, key: str) -> pd.DataFrame:
    try:
        frame = data if isinstance(data, pd.DataFrame) else snapshot(data, table, key=key)
    except KeyColumnError as exc:  # name the side, not the URL
        raise KeyColumnError(key, side, exc.columns) from None
    if key not in frame.columns:
        raise KeyColumnError(key, side, list(frame.columns))
    dup = frame[key][frame[key].duplicated()]
    if len(dup):
        raise KeyNotUniqueError(key, side, sorted(dup.unique().tolist()))
    return frame


def _differs(a: pd.Series, b: pd.Series, rtol: float | None = None) -> pd.Series:
    """Element-wise "not equal", where NULL equals NULL and NULL differs from any value.

    Floats are equal within ``rtol`` (relative), so the same amount read through two drivers
    or stored at the database's precision compares equal.
    """
    a_na, b_na = a.isna(), b.isna()
    both = ~a_na & ~b_na
    unequal = pd.Series(False, index=a.index)
    av, bv = a[both].to_numpy(), b[both].to_numpy()
    floats = rtol is not None and (
        pd.api.types.is_float_dtype(a.dtype) or pd.api.types.is_float_dtype(b.dtype)
    )
    if floats and len(av):
        try:
            unequal[both] = ~compare.float_close(av, bv, rtol)
        except (TypeError, ValueError):
            floats = False
    if not floats:
        unequal[both] = (av.astype(object) != bv.astype(object))
    return unequal | (a_na ^ b_na)


def _matches(values: pd.Series, expected: Any) -> pd.Series:
    if isinstance(expected, str) and values.dtype != object and not pd.api.types.is_string_dtype(
        values
    ):
        return values.astype(str) == expected
    return values.notna() & (values.astype(object) == expected)


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _sorted(frames: list[pd.DataFrame], columns: Sequence[str], by: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty(columns)
    return pd.concat(frames, ignore_index=True).sort_values(by, kind="stable").reset_index(
        drop=True
    )


def _compare(
    b: pd.DataFrame, a: pd.DataFrame, key: str, shared: Sequence[str],
    rtol: Mapping[str, float], expect: Mapping[str, Any] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Compare two frames by ``key``: (missing, unexpected, changed, expectation failures)."""
    merged = b.merge(a, on=key, how="outer", suffixes=("__b", "__a"), indicator=True, sort=True)
    missing = b[b[key].isin(merged.loc[merged["_merge"] == "left_only", key])]
    unexpected = a[a[key].isin(merged.loc[merged["_merge"] == "right_only", key])]
    both = merged[merged["_merge"] == "both"].reset_index(drop=True)
    changes = []
    for col in shared:
        left, right = both[f"{col}__b"], both[f"{col}__a"]
        mask = _differs(left, right, rtol.get(col)).to_numpy()
        if mask.any():
            changes.append(pd.DataFrame({"key": both[key][mask].to_numpy(), "column": col,
                                         "before": left[mask].astype(object).to_numpy(),
                                         "after": right[mask].astype(object).to_numpy()}))
    failures = []
    for col, value in (expect or {}).items():
        values = both[col if col not in b.columns else f"{col}__a"]
        bad = ~_matches(values, value).to_numpy()
        if bad.any():
            failures.append(pd.DataFrame({"key": both[key][bad].to_numpy(), "column": col,
                                          "expected": value,
                                          "actual": values[bad].astype(object).to_numpy()}))
    return (
        missing.reset_index(drop=True),
        unexpected.reset_index(drop=True),
        _sorted(changes, CHANGED_COLUMNS, ["key", "column"]),
        _sorted(failures, FAILURE_COLUMNS, ["key", "column"]),
    )


def _segments_frame(segments: Sequence[compare.Segment], result_keys: Mapping[str, Sequence[Any]]
                    ) -> pd.DataFrame:
    """Per before-key segment: its first and last key, rows, and each kind of difference."""
    frame = pd.DataFrame({
        "lo": [s.lo for s in segments], "hi": [s.hi for s in segments],
        "rows_before": [s.rows_before for s in segments],
    })
    his = [s.hi for s in segments]
    for kind, keys in result_keys.items():
        counts = np.zeros(max(len(segments), 1), dtype=int)
        for k in keys:
            try:
                i = bisect.bisect_left(his, k)
            except TypeError:
                i = len(his) - 1
            counts[min(i, max(len(segments) - 1, 0))] += 1
        frame[kind] = counts[: len(segments)] if segments else []
    if not segments and any(len(k) for k in result_keys.values()):
        frame = pd.DataFrame([{"lo": None, "hi": None, "rows_before": 0,
                               **{kind: len(keys) for kind, keys in result_keys.items()}}])
    return frame


def _pandas_segments(b: pd.DataFrame, key: str, rows: int) -> list[compare.Segment]:
    keys = b[key].tolist()
    return [compare.Segment(keys[i], keys[min(i + rows, len(keys)) - 1],
                            min(rows, len(keys) - i)) for i in range(0, len(keys), rows)]


from shopmig.verification.options import METHODS  # noqa: E402


def _pick_method(method: str, before: Any, after: Any) -> str:
    if method not in METHODS:
        raise InvalidArgumentError("method", method, "one of " + ", ".join(METHODS))
    frames = isinstance(before, pd.DataFrame) or isinstance(after, pd.DataFrame)
    if frames:
        if method not in ("auto", "pandas"):
            raise InvalidArgumentError("method", method,
                                       "'pandas' (or 'auto') when a side is a DataFrame")
        return "pandas"
    if method != "auto":
        return method
    fam = {d: ("mysql" if d in ("mysql", "mariadb") else d)
           for d in (before.dialect.name, after.dialect.name)}
    b, a = fam[before.dialect.name], fam[after.dialect.name]
    if b == a and b in ("postgresql", "mysql"):
        return "checksum"
    if compare.sqlite_join_possible(before, after):
        return "sqlite-join"
    return "stream"


def verify(
    before: pd.DataFrame | Source,
    after: pd.DataFrame | Source,
    *,
    table: str = steps.TABLE,
    key: str = steps.KEY,
    expect: Mapping[str, Any] | None = None,
    method: str = "auto",
    chunk_rows: int = 50_000,
    key_range: tuple[Any, Any] | None = None,
    sample: float | None = None,
    seed: int = 0,
    float_rtol: float | None = None,
    progress: bool = False,
) -> VerifyResult:
    """Compare ``before`` and ``after`` row by row on ``key``.

    Each side is a DataFrame (for example from :func:`snapshot`) or a database. Columns present
    on both sides are compared value by value (NULL equals NULL; floats within the column's
    precision: ``float_rtol``, default 1e-9 relative for doubles and 1e-6 when either side stores
    single precision); columns only in *after* are checked against ``expect``
    (``{"status": "pending"}``) for every row that existed before. Keys are compared exactly
    (case and trailing spaces count).

    ``method`` picks the engine (``shopmig.verification.engines``): ``auto``: ``checksum`` for two
    PostgreSQL or two MariaDB/MySQL databases, ``sqlite-join`` for two SQLite databases (one a
    file), ``stream`` otherwise (any two databases, e.g. a SQLite copy vs a PostgreSQL source)
    and ``pandas`` when a side is a DataFrame. Only ``chunk_rows`` rows per side are held at once
    by the streaming engines, and ``checksum`` holds at most about ``8 * chunk_rows`` (key,
    hash) pairs per side, so memory is bounded by it, not by the table (the differing rows
    themselves come on top).

    ``key_range=(lo, hi)`` compares only keys in that inclusive range; ``sample=0.1`` compares a
    seeded tenth of the key segments (a quick look: counts cover only those segments).
    ``progress=True`` shows a tqdm bar. Raises :class:`~shopmig.errors.KeyColumnError` or
    :class:`~shopmig.errors.KeyNotUniqueError` when rows cannot be matched by ``key``.
    """
    validate.verify_options(expect=expect, chunk_rows=chunk_rows, sample=sample, after=after,
                            table=table)
    for name, value in (("chunk_rows", chunk_rows),):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(name, value, "a whole number of 1 or more")
    if sample is not None and not (isinstance(sample, int | float) and 0 < sample <= 1):
        raise InvalidArgumentError("sample", sample, "a fraction in (0, 1]")
    expect = dict(expect or {})
    with contextlib.ExitStack() as stack:
        b_src = before if isinstance(before, pd.DataFrame) else stack.enter_context(
            use_connection(before))
        a_src = after if isinstance(after, pd.DataFrame) else stack.enter_context(
            use_connection(after))
        for conn in (b_src, a_src):
            if not isinstance(conn, pd.DataFrame):
                stack.enter_context(reading(conn))
        engine = _pick_method(method, b_src, a_src)
        if engine == "pandas":
            return _verify_frames(b_src, a_src, table, key, expect, chunk_rows, key_range,
                                  sample, seed, float_rtol)
        return _verify_databases(engine, b_src, a_src, table, key, expect, chunk_rows,
                                 key_range, sample, seed, float_rtol, progress)


def _verify_frames(before: Any, after: Any, table: str, key: str, expect: dict[str, Any],
                   chunk_rows: int, key_range: tuple[Any, Any] | None, sample: float | None,
                   seed: int, float_rtol: float | None) -> VerifyResult:
    b = _as_frame("before", before, table, key)
    a = _as_frame("after", after, table, key)
    for col in expect:
        if col not in a.columns:
            raise InvalidArgumentError(
                "expect", col, f"a column of the after table {list(a.columns)}"
            )
    if key_range:
        lo, hi = key_range
        b = b[(b[key] >= lo if lo is not None else True) & (b[key] <= hi if hi is not None
                                                             else True)]
        a = a[(a[key] >= lo if lo is not None else True) & (a[key] <= hi if hi is not None
                                                             else True)]
    b = b.sort_values(key, kind="stable").reset_index(drop=True)
    segments = _pandas_segments(b, key, max(1, min(chunk_rows, -(-len(b) // 100))))
    if sample is not None and sample < 1:
        chosen = compare.choose_segments(sample, seed)
        keep = [s for i, s in enumerate(segments) if chosen(i)]
        b, a = _restrict(b, a, key, segments, chosen)
        segments = keep
    shared = [c for c in b.columns if c in a.columns and c != key]
    rtol = {c: float_rtol if float_rtol is not None else compare.DOUBLE_RTOL for c in shared}
    missing, unexpected, changed, failures = _compare(b, a, key, shared, rtol, expect)
    return _result(table, key, len(b), len(a), missing, unexpected, changed, failures,
                   list(b.columns), list(a.columns), expect, "pandas", segments)


def _restrict(b: pd.DataFrame, a: pd.DataFrame, key: str, segments: list[compare.Segment],
              chosen: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    his = [s.hi for s in segments]

    def index(k: Any) -> int:
        return min(bisect.bisect_left(his, k), len(his) - 1) if his else 0

    return (b[[chosen(index(k)) for k in b[key]]], a[[chosen(index(k)) for k in a[key]]])


def _verify_databases(engine: str, before: Connection, after: Connection, table: str, key: str,
                      expect: dict[str, Any], chunk_rows: int,
                      key_range: tuple[Any, Any] | None, sample: float | None, seed: int,
                      float_rtol: float | None, progress: bool) -> VerifyResult:
    if engine not in METHODS[2:]:
        raise InvalidArgumentError("method", engine, "one of " + ", ".join(METHODS))
    b_side = compare.open_side("before", before, table, key)
    a_side = compare.open_side("after", after, table, key)
    b_cols = [c.name for c in b_side.table.columns]
    a_cols = [c.name for c in a_side.table.columns]
    for col in expect:
        if col not in a_cols:
            raise InvalidArgumentError("expect", col, f"a column of the after table {a_cols}")
    shared = [c for c in b_cols if c in a_cols and c != key]
    rtol = {c: float_rtol if float_rtol is not None else compare.column_rtol(b_side, a_side, c)
            for c in shared}
    if engine != "stream":
        for side in (b_side, a_side):
            compare.check_unique(side)
    bar = tqdm(total=None, unit="rows", desc="verify", disable=not progress, leave=False)

    def collect(rng: tuple[Any, Any] | None) -> compare.Collected:
        if engine == "stream":
            return _collect_stream(b_side, a_side, b_cols, a_cols, shared, rtol, expect,
                                   chunk_rows, rng, bar.update)
        if engine == "checksum":
            got = compare.checksum_engine(
                b_side, a_side, shared=shared, before_cols=b_cols, after_cols=a_cols,
                bucket_rows=max(chunk_rows // 50, 1), key_range=rng, rtol=rtol,
                pair_budget=8 * chunk_rows)
        else:
            got = _collect_sqlite_join(b_side, a_side, b_cols, a_cols, shared, chunk_rows, rng)
        got.expectation_failures = compare.sql_expectation_failures(b_side, a_side, expect, rng)
        bar.update(got.rows_before)
        return got

    try:
        if sample is None or sample >= 1:
            collected = collect(key_range)
        else:
            collected = _collect_sample(b_side, collect, key_range, sample, seed, b_cols, a_cols)
    finally:
        bar.close()
    missing, unexpected, changed, _ = _compare(
        collected.before_rows, collected.after_rows, key, shared, rtol, None)
    failures = _sorted([collected.expectation_failures], FAILURE_COLUMNS, ["key", "column"])
    return _result(table, key, collected.rows_before, collected.rows_after, missing, unexpected,
                   changed, failures, b_cols, a_cols, expect, engine, collected.segments)


def _collect_sample(b_side: compare.Side, collect: Any, key_range: tuple[Any, Any] | None,
                    sample: float, seed: int, b_cols: list[str], a_cols: list[str]
                    ) -> compare.Collected:
    """Cut the before keys into ~100 exact segments, pick a seeded ``sample`` of them, and run
    the engine on each picked key range only."""
    rows = compare.count_rows(b_side, key_range)
    segments = compare.key_segments(b_side, max(1, -(-rows // 100)), key_range)
    chosen = compare.choose_segments(sample, seed)
    picked = [s for i, s in enumerate(segments) if chosen(i)]
    parts = [collect(_intersect(key_range, (s.lo, s.hi))) for s in picked]
    return compare.Collected(
        rows_before=sum(p.rows_before for p in parts),
        rows_after=sum(p.rows_after for p in parts),
        before_rows=_sorted([p.before_rows for p in parts], b_cols, [b_side.key.name]),
        after_rows=_sorted([p.after_rows for p in parts], a_cols, [b_side.key.name]),
        expectation_failures=_sorted([p.expectation_failures for p in parts], FAILURE_COLUMNS,
                                     ["key", "column"]),
        segments=picked,
    )


def _intersect(outer: tuple[Any, Any] | None, inner: tuple[Any, Any]) -> tuple[Any, Any]:
    if not outer:
        return inner
    lo = inner[0] if outer[0] is None else max(outer[0], inner[0])
    hi = inner[1] if outer[1] is None else min(outer[1], inner[1])
    return lo, hi


def _collect_stream(b_side: compare.Side, a_side: compare.Side, b_cols: list[str],
                    a_cols: list[str], shared: list[str], rtol: dict[str, float],
                    expect: dict[str, Any], chunk_rows: int,
                    key_range: tuple[Any, Any] | None, on_rows: Any) -> compare.Collected:
    key = b_side.key.name

    def compare_window(wb: pd.DataFrame, wa: pd.DataFrame) -> tuple[Any, Any, Any]:
        missing, unexpected, changed, failures = _compare(wb, wa, key, shared, rtol, expect)
        keys = set(missing[key]) | set(unexpected[key]) | set(changed["key"])
        return wb[wb[key].isin(keys)], wa[wa[key].isin(keys)], failures

    return compare.stream_engine(
        b_side, a_side, compare=compare_window, before_cols=b_cols, after_cols=a_cols,
        chunk_rows=chunk_rows, key_range=key_range, on_rows=on_rows)


def _collect_sqlite_join(b_side: compare.Side, a_side: compare.Side, b_cols: list[str],
                         a_cols: list[str], shared: list[str], chunk_rows: int,
                         key_range: tuple[Any, Any] | None) -> compare.Collected:
    rows_before = compare.count_rows(b_side, key_range)
    rows_after = compare.count_rows(a_side, key_range)
    both_files = all(database_file(s.conn.engine.url) for s in (b_side, a_side))
    workers = min(os.cpu_count() or 1, 4) if both_files and rows_before > chunk_rows else 1
    if workers > 1:
        keys = compare.parallel_sqlite_join(b_side, a_side, shared, key_range, rows_before,
                                            workers)
    else:
        with compare.attached(b_side, a_side) as (jb, ja):
            keys = compare.sqlite_join_keys(jb, ja, shared, key_range)
    # segments locate the differences in key order; when there are none, one segment will do
    segments = (compare.sampled_segments(b_side, rows_before, key_range)
                if keys else [compare.Segment(None, None, rows_before)] if rows_before else [])
    return compare.Collected(
        rows_before=rows_before, rows_after=rows_after,
        before_rows=compare.fetch_keys(b_side, b_cols, keys),
        after_rows=compare.fetch_keys(a_side, a_cols, keys),
        expectation_failures=_empty(FAILURE_COLUMNS), segments=segments,
    )


def _result(table: str, key: str, rows_before: int, rows_after: int, missing: pd.DataFrame,
            unexpected: pd.DataFrame, changed: pd.DataFrame, failures: pd.DataFrame,
            b_cols: list[str], a_cols: list[str], expect: dict[str, Any], method: str,
            segments: Sequence[compare.Segment]) -> VerifyResult:
    missing = missing.sort_values(key, kind="stable").reset_index(drop=True)
    unexpected = unexpected.sort_values(key, kind="stable").reset_index(drop=True)
    keys = {"missing": missing[key].tolist(), "unexpected": unexpected[key].tolist(),
            "changed": changed["key"].tolist(),
            "expectation_failures": failures["key"].tolist()}
    return VerifyResult(
        table=table,
        key=key,
        rows_before=rows_before,
        rows_after=rows_after,
        missing=missing,
        unexpected=unexpected,
        changed=changed,
        expectation_failures=failures,
        columns_compared=[c for c in b_cols if c in a_cols and c != key],
        columns_added=[c for c in a_cols if c not in b_cols],
        columns_removed=[c for c in b_cols if c not in a_cols],
        expectations=expect,
        method=method,
        segments=_segments_frame(segments, keys),
    )
