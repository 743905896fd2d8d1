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
import math
import numbers
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig import validate
from shopmig.db import Source, database_file, reading, use_connection
from shopmig.errors import (
    InvalidArgumentError,
    KeyColumnError,
    KeyNotUniqueError,
)
from shopmig.migrate import steps
from shopmig.verification.engines import common
from shopmig.verification.engines.checksum import checksum_engine
from shopmig.verification.engines.common import Collected, Segment, Side, key_isin, key_values
from shopmig.verification.engines.sqlite_join import (
    attached,
    parallel_sqlite_join,
    sqlite_join_keys,
    sqlite_join_possible,
)
from shopmig.verification.options import METHODS

if TYPE_CHECKING:
    import pandas as pd
    from typing_extensions import TypeIs

# pandas, numpy and tqdm are imported where they are used: two equal databases are verified
# from the servers' counts and hashes alone, so ``shopmig verify`` on equal copies never pays
# for importing them (about a quarter of a second).

Key = str | Sequence[str] | None
"""A key: one column name, several (a composite key), or None for the table's primary key."""

DIFF_COLUMNS = ["kind", "key", "column", "before", "after"]
CHANGED_COLUMNS = ["key", "column", "before", "after"]
FAILURE_COLUMNS = ["key", "column", "expected", "actual"]
SEGMENT_COLUMNS = ["lo", "hi", "rows_before", "missing", "unexpected", "changed",
                   "expectation_failures"]


def _is_frame(value: object) -> TypeIs[pd.DataFrame]:
    """A pandas DataFrame (without importing pandas: if it is not loaded, nothing is one)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def key_columns(key: Key) -> list[str] | None:
    """``key`` as a list of column names (None stays None: the primary key)."""
    if key is None:
        return None
    names = [key] if isinstance(key, str) else list(key)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InvalidArgumentError("key", key, "a column name or a list of column names")
    return names


def snapshot(
    source: Source, table: str = steps.TABLE, *, key: Key = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read ``table`` into a DataFrame ordered by ``key`` (all columns, or ``columns``).

    ``key`` (a column or a list of columns) defaults to the table's primary key; it is
    recorded in ``frame.attrs["key"]`` so that :func:`verify` matches rows by it.
    """
    import pandas as pd

    names_wanted = key_columns(key)
    with use_connection(source) as conn, reading(conn):
        side = common.open_side("source", conn, table, names_wanted)
        names = [c.name for c in side.table.columns]
        wanted = list(columns) if columns is not None else names
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidArgumentError("columns", missing, f"columns of {table} ({names})")
        for k in reversed(side.key_names):
            if k not in wanted:
                wanted.insert(0, k)
        # untyped columns: values as the driver gives them (a SQLite DATE holding text that is
        # no date stays that text instead of failing to parse)
        raw = sa.table(side.table.name, *(sa.column(c) for c in names),
                       schema=side.table.schema)
        stmt = sa.select(*(raw.c[c] for c in wanted)).order_by(*(raw.c[k]
                                                                  for k in side.key_names))
        rows = conn.execute(stmt).all()
    frame = common.plain_values(pd.DataFrame(rows, columns=wanted))
    frame.attrs["key"] = side.key_names
    return frame


@dataclass(frozen=True)
class _NoRows:
    """A difference table with no rows, made into a DataFrame only when it is read: a
    comparison that found nothing is answered (``ok``, ``counts``, ``to_dict()``) without
    pandas."""

    columns: tuple[str, ...] = ()
    segments: tuple[Segment, ...] | None = None  # for ``segments``: the runs of before keys

    def frame(self) -> pd.DataFrame:
        """The empty table (or the segments, none holding a difference)."""
        if self.segments is not None:
            return _segments_frame(list(self.segments), {k: [] for k in SEGMENT_COLUMNS[3:]})
        return _empty(self.columns)


def _no_rows(columns: Sequence[str] = (), segments: Sequence[Segment] | None = None) -> Any:
    """A :class:`VerifyResult` table with no rows (see :class:`_NoRows`)."""
    return _NoRows(tuple(columns), None if segments is None else tuple(segments))


_TABLES = ("missing", "unexpected", "changed", "expectation_failures", "segments")


