"""Restrict the column to the allowed values with a CHECK constraint.

PostgreSQL: ADD CONSTRAINT ... NOT VALID (milliseconds); 0004 validates it. MariaDB/MySQL: no
online path, the table is copied; refused on a large table unless allowed. SQLite: every row is
checked, then the constraint is added to the stored definition (SQLite's documented procedure;
no rebuild, so triggers, indexes and views stay). See ``add_check``/``drop_check``.
"""

from shopmig.migrate.steps import run_step

revision = "0003_status_check"
down_revision = '0002_add_status'
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_step(revision, "up")


def downgrade() -> None:
    run_step(revision, "down")
