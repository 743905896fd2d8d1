"""Exercises with automatic feedback for the training track (``notebooks/exercises/``).

Each ``check_*`` function takes the learner's answer (a small Python function), runs it on a
fresh scratch database made for the check alone (in-memory SQLite by default, or a database
named ``shopmig_ex<N>`` next to ``url``), inspects what it did (schema, data, the SQL it ran,
:func:`shopmig.lint_sql` findings, whether the table was copied) and answers with a
:class:`Feedback`: what is right, what is wrong and one hint, in plain words. A learner's
exception never escapes as a traceback: it is explained. An answer not written yet (it raises
``NotImplementedError`` or returns ``...``/``None``) is "not done yet" (``done=False``).

The exercises:

1. :func:`check_shipped_at` -- add a nullable ``shipped_at`` and backfill it from ``status``.
2. :func:`check_fast_status` -- fix a step that writes every row to add ``status``.
3. :func:`check_cents_downgrade` -- the downgrade of :func:`cents_upgrade` that loses nothing.
4. :func:`check_expectations` -- ``verify`` expectations that catch a planted data bug.
5. :func:`check_safe_order` -- the safe order of steps for a big PostgreSQL table.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from shopmig.demo import make_demo_shop
from shopmig.lint import lint_sql
from shopmig.migrate import steps
from shopmig.migrate.core import upgrade
from shopmig.scratch import drop_scratch, scratch_database
from shopmig.verification.api import VerifyResult, snapshot, verify

__all__ = [
    "BIG_TABLE_ROWS",
    "EXERCISE_ROWS",
    "STEP_CHOICES",
    "Feedback",
    "cents_upgrade",
    "check_cents_downgrade",
    "check_expectations",
    "check_fast_status",
    "check_safe_order",
    "check_shipped_at",
    "slow_add_status",
    "summary",
]

#: Rows in each exercise's demo shop (small enough to be instant, big enough to count).
EXERCISE_ROWS = 2_000

BaseURL = str | URL | Engine
"""Where the scratch databases go: a URL (``sqlite://`` by default) or an engine whose URL."""

RIGHT = "✓"
WRONG = "✗"
NOT_DONE_HINT = ("Write your answer in the “your turn” cell above (replace the "
                 "`raise NotImplementedError`), run that cell, then run this check again.")


# ------------------------------------------------------------------ the feedback value


@dataclass(frozen=True)
class Feedback:
    """What a check found: ``ok`` (the answer is right), ``done`` (there is an answer at all),
    ``messages`` (one sentence per finding, starting with ✓ or ✗) and ``hint`` (the next thing
    to try, or None when the answer is right). ``exercise`` names the exercise.

    Shown as coloured HTML in a notebook and as plain text elsewhere (``str(feedback)``).
    """

    ok: bool
    done: bool
    messages: list[str] = field(default_factory=list)
    hint: str | None = None
    exercise: str = ""

    @property
    def status(self) -> str:
        """``correct``, ``not right yet`` or ``not done yet``."""
        if not self.done:
            return "not done yet"
        return "correct" if self.ok else "not right yet"

    def headline(self) -> str:
        """One line: the exercise and its status."""
        prefix = f"{self.exercise}: " if self.exercise else ""
        return f"{prefix}{self.status}"

    def __str__(self) -> str:
        lines = [self.headline(), *(f"  {m}" for m in self.messages)]
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's plain-text view: the same text as ``str()``."""
        p.text(str(self))

    def _repr_html_(self) -> str:
        colour = {"correct": "#1a7f37", "not right yet": "#cf222e"}.get(self.status, "#9a6700")
        items = "".join(f"<li>{html.escape(m)}</li>" for m in self.messages)
        body = (f"<div style='border-left:4px solid {colour};padding-left:8px'>"
                f"<p style='color:{colour};font-weight:bold'>{html.escape(self.headline())}</p>")
        if items:
            body += f"<ul style='list-style:none;padding-left:0'>{items}</ul>"
        if self.hint:
            body += f"<p><b>Hint:</b> {html.escape(self.hint)}</p>"
        return body + "</div>"

    def to_dict(self) -> dict[str, object]:
        """The feedback as a plain dict (for JSON)."""
        return {"exercise": self.exercise, "ok": self.ok, "done": self.done,
                "status": self.status, "messages": list(self.messages), "hint": self.hint}


def summary(feedbacks: Sequence[Feedback]) -> pd.DataFrame:
    """One row per exercise: its name, status and hint (a progress table for the notebook)."""
    return pd.DataFrame(
        {"exercise": [f.exercise for f in feedbacks],
         "status": [f.status for f in feedbacks],
         "hint": [f.hint or "" for f in feedbacks]}
    )


class _Report:
    """Collects ✓/✗ messages and the first hint while a check runs."""

    def __init__(self, exercise: str) -> None:
        self.exercise = exercise
        self.messages: list[str] = []
        self.hints: list[str] = []
        self.failed = False

    def right(self, message: str) -> None:
        self.messages.append(f"{RIGHT} {message}")

    def wrong(self, message: str, hint: str | None = None) -> None:
        self.failed = True
        self.messages.append(f"{WRONG} {message}")
        if hint and hint not in self.hints:
            self.hints.append(hint)

    def feedback(self) -> Feedback:
        return Feedback(ok=not self.failed, done=True, messages=self.messages,
                        hint=self.hints[0] if self.hints else None, exercise=self.exercise)


def _not_done(exercise: str, why: str = "there is no answer yet.") -> Feedback:
    return Feedback(ok=False, done=False, messages=[why], hint=NOT_DONE_HINT, exercise=exercise)


# ------------------------------------------------------------------ running learner code


class _NotDone(Exception):
    """The learner's answer is still the placeholder."""


class _Failed(Exception):
    """The learner's answer raised; ``feedback`` explains it."""

    def __init__(self, feedback: Feedback) -> None:
        super().__init__(feedback.headline())
        self.feedback = feedback


_ERROR_HINTS: list[tuple[str, str]] = [
    ("non-constant default",
     "SQLite can only ADD COLUMN with a constant default (not CURRENT_TIMESTAMP, not an "
     "expression): add the column without a default, then fill it with an UPDATE."),
    ("cannot add a not null column",
     "A NOT NULL column needs a constant server default to be added to a table that has rows; "
     "a column that may be empty must be nullable=True."),
    ("duplicate column", "That column already exists: add it once."),
    ("already exists", "That object already exists: create it once."),
    ("no such column",
     "A statement names a column that is not there (yet, or any more): check the names and the "
     "order of your steps."),
    ("unknown column",
     "A statement names a column that is not there (yet, or any more): check the names and the "
     "order of your steps."),
    ("does not exist",
     "A statement names something that is not there (yet, or any more): check the names and "
     "the order of your steps."),
    ("no such table", "The table is called orders: check the table name."),
    ('near "alter": syntax error',
     "SQLite cannot ALTER COLUMN: give the column its final form when you add it (for a NOT "
     "NULL column: nullable=False with a constant server_default)."),
    ("alter of constraints",
     "SQLite cannot ALTER a column in place: add a new column instead (op.add_column)."),
    ("syntax error", "The database could not parse the SQL: check it statement by statement."),
]


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def _explain(exercise: str, exc: BaseException) -> Feedback:
    """A :class:`Feedback` explaining an exception the learner's answer raised."""
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    kind = type(orig or exc).__name__
    text = _first_line(str(orig if orig is not None else exc)) or "(no message)"
    message = f"your function raised {kind}: {text}"
    statement = getattr(exc, "statement", None) if isinstance(exc, DBAPIError) else None
    if statement:
        shown = " ".join(str(statement).split())
        message += f" (in: {shown[:160]}{'...' if len(shown) > 160 else ''})"
    lowered = f"{kind}: {text}".lower()
    hint = next((h for needle, h in _ERROR_HINTS if needle in lowered), None)
    if hint is None and isinstance(exc, TypeError) and "argument" in lowered:
        hint = "Check the function's arguments: it is called with exactly what the task says."
    if hint is None and isinstance(exc, NameError):
        hint = ("A name is not defined in your function: import it (e.g. `import sqlalchemy "
                "as sa`) or check the spelling.")
    if hint is None:
        hint = ("Everything your function did was rolled back; fix what the error names and "
                "run the check again.")
    return Feedback(ok=False, done=True, messages=[f"{WRONG} {message}"], hint=hint,
                    exercise=exercise)


def _innermost_code(tb: TracebackType | None) -> Any:
    code = None
    while tb is not None:
        code = tb.tb_frame.f_code
        tb = tb.tb_next
    return code


def _is_placeholder(exc: BaseException, fn: Callable[..., Any]) -> bool:
    """True for the learner version's own ``raise NotImplementedError("your turn")``."""
    if not isinstance(exc, NotImplementedError):
        return False
    own = _innermost_code(exc.__traceback__) is getattr(fn, "__code__", None)
    return own or "your turn" in str(exc).lower()


def _call(exercise: str, fn: Any, *args: Any) -> Any:
    """Call the learner's ``fn``; raise :class:`_NotDone` or :class:`_Failed` with feedback."""
    if fn is None or fn is Ellipsis:
        raise _NotDone
    if not callable(fn):
        raise _Failed(Feedback(
            ok=False, done=True, exercise=exercise,
            messages=[f"{WRONG} expected a function, got {type(fn).__name__} {fn!r:.60}"],
            hint="Pass the function itself (its name without parentheses) to the check."))
    try:
        result = fn(*args)
    except Exception as exc:
        if _is_placeholder(exc, fn):
            raise _NotDone from None
        raise _Failed(_explain(exercise, exc)) from None
    if result is Ellipsis:
        raise _NotDone
    return result


@dataclass
class _Statement:
    sql: str
    rowcount: int


@contextlib.contextmanager
def _capture(conn: Connection) -> Iterator[list[_Statement]]:
    """Record every statement run on ``conn`` with the rows it touched."""
    log: list[_Statement] = []

    def after(_conn: Any, cursor: Any, statement: str, _params: Any, _ctx: Any,
              _many: bool) -> None:
        count = getattr(cursor, "rowcount", -1)
        log.append(_Statement(statement, count if isinstance(count, int) else -1))

    event.listen(conn, "after_cursor_execute", after)
    try:
        yield log
    finally:
        event.remove(conn, "after_cursor_execute", after)


_UPDATE_ORDERS = re.compile(r"^\s*(?:UPDATE|DELETE\s+FROM)\s+[\"`]?orders\b", re.I)
_BOOKKEEPING = re.compile(r"^\s*(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SELECT|PRAGMA|SHOW)\b",
                          re.I)


def _rows_written(log: Sequence[_Statement]) -> int:
    """Rows of ``orders`` changed in place by UPDATE/DELETE statements (not table copies)."""
    return sum(max(s.rowcount, 0) for s in log if _UPDATE_ORDERS.match(s.sql))


def _did_something(log: Sequence[_Statement]) -> bool:
    """True when the log holds a statement other than transaction bookkeeping and reads."""
    return any(not _BOOKKEEPING.match(s.sql) for s in log)


def _run_op(exercise: str, conn: Connection, fn: Any) -> list[_Statement]:
    """Run ``fn(op)`` in one transaction on ``conn`` (rolled back if it raises)."""
    with _capture(conn) as log:
        try:
            with conn.begin():
                op = Operations(MigrationContext.configure(conn))
                _call(exercise, fn, op)
        except (_NotDone, _Failed):
            raise
        except Exception as exc:  # the COMMIT itself failed
            raise _Failed(_explain(exercise, exc)) from None
    return log


@contextlib.contextmanager
def _shop(url: BaseURL, name: str, *, revision: str | None = None) -> Iterator[Connection]:
    """A fresh demo shop of :data:`EXERCISE_ROWS` orders in scratch database ``name``."""
    base = url.url if isinstance(url, Engine) else url
    engine = scratch_database(base, name)
    try:
        make_demo_shop(engine, rows=EXERCISE_ROWS, seed=42)
        if revision is not None:
            upgrade(engine, revision)
        with engine.connect() as conn:
            yield conn
    finally:
        drop_scratch(engine)


def _columns(conn: Connection) -> dict[str, dict[str, Any]]:
    try:
        return {c["name"]: c for c in sa.inspect(conn).get_columns(steps.TABLE)}
    finally:
        if conn.in_transaction():
            conn.rollback()


def _storage_id(conn: Connection) -> object:
    """Where the table's rows live: changes when the table is rebuilt (None if unknown)."""
    name = conn.dialect.name
    try:
        if name == "sqlite":
            sql = "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'orders'"
        elif name == "postgresql":
            sql = "SELECT relfilenode FROM pg_class WHERE oid = 'orders'::regclass"
        else:
            return None
        return conn.exec_driver_sql(sql).scalar()
    finally:
        if conn.in_transaction():
            conn.rollback()


def _snapshot(conn: Connection) -> pd.DataFrame:
    try:
        return snapshot(conn)
    finally:
        if conn.in_transaction():
            conn.rollback()


def _family(conn: Connection) -> str:
    return "mariadb" if conn.dialect.name in ("mysql", "mariadb") else conn.dialect.name


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _guard(exercise: str, body: Callable[[_Report], None]) -> Feedback:
    """Run a check body, turning the learner's placeholder or exception into feedback."""
    report = _Report(exercise)
    try:
        body(report)
    except _NotDone:
        return _not_done(exercise)
    except _Failed as failed:
        return failed.feedback
    return report.feedback()


# ------------------------------------------------------------------ exercise 1: shipped_at

SHIPPED = ("shipped", "delivered")


def _status_of(number: int) -> str:
    """The status the exercise shop gives order number ``number`` (deterministic)."""
    return {0: "shipped", 1: "shipped", 2: "delivered", 3: "cancelled", 4: "paid"}.get(
        number % 10, "pending")


def _set_statuses(conn: Connection) -> None:
    orders = sa.table(steps.TABLE, sa.column(steps.KEY), sa.column(steps.STATUS))
    keys = [f"ORD-{n:07d}" for n in range(1, EXERCISE_ROWS + 1)]
    rows = [{"k": k, "s": _status_of(n)} for n, k in enumerate(keys, start=1)
            if _status_of(n) != "pending"]
    stmt = (sa.update(orders).where(orders.c[steps.KEY] == sa.bindparam("k"))
            .values({steps.STATUS: sa.bindparam("s")}))
    with conn.begin():
        conn.execute(stmt, rows)


def check_shipped_at(upgrade_fn: Any, *, url: BaseURL = "sqlite://") -> Feedback:
    """Exercise 1: ``upgrade_fn(op)`` adds a nullable ``shipped_at`` timestamp and backfills it.

    Runs on a shop at head whose orders have mixed statuses: afterwards every ``shipped`` or
    ``delivered`` order must have a ``shipped_at``, every other order NULL, the column must be
    nullable with no default and hold a date/time type, and nothing else may change.
    """
    exercise = "Exercise 1 · shipped_at"

    def body(report: _Report) -> None:
        with _shop(url, "shopmig_ex1", revision="head") as conn:
            _set_statuses(conn)
            before = _snapshot(conn)
            log = _run_op(exercise, conn, upgrade_fn)
            columns = _columns(conn)
            after = _snapshot(conn)
        if not _did_something(log) and "shipped_at" not in columns:
            raise _NotDone
        _judge_shipped_at(report, before, after, columns)

    return _guard(exercise, body)


def _judge_shipped_at(report: _Report, before: pd.DataFrame, after: pd.DataFrame,
                      columns: dict[str, dict[str, Any]]) -> None:
    column = columns.get("shipped_at")
    if column is None:
        report.wrong("orders has no shipped_at column.",
                     "Start with op.add_column(\"orders\", sa.Column(\"shipped_at\", "
                     "sa.DateTime(), nullable=True)).")
        return
    report.right("orders has a shipped_at column.")
    if column["nullable"]:
        report.right("shipped_at is nullable: orders that have not shipped keep NULL.")
    else:
        report.wrong("shipped_at is NOT NULL, but a pending order has not shipped yet.",
                     "Make it nullable=True: NULL means “not shipped”.")
    if isinstance(column["type"], sa.DateTime | sa.Date):
        report.right(f"shipped_at holds dates and times ({column['type']}).")
    else:
        report.wrong(f"shipped_at is {column['type']}, not a date/time type.",
                     "Use sa.DateTime() so that times sort and compare as times.")
    default = column.get("default")
    if default is not None and str(default).strip().upper() != "NULL":
        report.wrong(f"shipped_at has a server default ({default}): every new order would "
                     "get a shipped time the moment it is placed.",
                     "Leave out server_default: new orders have not shipped.")
    shipped = before[steps.STATUS].isin(SHIPPED).to_numpy()
    stamped = after["shipped_at"].notna().to_numpy()
    n_shipped = int(shipped.sum())
    missing = shipped & ~stamped
    extra = ~shipped & stamped
    if not missing.any():
        report.right(f"all {n_shipped:,} shipped or delivered orders have a shipped_at.")
    else:
        statuses = sorted(set(before.loc[missing, steps.STATUS]))
        report.wrong(f"{_plural(int(missing.sum()), 'order')} with status "
                     f"{' or '.join(repr(s) for s in statuses)} have no shipped_at.",
                     "Delivered orders were shipped too: backfill WHERE status IN "
                     "('shipped', 'delivered')." if statuses == ["delivered"] else
                     "Backfill with op.execute(\"UPDATE orders SET shipped_at = "
                     "CURRENT_TIMESTAMP WHERE status IN ('shipped', 'delivered')\").")
    if not extra.any():
        report.right("orders that have not shipped (pending, paid, cancelled) kept NULL.")
    else:
        statuses = sorted(set(before.loc[extra, steps.STATUS]))
        report.wrong(f"{_plural(int(extra.sum()), 'order')} that never shipped "
                     f"({', '.join(statuses)}) got a shipped_at.",
                     "Restrict the backfill: UPDATE ... WHERE status IN ('shipped', "
                     "'delivered'); without a WHERE it stamps every order.")
    result = verify(before, after.drop(columns=["shipped_at"]))
    if result.ok:
        report.right("every other value is unchanged.")
    else:
        report.wrong(f"the migration changed existing data: {result.summary()}.",
                     "Only add and fill shipped_at: leave the other columns alone.")


# ------------------------------------------------------------------ exercise 2: fast status


def slow_add_status(op: Operations) -> None:
    """The step exercise 2 starts from: correct result, but it writes every row."""
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=True))
    op.execute("UPDATE orders SET status = 'pending'")


