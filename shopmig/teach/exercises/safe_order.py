"""Exercise 5: the safe order of steps for a big, busy PostgreSQL ``orders`` table.

The plan is *run*, not only read: on a PostgreSQL server when the notebook's ``DATABASE_URL``
is one (each step its own transaction, ``CONCURRENTLY`` outside any, on a scratch shop), and
otherwise through :class:`PlanState`, a model of what PostgreSQL does with each step (which
step it refuses, with PostgreSQL's own error). Then the goal is checked on the result and
:func:`shopmig.lint_sql` judges every statement for a 10-million-row table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from shopmig.dialects import dialect_class, dialect_for
from shopmig.lint import lint_sql
from shopmig.migrate import steps
from shopmig.teach.exercises.feedback import Feedback, Report, ladder
from shopmig.teach.exercises.running import BaseURL, call, first_line, guard, shop

EXERCISE = "Exercise 5 · the safe order for a big table"

#: The database the plan's statements are written for.
PLAN_DATABASE = "postgresql"

_CHECK_VALUES = ", ".join(f"'{v}'" for v in steps.STATUS_VALUES)

#: The steps exercise 5 chooses from: name -> the PostgreSQL statement it runs.
STEP_CHOICES: dict[str, str] = {
    "set_lock_timeout": "SET lock_timeout = '2s'",
    "add_status": "ALTER TABLE orders ADD COLUMN status varchar(16) DEFAULT 'pending' NOT NULL",
    "add_status_nullable": "ALTER TABLE orders ADD COLUMN status varchar(16)",
    "backfill_status": "UPDATE orders SET status = 'pending'",
    "set_status_not_null": "ALTER TABLE orders ALTER COLUMN status SET NOT NULL",
    "add_check": f"ALTER TABLE orders ADD CONSTRAINT ck_orders_status CHECK (status IN "
                 f"({_CHECK_VALUES}))",
    "add_check_not_valid": f"ALTER TABLE orders ADD CONSTRAINT ck_orders_status CHECK (status "
                           f"IN ({_CHECK_VALUES})) NOT VALID",
    "validate_check": "ALTER TABLE orders VALIDATE CONSTRAINT ck_orders_status",
    "create_index": "CREATE INDEX ix_orders_status ON orders (status)",
    "create_index_concurrently": "CREATE INDEX CONCURRENTLY ix_orders_status ON orders (status)",
}

BIG_TABLE_ROWS = 10_000_000

NOT_A_LIST = ladder(
    "Return a list of step names (strings), in the order to run them: the names are the "
    "keys of exercises.STEP_CHOICES.",
)
EMPTY = ladder(
    "An empty plan changes nothing: the goal has three parts, each needs a step.",
)
UNKNOWN = ladder(
    "Every name must be a key of exercises.STEP_CHOICES (the table above): check the "
    "spelling.",
)
TWICE = ladder(
    "PostgreSQL refused a step: it creates something that is already there.",
    "Each thing is created once: two of your steps create the same thing, keep one.",
)
TOO_EARLY = ladder(
    "PostgreSQL refused a step: it works on something that does not exist yet.",
    "Each step must come after the step that creates what it needs.",
)
NULLS_LEFT = ladder(
    "PostgreSQL refused to forbid NULL: rows still hold NULL at that point.",
    "Either fill the column before forbidding NULL, or add it in a way that never leaves a "
    "NULL behind.",
)
NO_COLUMN = ladder(
    "The goal has three parts: the status column, a validated CHECK, an index on status. The "
    "column is missing.",
)
NO_CHECK = ladder(
    "The goal has three parts: the status column, a validated CHECK, an index on status. No "
    "step adds the CHECK.",
)
NO_INDEX = ladder(
    "The goal has three parts: the status column, a validated CHECK, an index on status. No "
    "step builds the index.",
)
NOT_VALIDATED = ladder(
    "A NOT VALID constraint checks new and updated rows only; the existing rows are never "
    "checked.",
    "One of the choices checks the existing rows while writes go on: run it once the "
    "constraint exists.",
)
NULLABLE = ladder(
    "The goal is a status column that never holds NULL.",
    "Look at the difference between the two ways to add the column.",
)
NO_DEFAULT = ladder(
    "New orders must get 'pending' when an INSERT does not name status: the column needs a "
    "default.",
    "Only one of the ways to add the column gives it a default.",
)
_DANGER_NUDGES: dict[str, tuple[str, ...]] = {
    "check-not-valid": ladder("Adding a CHECK this way checks all 10 million rows while reads "
                              "and writes wait."),
    "index-not-concurrent": ladder("Building the index this way blocks writes for the whole "
                                   "build."),
    "table-rewrite": ladder("Writing every row in one statement holds every row's lock until "
                            "it commits, and PostgreSQL writes a new version of each row."),
    "not-null-without-check": ladder("SET NOT NULL reads the whole table while reads and "
                                     "writes wait."),
}


# ------------------------------------------------------------------ a model of PostgreSQL


@dataclass
class PlanState:
    """What the table looks like after each step, by PostgreSQL's rules; :meth:`apply`
    returns the error PostgreSQL would give for a step (None when it runs)."""

    column: bool = False
    nullable: bool = True
    default: bool = False
    nulls: bool = False
    check: bool = False
    check_valid: bool = False
    index: bool = False
    notes: list[str] = field(default_factory=list)

    def apply(self, step: str) -> str | None:
        """Apply one step of :data:`STEP_CHOICES`; PostgreSQL's error, or None."""
        status = f'column "{steps.STATUS}"'
        if step in ("add_status", "add_status_nullable"):
            if self.column:
                return f'{status} of relation "orders" already exists'
            self.column = True
            self.default = step == "add_status"
            self.nullable = step != "add_status"
            self.nulls = step != "add_status"
            return None
        if step == "set_lock_timeout":
            return None
        if not self.column:
            return f"{status} does not exist"
        if step == "backfill_status":
            self.nulls = False
        elif step == "set_status_not_null":
            if self.nulls:
                return f'{status} of relation "orders" contains null values'
            self.nullable = False
        elif step in ("add_check", "add_check_not_valid"):
            if self.check:
                return f'constraint "{steps.CHECK_NAME}" for relation "orders" already exists'
            self.check = True
            self.check_valid = step == "add_check"
        elif step == "validate_check":
            if not self.check:
                return f'constraint "{steps.CHECK_NAME}" of relation "orders" does not exist'
            self.check_valid = True
        elif step in ("create_index", "create_index_concurrently"):
            if self.index:
                return f'relation "{steps.INDEX_NAME}" already exists'
            self.index = True
        return None


