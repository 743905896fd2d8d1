"""Rehearsal copies on every backend: method, marker, data and schema, source untouched."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import add_child_table, execute
from pandas.testing import assert_frame_equal

import shopmig
from shopmig.db import parse_url
from shopmig.errors import NotACopyError, TargetExistsError

REVS = shopmig.revisions()
HEAD = REVS[-1]
METHOD = {"sqlite": "sqlite-backup", "postgresql": "template", "mariadb": "mariadb-dump"}



def state(url: str) -> dict[str, pd.DataFrame]:
    """Everything a copy must reproduce: data and schema of both tables."""
    out = {
        "orders": shopmig.snapshot(url),
        "order_items": shopmig.snapshot(url, "order_items", key="item_id"),
    }
    for table in ("orders", "order_items"):
        out[f"{table} columns"] = shopmig.describe_table(url, table)
        out[f"{table} indexes"] = shopmig.table_indexes(url, table)
        out[f"{table} constraints"] = shopmig.table_constraints(url, table)
    return out


def assert_same_state(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert_frame_equal(got[name], want[name], obj=name)


def test_copy_each_backend(demo_url: str, backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    add_child_table(demo_url)
    shopmig.upgrade(demo_url, "head")
    before = state(demo_url)
    target = make_url(backend)

    result = shopmig.copy_database(demo_url, target)

    assert result.method == METHOD[backend]
    assert result.tables == {"order_items": 3, "orders": 300, "shopmig_version": 1}
    assert result.source == shopmig.mask_url(demo_url)
    assert result.notes == []
    marker = shopmig.database_marker(target)
    assert marker is not None
    assert marker["role"] == "copy"
    assert marker["origin"] == shopmig.mask_url(demo_url)
    # The source is untouched: same data, schema, revision and its own demo marker.
    assert_same_state(state(demo_url), before)
    assert shopmig.current_revision(demo_url) == HEAD
    assert shopmig.database_marker(demo_url)["role"] == "demo"  # type: ignore[index]
    # The copy has the same data and the same schema, down to index and constraint names.
    assert_same_state(state(target), before)
    assert shopmig.current_revision(target) == HEAD

    # Rehearse on the copy: rolling it back leaves the source at head.
    shopmig.downgrade(target, "base")
    assert shopmig.current_revision(target) == REVS[0]
    assert "status" not in shopmig.describe_table(target)["name"].tolist()
    assert shopmig.current_revision(demo_url) == HEAD
    assert_same_state(state(demo_url), before)


@pytest.fixture
def postgres_demo_url(make_url, request) -> str:  # type: ignore[no-untyped-def]
    request.node.add_marker(pytest.mark.server)
    url = make_url("postgresql")
    shopmig.make_demo_shop(url, rows=120, seed=9)
    return url


def test_postgres_copy_dumps_when_a_session_holds_the_source(
    postgres_demo_url: str, make_url  # type: ignore[no-untyped-def]
) -> None:
    add_child_table(postgres_demo_url)
    shopmig.upgrade(postgres_demo_url, "head")
    before = state(postgres_demo_url)
    target = make_url("postgresql")
    with shopmig.connect(postgres_demo_url) as session:
        assert session.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 120
        session.commit()
        result = shopmig.copy_database(postgres_demo_url, target)
    assert result.method == "pg_dump"
    assert any("TEMPLATE" in note and "1 connected" in note for note in result.notes), \
        result.notes
    assert result.tables == {"order_items": 3, "orders": 120, "shopmig_version": 1}
    assert shopmig.database_marker(target)["role"] == "copy"  # type: ignore[index]
    copied = state(target)
    # pg_restore re-creates the CHECK from PostgreSQL's deparsed text, which it deparses again a
    # little differently (same meaning): compare names and types, and the values it allows.
    got, want = copied.pop("orders constraints"), before["orders constraints"]
    assert_frame_equal(got[["name", "type"]], want[["name", "type"]])
    check = got[got["type"] == "check"]["definition"].iloc[0]
    assert all(f"'{value}'" in check for value in shopmig.STATUS_VALUES)
    assert_same_state(copied, {k: v for k, v in before.items() if k != "orders constraints"})
    assert_same_state(state(postgres_demo_url), before)
    with pytest.raises(sa.exc.IntegrityError):
        execute(target, "UPDATE orders SET status = 'lost' WHERE order_id = 'ORD-0000001'")
    assert shopmig.current_revision(target) == HEAD


def test_copy_origin_password_is_masked(postgres_demo_url: str, make_url) -> None:  # type: ignore[no-untyped-def]
    # The local test server trusts 127.0.0.1, so a password in the URL is accepted and ignored.
    source = parse_url(postgres_demo_url).set(password="s3cret-pw")
    source_text = source.render_as_string(hide_password=False)
    target = make_url("postgresql")
    result = shopmig.copy_database(source_text, target)
    marker = shopmig.database_marker(target)
    assert marker is not None
    assert "s3cret-pw" not in marker["origin"]
    assert "***" in marker["origin"]
    assert "s3cret-pw" not in result.source
    assert "s3cret-pw" not in repr(result)


def test_copy_refuses_existing_target(demo_url: str, backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    before = shopmig.snapshot(demo_url)
    target = make_url(backend)
    if backend == "sqlite":
        path = parse_url(target).database
        assert path is not None
        with open(path, "wb") as fh:
            fh.write(b"not a database, but mine")
    else:
        shopmig.create_database(target)

    with pytest.raises(TargetExistsError):
        shopmig.copy_database(demo_url, target)

    assert shopmig.database_exists(target)
    if backend == "sqlite":
        with open(path, "rb") as fh:
            assert fh.read() == b"not a database, but mine"
    else:
        with shopmig.db.use_connection(target) as conn, shopmig.db.reading(conn):
            assert sa.inspect(conn).get_table_names() == []
    assert_frame_equal(shopmig.snapshot(demo_url), before)


@pytest.fixture
def server_demo_url(server_backend, make_url, request) -> str:  # type: ignore[no-untyped-def]
    request.node.add_marker(pytest.mark.server)
    url = make_url(server_backend)
    shopmig.make_demo_shop(url, rows=80, seed=4)
    return url


def test_cross_backend_copy_to_sqlite_file(server_demo_url: str, sqlite_url: str) -> None:
    add_child_table(server_demo_url)
    shopmig.upgrade(server_demo_url, "head")
    execute(server_demo_url, "UPDATE orders SET status = 'shipped' WHERE order_id = 'ORD-0000003'")
    before = state(server_demo_url)

    result = shopmig.copy_database(server_demo_url, sqlite_url)

    assert result.method == "stream"
    assert result.tables == {"order_items": 3, "orders": 80, "shopmig_version": 1}
    checks = shopmig.table_constraints(sqlite_url).query("type == 'check'")
    if checks.empty:  # PostgreSQL's CHECK text (casts) is not SQLite's: left out, with a note
        assert any("CHECK" in note and "ck_orders_status" in note for note in result.notes), \
            result.notes
    else:  # MariaDB's CHECK is plain SQL that SQLite runs: kept, and it works
        assert checks["name"].tolist() == ["ck_orders_status"]
        with pytest.raises(sa.exc.IntegrityError):
            execute(sqlite_url, "UPDATE orders SET status = 'lost'")
    assert shopmig.database_marker(sqlite_url)["role"] == "copy"  # type: ignore[index]
    assert_frame_equal(shopmig.snapshot(sqlite_url), before["orders"])
    assert_frame_equal(
        shopmig.snapshot(sqlite_url, "order_items", key="item_id"), before["order_items"]
    )
    assert shopmig.current_revision(sqlite_url) == HEAD
    cols = shopmig.describe_table(sqlite_url).set_index("name")
    assert list(cols.index) == ["order_id", "amount", "status"]
    assert cols.loc["status", "default"] == "'pending'"
    assert not cols.loc["status", "nullable"]
    assert "ix_orders_status" in shopmig.table_indexes(sqlite_url)["name"].tolist()
    fks = shopmig.table_constraints(sqlite_url, "order_items")
    assert "(order_id) -> orders(order_id)" in fks["definition"].tolist()
    # The server default really works in the copy.
    execute(sqlite_url, "INSERT INTO orders (order_id, amount) VALUES ('NEW-1', 2.5)")
    assert shopmig.snapshot(sqlite_url).set_index("order_id").loc["NEW-1", "status"] == "pending"
    assert_same_state(state(server_demo_url), before)


def test_require_copy(db_url: str, backend: str, make_url) -> None:  # type: ignore[no-untyped-def]
    execute(
        db_url,
        "CREATE TABLE orders (order_id VARCHAR(36) NOT NULL PRIMARY KEY, amount FLOAT)",
        "INSERT INTO orders VALUES ('A', 1.5)",
        must_exist=False,  # the SQLite file is created here
    )
    if backend == "sqlite":
        shopmig.require_copy(db_url, "migrate")  # the user's own scratch file passes
        with pytest.raises(NotACopyError):
            shopmig.require_copy(db_url, "migrate", include_sqlite=True)
    else:
        with pytest.raises(NotACopyError) as info:
            shopmig.require_copy(db_url, "migrate")
        assert info.value.action == "migrate"
    assert shopmig.database_marker(db_url) is None

    copy_url = make_url(backend)
    shopmig.copy_database(db_url, copy_url)
    shopmig.require_copy(copy_url, "migrate")
    shopmig.require_copy(copy_url, "migrate", include_sqlite=True)
    assert shopmig.database_marker(db_url) is None  # copying did not mark the source

    demo = make_url(backend)
    shopmig.make_demo_shop(demo, rows=5)
    shopmig.require_copy(demo, "migrate")
    shopmig.require_copy(demo, "migrate", include_sqlite=True)

    # A marker with another role is not enough.
    shopmig.mark_database(db_url, "production")
    with pytest.raises(NotACopyError):
        shopmig.require_copy(db_url, "migrate", include_sqlite=True)
