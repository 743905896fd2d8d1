"""Exercise 4: ``verify`` expectations that pass on a correct run and catch planted bugs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic.operations import Operations
from sqlalchemy.engine import Connection

from shopmig.errors import ShopmigError
from shopmig.migrate import steps
from shopmig.teach.exercises.feedback import Feedback, Report, ladder
from shopmig.teach.exercises.running import (
    BaseURL,
    call,
    dialect_of,
    guard,
    plural,
    ran_on_text,
    run_op,
    shop,
    table_snapshot,
)
from shopmig.verification.api import snapshot, verify

EXERCISE = "Exercise 4 · expectations that catch a bug"
CURRENCY = "currency"
NEW_COLUMNS = (steps.STATUS, CURRENCY)

#: The bugs planted in two otherwise correct runs: (column, wrong value, which orders).
PLANTED: tuple[tuple[str, str, str], ...] = (
    (CURRENCY, "USD", "amount > 400"),
    (steps.STATUS, "cancelled", "order_id LIKE '%13'"),
)

NOT_A_FUNCTION_RESULT = ladder(
    "Your function must return the expectations: a dict such as {\"column\": value, ...}.",
)
NOT_A_DICT = ladder(
    "Return a dict: each key a column name, each value what every pre-existing row must "
    'hold in that column, like {"column": value, ...}.',
)
COLLECTION = ladder(
    "An expectation is one value per column: the value every pre-existing row must hold. A "
    "list, set or dict is many values.",
    "Which single value must every existing order hold in each new column? The task says.",
)
EMPTY = ladder(
    "With no expectations verify compares only the columns both sides had, so a bug in a new "
    "column goes unnoticed.",
    "Expect a value for each column the migration adds: the task names them.",
)
UNKNOWN = ladder(
    "Expect values for the columns the migration adds: check the names against the task.",
)
SHARED = ladder(
    "verify already compares the columns both sides had, value by value; an expectation "
    "is for the columns the migration adds.",
)
MISSING = ladder(
    "Every column the migration adds needs an expectation: a bug in a column without one "
    "slips through.",
    "The task names two new columns: look for the one your expectations leave out.",
)
FALSE_ALARM = ladder(
    "A correct run must pass: compare the value you expect with what a correct migration "
    "gives every existing order.",
    "Values compare exactly: spelling and upper/lower case count.",
)
UNUSABLE = ladder(
    "verify could not use this value: give one plain value (text or a number) per column.",
)


def two_column_step(op: Operations) -> None:
    """Exercise 4's migration: status and currency, with server defaults."""
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=False,
                                      server_default="pending"))
    op.add_column("orders", sa.Column("currency", sa.String(3), nullable=False,
                                      server_default="EUR"))


def _plant(conn: Connection, column: str, value: str, where: str) -> pd.DataFrame:
    """The table with one planted bug, ``column = value`` where ``where`` holds; the change
    is rolled back once the table is read."""
    t = sa.table(steps.TABLE, sa.column(column))
    trans = conn.begin()
    try:
        conn.execute(sa.update(t).where(sa.text(where)).values({column: value}))
        return snapshot(conn)
    finally:
        trans.rollback()