def _hints_for(error: str) -> tuple[str, ...]:
    if "already exists" in error:
        return TWICE
    if "null values" in error:
        return NULLS_LEFT
    return TOO_EARLY


# ------------------------------------------------------------------ running on PostgreSQL


def _read_state(conn: Connection) -> PlanState:
    """The :class:`PlanState` a real PostgreSQL table is in."""
    insp = sa.inspect(conn)
    cols = {c["name"]: c for c in insp.get_columns(steps.TABLE)}
    state = PlanState()
    column = cols.get(steps.STATUS)
    if column is not None:
        state.column = True
        state.nullable = bool(column["nullable"])
        state.default = column.get("default") is not None
        t = sa.table(steps.TABLE, sa.column(steps.STATUS))
        state.nulls = bool(conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c[steps.STATUS].is_(None))).scalar())
    checks = {c.get("name") for c in insp.get_check_constraints(steps.TABLE)}
    if steps.CHECK_NAME in checks:
        state.check = True
        state.check_valid = bool(conn.execute(sa.text(
            "SELECT convalidated FROM pg_constraint WHERE conname = :name"),
            {"name": steps.CHECK_NAME}).scalar())
    state.index = steps.INDEX_NAME in {i.get("name") for i in insp.get_indexes(steps.TABLE)}
    return state


def _run_on_server(url: BaseURL, order: Sequence[str]) -> tuple[PlanState, str | None, str,
                                                                   str]:
    """Run the plan on a scratch shop on the PostgreSQL server at ``url``: (state after, the
    step refused or None, its error, the server's label)."""
    with shop(url, "shopmig_ex5") as conn:
        label = dialect_for(conn).server_label
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        refused, error = None, ""
        for step in order:
            try:
                auto.exec_driver_sql(STEP_CHOICES[step])
            except DBAPIError as exc:
                refused, error = step, first_line(str(exc.orig))
                break
        state = _read_state(auto)
    return state, refused, error, label


def _runs_on_server(url: BaseURL | None) -> bool:
    if url is None:
        return False
    return type(dialect_for(url)) is dialect_class(PLAN_DATABASE)


# ------------------------------------------------------------------ the check


