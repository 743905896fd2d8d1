"""Migrations on SQLite, PostgreSQL and MariaDB: every step up and down, adopt, targets,
previews, lock timeouts, refusals and failures. Every test asserts on schema and data."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import execute
from pandas.testing import assert_frame_equal

import shopmig
from shopmig.errors import (
    AlreadyVersionedError,
    LockTimeoutError,
    MigrationFailedError,
    NotVersionedError,
    SchemaMismatchError,
    TableNotFoundError,
    UnknownRevisionError,
    UnsafeMigrationError,
)

REVS = shopmig.revisions()
BASE, ADD_STATUS, CHECK, VALIDATE, INDEX = REVS
HEAD = INDEX
SHARED = ["order_id", "amount"]
ROWS = 300  # the demo_url fixture's shop


# ------------------------------------------------------------------ helpers


def schema_of(source, table: str = "orders") -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    return {
        "columns": shopmig.describe_table(source, table),
        "indexes": shopmig.table_indexes(source, table),
        "constraints": shopmig.table_constraints(source, table),
    }


def assert_same_schema(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    for part in want:
        assert_frame_equal(got[part], want[part], obj=part)


def status_column(source) -> pd.Series | None:  # type: ignore[no-untyped-def]
    cols = shopmig.describe_table(source).set_index("name")
    return cols.loc["status"] if "status" in cols.index else None


def checks(source) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = shopmig.table_constraints(source)
    return frame[frame["type"] == "check"]


def pg_check_validated(source) -> bool | None:  # type: ignore[no-untyped-def]
    with shopmig.db.use_connection(source) as conn, shopmig.db.reading(conn):
        return conn.execute(
            sa.text("SELECT convalidated FROM pg_constraint WHERE conname = 'ck_orders_status'")
        ).scalar_one_or_none()


def assert_shape(source, revision: str, backend: str) -> None:  # type: ignore[no-untyped-def]
    """The orders table looks exactly as ``revision`` leaves it."""
    at = REVS.index(revision)
    status = status_column(source)
    if at >= REVS.index(ADD_STATUS):
        assert status is not None, "status column missing"
        assert not status["nullable"]
        assert "pending" in str(status["default"]), status["default"]
        assert "16" in status["type"]
    else:
        assert status is None
    ck = checks(source)
    if at >= REVS.index(CHECK):
        assert ck["name"].tolist() == ["ck_orders_status"]
        for value in shopmig.STATUS_VALUES:
            assert value in ck["definition"].iloc[0]
    else:
        assert ck.empty
    idx = shopmig.table_indexes(source)
    status_idx = idx[idx["name"] == "ix_orders_status"]
    if at >= REVS.index(INDEX):
        assert len(status_idx) == 1
        assert status_idx["columns"].iloc[0] == ["status"]
        assert not status_idx["unique"].iloc[0]
    else:
        assert status_idx.empty
    if backend == "postgresql":
        validated = pg_check_validated(source)
        if at == REVS.index(CHECK):
            assert validated is False  # NOT VALID until the next step
        elif at >= REVS.index(VALIDATE):
            assert validated is True
        else:
            assert validated is None




def has_version_table(source) -> bool:  # type: ignore[no-untyped-def]
    with shopmig.db.use_connection(source) as conn, shopmig.db.reading(conn):
        return sa.inspect(conn).has_table("shopmig_version")


@pytest.fixture
def server_demo_url(server_backend, make_url, request) -> str:  # type: ignore[no-untyped-def]
    request.node.add_marker(pytest.mark.server)
    url = make_url(server_backend)
    shopmig.make_demo_shop(url, rows=50, seed=11)
    return url


@pytest.fixture
def mariadb_url(make_url, request) -> str:  # type: ignore[no-untyped-def]
    request.node.add_marker(pytest.mark.server)
    url = make_url("mariadb")
    shopmig.create_database(url)
    return url


@pytest.fixture
def postgres_demo_url(make_url, request) -> str:  # type: ignore[no-untyped-def]
    request.node.add_marker(pytest.mark.server)
    url = make_url("postgresql")
    shopmig.make_demo_shop(url, rows=50, seed=5)
    return url


# ------------------------------------------------------------------ every step, up and down


def test_revision_chain() -> None:
    assert REVS == [
        "0001_baseline",
        "0002_add_status",
        "0003_status_check",
        "0004_validate_status_check",
        "0005_status_index",
    ]


def test_every_step_up_and_down(demo_url: str, backend: str) -> None:
    assert shopmig.current_revision(demo_url) == BASE
    base_data = shopmig.snapshot(demo_url)
    assert list(base_data.columns) == SHARED
    assert len(base_data) == ROWS
    assert_shape(demo_url, BASE, backend)
    schemas = {BASE: schema_of(demo_url)}
    data = {BASE: base_data}

    for prev, rev in itertools.pairwise(REVS):
        applied = shopmig.upgrade(demo_url, "+1")
        assert [(a.revision, a.direction, a.from_revision, a.to_revision) for a in applied] == [
            (rev, "up", prev, rev)
        ]
        assert shopmig.current_revision(demo_url) == rev
        assert_shape(demo_url, rev, backend)
        snap = shopmig.snapshot(demo_url)
        assert_frame_equal(snap[SHARED], base_data)
        assert snap["status"].tolist() == ["pending"] * ROWS
        schemas[rev], data[rev] = schema_of(demo_url), snap

    for rev, prev in zip(reversed(REVS), reversed(REVS[:-1]), strict=False):
        applied = shopmig.downgrade(demo_url, "-1")
        assert [(a.revision, a.direction, a.from_revision, a.to_revision) for a in applied] == [
            (rev, "down", rev, prev)
        ]
        assert shopmig.current_revision(demo_url) == prev
        assert_same_schema(schema_of(demo_url), schemas[prev])
        assert_frame_equal(shopmig.snapshot(demo_url), data[prev])
        assert_shape(demo_url, prev, backend)

    assert shopmig.downgrade(demo_url, "-1") == []
    assert shopmig.current_revision(demo_url) == BASE

    # Round trip: up again to head gives the same schema and data as the first time.
    applied = shopmig.upgrade(demo_url, "head")
    assert [a.revision for a in applied] == REVS[1:]
    assert_same_schema(schema_of(demo_url), schemas[HEAD])
    assert_frame_equal(shopmig.snapshot(demo_url), data[HEAD])


def test_server_default_and_check_apply_to_new_rows(demo_url: str) -> None:
    shopmig.upgrade(demo_url, ADD_STATUS)
    execute(demo_url, "INSERT INTO orders (order_id, amount) VALUES ('NEW-1', 9.5)")
    snap = shopmig.snapshot(demo_url).set_index("order_id")
    assert snap.loc["NEW-1", "status"] == "pending"

    shopmig.upgrade(demo_url, "head")
    execute(demo_url, "INSERT INTO orders (order_id, amount, status) VALUES ('NEW-2', 1, 'paid')")
    with pytest.raises(sa.exc.DBAPIError):
        execute(demo_url, "INSERT INTO orders (order_id, amount, status) VALUES ('NEW-3', 1, 'x')")
    snap = shopmig.snapshot(demo_url).set_index("order_id")
    assert snap.loc["NEW-2", "status"] == "paid"
    assert "NEW-3" not in snap.index
    assert len(snap) == ROWS + 2


# ------------------------------------------------------------------ SQLite: ADD COLUMN, no rebuild


def sqlite_rootpage(url: str) -> int:
    with shopmig.db.use_connection(url) as conn, shopmig.db.reading(conn):
        return conn.exec_driver_sql(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'orders'"
        ).scalar_one()


def test_sqlite_add_status_is_one_alter_not_a_rebuild(sqlite_url: str) -> None:
    shopmig.make_demo_shop(sqlite_url, rows=2_000, seed=1)
    preview = shopmig.preview_sql(sqlite_url, "+1")
    assert preview.upper().count("ALTER TABLE") == 1
    assert "ALTER TABLE orders ADD COLUMN status" in preview
    assert "_alembic_tmp" not in preview
    step = shopmig.plan(sqlite_url, "+1")[0]
    assert step.revision == ADD_STATUS
    assert not step.impact.rewrites_table

    root = sqlite_rootpage(sqlite_url)
    shopmig.upgrade(sqlite_url, "+1")
    assert sqlite_rootpage(sqlite_url) == root  # same b-tree: rows were not copied
    assert status_column(sqlite_url) is not None

    preview = shopmig.preview_sql(sqlite_url, "+1")
    assert "_alembic_tmp" not in preview and "writable_schema" in preview
    assert not shopmig.plan(sqlite_url, "+1")[0].impact.rewrites_table
    shopmig.upgrade(sqlite_url, "+1")
    assert sqlite_rootpage(sqlite_url) == root  # 0003 edits the definition, no rebuild
    assert shopmig.snapshot(sqlite_url)["status"].eq("pending").all()


# ------------------------------------------------------------------ adopting a user's own table


def make_user_shop(url: str) -> dict[str, pd.DataFrame]:
    """A user-made orders table with extra columns and index, plus a child table with a FK."""
    metadata = sa.MetaData()
    orders = sa.Table(
        "orders",
        metadata,
        sa.Column("order_id", sa.String(36), primary_key=True),
        sa.Column("amount", sa.Float),
        sa.Column("customer", sa.String(50), nullable=False, server_default="anon"),
        sa.Column("note", sa.String(200)),
        sa.Index("ix_orders_customer", "customer"),
    )
    items = sa.Table(
        "order_items",
        metadata,
        sa.Column("item_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "order_id",
            sa.String(36),
            sa.ForeignKey("orders.order_id", name="fk_items_order"),
            nullable=False,
        ),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Index("ix_items_order", "order_id"),
    )
    engine = shopmig.open_engine(url, must_exist=False)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                orders.insert(),
                [
                    {"order_id": f"U-{i:03d}", "amount": i * 1.25, "customer": f"c{i % 4}",
                     "note": None if i % 3 else f"note {i}"}
                    for i in range(40)
                ],
            )
            conn.execute(
                items.insert(),
                [{"item_id": i, "order_id": f"U-{i % 40:03d}", "qty": i % 5 + 1}
                 for i in range(100)],
            )
    finally:
        engine.dispose()
    return {
        "orders": shopmig.snapshot(url),
        "order_items": shopmig.snapshot(url, "order_items", key="item_id"),
    }


def test_adopt_user_table_extras_survive_every_step(db_url: str, backend: str) -> None:
    before = make_user_shop(db_url)
    assert shopmig.baseline_differences(db_url) == []
    assert not has_version_table(db_url)
    assert shopmig.adopt(db_url) == BASE
    assert shopmig.current_revision(db_url) == BASE

    recorded = {BASE: (schema_of(db_url), schema_of(db_url, "order_items"))}
    for rev in REVS[1:]:
        shopmig.upgrade(db_url, "+1")
        assert_shape(db_url, rev, backend)
        cols = shopmig.describe_table(db_url).set_index("name")
        assert {"customer", "note"} <= set(cols.index)
        assert "anon" in str(cols.loc["customer", "default"])
        assert "ix_orders_customer" in shopmig.table_indexes(db_url)["name"].tolist()
        snap = shopmig.snapshot(db_url)
        assert_frame_equal(snap.drop(columns="status"), before["orders"])
        assert snap["status"].eq("pending").all()
        assert_frame_equal(
            shopmig.snapshot(db_url, "order_items", key="item_id"), before["order_items"]
        )
        recorded[rev] = (schema_of(db_url), schema_of(db_url, "order_items"))

    fks = shopmig.table_constraints(db_url, "order_items")
    assert fks[fks["type"] == "foreign key"]["definition"].tolist() == [
        "(order_id) -> orders(order_id)"
    ]

    for prev in reversed(REVS[:-1]):
        shopmig.downgrade(db_url, "-1")
        assert shopmig.current_revision(db_url) == prev
        assert_same_schema(schema_of(db_url), recorded[prev][0])
        assert_same_schema(schema_of(db_url, "order_items"), recorded[prev][1])
        snap = shopmig.snapshot(db_url)
        assert_frame_equal(snap[list(before["orders"].columns)], before["orders"])
        assert_frame_equal(
            shopmig.snapshot(db_url, "order_items", key="item_id"), before["order_items"]
        )
    assert_frame_equal(shopmig.snapshot(db_url), before["orders"])

    if backend == "sqlite":  # the rebuilds kept the child table's references valid
        with shopmig.db.use_connection(db_url) as conn, shopmig.db.reading(conn):
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    # The FK still does its job on the servers: an item for a missing order is refused.
    if backend != "sqlite":
        with pytest.raises(sa.exc.IntegrityError):
            execute(
                db_url, "INSERT INTO order_items (item_id, order_id, qty) VALUES (999, 'NO', 1)"
            )


ADOPTABLE = {  # tables the old adopt refused; only a primary key is needed now
    "integer key, other columns": lambda: [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("total", sa.Float),
    ],
    "amount is text": lambda: [
        sa.Column("order_id", sa.Integer, primary_key=True),
        sa.Column("amount", sa.String(10)),
    ],
    "composite key": lambda: [
        sa.Column("shop", sa.String(8), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("amount", sa.Numeric(10, 2)),
    ],
}

BLOCKED = {  # columns are built per test: a Column belongs to one Table
    "no primary key": (
        lambda: [sa.Column("order_id", sa.String(36)), sa.Column("amount", sa.Float)],
        ["no primary key"],
    ),
    "status exists": (
        lambda: [
            sa.Column("order_id", sa.String(36), primary_key=True),
            sa.Column("status", sa.String(16), server_default="pending"),
        ],
        ["'status' already exists: choose another name with --column"],
    ),
    "both": (
        lambda: [sa.Column("id", sa.Integer), sa.Column("status", sa.String(10))],
        ["no primary key", "'status' already exists"],
    ),
}


def _create(db_url: str, columns: list[sa.Column], name: str = "orders") -> None:
    table = sa.Table(name, sa.MetaData(), *columns)
    engine = shopmig.open_engine(db_url, must_exist=False)
    try:
        with engine.begin() as conn:
            table.create(conn)
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", list(ADOPTABLE))
def test_adopt_takes_any_table_with_a_primary_key(db_url: str, case: str) -> None:
    _create(db_url, ADOPTABLE[case]())
    assert shopmig.baseline_differences(db_url) == []
    assert shopmig.adopt(db_url) == BASE
    shopmig.upgrade(db_url, "head")
    assert shopmig.current_revision(db_url) == REVS[-1]
    assert shopmig.half_applied(db_url) is None


@pytest.mark.parametrize("case", list(BLOCKED))
def test_adopt_lists_every_blocker_and_writes_nothing(db_url: str, case: str) -> None:
    columns, expected = BLOCKED[case]
    _create(db_url, columns())
    before = schema_of(db_url)

    with pytest.raises(SchemaMismatchError) as info:
        shopmig.adopt(db_url)
    assert len(info.value.differences) == len(expected)
    for fragment, difference in zip(expected, info.value.differences, strict=True):
        assert fragment in difference
        assert difference in str(info.value)
    assert not has_version_table(db_url)
    assert shopmig.current_revision(db_url) is None
    assert_same_schema(schema_of(db_url), before)
    with pytest.raises(NotVersionedError):
        shopmig.upgrade(db_url, "+1")


def test_adopt_with_another_column_name_when_status_is_taken(db_url: str) -> None:
    _create(db_url, BLOCKED["status exists"][0]())
    assert shopmig.adopt(db_url, column="order_state") == BASE
    shopmig.upgrade(db_url, "head")  # the recorded column: no option needed any more
    columns = shopmig.describe_table(db_url).set_index("name")
    assert "order_state" in columns.index and "status" in columns.index
    assert shopmig.table_indexes(db_url)["name"].tolist() == ["ix_orders_order_state"]
    checks = shopmig.table_constraints(db_url)
    assert "ck_orders_order_state" in checks["name"].tolist()


def test_adopt_refuses_a_name_a_step_would_create(db_url: str) -> None:
    _create(db_url, ADOPTABLE["integer key, other columns"]())
    execute(db_url, "CREATE INDEX ix_orders_status ON orders (total)")
    with pytest.raises(SchemaMismatchError, match="ix_orders_status"):
        shopmig.adopt(db_url)
    assert not has_version_table(db_url)


def test_adopt_twice_and_unadopted_and_missing_table(db_url: str) -> None:
    engine = shopmig.open_engine(db_url, must_exist=False)
    engine.connect().close()  # for SQLite: an empty file, like an empty server database
    engine.dispose()
    with pytest.raises(TableNotFoundError):
        shopmig.upgrade(db_url, "+1")
    with pytest.raises(TableNotFoundError):
        shopmig.adopt(db_url)
    assert not has_version_table(db_url)

    before = make_user_shop(db_url)
    with pytest.raises(NotVersionedError):
        shopmig.upgrade(db_url, "head")
    assert status_column(db_url) is None
    assert not has_version_table(db_url)

    assert shopmig.adopt(db_url) == BASE
    with pytest.raises(AlreadyVersionedError) as info:
        shopmig.adopt(db_url)
    assert info.value.revision == BASE
    shopmig.upgrade(db_url, "+1")
    with pytest.raises(AlreadyVersionedError) as info:
        shopmig.adopt(db_url)
    assert info.value.revision == ADD_STATUS
    assert_frame_equal(shopmig.snapshot(db_url).drop(columns="status"), before["orders"])


# ------------------------------------------------------------------ targets


def revs(applied: list[shopmig.AppliedStep]) -> list[str]:
    return [a.revision for a in applied]


def test_targets(demo_url: str) -> None:
    data = shopmig.snapshot(demo_url)
    assert revs(shopmig.upgrade(demo_url, "0003")) == [ADD_STATUS, CHECK]
    assert shopmig.current_revision(demo_url) == CHECK
    assert revs(shopmig.upgrade(demo_url, "+1")) == [VALIDATE]
    assert revs(shopmig.upgrade(demo_url, "head")) == [INDEX]

    at_head = schema_of(demo_url)
    assert shopmig.upgrade(demo_url, "head") == []
    assert shopmig.upgrade(demo_url, "+1") == []
    assert shopmig.upgrade(demo_url, INDEX) == []
    assert shopmig.current_revision(demo_url) == HEAD
    assert_same_schema(schema_of(demo_url), at_head)

    assert revs(shopmig.downgrade(demo_url, "0002")) == [INDEX, VALIDATE, CHECK]
    assert shopmig.current_revision(demo_url) == ADD_STATUS
    assert revs(shopmig.downgrade(demo_url, "base")) == [ADD_STATUS]
    assert shopmig.downgrade(demo_url, "base") == []
    assert shopmig.downgrade(demo_url, "-1") == []
    assert shopmig.current_revision(demo_url) == BASE
    assert revs(shopmig.upgrade(demo_url, "+2")) == [ADD_STATUS, CHECK]
    assert revs(shopmig.downgrade(demo_url, "-2")) == [CHECK, ADD_STATUS]
    assert_frame_equal(shopmig.snapshot(demo_url), data)


@pytest.mark.parametrize(
    ("direction", "target"),
    [("up", "9999"), ("up", "00"), ("up", ""), ("up", "-1"), ("down", "+1"), ("up", "0002"),
     ("down", "0005")],
)
def test_unknown_or_wrong_way_targets(sqlite_url: str, direction: str, target: str) -> None:
    shopmig.make_demo_shop(sqlite_url, rows=10)
    shopmig.upgrade(sqlite_url, "0003")
    run = shopmig.upgrade if direction == "up" else shopmig.downgrade
    with pytest.raises(UnknownRevisionError):
        run(sqlite_url, target)
    assert shopmig.current_revision(sqlite_url) == CHECK
    assert_shape(sqlite_url, CHECK, "sqlite")


# ------------------------------------------------------------------ preview / plan


DIALECT_MARKERS = {
    "sqlite": (["ALTER TABLE orders ADD COLUMN status", "PRAGMA writable_schema = ON",
                "CREATE INDEX ix_orders_status"],
               ["ALGORITHM", "CONCURRENTLY", "NOT VALID", "_alembic_tmp"]),
    "postgresql": (["NOT VALID", "VALIDATE CONSTRAINT ck_orders_status",
                    "CREATE INDEX CONCURRENTLY ix_orders_status"],
                   ["ALGORITHM", "_alembic_tmp"]),
    "mariadb": (["ALGORITHM=INSTANT", "ALGORITHM=COPY", "ALGORITHM=INPLACE LOCK=NONE"],
                ["CONCURRENTLY", "NOT VALID", "_alembic_tmp"]),
}


def test_plan_and_preview_run_nothing(demo_url: str, backend: str) -> None:
    before, data = schema_of(demo_url), shopmig.snapshot(demo_url)
    steps = shopmig.plan(demo_url, "head")
    assert [s.revision for s in steps] == REVS[1:]
    assert all(s.direction == "up" for s in steps)
    sql = shopmig.preview_sql(demo_url, "head")
    must, must_not = DIALECT_MARKERS[backend]
    for text in must:
        assert text in sql, text
    for text in must_not:
        assert text not in sql, text
    rewrites = {s.revision: s.impact.rewrites_table for s in steps}
    assert rewrites[ADD_STATUS] is False
    assert rewrites[CHECK] is (backend == "mariadb")
    assert {s.impact.dialect for s in steps} == {
        {"sqlite": "sqlite", "postgresql": "postgresql", "mariadb": "mysql"}[backend]}

    assert shopmig.current_revision(demo_url) == BASE
    assert_same_schema(schema_of(demo_url), before)
    assert_frame_equal(shopmig.snapshot(demo_url), data)

    shopmig.upgrade(demo_url, "head")
    down = shopmig.plan(demo_url, "-1")
    assert [(s.revision, s.direction) for s in down] == [(INDEX, "down")]
    assert "ix_orders_status" in down[0].sql
    assert shopmig.current_revision(demo_url) == HEAD


def test_sql_by_dialect_needs_no_server() -> None:
    frame = shopmig.sql_by_dialect("0002")
    assert list(frame.columns) == ["SQLite", "PostgreSQL", "MariaDB/MySQL"]
    assert list(frame.index) == [ADD_STATUS]
    row = frame.loc[ADD_STATUS]
    assert row["MariaDB/MySQL"].endswith("ALGORITHM=INSTANT;")
    for dialect in frame.columns:
        assert row[dialect].count("ALTER TABLE") == 1
        assert "shopmig_version" not in row[dialect]
    index = shopmig.sql_by_dialect("0005").loc[INDEX]
    assert "CONCURRENTLY" in index["PostgreSQL"]
    assert "LOCK=NONE" in index["MariaDB/MySQL"]
    assert "CONCURRENTLY" not in index["SQLite"]
    check = shopmig.sql_by_dialect("0003", ["postgresql"]).loc[CHECK, "PostgreSQL"]
    assert check.rstrip(";").endswith("NOT VALID")
    assert "CONCURRENTLY" in shopmig.preview_sql(None, "0005", dialect="postgresql")
    with pytest.raises(UnknownRevisionError):
        shopmig.sql_by_dialect("0042")


# ------------------------------------------------------------------ lock timeouts


@pytest.fixture
def blocker(server_demo_url: str) -> Iterator[sa.Connection]:
    """A second session inside a transaction that has read from orders (and holds its lock)."""
    engine = sa.create_engine(server_demo_url)
    conn = engine.connect()
    try:
        conn.begin()
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 50
        yield conn
    finally:
        conn.close()
        engine.dispose()


def test_lock_timeout_gives_up_and_changes_nothing(
    server_demo_url: str, blocker: sa.Connection
) -> None:
    before = schema_of(server_demo_url)
    options = shopmig.MigrationOptions(lock_timeout_s=1, retries=1, backoff_s=0.2)
    started = time.monotonic()
    with pytest.raises(LockTimeoutError) as info:
        shopmig.upgrade(server_demo_url, "+1", options=options)
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert elapsed >= 1.5  # it really waited: two attempts of ~1 s each
    assert info.value.attempts == 2
    assert info.value.revision == ADD_STATUS
    assert shopmig.current_revision(server_demo_url) == BASE
    assert status_column(server_demo_url) is None
    assert_same_schema(schema_of(server_demo_url), before)

    blocker.rollback()
    applied = shopmig.upgrade(server_demo_url, "+1", options=options)
    assert [(a.revision, a.attempts) for a in applied] == [(ADD_STATUS, 1)]
    assert shopmig.snapshot(server_demo_url)["status"].eq("pending").all()


def test_lock_timeout_retry_succeeds_once_blocker_ends(
    server_demo_url: str, blocker: sa.Connection
) -> None:
    # The blocker goes 1.5 s after the step starts: its first 1 s wait must time out.
    release = threading.Timer(1.5, blocker.rollback)
    try:
        options = shopmig.MigrationOptions(lock_timeout_s=1, retries=3, backoff_s=0.2)
        applied = shopmig.upgrade(server_demo_url, "+1", options=options,
                                  on_step=lambda _step: release.start())
    finally:
        release.join()
    assert applied[0].revision == ADD_STATUS
    assert applied[0].attempts >= 2
    assert shopmig.current_revision(server_demo_url) == ADD_STATUS
    assert status_column(server_demo_url) is not None


# ------------------------------------------------------------------ MariaDB refuses a copying ADD


@pytest.mark.parametrize(
    "setup",
    [
        "ALTER TABLE orders ADD COLUMN note TEXT, ADD FULLTEXT INDEX ft_note (note)",
        "ALTER TABLE orders ROW_FORMAT=COMPRESSED",
    ],
    ids=["fulltext", "compressed"],
)
def test_mariadb_refuses_add_column_that_is_not_instant(mariadb_url: str, setup: str) -> None:
    shopmig.make_demo_shop(mariadb_url, rows=30)
    execute(mariadb_url, setup)
    before, data = schema_of(mariadb_url), shopmig.snapshot(mariadb_url)
    with pytest.raises(UnsafeMigrationError) as info:
        shopmig.upgrade(mariadb_url, "+1")
    assert info.value.revision == ADD_STATUS
    assert "INSTANT" in str(info.value)
    assert shopmig.current_revision(mariadb_url) == BASE
    assert_same_schema(schema_of(mariadb_url), before)
    assert_frame_equal(shopmig.snapshot(mariadb_url), data)


# ------------------------------------------------------------------ the table-rewrite guard


def test_rewrite_guard(demo_url: str, backend: str) -> None:
    shopmig.upgrade(demo_url, ADD_STATUS)
    before, data = schema_of(demo_url), shopmig.snapshot(demo_url)
    small = shopmig.MigrationOptions(rewrite_row_limit=ROWS - 1)
    if backend != "mariadb":  # NOT VALID / SQLite's in-place edit: no rewrite, no guard
        assert revs(shopmig.upgrade(demo_url, "+1", options=small)) == [CHECK]
        if backend == "sqlite":  # but SQLite's DROP COLUMN rewrites every row: guarded
            shopmig.downgrade(demo_url, "-1", options=small)
            with pytest.raises(UnsafeMigrationError) as info:
                shopmig.downgrade(demo_url, "-1", options=small)
            assert info.value.revision == ADD_STATUS
            assert shopmig.current_revision(demo_url) == ADD_STATUS
            assert_frame_equal(shopmig.snapshot(demo_url), data)
        return
    with pytest.raises(UnsafeMigrationError) as info:
        shopmig.upgrade(demo_url, "+1", options=small)
    assert info.value.revision == CHECK
    assert f"{ROWS:,} rows" in str(info.value)
    assert shopmig.current_revision(demo_url) == ADD_STATUS
    assert_same_schema(schema_of(demo_url), before)
    assert_frame_equal(shopmig.snapshot(demo_url), data)

    # At the limit exactly it runs; and allow_table_rewrite overrides any limit.
    at_limit = shopmig.MigrationOptions(rewrite_row_limit=ROWS)
    assert revs(shopmig.upgrade(demo_url, "+1", options=at_limit)) == [CHECK]
    shopmig.downgrade(demo_url, "-1")
    allowed = shopmig.MigrationOptions(rewrite_row_limit=1, allow_table_rewrite=True)
    assert revs(shopmig.upgrade(demo_url, "+1", options=allowed)) == [CHECK]
    assert_shape(demo_url, CHECK, backend)
    assert_frame_equal(shopmig.snapshot(demo_url), data)



# ------------------------------------------------------------------ a step that fails


def test_failing_check_step_leaves_previous_revision(demo_url: str, backend: str) -> None:
    shopmig.upgrade(demo_url, ADD_STATUS)
    execute(demo_url, "UPDATE orders SET status = 'lost' WHERE order_id = 'ORD-0000007'")
    data = shopmig.snapshot(demo_url)
    failing, left_at = (VALIDATE, CHECK) if backend == "postgresql" else (CHECK, ADD_STATUS)

    with pytest.raises(MigrationFailedError) as info:
        shopmig.upgrade(demo_url, "head")
    assert info.value.step == failing
    assert info.value.revision == left_at
    assert shopmig.current_revision(demo_url) == left_at
    assert_shape(demo_url, left_at, backend)
    assert_frame_equal(shopmig.snapshot(demo_url), data)
    assert (data["status"] == "lost").sum() == 1

    execute(demo_url, "UPDATE orders SET status = 'cancelled' WHERE status = 'lost'")
    assert revs(shopmig.upgrade(demo_url, "head"))[-1] == HEAD
    assert_shape(demo_url, HEAD, backend)
    assert len(shopmig.snapshot(demo_url)) == ROWS


# ------------------------------------------------------------------ PostgreSQL: invalid index


def pg_index_state(url: str) -> tuple[bool, bool] | None:
    with shopmig.db.use_connection(url) as conn, shopmig.db.reading(conn):
        row = conn.execute(sa.text(
            "SELECT i.indisvalid, i.indisunique FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_orders_status'"
        )).first()
    return None if row is None else (bool(row[0]), bool(row[1]))


def test_postgres_invalid_index_is_dropped_and_rebuilt(postgres_demo_url: str) -> None:
    url = postgres_demo_url
    shopmig.upgrade(url, VALIDATE)
    # A failed CONCURRENTLY build leaves an INVALID index behind (here: duplicates for UNIQUE).
    engine = sa.create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
                pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql(
                "CREATE UNIQUE INDEX CONCURRENTLY ix_orders_status ON orders (status)"
            )
    finally:
        engine.dispose()
    assert pg_index_state(url) == (False, True)

    assert revs(shopmig.upgrade(url, "+1")) == [INDEX]
    assert pg_index_state(url) == (True, False)
    assert_shape(url, INDEX, "postgresql")
    assert shopmig.snapshot(url)["status"].eq("pending").all()
