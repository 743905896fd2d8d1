"""The migration's steps: what each one runs, what it does to the table, and how to tell it ran.

A step is declared once, in :data:`STEPS`: its revision, a description, the dialect method that
builds its statements *and* its impact for each direction (see the ``steps`` section of
:class:`shopmig.dialects.base.Dialect`), and how the catalog shows it applied. The statements
are built from the live table (:class:`TableState`, read by the dialect), and that very list
is what the revision executes (:func:`run_step`), what :func:`shopmig.plan` and ``shopmig sql``
show, what the linter reads and what the rehearsal report prints.

The revision scripts in ``migrations/versions`` only call :func:`run_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shopmig.migrate.options import (  # noqa: F401 - re-exported: the names of the migration
    ADD_STATUS,
    BASELINE,
    CHECK_NAME,
    INDEX_NAME,
    KEY,
    STATUS,
    STATUS_CHECK,
    STATUS_DEFAULT,
    STATUS_INDEX,
    STATUS_LENGTH,
    STATUS_VALUES,
    TABLE,
    VALIDATE_CHECK,
    VERSION_TABLE,
    MigrationOptions,
)
from shopmig.migrate.target import Target

if TYPE_CHECKING:
    from shopmig.dialects.base import Dialect


@dataclass(frozen=True)
class StepImpact:
    """What one step does to the table on one database (the preflight answer).

    - ``lock``: the lock it takes, and for how long.
    - ``blocks_writes`` / ``queues``: what waits while the step waits for or holds its lock.
      A lock that is *waiting* already blocks every later query that conflicts with it
      (PostgreSQL's lock queue, MariaDB's metadata lock): the lock timeout bounds that wait.
    - ``rewrites_table``: every row is copied; ``scans_table``: every row is read.
    - ``transactional``: the whole step commits or rolls back as one (False for MariaDB DDL,
      which commits by itself, and for ``CREATE INDEX CONCURRENTLY``).
    """

    revision: str
    dialect: str
    summary: str
    lock: str
    blocks_writes: str
    rewrites_table: bool
    scans_table: bool
    notes: list[str] = field(default_factory=list)
    queues: str = ""
    transactional: bool = True

    def to_dict(self) -> dict[str, object]:
        """The impact as a plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a step.

    ``autocommit``: runs outside any transaction (``CREATE INDEX CONCURRENTLY``).
    ``must_be_zero``: a query whose single number must be 0, or the step fails with
    ``purpose`` as the reason (SQLite checks the existing rows before a CHECK takes effect).
    """

    sql: str
    autocommit: bool = False
    must_be_zero: bool = False
    purpose: str = ""

    def render(self) -> str:
        """The statement as the preview shows it (with a comment for checks)."""
        if self.must_be_zero:
            return f"-- must return 0: {self.purpose}\n{self.sql};"
        return f"{self.sql};"


@dataclass(frozen=True)
class TableState:
    """What the steps need to know about the live table, read by the dialect's catalog.

    ``check`` is None, ``"not valid"`` or ``"valid"``; ``index`` is None, ``"invalid"`` or
    ``"valid"``. ``invalid_indexes`` lists indexes a failed build left behind (PostgreSQL).
    ``partitions`` are a partitioned table's partitions (PostgreSQL). ``create_sql`` and
    ``schema_version`` are SQLite's stored table definition and schema cookie;
    ``instant_blockers`` what stops MariaDB/MySQL from adding a column instantly.
    ``joined_transaction``: the step will run inside a transaction the caller holds open, so
    nothing can run outside a transaction (no ``CONCURRENTLY``).
    """

    target: Target
    exists: bool = True
    columns: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()
    column: bool = False
    check: str | None = None
    index: str | None = None
    invalid_indexes: tuple[str, ...] = ()
    partitions: tuple[tuple[str | None, str], ...] = ()
    partitioned: bool = False
    rows: int | None = None
    create_sql: str | None = None
    schema_version: int | None = None
    instant_blockers: tuple[str, ...] = ()
    taken_names: tuple[str, ...] = ()
    joined_transaction: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def but(self, **changes: Any) -> TableState:
        """A copy with ``changes`` (the state a step leaves behind)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class StepPlan:
    """One step, one direction, on one table: the statements, the impact, the state after.

    ``refusal`` (with ``hint``) says why it cannot run as planned (nothing would run);
    ``rewrites`` marks a step that copies the table, refused above the row limit unless
    ``allow_table_rewrite``.
    """

    revision: str
    direction: str
    statements: tuple[Statement, ...]
    impact: StepImpact
    after: TableState
    rewrites: bool = False
    refusal: str | None = None
    hint: str | None = None

    @property
    def sql(self) -> str:
        """Every statement, as the preview shows them."""
        return "\n".join(s.render() for s in self.statements) or "-- nothing to run"