def check_safe_order(order_fn: Any, *, url: BaseURL | None = None,
                     hint_level: int | None = None) -> Feedback:
    """Exercise 5: ``order_fn()`` returns step names from :data:`STEP_CHOICES`, in order.

    The plan is for a PostgreSQL ``orders`` table of :data:`BIG_TABLE_ROWS` rows taking writes.
    It is run (on the PostgreSQL server at ``url`` when it is one, else step by step through
    PostgreSQL's rules, :class:`PlanState`) and must end with ``status`` NOT NULL with the
    default 'pending', a validated CHECK and an index on it; :func:`shopmig.lint_sql` must
    find no step that makes writes wait for a time that grows with the table. A plan whose DDL
    runs without a lock timeout is correct but gets a note.
    """
    def body(report: Report) -> None:
        order = call(EXERCISE, order_fn, hint_level=hint_level)
        if isinstance(order, list | tuple) and not order:
            report.wrong("the plan is empty.", EMPTY)
            return
        if not isinstance(order, list | tuple) or not all(isinstance(s, str) for s in order):
            report.wrong(f"expected a list of step names, got {type(order).__name__} "
                         f"{order!r:.60}.", NOT_A_LIST)
            return
        _judge_order(report, list(order), url)

    return guard(EXERCISE, body, hint_level=hint_level)


def _judge_order(report: Report, order: list[str], url: BaseURL | None) -> None:
    unknown = [s for s in order if s not in STEP_CHOICES]
    if unknown:
        report.wrong(f"unknown step {unknown[0]!r}.", UNKNOWN)
        return
    if _runs_on_server(url):
        assert url is not None
        state, refused, error, label = _run_on_server(url, order)
        report.ran_on = f"ran on {label}, on a scratch shop"
    else:
        state, refused, error = PlanState(), None, ""
        for step in order:
            error = state.apply(step) or ""
            if error:
                refused = step
                break
        report.ran_on = ("run step by step through PostgreSQL's rules (set DATABASE_URL to a "
                         "PostgreSQL server to run it there)")
    if refused is not None:
        number = order.index(refused) + 1
        report.wrong(f"step {number}, {refused}, is refused by PostgreSQL: ERROR: {error}.",
                     _hints_for(error))
        return
    report.right("PostgreSQL runs every step, each after what it needs.")
    _judge_goal(report, state)
    if report.failed:
        return
    _judge_lint(report, order)


def _judge_goal(report: Report, state: PlanState) -> None:
    if not state.column:
        report.wrong("the plan never creates the status column.", NO_COLUMN)
        return
    if state.nullable:
        report.wrong("status still allows NULL at the end.", NULLABLE)
    if not state.default:
        report.wrong("status has no default: a new order inserted without a status is "
                     "refused.", NO_DEFAULT)
    if not state.check:
        report.wrong("the plan never adds the CHECK constraint.", NO_CHECK)
    elif not state.check_valid:
        report.wrong("the CHECK is added NOT VALID but never validated: existing rows are not "
                     "checked.", NOT_VALIDATED)
    if not state.index:
        report.wrong("the plan never builds the index on status.", NO_INDEX)
    if not report.failed:
        report.right("the end state is the goal: status NOT NULL with 'pending' as its "
                     "default, a validated CHECK, an index on status.")


def _judge_lint(report: Report, order: list[str]) -> None:
    sql = ";\n".join(STEP_CHOICES[s] for s in order)
    findings = lint_sql(sql, PLAN_DATABASE, rows=BIG_TABLE_ROWS)
    by_statement = {" ".join(v.split()): k for k, v in STEP_CHOICES.items()}
    dangers = [f for f in findings if f.severity == "danger"]
    for finding in dangers:
        step = by_statement.get(finding.statement, "a step")
        nudge = _DANGER_NUDGES.get(finding.rule, (finding.message,))
        report.wrong(f"{step}: {finding.message}", (*nudge, finding.fix))
    if not dangers:
        report.right(f"on {BIG_TABLE_ROWS:,} rows no step makes writes wait for a time that "
                     "grows with the table (shopmig.lint_sql finds nothing dangerous).")
    waits = [f for f in findings if f.rule == "no-lock-timeout"]
    if waits:
        step = by_statement.get(waits[0].statement, "a step")
        report.note(f"shopmig.lint_sql warns about {step}: {waits[0].message} On the real "
                    f"table, set a lock timeout before the first DDL and retry on timeout "
                    f"({waits[0].fix})")
