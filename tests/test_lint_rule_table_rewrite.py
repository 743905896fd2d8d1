"""Rule ``table-rewrite``: every row copied or rewritten (every database): a danger where a
cheaper statement exists, a warning where the database has no other way."""

from __future__ import annotations

import pytest
from lint_helpers import applies, assert_fires, hits, kinds

from shopmig.lint.rules import rule

RULE = rule("table-rewrite")
REBUILD = ("CREATE TABLE t2 (a TEXT); INSERT INTO t2 (a) SELECT order_id FROM orders; "
           "DROP TABLE orders; ALTER TABLE t2 RENAME TO orders")

TRIGGERS = [
    # (dialect, sql, severity, what the message says)
    ("mariadb", "ALTER TABLE orders ADD COLUMN s VARCHAR(16) NOT NULL DEFAULT 'x', "
     "ALGORITHM=COPY", "danger", "copies all 1,000 rows"),
    ("mariadb", "ALTER TABLE orders ADD COLUMN s VARCHAR(16)", "warning", "may copy"),
    ("mariadb", "ALTER TABLE orders MODIFY status VARCHAR(32) NOT NULL", "warning",
     "MODIFY/CHANGE"),
    ("mariadb", "ALTER TABLE orders FORCE, ALGORITHM=COPY", "danger", "ALGORITHM=COPY"),
    ("mysql", "ALTER TABLE orders ADD CONSTRAINT ck CHECK (status IN ('a')), ALGORITHM=COPY",
     "warning", "an enforced CHECK has no online path"),
    ("mariadb", "UPDATE orders o SET o.status = 'paid'", "danger", "UPDATE without WHERE"),
    ("postgresql", "ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12, 2)", "danger",
     "ALTER COLUMN amount TYPE rewrites"),
    ("postgresql", "UPDATE orders SET status = 'paid'", "danger", "new version of every row"),
    ("postgresql", REBUILD, "warning", "are copied into t2"),
    ("sqlite", REBUILD, "warning", "under the database write lock"),
    ("sqlite", "ALTER TABLE orders DROP COLUMN status", "warning",
     "DROP COLUMN status rewrites all 1,000 rows"),
    ("sqlite", "UPDATE orders SET status = 'paid'", "danger", "one write lock"),
]
SAFE = [
    ("postgresql", "UPDATE orders SET status = 'paid' WHERE order_id = 'a'"),
    ("postgresql", "/* UPDATE orders SET status = 'x' */ SELECT 'a;b'"),
    ("postgresql", "ALTER TABLE orders DROP COLUMN status"),  # catalog only
    ("postgresql", "ALTER TABLE orders ADD COLUMN s varchar(16) DEFAULT 'pending' NOT NULL"),
    ("mariadb", "ALTER TABLE orders ADD COLUMN s VARCHAR(16) DEFAULT 'x', ALGORITHM=INSTANT"),
    ("mariadb", "ALTER TABLE orders DROP COLUMN s, ALGORITHM=INSTANT"),
    ("sqlite", "ALTER TABLE orders ADD COLUMN s TEXT DEFAULT 'pending' NOT NULL"),
    ("sqlite", "CREATE TABLE audit (id int); UPDATE audit SET id = 1"),  # a new table
    # SQLite's in-place CHECK (shopmig's step 0003): one scan, then the stored text edited
    ("sqlite", "SELECT count(*) FROM orders WHERE NOT (status IN ('a'));"
     "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = substr(sql, 1, 9) || "
     "', CHECK (x)' || substr(sql, 10) WHERE type = 'table' AND name = 'orders';"
     "PRAGMA schema_version = 8; PRAGMA writable_schema = OFF"),
]


def test_applies_to_every_database_and_each_is_tested() -> None:
    assert applies(RULE) == {"sqlite", "postgresql", "mysql"}
    assert kinds(TRIGGERS) == applies(RULE)


@pytest.mark.parametrize(("dialect", "sql", "severity", "says"), TRIGGERS)
def test_fires(dialect: str, sql: str, severity: str, says: str) -> None:
    hit = assert_fires(RULE, dialect, sql, severity, rows=1000)
    assert says in hit.message


@pytest.mark.parametrize(("dialect", "sql"), SAFE)
def test_does_not_fire(dialect: str, sql: str) -> None:
    assert hits(RULE, sql, dialect) == []


def test_a_constant_default_rewrites_only_before_postgresql_11() -> None:
    sql = "ALTER TABLE orders ADD COLUMN s varchar(16) DEFAULT 'pending' NOT NULL"
    assert hits(RULE, sql, "postgresql", server_version=(15, 4)) == []
    assert hits(RULE, sql, "postgresql", server_version=(11, 0)) == []
    old = hits(RULE, sql, "postgresql", server_version=(10, 23))
    assert [f.severity for f in old] == ["danger"]
    assert "PostgreSQL before 11" in old[0].message
    assert hits(RULE, "ALTER TABLE orders ADD COLUMN s int DEFAULT NULL", "postgresql",
                server_version=(10, 23)) == []