@dataclass(frozen=True, eq=False)
class VerifyResult:
    """The outcome of :func:`verify`: counts plus the rows behind every difference.

    - ``missing``: rows in *before* whose key is not in *after* (lost rows).
    - ``unexpected``: rows in *after* whose key was not in *before*.
    - ``changed``: one row per (key, column) whose value differs, with ``before`` and ``after``.
    - ``expectation_failures``: one row per pre-existing key whose new column has the wrong value.
    - ``segments``: per run of before keys, its rows and each kind of difference in it.

    ``key`` names the key (``"order_id"``, or ``"order_id, line_no"`` for a composite key) and
    ``key_columns`` lists its columns; in ``changed``, ``expectation_failures``, ``differences``
    and ``examples()`` a composite key is a tuple of its values.

    The tables are DataFrames; when verify found no difference they are made when first read,
    so ``ok``, ``counts`` and ``to_dict()`` of two equal databases need no pandas.
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
    segments: pd.DataFrame = field(default_factory=lambda: _no_rows(SEGMENT_COLUMNS))
    key_columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # a table with no rows waits in _pending; __getattr__ makes its DataFrame when read
        pending = {name: self.__dict__.pop(name) for name in _TABLES
                   if isinstance(self.__dict__[name], _NoRows)}
        object.__setattr__(self, "_pending", pending)

    def __getattr__(self, name: str) -> Any:
        pending = self.__dict__.get("_pending") or {}
        if name not in pending:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        frame = pending.pop(name).frame()
        object.__setattr__(self, name, frame)
        return frame

    def _count(self, kind: str) -> int:
        return 0 if kind in self.__dict__["_pending"] else len(getattr(self, kind))

    def _keys(self, frame: pd.DataFrame) -> pd.Series:
        """The key of each row of ``missing`` or ``unexpected`` (tuples for a composite key)."""
        import pandas as pd

        return pd.Series(key_values(frame, self.key_columns or [self.key]), dtype=object)

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
            "missing": self._count("missing"),
            "unexpected": self._count("unexpected"),
            "changed": self._count("changed"),
            "expectation_failures": self._count("expectation_failures"),
        }

    @property
    def differences(self) -> pd.DataFrame:
        """Every difference in one long table: ``kind``, ``key``, ``column``, ``before``,
        ``after``."""
        import pandas as pd

        parts = [
            pd.DataFrame({"kind": "missing", "key": self._keys(self.missing), "column": None,
                          "before": "(row)", "after": None}),
            pd.DataFrame({"kind": "unexpected", "key": self._keys(self.unexpected),
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
        out: dict[str, list[Any]] = {}
        for kind in ("missing", "unexpected", "changed", "expectation_failures"):
            if not self._count(kind):
                out[kind] = []
            elif kind in ("missing", "unexpected"):
                out[kind] = self._keys(getattr(self, kind)).head(n).tolist()
            else:  # one row per (key, column): each key once
                out[kind] = list(dict.fromkeys(getattr(self, kind)["key"].tolist()))[:n]
        return out

    def to_dict(self, examples: int = 5) -> dict[str, Any]:
        """Plain-data summary (the CLI's ``verify --json``): ``ok``, counts and example keys."""
        return {
            "ok": self.ok,
            "method": self.method,
            "table": self.table,
            "key": self.key,
            "key_columns": list(self.key_columns or [self.key]),
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
        import pandas as pd

        colour = "#1a7f37" if self.ok else "#cf222e"
        counts = pd.DataFrame([self.counts]).to_html(index=False)
        body = (f"<p style='color:{colour};font-weight:bold'>{html.escape(self.summary())}</p>"
                + counts)
        if not self.ok:
            body += self.differences.to_html(index=False, max_rows=50)
        return body


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):  # a composite key
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | bool | int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    if hasattr(value, "item"):
        return _plain(value.item())
    return str(value)


def _as_frame(side: str, data: pd.DataFrame | Source, table: str, names: list[str]
              ) -> pd.DataFrame:
    try:
        frame = data if _is_frame(data) else snapshot(data, table, key=names)
    except KeyColumnError as exc:  # name the side, not the URL
        raise KeyColumnError(exc.key, side, exc.columns) from None
    for name in names:
        if name not in frame.columns:
            raise KeyColumnError(name, side, list(frame.columns))
    dup = frame[frame.duplicated(subset=names)]
    if len(dup):
        raise KeyNotUniqueError(", ".join(names), side,
                                sorted(set(key_values(dup, names)), key=repr))
    return frame


def _frame_key(before: Any, after: Any, table: str) -> list[str]:
    """The key of a comparison involving DataFrames when none was given: the one
    :func:`snapshot` recorded, else the primary key of a database side, else ``order_id``."""
    for data in (before, after):
        if _is_frame(data) and data.attrs.get("key"):
            return list(data.attrs["key"])
    for data in (before, after):
        if not _is_frame(data):
            side = common.open_side("before" if data is before else "after", data, table, None)
            return side.key_names
    if steps.KEY in before.columns:
        return [steps.KEY]
    raise InvalidArgumentError("key", None, "the key column(s) to match rows by: key=... "
                               "(a DataFrame not made by shopmig.snapshot carries no key)")


def _differs(a: pd.Series, b: pd.Series, rtol: float | None = None) -> pd.Series:
    """Element-wise "not equal", where NULL equals NULL and NULL differs from any value.

    Floats are equal within ``rtol`` (relative), so the same amount read through two drivers
    or stored at the database's precision compares equal.
    """
    import pandas as pd

    a_na, b_na = a.isna(), b.isna()
    both = ~a_na & ~b_na
    unequal = pd.Series(False, index=a.index)
    av, bv = a[both].to_numpy(), b[both].to_numpy()
    floats = rtol is not None and (
        pd.api.types.is_float_dtype(a.dtype) or pd.api.types.is_float_dtype(b.dtype)
    )
    if rtol is not None and floats and len(av):
        try:
            unequal[both] = ~common.float_close(av, bv, rtol)
        except (TypeError, ValueError):
            floats = False
    if not floats:
        unequal[both] = (av.astype(object) != bv.astype(object))
    return unequal | (a_na ^ b_na)


def _matches(values: pd.Series, expected: Any) -> pd.Series:
    import pandas as pd

    if isinstance(expected, str) and values.dtype != object and not pd.api.types.is_string_dtype(
        values
    ):
        return values.astype(str) == expected
    return values.notna() & (values.astype(object) == expected)


def _empty(columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=list(columns))


def _sorted(frames: list[pd.DataFrame], columns: Sequence[str], by: list[str]) -> pd.DataFrame:
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty(columns)
    return pd.concat(frames, ignore_index=True).sort_values(by, kind="stable").reset_index(
        drop=True
    )


def _compare(
    b: pd.DataFrame, a: pd.DataFrame, names: list[str], shared: Sequence[str],
    rtol: Mapping[str, float], expect: Mapping[str, Any] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Compare two frames by their key columns ``names``: (missing, unexpected, changed,
    expectation failures)."""
    import pandas as pd

    merged = b.merge(a, on=names, how="outer", suffixes=("__b", "__a"), indicator=True,
                     sort=True)
    gone = key_values(merged[merged["_merge"] == "left_only"], names)
    new = key_values(merged[merged["_merge"] == "right_only"], names)
    missing = b[key_isin(b, names, gone)]
    unexpected = a[key_isin(a, names, new)]
    both = merged[merged["_merge"] == "both"].reset_index(drop=True)
    keys = pd.Series(key_values(both, names), dtype=object).to_numpy()
    changes = []
    for col in shared:
        left, right = both[f"{col}__b"], both[f"{col}__a"]
        mask = _differs(left, right, rtol.get(col)).to_numpy()
        if mask.any():
            changes.append(pd.DataFrame({"key": keys[mask], "column": col,
                                         "before": left[mask].astype(object).to_numpy(),
                                         "after": right[mask].astype(object).to_numpy()}))
    failures = []
    for col, value in (expect or {}).items():
        values = both[col if col not in b.columns else f"{col}__a"]
        bad = ~_matches(values, value).to_numpy()
        if bad.any():
            failures.append(pd.DataFrame({"key": keys[bad], "column": col,
                                          "expected": value,
                                          "actual": values[bad].astype(object).to_numpy()}))
    return (
        missing.reset_index(drop=True),
        unexpected.reset_index(drop=True),
        _sorted(changes, CHANGED_COLUMNS, ["key", "column"]),
        _sorted(failures, FAILURE_COLUMNS, ["key", "column"]),
    )


def _segments_frame(segments: Sequence[Segment], result_keys: Mapping[str, Sequence[Any]]
                    ) -> pd.DataFrame:
    """Per before-key segment: its first and last key, rows, and each kind of difference."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({
        "lo": pd.Series([s.lo for s in segments], dtype=object),
        "hi": pd.Series([s.hi for s in segments], dtype=object),
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


def _pandas_segments(b: pd.DataFrame, names: list[str], rows: int) -> list[Segment]:
    keys = key_values(b, names)
    return [Segment(keys[i], keys[min(i + rows, len(keys)) - 1],
                    min(rows, len(keys) - i)) for i in range(0, len(keys), rows)]


def _pick_method(method: str, before: Any, after: Any) -> str:
    """The engine for ``method`` on these two sides; refuses one that cannot run on them."""
    from shopmig.dialects import dialect_for

    if method not in METHODS:
        raise InvalidArgumentError("method", method, "one of " + ", ".join(METHODS))
    frames = _is_frame(before) or _is_frame(after)
    if frames:
        if method not in ("auto", "pandas"):
            raise InvalidArgumentError("method", method,
                                       "'pandas' (or 'auto') when a side is a DataFrame")
        return "pandas"
    db_b, db_a = dialect_for(before), dialect_for(after)
    checksum = type(db_b) is type(db_a) and db_b.verify_checksum
    join = sqlite_join_possible(before, after)
    if method == "auto":
        return "checksum" if checksum else "sqlite-join" if join else "stream"
    if method == "checksum" and not checksum:
        raise InvalidArgumentError(
            "method", method, "'auto' or 'stream': checksum needs two databases of one kind "
            "that hash rows on the server (two PostgreSQL, or two MariaDB/MySQL)")
    if method == "sqlite-join" and not join:
        raise InvalidArgumentError(
            "method", method, "'auto' or 'stream': sqlite-join needs two SQLite databases, "
            "at least one a file, with no transaction open")
    return method


def verify(
    before: pd.DataFrame | Source,
    after: pd.DataFrame | Source,
    *,
    table: str = steps.TABLE,
    key: Key = None,
    expect: Mapping[str, Any] | None = None,
    method: str = "auto",
    chunk_rows: int = 50_000,
    key_range: tuple[Any, Any] | None = None,
    sample: float | None = None,
    seed: int = 0,
    float_rtol: float | None = None,
    progress: bool = False,
) -> VerifyResult:
    """Compare ``before`` and ``after`` row by row on their key.

    Each side is a DataFrame (for example from :func:`snapshot`) or a database. ``table`` may
    be ``schema.table`` and is found as the database stores it. ``key`` is a column, or a list
    of columns for a composite key; by default the table's primary key (for DataFrames: the key
    :func:`snapshot` recorded). Columns present on both sides are compared value by value (NULL
    equals NULL; floats within the column's precision: ``float_rtol``, default 1e-9 relative for
    doubles and 1e-6 when either side stores single precision); columns only in *after* are
    checked against ``expect`` (``{"status": "pending"}``) for every row that existed before.
    Keys are compared exactly (case and trailing spaces count); a uuid compares equal to its
    text, so a SQLite copy of a PostgreSQL table verifies.

    ``method`` picks the engine (``shopmig.verification.engines``): ``auto``: ``checksum`` for two
    PostgreSQL or two MariaDB/MySQL databases, ``sqlite-join`` for two SQLite databases (one a
    file), ``stream`` otherwise (any two databases, e.g. a SQLite copy vs a PostgreSQL source)
    and ``pandas`` when a side is a DataFrame. Only ``chunk_rows`` rows per side are held at once
    by the streaming engines, and ``checksum`` holds at most about ``8 * chunk_rows`` (key,
    hash) pairs per side, so memory is bounded by it, not by the table (the differing rows
    themselves come on top).

    ``key_range=(lo, hi)`` compares only keys in that inclusive range (tuples for a composite
    key); ``sample=0.1`` compares a seeded tenth of the key segments (a quick look: counts cover
    only those segments). ``progress=True`` shows a tqdm bar. Raises
    :class:`~shopmig.errors.KeyColumnError`, :class:`~shopmig.errors.NoPrimaryKeyError` or
    :class:`~shopmig.errors.KeyNotUniqueError` when rows cannot be matched by the key.
    """
    validate.verify_options(expect=expect, chunk_rows=chunk_rows, sample=sample, after=after,
                            table=table)
    names = key_columns(key)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidArgumentError("chunk_rows", chunk_rows, "a whole number of 1 or more")
    if sample is not None and not (isinstance(sample, int | float) and 0 < sample <= 1):
        raise InvalidArgumentError("sample", sample, "a fraction in (0, 1]")
    expect = dict(expect or {})
    with contextlib.ExitStack() as stack:
        b_src = before if _is_frame(before) else stack.enter_context(use_connection(before))
        a_src = after if _is_frame(after) else stack.enter_context(use_connection(after))
        for conn in (b_src, a_src):
            if not _is_frame(conn):
                stack.enter_context(reading(conn))
        engine = _pick_method(method, b_src, a_src)
        if engine == "pandas":
            return _verify_frames(b_src, a_src, table, names, expect, chunk_rows, key_range,
                                  sample, seed, float_rtol)
        assert isinstance(b_src, Connection) and isinstance(a_src, Connection)
        return _verify_databases(engine, b_src, a_src, table, names, expect, chunk_rows,
                                 key_range, sample, seed, float_rtol, progress)


def _in_key_range(keys: list[Any], key_range: tuple[Any, Any] | None) -> list[bool]:
    if not key_range:
        return [True] * len(keys)
    lo, hi = key_range
    return [(lo is None or k >= lo) and (hi is None or k <= hi) for k in keys]


def _verify_frames(before: Any, after: Any, table: str, names: list[str] | None,
                   expect: dict[str, Any], chunk_rows: int, key_range: tuple[Any, Any] | None,
                   sample: float | None, seed: int, float_rtol: float | None) -> VerifyResult:
    names = names or _frame_key(before, after, table)
    b = _as_frame("before", before, table, names)
    a = _as_frame("after", after, table, names)
    for col in expect:
        if col not in a.columns:
            raise InvalidArgumentError(
                "expect", col, f"a column of the after table {list(a.columns)}"
            )
    if key_range:
        first = (key_values(b.head(1), names) or key_values(a.head(1), names) or [None])[0]
        values = [first] if len(names) == 1 else list(first or [None] * len(names))
        key_range = common.typed_key_range(key_range, names, [_number_kind(v) for v in values])
        b = b[_in_key_range(key_values(b, names), key_range)]
        a = a[_in_key_range(key_values(a, names), key_range)]
    b = b.sort_values(names, kind="stable").reset_index(drop=True)
    segments = _pandas_segments(b, names, max(1, min(chunk_rows, -(-len(b) // 100))))
    if sample is not None and sample < 1:
        chosen = common.choose_segments(sample, seed)
        keep = [s for i, s in enumerate(segments) if chosen(i)]
        b, a = _restrict(b, a, names, segments, chosen)
        segments = keep
    shared = [c for c in b.columns if c in a.columns and c not in names]
    rtol = {c: float_rtol if float_rtol is not None else common.DOUBLE_RTOL for c in shared}
    missing, unexpected, changed, failures = _compare(b, a, names, shared, rtol, expect)
    return _result(table, names, len(b), len(a), missing, unexpected, changed, failures,
                   list(b.columns), list(a.columns), expect, "pandas", segments)


def _number_kind(value: Any) -> type | None:
    """int or float for a number key value (numpy's too), None for anything else."""
    if isinstance(value, bool):
        return None
    return int if isinstance(value, numbers.Integral) else float if isinstance(
        value, numbers.Real) else None


def _restrict(b: pd.DataFrame, a: pd.DataFrame, names: list[str], segments: list[Segment],
              chosen: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    his = [s.hi for s in segments]

    def index(k: Any) -> int:
        return min(bisect.bisect_left(his, k), len(his) - 1) if his else 0

    return (b[[chosen(index(k)) for k in key_values(b, names)]],
            a[[chosen(index(k)) for k in key_values(a, names)]])


def _verify_databases(engine: str, before: Connection, after: Connection, table: str,
                      names: list[str] | None, expect: dict[str, Any], chunk_rows: int,
                      key_range: tuple[Any, Any] | None, sample: float | None, seed: int,
                      float_rtol: float | None, progress: bool) -> VerifyResult:
    b_side = common.open_side("before", before, table, names)
    a_side = common.open_side("after", after, table, b_side.key_names)
    names = b_side.key_names
    key_range = common.typed_key_range(key_range, names,
                                       [common.number_kind(k.type) for k in b_side.keys])
    b_cols = [c.name for c in b_side.table.columns]
    a_cols = [c.name for c in a_side.table.columns]
    for col in expect:
        if col not in a_cols:
            raise InvalidArgumentError("expect", col, f"a column of the after table {a_cols}")
    shared = [c for c in b_cols if c in a_cols and c not in names]
    rtol = {c: float_rtol if float_rtol is not None else common.column_rtol(b_side, a_side, c)
            for c in shared}
    if engine != "stream":
        for side in (b_side, a_side):
            common.check_unique(side)
    bar = _progress_bar(progress)

    def collect(rng: tuple[Any, Any] | None) -> Collected:
        if engine == "stream":
            return _collect_stream(b_side, a_side, b_cols, a_cols, shared, rtol, expect,
                                   chunk_rows, rng, bar.update)
        if engine == "checksum":
            got = checksum_engine(
                b_side, a_side, shared=shared, before_cols=b_cols, after_cols=a_cols,
                bucket_rows=max(chunk_rows // 50, 1), key_range=rng, rtol=rtol,
                pair_budget=8 * chunk_rows)
        else:
            got = _collect_sqlite_join(b_side, a_side, b_cols, a_cols, shared, chunk_rows, rng)
        got.expectation_failures = (common.sql_expectation_failures(b_side, a_side, expect, rng)
                                    if expect else None)
        bar.update(got.rows_before)
        return got

    try:
        if sample is None or sample >= 1:
            collected = collect(key_range)
        else:
            collected = _collect_sample(b_side, collect, key_range, sample, seed, b_cols, a_cols)
    finally:
        bar.close()
    if collected.found_nothing:  # nothing to compare in Python: no frame, no pandas
        return VerifyResult(
            table=table, key=", ".join(names), key_columns=names,
            rows_before=collected.rows_before, rows_after=collected.rows_after,
            missing=_no_rows(b_cols), unexpected=_no_rows(a_cols),
            changed=_no_rows(CHANGED_COLUMNS), expectation_failures=_no_rows(FAILURE_COLUMNS),
            **_columns(names, b_cols, a_cols), expectations=expect, method=engine,
            segments=_no_rows(segments=collected.segments))
    missing, unexpected, changed, _ = _compare(
        _or_empty(collected.before_rows, b_cols), _or_empty(collected.after_rows, a_cols),
        names, shared, rtol, None)
    failures = _sorted([_or_empty(collected.expectation_failures, FAILURE_COLUMNS)],
                       FAILURE_COLUMNS, ["key", "column"])
    return _result(table, names, collected.rows_before, collected.rows_after, missing,
                   unexpected, changed, failures, b_cols, a_cols, expect, engine,
                   collected.segments)


def _collect_sample(b_side: Side, collect: Any, key_range: tuple[Any, Any] | None,
                    sample: float, seed: int, b_cols: list[str], a_cols: list[str]
                    ) -> Collected:
    """Cut the before keys into ~100 exact segments, pick a seeded ``sample`` of them, and run
    the engine on each picked key range only."""
    rows = common.count_rows(b_side, key_range)
    segments = common.key_segments(b_side, max(1, -(-rows // 100)), key_range)
    chosen = common.choose_segments(sample, seed)
    picked = [s for i, s in enumerate(segments) if chosen(i)]
    parts = [collect(_intersect(key_range, (s.lo, s.hi))) for s in picked]
    rows_before = sum(p.rows_before for p in parts)
    rows_after = sum(p.rows_after for p in parts)
    if all(p.found_nothing for p in parts):
        return Collected(rows_before, rows_after, None, None, None, picked)
    return Collected(
        rows_before=rows_before, rows_after=rows_after,
        before_rows=_sorted([_or_empty(p.before_rows, b_cols) for p in parts], b_cols,
                            b_side.key_names),
        after_rows=_sorted([_or_empty(p.after_rows, a_cols) for p in parts], a_cols,
                           b_side.key_names),
        expectation_failures=_sorted(
            [_or_empty(p.expectation_failures, FAILURE_COLUMNS) for p in parts],
            FAILURE_COLUMNS, ["key", "column"]),
        segments=picked,
    )


def _intersect(outer: tuple[Any, Any] | None, inner: tuple[Any, Any]) -> tuple[Any, Any]:
    if not outer:
        return inner
    lo = inner[0] if outer[0] is None else max(outer[0], inner[0])
    hi = inner[1] if outer[1] is None else min(outer[1], inner[1])
    return lo, hi


def _collect_stream(b_side: Side, a_side: Side, b_cols: list[str], a_cols: list[str],
                    shared: list[str], rtol: dict[str, float], expect: dict[str, Any],
                    chunk_rows: int, key_range: tuple[Any, Any] | None, on_rows: Any
                    ) -> Collected:
    from shopmig.verification.engines.stream import stream_engine

    names = b_side.key_names

    def compare_window(wb: pd.DataFrame, wa: pd.DataFrame
                       ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        missing, unexpected, changed, failures = _compare(wb, wa, names, shared, rtol, expect)
        keys = {*key_values(missing, names), *key_values(unexpected, names), *changed["key"]}
        return wb[key_isin(wb, names, list(keys))], wa[key_isin(wa, names, list(keys))], failures

    return stream_engine(
        b_side, a_side, compare=compare_window, before_cols=b_cols, after_cols=a_cols,
        chunk_rows=chunk_rows, key_range=key_range, on_rows=on_rows)


def _collect_sqlite_join(b_side: Side, a_side: Side, b_cols: list[str], a_cols: list[str],
                         shared: list[str], chunk_rows: int,
                         key_range: tuple[Any, Any] | None) -> Collected:
    rows_before = common.count_rows(b_side, key_range)
    rows_after = common.count_rows(a_side, key_range)
    both_files = all(database_file(s.conn.engine.url) for s in (b_side, a_side))
    workers = min(os.cpu_count() or 1, 4) if both_files and rows_before > chunk_rows else 1
    if workers > 1:
        keys = parallel_sqlite_join(b_side, a_side, shared, key_range, rows_before, workers)
    else:
        with attached(b_side, a_side) as (jb, ja):
            keys = sqlite_join_keys(jb, ja, shared, key_range)
    # segments locate the differences in key order; when there are none, one segment will do
    segments = (common.sampled_segments(b_side, rows_before, key_range)
                if keys else [Segment(None, None, rows_before)] if rows_before else [])
    return Collected(
        rows_before=rows_before, rows_after=rows_after,
        before_rows=common.fetch_keys(b_side, b_cols, keys) if keys else None,
        after_rows=common.fetch_keys(a_side, a_cols, keys) if keys else None,
        expectation_failures=None, segments=segments,
    )


def _result(table: str, names: list[str], rows_before: int, rows_after: int,
            missing: pd.DataFrame, unexpected: pd.DataFrame, changed: pd.DataFrame,
            failures: pd.DataFrame, b_cols: list[str], a_cols: list[str],
            expect: dict[str, Any], method: str, segments: Sequence[Segment]) -> VerifyResult:
    missing = missing.sort_values(names, kind="stable").reset_index(drop=True)
    unexpected = unexpected.sort_values(names, kind="stable").reset_index(drop=True)
    keys = {"missing": key_values(missing, names), "unexpected": key_values(unexpected, names),
            "changed": changed["key"].tolist(),
            "expectation_failures": failures["key"].tolist()}
    return VerifyResult(
        table=table,
        key=", ".join(names),
        key_columns=list(names),
        rows_before=rows_before,
        rows_after=rows_after,
        missing=missing,
        unexpected=unexpected,
        changed=changed,
        expectation_failures=failures,
        **_columns(names, b_cols, a_cols),
        expectations=expect,
        method=method,
        segments=_segments_frame(segments, keys),
    )


def _columns(names: list[str], b_cols: list[str], a_cols: list[str]) -> dict[str, list[str]]:
    """The columns compared, added and removed (a result's ``columns_*``)."""
    return {"columns_compared": [c for c in b_cols if c in a_cols and c not in names],
            "columns_added": [c for c in a_cols if c not in b_cols],
            "columns_removed": [c for c in b_cols if c not in a_cols]}


def _or_empty(frame: pd.DataFrame | None, columns: Sequence[str]) -> pd.DataFrame:
    """``frame``, or an empty frame with ``columns`` where an engine found no rows (None)."""
    return _empty(columns) if frame is None else frame


class _NoBar:
    """What verify calls on a progress bar, doing nothing (tqdm is loaded only when shown)."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` more rows (ignored)."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(shown: bool) -> Any:
    """A tqdm bar counting rows when ``shown``, else one that does nothing."""
    if not shown:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=None, unit="rows", desc="verify", leave=False)
