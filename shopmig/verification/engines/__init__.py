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
- ``checksum`` (PostgreSQL/PostgreSQL, MariaDB/MariaDB): each server computes a row count and a
  sum of row hashes per key-hash bucket; only the buckets that differ send their (key, hash)
  pairs, and only the rows whose hash differs are fetched.
- ``sqlite-join`` (two SQLite databases, at least one a file): one ``FULL JOIN`` inside SQLite
  (the other database ATTACHed) returns exactly the keys that differ.
"""

from __future__ import annotations

import bisect
import contextlib
import random
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.db import database_file, mask_url, quote
from shopmig.errors import KeyColumnError, KeyNotUniqueError, TableNotFoundError

SEP = "\x1f"
NULL_MARK = "\x1e"
DOUBLE_RTOL = 1e-9
SINGLE_RTOL = 1e-6
IN_BATCH = 500
PAIR_BUDGET = 400_000  # (key, hash) pairs per side the checksum engine holds at once
MAX_IN_BUCKETS = 5_000  # differing buckets named in one IN list
SEGMENT_SAMPLE = 50_000  # keys that place the segments of a checksum comparison
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

    def binary(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``expr`` (a text column of this side) compared and ordered by its bytes, whatever
        the column's collation: case and trailing spaces count."""
        if not isinstance(expr.type, sa.String):
            return expr
        if self.dialect == "postgresql":
            return expr.collate("C")
        if self.dialect == "mysql":
            return sa.cast(expr, sa.LargeBinary)
        return expr.collate("BINARY")

    def binary_value(self, expr: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
        """A literal to compare with ``binary(expr)``."""
        if self.dialect == "mysql" and isinstance(expr.type, sa.String):
            return sa.cast(sa.literal(value, sa.String), sa.LargeBinary)
        return sa.literal(value, expr.type)

    def binary_key(self) -> sa.ColumnElement[Any]:
        """The key, compared and ordered by its bytes (case and trailing spaces count)."""
        return self.binary(self.key)

    def key_value(self, value: Any) -> sa.ColumnElement[Any]:
        """A key literal to compare with :meth:`binary_key`."""
        return self.binary_value(self.key, value)

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
    for c in cols:  # floats as floats (MySQL reflects FLOAT/DOUBLE as Decimal-returning types)
        if isinstance(c["type"], sa.Float):
            c["type"].asdecimal = False
    t = sa.Table(table, sa.MetaData(), *(sa.Column(c["name"], c["type"]) for c in cols))
    pk = insp.get_pk_constraint(table).get("constrained_columns") or []
    uniques = [u["column_names"] for u in insp.get_unique_constraints(table)]
    uniques += [i["column_names"] for i in insp.get_indexes(table) if i.get("unique")]
    unique = pk == [key] or [key] in uniques
    return Side(name, conn, t, t.c[key], unique)


def column_rtol(before: Side | None, after: Side | None, column: str) -> float:
    """Relative tolerance for a float column: single precision on either side loosens it."""
    for side in (before, after):
        if side is not None and column in side.table.c and _single_precision(side, column):
            return SINGLE_RTOL
    return DOUBLE_RTOL


def _single_precision(side: Side, column: str) -> bool:
    typ = side.table.c[column].type
    return ((side.dialect == "postgresql" and isinstance(typ, sa.REAL))
            or (side.dialect == "mysql" and type(typ).__name__ == "FLOAT"))


def _double(side: Side, column: str) -> bool:
    """A double precision float column."""
    return (isinstance(side.table.c[column].type, sa.Float)
            and not _single_precision(side, column))


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
        out.append(side.binary_key() >= side.key_value(lo))
    if hi is not None:
        out.append(side.binary_key() <= side.key_value(hi))
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
            sa.or_(col.is_(None), after.binary(col) != after.binary_value(col, value)),
            *_in_range(after, key_range)
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
        with warnings.catch_warnings():  # PyMySQL warns when an unbuffered result is cut short
            warnings.simplefilter("ignore")
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
    try:
        return _merge_streams(bs, as_, compare, before_cols, after_cols, chunk_rows, on_rows)
    finally:  # an early error leaves a cursor open: close both reads now, not at GC time
        for stream in (bs, as_):
            stream.chunks.close()


def _merge_streams(bs: _Stream, as_: _Stream, compare: Callable[..., Any],
                   before_cols: Sequence[str], after_cols: Sequence[str], chunk_rows: int,
                   on_rows: Callable[[int], None] | None) -> Collected:
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


def _column_hash(side: Side, column: str) -> sa.ColumnElement[Any]:
    """A 64-bit PostgreSQL hash of one column, NULL-safe."""
    col = side.col(column)
    typ = col.type
    if isinstance(typ, sa.Float | sa.Numeric) and not isinstance(typ, sa.Integer):
        h = sa.func.hashfloat8extended(sa.cast(col, sa.Double), 0)
    elif isinstance(typ, sa.Integer):
        h = sa.func.hashint8extended(sa.cast(col, sa.BigInteger), 0)
    else:
        h = sa.func.hashtextextended(side.binary(sa.cast(col, sa.Text)), 0)
    return sa.func.coalesce(h, sa.literal(7919, sa.BigInteger))


#: Doubles hash by ``round(log2(x) * 2**32)`` on MariaDB/MySQL: two values with the same hash
#: differ by less than 1.62e-10 relative, so the hash may only be used where the column's
#: tolerance is at least this (verify's default is 1e-9 for doubles).
LOG_HASH_RTOL = 2e-10


def log_hashed_floats(before: Side, after: Side, columns: Sequence[str],
                      rtol: Mapping[str, float]) -> set[str]:
    """The columns :func:`row_hash` may write as a quantized log on MariaDB/MySQL: doubles on
    both sides (a float and a double of the same value have different logs, but the same
    short text) whose tolerance is at least :data:`LOG_HASH_RTOL`."""
    return {c for c in columns
            if c in before.table.c and c in after.table.c and _double(before, c)
            and _double(after, c) and rtol.get(c, 0.0) >= LOG_HASH_RTOL}


def _mysql_value(side: Side, column: str, log: bool) -> sa.ColumnElement[Any]:
    """One column's part of a MariaDB/MySQL row text (see :func:`row_hash`)."""
    col = side.col(column)
    if log:
        # positive doubles: their log, in 2**-32 steps (no float formatting, 3x cheaper);
        # zero, negatives and NULL: crc32 of their quoted text, moved out of the log's range
        return sa.case(
            (col > 0, sa.cast(sa.func.log2(col) * 4294967296, sa.BigInteger)),
            else_=sa.func.crc32(sa.func.quote(col)) + 2**50,
        )
    return sa.func.quote(col)


def row_hash(side: Side, columns: Sequence[str],
             log_floats: Collection[str] = ()) -> sa.ColumnElement[Any]:
    """A per-row hash over ``columns`` computed by the server (same dialect on both sides).

    PostgreSQL: the 64-bit column hashes, each shifted by its position, XORed together.
    MariaDB/MySQL: ``crc32`` of the row written as text, every value but the key through
    ``QUOTE()`` (``NULL`` stays the bare word NULL, quotes and backslashes are escaped) and the
    key last, so the text is unambiguous; one ``crc32`` per row costs less than one per
    column. The ``log_floats`` columns (see :func:`log_hashed_floats`) are written as their
    quantized log instead of their decimal text: MariaDB's float formatting costs more than
    the rest of the row together.
    """
    if side.dialect != "postgresql":
        # the key (never NULL) goes last and unquoted: the other fields, each a quoted string,
        # the word NULL or an integer, read unambiguously from the left, and the rest is the key
        parts = [_mysql_value(side, column, column in log_floats)
                 for column in columns if column != side.key.name]
        return sa.func.crc32(sa.func.concat_ws(",", *parts, side.key))
    out: sa.ColumnElement[Any] | None = None
    for i, column in enumerate(columns):
        h = _column_hash(side, column)
        h = h.op("<<")(sa.literal_column(str(int(i)))) if i else h
        out = h if out is None else out.op("#")(h)
    assert out is not None
    return out


def _bucket(side: Side, buckets: int) -> sa.ColumnElement[Any]:
    """Which of ``buckets`` (a power of two) hash buckets a row's key falls in."""
    mask = sa.literal_column(str(int(buckets - 1)))
    if side.dialect == "postgresql":
        return sa.func.hashtext(side.binary(sa.cast(side.key, sa.Text))).op("&")(mask)
    # signed: MariaDB compares an unsigned expression with an IN list a third slower
    return sa.cast(sa.func.crc32(side.key).op("&")(mask), sa.BigInteger)


def _estimated_rows(side: Side) -> int:
    """The server's own row estimate for the table (statistics, no scan); 0 if unknown."""
    if side.dialect == "postgresql":
        stmt = sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)")
    else:
        stmt = sa.text("SELECT table_rows FROM information_schema.tables "
                       "WHERE table_schema = DATABASE() AND table_name = :name")
    got = side.execute(stmt.bindparams(name=side.table.name)).scalar()
    return max(0, int(got or 0))


