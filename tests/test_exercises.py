"""The training exercises: every check runs the answer, answers in plain words, never with a
traceback, and never hands out the solution.

- The solutions are taken from the one source (``facilitator/exercises_source.ipynb``): each
  is "correct" on SQLite (and on PostgreSQL and MariaDB when configured).
- :data:`CASES` is one wrong answer per mistake, each with the hint ladder it must get (the
  first rung on the first check, the next rung on the next): every wrong answer the issue
  listed is one of them, and :func:`test_every_hint_ladder_is_reached_by_a_wrong_answer`
  fails if a ladder the exercises define has no case.
- No rung of any ladder contains a solution's code (:func:`test_no_hint_holds_solution_code`).
- The learner notebook runs headless with every check "not done yet" and shows no solution;
  the solution notebook passes nbval in strict mode.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
import sqlalchemy as sa
from nbclient import NotebookClient

from shopmig.teach import exercises
from shopmig.teach.exercises import (
    cents,
    expectations,
    fast_status,
    feedback,
    rules,
    running,
    safe_order,
    shipped_at,
)
from shopmig.teach.exercises.feedback import Feedback

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks" / "exercises"
FACILITATOR = ROOT / "facilitator"


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("build_exercises",
                                                  ROOT / "scripts" / "build_exercises.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILDER = _builder()


def _solution_blocks() -> dict[str, str]:
    """Each answer cell of the source, as its solution source (function name -> code)."""
    nb = nbformat.read(BUILDER.SOURCE, as_version=4)
    out = {}
    for cell in nb.cells:
        if "your-turn" in cell.metadata.get("tags", []):
            source = BUILDER.solution_source(cell.source)
            name = re.match(r"def (\w+)", source)
            assert name, source
            out[name.group(1)] = source
    return out


SOLUTION_CODE = _solution_blocks()


def _solution(name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"sa": sa}
    exec(SOLUTION_CODE[name], namespace)  # the facilitator's own source, not user input
    return namespace[name]


@pytest.fixture(autouse=True)
def _fresh_hints() -> None:
    exercises.reset_hints()


def placeholder(*_args: Any) -> None:
    """What the learner notebook has in every "your turn" function."""
    raise NotImplementedError("your turn")


def _assert_plain(fb: Feedback) -> None:
    """Every feedback renders as text and HTML, without a traceback."""
    assert isinstance(fb, Feedback)
    text, page = str(fb), fb._repr_html_()
    assert "Traceback" not in text and "Traceback" not in page
    assert fb.exercise and text.splitlines()[0] == f"{fb.exercise}: {fb.status}"


def _right(fb: Feedback) -> None:
    _assert_plain(fb)
    assert fb.done and fb.ok and fb.hint is None, str(fb)
    assert all(m.startswith("✓") for m in fb.messages), str(fb)


def _not_done(fb: Feedback) -> None:
    _assert_plain(fb)
    assert not fb.done and not fb.ok and fb.status == "not done yet", str(fb)
    assert "your turn" in (fb.hint or "")


def _wrong(fb: Feedback, ladder: tuple[str, ...], message: str | None, level: int = 1) -> None:
    """``fb`` is "not right yet" with rung ``level`` of ``ladder`` as its hint."""
    _assert_plain(fb)
    assert fb.done and not fb.ok and fb.status == "not right yet", str(fb)
    assert fb.hint == ladder[level - 1], str(fb)
    assert (fb.hint_level, fb.hint_levels) == (level, len(ladder)), str(fb)
    if message is not None:
        assert any(message in m and m.startswith("✗") for m in fb.messages), str(fb)


# ------------------------------------------------------------------ the wrong answers


def _add_shipped(op: Any, type_: Any = None, **column: Any) -> None:
    op.add_column("orders", sa.Column("shipped_at", type_ or sa.DateTime(),
                                      **({"nullable": True} | column)))


def ex1(where: str | None = "status IN ('shipped', 'delivered')", value: str =
        "CURRENT_TIMESTAMP", type_: Any = None, extra: str | None = None,
        **column: Any) -> Callable[[Any], None]:
    """An exercise 1 answer: add shipped_at (``type_``, ``column`` options), backfill with
    ``value`` where ``where`` (None: no backfill), then ``extra`` SQL."""

    def answer(op: Any) -> None:
        _add_shipped(op, type_, **column)
        if where is not None:
            clause = f" WHERE {where}" if where else ""
            op.execute(f"UPDATE orders SET shipped_at = {value}{clause}")
        if extra:
            op.execute(extra)

    return answer


def ex2(type_: Any = None, extra: str | None = None, **column: Any) -> Callable[[Any], None]:
    """An exercise 2 answer: add status (``type_``, ``column`` options), then ``extra``."""

    def answer(op: Any) -> None:
        options = {"nullable": False, "server_default": "pending"} | column
        op.add_column("orders", sa.Column("status", type_ or sa.String(16), **options))
        if extra:
            op.execute(extra)

    return answer


def ex3(type_: Any = None, divide: str | None = "total_cents / 100.0", drop: bool = True,
        drop_first: bool = False, extra: str | None = None,
        add: bool = True) -> Callable[[Any], None]:
    """An exercise 3 answer: add amount (``type_``), fill it with ``divide`` (None: not at
    all), drop total_cents (first, last or not at all)."""

    def answer(op: Any) -> None:
        if drop_first:
            op.drop_column("orders", "total_cents")
        if add:
            op.add_column("orders", sa.Column("amount", type_ or sa.Double(), nullable=True))
        if divide is not None:
            op.execute(f"UPDATE orders SET amount = {divide}")
        if drop and not drop_first:
            op.drop_column("orders", "total_cents")
        if extra:
            op.execute(extra)

    return answer


def nothing(op: Any) -> None:
    """A body of ``pass``: runs, changes nothing."""


def batch_rebuild(op: Any) -> None:
    with op.batch_alter_table("orders", recreate="always") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False,
                                   server_default="pending"))


def python_default(op: Any) -> None:
    """The seed's own mistake."""
    op.add_column("orders", sa.Column("status", sa.String(16), default="pending"))