def check_fast_status(upgrade_fn: Any, *, url: BaseURL = "sqlite://") -> Feedback:
    """Exercise 2: ``upgrade_fn(op)`` adds ``status`` (NOT NULL, server default 'pending')
    without writing or copying a single row.

    Runs on a shop at the baseline and checks: every existing order reads ``pending``; a new
    order inserted without a status gets ``pending``; the column is NOT NULL; no statement
    wrote rows of ``orders``; the table was not rebuilt (SQLite ``rootpage``, PostgreSQL
    ``relfilenode``); :func:`shopmig.lint_sql` finds nothing dangerous in the SQL it ran.
    """
    exercise = "Exercise 2 · status without a rewrite"

    def body(report: _Report) -> None:
        with _shop(url, "shopmig_ex2") as conn:
            before = _snapshot(conn)
            storage = _storage_id(conn)
            log = _run_op(exercise, conn, upgrade_fn)
            columns = _columns(conn)
            after = _snapshot(conn)
            moved = storage is not None and _storage_id(conn) != storage
            new_status = _insert_probe(conn) if steps.STATUS in columns else None
            dialect = _family(conn)
        if not _did_something(log) and steps.STATUS not in columns:
            raise _NotDone
        _judge_fast_status(report, before, after, columns, log, moved, new_status, dialect)

    return _guard(exercise, body)


