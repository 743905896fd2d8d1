"""Exercise 1: add a nullable ``shipped_at`` timestamp and backfill it from ``status``."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.migrate import steps
from shopmig.teach.exercises import rules
from shopmig.teach.exercises.feedback import Feedback, Report, ladder
from shopmig.teach.exercises.running import (
    EXERCISE_ROWS,
    BaseURL,
    Statement,
    columns,
    dialect_of,
    did_something,
    guard,
    plural,
    ran_on_text,
    raw_texts,
    run_op,
    shop,
    table_snapshot,
)
from shopmig.verification.api import verify

EXERCISE = "Exercise 1 · shipped_at"
COLUMN = "shipped_at"
SHIPPED = ("shipped", "delivered")

NOTHING_RAN = ladder(
    "Your function ran but sent nothing to the database: use the `op` it receives.",
    "Two operations: one that adds the column, one that runs SQL to fill it.",
)
MISSING_COLUMN = ladder(
    "The table needs a new column first; then fill it.",
    "Alembic's op has an operation that adds a column: give it the table's name and an "
    "sa.Column.",
)
NOT_NULLABLE = ladder(
    "An order that has not shipped has no shipped time.",
    "Let the column be empty: NULL means “not shipped yet”.",
)
NOT_DATETIME = ladder(
    "Store a point in time in a date/time column, so that times sort and compare as times.",
    "The task names the SQLAlchemy type to use.",
)
DATE_ONLY = ladder(
    "A date alone loses the time of day the order shipped.",
    "Use the type that holds a date and a time.",
)
HAS_DEFAULT = ladder(
    "A default is filled in for every new order the moment it is placed.",
    "Leave the column without a default: new orders have not shipped.",
)
FORGOT_DELIVERED = ladder(
    "An order that was delivered has been shipped too.",
    "Which statuses mean the order has left the warehouse? The task names two.",
)
NOT_BACKFILLED = ladder(
    "The new column is empty for every order: nothing filled it.",
    "After adding the column, run an UPDATE that gives a timestamp to the orders that have "
    "shipped.",
)
TOO_MANY = ladder(
    "Only orders that have shipped get a shipped time.",
    "Restrict the UPDATE with a WHERE on status; list the statuses that mean shipped rather "
    "than the ones that do not, so a status you did not think of stays NULL.",
)
TYPO = ladder(
    "A status in your SQL matches no order: check its spelling.",
    "The statuses are exactly those in shopmig.STATUS_VALUES.",
)
OTHER_DATA = ladder(
    "Only add and fill shipped_at: leave the other columns alone.",
)

_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def status_of(number: int) -> str:
    """The status the exercise shop gives order number ``number`` (deterministic): every
    status the shop knows occurs, ``refunded`` included."""
    return {0: "shipped", 1: "shipped", 2: "delivered", 3: "cancelled", 4: "paid",
            5: "refunded"}.get(number % 10, "pending")


def set_statuses(conn: Connection, rows: int = EXERCISE_ROWS) -> None:
    """Give the exercise shop's orders their mixed statuses (:func:`status_of`)."""
    orders = sa.table(steps.TABLE, sa.column(steps.KEY), sa.column(steps.STATUS))
    records = [{"k": f"ORD-{n:07d}", "s": status_of(n)} for n in range(1, rows + 1)
               if status_of(n) != steps.STATUS_DEFAULT]
    stmt = (sa.update(orders).where(orders.c[steps.KEY] == sa.bindparam("k"))
            .values({steps.STATUS: sa.bindparam("s")}))
    with conn.begin():
        conn.execute(stmt, records)


