"""The seed's scenario: a user's own in-memory SQLite orders table, adopted and migrated.

The seed snippet made ``sqlite:///:memory:`` with plain ``sqlalchemy.create_engine`` and created
the table itself. Passing the *URL* twice would give two different empty databases; passing the
same connection to every call must migrate the table the user is holding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

import shopmig

REVS = shopmig.revisions()
SEED_ORDERS = [
    {"order_id": "A-1001", "amount": 19.99},
    {"order_id": "A-1002", "amount": 5.0},
    {"order_id": "A-1003", "amount": 1234.5},
    {"order_id": "A-1004", "amount": 0.01},
]


def seed_table(metadata: sa.MetaData) -> sa.Table:
    """The seed's table: order_id String primary key, amount Float."""
    return sa.Table(
        "orders",
        metadata,
        sa.Column("order_id", sa.String, primary_key=True),
        sa.Column("amount", sa.Float),
    )


@contextlib.contextmanager
def seed_connection(rows: list[dict[str, object]] = SEED_ORDERS
                    ) -> Iterator[sa.Connection]:
    """The seed's setup: a plain in-memory engine, one connection, the orders table created
    and ``rows`` inserted (nothing committed)."""
    engine = sa.create_engine("sqlite:///:memory:")
    try:
        with engine.connect() as conn:
            orders = seed_table(sa.MetaData())
            orders.create(conn)
            if rows:
                conn.execute(orders.insert(), rows)
            yield conn
    finally:
        engine.dispose()


def read_orders(conn: sa.Connection) -> pd.DataFrame:
    """Read the table and commit: pd.read_sql autobegins a transaction that shopmig would join."""
    frame = pd.read_sql(sa.text("SELECT * FROM orders ORDER BY order_id"), conn)
    conn.commit()
    return frame


@pytest.mark.parametrize("commit_first", [True, False], ids=["committed", "uncommitted"])
def test_seed_memory_engine_adopt_upgrade_downgrade(commit_first: bool) -> None:
    with seed_connection() as conn:
        if commit_first:
            conn.commit()
        before = read_orders(conn)
        assert list(before.columns) == ["order_id", "amount"]
        assert len(before) == len(SEED_ORDERS)

        assert shopmig.adopt(conn) == REVS[0]
        applied = shopmig.upgrade(conn, "head")
        assert [step.revision for step in applied] == REVS[1:]
        assert shopmig.current_revision(conn) == REVS[-1]

        after = read_orders(conn)
        assert list(after.columns) == ["order_id", "amount", "status"]
        assert_frame_equal(after[["order_id", "amount"]], before)
        assert after["status"].tolist() == ["pending"] * len(SEED_ORDERS)

        cols = shopmig.describe_table(conn).set_index("name")
        assert not cols.loc["status", "nullable"]
        assert "pending" in str(cols.loc["status", "default"])

        down = shopmig.downgrade(conn, "base")
        assert [step.revision for step in down] == list(reversed(REVS[1:]))
        assert shopmig.current_revision(conn) == REVS[0]
        assert_frame_equal(read_orders(conn), before)
        assert shopmig.describe_table(conn)["name"].tolist() == ["order_id", "amount"]


def test_upgrade_joins_the_callers_open_transaction() -> None:
    """With a transaction open on the connection, shopmig joins it and the caller commits."""
    with seed_connection() as conn:
        conn.commit()
        conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()  # autobegins
        assert conn.in_transaction()
        shopmig.adopt(conn)
        [applied] = shopmig.upgrade(conn, "+1")
        assert conn.in_transaction()
        assert any("commit" in note for note in applied.notes)  # the caller is told
        assert shopmig.current_revision(conn) == REVS[1]
        conn.rollback()
        assert shopmig.current_revision(conn) is None
        assert shopmig.describe_table(conn)["name"].tolist() == ["order_id", "amount"]
        assert len(read_orders(conn)) == len(SEED_ORDERS)


def test_seed_url_twice_is_two_databases() -> None:
    """Why the seed failed: each in-memory URL is a new empty database (so: pass the conn)."""
    with seed_connection(rows=[]) as conn:
        conn.commit()
        with pytest.raises(shopmig.errors.TableNotFoundError):
            shopmig.adopt("sqlite:///:memory:")
        assert shopmig.current_revision(conn) is None


def test_connect_memory_demo_shop_round_trip() -> None:
    with shopmig.connect("sqlite://") as conn:
        assert shopmig.make_demo_shop(conn, rows=50, seed=3) == 50
        before = shopmig.snapshot(conn)
        assert list(before.columns) == ["order_id", "amount"]
        assert len(before) == 50
        assert shopmig.current_revision(conn) == REVS[0]

        applied = shopmig.upgrade(conn, "head")
        assert [step.revision for step in applied] == REVS[1:]
        after = shopmig.snapshot(conn)
        assert_frame_equal(after[["order_id", "amount"]], before)
        assert set(after["status"]) == {"pending"}
        assert shopmig.verify(before, conn, expect={"status": "pending"}).ok

        shopmig.downgrade(conn, "base")
        assert shopmig.current_revision(conn) == REVS[0]
        assert_frame_equal(shopmig.snapshot(conn), before)
        # The same database was reached every time through the one connection.
        assert shopmig.row_count(conn) == 50
