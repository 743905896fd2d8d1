"""Index the column for the order-management queries.

PostgreSQL: CREATE INDEX CONCURRENTLY outside a transaction (an invalid index left by a failed
build is dropped first; a partitioned table gets ON ONLY + CONCURRENTLY per partition +
ATTACH). MariaDB/MySQL: ALGORITHM=INPLACE, LOCK=NONE. SQLite: CREATE INDEX. See
``create_index``/``drop_index``.
"""

from shopmig.migrate.steps import run_step

revision = "0005_status_index"
down_revision = '0004_validate_status_check'
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_step(revision, "up")


def downgrade() -> None:
    run_step(revision, "down")
