"""Rule ``no-lock-timeout``: DDL with no lock timeout, once per SQL text or plan, on databases
with a lock queue that a lock timeout bounds (the servers)."""

from __future__ import annotations

import pytest
from lint_helpers import applies, assert_fires, hits, kinds

from shopmig.lint.rules import rule

RULE = rule("no-lock-timeout")
SQL = ("ALTER TABLE orders ADD COLUMN a int; CREATE INDEX CONCURRENTLY ix ON orders (a); "
       "ALTER TABLE orders DROP COLUMN a")
MARIA = "ALTER TABLE orders DROP COLUMN a, ALGORITHM=INSTANT"

TRIGGERS = [
    ("postgresql", "ALTER TABLE orders DROP COLUMN status", "SET lock_timeout = '2s'"),
    ("postgresql", "SET lock_timeout = 0;\nALTER TABLE orders DROP COLUMN status",
     "lock_timeout"),
    ("postgresql", "DROP INDEX ix_orders_status", "lock_timeout"),
    ("mariadb", "DROP INDEX ix ON orders", "SET SESSION lock_wait_timeout = 2"),
    ("mysql", "SET SESSION lock_timeout = 2; " + MARIA, "lock_wait_timeout"),  # not MySQL's
]
SAFE = [
    ("postgresql", "SET lock_timeout = '2s';\n" + SQL),
    ("postgresql", "set local lock_timeout to 2000;\n" + SQL),
    ("postgresql", "CREATE TABLE t (a int)"),  # a new table: nothing waits
    ("postgresql", "UPDATE orders SET a = 1 WHERE id = 2"),  # not DDL
    ("mariadb", "SET SESSION lock_wait_timeout = 2; " + MARIA),
    ("mariadb", "SET STATEMENT lock_wait_timeout=2 FOR " + MARIA),
    ("sqlite", "ALTER TABLE orders DROP COLUMN a"),  # no lock queue to bound
]


def test_applies_to_databases_with_a_lock_timeout_and_each_is_tested() -> None:
    assert applies(RULE) == {"postgresql", "mysql"}
    assert kinds(TRIGGERS) == applies(RULE)


@pytest.mark.parametrize(("dialect", "sql", "fix"), TRIGGERS)
def test_fires(dialect: str, sql: str, fix: str) -> None:
    hit = assert_fires(RULE, dialect, sql, "warning", lock_timeout_s=None)
    assert fix in hit.fix


@pytest.mark.parametrize(("dialect", "sql"), SAFE)
def test_does_not_fire(dialect: str, sql: str) -> None:
    assert hits(RULE, sql, dialect, lock_timeout_s=None) == []


def test_once_per_sql_and_never_with_a_timeout_given() -> None:
    found = hits(RULE, SQL, "postgresql", lock_timeout_s=None)
    assert [f.statement for f in found] == ["ALTER TABLE orders ADD COLUMN a int"]
    assert hits(RULE, SQL, "postgresql", lock_timeout_s=2.0) == []
