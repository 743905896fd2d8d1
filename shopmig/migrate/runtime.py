"""Inside a running revision: read the live table, build the step's plan, run exactly that.

Called by :func:`shopmig.migrate.steps.run_step` from each revision script, under shopmig's
own runner (:mod:`shopmig.migrate.core`, which passes its options, target and a callback in
``config.attributes``) or under the plain ``alembic`` command (which passes nothing: the target
is what ``shopmig adopt`` recorded, the options the defaults or ``-x`` values).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from shopmig.dialects import dialect_for
from shopmig.errors import (
    ConcurrentMigrationError,
    ExistingRowsViolateError,
    UnsafeMigrationError,
)
from shopmig.migrate.options import BASELINE, MigrationOptions
from shopmig.migrate.steps import STEPS, Statement, StepPlan, TableState, build, demo_state
from shopmig.migrate.target import Target, resolve_target

OPTIONS_KEY = "shopmig_options"
TARGET_KEY = "shopmig_target"
STATE_KEY = "shopmig_state"
ON_PLAN_KEY = "shopmig_on_plan"


def _attributes(ctx: MigrationContext) -> dict[str, Any]:
    return ctx.config.attributes if ctx.config is not None else {}


def options_of(ctx: MigrationContext) -> MigrationOptions:
    """The :class:`MigrationOptions` the caller passed (defaults if none)."""
    opts = _attributes(ctx).get(OPTIONS_KEY)
    return opts if isinstance(opts, MigrationOptions) else MigrationOptions()


def run_step(ctx: MigrationContext, revision: str, direction: str) -> None:
    """Run (or, offline, render) ``revision`` in ``direction`` on the context's database."""
    attrs = _attributes(ctx)
    options = options_of(ctx)
    if ctx.as_sql:
        dialect = dialect_for(ctx.dialect)
        target = attrs.get(TARGET_KEY)
        state = attrs.get(STATE_KEY) or demo_state(dialect, target)
        plan = build(revision, direction, dialect, state, options)
        attrs[STATE_KEY] = plan.after
        for statement in plan.statements:
            ctx.impl.static_output(statement.render())
        return
    conn = ctx.connection
    assert conn is not None
    dialect = dialect_for(conn)
    target = attrs.get(TARGET_KEY)
    if not isinstance(target, Target):
        target = resolve_target(conn, must_exist=revision != BASELINE)
    _check_version(ctx, revision, direction)
    state = dialect.table_state(conn, target)
    if getattr(ctx, "_in_external_transaction", False):  # Alembic's own flag for it
        state = state.but(joined_transaction=True)
    plan = build(revision, direction, dialect, state, options)
    refuse_if_needed(conn, plan, options)
    on_plan: Callable[[StepPlan], None] | None = attrs.get(ON_PLAN_KEY)
    if on_plan is not None:
        on_plan(plan)
    for statement in plan.statements:
        execute(ctx, conn, statement, plan)


def _check_version(ctx: MigrationContext, revision: str, direction: str) -> None:
    """The database must still be where this run planned to start from (another session may
    have moved it while this one waited for a lock)."""
    order = list(STEPS)
    i = order.index(revision)
    expected = (order[i - 1] if i else None) if direction == "up" else revision
    actual = ctx.get_current_revision()
    if actual != expected:
        from shopmig.db import mask_url

        assert ctx.connection is not None
        raise ConcurrentMigrationError(mask_url(ctx.connection), revision, expected, actual)


def refuse_if_needed(conn: Connection, plan: StepPlan, options: MigrationOptions,
                     rows: int | None = None) -> None:
    """Raise :class:`~shopmig.errors.UnsafeMigrationError` when ``plan`` cannot run as it is:
    the dialect refused it, or it copies a table larger than the row limit without
    ``allow_table_rewrite``. Nothing has run yet."""
    from shopmig.db import mask_url

    if plan.refusal:
        raise UnsafeMigrationError(plan.revision, mask_url(conn), plan.refusal,
                                   plan.hint or "See `shopmig lint` for what blocks it.")
    if plan.rewrites and not options.allow_table_rewrite:
        count = rows if rows is not None else dialect_for(conn).count_rows(conn, plan.after.target)
        if count > options.rewrite_row_limit:
            raise UnsafeMigrationError(
                plan.revision, mask_url(conn),
                f"it copies all {count:,} rows of {plan.after.target.display} and blocks writes "
                f"until done (more than the limit of {options.rewrite_row_limit:,} rows). "
                "Nothing was changed.",
                "Rehearse it on a copy to measure how long writes stop, schedule a window, then "
                "run it with allow_table_rewrite=True (CLI: --allow-table-rewrite).",
            )


def execute(ctx: MigrationContext, conn: Connection, statement: Statement,
            plan: StepPlan) -> None:
    """Run one statement as written (no bind parameters are parsed out of it)."""
    if statement.autocommit:
        with ctx.autocommit_block():
            conn.exec_driver_sql(statement.sql)
        return
    result = conn.exec_driver_sql(statement.sql)
    if statement.must_be_zero:
        count = result.scalar()
        if count:
            from shopmig.db import mask_url

            target = plan.after.target
            raise ExistingRowsViolateError(mask_url(conn), plan.revision,
                                           ctx.get_current_revision(), target.display,
                                           target.column, int(count), statement.purpose)


def state_of(conn: Connection, target: Target) -> TableState:
    """The live table's state (read-only)."""
    return dialect_for(conn).table_state(conn, target)
