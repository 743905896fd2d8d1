"""Exercise 2: add ``status`` (NOT NULL, 'pending') without writing or copying a row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from shopmig.lint import lint_sql
from shopmig.migrate import steps
from shopmig.teach.exercises import rules
from shopmig.teach.exercises.feedback import Feedback, Report, ladder
from shopmig.teach.exercises.running import (
    BaseURL,
    Statement,
    capture,
    columns,
    dialect_of,
    did_something,
    first_line,
    guard,
    plural,
    ran_on_text,
    rows_written,
    run_op,
    shop,
    storage_id,
    table_snapshot,
)
from shopmig.verification.api import verify

EXERCISE = "Exercise 2 · status without a rewrite"

NOTHING_RAN = ladder(
    "Your function ran but sent nothing to the database: use the `op` it receives.",
    "One operation is enough: the one that adds a column.",
)
WROTE_ROWS = ladder(
    "Look at how the existing orders get their 'pending': something writes every row. Can "
    "the database fill them in without touching them?",
    "A default the database itself knows (a server-side default) gives every existing row "
    "its value at once, so no UPDATE is needed; the seed's mistake was a Python-side default.",
)
REBUILT = ladder(
    "The table was copied into a new one: that is the rewrite to avoid.",
    "Do not ask Alembic to recreate the table: a plain add-column with a constant "
    "server-side default only edits the schema.",
)
PYTHON_DEFAULT = ladder(
    "The existing orders have no status: the database never heard of your default.",
    "A Python-side default (default=) is only used by SQLAlchemy for its own INSERTs; the "
    "database needs a server-side default.",
)
NULLABLE = ladder(
    "The task asks for a column that never holds NULL.",
    "With a server-side default every existing row has its value at once, so the column can "
    "be declared NOT NULL in the same statement at no cost.",
)
INSERT_REFUSED = ladder(
    "An INSERT that does not name status must still work: read the error the database gave.",
    "Whatever your step adds besides the column must let a plain INSERT through.",
)
NEW_ROWS_DEFAULT = ladder(
    "A new order must get 'pending' from the database itself, whoever inserts it.",
    "Give the column a server-side default, so the database fills it in for every insert.",
)
WRONG_DEFAULT = ladder(
    "The existing orders read the default's value: check the value you gave it.",
    "Values compare exactly: spelling and upper/lower case count.",
)
NO_COLUMN = ladder(
    "orders needs a status column.",
    "Alembic's op has an operation that adds a column: give it the table's name and an "
    "sa.Column.",
)
NOT_TEXT = ladder(
    "status holds words such as 'pending' and 'delivered'.",
    "Use a string type with room for the longest status.",
)
OTHER_DATA = ladder(
    "Only add the column: leave the other data alone.",
)
LINT = ladder(
    "shopmig.lint_sql names a statement that makes writes wait for a time that grows with "
    "the table.",
)


def slow_add_status(op: Operations) -> None:
    """The step exercise 2 starts from: correct result, but it writes every row."""
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=True))
    op.execute("UPDATE orders SET status = 'pending'")


def trace_step(upgrade_fn: Any, *, url: BaseURL = "sqlite://") -> pd.DataFrame:
    """Run ``upgrade_fn(op)`` on a fresh scratch shop and show what it did, statement by
    statement: the SQL and the rows of ``orders`` it wrote. No verdict, no hint: the table a
    learner reads to spot a rewrite before writing an answer."""
    with shop(url, "shopmig_ex2_trace") as conn, capture(conn) as log, conn.begin():
        upgrade_fn(Operations(MigrationContext.configure(conn)))
    shown = [s for s in log if did_something([s])]
    return pd.DataFrame({
        "statement": [" ".join(s.sql.split()) for s in shown],
        "rows written": [rows_written([s]) for s in shown],
    })


def check_fast_status(upgrade_fn: Any, *, url: BaseURL = "sqlite://",
                      hint_level: int | None = None) -> Feedback:
    """Exercise 2: ``upgrade_fn(op)`` adds ``status`` (NOT NULL, server default 'pending')
    without writing or copying a single row.

    Runs on a shop at the baseline and checks: every existing order reads ``pending``; a new
    order inserted without a status gets ``pending``; the column is NOT NULL and holds every
    status of :data:`shopmig.STATUS_VALUES` on every database; no statement wrote rows of
    ``orders``; the table was not rebuilt (its storage did not move, and
    :func:`shopmig.lint_sql` finds no rewrite in the SQL it ran); no other danger.
    """

    def body(report: Report) -> None:
        with shop(url, "shopmig_ex2") as conn:
            ran = dialect_of(conn)
            report.ran_on = ran_on_text(ran)
            before = table_snapshot(conn)
            storage = storage_id(conn)
            log = run_op(EXERCISE, conn, upgrade_fn, ran_on=report.ran_on,
                         hint_level=hint_level)
            cols = columns(conn)
            after = table_snapshot(conn)
            moved = None if storage is None else storage_id(conn) != storage
            new_status = insert_probe(conn) if steps.STATUS in cols else None
        if not did_something(log) and steps.STATUS not in cols:
            report.wrong("your function ran but changed nothing in the database.", NOTHING_RAN)
            return
        judge(report, ran, before, after, cols, log, moved, new_status)

    return guard(EXERCISE, body, hint_level=hint_level)


def insert_probe(conn: Connection) -> object:
    """The status a new order gets when the INSERT does not name it (rolled back)."""
    trans = conn.begin()
    try:
        conn.execute(sa.text("INSERT INTO orders (order_id, amount) VALUES ('ORD-PROBE', 1.0)"))
        return conn.execute(
            sa.text("SELECT status FROM orders WHERE order_id = 'ORD-PROBE'")).scalar()
    except DBAPIError as exc:
        return exc
    finally:
        trans.rollback()


def _shown(value: object) -> str:
    return "NULL" if value is None or (isinstance(value, float) and pd.isna(value)) \
        else repr(value)


def judge(report: Report, ran: Any, before: pd.DataFrame, after: pd.DataFrame,
          cols: dict[str, dict[str, Any]], log: Sequence[Statement], moved: bool | None,
          new_status: object) -> None:
    """Judge the table the answer left and the statements it ran."""
    rows = len(before)
    written = rows_written(log)
    sql = ";\n".join(s.sql for s in log)
    findings = [f for f in lint_sql(sql, ran.name, rows=rows, lock_timeout_s=2.0)
                if f.severity == "danger"]
    rewrite = [f for f in findings if f.rule == "table-rewrite" and not written]
    if moved or rewrite:
        how = ("its storage moved" if moved else f"shopmig.lint_sql: {rewrite[0].message}")
        report.wrong(f"the table was rebuilt: all {rows:,} rows were copied into a new table "
                     f"({how}), while writes waited.", REBUILT)
    elif moved is False:
        report.right("the table was not rebuilt (its rows stayed where they were).")
    if written:
        report.wrong(f"this step wrote {plural(written, 'row')} of orders (an UPDATE "
                     "backfill): on a big table that is one long transaction holding every "
                     "row's lock, and PostgreSQL writes a new copy of each row.", WROTE_ROWS)
    else:
        report.right("no statement wrote rows of orders.")
    column = cols.get(steps.STATUS)
    if column is None:
        report.wrong("orders has no status column.", NO_COLUMN)
        return
    if not isinstance(column["type"], sa.String):
        report.wrong(f"status is {column['type']}, not a string type.", NOT_TEXT)
    values = after[steps.STATUS]
    wrong_rows = values[values != steps.STATUS_DEFAULT]
    if wrong_rows.empty:
        report.right(f"all {rows:,} existing orders read 'pending'.")
    else:
        first = wrong_rows.iloc[0]
        quoted = isinstance(first, str) and first.strip("'\"") == steps.STATUS_DEFAULT
        report.wrong(f"{plural(len(wrong_rows), 'existing order')} read {_shown(first)} "
                     "instead of 'pending'.",
                     rules.DOUBLE_QUOTED_DEFAULT if quoted else
                     PYTHON_DEFAULT if first is None or pd.isna(first) else
                     WRONG_DEFAULT)
    rules.check_default(report, ran, steps.STATUS, column)
    rules.check_strings(report, ran, steps.STATUS, column,
                        [v for v in values.dropna().unique() if isinstance(v, str)],
                        must_hold=steps.STATUS_VALUES)
    if isinstance(new_status, DBAPIError):
        report.wrong("a new order inserted without a status is refused: "
                     f"{first_line(str(new_status.orig))}", INSERT_REFUSED)
    elif new_status == steps.STATUS_DEFAULT:
        report.right("a new order inserted without a status gets 'pending'.")
    else:
        report.wrong(f"a new order inserted without a status gets {_shown(new_status)}.",
                     NEW_ROWS_DEFAULT)
    if column["nullable"]:
        report.wrong("status allows NULL.", NULLABLE)
    else:
        report.right("status is NOT NULL.")
    changed = verify(before, after)
    if changed.missing.empty and changed.changed.empty and changed.unexpected.empty:
        report.right("every other value is unchanged.")
    else:
        report.wrong(f"existing data changed: {changed.summary()}.", OTHER_DATA)
    for finding in findings:
        if finding.rule == "table-rewrite":
            continue  # said above, with what was measured
        report.wrong(f"lint ({finding.rule}): {finding.message}", (*LINT, finding.fix))