def alter_afterwards(op: Any) -> None:
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=True,
                                      server_default="pending"))
    op.alter_column("orders", "status", nullable=False)


def check_constraint_on_sqlite(op: Any) -> None:
    ex2()(op)
    op.create_check_constraint("ck_status", "orders", "status <> ''")


def status_twice(op: Any) -> None:
    ex2()(op)
    ex2()(op)


def index_twice(op: Any) -> None:
    ex2()(op)
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_status", "orders", ["status"])


def plain_index_on_postgresql(op: Any) -> None:
    ex2()(op)
    op.create_index("ix_orders_status", "orders", ["status"])


def default_dropped_afterwards(op: Any) -> None:
    ex2(nullable=True)(op)
    op.alter_column("orders", "status", server_default=None)


def mariadb_copy(op: Any) -> None:
    op.execute("ALTER TABLE orders ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT 'pending', "
               "ALGORITHM=COPY")


def no_arguments() -> None:
    """Called with op: a TypeError."""


def undefined(op: Any) -> None:
    return undefined_name  # type: ignore[name-defined]  # noqa: F821


def raises_value_error(op: Any) -> None:
    raise ValueError("something of the learner's own")


class Weird(str):
    """A value that breaks any comparison (the check must still answer, not raise)."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        raise ValueError("cannot compare")

    def __ne__(self, other: object) -> bool:
        raise ValueError("cannot compare")


def _danger(rule: str, step: str, *, rows: int = exercises.BIG_TABLE_ROWS,
            lock_timeout_s: float | None = None) -> tuple[str, ...]:
    """The ladder a lint danger gets: the exercise's own nudge, then lint's fix."""
    from shopmig.lint import lint_sql

    statement = exercises.STEP_CHOICES.get(step, step)
    fix = next(f.fix for f in lint_sql(statement, "postgresql", rows=rows,
                                       lock_timeout_s=lock_timeout_s) if f.rule == rule)
    nudge = safe_order._DANGER_NUDGES.get(rule, fast_status.LINT)
    return (*nudge, fix)


SAFE = ["set_lock_timeout", "add_status", "add_check_not_valid", "validate_check",
        "create_index_concurrently"]


@dataclass(frozen=True)
class Case:
    """A wrong answer, the exercise that checks it, the ladder it must get and a piece of the
    message naming it; ``backends`` it runs on (the ladder is the same everywhere)."""

    id: str
    check: Callable[..., Feedback]
    answer: Any
    ladder: tuple[str, ...]
    message: str | dict[str, str] | None  # one for all backends, or one per backend
    backends: tuple[str, ...] = ("sqlite",)
    absent: str | None = None  # a message that must not appear (no contradiction)


S1, S2, S3 = (exercises.check_shipped_at, exercises.check_fast_status,
              exercises.check_cents_downgrade)
S4, S5 = exercises.check_expectations, exercises.check_safe_order
SERVERS = ("postgresql", "mariadb")
ALL = ("sqlite", *SERVERS)

CASES = [
    # ---- exercise 1 (shipped_at)
    Case("ex1-everyone", S1, ex1(where=""), shipped_at.TOO_MANY,
         "1,400 orders that never shipped"),
    Case("ex1-forgets-delivered", S1, ex1(where="status = 'shipped'"),
         shipped_at.FORGOT_DELIVERED, "200 orders with status 'delivered' have no shipped_at"),
    Case("ex1-not-in-misses-refunded (issue)", S1,
         ex1(where="status NOT IN ('pending', 'paid', 'cancelled')"), shipped_at.TOO_MANY,
         "(refunded) got a shipped_at"),
    Case("ex1-typo-deliverd (issue: wrong hint)", S1,
         ex1(where="status IN ('shipped', 'deliverd')"), shipped_at.TYPO,
         "'deliverd', which no order has", ALL),
    Case("ex1-invalid-date (issue: SQLite only)", S1, ex1(value="'2024-13-45'"),
         rules.VALID_DATETIME, "2024-13-45", ALL),
    Case("ex1-as-text", S1, ex1(type_=sa.String(30), value="'yes'"), shipped_at.NOT_DATETIME,
         "not a date/time type"),
    Case("ex1-date-only", S1, ex1(type_=sa.Date(), value="CURRENT_DATE"),
         shipped_at.DATE_ONLY, "a date without the time of day"),
    Case("ex1-not-nullable", S1,
         ex1(nullable=False, server_default="2024-01-01 00:00:00"), shipped_at.NOT_NULLABLE,
         "shipped_at is NOT NULL"),
    Case("ex1-default", S1, ex1(server_default="2024-01-01 00:00:00"), shipped_at.HAS_DEFAULT,
         "has a server default"),
    Case("ex1-not-backfilled", S1, ex1(where=None), shipped_at.NOT_BACKFILLED,
         "600 orders with status"),
    Case("ex1-no-column", S1, lambda op: op.execute("UPDATE orders SET amount = amount"),
         shipped_at.MISSING_COLUMN, "no shipped_at column"),
    Case("ex1-changes-nothing (issue: wrong hint)", S1, nothing, shipped_at.NOTHING_RAN,
         "changed nothing"),
    Case("ex1-other-data", S1,
         ex1(extra="UPDATE orders SET amount = 0 WHERE order_id = 'ORD-0000001'"),
         shipped_at.OTHER_DATA, "changed existing data"),
    Case("ex1-volatile-default", S1,
         ex1(where=None, nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
         running._ERROR_HINTS[0][1], "non-constant default"),
    Case("ex1-not-null-no-default", S1, ex1(where=None, nullable=False),
         running._ERROR_HINTS[1][1], "Cannot add a NOT NULL column"),
    Case("ex1-no-such-table", S1, lambda op: op.execute("UPDATE orderz SET amount = 1"),
         dict(running._ERROR_HINTS)["no such table"], "no such table"),
    Case("ex1-syntax", S1, lambda op: op.execute("UPDTE orders SET amount = 1"),
         dict(running._ERROR_HINTS)["syntax error"], "syntax error"),
    Case("ex1-arguments", S1, no_arguments, running.ARGUMENTS, "TypeError"),
    Case("ex1-name-error", S1, undefined, running.UNDEFINED_NAME, "NameError"),
    Case("ex1-own-exception", S1, raises_value_error, running.ROLLED_BACK, "ValueError"),
    Case("ex1-not-a-function", S1, 42, running.NOT_A_FUNCTION, "expected a function"),
    # ---- exercise 2 (status without a rewrite)
    Case("ex2-slow-step", S2, exercises.slow_add_status, fast_status.WROTE_ROWS,
         "this step wrote 2,000 rows of orders", ALL),
    Case("ex2-python-default (the seed)", S2, python_default, fast_status.PYTHON_DEFAULT,
         "2,000 existing orders read NULL", ALL),
    Case("ex2-rebuilt", S2, batch_rebuild, fast_status.REBUILT, "the table was rebuilt",
         ("sqlite", "postgresql"), absent="not rebuilt"),
    Case("ex2-algorithm-copy (issue: both ✓ and ✗)", S2, mariadb_copy, fast_status.REBUILT,
         "the table was rebuilt", ("mariadb",), absent="not rebuilt"),
    Case("ex2-default-dropped", S2, default_dropped_afterwards, fast_status.NEW_ROWS_DEFAULT,
         "a new order inserted without a status gets NULL", SERVERS),
    Case("ex2-nullable", S2, ex2(nullable=True), fast_status.NULLABLE, "status allows NULL"),
    Case("ex2-alter-afterwards", S2, alter_afterwards,
         dict(running._ERROR_HINTS)['near "alter": syntax error'], "ALTER COLUMN"),
    Case("ex2-check-on-sqlite", S2, check_constraint_on_sqlite,
         dict(running._ERROR_HINTS)["alter of constraints"], "ALTER of constraints"),
    Case("ex2-varchar-4 (issue: SQLite only)", S2, ex2(type_=sa.String(4)),
         rules.STRING_LENGTH, {"sqlite": "its default, 'pending', has 7",
                               "postgresql": "value too long for type character varying(4)",
                               "mariadb": "Invalid default value for 'status'"}, ALL),
    Case("ex2-varchar-8", S2, ex2(type_=sa.String(8)), rules.STRING_LENGTH,
         "a value it must hold, 'delivered', has 9", ALL),
    Case("ex2-unquoted-default (issue: SQLite only)", S2,
         ex2(server_default=sa.text("pending")), rules.QUOTED_DEFAULT,
         {"sqlite": "DEFAULT pending without quotes",
          "postgresql": "cannot use column reference in DEFAULT expression",
          "mariadb": "Unknown column 'pending' in 'DEFAULT'"}, ALL),
    Case("ex2-quoted-twice (issue: wrong hint)", S2, ex2(server_default="'pending'"),
         rules.DOUBLE_QUOTED_DEFAULT, "read \"'pending'\" instead of 'pending'"),
    Case("ex2-wrong-default", S2, ex2(server_default="PENDING"), fast_status.WRONG_DEFAULT,
         "read 'PENDING' instead of 'pending'"),
    Case("ex2-not-text", S2, ex2(type_=sa.Integer(), server_default="0"), fast_status.NOT_TEXT,
         "not a string type"),
    Case("ex2-insert-refused", S2,
         ex2(extra="CREATE TRIGGER no_new_orders BEFORE INSERT ON orders "
                   "BEGIN SELECT RAISE(ABORT, 'no new orders'); END"),
         fast_status.INSERT_REFUSED, "is refused: no new orders"),
    Case("ex2-no-column", S2, lambda op: op.create_index("ix_amount", "orders", ["amount"]),
         fast_status.NO_COLUMN, "orders has no status column"),
    Case("ex2-other-data", S2,
         ex2(extra="INSERT INTO orders (order_id, amount) VALUES ('ORD-X', 1.0)"),
         fast_status.OTHER_DATA, "existing data changed"),
    Case("ex2-changes-nothing", S2, nothing, fast_status.NOTHING_RAN, "changed nothing"),
    Case("ex2-status-twice", S2, status_twice, dict(running._ERROR_HINTS)["duplicate column"],
         "duplicate column"),
    Case("ex2-index-twice", S2, index_twice, dict(running._ERROR_HINTS)["already exists"],
         "already exists"),
    Case("ex2-plain-index", S2, plain_index_on_postgresql,
         (*fast_status.LINT, _danger("index-not-concurrent", "CREATE INDEX ix_orders_status "
                                     "ON orders (status)", rows=2000, lock_timeout_s=2.0)[-1]),
         "lint (index-not-concurrent)", ("postgresql",)),
    # ---- exercise 3 (the downgrade)
    Case("ex3-no-copy", S3, ex3(divide=None), cents.EMPTY_AMOUNTS,
         "2,000 amounts came back empty (NULL)"),
    Case("ex3-integer-division", S3, ex3(divide="total_cents / 100"), cents.INTEGER_DIVISION,
         "ORD-0000001: 48.15 came back as 48.0", ("sqlite", "postgresql")),
    Case("ex3-integer-division-forgiven", S3, ex3(divide="total_cents / 100"),
         cents.INTEGER_DIVISION, "SQLite and PostgreSQL would cut the cents off", ("mariadb",)),
    Case("ex3-keeps-total", S3, ex3(drop=False), cents.KEEPS_CENTS,
         "total_cents is still there"),
    Case("ex3-drop-first", S3, ex3(drop_first=True), rules.ORDER_OF_STEPS, "total_cents", ALL),
    Case("ex3-integer-type", S3, ex3(type_=sa.Integer()), rules.FLOAT_PRECISION,
         "amount is INTEGER, not a floating-point type"),
    Case("ex3-numeric (issue: 'a float again')", S3, ex3(type_=sa.Numeric(10, 2)),
         rules.FLOAT_PRECISION, "not a floating-point type", ALL),
    Case("ex3-single-float (issue: MariaDB FLOAT)", S3, ex3(type_=sa.Float()),
         rules.FLOAT_PRECISION, "MariaDB/MySQL would store it in single precision", ALL),
    Case("ex3-no-amount", S3, ex3(add=False, divide=None), cents.NO_AMOUNT,
         "no amount column"),
    Case("ex3-off-amounts", S3, ex3(divide="total_cents / 1000.0"), cents.OFF_AMOUNTS,
         "amounts changed"),
    Case("ex3-rows-lost", S3, ex3(extra="DELETE FROM orders WHERE order_id = 'ORD-0000001'"),
         cents.ROWS, "rows were lost or added"),
    Case("ex3-changes-nothing", S3, nothing, cents.NOTHING_RAN, "changed nothing"),
    # ---- exercise 4 (expectations)
    Case("ex4-currency-only (issue: passed)", S4, lambda: {"currency": "EUR"},
         expectations.MISSING, "the bug planted in status slipped through", ALL),
    Case("ex4-status-only", S4, lambda: {"status": "pending"}, expectations.MISSING,
         "the bug planted in currency slipped through"),
    Case("ex4-list (issue: traceback)", S4, lambda: {"status": ["pending"], "currency": "EUR"},
         expectations.COLLECTION, "is a list"),
    Case("ex4-set (issue: traceback)", S4, lambda: {"status": {"pending"}, "currency": "EUR"},
         expectations.COLLECTION, "is a set"),
    Case("ex4-tuple (issue: traceback)", S4, lambda: {"status": ("pending",),
                                                       "currency": "EUR"},
         expectations.COLLECTION, "is a tuple"),
    Case("ex4-dict (issue: traceback)", S4, lambda: {"status": {"is": "pending"},
                                                      "currency": "EUR"},
         expectations.COLLECTION, "is a dict"),
    Case("ex4-nan", S4, lambda: {"status": math.nan, "currency": "EUR"},
         expectations.COLLECTION, "is NaN"),
    Case("ex4-empty", S4, lambda: {}, expectations.EMPTY, "no expectations"),
    Case("ex4-lower-case", S4, lambda: {"status": "pending", "currency": "eur"},
         expectations.FALSE_ALARM, "false alarm"),
    Case("ex4-shared", S4, lambda: {"status": "pending", "amount": 1.0}, expectations.SHARED,
         "amount existed before the migration"),
    Case("ex4-unknown", S4, lambda: {"colour": "red"}, expectations.UNKNOWN,
         "no column 'colour'"),
    Case("ex4-not-a-dict", S4, lambda: ["status", "currency"], expectations.NOT_A_DICT,
         "expected a dict"),
    Case("ex4-returns-none", S4, lambda: None, expectations.NOT_A_FUNCTION_RESULT,
         "returned nothing"),
    Case("ex4-unusable", S4, lambda: {"status": Weird("pending"), "currency": "EUR"},
         expectations.UNUSABLE, "could not use these expectations"),
    # ---- exercise 5 (the safe order)
    Case("ex5-status-twice (issue: passed)", S5,
         lambda: ["add_status", "add_status_nullable", *SAFE[2:]], safe_order.TWICE,
         "step 2, add_status_nullable, is refused by PostgreSQL", ("sqlite", "postgresql")),
    Case("ex5-validate-first", S5,
         lambda: ["add_status", "validate_check", "add_check_not_valid",
                  "create_index_concurrently"], safe_order.TOO_EARLY,
         "step 2, validate_check, is refused"),
    Case("ex5-index-before-column", S5, lambda: ["create_index_concurrently", *SAFE[:4]],
         safe_order.TOO_EARLY, "does not exist"),
    Case("ex5-not-null-over-nulls", S5,
         lambda: ["add_status_nullable", "set_status_not_null", *SAFE[2:]],
         safe_order.NULLS_LEFT, "contains null values", ("sqlite", "postgresql")),
    Case("ex5-no-default", S5,
         lambda: ["add_status_nullable", "backfill_status", "set_status_not_null", *SAFE[2:]],
         safe_order.NO_DEFAULT, "status has no default"),
    Case("ex5-stays-nullable", S5,
         lambda: ["add_status_nullable", "backfill_status", *SAFE[2:]], safe_order.NULLABLE,
         "still allows NULL"),
    Case("ex5-no-column", S5, lambda: ["set_lock_timeout"], safe_order.NO_COLUMN,
         "never creates the status column"),
    Case("ex5-no-check", S5, lambda: ["add_status", "create_index_concurrently"],
         safe_order.NO_CHECK, "never adds the CHECK"),
    Case("ex5-never-validated", S5,
         lambda: ["add_status", "add_check_not_valid", "create_index_concurrently"],
         safe_order.NOT_VALIDATED, "never validated"),
    Case("ex5-no-index", S5, lambda: SAFE[:4], safe_order.NO_INDEX, "never builds the index"),
    Case("ex5-check-validated-at-once", S5,
         lambda: ["add_status", "add_check", "create_index_concurrently"],
         _danger("check-not-valid", "add_check"), "add_check: CHECK added"),
    Case("ex5-plain-index", S5, lambda: [*SAFE[:4], "create_index"],
         _danger("index-not-concurrent", "create_index"), "create_index: CREATE"),
    Case("ex5-backfill", S5, lambda: ["add_status", "backfill_status", *SAFE[2:]],
         _danger("table-rewrite", "backfill_status"), "backfill_status: UPDATE"),
    Case("ex5-set-not-null", S5, lambda: ["add_status", "set_status_not_null", *SAFE[2:]],
         _danger("not-null-without-check", "set_status_not_null"),
         "set_status_not_null: SET NOT NULL"),
    Case("ex5-empty", S5, lambda: [], safe_order.EMPTY, "the plan is empty"),
    Case("ex5-string", S5, lambda: "add_status", safe_order.NOT_A_LIST, "got str"),
    Case("ex5-unknown", S5, lambda: ["add_status", "validate"], safe_order.UNKNOWN,
         "unknown step 'validate'"),
]


def _runs(case: Case) -> list[Any]:
    params = []
    for backend in case.backends:
        marks = [pytest.mark.server] if backend != "sqlite" else []
        params.append(pytest.param(case, backend, id=f"{case.id}@{backend}", marks=marks))
    return params


def _url(backend: str, make_url: Any) -> str:
    """Where a check makes its scratch databases: in-memory SQLite or a unique server base."""
    if backend == "sqlite":
        return "sqlite://"
    return make_url(backend)  # a database name of its own: …__shopmig_exN beside it


def _check(case: Case, url: str, **kwargs: Any) -> Feedback:
    if case.check is S5:
        return case.check(case.answer, url=None if url == "sqlite://" else url, **kwargs)
    return case.check(case.answer, url=url, **kwargs)


@pytest.mark.parametrize(("case", "backend"), [p for c in CASES for p in _runs(c)])
def test_each_wrong_answer_gets_not_yet_and_its_hint_ladder(case: Case, backend: str,
                                                            make_url: Any) -> None:
    url = _url(backend, make_url)
    message = case.message[backend] if isinstance(case.message, dict) else case.message
    first = _check(case, url)
    _wrong(first, case.ladder, message, level=1)
    if case.absent:
        assert not any(case.absent in m for m in first.messages), str(first)
    if len(case.ladder) > 1 and backend == "sqlite":
        again = _check(case, url)
        _wrong(again, case.ladder, message, level=2)


def test_every_hint_ladder_is_reached_by_a_wrong_answer() -> None:
    covered = {c.ladder[0] for c in CASES}
    ladders = {ladder[0] for ladder in feedback.LADDERS}
    assert ladders - covered == set()


def test_explicit_hint_level_shows_that_rung() -> None:
    answer = ex3(divide=None)
    fb = exercises.check_cents_downgrade(answer, hint_level=2)
    _wrong(fb, cents.EMPTY_AMOUNTS, None, level=2)
    assert "Run the check again" not in str(fb)
    fb = exercises.check_cents_downgrade(answer, hint_level=9)  # past the top: the last rung
    _wrong(fb, cents.EMPTY_AMOUNTS, None, level=2)


# ------------------------------------------------------------------ hints hold no solution


def _normal(text: str) -> str:
    return " ".join(text.replace("'", '"').split())


def _longest_common(a: str, b: str) -> str:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    match = matcher.find_longest_match(0, len(a), 0, len(b))
    return a[match.a:match.a + match.size]


def _solution_body(code: str) -> str:
    """A solution function's body: what the learner has to write (not the given signature)."""
    lines = code.splitlines()
    body = [ln for ln in lines[1:] if not ln.strip().startswith('"""')]
    return "\n".join(body)