def _plain(value: object) -> object:
    """A NumPy scalar as the Python value it holds (so ``1``, not ``np.int64(1)``)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def check_expectations(expect_fn: Any, *, url: BaseURL = "sqlite://",
                       hint_level: int | None = None) -> Feedback:
    """Exercise 4: ``expect_fn()`` returns the ``expect=`` mapping for :func:`shopmig.verify`.

    The migration adds ``status`` (every existing order ``'pending'``) and ``currency`` (every
    existing order was paid in euros, ``'EUR'``). The expectations must pass on a correct run
    (no false alarm) and catch each of two planted bugs, one in each new column, naming
    exactly the damaged orders. Any value gets an answer, never a traceback.
    """

    def body(report: Report) -> None:
        expect = call(EXERCISE, expect_fn, hint_level=hint_level)
        if expect is None:
            report.wrong("your function returned nothing (None).", NOT_A_FUNCTION_RESULT)
            return
        if not isinstance(expect, Mapping) or not all(isinstance(k, str) for k in expect):
            report.wrong(f"expected a dict of column name to value, got "
                         f"{type(expect).__name__}.", NOT_A_DICT)
            return
        expect = dict(expect)
        collections = {k: v for k, v in expect.items() if not _is_scalar(v)}
        if collections:
            column, value = next(iter(collections.items()))
            report.wrong(f"the expectation for {column!r} is a {type(value).__name__} "
                         f"({value!r:.60}), not one plain value.", COLLECTION)
            return
        nan = [k for k, v in expect.items() if isinstance(v, float) and math.isnan(v)]
        if nan:
            report.wrong(f"the expectation for {nan[0]!r} is NaN, which equals nothing.",
                         COLLECTION)
            return
        with shop(url, "shopmig_ex4") as conn:
            report.ran_on = ran_on_text(dialect_of(conn))
            before = table_snapshot(conn)
            run_op(EXERCISE, conn, two_column_step, ran_on=report.ran_on)
            good = table_snapshot(conn)
            bad = [(column, _plant(conn, column, value, where))
                   for column, value, where in PLANTED]
        judge(report, expect, before, good, bad)

    return guard(EXERCISE, body, hint_level=hint_level)


def judge(report: Report, expect: dict[str, Any], before: pd.DataFrame, good: pd.DataFrame,
          bad: list[tuple[str, pd.DataFrame]]) -> None:
    """Judge ``expect`` on the correct run (``good``) and on each planted bug (``bad``)."""
    added = [c for c in good.columns if c not in before.columns]
    if not expect:
        report.wrong("no expectations: verify compares only the columns both sides have, so "
                     "a bug in a new column goes unnoticed.", EMPTY)
        return
    unknown = [c for c in expect if c not in good.columns]
    if unknown:
        report.wrong(f"orders has no column {', '.join(map(repr, unknown))} after the "
                     "migration.", UNKNOWN)
        return
    shared = [c for c in expect if c in before.columns]
    if shared:
        report.wrong(f"{', '.join(shared)} existed before the migration: verify already "
                     "compares it value by value, an expectation cannot be right for every "
                     "row.", SHARED)
        return
    try:
        on_good = verify(before, good, expect=expect)
        on_bad = [(column, frame, verify(before, frame, expect=expect))
                  for column, frame in bad]
    except (ShopmigError, ValueError, TypeError) as exc:
        report.wrong(f"verify could not use these expectations: {exc}", UNUSABLE)
        return
    for column in added:
        if column not in expect:
            report.wrong(f"no expectation for {column}: it is a column the migration adds.",
                         MISSING)
    if on_good.ok:
        report.right("no false alarm: a correct migration passes.")
    else:
        failures = on_good.expectation_failures
        fail = failures.iloc[0]
        report.wrong(f"false alarm: on a correct migration {plural(len(failures), 'row')} fail "
                     f"(e.g. {fail['column']} expected {_plain(fail['expected'])!r}, got "
                     f"{_plain(fail['actual'])!r}).", FALSE_ALARM)
        return
    for column, frame, result in on_bad:
        damaged = sorted(frame.loc[frame[column] != good[column], steps.KEY])
        caught = sorted(set(result.expectation_failures["key"]))
        if caught == damaged:
            report.right(f"the bug planted in {column} is caught: exactly the "
                         f"{len(damaged):,} damaged orders are named.")
        else:  # no false alarm, so a miss means no expectation on that column
            report.wrong(f"the bug planted in {column} slipped through: "
                         f"{plural(len(damaged), 'order')} have a wrong {column} and verify "
                         f"names {len(caught):,} of them.", MISSING)
