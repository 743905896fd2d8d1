"""The walker: read SQL statement by statement, ask every rule that applies, remember.

One :class:`Linter` reads one SQL text (:func:`shopmig.lint_sql`) or one plan, step after step
(:func:`shopmig.lint_plan`): what an earlier statement or step did (a table created, a CHECK
validated, a lock timeout set) counts for the later ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shopmig.lint.rules import REGISTRY, Context, Finding, PlannedStep, Rule
from shopmig.lint.sql import parse, split

if TYPE_CHECKING:
    from shopmig.dialects.base import Dialect


class Linter:
    """Applies the rules that apply to ``dialect`` (all of :data:`REGISTRY` by default)."""

    def __init__(self, dialect: Dialect, *, rows: int | None = None,
                 lock_timeout_s: float | None = None,
                 rules: Sequence[Rule] = REGISTRY) -> None:
        self.rules = [r for r in rules if r.applies_to(dialect)]
        self.context = Context(dialect, rows=rows, lock_timeout_s=lock_timeout_s)

    def lint(self, sql: str, revision: str | None = None,
             allowed_rewrite: str | None = None) -> list[Finding]:
        """Findings on every statement of ``sql``, in order (``revision``: the plan step it
        belongs to; ``allowed_rewrite``: why a copy in it was allowed knowingly)."""
        ctx = self.context
        ctx.revision, ctx.allowed_rewrite = revision, allowed_rewrite
        found: list[Finding] = []
        for statement in split(sql):
            parsed = parse(statement)
            if not ctx.is_new(parsed.table):  # a table made by this SQL: nothing waits on it
                for rule in self.rules:
                    found.extend(rule.check(parsed, ctx))
            ctx.remember(parsed)
        return found

    def lint_step(self, planned: PlannedStep, allowed_rewrite: str | None = None
                  ) -> list[Finding]:
        """The plan-level findings on a step, then the findings on its SQL."""
        ctx = self.context
        ctx.revision, ctx.allowed_rewrite = planned.step.revision, allowed_rewrite
        found: list[Finding] = []
        for rule in self.rules:
            found.extend(rule.check_step(planned, ctx))
        return found + self.lint(planned.step.sql, planned.step.revision, allowed_rewrite)
