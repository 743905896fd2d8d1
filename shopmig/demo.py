"""A demo shop: the seed's ``orders`` table at the baseline revision, filled with seeded orders.

Rows are generated with NumPy from a seed, so the same ``rows`` and ``seed`` always give the
same shop, and loaded with each driver's bulk path (SQLite ``executemany``, PostgreSQL ``COPY``,
MariaDB multi-row ``INSERT``): a million rows take seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import URL, Connection

from shopmig import validate
from shopmig.databases import (
    META_TABLE,
    create_database,
    database_exists,
    database_marker,
    is_server,
    mark_database,
)
from shopmig.db import Source, mask_url, quote, reading, use_connection, writing
from shopmig.dialects import dialect_for
from shopmig.errors import InvalidArgumentError, NotACopyError, TableExistsError
from shopmig.migrate import steps
from shopmig.migrate.core import alembic_config

INSERT_CHUNK_ROWS = 100_000


def demo_orders(rows: int, seed: int = 42) -> pd.DataFrame:
    """``rows`` synthetic orders: ids ``ORD-0000001``... and amounts in cents, both from ``seed``.

    Amounts follow a log-normal shape (many small baskets, a few large ones) between 1.00 and
    5,000.00; ids are in key order.
    """
    rows = _check_rows(rows)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidArgumentError("seed", seed, "an integer")
    rng = np.random.default_rng(int(seed))
    amounts = np.clip(np.round(rng.lognormal(mean=3.6, sigma=0.9, size=rows), 2), 1.0, 5000.0)
    numbers = np.arange(1, rows + 1).astype(str)
    # np.char.zfill fails on an empty array (it takes the max width), so skip it for rows=0
    ids = np.char.add("ORD-", np.char.zfill(numbers, 7)) if rows else numbers
    return pd.DataFrame({steps.KEY: ids.astype(object), "amount": amounts})


def _check_rows(rows: object) -> int:
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < 0:
        raise InvalidArgumentError("rows", rows, "a whole number of 0 or more")
    return int(rows)


def _bulk_insert(conn: Connection, frame: pd.DataFrame) -> None:
    records = list(frame.itertuples(index=False, name=None))
    dialect_for(conn).bulk_insert(conn, steps.TABLE, list(frame.columns), records,
                                  INSERT_CHUNK_ROWS)


def _drop_demo(conn: Connection) -> None:
    marker = database_marker(conn)
    if not marker or marker.get("role") != "demo":
        raise NotACopyError(mask_url(conn), "replace the orders table of")
    with writing(conn):
        for name in (steps.TABLE, steps.VERSION_TABLE, META_TABLE):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(conn, name)}"))


def make_demo_shop(
    source: Source, rows: int = 1_000, *, seed: int = 42, replace: bool = False
) -> int:
    """Create the seed's ``orders`` table at the baseline revision with ``rows`` seeded orders.

    Returns the number of rows inserted. The database is marked as a demo shop, so the CLI may
    migrate it. If ``orders`` exists, raises :class:`~shopmig.errors.TableExistsError` unless
    ``replace=True``, and ``replace`` only ever drops a database shopmig made as a demo.
    """
    validate.demo_options(rows, seed)
    rows = _check_rows(rows)
    frame = demo_orders(rows, seed)
    if isinstance(source, str | URL) and is_server(source) and not database_exists(source):
        create_database(source)
    with use_connection(source, must_exist=False) as conn:
        with reading(conn):
            exists = sa.inspect(conn).has_table(steps.TABLE)
        if exists:
            if not replace:
                raise TableExistsError(steps.TABLE, mask_url(conn))
            _drop_demo(conn)
        external = conn.in_transaction()
        command.upgrade(alembic_config(conn), steps.BASELINE)
        if not external and conn.in_transaction():
            conn.commit()
        with writing(conn):
            _bulk_insert(conn, frame)
        mark_database(conn, "demo")
    return rows
