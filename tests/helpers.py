"""Small helpers shared by the test modules (raw SQL for setting up or damaging a database)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import shopmig


def execute(url: str, *statements: str, must_exist: bool = True) -> None:
    """Run raw SQL in one transaction on a plain engine (driver errors stay SQLAlchemy's)."""
    engine = shopmig.open_engine(url, must_exist=must_exist)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def sqlite_exec(path: Path, *statements: str) -> None:
    """Run raw SQL on a SQLite file with the sqlite3 module only (no shopmig involved)."""
    raw = sqlite3.connect(path)
    with raw:
        for statement in statements:
            raw.execute(statement)
    raw.close()


def digest(path: Path) -> str:
    """SHA-256 of a file: proves a database file was not changed at all."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plain_server_shop(url: str) -> None:
    """A server database with an adopted orders table that shopmig neither made nor copied."""
    shopmig.create_database(url)
    execute(
        url,
        "CREATE TABLE orders (order_id VARCHAR(36) PRIMARY KEY, amount FLOAT)",
        "INSERT INTO orders VALUES ('P1', 12.5), ('P2', 3.0)",
    )
    shopmig.adopt(url)

def add_child_table(url: str) -> None:
    """Add ``order_items`` (a foreign key to orders, an index of its own, three rows)."""
    execute(
        url,
        "CREATE TABLE order_items (item_id INTEGER NOT NULL PRIMARY KEY, "
        "order_id VARCHAR(36) NOT NULL, qty INTEGER NOT NULL, "
        "CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (order_id))",
        "CREATE INDEX ix_items_qty ON order_items (qty)",
        "INSERT INTO order_items (item_id, order_id, qty) VALUES "
        "(1, 'ORD-0000001', 2), (2, 'ORD-0000001', 1), (3, 'ORD-0000042', 5)",
    )


def drop_check(url: str, name: str = "ck_orders_status") -> None:
    """Drop the status CHECK behind shopmig's back (SQLite: through the step's own SQL)."""
    from shopmig.dialects import dialect_for
    from shopmig.migrate.steps import build
    from shopmig.migrate.target import Target

    engine = shopmig.open_engine(url)
    try:
        with engine.begin() as conn:
            dialect = dialect_for(conn)
            plan = build("0003_status_check", "down", dialect,
                         dialect.table_state(conn, Target()))
            for statement in plan.statements:
                conn.exec_driver_sql(statement.sql)
    finally:
        engine.dispose()