def _bucket_totals(side: Side, columns: Sequence[str], log_floats: Collection[str],
                   buckets: int, key_range: tuple[Any, Any] | None
                   ) -> dict[int, tuple[int, Any]]:
    b = _bucket(side, buckets).label("b")
    stmt = (sa.select(b, sa.func.count(), sa.func.sum(row_hash(side, columns, log_floats)))
            .select_from(side.table).where(*_in_range(side, key_range)).group_by(b))
    with _hash_grouping(side):
        return {int(r[0]): (int(r[1]), r[2]) for r in side.execute(stmt)}


@contextlib.contextmanager
def _hash_grouping(side: Side) -> Iterator[None]:
    """On PostgreSQL, have the planner group by hashing for the duration of one query.

    The planner takes a bucket expression over a unique key for as many groups as rows, so it
    sorts every row (on disk, at 10M rows) to group them into a few thousand buckets; a hash
    aggregate does the same in a third less time. ``enable_sort`` is set for the current
    transaction only and put back straight after (outside a transaction it has no effect).
    """
    if side.dialect != "postgresql":
        yield
        return
    setting = sa.func.set_config
    old = side.execute(sa.select(sa.func.current_setting("enable_sort"))).scalar_one()
    side.execute(sa.select(setting("enable_sort", "off", sa.true())))
    yield  # on an error the transaction is void, and the setting goes with it
    side.execute(sa.select(setting("enable_sort", old, sa.true())))