def _insert_probe(conn: Connection) -> object:
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


def _judge_fast_status(report: _Report, before: pd.DataFrame, after: pd.DataFrame,
                       columns: dict[str, dict[str, Any]], log: list[_Statement],
                       moved: bool, new_status: object, dialect: str) -> None:
    rows = len(before)
    written = _rows_written(log)
    fix = ("Look at how the default is set: op.add_column(\"orders\", sa.Column(\"status\", "
           "sa.String(16), nullable=False, server_default=\"pending\")) lets the database fill "
           "the existing rows without touching them, so no UPDATE is needed.")
    if moved:
        report.wrong(f"the table was rebuilt: all {rows:,} rows were copied into a new table "
                     "(its storage moved), while writes waited.",
                     "Do not recreate the table (op.batch_alter_table / recreate=\"always\"): a "
                     "plain op.add_column with a constant server_default only edits the schema.")
    else:
        report.right("the table was not rebuilt (its rows stayed where they were).")
    if written:
        report.wrong(f"this step wrote {_plural(written, 'row')} of orders (an UPDATE "
                     "backfill): on a big table that is one long transaction holding every "
                     "row's lock, and PostgreSQL writes a new copy of each row.", fix)
    else:
        report.right("no statement wrote rows of orders.")
    column = columns.get(steps.STATUS)
    if column is None:
        report.wrong("orders has no status column.", fix)
        return
    result = verify(before, after, expect={steps.STATUS: steps.STATUS_DEFAULT})
    failures = result.expectation_failures
    if failures.empty:
        report.right(f"all {rows:,} existing orders read 'pending'.")
    else:
        shown = failures["actual"].map(lambda v: "NULL" if pd.isna(v) else repr(v))
        report.wrong(f"{_plural(len(failures), 'existing order')} read {shown.iloc[0]} "
                     "instead of 'pending'.",
                     "default= is only used by SQLAlchemy for its own INSERTs (the seed's "
                     "mistake); the database never sees it. Use server_default=\"pending\".")
    if column["nullable"]:
        report.wrong("status allows NULL.", "Add it with nullable=False: with a server default "
                     "the existing rows are 'pending' at once, so NOT NULL costs nothing.")
    else:
        report.right("status is NOT NULL.")
    if isinstance(new_status, DBAPIError):
        report.wrong("a new order inserted without a status is refused: "
                     f"{_first_line(str(new_status.orig))}",
                     "Give the column server_default=\"pending\" so inserts that do not name "
                     "status still work.")
    elif new_status == steps.STATUS_DEFAULT:
        report.right("a new order inserted without a status gets 'pending'.")
    else:
        report.wrong(f"a new order inserted without a status gets "
                     f"{'NULL' if new_status is None else repr(new_status)}.",
                     "default= is only used by SQLAlchemy for its own INSERTs; the database "
                     "needs server_default=\"pending\".")
    changed = verify(before, after)
    if changed.missing.empty and changed.changed.empty and changed.unexpected.empty:
        report.right("every other value is unchanged.")
    else:
        report.wrong(f"existing data changed: {changed.summary()}.",
                     "Only add the column: leave the other data alone.")
    sql = ";\n".join(s.sql for s in log)
    for finding in lint_sql(sql, dialect, rows=rows, lock_timeout_s=2.0):
        if finding.rule == "table-rewrite" and (written or moved):
            continue  # already said above, with the measured numbers
        if finding.severity == "danger":
            report.wrong(f"lint ({finding.rule}): {finding.message}", finding.fix)


