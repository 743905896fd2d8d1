"""The status-column migration: its steps, planning them, running them, adopting a shop.

- :mod:`shopmig.migrate.steps`: the revisions' ids, options and what each step does.
- :mod:`shopmig.migrate.core`: plan (SQL and impact, nothing runs), run one revision at a time
  up and down, adopt an existing table, stamp after a half-applied step.
- ``migrations/``: the Alembic environment and revision scripts.
"""

from shopmig._lazy import attach

_EXPORTS = {
    name: "shopmig.migrate.core"
    for name in ("AppliedStep", "Step", "adopt", "baseline_differences", "current_revision",
                 "downgrade", "history", "plan", "preview_sql", "revisions", "sql_by_dialect",
                 "upgrade", "stamp", "half_applied", "schema_revision")
} | {name: "shopmig.migrate.steps" for name in ("MigrationOptions", "StepImpact", "step_impact")}

__getattr__, __dir__ = attach(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