HINT_LIMIT = 20  # characters a hint may share with a solution (a name such as "nullable=")


def _all_hints() -> list[str]:
    return [rung for ladder in feedback.LADDERS for rung in ladder] + [feedback.NOT_DONE_HINT]


@pytest.mark.parametrize("name", sorted(SOLUTION_CODE))
def test_no_hint_holds_solution_code(name: str) -> None:
    solution = _normal(_solution_body(SOLUTION_CODE[name]))
    for hint in _all_hints():
        shared = _longest_common(_normal(hint), solution)
        assert len(shared.strip()) < HINT_LIMIT, (hint, shared)


def test_no_hint_names_a_step_of_the_safe_order() -> None:
    names = re.findall(r'"(\w+)"', SOLUTION_CODE["safe_order"])
    assert names and set(names) <= set(exercises.STEP_CHOICES)
    for hint in _all_hints():
        assert not any(re.search(rf"\b{n}\b", hint) for n in names), hint


def test_lint_fixes_used_as_last_rungs_hold_no_solution_code() -> None:
    """Exercise 5's closest rung is lint's own fix: it names SQL, never a step of the plan."""
    from shopmig.lint import lint_sql

    names = set(exercises.STEP_CHOICES)
    for statement in exercises.STEP_CHOICES.values():
        for finding in lint_sql(statement, "postgresql", rows=exercises.BIG_TABLE_ROWS):
            assert not any(re.search(rf"\b{n}\b", finding.fix) for n in names), finding.fix