# ------------------------------------------------------------------ exercise 3: the downgrade


def cents_upgrade(op: Operations) -> None:
    """The step exercise 3 rolls back: store amounts as whole cents instead of a float."""
    op.add_column("orders", sa.Column("total_cents", sa.BigInteger(), nullable=True))
    op.execute("UPDATE orders SET total_cents = ROUND(amount * 100)")
    op.drop_column("orders", "amount")


def check_cents_downgrade(downgrade_fn: Any, *, url: BaseURL = "sqlite://") -> Feedback:
    """Exercise 3: ``downgrade_fn(op)`` undoes :func:`cents_upgrade` without losing anything.

    Runs :func:`cents_upgrade` on a baseline shop, then the downgrade, and compares with the
    shop before: the same columns (``amount`` a float again, ``total_cents`` gone), the same
    rows, every amount identical.
    """
    exercise = "Exercise 3 · a downgrade that loses nothing"

    def body(report: _Report) -> None:
        with _shop(url, "shopmig_ex3") as conn:
            before = _snapshot(conn)
            before_cols = _columns(conn)
            _run_op(exercise, conn, cents_upgrade)
            upgraded_cols = _columns(conn)
            log = _run_op(exercise, conn, downgrade_fn)
            columns = _columns(conn)
            after = _snapshot(conn)
        if not _did_something(log) and list(columns) == list(upgraded_cols):
            raise _NotDone
        _judge_cents(report, before, after, before_cols, columns)

    return _guard(exercise, body)