Builder = Callable[["Dialect", TableState, MigrationOptions], StepPlan]


@dataclass(frozen=True)
class StepSpec:
    """A step as declared once: its revision, description, builders and how it shows."""

    revision: str
    description: str
    up: Builder
    down: Builder
    applied: Callable[[TableState], bool]


def _not_applied(state: TableState) -> bool:
    return False


STEPS: dict[str, StepSpec] = {
    BASELINE: StepSpec(
        BASELINE, "the table as it was before the migration (adopted, or the demo's orders)",
        up=lambda d, s, o: d.create_baseline(s, o),
        down=lambda d, s, o: d.drop_baseline(s, o),
        applied=lambda s: s.exists,
    ),
    ADD_STATUS: StepSpec(
        ADD_STATUS, "add the column NOT NULL with the server-side default 'pending'",
        up=lambda d, s, o: d.add_column(s, o),
        down=lambda d, s, o: d.drop_column(s, o),
        applied=lambda s: s.column,
    ),
    STATUS_CHECK: StepSpec(
        STATUS_CHECK, "restrict the column to the allowed values with a CHECK constraint",
        up=lambda d, s, o: d.add_check(s, o),
        down=lambda d, s, o: d.drop_check(s, o),
        applied=lambda s: s.check is not None,
    ),
    VALIDATE_CHECK: StepSpec(
        VALIDATE_CHECK, "validate the CHECK for the rows that existed before it",
        up=lambda d, s, o: d.validate_check(s, o),
        down=lambda d, s, o: d.invalidate_check(s, o),
        applied=lambda s: s.check == "valid",
    ),
    STATUS_INDEX: StepSpec(
        STATUS_INDEX, "index the column for the order-management queries",
        up=lambda d, s, o: d.create_index(s, o),
        down=lambda d, s, o: d.drop_index(s, o),
        applied=lambda s: s.index == "valid",
    ),
}
"""Every step, by revision id, oldest first."""


def build(revision: str, direction: str, dialect: Dialect, state: TableState,
          options: MigrationOptions | None = None) -> StepPlan:
    """The plan for ``revision`` in ``direction`` on a table in ``state``."""
    spec = STEPS[revision]
    builder = spec.up if direction == "up" else spec.down
    return builder(dialect, state, options or MigrationOptions())


def check_values_sql(dialect: Dialect, column: str) -> str:
    """``"status" IN ('pending', 'paid', ...)``: the CHECK's expression."""
    values = ", ".join(dialect.literal(v) for v in STATUS_VALUES)
    return f"{dialect.quote(column)} IN ({values})"


def demo_state(dialect: Dialect, target: Target | None = None) -> TableState:
    """The demo shop's table at the baseline (for rendering SQL with no database at all)."""
    target = target or Target()
    return dialect.demo_table_state(target)


def step_impact(revision: str, dialect: str, direction: str = "up", rows: int | None = None,
                server_version: tuple[int, ...] | None = None) -> StepImpact:
    """What ``revision`` does on the demo table on ``dialect`` (``sqlite``, ``postgresql``,
    ``mysql``/``mariadb``) in ``direction``, before any earlier step's effect is known: the
    state is the one the step starts from when every step before it ran."""
    from shopmig.dialects import dialect_class

    d = dialect_class(dialect)(None, server_version)
    return plan_from(d, demo_state(d).but(rows=rows), revision, direction).impact


def plan_from(dialect: Dialect, start: TableState, revision: str, direction: str,
              options: MigrationOptions | None = None) -> StepPlan:
    """The plan of ``revision`` after every earlier step was applied to ``start`` (up), or
    every later one undone (down)."""
    order = list(STEPS)
    state = start
    if direction == "up":
        for rev in order[1 : order.index(revision)]:
            if not STEPS[rev].applied(state):
                state = build(rev, "up", dialect, state, options).after
        return build(revision, "up", dialect, state, options)
    for rev in order[1:]:
        if not STEPS[rev].applied(state):
            state = build(rev, "up", dialect, state, options).after
    for rev in reversed(order[order.index(revision) + 1 :]):
        state = build(rev, "down", dialect, state, options).after
    return build(revision, "down", dialect, state, options)


# ---------------------------------------------------------------- inside a running revision


def run_step(revision: str, direction: str) -> None:
    """Run one step from inside its Alembic revision: read the live table, build the plan,
    refuse if it cannot run, execute exactly its statements. Offline (``--sql``), render them
    for the table shopmig passed in (or the demo table)."""
    from alembic import op

    from shopmig.migrate import runtime

    runtime.run_step(op.get_context(), revision, direction)
