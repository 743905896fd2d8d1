"""Validate the CHECK for the rows that existed before it.

PostgreSQL: VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE, so reads and
writes go on. Elsewhere the CHECK was validated when it was added: nothing to do. See
``validate_check``/``invalidate_check``.
"""

from shopmig.migrate.steps import run_step

revision = "0004_validate_status_check"
down_revision = '0003_status_check'
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_step(revision, "up")


def downgrade() -> None:
    run_step(revision, "down")