def _judge_cents(report: _Report, before: pd.DataFrame, after: pd.DataFrame,
                 before_cols: dict[str, dict[str, Any]],
                 columns: dict[str, dict[str, Any]]) -> None:
    if "total_cents" in columns:
        report.wrong("total_cents is still there.",
                     "After copying the values back into amount, drop it: "
                     "op.drop_column(\"orders\", \"total_cents\").")
    amount = columns.get("amount")
    if amount is None:
        report.wrong("orders has no amount column after the downgrade.",
                     "Add it back first: op.add_column(\"orders\", sa.Column(\"amount\", "
                     "sa.Double(), nullable=True)).")
        return
    if "total_cents" not in columns:
        report.right("the columns are the baseline's again (order_id, amount).")
    if isinstance(amount["type"], sa.Float | sa.Numeric) and not isinstance(
            amount["type"], sa.Integer):
        report.right(f"amount is a float again ({amount['type']}).")
    else:
        report.wrong(f"amount is {amount['type']} now; it was "
                     f"{before_cols['amount']['type']}.",
                     "Re-create it with the type it had: sa.Double() (a double-precision float).")
    result = verify(before, after.drop(columns=["total_cents"], errors="ignore"))
    if not result.missing.empty or not result.unexpected.empty:
        report.wrong(f"rows were lost or added: {result.summary()}.",
                     "A downgrade changes columns, never rows.")
    changed = result.changed[result.changed["column"] == "amount"]
    if changed.empty:
        report.right(f"all {len(before):,} amounts are back, to the cent.")
        return
    lost = changed["after"].isna()
    if lost.all():
        report.wrong(f"{_plural(len(changed), 'amount')} came back empty (NULL): the values "
                     "in total_cents were dropped, not copied back.",
                     "Add amount back (sa.Double()), copy before you drop: op.execute(\"UPDATE "
                     "orders SET amount = total_cents / 100.0\"), then drop total_cents.")
        return
    first = changed.iloc[0]
    example = f"{first['key']}: {first['before']} came back as {first['after']}"
    truncated = all(float(a) == int(float(b) * 100) // 100
                    for b, a in zip(changed["before"], changed["after"], strict=True)
                    if not pd.isna(a))
    report.wrong(f"{_plural(len(changed), 'amount')} changed ({example}).",
                 "total_cents / 100 is integer division (the cents are cut off): divide by "
                 "100.0." if truncated else
                 "Divide the cents by 100.0 to get the amount back exactly.")


