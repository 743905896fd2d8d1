"""Rule ``not-null-without-check``: SET NOT NULL that scans the table under a blocking lock
(databases whose SET NOT NULL scans: PostgreSQL), unless a validated CHECK the server can use
came first."""

from __future__ import annotations

import pytest
from lint_helpers import applies, assert_fires, hits, kinds

from shopmig.lint.rules import rule

RULE = rule("not-null-without-check")
SET_NOT_NULL = "ALTER TABLE orders ALTER COLUMN status SET NOT NULL"
ADD = "ALTER TABLE orders ADD CONSTRAINT nn CHECK (status IS NOT NULL) NOT VALID"
VALIDATE = "ALTER TABLE orders VALIDATE CONSTRAINT nn"

TRIGGERS = [
    ("postgresql", SET_NOT_NULL, {}),
    ("postgres", "alter table public.orders alter status set not null", {}),
    ("postgresql", f"{ADD}; {SET_NOT_NULL}", {}),  # not validated yet
    ("postgresql", f"{ADD}; {VALIDATE}; {SET_NOT_NULL}", {"server_version": (11, 9)}),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT nn CHECK (amount IS NOT NULL); "
     + SET_NOT_NULL, {}),  # a check on another column
    ("postgresql", f"{ADD}; {VALIDATE}; ALTER TABLE orders DROP CONSTRAINT nn; {SET_NOT_NULL}",
     {}),
]
SAFE = [
    ("postgresql", f"{ADD}; {VALIDATE}; {SET_NOT_NULL}", {}),
    ("postgresql", f"{ADD}; {VALIDATE}; {SET_NOT_NULL}", {"server_version": (16, 2)}),
    ("postgresql", "ALTER TABLE orders ALTER COLUMN status DROP NOT NULL", {}),
    ("postgresql", "ALTER TABLE orders ADD COLUMN s text NOT NULL DEFAULT 'x'", {}),
    ("sqlite", SET_NOT_NULL, {}),  # not a SQLite statement: the rule does not apply
    ("mariadb", SET_NOT_NULL, {}),
]


def test_applies_where_set_not_null_scans_and_each_is_tested() -> None:
    assert applies(RULE) == {"postgresql"}
    assert kinds(TRIGGERS) == applies(RULE)


@pytest.mark.parametrize(("dialect", "sql", "kw"), TRIGGERS)
def test_fires(dialect: str, sql: str, kw: dict) -> None:
    hit = assert_fires(RULE, dialect, sql, "danger", rows=2_000_000, **kw)
    assert "2,000,000 rows" in hit.message and "NOT VALID" in hit.fix
    assert hit.statement.upper().endswith("SET NOT NULL")


def test_an_old_server_is_named() -> None:
    old = hits(RULE, f"{ADD}; {VALIDATE}; {SET_NOT_NULL}", "postgresql", server_version=(11, 9))
    assert "PostgreSQL before 12 cannot use the validated CHECK" in old[0].message


@pytest.mark.parametrize(("dialect", "sql", "kw"), SAFE)
def test_does_not_fire(dialect: str, sql: str, kw: dict) -> None:
    assert hits(RULE, sql, dialect, **kw) == []
