"""Add the column (``status``): NOT NULL, server-side default 'pending', without a rewrite.

PostgreSQL 11+: one ADD COLUMN ... DEFAULT ... NOT NULL, kept in the catalog. MariaDB 10.3+ /
MySQL 8: ALGORITHM=INSTANT, so the server errors instead of silently copying. SQLite: ALTER
TABLE ADD COLUMN, which only edits the stored definition. The statements and their impact are
built by each database's class (``shopmig.dialects``, ``add_column``/``drop_column``).
"""

from shopmig.migrate.steps import run_step

revision = "0002_add_status"
down_revision = '0001_baseline'
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_step(revision, "up")


def downgrade() -> None:
    run_step(revision, "down")
