"""The training exercises: every check answers in plain words, never with a traceback.

For each exercise: the placeholder is "not done yet", the solution is correct, and typical
wrong answers get the hint that points at their mistake. The learner notebook runs headless
with every check cell saying "not done yet"; the committed notebooks are what the generator
makes from their one source; nbval collects only the solution notebook.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import sqlalchemy as sa
from nbclient import NotebookClient

from shopmig.teach import exercises
from shopmig.teach.exercises import Feedback

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks" / "exercises"


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("build_exercises",
                                                  ROOT / "scripts" / "build_exercises.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def placeholder(*_args: Any) -> None:
    """What the learner notebook has in every "your turn" function."""
    raise NotImplementedError("your turn")


def _assert_plain(fb: Feedback) -> None:
    """Every feedback renders as text and HTML, without a traceback."""
    assert isinstance(fb, Feedback)
    text, page = str(fb), fb._repr_html_()
    assert "Traceback" not in text and "Traceback" not in page
    assert fb.exercise and text.splitlines()[0] == f"{fb.exercise}: {fb.status}"


def _wrong(fb: Feedback, *hint_words: str, message: str | None = None) -> None:
    _assert_plain(fb)
    assert fb.done and not fb.ok, str(fb)
    assert fb.hint is not None, str(fb)
    for word in hint_words:
        assert word in fb.hint, str(fb)
    if message is not None:
        assert any(message in m and m.startswith("✗") for m in fb.messages), str(fb)


def _right(fb: Feedback) -> None:
    _assert_plain(fb)
    assert fb.done and fb.ok and fb.hint is None, str(fb)
    assert all(m.startswith("✓") for m in fb.messages), str(fb)


def _not_done(fb: Feedback) -> None:
    _assert_plain(fb)
    assert not fb.done and not fb.ok and fb.status == "not done yet", str(fb)
    assert "your turn" in (fb.hint or "")


# ------------------------------------------------------------------ exercise 1


def shipped_at_solution(op: Any) -> None:
    op.add_column("orders", sa.Column("shipped_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE orders SET shipped_at = CURRENT_TIMESTAMP "
               "WHERE status IN ('shipped', 'delivered')")


def shipped_at_everyone(op: Any) -> None:
    op.add_column("orders", sa.Column("shipped_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE orders SET shipped_at = CURRENT_TIMESTAMP")


def shipped_at_forgets_delivered(op: Any) -> None:
    op.add_column("orders", sa.Column("shipped_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE orders SET shipped_at = CURRENT_TIMESTAMP WHERE status = 'shipped'")


def shipped_at_volatile_default(op: Any) -> None:
    op.add_column("orders", sa.Column("shipped_at", sa.DateTime(), nullable=False,
                                      server_default=sa.text("CURRENT_TIMESTAMP")))


def shipped_at_as_text(op: Any) -> None:
    op.add_column("orders", sa.Column("shipped_at", sa.String(30), nullable=True))
    op.execute("UPDATE orders SET shipped_at = 'yes' WHERE status IN ('shipped', 'delivered')")


def shipped_at_does_nothing(op: Any) -> None:
    """A body of ``pass``: ran, changed nothing."""


def test_shipped_at_solution_and_placeholder() -> None:
    _right(exercises.check_shipped_at(shipped_at_solution))
    _not_done(exercises.check_shipped_at(placeholder))
    _not_done(exercises.check_shipped_at(shipped_at_does_nothing))
    _not_done(exercises.check_shipped_at(None))


@pytest.mark.parametrize(("answer", "hint", "message"), [
    (shipped_at_everyone, ["WHERE status IN ('shipped', 'delivered')"],
     "1,400 orders that never shipped"),
    (shipped_at_forgets_delivered, ["Delivered orders were shipped too"],
     "200 orders with status 'delivered' have no shipped_at"),
    (shipped_at_volatile_default, ["constant default", "UPDATE"], "non-constant default"),
    (shipped_at_as_text, ["sa.DateTime()"], "not a date/time type"),
])
def test_shipped_at_wrong_answers(answer: Callable[..., None], hint: list[str],
                                  message: str) -> None:
    _wrong(exercises.check_shipped_at(answer), *hint, message=message)


# ------------------------------------------------------------------ exercise 2


def status_solution(op: Any) -> None:
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=False,
                                      server_default="pending"))


def status_python_default(op: Any) -> None:
    op.add_column("orders", sa.Column("status", sa.String(16), default="pending"))


def status_rebuilt(op: Any) -> None:
    with op.batch_alter_table("orders", recreate="always") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False,
                                   server_default="pending"))


def status_nullable(op: Any) -> None:
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=True,
                                      server_default="pending"))


def status_alter_afterwards(op: Any) -> None:
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=True,
                                      server_default="pending"))
    op.alter_column("orders", "status", nullable=False)


def test_fast_status_solution_and_placeholder() -> None:
    _right(exercises.check_fast_status(status_solution))
    _not_done(exercises.check_fast_status(placeholder))


@pytest.mark.parametrize(("answer", "hint", "message"), [
    (exercises.slow_add_status, ["Look at how the default is set", "server_default"],
     "this step wrote 2,000 rows of orders"),
    (status_python_default, ["default= is only used by SQLAlchemy", "server_default"],
     "2,000 existing orders read NULL"),
    (status_rebuilt, ["recreate", "plain op.add_column"], "the table was rebuilt"),
    (status_nullable, ["nullable=False"], "status allows NULL"),
    (status_alter_afterwards, ["SQLite cannot ALTER COLUMN", "when you add it"],
     "ALTER COLUMN status SET NOT NULL"),
])
def test_fast_status_wrong_answers(answer: Callable[..., None], hint: list[str],
                                   message: str) -> None:
    _wrong(exercises.check_fast_status(answer), *hint, message=message)


# ------------------------------------------------------------------ exercise 3


def cents_solution(op: Any) -> None:
    op.add_column("orders", sa.Column("amount", sa.Double(), nullable=True))
    op.execute("UPDATE orders SET amount = total_cents / 100.0")
    op.drop_column("orders", "total_cents")


def cents_no_copy(op: Any) -> None:
    op.add_column("orders", sa.Column("amount", sa.Double(), nullable=True))
    op.drop_column("orders", "total_cents")


def cents_integer_division(op: Any) -> None:
    op.add_column("orders", sa.Column("amount", sa.Double(), nullable=True))
    op.execute("UPDATE orders SET amount = total_cents / 100")
    op.drop_column("orders", "total_cents")


def cents_keeps_total(op: Any) -> None:
    op.add_column("orders", sa.Column("amount", sa.Double(), nullable=True))
    op.execute("UPDATE orders SET amount = total_cents / 100.0")


def cents_drop_first(op: Any) -> None:
    op.drop_column("orders", "total_cents")
    op.add_column("orders", sa.Column("amount", sa.Double(), nullable=True))
    op.execute("UPDATE orders SET amount = total_cents / 100.0")


def cents_integer_type(op: Any) -> None:
    op.add_column("orders", sa.Column("amount", sa.Integer(), nullable=True))
    op.execute("UPDATE orders SET amount = total_cents / 100.0")
    op.drop_column("orders", "total_cents")


def test_cents_downgrade_solution_and_placeholder() -> None:
    _right(exercises.check_cents_downgrade(cents_solution))
    _not_done(exercises.check_cents_downgrade(placeholder))


@pytest.mark.parametrize(("answer", "hint", "message"), [
    (cents_no_copy, ["copy before you drop", "total_cents / 100.0"],
     "2,000 amounts came back empty (NULL)"),
    (cents_integer_division, ["integer division", "100.0"],
     "ORD-0000001: 48.15 came back as 48.0"),
    (cents_keeps_total, ["drop_column(\"orders\", \"total_cents\")"],
     "total_cents is still there"),
    (cents_drop_first, ["order of your steps"], "no such column: total_cents"),
    (cents_integer_type, ["sa.Double()"], "amount is INTEGER now"),
])
def test_cents_downgrade_wrong_answers(answer: Callable[..., None], hint: list[str],
                                       message: str) -> None:
    _wrong(exercises.check_cents_downgrade(answer), *hint, message=message)


# ------------------------------------------------------------------ exercise 4


def test_expectations_solution_and_placeholder() -> None:
    _right(exercises.check_expectations(lambda: {"status": "pending", "currency": "EUR"}))
    _not_done(exercises.check_expectations(placeholder))
    _not_done(exercises.check_expectations(lambda: None))


@pytest.mark.parametrize(("answer", "hint", "message"), [
    ({"status": "pending"}, ["none for currency"], "the planted bug slipped through"),
    ({}, ["status, currency"], "no expectations"),
    ({"status": "pending", "currency": "eur"}, ["'EUR', upper case"], "false alarm"),
    ({"status": "pending", "amount": 1.0}, ["only for the columns the migration adds"],
     "amount existed before the migration"),
    ({"colour": "red"}, ["The migration adds status, currency"], "no column 'colour'"),
    (["status", "currency"], ["{\"column\": value"], "expected a dict"),
])
def test_expectations_wrong_answers(answer: object, hint: list[str], message: str) -> None:
    _wrong(exercises.check_expectations(lambda: answer), *hint, message=message)


# ------------------------------------------------------------------ exercise 5

SAFE = ["add_status", "add_check_not_valid", "validate_check", "create_index_concurrently"]


def test_safe_order_solution_and_placeholder() -> None:
    _right(exercises.check_safe_order(lambda: SAFE))
    _right(exercises.check_safe_order(
        lambda: ["add_status", "create_index_concurrently", "add_check_not_valid",
                 "validate_check"]))
    _not_done(exercises.check_safe_order(placeholder))
    _not_done(exercises.check_safe_order(lambda: []))


@pytest.mark.parametrize(("answer", "hint", "message"), [
    (["add_status", "add_check", "create_index"], ["NOT VALID"],
     "add_check: CHECK added without NOT VALID"),
    (["add_status", "add_check_not_valid", "validate_check", "create_index"],
     ["CREATE INDEX CONCURRENTLY"], "create_index: CREATE INDEX without CONCURRENTLY"),
    (["add_status", "validate_check", "add_check_not_valid", "create_index_concurrently"],
     ["NOT VALID, then validate it"], "nothing to validate yet"),
    (["create_index_concurrently", *SAFE[:3]], ["Add the column first"],
     "comes before the status column exists"),
    (["add_status_nullable", "backfill_status", "set_status_not_null", *SAFE[1:]],
     ["in batches"], "backfill_status: UPDATE without WHERE"),
    (SAFE[:3], ["create_index_concurrently"], "never creates the index on status"),
    (["add_status", "add_check_not_valid", "create_index_concurrently"], ["validate_check"],
     "never validated"),
    (["add_status", "add_check_not_valid", "validate", "create_index_concurrently"],
     ["Choose from"], "unknown step 'validate'"),
])
def test_safe_order_wrong_answers(answer: list[str], hint: list[str], message: str) -> None:
    _wrong(exercises.check_safe_order(lambda: answer), *hint, message=message)


# ------------------------------------------------------------------ any exercise


@pytest.mark.parametrize("check", [
    exercises.check_shipped_at, exercises.check_fast_status, exercises.check_cents_downgrade,
])
def test_learner_errors_are_explained_not_raised(check: Callable[..., Feedback]) -> None:
    def typo(op: Any) -> None:
        op.execute("UPDTE orders SET amount = 1")

    def python_error(op: Any) -> None:
        return undefined_name  # type: ignore[name-defined]  # noqa: F821

    _wrong(check(typo), "could not parse", message="syntax error")
    _wrong(check(python_error), "import it", message="NameError")
    _wrong(check(42), "Pass the function itself", message="expected a function")


def test_feedback_renders_as_text_and_html() -> None:
    fb = Feedback(ok=False, done=True, messages=["✗ a <b>bold</b> claim"], hint="try x & y",
                  exercise="Exercise 0")
    assert str(fb) == "Exercise 0: not right yet\n  ✗ a <b>bold</b> claim\n  Hint: try x & y"
    assert "&lt;b&gt;bold" in fb._repr_html_() and "try x &amp; y" in fb._repr_html_()
    assert fb.to_dict()["status"] == "not right yet"
    table = exercises.summary([fb])
    assert table.to_dict("records") == [
        {"exercise": "Exercise 0", "status": "not right yet", "hint": "try x & y"}]


# ------------------------------------------------------------------ the notebooks


def test_committed_notebooks_are_generated_from_the_source() -> None:
    assert _builder().drift() == []


def test_learner_and_solution_sources() -> None:
    builder = _builder()
    cell = ("def f(op):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    op.x()\n"
            "    ### END SOLUTION\n")
    assert builder.learner_source(cell) == (
        "def f(op):\n    \"\"\"Doc.\"\"\"\n    raise NotImplementedError(\"your turn\")\n")
    assert builder.solution_source(cell) == "def f(op):\n    \"\"\"Doc.\"\"\"\n    op.x()"
    with pytest.raises(ValueError, match="unbalanced"):
        builder.learner_source("### BEGIN SOLUTION\nx = 1\n")
    learner = nbformat.read(FOLDER / "exercises_learner.ipynb", as_version=4)
    text = "\n".join(c.source for c in learner.cells)
    assert "BEGIN SOLUTION" not in text and "server_default=\"pending\"" not in text
    assert not any("solution-only" in c.metadata.get("tags", []) for c in learner.cells)


@pytest.mark.slow
def test_learner_notebook_runs_and_every_check_says_not_done_yet(monkeypatch) -> None:
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


def test_nbval_collects_only_the_solution_notebook() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--collect-only", "-q",
         "-p", "no:cacheprovider", str(FOLDER)],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "exercises_solution.ipynb" in out.stdout
    assert "exercises_learner.ipynb" not in out.stdout
    assert "source" not in out.stdout
