"""``step-refused``: a planned step that cannot run as it is (nothing would run)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from shopmig.lint import estimate
from shopmig.lint.rules.base import Context, Finding, PlannedStep, Rule

if TYPE_CHECKING:
    from shopmig.migrate.core import Step


class StepRefused(Rule):
    """A step the database's plan refuses (``Step.refusal``: e.g. MariaDB cannot add the
    column instantly because of a FULLTEXT index), or one that copies a table larger than the
    row limit without ``allow_table_rewrite`` (the run refuses it before anything runs)."""

    name = "step-refused"
    severity = "danger"
    title = "Step refused before it runs"
    explanation = (
        "shopmig plans each step from the live table and refuses, before running anything, a "
        "step that cannot run the cheap way: the blocker is named (a FULLTEXT index, a "
        "compressed row format, an old server, a table over the rewrite row limit). Nothing "
        "runs until the blocker is removed, or the copy is allowed knowingly.")
    fix = ("Remove the blocker on a copy first, or rehearse the copy and allow it knowingly "
           "(--allow-table-rewrite).")
    applies_when = "every database (shopmig's plan says when a step cannot run)"

    def check_step(self, planned: PlannedStep, ctx: Context) -> Iterator[Finding]:
        """The step's refusal, or the run's row-limit refusal."""
        step, options = planned.step, planned.options
        shown = " ".join(step.sql.split())
        verb = "upgrade" if step.direction == "up" else "downgrade"
        if step.refusal:
            yield self.finding(ctx, shown, f"{verb} refuses {step.revision}: {step.refusal}",
                               self._fix(planned, ctx))
            return
        rows = planned.rows
        if (step.impact.rewrites_table and not options.allow_table_rewrite and rows is not None
                and rows > options.rewrite_row_limit):
            yield self.finding(
                ctx, shown,
                f"{verb} refuses {step.revision}: it copies all {rows:,} rows of the table and "
                f"blocks writes until done (more than the limit of "
                f"{options.rewrite_row_limit:,} rows).", self._fix(planned, ctx, step))

    def _fix(self, planned: PlannedStep, ctx: Context, alternative: Step | None = None) -> str:
        alt = alternative or planned.alternative
        if alt is None or alt.refusal:
            return ("Remove the cause named above (shopmig inspect shows the table), then lint "
                    "again.")
        impact = alt.impact
        cost = estimate.expected_lock_seconds(impact, alt.sql, planned.rows)
        when = (f"about {estimate.seconds(cost)} (estimate; rehearse on a copy to measure)"
                if cost is not None else "a time that grows with the table")
        return ("Remove the blocker on a copy first, or allow the copy knowingly with "
                "--allow-table-rewrite (MigrationOptions(allow_table_rewrite=True)): the step "
                f"then runs as '{impact.summary}', blocking writes {impact.blocks_writes}: {when}.")
