"""``checksum``: two databases of one kind that hash rows on the server (PostgreSQL/PostgreSQL,
MariaDB/MariaDB). Each server computes a row count and a sum of row hashes per key-hash
bucket; only the buckets that differ send their (key, hash) pairs, and only the rows whose hash
differs are fetched. The hashes and buckets are the dialect's (``Dialect.row_hash``,
``Dialect.key_bucket``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from shopmig.migrate.target import Target
from shopmig.verification.engines.common import (
    Collected,
    Segment,
    Side,
    count_rows,
    fetch_keys,
    in_range,
    is_double,
    segments_from_keys,
)

if TYPE_CHECKING:
    import pandas as pd

PAIR_BUDGET = 400_000  # (key, hash) pairs per side the checksum engine holds at once
MAX_IN_BUCKETS = 5_000  # differing buckets named in one IN list
SEGMENT_SAMPLE = 50_000  # keys that place the segments of a checksum comparison


def log_hashed_floats(before: Side, after: Side, columns: Sequence[str],
                      rtol: Mapping[str, float]) -> set[str]:
    """The columns :meth:`~shopmig.dialects.base.Dialect.row_hash` may write as a quantized
    log: doubles on both sides (a float and a double of the same value have different logs,
    but the same short text) whose tolerance is at least the dialect's ``log_hash_rtol``."""
    floor = before.db.log_hash_rtol
    if floor is None or after.db.log_hash_rtol is None:
        return set()
    return {c for c in columns
            if c in before.table.c and c in after.table.c and is_double(before, c)
            and is_double(after, c) and rtol.get(c, 0.0) >= floor}


def row_hash(side: Side, columns: Sequence[str], log_floats: set[str]) -> sa.ColumnElement[Any]:
    """The dialect's row hash over the key and ``columns`` (the non-key columns compared)."""
    values = [c for c in columns if c not in side.key_names]
    return side.db.row_hash(side.keys, [side.col(c) for c in values],
                            [c in log_floats for c in values])


def _estimated_rows(side: Side) -> int:
    """The server's own row estimate for the table (statistics, no scan where it keeps them)."""
    target = Target(side.table.name, schema=side.table.schema)
    return max(0, int(side.db.estimated_rows(side.conn, target) or 0))


def _bucket_totals(side: Side, columns: Sequence[str], log_floats: set[str],
                   buckets: int, key_range: tuple[Any, Any] | None
                   ) -> dict[int, tuple[int, Any]]:
    b = side.db.key_bucket(side.keys, buckets).label("b")
    stmt = (sa.select(b, sa.func.count(), sa.func.sum(row_hash(side, columns, log_floats)))
            .select_from(side.table).where(*in_range(side, key_range)).group_by(b))
    with side.db.hash_grouping(side.conn):
        rows: list[Any] = list(side.execute(stmt))
    return {int(r[0]): (int(r[1]), r[2]) for r in rows}


def _bucket_rows(side: Side, columns: Sequence[str], log_floats: set[str],
                 buckets: int, wanted: Sequence[int], key_range: tuple[Any, Any] | None
                 ) -> pd.DataFrame:
    """(key, row hash) of every row in the ``wanted`` buckets (key: one value or a tuple)."""
    import pandas as pd  # only when buckets differ: equal copies never load it

    stmt = (sa.select(*side.keys, row_hash(side, columns, log_floats)).select_from(side.table)
            .where(side.db.key_bucket(side.keys, buckets).in_(list(wanted)),
                   *in_range(side, key_range)))
    rows = side.execute(stmt).all()
    return pd.DataFrame({"key": pd.Series([side.key_of(r) for r in rows], dtype=object),
                         "h": pd.Series([r[-1] for r in rows], dtype=object)})


def checksum_engine(
    before: Side, after: Side, *, shared: Sequence[str], before_cols: Sequence[str],
    after_cols: Sequence[str], bucket_rows: int, key_range: tuple[Any, Any] | None,
    rtol: Mapping[str, float] | None = None, pair_budget: int = PAIR_BUDGET,
) -> Collected:
    """Compare the servers' row counts and row-hash sums per key-hash bucket, then the
    (key, hash) pairs of the buckets that differ; fetch only the rows that differ.

    ``rtol`` is each float column's tolerance: where it is loose enough, the dialect may hash
    the column's quantized value instead of its text (:func:`log_hashed_floats`).

    Equal copies cost one grouped pass per side; differences cost one more filtered pass per
    ``pair_budget`` rows in differing buckets (one pass for a few hundred differences), so
    memory holds about that many (key, hash) pairs per side besides the differing rows.
    Both sides run in parallel (one thread each), and nothing but counts, sums and the
    differing buckets' keys crosses the network.
    """
    cols = [*before.key_names, *shared]
    log_floats = log_hashed_floats(before, after, shared, rtol or {})
    estimate = max(_estimated_rows(before), _estimated_rows(after))
    if estimate <= 0:  # no statistics yet: count (one cheap pass) rather than guess
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
        return Collected(nb, na, None, None, None, [Segment(None, None, nb)] if nb else [])
    return Collected(
        rows_before=nb, rows_after=na,
        before_rows=fetch_keys(before, before_cols, keys),
        after_rows=fetch_keys(after, after_cols, keys),
        expectation_failures=None,
        segments=segments_from_keys(sorted(sample), nb),
    )
