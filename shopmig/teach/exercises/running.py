"""Running a learner's answer: on a fresh scratch shop, every statement recorded, every
exception explained (never a traceback)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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
from shopmig.dialects import DIALECTS, Dialect, dialect_for
from shopmig.migrate import steps
from shopmig.migrate.core import upgrade
from shopmig.scratch import drop_scratch, scratch_database
from shopmig.teach.exercises import rules
from shopmig.teach.exercises.feedback import Feedback, Report, ladder, not_done, single
from shopmig.verification.api import snapshot

#: Rows in each exercise's demo shop (small enough to be instant, big enough to count).
EXERCISE_ROWS = 2_000

BaseURL = str | URL | Engine
"""Where the scratch databases go: a URL (``sqlite://`` by default) or an engine whose URL."""


class NotDone(Exception):
    """The learner's answer is still the placeholder."""


class Failed(Exception):
    """The learner's answer raised or is not usable; ``feedback`` explains it."""

    def __init__(self, feedback: Feedback) -> None:
        super().__init__(feedback.headline())
        self.feedback = feedback


# ------------------------------------------------------------------ explaining exceptions

_ERROR_HINTS: list[tuple[str, tuple[str, ...]]] = [
    ("non-constant default",
     ladder("SQLite can only ADD COLUMN with a constant default (not a clock, not an expression).",
      "Add the column without a default, then fill it with a separate UPDATE.")),
    ("cannot add a not null column",
     ladder("A NOT NULL column added to a table that has rows needs a value for those rows.",
      "Either give the column a constant server-side default, or let it be NULL "
      "(nullable=True) if an empty value means something.")),
    ("duplicate column", ladder("That column already exists: add it once.",)),
    ("already exists", ladder("That object already exists: create it once.",)),
    ("no such column", rules.ORDER_OF_STEPS),
    ("unknown column 'pending' in 'default'", rules.QUOTED_DEFAULT),
    ("column reference in default", rules.QUOTED_DEFAULT),
    ("unknown column", rules.ORDER_OF_STEPS),
    ("does not exist", rules.ORDER_OF_STEPS),
    ("no such table", ladder("The table is called orders: check the table name.",)),
    ("value too long", rules.STRING_LENGTH),
    ("data too long", rules.STRING_LENGTH),
    ("invalid default value", rules.STRING_LENGTH),
    ("date/time field value", rules.VALID_DATETIME),
    ("incorrect datetime value", rules.VALID_DATETIME),
    ("invalid input syntax for type timestamp", rules.VALID_DATETIME),
    ('near "alter": syntax error',
     ladder("SQLite cannot change a column after adding it (no ALTER COLUMN).",
      "Give the column its final form in the statement that adds it: NOT NULL together with "
      "a constant server-side default.")),
    ("alter of constraints",
     ladder("SQLite cannot change a column in place.",
      "Give the column its final form in the statement that adds it.")),
    ("syntax error", ladder("The database could not parse the SQL: check it statement by "
                      "statement.",)),
]


ARGUMENTS = ladder(
    "Check the function's arguments: it is called with exactly what the task says.",
)
UNDEFINED_NAME = ladder(
    "A name is not defined in your function: import it (e.g. `import sqlalchemy as sa`) "
    "or check the spelling.",
)
ROLLED_BACK = ladder(
    "Everything your function did was rolled back; fix what the error names and run the "
    "check again.",
)
NOT_A_FUNCTION = ladder(
    "Pass the function itself (its name without parentheses) to the check.",
)


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (a driver error's headline)."""
    text = text.strip()
    return text.splitlines()[0] if text else ""


def explain(exercise: str, exc: BaseException, *, ran_on: str = "",
            hint_level: int | None = None) -> Feedback:
    """A :class:`Feedback` explaining an exception the learner's answer raised."""
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    kind = type(orig or exc).__name__
    text = first_line(str(orig if orig is not None else exc)) or "(no message)"
    message = f"your function raised {kind}: {text}"
    statement = getattr(exc, "statement", None) if isinstance(exc, DBAPIError) else None
    if statement:
        shown = " ".join(str(statement).split())
        message += f" (in: {shown[:160]}{'...' if len(shown) > 160 else ''})"
    lowered = f"{kind}: {text}".lower()
    hints = next((h for needle, h in _ERROR_HINTS if needle in lowered), None)
    if hints is None and isinstance(exc, TypeError) and "argument" in lowered:
        hints = ARGUMENTS
    if hints is None and isinstance(exc, NameError):
        hints = UNDEFINED_NAME
    if hints is None:
        hints = ROLLED_BACK
    return single(exercise, message, hints, ran_on=ran_on, hint_level=hint_level)


# ------------------------------------------------------------------ calling learner code


def _innermost_code(tb: TracebackType | None) -> Any:
    code = None
    while tb is not None:
        code = tb.tb_frame.f_code
        tb = tb.tb_next
    return code


def is_placeholder(exc: BaseException, fn: Callable[..., Any]) -> bool:
    """True for the learner version's own ``raise NotImplementedError("your turn")``."""
    if not isinstance(exc, NotImplementedError):
        return False
    own = _innermost_code(exc.__traceback__) is getattr(fn, "__code__", None)
    return own or "your turn" in str(exc).lower()


def call(exercise: str, fn: Any, *args: Any, ran_on: str = "",
         hint_level: int | None = None) -> Any:
    """Call the learner's ``fn``; raise :class:`NotDone` or :class:`Failed` with feedback."""
    if fn is None or fn is Ellipsis:
        raise NotDone
    if not callable(fn):
        raise Failed(single(
            exercise, f"expected a function, got {type(fn).__name__} {fn!r:.60}",
            NOT_A_FUNCTION,
            ran_on=ran_on, hint_level=hint_level))
    try:
        result = fn(*args)
    except Exception as exc:
        if is_placeholder(exc, fn):
            raise NotDone from None
        raise Failed(explain(exercise, exc, ran_on=ran_on, hint_level=hint_level)) from None
    if result is Ellipsis:
        raise NotDone
    return result


# ------------------------------------------------------------------ what the answer ran


@dataclass
class Statement:
    """One statement the answer sent to the database, with the rows it touched."""

    sql: str
    rowcount: int


class Log(list[Statement]):
    """Every statement an answer ran, and the types it *declared* for the columns it added or
    changed (``declared``: column name -> SQLAlchemy type). A database reflects only its own
    reading of a type (PostgreSQL reads ``FLOAT`` as double precision, MariaDB as single), so
    the rules of the other databases are applied to what the answer declared."""

    def __init__(self) -> None:
        super().__init__()
        self.declared: dict[str, sa.types.TypeEngine[Any]] = {}


def _declared(element: Any) -> dict[str, sa.types.TypeEngine[Any]]:
    """Column types an Alembic or SQLAlchemy DDL element declares (ADD COLUMN, ALTER COLUMN
    TYPE, CREATE TABLE of a batch rebuild)."""
    from alembic.ddl.base import AddColumn, ColumnType

    if isinstance(element, AddColumn):
        return {element.column.name: element.column.type}
    if isinstance(element, ColumnType):
        return {element.column_name: element.type_}
    if isinstance(element, sa.schema.CreateTable):
        return {c.name: c.type for c in element.element.columns}
    return {}


@contextlib.contextmanager
def capture(conn: Connection) -> Iterator[Log]:
    """Record every statement run on ``conn`` with the rows it touched, and the column types
    its DDL declared."""
    log = Log()

    def before(_conn: Any, element: Any, *_args: Any) -> None:
        log.declared.update(_declared(element))

    def after(_conn: Any, cursor: Any, statement: str, _params: Any, _ctx: Any,
              _many: bool) -> None:
        count = getattr(cursor, "rowcount", -1)
        log.append(Statement(statement, count if isinstance(count, int) else -1))

    event.listen(conn, "before_execute", before)
    event.listen(conn, "after_cursor_execute", after)
    try:
        yield log
    finally:
        event.remove(conn, "after_cursor_execute", after)
        event.remove(conn, "before_execute", before)


_UPDATE_ORDERS = re.compile(r"^\s*(?:UPDATE|DELETE\s+FROM)\s+[\"`]?orders\b", re.I)
_BOOKKEEPING = re.compile(r"^\s*(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SELECT|PRAGMA|SHOW|"
                          r"SET\s)", re.I)


def rows_written(log: Sequence[Statement]) -> int:
    """Rows of ``orders`` changed in place by UPDATE/DELETE statements (not table copies)."""
    return sum(max(s.rowcount, 0) for s in log if _UPDATE_ORDERS.match(s.sql))


def did_something(log: Sequence[Statement]) -> bool:
    """True when the log holds a statement other than transaction bookkeeping and reads."""
    return any(not _BOOKKEEPING.match(s.sql) for s in log)


def run_op(exercise: str, conn: Connection, fn: Any, *, ran_on: str = "",
           hint_level: int | None = None) -> Log:
    """Run ``fn(op)`` in one transaction on ``conn`` (rolled back if it raises); return every
    statement it ran."""
    with capture(conn) as log:
        try:
            with conn.begin():
                op = Operations(MigrationContext.configure(conn))
                call(exercise, fn, op, ran_on=ran_on, hint_level=hint_level)
        except (NotDone, Failed):
            raise
        except Exception as exc:  # the COMMIT itself failed
            raise Failed(explain(exercise, exc, ran_on=ran_on, hint_level=hint_level)) from None
    return log


# ------------------------------------------------------------------ the scratch shop


@contextlib.contextmanager
def shop(url: BaseURL, name: str, *, revision: str | None = None,
         rows: int = EXERCISE_ROWS) -> Iterator[Connection]:
    """A fresh demo shop of ``rows`` orders in scratch database ``name``, dropped afterwards."""
    base = url.url if isinstance(url, Engine) else url
    engine = scratch_database(base, name)
    try:
        make_demo_shop(engine, rows=rows, seed=42)
        if revision is not None:
            upgrade(engine, revision)
        with engine.connect() as conn:
            yield conn
    finally:
        drop_scratch(engine)


def _settled(conn: Connection) -> None:
    if conn.in_transaction():
        conn.rollback()


def columns(conn: Connection) -> dict[str, dict[str, Any]]:
    """The orders table's reflected columns by name, in table order."""
    try:
        return {c["name"]: dict(c) for c in sa.inspect(conn).get_columns(steps.TABLE)}
    finally:
        _settled(conn)


def table_snapshot(conn: Connection) -> pd.DataFrame:
    """The whole orders table as a DataFrame ordered by key."""
    try:
        return snapshot(conn)
    finally:
        _settled(conn)


def storage_id(conn: Connection) -> str | None:
    """Where the table's rows live (changes when the table is rebuilt), None if unknown."""
    from shopmig.rehearsal.naive import table_identity

    try:
        return table_identity(conn)
    finally:
        _settled(conn)


def raw_texts(conn: Connection, column: str) -> list[str]:
    """Every non-NULL value of ``orders.column`` as the database's own text (a date as the
    database stores it, not as the driver parses it)."""
    t = sa.table(steps.TABLE, sa.column(column))
    try:
        stmt = sa.select(sa.cast(t.c[column], sa.String)).where(t.c[column].is_not(None))
        return [str(v) for v in conn.execute(stmt).scalars()]
    finally:
        _settled(conn)


def ran_on_text(dialect: Dialect) -> str:
    """``ran on SQLite 3.40.1; held to PostgreSQL's and MariaDB/MySQL's rules too``."""
    others = [d.label for d in DIALECTS if not isinstance(dialect, d)]
    rules_of = " and ".join(f"{label}'s" for label in others)
    return f"ran on {dialect.server_label}; held to {rules_of} rules too"


def dialect_of(conn: Connection) -> Dialect:
    """The :class:`~shopmig.dialects.Dialect` of the shop the answer runs on."""
    return dialect_for(conn)


def plural(n: int, word: str) -> str:
    """``1 order``, ``2,000 orders``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def guard(exercise: str, body: Callable[[Report], None], *,
          hint_level: int | None = None) -> Feedback:
    """Run a check body, turning the learner's placeholder or exception into feedback."""
    report = Report(exercise, hint_level=hint_level)
    try:
        body(report)
    except NotDone:
        return not_done(exercise)
    except Failed as failed:
        return failed.feedback
    return report.feedback()
