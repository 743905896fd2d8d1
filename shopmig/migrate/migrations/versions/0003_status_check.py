"""Restrict orders.status to the allowed values with a CHECK constraint.

PostgreSQL: ADD CONSTRAINT ... NOT VALID (milliseconds); the next step validates it.
MariaDB/MySQL: no online path, the table is copied; refused on a large table unless allowed.
SQLite: the table is rebuilt (batch mode) in one transaction; refused on a large table unless
allowed.
"""

from alembic import op

from shopmig.migrate import steps

revision = steps.STATUS_CHECK
down_revision = steps.ADD_STATUS
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = steps.dialect()
    table, name = steps.q(steps.TABLE), steps.q(steps.CHECK_NAME)
    if dialect == "postgresql":
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({steps.check_sql()}) NOT VALID"
        )
    elif dialect == "mysql":
        steps.guard_table_rewrite(revision)
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({steps.check_sql()}), "
            "ALGORITHM=COPY"
        )
    else:
        steps.guard_table_rewrite(revision)
        with op.batch_alter_table(
            steps.TABLE, recreate="always", copy_from=steps.batch_copy_from(with_check=False)
        ) as batch:
            batch.create_check_constraint(steps.CHECK_NAME, steps.check_sql())


def downgrade() -> None:
    if steps.dialect() == "sqlite":
        steps.guard_table_rewrite(revision)
        with op.batch_alter_table(
            steps.TABLE, recreate="always", copy_from=steps.batch_copy_from(with_check=True)
        ) as batch:
            batch.drop_constraint(steps.CHECK_NAME, type_="check")
    else:
        op.drop_constraint(steps.CHECK_NAME, steps.TABLE, type_="check")
