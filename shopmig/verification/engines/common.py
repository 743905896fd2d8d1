"""What every engine shares: one side of a comparison, its key, and the queries on it.

A key is one column or several (a composite primary key). In SQL it is compared and ordered
by its bytes (:meth:`Side.key_expr`); in Python a key value is the column's value for one
column, a tuple of values for several, so sorting Python keys gives the server's order.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.db import mask_url
from shopmig.errors import (
    InvalidArgumentError,
    KeyColumnError,
    KeyNotUniqueError,
    NoPrimaryKeyError,
    TableNotFoundError,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shopmig.dialects.base import Dialect

# pandas and numpy are imported where rows are held, not here: two equal copies are
# verified without them (the counts and hashes are the servers'), so ``shopmig verify``
# starts without their import time

DOUBLE_RTOL = 1e-9
SINGLE_RTOL = 1e-6
IN_BATCH = 500
FAILURE_COLUMNS = ["key", "column", "expected", "actual"]


@dataclass
class Segment:
    """A run of consecutive before keys: first and last key and how many rows it holds."""

    lo: Any
    hi: Any
    rows_before: int


@dataclass
class Collected:
    """What an engine found; :func:`shopmig.verify` turns it into a VerifyResult.

    ``before_rows`` and ``after_rows`` are the rows behind the differences the engine found,
    ``expectation_failures`` the failures it checked; None means none (so an engine that found
    nothing needs no DataFrame).
    """

    rows_before: int
    rows_after: int
    before_rows: pd.DataFrame | None
    after_rows: pd.DataFrame | None
    expectation_failures: pd.DataFrame | None
    segments: list[Segment] = field(default_factory=list)

    @property
    def found_nothing(self) -> bool:
        """No differing row and no expectation failure (None or empty frames)."""
        return all(f is None or not len(f) for f in
                   (self.before_rows, self.after_rows, self.expectation_failures))


def key_values(frame: pd.DataFrame, names: Sequence[str]) -> list[Any]:
    """The key of each row of ``frame``: the value for one key column, a tuple for several."""
    if len(names) == 1:
        return list(frame[names[0]].tolist())
    return list(frame[list(names)].itertuples(index=False, name=None))


def key_isin(frame: pd.DataFrame, names: Sequence[str], keys: Sequence[Any]) -> np.ndarray:
    """Which rows of ``frame`` have a key in ``keys`` (values or tuples, as
    :func:`key_values` gives them)."""
    import numpy as np

    if len(names) == 1:
        return np.asarray(frame[names[0]].isin(list(keys)).to_numpy(), dtype=bool)
    wanted = set(keys)
    return np.fromiter((k in wanted for k in key_values(frame, names)), dtype=bool,
                       count=len(frame))


def plain_values(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with driver-specific values made plain, so two databases' reads of the same
    value compare equal: a uuid as its canonical text (which sorts as the uuid's bytes do),
    a binary buffer as bytes."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or not len(column):
            continue
        first = column[column.notna()].head(1).tolist()
        if first and isinstance(first[0], uuid.UUID | memoryview):
            frame[name] = column.map(_plain_value)
    return frame


def plain_key(key: Any) -> Any:
    """A key as :func:`plain_values` writes it (each value of a composite key)."""
    return tuple(_plain_value(v) for v in key) if isinstance(key, tuple) else _plain_value(key)


def _plain_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def concat(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """The non-empty ``frames`` stacked, or an empty frame with ``columns``."""
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def typed_key_range(key_range: tuple[Any, Any] | None, names: Sequence[str],
                    kinds: Sequence[type | None]) -> tuple[Any, Any] | None:
    """``key_range`` with each bound as the key's values are: the text ``"100"`` (from the
    command line) is the number 100 for an integer key column. ``kinds`` is each key column's
    number type (``int``, ``float``, ``Decimal``) or None for any other column. A bound that
    is not such a number raises :class:`InvalidArgumentError` before anything is compared
    (on SQLite it would select no row and verify would say ok; a server would fail mid-run).
    """
    if not key_range:
        return key_range

    def typed(bound: Any, name: str, kind: type | None) -> Any:
        if bound is None or kind is None or isinstance(bound, kind | bool):
            return bound
        try:
            value = kind(bound.strip() if isinstance(bound, str) else bound)
            if value != bound and not isinstance(bound, str):  # 1.5 is no integer key
                raise ValueError(bound)
            return value
        except (ArithmeticError, TypeError, ValueError):
            raise InvalidArgumentError(
                "key_range", bound, f"a number like the values of the key column {name} "
                f"({kind.__name__})") from None

    def typed_key(bound: Any) -> Any:
        if len(names) == 1:
            return typed(bound, names[0], kinds[0])
        if bound is None:
            return None
        if not isinstance(bound, tuple | list) or len(bound) != len(names):
            raise InvalidArgumentError("key_range", bound, f"a tuple of {len(names)} values, "
                                       f"one per key column ({', '.join(names)})")
        return tuple(typed(b, n, k) for b, n, k in zip(bound, names, kinds, strict=True))

    lo, hi = key_range
    return typed_key(lo), typed_key(hi)


def number_kind(column_type: sa.types.TypeEngine[Any]) -> type | None:
    """The Python number type a key column's values have (None: not a number column)."""
    from decimal import Decimal

    if isinstance(column_type, sa.Integer):
        return int
    if isinstance(column_type, sa.Float):
        return float
    if isinstance(column_type, sa.Numeric):
        return Decimal if column_type.asdecimal else float
    return None


