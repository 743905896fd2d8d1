"""Lint a migration plan before it runs: rewrites, locks, expected lock time, dangerous SQL.

Two levels, neither of which runs anything:

- :func:`lint_sql` reads SQL text (any SQL, not only shopmig's) statement by statement and
  returns a :class:`Finding` for each known dangerous pattern.
- :func:`lint_plan` plans the steps from a database's current revision to a target
  (:func:`shopmig.plan`: built from the live table, read-only, also for a table not adopted
  yet) and returns a :class:`LintReport`: per step the lock it takes, whether it blocks
  writes, rewrites or scans the table, how long the lock is expected to be held, and the
  findings, including a step the database refuses (``step-refused``, naming the blocker).

The package:

- ``sql.py``: split SQL into statements (outside quotes and comments) and tell their shapes;
- ``rules/``: one module per rule (name, severity, explanation, fix, and the dialect
  capability that makes it apply), listed in the registry :data:`shopmig.lint.rules.REGISTRY`;
- ``linter.py``: reads statements in order, asks each rule that applies, remembers;
- ``estimate.py``: the expected lock-hold time, from each step's impact and the database's
  per-row rates (``Dialect.lock_rates_s_per_row``);
- ``report.py``: :class:`LintReport` (text, JSON, HTML); ``api.py``: the two functions.

Severities: ``danger`` means writes wait for a time that grows with the table (or the
statement fails, or the step cannot run) and a safer way exists; ``warning`` means costly or
risky and sometimes unavoidable, or not decidable from the text alone; ``info`` is for the
record. The rules are tolerant patterns over the text (string literals and comments are
ignored, case does not matter): a preflight check, not a SQL parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmig.lint.api import lint_plan, lint_sql
from shopmig.lint.estimate import (
    ESTIMATE_BASIS,
    METADATA_LOCK_S,
    estimate_basis,
    expected_lock_seconds,
)
from shopmig.lint.report import FINDING_COLUMNS, STEP_COLUMNS, LintReport
from shopmig.lint.rules import REGISTRY, SEVERITIES, Finding, Rule

if TYPE_CHECKING:
    import pandas as pd

RULES: tuple[str, ...] = tuple(rule.name for rule in REGISTRY)
"""Every rule's name, in registry order."""


def rules_frame() -> pd.DataFrame:
    """Every rule as a table (``name``, ``severity``, ``title``, ``explanation``, ``fix``,
    ``applies_when``, and one column per database: whether the rule applies there)."""
    import pandas as pd

    from shopmig.dialects import DIALECTS

    rows = []
    for rule in REGISTRY:
        row: dict[str, object] = dict(rule.describe())
        row.update({cls.label: rule.applies_to(cls()) for cls in DIALECTS})
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["ESTIMATE_BASIS", "FINDING_COLUMNS", "METADATA_LOCK_S", "REGISTRY", "RULES",
           "SEVERITIES", "STEP_COLUMNS", "Finding", "LintReport", "Rule", "estimate_basis",
           "expected_lock_seconds", "lint_plan", "lint_sql", "rules_frame"]