# ------------------------------------------------------------------ exercise 4: expectations

PLANTED_CURRENCY = "USD"


def _two_column_step(op: Operations) -> None:
    """Exercise 4's migration: status and currency, with server defaults."""
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=False,
                                      server_default="pending"))
    op.add_column("orders", sa.Column("currency", sa.String(3), nullable=False,
                                      server_default="EUR"))


def check_expectations(expect_fn: Any, *, url: BaseURL = "sqlite://") -> Feedback:
    """Exercise 4: ``expect_fn()`` returns the ``expect=`` mapping for :func:`shopmig.verify`.

    The migration adds ``status`` (every existing order ``'pending'``) and ``currency`` (every
    existing order was paid in euros, ``'EUR'``). The expectations must pass on a correct run
    (no false alarm) and catch a run with a planted bug, naming exactly the damaged orders.
    """
    exercise = "Exercise 4 · expectations that catch a bug"

    def body(report: _Report) -> None:
        expect = _call(exercise, expect_fn)
        if expect is None:
            raise _NotDone
        if not isinstance(expect, dict) or not all(isinstance(k, str) for k in expect):
            report.wrong(f"expected a dict of column name to value, got "
                         f"{type(expect).__name__}.",
                         "Return something like {\"column\": value, ...}.")
            return
        with _shop(url, "shopmig_ex4") as conn:
            before = _snapshot(conn)
            _run_op(exercise, conn, _two_column_step)
            good = _snapshot(conn)
            with conn.begin():
                conn.execute(sa.text(
                    f"UPDATE orders SET currency = '{PLANTED_CURRENCY}' WHERE amount > 400"))
            bad = _snapshot(conn)
        _judge_expectations(report, expect, before, good, bad)

    return _guard(exercise, body)