# ------------------------------------------------------------------ one side of a comparison


@dataclass
class Side:
    """A table on one database, reflected just enough to build queries against it."""

    name: str
    conn: Connection
    table: sa.Table
    keys: list[sa.ColumnElement[Any]]
    key_unique: bool
    db: Dialect

    @property
    def key_names(self) -> list[str]:
        """The key's column names."""
        return [str(getattr(k, "name", k)) for k in self.keys]

    def col(self, name: str) -> sa.ColumnElement[Any]:
        """The column ``name`` of this side's table."""
        return self.table.c[name]

    def binary(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``expr`` compared and ordered by its bytes (case and trailing spaces count)."""
        return self.db.binary(expr)

    def binary_value(self, expr: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
        """A literal to compare with ``binary(expr)``."""
        return self.db.binary_value(expr, value)

    def binary_keys(self) -> list[sa.ColumnElement[Any]]:
        """The key columns, each compared and ordered by its bytes."""
        return [self.binary(k) for k in self.keys]

    def key_expr(self) -> sa.ColumnElement[Any]:
        """The key as one comparable expression (a row value for several columns)."""
        keys = self.binary_keys()
        return keys[0] if len(keys) == 1 else sa.tuple_(*keys)

    def key_value(self, value: Any) -> sa.ColumnElement[Any]:
        """A key literal to compare with :meth:`key_expr`."""
        if len(self.keys) == 1:
            return self.binary_value(self.keys[0], value)
        return sa.tuple_(*(self.binary_value(k, v)
                           for k, v in zip(self.keys, value, strict=True)))

    def key_in(self, keys: Sequence[Any]) -> sa.ColumnElement[bool]:
        """The rows whose key is one of ``keys``."""
        if len(self.keys) == 1:
            return self.keys[0].in_(list(keys))
        return sa.tuple_(*self.keys).in_(list(keys))

    def key_of(self, row: Sequence[Any]) -> Any:
        """The key of a result row whose first columns are the key columns."""
        return row[0] if len(self.keys) == 1 else tuple(row[: len(self.keys)])

    def execute(self, stmt: sa.Executable) -> sa.CursorResult[Any]:
        """Run ``stmt`` on this side."""
        return self.conn.execute(stmt)


def open_side(name: str, conn: Connection, table: str, key: Sequence[str] | None) -> Side:
    """Reflect ``table`` on ``conn`` (columns, whether the key is unique) for comparison.

    ``table`` may be ``schema.table`` and is found as the database stores it (case-insensitively
    where there is one match). ``key`` None means the table's primary key.
    """
    from shopmig.dialects import dialect_for
    from shopmig.migrate.target import Target, find_table, parse_table

    db = dialect_for(conn)
    insp = sa.inspect(conn)
    schema, wanted = parse_table(table)
    found = find_table(conn, schema, wanted)
    if found is None:
        raise TableNotFoundError(table, mask_url(conn), insp.get_table_names(schema=schema))
    schema, real = found
    cols = insp.get_columns(real, schema=schema)
    names = [c["name"] for c in cols]
    pk = insp.get_pk_constraint(real, schema=schema).get("constrained_columns") or []
    if key is None:
        if not pk:
            raise NoPrimaryKeyError(table, name)
        key = pk
    for k in key:
        if k not in names:
            raise KeyColumnError(k, name, names)
    for c in cols:  # floats as floats (MySQL reflects FLOAT/DOUBLE as Decimal-returning types)
        if isinstance(c["type"], sa.Float):
            c["type"].asdecimal = False
    t = sa.Table(real, sa.MetaData(), *(sa.Column(c["name"], c["type"]) for c in cols),
                 schema=schema)
    uniques = db.unique_column_sets(conn, Target(real, schema=schema))
    unique = any(set(u) <= set(key) for u in [pk, *uniques] if u)
    return Side(name, conn, t, [t.c[k] for k in key], unique, db)


def column_rtol(before: Side | None, after: Side | None, column: str) -> float:
    """Relative tolerance for a float column: single precision on either side loosens it."""
    for side in (before, after):
        if (side is not None and column in side.table.c
                and side.db.single_precision(side.table.c[column].type)):
            return SINGLE_RTOL
    return DOUBLE_RTOL


def is_double(side: Side, column: str) -> bool:
    """A double precision float column."""
    typ = side.table.c[column].type
    return isinstance(typ, sa.Float) and not side.db.single_precision(typ)


def check_unique(side: Side) -> None:
    """Raise :class:`KeyNotUniqueError` if ``side``'s key holds duplicates."""
    if side.key_unique:
        return
    shown = [sa.func.min(k) if isinstance(k.type, sa.String) else k for k in side.keys]
    stmt = (sa.select(*shown).group_by(*side.binary_keys()).having(sa.func.count() > 1)
            .limit(5))
    dups = [side.key_of(r) for r in side.execute(stmt)]
    if dups:
        raise KeyNotUniqueError(", ".join(side.key_names), side.name, dups)


def in_range(side: Side, key_range: tuple[Any, Any] | None, *, lo_inclusive: bool = True
             ) -> list[sa.ColumnElement[bool]]:
    """Conditions keeping the keys within ``key_range`` (either end None), inclusive at both
    ends unless ``lo_inclusive`` is False."""
    if not key_range:
        return []
    lo, hi = key_range
    out = []
    if lo is not None:
        key, low = side.key_expr(), side.key_value(lo)
        out.append(key >= low if lo_inclusive else key > low)
    if hi is not None:
        out.append(side.key_expr() <= side.key_value(hi))
    return out


def fetch_keys(side: Side, columns: Sequence[str], keys: Sequence[Any]) -> pd.DataFrame:
    """The rows of ``side`` whose key is in ``keys`` (queried in batches)."""
    import pandas as pd

    frames = []
    cols = [side.col(c) for c in columns]
    for start in range(0, len(keys), IN_BATCH):
        batch = list(keys[start : start + IN_BATCH])
        rows = side.execute(sa.select(*cols).where(side.key_in(batch))).all()
        frames.append(plain_values(pd.DataFrame(rows, columns=list(columns))))
    return concat(frames, columns)


def sql_expectation_failures(
    before: Side, after: Side, expect: Mapping[str, Any],
    key_range: tuple[Any, Any] | None, keep: Callable[[Any], bool] | None = None,
) -> pd.DataFrame:
    """Expectation failures found by the after side's server: rows whose column is NULL or not
    the expected value, kept only if their key existed before."""
    import pandas as pd

    out = []
    for column, value in expect.items():
        col = after.col(column)
        stmt = sa.select(*after.keys, col).where(
            sa.or_(col.is_(None), after.binary(col) != after.binary_value(col, value)),
            *in_range(after, key_range)
        )
        got = [(after.key_of(r), r[-1]) for r in after.execute(stmt)]
        if keep is not None:
            got = [g for g in got if keep(g[0])]
        if not got:
            continue
        existed = set(key_values(fetch_keys(before, before.key_names, [g[0] for g in got]),
                                 before.key_names))
        got = [(k, actual) for k, actual in ((plain_key(g[0]), g[1]) for g in got)
               if k in existed]
        out.append(pd.DataFrame({"key": pd.Series([g[0] for g in got], dtype=object),
                                 "column": column, "expected": value,
                                 "actual": pd.Series([g[1] for g in got], dtype=object)}))
    return concat(out, FAILURE_COLUMNS)


def count_rows(side: Side, key_range: tuple[Any, Any] | None) -> int:
    """``count(*)`` of ``side`` within ``key_range``."""
    stmt = sa.select(sa.func.count()).select_from(side.table).where(*in_range(side, key_range))
    return int(side.execute(stmt).scalar_one())


# ------------------------------------------------------------------ segments of the key space


def key_segments(side: Side, segment_rows: int,
                 key_range: tuple[Any, Any] | None) -> list[Segment]:
    """Walk ``side``'s keys in binary order and cut them into segments of ``segment_rows``
    (the server skips through the keys; only each segment's first and last key come back)."""
    out: list[Segment] = []
    base = [*in_range(side, key_range)]
    lo: Any = None

    def key_at(conds: list[Any], offset: int, descending: bool = False) -> Any:
        order = [k.desc() if descending else k for k in side.binary_keys()]
        got = side.execute(sa.select(*side.keys).where(*conds).order_by(*order)
                           .offset(offset).limit(1)).first()
        return None if got is None else side.key_of(got)

    while True:
        conds = base if lo is None else [*base, side.key_expr() > side.key_value(lo)]
        first = key_at(conds, 0)
        if first is None:
            return out
        last = key_at(conds, segment_rows - 1)
        if last is None:
            last = key_at(conds, 0, descending=True)
            rows = side.execute(sa.select(sa.func.count()).select_from(side.table)
                                .where(*conds)).scalar_one()
            out.append(Segment(first, last, int(rows)))
            return out
        out.append(Segment(first, last, segment_rows))
        lo = last


def sampled_segments(side: Side, rows: int, key_range: tuple[Any, Any] | None,
                     count: int = 100, sample_keys: int = 5_000) -> list[Segment]:
    """About ``count`` key segments of ``side`` with row counts estimated from a key sample."""
    if rows <= 0:
        return []
    step = 1
    while step * 2 * sample_keys <= rows:
        step *= 2
    stmt = sa.select(*side.keys).select_from(side.table).where(*in_range(side, key_range))
    if step > 1:
        stmt = stmt.where(side.db.key_sample(side.keys, step))
    try:
        keys = sorted(side.key_of(r) for r in side.execute(stmt))
    except sa.exc.OperationalError:  # a WITHOUT ROWID table: walk the key index instead
        side.conn.rollback()
        return key_segments(side, max(1, rows // count), key_range)
    return segments_from_keys(keys, rows, count)


def segments_from_keys(keys: list[Any], rows: int, count: int = 100) -> list[Segment]:
    """Cut a sorted random sample of keys into about ``count`` segments, scaling the sample's
    counts so that the segments' row estimates add up to ``rows``."""
    if not keys:
        return [Segment(None, None, rows)] if rows else []
    per = max(1, len(keys) // count)
    cuts = keys[per - 1 :: per]
    if cuts[-1] != keys[-1]:
        cuts.append(keys[-1])
    out, start = [], 0
    for hi in cuts:
        end = bisect.bisect_right(keys, hi)
        out.append(Segment(keys[start], hi, round((end - start) * rows / len(keys))))
        start = end
    out[-1].rows_before += rows - sum(s.rows_before for s in out)  # estimates sum to the total
    return out


def choose_segments(sample: float | None, seed: int) -> Callable[[int], bool]:
    """A predicate picking a seeded ``sample`` fraction of segment indexes (all if None)."""
    if sample is None or sample >= 1:
        return lambda _index: True
    rng = random.Random(seed)
    picks: dict[int, bool] = {}

    def chosen(index: int) -> bool:
        while len(picks) <= index:
            picks[len(picks)] = rng.random() < sample
        return picks[index]

    return chosen


def float_close(a: np.ndarray, b: np.ndarray, rtol: float) -> np.ndarray:
    """Element-wise float equality within ``rtol`` (relative to the larger magnitude)."""
    import numpy as np

    a = a.astype(float)
    b = b.astype(float)
    return np.asarray(np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b)))
