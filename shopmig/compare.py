"""The engines behind :func:`shopmig.verify`: find the rows that differ without loading tables.

Every engine answers the same question and hands back the same thing, a :class:`Collected`:
the row counts of both sides, the *candidate* rows (every row that might differ, from both
sides), the expectation failures and the before side's key segments. :mod:`shopmig.verify`
then compares the candidates in pandas, so the final word on "equal" is always the same code,
whatever engine found the candidates. Engines may over-report candidates (a hash that differs
only in float formatting), never under-report them.

- ``pandas``: both sides in memory (DataFrames, or small tables).
- ``stream``: both sides read in binary key order, ``chunk_rows`` at a time, merged like a
  merge join; works between any two databases (SQLite copy vs PostgreSQL source). Memory is
  bounded by the chunk size.
- ``checksum`` (PostgreSQL/PostgreSQL, MariaDB/MariaDB): the server computes a row count and a
  sum of row hashes per key segment on each side; only segments that differ are split further
  (bisection) and only the leaves that still differ are fetched.
- ``sqlite-join`` (two SQLite databases, at least one a file): one ``FULL JOIN`` inside SQLite
  (the other database ATTACHed) returns exactly the keys that differ.
"""

from __future__ import annotations

import bisect
import contextlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.db import mask_url, quote, sqlite_path
from shopmig.errors import KeyColumnError, KeyNotUniqueError, TableNotFoundError

SEP = "\x1f"
NULL_MARK = "\x1e"
DOUBLE_RTOL = 1e-12
SINGLE_RTOL = 1e-6
IN_BATCH = 500
OTHER_SCHEMA = "shopmig_other"


@dataclass
class Segment:
    """A run of consecutive before keys: first and last key and how many rows it holds."""

    lo: Any
    hi: Any
    rows_before: int


@dataclass
class Collected:
    """What an engine found; :func:`shopmig.verify.verify` turns it into a VerifyResult."""

    rows_before: int
    rows_after: int
    before_rows: pd.DataFrame
    after_rows: pd.DataFrame
    expectation_failures: pd.DataFrame
    segments: list[Segment] = field(default_factory=list)


# ------------------------------------------------------------------ one side of a comparison


@dataclass
class Side:
    """A table on one database, reflected just enough to build queries against it."""

    name: str
    conn: Connection
    table: sa.Table
    key: sa.ColumnElement[Any]
    key_unique: bool

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB counts as mysql)."""
        name = self.conn.dialect.name
        return "mysql" if name in ("mysql", "mariadb") else name

    def col(self, name: str) -> sa.ColumnElement[Any]:
        """The column ``name`` of this side's table."""
        return self.table.c[name]

    def binary_key(self) -> sa.ColumnElement[Any]:
        """The key, compared and ordered by its bytes (case and trailing spaces count)."""
        if not isinstance(self.table.c[self.key.name].type, sa.String):
            return self.key
        if self.dialect == "postgresql":
            return self.key.collate("C")
        if self.dialect == "mysql":
            return sa.cast(self.key, sa.LargeBinary)
        return self.key.collate("BINARY")

    def execute(self, stmt: sa.Executable) -> sa.CursorResult[Any]:
        """Run ``stmt`` on this side."""
        return self.conn.execute(stmt)


def open_side(name: str, conn: Connection, table: str, key: str) -> Side:
    """Reflect ``table`` on ``conn`` (columns, whether ``key`` is unique) for comparison."""
    insp = sa.inspect(conn)
    if not insp.has_table(table):
        raise TableNotFoundError(table, mask_url(conn), insp.get_table_names())
    cols = insp.get_columns(table)
    names = [c["name"] for c in cols]
    if key not in names:
        raise KeyColumnError(key, name, names)
    t = sa.Table(table, sa.MetaData(), *(sa.Column(c["name"], c["type"]) for c in cols))
    pk = insp.get_pk_constraint(table).get("constrained_columns") or []
    uniques = [u["column_names"] for u in insp.get_unique_constraints(table)]
    uniques += [i["column_names"] for i in insp.get_indexes(table) if i.get("unique")]
    unique = pk == [key] or [key] in uniques
    return Side(name, conn, t, t.c[key], unique)


def column_rtol(before: Side | None, after: Side | None, column: str) -> float:
    """Relative tolerance for a float column: single precision on either side loosens it."""
    for side in (before, after):
        if side is None or column not in side.table.c:
            continue
        typ = side.table.c[column].type
        single = (
            (side.dialect == "postgresql" and isinstance(typ, sa.REAL))
            or (side.dialect == "mysql" and type(typ).__name__ == "FLOAT")
        )
        if single:
            return SINGLE_RTOL
    return DOUBLE_RTOL