def _bucket_rows(side: Side, columns: Sequence[str], log_floats: Collection[str],
                 buckets: int, wanted: Sequence[int], key_range: tuple[Any, Any] | None
                 ) -> pd.DataFrame:
    """(key, row hash) of every row in the ``wanted`` buckets."""
    stmt = (sa.select(side.key, row_hash(side, columns, log_floats)).select_from(side.table)
            .where(_bucket(side, buckets).in_(list(wanted)), *_in_range(side, key_range)))
    return pd.DataFrame(side.execute(stmt).all(), columns=["key", "h"])


def sampled_segments(side: Side, rows: int, key_range: tuple[Any, Any] | None,
                      count: int = 100, sample_keys: int = 5_000) -> list[Segment]:
    """About ``count`` key segments of ``side`` with row counts estimated from a key sample."""
    if rows <= 0:
        return []
    step = 1
    while step * 2 * sample_keys <= rows:
        step *= 2
    stmt = sa.select(side.key).select_from(side.table).where(*_in_range(side, key_range))
    if step > 1 and side.dialect == "sqlite":
        stmt = stmt.where(sa.literal_column("rowid") % step == 0)
    elif step > 1:
        stmt = stmt.where(_bucket(side, step) == 0)
    try:
        keys = sorted(r[0] for r in side.execute(stmt))
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


