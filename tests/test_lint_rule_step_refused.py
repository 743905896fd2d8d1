"""Rule ``step-refused``: a planned step that cannot run as it is, shown before anything runs
(every database): the database's plan refuses it, naming the blocker, or it copies more rows
than the rewrite row limit without ``allow_table_rewrite``. A plan-level rule: SQL text alone
never triggers it."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import execute
from lint_helpers import applies, kinds

import shopmig
from shopmig.dialects import MySQLDialect, dialect_for
from shopmig.lint import METADATA_LOCK_S, Finding, lint_plan, lint_sql
from shopmig.lint.linter import Linter
from shopmig.lint.rules import PlannedStep, rule
from shopmig.migrate.core import step_sql
from shopmig.migrate.steps import MigrationOptions

RULE = rule("step-refused")
BIG = 200_000  # above MigrationOptions().rewrite_row_limit
FULLTEXT_REFUSAL = ("the server cannot add the column with ALGORITHM=INSTANT because of the "
                    "FULLTEXT index ft_note (MariaDB cannot add a column instantly to a table "
                    "with a FULLTEXT index)")


def planned(dialect: str, revision: str, direction: str, rows: int, *,
            server_version: tuple[int, ...] | None = None, refusal: str | None = None,
            allow: bool = False) -> PlannedStep:
    """shopmig's step on the demo table as the plan would give it."""
    impact = shopmig.step_impact(revision, dialect, direction, rows=rows,
                                 server_version=server_version)
    step = shopmig.Step(revision, direction, "", step_sql(revision, direction, dialect), impact,
                        refusal=refusal)
    return PlannedStep(step, MigrationOptions(allow_table_rewrite=allow), rows)


def findings(dialect: str, step: PlannedStep) -> list[Finding]:
    linter = Linter(dialect_for(dialect), rows=step.rows, lock_timeout_s=2.0)
    return [f for f in linter.lint_step(step) if f.rule == RULE.name]


TRIGGERS = [
    # (dialect, planned step, what the message says)
    ("sqlite", dict(revision="0002_add_status", direction="down", rows=BIG),
     "downgrade refuses 0002_add_status: it copies all 200,000 rows"),
    ("mariadb", dict(revision="0003_status_check", direction="up", rows=BIG),
     "more than the limit of 100,000 rows"),
    ("mariadb", dict(revision="0002_add_status", direction="up", rows=10,
                     refusal=FULLTEXT_REFUSAL), "FULLTEXT index ft_note"),
    ("postgresql", dict(revision="0002_add_status", direction="up", rows=BIG,
                        server_version=(10, 5)), "upgrade refuses 0002_add_status"),
]
SAFE = [
    ("sqlite", dict(revision="0002_add_status", direction="down", rows=BIG, allow=True)),
    ("sqlite", dict(revision="0002_add_status", direction="down", rows=1000)),
    ("sqlite", dict(revision="0003_status_check", direction="up", rows=BIG)),  # no copy
    ("mariadb", dict(revision="0003_status_check", direction="up", rows=BIG, allow=True)),
    ("postgresql", dict(revision="0002_add_status", direction="up", rows=BIG,
                        server_version=(15, 4))),
]


def test_applies_to_every_database_and_each_is_tested() -> None:
    assert applies(RULE) == {"sqlite", "postgresql", "mysql"}
    assert kinds(TRIGGERS) == applies(RULE)


@pytest.mark.parametrize(("dialect", "step", "says"), TRIGGERS)
def test_fires(dialect: str, step: dict, says: str) -> None:
    found = findings(dialect, planned(dialect, **step))
    assert [(f.severity, f.revision) for f in found] == [("danger", step["revision"])]
    assert says in found[0].message and found[0].fix


@pytest.mark.parametrize(("dialect", "step"), SAFE)
def test_does_not_fire(dialect: str, step: dict) -> None:
    assert findings(dialect, planned(dialect, **step)) == []


def test_sql_text_alone_never_triggers_it() -> None:
    sql = step_sql("0002_add_status", "down", "sqlite")
    assert RULE.name not in {f.rule for f in lint_sql(sql, "sqlite", rows=BIG)}


def test_the_row_limit_refusal_on_a_live_sqlite_table_runs_nothing() -> None:
    with shopmig.connect("sqlite://") as conn:
        shopmig.make_demo_shop(conn, rows=50)
        shopmig.upgrade(conn, "+1")
        options = MigrationOptions(rewrite_row_limit=10)
        report = lint_plan(conn, "-1", options=options)
        assert shopmig.current_revision(conn) == "0002_add_status"
        with pytest.raises(shopmig.ShopmigError, match="more than the limit of 10 rows"):
            shopmig.downgrade(conn, "-1", options=options)  # what lint said would happen
    assert not report.ok
    assert [(f.rule, f.severity) for f in report.findings] == [
        ("step-refused", "danger"), ("table-rewrite", "warning")]
    assert "copies all 50 rows" in report.findings[0].message
    assert "--allow-table-rewrite" in report.findings[0].fix
    assert pd.isna(report.steps.iloc[0]["expected_lock_s"])  # it would not run as planned


@pytest.mark.server
def test_mariadb_fulltext_blocks_the_instant_column_and_lint_names_it(make_url) -> None:
    url = make_url("mariadb")
    shopmig.create_database(url)
    execute(url,
            "CREATE TABLE orders (order_id VARCHAR(36) PRIMARY KEY, amount DOUBLE, note TEXT, "
            "FULLTEXT INDEX ft_note (note)) ENGINE=InnoDB",
            "INSERT INTO orders SELECT CONCAT('o', seq), seq, 'note' FROM seq_1_to_5000")
    report = lint_plan(url)
    assert shopmig.current_revision(url) is None  # not adopted, nothing ran
    assert not report.ok and report.current is None
    assert any("not adopted yet" in n for n in report.notes)
    refused = [f for f in report.findings if f.rule == RULE.name]
    assert [(f.severity, f.revision) for f in refused] == [("danger", "0002_add_status")]
    assert "FULLTEXT index ft_note" in refused[0].message
    assert "ALGORITHM=INSTANT" in refused[0].statement
    assert "ALGORITHM=COPY" in refused[0].fix and "--allow-table-rewrite" in refused[0].fix
    shopmig.adopt(url)
    with pytest.raises(shopmig.ShopmigError, match="FULLTEXT index ft_note"):
        shopmig.upgrade(url, "+1")  # what lint said, before anything ran
    assert "status" not in columns(url)

    allowed = lint_plan(url, options=MigrationOptions(allow_table_rewrite=True))
    assert allowed.ok
    first = [f for f in allowed.findings if f.revision == "0002_add_status"]
    assert [(f.rule, f.severity) for f in first] == [("table-rewrite", "warning")]
    assert "ALGORITHM=COPY" in first[0].statement
    assert "Allowed knowingly" in first[0].message and "ft_note" in first[0].message
    row = allowed.steps.set_index("revision").loc["0002_add_status"]
    assert bool(row["rewrites_table"])
    assert row["expected_lock_s"] == pytest.approx(  # the copy's rate, from the impact
        METADATA_LOCK_S + 5000 * MySQLDialect.lock_rates_s_per_row["rewrite"], abs=1e-3)
    assert row["expected_lock_s"] > METADATA_LOCK_S


def columns(url: str) -> set[str]:
    engine = shopmig.open_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("orders")}
    finally:
        engine.dispose()