# ------------------------------------------------------------------ right answers, not done


@pytest.mark.parametrize("backend", [
    "sqlite", pytest.param("postgresql", marks=pytest.mark.server),
    pytest.param("mariadb", marks=pytest.mark.server)])
def test_the_solutions_are_correct_on_every_database(backend: str, make_url: Any) -> None:
    url = _url(backend, make_url)
    _right(exercises.check_shipped_at(_solution("add_shipped_at"), url=url))
    _right(exercises.check_fast_status(_solution("fast_add_status"), url=url))
    _right(exercises.check_cents_downgrade(_solution("cents_downgrade"), url=url))
    _right(exercises.check_expectations(_solution("my_expectations"), url=url))
    fb = exercises.check_safe_order(_solution("safe_order"), url=None if backend == "sqlite"
                                    else url)
    _right(fb)
    assert fb.notes == []


def test_other_right_answers_are_correct_too() -> None:
    _right(exercises.check_shipped_at(ex1(type_=sa.TIMESTAMP())))
    _right(exercises.check_fast_status(ex2(type_=sa.String(9))))
    _right(exercises.check_fast_status(ex2(server_default=sa.text("'pending'"))))
    _right(exercises.check_cents_downgrade(ex3(type_=sa.Float(53))))
    _right(exercises.check_cents_downgrade(ex3(divide="CAST(total_cents AS REAL) / 100")))
    _right(exercises.check_safe_order(
        lambda: ["set_lock_timeout", "add_status", "create_index_concurrently",
                 "add_check_not_valid", "validate_check"]))