def check_unique(side: Side) -> None:
    """Raise :class:`KeyNotUniqueError` if ``side``'s key column holds duplicates."""
    if side.key_unique:
        return
    bkey = side.binary_key()
    stmt = sa.select(sa.func.min(side.key)).group_by(bkey).having(sa.func.count() > 1).limit(5)
    dups = [r[0] for r in side.execute(stmt)]
    if dups:
        raise KeyNotUniqueError(side.key.name, side.name, dups)


def _in_range(side: Side, key_range: tuple[Any, Any] | None) -> list[sa.ColumnElement[bool]]:
    if not key_range:
        return []
    lo, hi = key_range
    out = []
    if lo is not None:
        out.append(side.key >= lo)
    if hi is not None:
        out.append(side.key <= hi)
    return out


def fetch_keys(side: Side, columns: Sequence[str], keys: Sequence[Any]) -> pd.DataFrame:
    """The rows of ``side`` whose key is in ``keys`` (queried in batches)."""
    frames = []
    cols = [side.col(c) for c in columns]
    for start in range(0, len(keys), IN_BATCH):
        batch = list(keys[start : start + IN_BATCH])
        rows = side.execute(sa.select(*cols).where(side.key.in_(batch))).all()
        frames.append(pd.DataFrame(rows, columns=list(columns)))
    return _concat(frames, columns)


