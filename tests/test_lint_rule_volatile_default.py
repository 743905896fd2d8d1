"""Rule ``volatile-default``: ADD COLUMN with a default that differs per row (every database;
what it does differs: PostgreSQL rewrites, MariaDB/MySQL copy, SQLite refuses)."""

from __future__ import annotations

import pytest
from lint_helpers import applies, assert_fires, hits, kinds

from shopmig.lint.rules import rule

RULE = rule("volatile-default")

TRIGGERS = [
    ("postgresql", "ALTER TABLE orders ADD COLUMN token text DEFAULT md5(random()::text)",
     "rewrites all 1,000 rows"),
    ("postgres", "alter table orders add column id uuid default gen_random_uuid()", "rewrites"),
    ("pg", "ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT clock_timestamp()",
     "rewrites"),
    ("mariadb", "ALTER TABLE orders ADD COLUMN u CHAR(36) DEFAULT uuid(), ALGORITHM=INSTANT",
     "cannot add it instantly"),
    ("mysql", "ALTER TABLE orders ADD COLUMN r DOUBLE DEFAULT (rand())", "copies all 1,000"),
    ("sqlite", "ALTER TABLE orders ADD COLUMN r REAL DEFAULT (random())", "SQLite refuses"),
]
SAFE = [
    ("postgresql", "ALTER TABLE orders ADD COLUMN note text DEFAULT 'random()'"),
    ("postgresql", "ALTER TABLE orders ADD COLUMN seen timestamptz DEFAULT now()"),
    ("postgresql", "ALTER TABLE orders ALTER COLUMN token SET DEFAULT gen_random_uuid()"),
    ("postgresql", "CREATE TABLE t (id uuid DEFAULT gen_random_uuid())"),
    ("mariadb", "ALTER TABLE orders ADD COLUMN s VARCHAR(16) DEFAULT 'uuid()', ALGORITHM=INSTANT"),
    ("sqlite", "ALTER TABLE orders ADD COLUMN s TEXT DEFAULT 'pending' NOT NULL"),
    ("sqlite", "-- ALTER TABLE orders ADD COLUMN r REAL DEFAULT (random())\nSELECT 1"),
]


def test_applies_to_every_database_and_each_is_tested() -> None:
    assert applies(RULE) == {"sqlite", "postgresql", "mysql"}
    assert kinds(TRIGGERS) == applies(RULE)


@pytest.mark.parametrize(("dialect", "sql", "says"), TRIGGERS)
def test_fires(dialect: str, sql: str, says: str) -> None:
    hit = assert_fires(RULE, dialect, sql, "danger", rows=1000)
    assert says in hit.message
    assert "backfill" in hit.fix


@pytest.mark.parametrize(("dialect", "sql"), SAFE)
def test_does_not_fire(dialect: str, sql: str) -> None:
    assert hits(RULE, sql, dialect) == []


def test_a_new_table_is_not_linted() -> None:
    sql = "CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN id uuid DEFAULT gen_random_uuid()"
    assert hits(RULE, sql, "postgresql") == []