def _judge_expectations(report: _Report, expect: dict[str, Any], before: pd.DataFrame,
                        good: pd.DataFrame, bad: pd.DataFrame) -> None:
    added = [c for c in good.columns if c not in before.columns]
    if not expect:
        report.wrong("no expectations: verify compares only the columns both sides have, so "
                     "a bug in a new column goes unnoticed.",
                     f"The migration adds {', '.join(added)}: expect a value for each.")
    unknown = [c for c in expect if c not in good.columns]
    shared = [c for c in expect if c in before.columns]
    if unknown:
        report.wrong(f"orders has no column {', '.join(map(repr, unknown))} after the "
                     "migration.", f"The migration adds {', '.join(added)}.")
        return
    if shared:
        report.wrong(f"{', '.join(shared)} existed before the migration: verify already "
                     "compares it value by value, an expectation cannot be right for every row.",
                     f"Expect values only for the columns the migration adds: "
                     f"{', '.join(added)}.")
        return
    on_good: VerifyResult = verify(before, good, expect=expect)
    if on_good.ok:
        report.right("no false alarm: a correct migration passes.")
    else:
        failures = on_good.expectation_failures
        fail = failures.iloc[0]
        report.wrong(f"false alarm: on a correct migration {_plural(len(failures), 'row')} fail "
                     f"(e.g. {fail['column']} expected {fail['expected']!r}, got "
                     f"{fail['actual']!r}).",
                     "A correct migration leaves every existing order 'pending' and in "
                     "euros ('EUR', upper case).")
    on_bad = verify(before, bad, expect=expect)
    damaged = sorted(bad.loc[bad["currency"] != good["currency"], steps.KEY])
    caught = sorted(set(on_bad.expectation_failures["key"]))
    if caught == damaged:
        report.right(f"the planted bug is caught: exactly the {len(damaged):,} damaged orders "
                     "are named.")
    elif not caught or on_bad.ok:
        missing = [c for c in added if c not in expect]
        report.wrong(f"the planted bug slipped through: {_plural(len(damaged), 'order')} "
                     "have a wrong value and verify says OK.",
                     f"Every column the migration adds needs an expectation; yours has none "
                     f"for {', '.join(missing)}." if missing else
                     "Check the values you expect.")
    else:
        report.wrong(f"verify names {_plural(len(caught), 'order')}, but "
                     f"{len(damaged):,} were damaged.",
                     "Expect exactly the value a correct migration gives every existing order.")