def check_shipped_at(upgrade_fn: Any, *, url: BaseURL = "sqlite://",
                     hint_level: int | None = None) -> Feedback:
    """Exercise 1: ``upgrade_fn(op)`` adds a nullable ``shipped_at`` timestamp and backfills it.

    Runs on a shop at head whose orders have every status. Afterwards every ``shipped`` or
    ``delivered`` order must have a real date/time in ``shipped_at`` and every other order
    (``pending``, ``paid``, ``cancelled``, ``refunded``) NULL; the column must be a nullable
    date-and-time column without a default; nothing else may change. Values SQLite stores but
    PostgreSQL or MariaDB would refuse (``'2024-13-45'``) are named.
    """

    def body(report: Report) -> None:
        with shop(url, "shopmig_ex1", revision="head") as conn:
            ran = dialect_of(conn)
            report.ran_on = ran_on_text(ran)
            set_statuses(conn)
            before = table_snapshot(conn)
            log = run_op(EXERCISE, conn, upgrade_fn, ran_on=report.ran_on,
                         hint_level=hint_level)
            cols = columns(conn)
            after = table_snapshot(conn)
            texts = raw_texts(conn, COLUMN) if COLUMN in cols else []
        if not did_something(log) and COLUMN not in cols:
            report.wrong("your function ran but changed nothing in the database.", NOTHING_RAN)
            return
        judge(report, ran, before, after, cols, texts, log)

    return guard(EXERCISE, body, hint_level=hint_level)


def _status_literals(log: Sequence[Statement]) -> set[str]:
    found: set[str] = set()
    for statement in log:
        found.update(v.replace("''", "'") for v in _LITERAL.findall(statement.sql))
    return found


def judge(report: Report, ran: Any, before: pd.DataFrame, after: pd.DataFrame,
          cols: dict[str, dict[str, Any]], texts: list[str], log: Sequence[Statement]) -> None:
    """Judge the table the answer left (``after``) against the shop before it ran."""
    column = cols.get(COLUMN)
    if column is None:
        report.wrong("orders has no shipped_at column.", MISSING_COLUMN)
        return
    report.right("orders has a shipped_at column.")
    if column["nullable"]:
        report.right("shipped_at is nullable: orders that have not shipped keep NULL.")
    else:
        report.wrong("shipped_at is NOT NULL, but a pending order has not shipped yet.",
                     NOT_NULLABLE)
    type_ = column["type"]
    if isinstance(type_, sa.DateTime):
        report.right(f"shipped_at holds dates and times ({type_}).")
    elif isinstance(type_, sa.Date):
        report.wrong(f"shipped_at is {type_}: a date without the time of day.", DATE_ONLY)
    else:
        report.wrong(f"shipped_at is {type_}, not a date/time type.", NOT_DATETIME)
    if rules.default_text(column) is not None:
        report.wrong(f"shipped_at has a server default ({rules.default_text(column)}): every "
                     "new order would get a shipped time the moment it is placed.", HAS_DEFAULT)
    typos = sorted(v for v in _status_literals(log)
                   if v.islower() and v.isalpha() and v not in steps.STATUS_VALUES
                   and difflib.get_close_matches(v, steps.STATUS_VALUES, n=1, cutoff=0.75))
    for typo in typos:
        close = difflib.get_close_matches(typo, steps.STATUS_VALUES, n=1, cutoff=0.75)[0]
        report.wrong(f"your SQL names the status {typo!r}, which no order has (a typo for "
                     f"{close!r}?).", TYPO)
    shipped = before[steps.STATUS].isin(SHIPPED).to_numpy()
    stamped = after[COLUMN].notna().to_numpy()
    missing = shipped & ~stamped
    extra = ~shipped & stamped
    if not missing.any():
        report.right(f"all {int(shipped.sum()):,} shipped or delivered orders have a "
                     "shipped_at.")
    else:
        statuses = sorted(set(before.loc[missing, steps.STATUS]))
        hints = (NOT_BACKFILLED if not stamped.any() else
                 TYPO if typos else
                 FORGOT_DELIVERED if statuses == ["delivered"] else TOO_MANY)
        report.wrong(f"{plural(int(missing.sum()), 'order')} with status "
                     f"{' or '.join(repr(s) for s in statuses)} have no shipped_at.", hints)
    if not extra.any():
        report.right("orders that have not shipped (pending, paid, cancelled, refunded) kept "
                     "NULL.")
    else:
        statuses = sorted(set(before.loc[extra, steps.STATUS]))
        report.wrong(f"{plural(int(extra.sum()), 'order')} that never shipped "
                     f"({', '.join(statuses)}) got a shipped_at.", TOO_MANY)
    if isinstance(type_, sa.DateTime | sa.Date):
        rules.check_datetimes(report, ran, COLUMN, texts)
    result = verify(before, after.drop(columns=[COLUMN]))
    if result.ok:
        report.right("every other value is unchanged.")
    else:
        report.wrong(f"the migration changed existing data: {result.summary()}.", OTHER_DATA)
