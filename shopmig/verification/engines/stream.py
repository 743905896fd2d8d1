"""``stream``: both sides read in binary key order, ``chunk_rows`` at a time, merged like a
merge join. Works between any two databases (a SQLite copy vs a PostgreSQL source); memory is
bounded by the chunk size."""

from __future__ import annotations

import bisect
import warnings
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from shopmig.errors import KeyNotUniqueError
from shopmig.verification.engines.common import (
    FAILURE_COLUMNS,
    Collected,
    Segment,
    Side,
    concat,
    in_range,
    key_values,
    plain_values,
)

Compare = Callable[[pd.DataFrame, pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]


def _ordered_chunks(side: Side, columns: Sequence[str], chunk_rows: int,
                    key_range: tuple[Any, Any] | None) -> Generator[pd.DataFrame, None, None]:
    stmt = (sa.select(*(side.col(c) for c in columns))
            .where(*in_range(side, key_range)).order_by(*side.binary_keys()))
    result = side.conn.execution_options(yield_per=chunk_rows).execute(stmt)
    try:
        for part in result.partitions(chunk_rows):
            yield plain_values(pd.DataFrame(part, columns=list(columns)))
    finally:
        with warnings.catch_warnings():  # PyMySQL warns when an unbuffered result is cut short
            warnings.simplefilter("ignore")
            result.close()


class _Stream:
    """One side's ordered chunks with a buffer, checked for duplicate keys as it goes."""

    def __init__(self, side: Side, columns: Sequence[str], chunk_rows: int,
                 key_range: tuple[Any, Any] | None) -> None:
        self.side = side
        self.names = side.key_names
        self.chunks = _ordered_chunks(side, columns, chunk_rows, key_range)
        self.buffer = pd.DataFrame(columns=list(columns))
        self.buffer_keys: list[Any] = []
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
            keys = key_values(chunk, self.names)
            dup = [k for k, n in Counter(keys).items() if n > 1]
            if self.last_key is not None and keys and keys[0] == self.last_key:
                dup.append(self.last_key)
            if dup:
                raise KeyNotUniqueError(", ".join(self.names), self.side.name, sorted(set(dup)))
            if keys:
                self.last_key = keys[-1]
            self.rows += len(chunk)
            self.buffer, self.buffer_keys = chunk, keys

    def last(self) -> Any:
        """The last buffered key."""
        return self.buffer_keys[-1]

    def take_upto(self, watermark: Any) -> pd.DataFrame:
        """Remove and return the buffered rows with key <= watermark (all if None)."""
        n = len(self.buffer_keys) if watermark is None else bisect.bisect_right(
            self.buffer_keys, watermark)
        out, self.buffer = self.buffer.iloc[:n], self.buffer.iloc[n:]
        self.buffer_keys = self.buffer_keys[n:]
        return out


def stream_engine(
    before: Side, after: Side, *, compare: Compare,
    before_cols: Sequence[str], after_cols: Sequence[str], chunk_rows: int,
    key_range: tuple[Any, Any] | None, on_rows: Callable[[int], Any] | None = None,
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


def _merge_streams(bs: _Stream, as_: _Stream, compare: Compare,
                   before_cols: Sequence[str], after_cols: Sequence[str], chunk_rows: int,
                   on_rows: Callable[[int], Any] | None) -> Collected:
    cand_b, cand_a, fails, segments = [], [], [], []
    while True:
        bs.fill()
        as_.fill()
        if bs.done and as_.done and not len(bs.buffer) and not len(as_.buffer):
            break
        ends = [s.last() for s in (bs, as_) if not s.done and len(s.buffer)]
        watermark = min(ends) if ends else None
        window_keys = bs.buffer_keys
        wb, wa = bs.take_upto(watermark), as_.take_upto(watermark)
        if len(wb):
            segments.append(Segment(window_keys[0], window_keys[len(wb) - 1], len(wb)))
        b, a, f = compare(wb, wa)
        cand_b.append(b)
        cand_a.append(a)
        fails.append(f)
        if on_rows is not None:
            on_rows(len(wb))
    return Collected(
        rows_before=bs.rows, rows_after=as_.rows,
        before_rows=concat(cand_b, before_cols), after_rows=concat(cand_a, after_cols),
        expectation_failures=concat(fails, FAILURE_COLUMNS),
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
