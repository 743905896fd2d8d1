"""Rule ``index-not-concurrent``: an index built while writes wait, where the database can
build it online (PostgreSQL: CONCURRENTLY; MariaDB/MySQL: ALGORITHM=INPLACE, LOCK=NONE)."""

from __future__ import annotations

import pytest
from lint_helpers import applies, assert_fires, hits, kinds

from shopmig.lint.rules import rule

RULE = rule("index-not-concurrent")

TRIGGERS = [
    ("postgresql", "CREATE INDEX ix ON orders (status)", "danger"),
    ("postgresql", "CREATE UNIQUE INDEX ix ON public.orders USING btree (status)", "danger"),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT uq UNIQUE (status)", "danger"),
    ("mariadb", "CREATE INDEX ix ON orders (status)", "warning"),
    ("mariadb", "ALTER TABLE orders ADD INDEX ix (status)", "warning"),
    ("mariadb", "ALTER TABLE orders ADD INDEX ix (status), ALGORITHM=INPLACE, LOCK=SHARED",
     "danger"),
    ("mysql", "CREATE INDEX ix ON orders (status) ALGORITHM=COPY", "danger"),
    # a table made by the SQL is new, until it is filled from a live one
    ("postgresql", "CREATE TABLE t2 (a int); INSERT INTO t2 SELECT a FROM orders; "
     "CREATE INDEX ix ON t2 (a)", "danger"),
]
SAFE = [
    ("postgresql", "CREATE INDEX CONCURRENTLY ix ON orders (status)"),
    ("postgresql", "CREATE UNIQUE INDEX CONCURRENTLY ix ON orders (status)"),
    ("postgresql", "ALTER TABLE orders ADD CONSTRAINT uq UNIQUE USING INDEX ix"),
    ("postgresql", "-- CREATE INDEX ix ON orders (status);\nSELECT 1"),
    ("postgresql", "CREATE TABLE audit (id int); CREATE INDEX ix ON audit (id)"),
    ("mariadb", "CREATE INDEX ix ON orders (status) ALGORITHM=INPLACE LOCK=NONE"),
    ("mariadb", "ALTER TABLE orders ADD INDEX ix (status), ALGORITHM=INPLACE, LOCK=NONE"),
    ("sqlite", "CREATE INDEX ix ON orders (status)"),  # no online build exists: not a danger
]


def test_applies_where_an_index_can_be_built_online_and_each_is_tested() -> None:
    assert applies(RULE) == {"postgresql", "mysql"}
    assert kinds(TRIGGERS) == applies(RULE)


@pytest.mark.parametrize(("dialect", "sql", "severity"), TRIGGERS)
def test_fires(dialect: str, sql: str, severity: str) -> None:
    hit = assert_fires(RULE, dialect, sql, severity)
    assert ("CONCURRENTLY" in hit.fix) or ("LOCK=NONE" in hit.fix)


@pytest.mark.parametrize(("dialect", "sql"), SAFE)
def test_does_not_fire(dialect: str, sql: str) -> None:
    assert hits(RULE, sql, dialect) == []


def test_rows_put_the_size_and_an_estimate_into_the_message() -> None:
    sized = hits(RULE, "CREATE INDEX ix ON orders (status)", "postgresql", rows=1_000_000)[0]
    assert "all 1,000,000 rows of orders" in sized.message
    assert "about 350 ms (estimate)" in sized.message  # 1e6 x PostgreSQL's index rate
    unsized = hits(RULE, "CREATE INDEX ix ON orders (status)", "postgresql")[0]
    assert "every row of orders" in unsized.message