def test_a_right_plan_without_a_lock_timeout_gets_a_word_about_it() -> None:
    """Issue: the correct exercise 5 answer got no word about lock_timeout."""
    fb = exercises.check_safe_order(lambda: SAFE[1:])
    _right(fb)
    assert len(fb.notes) == 1 and "lock timeout" in fb.notes[0], fb.notes
    assert "no lock timeout" in fb.notes[0] and "Note:" in str(fb)


@pytest.mark.parametrize("check", [S1, S2, S3, S4, S5])
def test_the_placeholder_is_not_done_yet(check: Callable[..., Feedback]) -> None:
    _not_done(check(placeholder))
    _not_done(check(None))
    _not_done(check(lambda *_: ...))


# ------------------------------------------------------------------ any input, no traceback


WEIRD_RETURNS = [0, "x", b"bytes", 1.5, [], {}, set(), (), [None], [1, 2], {"a": [1]},
                 {1: "x"}, {"status": object()}, {"status": None, "currency": None},
                 {"status": float("inf"), "currency": "EUR"}, ["add_status", None],
                 [["add_status"]], {"status": "pending", "currency": "EUR", "colour": 1},
                 iter([]), range(3)]


@pytest.mark.parametrize("check", [S4, S5])
@pytest.mark.parametrize("value", WEIRD_RETURNS, ids=repr)
def test_any_returned_value_gets_feedback(check: Callable[..., Feedback], value: Any) -> None:
    fb = check(lambda: value)
    _assert_plain(fb)
    assert fb.done and not fb.ok and fb.hint, str(fb)


