"""Add orders.status: NOT NULL, server-side default 'pending', without rewriting the table.

PostgreSQL 11+: one ADD COLUMN ... DEFAULT ... NOT NULL, stored in the catalog (no rewrite).
MariaDB 10.3+/MySQL 8: ALGORITHM=INSTANT, so the server errors instead of silently copying.
SQLite: one ALTER TABLE ... ADD COLUMN, which only edits the schema text.
"""

from alembic import op

from shopmig.migrate import steps

revision = steps.ADD_STATUS
down_revision = steps.BASELINE
branch_labels = None
depends_on = None


def upgrade() -> None:
    if steps.dialect() == "mysql":
        column = steps.column_ddl(steps.status_column())
        op.execute(f"ALTER TABLE {steps.q(steps.TABLE)} ADD COLUMN {column}, ALGORITHM=INSTANT")
    else:
        op.add_column(steps.TABLE, steps.status_column())


def downgrade() -> None:
    op.drop_column(steps.TABLE, steps.STATUS)