def checksum_engine(
    before: Side, after: Side, *, shared: Sequence[str], before_cols: Sequence[str],
    after_cols: Sequence[str], bucket_rows: int, key_range: tuple[Any, Any] | None,
    rtol: Mapping[str, float] | None = None, pair_budget: int = PAIR_BUDGET,
) -> Collected:
    """Compare the servers' row counts and row-hash sums per key-hash bucket, then the
    (key, hash) pairs of the buckets that differ; fetch only the rows that differ.

    ``rtol`` is each float column's tolerance: where it is loose enough, MariaDB/MySQL hash
    the column's quantized value instead of its text (see :func:`row_hash`).

    Equal copies cost one grouped pass per side; differences cost one more filtered pass per
    ``pair_budget`` rows in differing buckets (one pass for a few hundred differences), so
    memory holds about that many (key, hash) pairs per side besides the differing rows.
    Both sides run in parallel (one thread each), and nothing but counts, sums and the
    differing buckets' keys crosses the network.
    """
    cols = [before.key.name, *shared]
    log_floats = log_hashed_floats(before, after, shared, rtol or {})
    estimate = max(_estimated_rows(before), _estimated_rows(after))
    if estimate <= 0:  # never analyzed: count (one cheap pass) rather than guess
        estimate = count_rows(before, key_range)
    buckets = 1
    while buckets * bucket_rows < estimate:
        buckets *= 2
    with ThreadPoolExecutor(max_workers=2) as pool:

        def both(fn: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
            fb, fa = (pool.submit(fn, s, cols, log_floats, buckets, *args)
                      for s in (before, after))
            return fb.result(), fa.result()

        tb, ta = both(_bucket_totals, key_range)
        nb = sum(count for count, _ in tb.values())
        na = sum(count for count, _ in ta.values())
        wanted = [b for b in sorted(set(tb) | set(ta)) if tb.get(b) != ta.get(b)]
        if wanted and buckets * bucket_rows * 8 < max(nb, na):
            # the statistics were stale (or missing): buckets too coarse to fetch; redo them
            while buckets * bucket_rows < max(nb, na):
                buckets *= 2
            tb, ta = both(_bucket_totals, key_range)
            wanted = [b for b in sorted(set(tb) | set(ta)) if tb.get(b) != ta.get(b)]
        keys: list[Any] = []
        sample: list[Any] = []  # keys of differing buckets: a hash-random sample of the keys
        # rows per differing bucket: the average to start with, then as measured (a bucket
        # with more rows is likelier to hold a difference)
        per_bucket = max(nb, na) / buckets
        start = 0
        while start < len(wanted):
            batch = wanted[start : start + max(1, min(MAX_IN_BUCKETS,
                                                       int(pair_budget / max(per_bucket, 1))))]
            start += len(batch)
            hb, ha = both(_bucket_rows, batch, key_range)
            per_bucket = max(per_bucket, len(hb) / len(batch), len(ha) / len(batch))
            pairs = hb.merge(ha, on="key", how="outer", suffixes=("_b", "_a"))
            differ = (pairs["h_b"] != pairs["h_a"]) | pairs["h_b"].isna() | pairs["h_a"].isna()
            keys += pairs.loc[differ, "key"].tolist()
            if len(sample) < SEGMENT_SAMPLE:
                sample += hb["key"].tolist()
    if not wanted:
        return Collected(nb, na, pd.DataFrame(columns=list(before_cols)),
                         pd.DataFrame(columns=list(after_cols)),
                         pd.DataFrame(columns=["key", "column", "expected", "actual"]),
                         [Segment(None, None, nb)] if nb else [])
    return Collected(
        rows_before=nb, rows_after=na,
        before_rows=fetch_keys(before, before_cols, keys),
        after_rows=fetch_keys(after, after_cols, keys),
        expectation_failures=pd.DataFrame(columns=["key", "column", "expected", "actual"]),
        segments=segments_from_keys(sorted(sample), nb),
    )


# ------------------------------------------------------------------ sqlite-join: ATTACH + FULL JOIN


def sqlite_join_possible(before: Connection, after: Connection) -> bool:
    """Both SQLite, at least one a file, and no transaction open on the host connection."""
    if before.dialect.name != "sqlite" or after.dialect.name != "sqlite":
        return False
    paths = [database_file(before.engine.url), database_file(after.engine.url)]
    if not any(paths):
        return False
    host = after if paths[1] is None else before
    return not host.in_transaction()


@contextlib.contextmanager
def attached(before: Side, after: Side, guest_url: Any = None) -> Iterator[tuple[Side, Side]]:
    """ATTACH one SQLite file to the other side's connection; yield both sides on that host.

    The host is the before side unless only the before side is a file (or ``guest_url``, the
    after side's file, is given explicitly).
    """
    b_path, a_path = database_file(before.conn.engine.url), database_file(after.conn.engine.url)
    if guest_url is not None:
        a_path = database_file(guest_url)
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


def _range_conds(col: sa.ColumnElement[Any], lo: Any, hi: Any, lo_inclusive: bool
                 ) -> list[sa.ColumnElement[bool]]:
    conds = []
    if lo is not None:
        conds.append(col >= lo if lo_inclusive else col > lo)
    if hi is not None:
        conds.append(col <= hi)
    return conds


def sqlite_join_keys(before: Side, after: Side, shared: Sequence[str],
                     key_range: tuple[Any, Any] | None,
                     part: tuple[Any, Any, bool] = (None, None, True)) -> list[Any]:
    """The keys that are missing, unexpected or differ in a shared column, by a LEFT JOIN from
    before plus an anti-join from after (together a FULL JOIN), within the key range ``part``
    (lo, hi, lo_inclusive) so that parts can run in parallel."""
    b, a = before.table, after.table
    k = before.key.name
    lo, hi, lo_incl = part
    bk, ak = before.binary_key(), after.binary_key()
    differs = [before.binary(b.c[c]).is_not(after.binary(a.c[c])) for c in shared]
    left = (sa.select(b.c[k]).select_from(b.outerjoin(a, bk == ak))
            .where(sa.or_(a.c[k].is_(None), *differs), *_in_range(before, key_range),
                   *_range_conds(bk, lo, hi, lo_incl)))
    only_after = (sa.select(a.c[k]).where(
        ~sa.exists().where(bk == ak), *_in_range(after, key_range),
        *_range_conds(ak, lo, hi, lo_incl)))
    return [r[0] for r in before.execute(left)] + [r[0] for r in before.execute(only_after)]


def split_points(side: Side, rows: int, parts: int) -> list[Any]:
    """``parts - 1`` keys cutting ``side``'s key order into parts of about equal size."""
    out = []
    for i in range(1, parts):
        stmt = (sa.select(side.key).select_from(side.table).order_by(side.binary_key())
                .offset(rows * i // parts).limit(1))
        got = side.execute(stmt).first()
        if got is not None:
            out.append(got[0])
    return sorted(set(out))


def parallel_sqlite_join(before: Side, after: Side, shared: Sequence[str],
                         key_range: tuple[Any, Any] | None, rows: int, workers: int
                         ) -> list[Any]:
    """:func:`sqlite_join_keys` over ``workers`` key ranges at once, each on its own connection
    (both sides must be SQLite files; sqlite3 releases the GIL while a query runs)."""
    from shopmig.db import open_engine

    cuts = split_points(before, rows, workers)
    bounds = [None, *cuts, None]
    parts = [(bounds[i], bounds[i + 1], i == 0) for i in range(len(bounds) - 1)]
    b_url, a_url = before.conn.engine.url, after.conn.engine.url

    def run(part: tuple[Any, Any, bool]) -> list[Any]:
        engine = open_engine(b_url, pooled=False)
        try:
            with engine.connect() as conn:
                b_side = Side(before.name, conn, before.table, before.key, True)
                a_side = Side(after.name, conn, after.table, after.key, True)
                with attached(b_side, a_side, a_url) as (jb, ja):
                    return sqlite_join_keys(jb, ja, shared, key_range, part)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return [k for keys in pool.map(run, parts) for k in keys]


def key_segments(side: Side, segment_rows: int,
                 key_range: tuple[Any, Any] | None) -> list[Segment]:
    """Walk ``side``'s keys in binary order and cut them into segments of ``segment_rows``
    (the server skips through the keys; only each segment's first and last key come back)."""
    out: list[Segment] = []
    bkey = side.binary_key()
    base = [*_in_range(side, key_range)]
    lo: Any = None

    def key_at(conds: list[Any], offset: int, descending: bool = False) -> Any:
        order = bkey.desc() if descending else bkey
        got = side.execute(sa.select(side.key).where(*conds).order_by(order)
                           .offset(offset).limit(1)).first()
        return None if got is None else got[0]

    while True:
        conds = base if lo is None else [*base, bkey > side.key_value(lo)]
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