@pytest.mark.parametrize("check", [S1, S2, S3, S4, S5])
@pytest.mark.parametrize("answer", [42, "answer", sa, print, no_arguments, raises_value_error,
                                    lambda *_: 1 / 0, lambda *_: [].pop()],
                         ids=["int", "str", "module", "builtin", "no-args", "raises",
                              "zero-division", "index-error"])
def test_any_answer_gets_feedback(check: Callable[..., Feedback], answer: Any) -> None:
    fb = check(answer)
    _assert_plain(fb)
    assert fb.done and not fb.ok and fb.hint, str(fb)


def test_feedback_renders_as_text_and_html() -> None:
    fb = Feedback(ok=False, done=True, messages=["✗ a <b>bold</b> claim"], hint="try x & y",
                  exercise="Exercise 0", hint_level=1, hint_levels=2, notes=["n < m"],
                  ran_on="ran on SQLite")
    assert str(fb) == ("Exercise 0: not right yet\n  ✗ a <b>bold</b> claim\n"
                       "  Hint 1 of 2: try x & y\n"
                       "  (Run the check again for hint 2 (a closer one).)\n"
                       "  Note: n < m\n  (ran on SQLite)")
    page = fb._repr_html_()
    assert "&lt;b&gt;bold" in page and "try x &amp; y" in page and "n &lt; m" in page
    assert fb.to_dict()["status"] == "not right yet" and fb.to_dict()["hint_level"] == 1
    table = exercises.summary([fb])
    assert table.to_dict("records") == [
        {"exercise": "Exercise 0", "status": "not right yet", "hint": "try x & y"}]


