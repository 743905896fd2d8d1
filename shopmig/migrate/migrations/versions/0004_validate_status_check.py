"""Validate the status CHECK for the rows that existed before it.

PostgreSQL: VALIDATE CONSTRAINT scans the table under SHARE UPDATE EXCLUSIVE, so writes go on.
Elsewhere the CHECK was validated when it was added: nothing to do.
"""

from alembic import op

from shopmig.migrate import steps

revision = steps.VALIDATE_CHECK
down_revision = steps.STATUS_CHECK
branch_labels = None
depends_on = None


def upgrade() -> None:
    if steps.dialect() == "postgresql":
        op.execute(
            f"ALTER TABLE {steps.q(steps.TABLE)} VALIDATE CONSTRAINT {steps.q(steps.CHECK_NAME)}"
        )


def downgrade() -> None:
    if steps.dialect() == "postgresql":
        table, name = steps.q(steps.TABLE), steps.q(steps.CHECK_NAME)
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({steps.check_sql()}) NOT VALID"
        )