# ------------------------------------------------------------------ exercise 5: safe order

_CHECK_VALUES = ", ".join(f"'{v}'" for v in steps.STATUS_VALUES)

#: The steps exercise 5 chooses from: name -> the PostgreSQL statement it runs.
STEP_CHOICES: dict[str, str] = {
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

_COLUMN_STEPS = ("add_status", "add_status_nullable")
_NEEDS_COLUMN = ("backfill_status", "set_status_not_null", "add_check", "add_check_not_valid",
                 "validate_check", "create_index", "create_index_concurrently")
_GOALS = {
    "the status column": ("add_status", "add_status_nullable"),
    "the CHECK constraint": ("add_check", "add_check_not_valid"),
    "the index on status": ("create_index", "create_index_concurrently"),
}


def check_safe_order(order_fn: Any) -> Feedback:
    """Exercise 5: ``order_fn()`` returns step names from :data:`STEP_CHOICES`, in order.

    The plan is for a PostgreSQL ``orders`` table of :data:`BIG_TABLE_ROWS` rows taking writes:
    it must add ``status`` (NOT NULL, 'pending'), a validated CHECK and an index on it, each
    step after what it needs, and :func:`shopmig.lint_sql` must find no step that makes writes
    wait for a time that grows with the table.
    """
    exercise = "Exercise 5 · the safe order for a big table"

    def body(report: _Report) -> None:
        order = _call(exercise, order_fn)
        if order is None or (isinstance(order, list | tuple) and not order):
            raise _NotDone
        if not isinstance(order, list | tuple) or not all(isinstance(s, str) for s in order):
            report.wrong(f"expected a list of step names, got {type(order).__name__}.",
                         "Return a list such as [\"add_status\", ...].")
            return
        _judge_order(report, list(order))

    return _guard(exercise, body)


def _judge_order(report: _Report, order: list[str]) -> None:
    unknown = [s for s in order if s not in STEP_CHOICES]
    if unknown:
        report.wrong(f"unknown step {unknown[0]!r}.",
                     f"Choose from: {', '.join(STEP_CHOICES)}.")
        return
    twice = sorted({s for s in order if order.count(s) > 1})
    if twice:
        report.wrong(f"{twice[0]!r} appears more than once.", "Each step runs once.")
    for goal, options in _GOALS.items():
        if not any(s in order for s in options):
            report.wrong(f"the plan never creates {goal}.",
                         f"Add one of: {', '.join(options)}.")
    if "validate_check" in order and "add_check_not_valid" not in order:
        report.wrong("validate_check validates a constraint that was never added NOT VALID.",
                     "Add it with add_check_not_valid first.")
    if "add_check_not_valid" in order and "validate_check" not in order:
        report.wrong("the CHECK is added NOT VALID but never validated: existing rows are "
                     "not checked.", "Finish with validate_check (writes go on meanwhile).")
    first_column = min((order.index(s) for s in _COLUMN_STEPS if s in order), default=None)
    for step in order:
        if step in _NEEDS_COLUMN and (first_column is None or order.index(step) < first_column):
            report.wrong(f"{step!r} comes before the status column exists.",
                         "Add the column first: every other step works on status.")
            break
    if ("validate_check" in order and "add_check_not_valid" in order
            and order.index("validate_check") < order.index("add_check_not_valid")):
        report.wrong("validate_check comes before add_check_not_valid: there is nothing to "
                     "validate yet.", "Add the constraint NOT VALID, then validate it.")
    if report.failed:
        return
    report.right("every step comes after what it needs.")
    sql = ";\n".join(STEP_CHOICES[s] for s in order)
    findings = [f for f in lint_sql(sql, "postgresql", rows=BIG_TABLE_ROWS, lock_timeout_s=2.0)
                if f.severity == "danger"]
    by_statement = {" ".join(v.split()): k for k, v in STEP_CHOICES.items()}
    for finding in findings:
        step = by_statement.get(finding.statement, "a step")
        report.wrong(f"{step}: {finding.message}", finding.fix)
    if not findings:
        report.right(f"on {BIG_TABLE_ROWS:,} rows no step makes writes wait for more than "
                     "milliseconds (shopmig.lint_sql finds nothing dangerous).")