def test_trace_step_shows_what_ran_without_a_verdict() -> None:
    trace = exercises.trace_step(exercises.slow_add_status)
    assert trace["rows written"].tolist() == [0, exercises.EXERCISE_ROWS]
    assert trace["statement"].str.startswith(("ALTER TABLE", "UPDATE")).all()
    assert list(trace.columns) == ["statement", "rows written"]


def test_teach_has_no_database_name_comparison() -> None:
    names = r"(?:sqlite|postgres(?:ql)?|mysql|mariadb)"
    pattern = re.compile(rf"""(?:==|!=|\bin\b)\s*\(?\s*["']{names}["']"""
                         rf"""|["']{names}["']\s*(?:==|!=)"""
                         r"|is_mariadb|get_backend_name\(\)\s*[=!]=")
    teach = ROOT / "shopmig" / "teach"
    for path in [*(teach / "exercises").rglob("*.py"), teach / "lockqueue.py",
                 teach / "display.py", teach / "kernels.py"]:
        text = path.read_text(encoding="utf-8")
        assert not pattern.search(text), (path, pattern.search(text))


# ------------------------------------------------------------------ the notebooks


def test_committed_notebooks_are_generated_from_the_source() -> None:
    assert BUILDER.drift() == []


def test_learner_and_solution_sources() -> None:
    cell = ("def f(op):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    op.x()\n"
            "    ### END SOLUTION\n")
    assert BUILDER.learner_source(cell) == (
        "def f(op):\n    \"\"\"Doc.\"\"\"\n    raise NotImplementedError(\"your turn\")\n")
    assert BUILDER.solution_source(cell) == "def f(op):\n    \"\"\"Doc.\"\"\"\n    op.x()"
    with pytest.raises(ValueError, match="unbalanced"):
        BUILDER.learner_source("### BEGIN SOLUTION\nx = 1\n")


