"""Index orders.status for the order-management queries (orders by state).

PostgreSQL: CREATE INDEX CONCURRENTLY outside a transaction; an invalid index left by an
earlier failed build is dropped first. MariaDB/MySQL: ALGORITHM=INPLACE, LOCK=NONE.
"""

from alembic import op

from shopmig.migrate import steps

revision = steps.STATUS_INDEX
down_revision = steps.VALIDATE_CHECK
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = steps.dialect()
    table, index, column = steps.q(steps.TABLE), steps.q(steps.INDEX_NAME), steps.q(steps.STATUS)
    if dialect == "postgresql":
        with steps.autocommit():
            steps.drop_invalid_index(steps.INDEX_NAME)
            op.execute(f"CREATE INDEX CONCURRENTLY {index} ON {table} ({column})")
    elif dialect == "mysql":
        op.execute(f"CREATE INDEX {index} ON {table} ({column}) ALGORITHM=INPLACE LOCK=NONE")
    else:
        op.create_index(steps.INDEX_NAME, steps.TABLE, [steps.STATUS])


def downgrade() -> None:
    dialect = steps.dialect()
    if dialect == "postgresql":
        with steps.autocommit():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {steps.q(steps.INDEX_NAME)}")
    else:
        op.drop_index(steps.INDEX_NAME, table_name=steps.TABLE)
