"""Rule ``check-not-valid``: a CHECK or FOREIGN KEY added without NOT VALID, where the
database can add it NOT VALID and validate it later (PostgreSQL)."""

from __future__ import annotations

import pytest
from lint_helpers import applies, assert_fires, hits, kinds

from shopmig.lint.rules import rule

RULE = rule("check-not-valid")

TRIGGERS = [
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT ck CHECK (status IN ('paid'))", "CHECK"),
    ("postgresql", "ALTER TABLE orders ADD CHECK (amount >= 0)", "CHECK"),
    ("pg", 'ALTER TABLE "public"."Orders" ADD CONSTRAINT "ck" CHECK ("note" <> \'a;b\')',
     "CHECK"),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) "
     "REFERENCES customers (id)", "FOREIGN KEY"),
]
SAFE = [
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT ck CHECK (amount >= 0) NOT VALID"),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES c (id) "
     "NOT VALID"),
    ("postgresql", "ALTER TABLE orders VALIDATE CONSTRAINT ck"),
    ("postgresql", "CREATE TABLE audit (id int); ALTER TABLE audit ADD CONSTRAINT ck CHECK "
     "(id > 0)"),
    ("mariadb", "ALTER TABLE orders ADD CONSTRAINT ck CHECK (amount >= 0)"),
    ("sqlite", "ALTER TABLE orders ADD CONSTRAINT ck CHECK (amount >= 0)"),
]


def test_applies_where_constraints_can_be_added_not_valid_and_each_is_tested() -> None:
    assert applies(RULE) == {"postgresql"}
    assert kinds(TRIGGERS) == applies(RULE)


@pytest.mark.parametrize(("dialect", "sql", "what"), TRIGGERS)
def test_fires(dialect: str, sql: str, what: str) -> None:
    hit = assert_fires(RULE, dialect, sql, "danger", rows=10)
    assert hit.message.startswith(f"{what} added without NOT VALID")
    assert "NOT VALID" in hit.fix and "VALIDATE CONSTRAINT" in hit.fix


@pytest.mark.parametrize(("dialect", "sql"), SAFE)
def test_does_not_fire(dialect: str, sql: str) -> None:
    assert hits(RULE, sql, dialect) == []


def test_a_literal_with_a_semicolon_does_not_split_the_statement() -> None:
    sql = TRIGGERS[2][1] + "; ALTER TABLE orders ADD CHECK (a > 0) NOT VALID"
    found = hits(RULE, sql, "postgresql")
    assert [f.statement for f in found] == [TRIGGERS[2][1]]