def _concat(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def _dedupe(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.drop_duplicates(subset=[key]).reset_index(drop=True) if len(frame) else frame


def sql_expectation_failures(
    before: Side, after: Side, expect: Mapping[str, Any],
    key_range: tuple[Any, Any] | None, keep: Callable[[Any], bool] | None = None,
) -> pd.DataFrame:
    """Expectation failures found by the after side's server: rows whose column is NULL or not
    the expected value, kept only if their key existed before."""
    out = []
    for column, value in expect.items():
        col = after.col(column)
        stmt = sa.select(after.key, col).where(
            sa.or_(col.is_(None), col != value), *_in_range(after, key_range)
        )
        rows = pd.DataFrame(after.execute(stmt).all(), columns=["key", "actual"])
        if keep is not None and len(rows):
            rows = rows[[keep(k) for k in rows["key"]]]
        if not len(rows):
            continue
        existed = set(fetch_keys(before, [before.key.name], rows["key"].tolist())[before.key.name])
        rows = rows[rows["key"].isin(existed)]
        out.append(pd.DataFrame({"key": rows["key"].to_numpy(), "column": column,
                                 "expected": value, "actual": rows["actual"].to_numpy()}))
    return _concat(out, ["key", "column", "expected", "actual"])


# ------------------------------------------------------------------ stream: ordered merge


def _ordered_chunks(side: Side, columns: Sequence[str], chunk_rows: int,
                    key_range: tuple[Any, Any] | None) -> Iterator[pd.DataFrame]:
    stmt = (sa.select(*(side.col(c) for c in columns))
            .where(*_in_range(side, key_range)).order_by(side.binary_key()))
    result = side.conn.execution_options(yield_per=chunk_rows).execute(stmt)
    try:
        for part in result.partitions(chunk_rows):
            yield pd.DataFrame(part, columns=list(columns))
    finally:
        result.close()


class _Stream:
    """One side's ordered chunks with a buffer, checked for duplicate keys as it goes."""

    def __init__(self, side: Side, columns: Sequence[str], chunk_rows: int,
                 key_range: tuple[Any, Any] | None) -> None:
        self.side = side
        self.key = side.key.name
        self.chunks = _ordered_chunks(side, columns, chunk_rows, key_range)
        self.buffer = pd.DataFrame(columns=list(columns))
        self.done = False
        self.rows = 0
        self.last_key: Any = None

    def fill(self) -> None:
        """Read chunks until the buffer holds rows or the side is exhausted."""
        while not len(self.buffer) and not self.done:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.done = True
                return
            keys = chunk[self.key]
            dup = keys[keys.duplicated()].tolist()
            if self.last_key is not None and len(keys) and keys.iloc[0] == self.last_key:
                dup.append(self.last_key)
            if dup:
                raise KeyNotUniqueError(self.key, self.side.name, sorted(set(dup)))
            if len(keys):
                self.last_key = keys.iloc[-1]
            self.rows += len(chunk)
            self.buffer = chunk

    def take_upto(self, watermark: Any) -> pd.DataFrame:
        """Remove and return the buffered rows with key <= watermark (all if None)."""
        if watermark is None:
            out, self.buffer = self.buffer, self.buffer.iloc[0:0]
            return out
        n = bisect.bisect_right(_KeyList(self.buffer[self.key]), watermark)
        out, self.buffer = self.buffer.iloc[:n], self.buffer.iloc[n:]
        return out


class _KeyList(Sequence[Any]):
    """A sorted Series seen as a sequence for :mod:`bisect` (no copy)."""

    def __init__(self, series: pd.Series) -> None:
        self.values = series.to_numpy()

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        return self.values[i]


def stream_engine(
    before: Side, after: Side, *, compare: Callable[..., tuple[pd.DataFrame, pd.DataFrame,
                                                                pd.DataFrame]],
    before_cols: Sequence[str], after_cols: Sequence[str], chunk_rows: int,
    key_range: tuple[Any, Any] | None, on_rows: Callable[[int], None] | None = None,
) -> Collected:
    """Merge both sides in binary key order, ``chunk_rows`` at a time; keep only differences.

    ``compare(b, a)`` returns (candidate before rows, candidate after rows, expectation
    failures) for two windows holding the same key range.
    """
    bs = _Stream(before, before_cols, chunk_rows, key_range)
    as_ = _Stream(after, after_cols, chunk_rows, key_range)
    cand_b, cand_a, fails, segments = [], [], [], []
    while True:
        bs.fill()
        as_.fill()
        if bs.done and as_.done and not len(bs.buffer) and not len(as_.buffer):
            break
        ends = [s.buffer[s.key].iloc[-1] for s in (bs, as_) if not s.done and len(s.buffer)]
        watermark = min(ends) if ends else None
        wb, wa = bs.take_upto(watermark), as_.take_upto(watermark)
        if len(wb):
            segments.append(Segment(wb[bs.key].iloc[0], wb[bs.key].iloc[-1], len(wb)))
        b, a, f = compare(wb, wa)
        cand_b.append(b)
        cand_a.append(a)
        fails.append(f)
        if on_rows is not None:
            on_rows(len(wb))
    return Collected(
        rows_before=bs.rows, rows_after=as_.rows,
        before_rows=_concat(cand_b, before_cols), after_rows=_concat(cand_a, after_cols),
        expectation_failures=_concat(fails, ["key", "column", "expected", "actual"]),
        segments=_merge_small_segments(segments, chunk_rows),
    )


def _merge_small_segments(segments: list[Segment], target: int) -> list[Segment]:
    out: list[Segment] = []
    for s in segments:
        if out and out[-1].rows_before + s.rows_before <= target:
            out[-1] = Segment(out[-1].lo, s.hi, out[-1].rows_before + s.rows_before)
        else:
            out.append(s)
    return out


# ------------------------------------------------------------------ checksum: server-side hashes


def row_hash(side: Side, columns: Sequence[str]) -> sa.ColumnElement[Any]:
    """A per-row hash over ``columns`` computed by the server (same dialect on both sides)."""
    parts = [sa.func.coalesce(sa.cast(side.col(c), sa.Text), NULL_MARK) for c in columns]
    text = sa.func.concat_ws(SEP, *parts)
    if side.dialect == "postgresql":
        return sa.cast(sa.func.hashtext(text), sa.BigInteger)
    return sa.func.crc32(text)


def _walk(side: Side, columns: Sequence[str], lo: Any, hi: Any, rows: int, first: bool,
          key_range: tuple[Any, Any] | None) -> Iterator[tuple[Any, Any, int, Any]]:
    """Keyset-walk ``side`` in (lo, hi] (lo inclusive when ``first``), ``rows`` keys at a time;
    yield (first key, last key, row count, hash sum) per segment."""
    h = row_hash(side, columns)
    inclusive = first
    while True:
        conds = [*_in_range(side, key_range)]
        if lo is not None:
            conds.append(side.key >= lo if inclusive else side.key > lo)
        if hi is not None:
            conds.append(side.key <= hi)
        inner = (sa.select(side.key.label("k"), h.label("h")).where(*conds)
                 .order_by(side.key).limit(rows).subquery())
        got = side.execute(sa.select(sa.func.min(inner.c.k), sa.func.max(inner.c.k),
                                     sa.func.count(), sa.func.sum(inner.c.h))).one()
        if not got[2]:
            return
        yield got[0], got[1], int(got[2]), got[3]
        if got[2] < rows:
            return
        lo, inclusive = got[1], False


def _range_sum(side: Side, columns: Sequence[str], lo: Any, hi: Any, lo_inclusive: bool,
               key_range: tuple[Any, Any] | None) -> tuple[int, Any]:
    conds = [*_in_range(side, key_range)]
    if lo is not None:
        conds.append(side.key >= lo if lo_inclusive else side.key > lo)
    if hi is not None:
        conds.append(side.key <= hi)
    got = side.execute(sa.select(sa.func.count(), sa.func.sum(row_hash(side, columns)))
                       .where(*conds)).one()
    return int(got[0]), got[1]


def _fetch_range(side: Side, columns: Sequence[str], lo: Any, hi: Any, lo_inclusive: bool,
                 key_range: tuple[Any, Any] | None) -> pd.DataFrame:
    conds = [*_in_range(side, key_range)]
    if lo is not None:
        conds.append(side.key >= lo if lo_inclusive else side.key > lo)
    if hi is not None:
        conds.append(side.key <= hi)
    rows = side.execute(sa.select(*(side.col(c) for c in columns)).where(*conds)).all()
    return pd.DataFrame(rows, columns=list(columns))


def checksum_engine(
    before: Side, after: Side, *, shared: Sequence[str], before_cols: Sequence[str],
    after_cols: Sequence[str], segment_rows: int, leaf_rows: int,
    key_range: tuple[Any, Any] | None, chosen: Callable[[int], bool],
    on_rows: Callable[[int], None] | None = None,
) -> Collected:
    """Compare per-segment counts and hash sums; bisect the segments that differ."""
    hash_cols = [before.key.name, *shared]
    segments: list[Segment] = []
    differing: list[tuple[Any, Any, bool, int]] = []  # (lo, hi, lo_inclusive, rows)
    rows_before = rows_after = 0
    prev_hi: Any = None
    pool = ThreadPoolExecutor(max_workers=1)  # the after side runs beside the before walk
    pending: list[tuple[Future[tuple[int, Any]], Any, Any, bool, int, int, Any]] = []
    try:
        for index, (first, last, count, total) in enumerate(
            _walk(before, hash_cols, None, None, segment_rows, True, key_range)
        ):
            segments.append(Segment(first, last, count))
            if on_rows is not None:
                on_rows(count)
            if not chosen(index):
                prev_hi = last
                continue
            lo, lo_incl = (None, True) if prev_hi is None else (prev_hi, False)
            fut = pool.submit(_range_sum, after, hash_cols, lo, last, lo_incl, key_range)
            pending.append((fut, lo, last, lo_incl, count, index, total))
            prev_hi = last
        tail = (pool.submit(_range_sum, after, hash_cols, prev_hi, None, prev_hi is None,
                            key_range) if chosen(len(segments)) else None)
        for fut, lo, hi, lo_incl, count, _index, total in pending:
            a_count, a_total = fut.result()
            rows_before += count
            rows_after += a_count
            if a_count != count or a_total != total:
                differing.append((lo, hi, lo_incl, count))
        if tail is not None:
            t_count, _ = tail.result()
            rows_after += t_count
            if t_count:
                differing.append((prev_hi, None, prev_hi is None, 0))
    finally:
        pool.shutdown(wait=True)
    cand_b: list[pd.DataFrame] = []
    cand_a: list[pd.DataFrame] = []
    for lo, hi, lo_incl, count in differing:
        _bisect(before, after, hash_cols, before_cols, after_cols, lo, hi, lo_incl, count,
                segment_rows, leaf_rows, key_range, cand_b, cand_a)
    key = before.key.name
    return Collected(
        rows_before=rows_before, rows_after=rows_after,
        before_rows=_dedupe(_concat(cand_b, before_cols), key),
        after_rows=_dedupe(_concat(cand_a, after_cols), key),
        expectation_failures=pd.DataFrame(columns=["key", "column", "expected", "actual"]),
        segments=segments,
    )


def _bisect(before: Side, after: Side, hash_cols: Sequence[str], before_cols: Sequence[str],
            after_cols: Sequence[str], lo: Any, hi: Any, lo_incl: bool, count: int,
            segment_rows: int, leaf_rows: int, key_range: tuple[Any, Any] | None,
            cand_b: list[pd.DataFrame], cand_a: list[pd.DataFrame]) -> None:
    if count <= leaf_rows or segment_rows <= leaf_rows:
        cand_b.append(_fetch_range(before, before_cols, lo, hi, lo_incl, key_range))
        cand_a.append(_fetch_range(after, after_cols, lo, hi, lo_incl, key_range))
        return
    step = max(leaf_rows, segment_rows // 10)
    prev, prev_incl = lo, lo_incl
    for _first, last, sub_count, total in list(
        _walk(before, hash_cols, lo, hi, step, lo_incl, key_range)
    ):
        a_count, a_total = _range_sum(after, hash_cols, prev, last, prev_incl, key_range)
        if a_count != sub_count or a_total != total:
            _bisect(before, after, hash_cols, before_cols, after_cols, prev, last, prev_incl,
                    sub_count, step, leaf_rows, key_range, cand_b, cand_a)
        prev, prev_incl = last, False
    # after rows beyond the last before key of this range (inserted rows)
    if prev is None or hi is None or prev != hi:
        a_count, _ = _range_sum(after, hash_cols, prev, hi, prev_incl, key_range)
        if a_count:
            cand_a.append(_fetch_range(after, after_cols, prev, hi, prev_incl, key_range))


# ------------------------------------------------------------------ sqlite-join: ATTACH + FULL JOIN


def sqlite_join_possible(before: Connection, after: Connection) -> bool:
    """Both SQLite, at least one a file, and no transaction open on the host connection."""
    if before.dialect.name != "sqlite" or after.dialect.name != "sqlite":
        return False
    paths = [sqlite_path(before.engine.url), sqlite_path(after.engine.url)]
    if not any(paths):
        return False
    host = after if paths[1] is None else before
    return not host.in_transaction()


@contextlib.contextmanager
def attached(before: Side, after: Side) -> Iterator[tuple[Side, Side]]:
    """ATTACH one SQLite file to the other side's connection; yield both sides on that host."""
    b_path, a_path = sqlite_path(before.conn.engine.url), sqlite_path(after.conn.engine.url)
    host, guest_path, guest_is_after = (before, a_path, True) if a_path else (after, b_path, False)
    if host.conn.in_transaction():  # only our own reads (sqlite_join_possible checked first)
        host.conn.rollback()
    raw = host.conn.connection.driver_connection
    assert raw is not None and guest_path is not None
    raw.execute(f"ATTACH DATABASE ? AS {quote(host.conn, OTHER_SCHEMA)}", (guest_path,))
    try:
        guest_table = sa.Table(host.table.name, sa.MetaData(),
                               *(sa.Column(c.name, c.type) for c in
                                 (after if guest_is_after else before).table.columns),
                               schema=OTHER_SCHEMA)
        guest = Side((after if guest_is_after else before).name, host.conn, guest_table,
                     guest_table.c[host.key.name], True)
        yield (host, guest) if guest_is_after else (guest, host)
    finally:
        if host.conn.in_transaction():
            host.conn.rollback()
        raw.execute(f"DETACH DATABASE {quote(host.conn, OTHER_SCHEMA)}")


def sqlite_join_keys(before: Side, after: Side, shared: Sequence[str],
                     key_range: tuple[Any, Any] | None) -> list[Any]:
    """The keys that are missing, unexpected or differ in a shared column (one FULL JOIN)."""
    b, a = before.table, after.table
    k = before.key.name
    differs = [b.c[c].is_not(a.c[c]) for c in shared]
    join = b.join(a, b.c[k] == a.c[k], full=True)
    conds = []
    if key_range:
        lo, hi = key_range
        ck = sa.func.coalesce(b.c[k], a.c[k])
        if lo is not None:
            conds.append(ck >= lo)
        if hi is not None:
            conds.append(ck <= hi)
    stmt = sa.select(sa.func.coalesce(b.c[k], a.c[k])).select_from(join).where(
        sa.or_(b.c[k].is_(None), a.c[k].is_(None), *differs), *conds
    )
    return [r[0] for r in before.execute(stmt)]


def key_segments(side: Side, segment_rows: int,
                 key_range: tuple[Any, Any] | None) -> list[Segment]:
    """Walk ``side``'s keys in order (index only) and cut them into segments."""
    out: list[Segment] = []
    lo, inclusive = None, True
    while True:
        conds = [*_in_range(side, key_range)]
        if lo is not None:
            conds.append(side.key >= lo if inclusive else side.key > lo)
        inner = (sa.select(side.key.label("k")).where(*conds).order_by(side.key)
                 .limit(segment_rows).subquery())
        got = side.execute(sa.select(sa.func.min(inner.c.k), sa.func.max(inner.c.k),
                                     sa.func.count())).one()
        if not got[2]:
            return out
        out.append(Segment(got[0], got[1], int(got[2])))
        if got[2] < segment_rows:
            return out
        lo, inclusive = got[1], False


def count_rows(side: Side, key_range: tuple[Any, Any] | None) -> int:
    """``count(*)`` of ``side`` within ``key_range``."""
    stmt = sa.select(sa.func.count()).select_from(side.table).where(*_in_range(side, key_range))
    return int(side.execute(stmt).scalar_one())


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
    a = a.astype(float)
    b = b.astype(float)
    return np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b))
