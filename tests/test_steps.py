"""Each step's SQL per database: exact, from the live table, and exactly what runs.

- Golden files (``tests/golden/<database>/<revision>.<direction>.sql``) hold the exact SQL each
  step renders for the demo table on each database; ``SHOPMIG_UPDATE_GOLDEN=1`` rewrites them
  (then read the diff).
- On a live database, what :func:`shopmig.plan` shows is what :func:`shopmig.upgrade` and
  :func:`shopmig.downgrade` execute, statement for statement, and it equals the golden SQL.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import shopmig
from shopmig.dialects import NAMES, dialect_for
from shopmig.dialects.sqlite import constraint_span, definitions_end
from shopmig.migrate.core import step_sql

GOLDEN = Path(__file__).parent / "golden"
STEPS = shopmig.revisions()[1:]
CASES = [(d, r, direction) for d in NAMES for r in STEPS for direction in ("up", "down")]


def _golden_path(dialect: str, revision: str, direction: str) -> Path:
    return GOLDEN / dialect / f"{revision}.{direction}.sql"


@pytest.mark.parametrize(("dialect", "revision", "direction"), CASES)
def test_step_sql_matches_the_golden_file(dialect: str, revision: str, direction: str) -> None:
    sql = step_sql(revision, direction, dialect) + "\n"
    path = _golden_path(dialect, revision, direction)
    if os.environ.get("SHOPMIG_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    assert sql == path.read_text()


def test_every_golden_file_is_used() -> None:
    used = {_golden_path(*case) for case in CASES}
    assert set(GOLDEN.rglob("*.sql")) == used


def _live(sql: str) -> str:
    """A live SQLite plan bumps the real schema cookie where the demo rendering says so."""
    return re.sub(r"PRAGMA schema_version = \d+", "PRAGMA schema_version = "
                  "<the current schema_version + 1>", sql)


def test_what_is_shown_is_what_runs(demo_url: str) -> None:
    name = dialect_for(demo_url).name
    planned_up = {s.revision: s.statements for s in shopmig.plan(demo_url, "head")}
    ran_up = {a.revision: a.statements for a in shopmig.upgrade(demo_url, "head")}
    assert ran_up == planned_up
    planned_down = {s.revision: s.statements for s in shopmig.plan(demo_url, "base",
                                                                    direction="down")}
    options = shopmig.MigrationOptions(allow_table_rewrite=True)
    ran_down = {a.revision: a.statements
                for a in shopmig.downgrade(demo_url, "base", options=options)}
    assert ran_down == planned_down
    for revision in STEPS:
        for direction, ran in (("up", ran_up), ("down", ran_down)):
            golden = _golden_path(name, revision, direction).read_text()
            shown = "\n".join(s for s in golden.splitlines() if not s.startswith("--"))
            statements = [s.rstrip(";") for s in shown.split(";\n") if s.strip()
                          and s.strip() != "nothing to run"]
            assert [_live(s) for s in ran[revision]] == [
                s.strip().rstrip(";") for s in statements], (revision, direction)


# ------------------------------------------------------------------ SQLite's stored definition

@pytest.mark.parametrize(("sql", "tail"), [
    ("CREATE TABLE t (a INT, b TEXT)", ")"),
    ("CREATE TABLE t (a INT, b TEXT) WITHOUT ROWID", ") WITHOUT ROWID"),
    ("CREATE TABLE \"t(\" (\"a)\" INT, b TEXT DEFAULT ')') STRICT", ") STRICT"),
    ("CREATE TABLE t (a INT -- a comment with )\n, b TEXT /* ) */)", ")"),
    ("CREATE TABLE t (a INT CHECK (a > (1)), [b)] TEXT)", ")"),
])
def test_definitions_end_finds_the_closing_parenthesis(sql: str, tail: str) -> None:
    end = definitions_end(sql)
    assert end is not None and sql[end:] == tail


def test_constraint_span_finds_only_that_constraint() -> None:
    sql = ('CREATE TABLE t (a INT, s TEXT, CONSTRAINT "ck_other" CHECK (s <> \')\'), '
           'CONSTRAINT "ck_t_s" CHECK (s IN (\'x\', \'y)\')))')
    start, stop = constraint_span(sql, "ck_t_s")  # type: ignore[misc]
    assert sql[start:stop] == ", CONSTRAINT \"ck_t_s\" CHECK (s IN ('x', 'y)'))"
    assert constraint_span(sql, "ck_missing") is None
    assert constraint_span("CREATE TABLE t (a INT, CONSTRAINT ck_t_s CHECK (a > 0))",
                           "CK_T_S") == (21, 54)
