"""``sqlite-join``: two databases that can be joined in one process (two SQLite databases, at
least one a file). One ``FULL JOIN`` inside SQLite (the other database ATTACHed) returns exactly
the keys that differ; large files are split into key ranges joined in parallel."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.db import database_file, quote
from shopmig.verification.engines.common import Side, in_range

OTHER_SCHEMA = "shopmig_other"


def sqlite_join_possible(before: Connection, after: Connection) -> bool:
    """Both databases can be ATTACHed to each other (SQLite), at least one is a file, and no
    transaction is open on the host connection."""
    from shopmig.dialects import dialect_for

    if not (dialect_for(before).verify_attach_join and dialect_for(after).verify_attach_join):
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
        source = after if guest_is_after else before
        guest_table = sa.Table(source.table.name, sa.MetaData(),
                               *(sa.Column(c.name, c.type) for c in source.table.columns),
                               schema=OTHER_SCHEMA)
        guest = Side(source.name, host.conn, guest_table,
                     [guest_table.c[k] for k in source.key_names], True, source.db)
        yield (host, guest) if guest_is_after else (guest, host)
    finally:
        if host.conn.in_transaction():
            host.conn.rollback()
        raw.execute(f"DETACH DATABASE {quote(host.conn, OTHER_SCHEMA)}")


def sqlite_join_keys(before: Side, after: Side, shared: Sequence[str],
                     key_range: tuple[Any, Any] | None,
                     part: tuple[Any, Any, bool] = (None, None, True)) -> list[Any]:
    """The keys that are missing, unexpected or differ in a shared column, by a LEFT JOIN from
    before plus an anti-join from after (together a FULL JOIN), within the key range ``part``
    (lo, hi, lo_inclusive) so that parts can run in parallel."""
    b, a = before.table, after.table
    lo, hi, lo_incl = part
    same_key = sa.and_(*(bk == ak for bk, ak in zip(before.binary_keys(), after.binary_keys(),
                                                     strict=True)))
    differs = [before.binary(b.c[c]).is_not(after.binary(a.c[c])) for c in shared]
    left = (sa.select(*before.keys).select_from(b.outerjoin(a, same_key))
            .where(sa.or_(after.keys[0].is_(None), *differs), *in_range(before, key_range),
                   *in_range(before, (lo, hi), lo_inclusive=lo_incl)))
    only_after = (sa.select(*after.keys).where(
        ~sa.exists().where(same_key), *in_range(after, key_range),
        *in_range(after, (lo, hi), lo_inclusive=lo_incl)))
    return ([before.key_of(r) for r in before.execute(left)]
            + [after.key_of(r) for r in before.execute(only_after)])


def split_points(side: Side, rows: int, parts: int) -> list[Any]:
    """``parts - 1`` keys cutting ``side``'s key order into parts of about equal size."""
    out = []
    for i in range(1, parts):
        stmt = (sa.select(*side.keys).select_from(side.table).order_by(*side.binary_keys())
                .offset(rows * i // parts).limit(1))
        got = side.execute(stmt).first()
        if got is not None:
            out.append(side.key_of(got))
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
                b_side = Side(before.name, conn, before.table, before.keys, True, before.db)
                a_side = Side(after.name, conn, after.table, after.keys, True, after.db)
                with attached(b_side, a_side, a_url) as (jb, ja):
                    return sqlite_join_keys(jb, ja, shared, key_range, part)
        finally:
            engine.dispose()

    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        return [k for keys in pool.map(run, parts) for k in keys]
