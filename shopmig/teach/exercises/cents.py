"""Exercise 3: the downgrade of :func:`cents_upgrade` that loses nothing."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic.operations import Operations

from shopmig.teach.exercises import rules
from shopmig.teach.exercises.feedback import Feedback, Report, ladder
from shopmig.teach.exercises.running import (
    BaseURL,
    Log,
    columns,
    dialect_of,
    did_something,
    guard,
    plural,
    ran_on_text,
    run_op,
    shop,
    table_snapshot,
)
from shopmig.verification.api import verify

EXERCISE = "Exercise 3 · a downgrade that loses nothing"
AMOUNT = "amount"
CENTS = "total_cents"

NOTHING_RAN = ladder(
    "Your function ran but sent nothing to the database: use the `op` it receives.",
    "Three operations: bring amount back, fill it from total_cents, remove total_cents.",
)
KEEPS_CENTS = ladder(
    "The downgrade must leave the table as it was before the upgrade: one column too many.",
    "Once the amounts are copied back, remove the column the upgrade added.",
)
NO_AMOUNT = ladder(
    "The table before the upgrade had an amount column: the downgrade must bring it back.",
    "Add the column back with the type it had, then fill it.",
)
EMPTY_AMOUNTS = ladder(
    "The amounts came back empty: the values in total_cents were never copied back.",
    "Add the column, copy the values into it from total_cents, and only then remove "
    "total_cents.",
)
INTEGER_DIVISION = ladder(
    "Compare an amount before and after: the cents are missing.",
    "A whole number divided by a whole number drops the fraction on SQLite and PostgreSQL: "
    "make one side of the division a decimal number.",
)
OFF_AMOUNTS = ladder(
    "The amounts are not what they were: how do cents become an amount?",
    "An amount is its cents divided by a hundred, with the fraction kept.",
)
ROWS = ladder(
    "A downgrade changes columns, never rows.",
)

_INT_DIVISION = re.compile(rf"\b{CENTS}\b\s*/\s*\d+(?![\d.eE])", re.I)


def cents_upgrade(op: Operations) -> None:
    """The step exercise 3 rolls back: store amounts as whole cents instead of a float."""
    op.add_column("orders", sa.Column("total_cents", sa.BigInteger(), nullable=True))
    op.execute("UPDATE orders SET total_cents = ROUND(amount * 100)")
    op.drop_column("orders", "amount")


def check_cents_downgrade(downgrade_fn: Any, *, url: BaseURL = "sqlite://",
                          hint_level: int | None = None) -> Feedback:
    """Exercise 3: ``downgrade_fn(op)`` undoes :func:`cents_upgrade` without losing anything.

    Runs :func:`cents_upgrade` on a baseline shop, then the downgrade, and compares with the
    shop before: the same columns (``total_cents`` gone), ``amount`` a double-precision float
    again on every database (a plain ``FLOAT`` is single precision on MariaDB, ``NUMERIC`` is
    no float), the same rows, every amount identical; an integer division that only this
    database forgives is named.
    """

    def body(report: Report) -> None:
        with shop(url, "shopmig_ex3") as conn:
            ran = dialect_of(conn)
            report.ran_on = ran_on_text(ran)
            before = table_snapshot(conn)
            before_cols = columns(conn)
            run_op(EXERCISE, conn, cents_upgrade, ran_on=report.ran_on)
            upgraded_cols = columns(conn)
            log = run_op(EXERCISE, conn, downgrade_fn, ran_on=report.ran_on,
                         hint_level=hint_level)
            cols = columns(conn)
            after = table_snapshot(conn)
        if not did_something(log) and list(cols) == list(upgraded_cols):
            report.wrong("your function ran but changed nothing in the database.", NOTHING_RAN)
            return
        judge(report, ran, before, after, before_cols, cols, log)

    return guard(EXERCISE, body, hint_level=hint_level)


def judge(report: Report, ran: Any, before: pd.DataFrame, after: pd.DataFrame,
          before_cols: dict[str, dict[str, Any]], cols: dict[str, dict[str, Any]],
          log: Log) -> None:
    """Judge the table the downgrade left against the shop before the upgrade."""
    if CENTS in cols:
        report.wrong("total_cents is still there.", KEEPS_CENTS)
    amount = cols.get(AMOUNT)
    if amount is None:
        report.wrong("orders has no amount column after the downgrade.", NO_AMOUNT)
        return
    if list(cols) == list(before_cols):
        report.right(f"the columns are the baseline's again ({', '.join(cols)}).")
    declared = log.declared.get(AMOUNT, amount["type"])
    rules.check_double(report, AMOUNT, declared, before_cols[AMOUNT]["type"])
    result = verify(before, after.drop(columns=[CENTS], errors="ignore"))
    if not result.missing.empty or not result.unexpected.empty:
        report.wrong(f"rows were lost or added: {result.summary()}.", ROWS)
    sql = " ".join(s.sql for s in log)
    divides = _INT_DIVISION.search(sql)
    changed = result.changed[result.changed["column"] == AMOUNT]
    if changed.empty:
        report.right(f"all {len(before):,} amounts are back, to the cent.")
        truncating = rules.truncating(ran)
        if divides and truncating:
            report.wrong(f"{divides.group(0)} divides a whole number by a whole number: "
                         f"{rules.labels(truncating)} would cut the cents off (48.15 would "
                         f"come back as 48); {ran.label} divides it as a decimal.",
                         INTEGER_DIVISION)
        return
    lost = changed["after"].isna()
    if lost.all():
        report.wrong(f"{plural(len(changed), 'amount')} came back empty (NULL): the values "
                     "in total_cents were dropped, not copied back.", EMPTY_AMOUNTS)
        return
    first = changed.iloc[0]
    example = f"{first['key']}: {first['before']} came back as {first['after']}"
    truncated = all(float(a) == int(float(b) * 100) // 100
                    for b, a in zip(changed["before"], changed["after"], strict=True)
                    if not pd.isna(a))
    report.wrong(f"{plural(len(changed), 'amount')} changed ({example}).",
                 INTEGER_DIVISION if truncated or divides else OFF_AMOUNTS)