def test_the_learner_notebook_and_folder_hold_no_solution() -> None:
    learner = nbformat.read(FOLDER / "exercises_learner.ipynb", as_version=4)
    text = "\n".join(c.source for c in learner.cells)
    assert "BEGIN SOLUTION" not in text
    assert not any("solution-only" in c.metadata.get("tags", []) for c in learner.cells)
    for name, code in SOLUTION_CODE.items():
        shared = _longest_common(_normal(text), _normal(_solution_body(code)))
        assert len(shared.strip()) < 30, (name, shared)
    # nothing in the folder learners open (make lab, make site) holds a solution
    everything = [p for p in (ROOT / "notebooks").rglob("*") if p.is_file()]
    assert not [p for p in everything if "solution" in p.name or "BEGIN SOLUTION" in
                p.read_text(encoding="utf-8", errors="ignore")]
    assert (FACILITATOR / "exercises_solution.ipynb").is_file()


@pytest.mark.slow
def test_learner_notebook_runs_no_check_before_an_answer(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SHOPMIG_NOTEBOOK_URL", raising=False)
    nb = nbformat.read(FOLDER / "exercises_learner.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(FOLDER)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    checks = [c for c in code if "check" in c.metadata.get("tags", [])]
    assert len(checks) == 5
    for cell in checks:
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert len(results) == 1, cell.source
        first = results[0].data["text/plain"].splitlines()[0]
        assert first.endswith(": not done yet"), first
        assert "not done yet" in results[0].data["text/html"]
    shown = "\n".join(str(o.get("data", o.get("text", ""))) for c in code for o in c.outputs)
    assert "not right yet" not in shown and "✗" not in shown  # nothing judged before an answer
    assert "Hint 1 of" not in shown


@pytest.mark.slow
def test_the_solution_notebook_passes_nbval_strict() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider", "-q",
         "--nbval-sanitize-with", str(ROOT / "notebooks" / "nbval_sanitize.cfg"),
         str(FACILITATOR / "exercises_solution.ipynb")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=900,
        env={k: v for k, v in __import__("os").environ.items() if k != "SHOPMIG_NOTEBOOK_URL"})
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_nbval_collects_nothing_in_the_learner_folder() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--collect-only", "-q",
         "-p", "no:cacheprovider", str(FOLDER)],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert "exercises_learner.ipynb" not in out.stdout, out.stdout
