"""The migration's names and the options for running it on a live database.

Kept free of heavy imports (no SQLAlchemy, no Alembic) so the command line can show its
defaults without loading them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

TABLE = "orders"
KEY = "order_id"
STATUS = "status"
STATUS_DEFAULT = "pending"
STATUS_VALUES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
STATUS_LENGTH = 16
CHECK_NAME = "ck_orders_status"
INDEX_NAME = "ix_orders_status"
VERSION_TABLE = "shopmig_version"

BASELINE = "0001_baseline"
ADD_STATUS = "0002_add_status"
STATUS_CHECK = "0003_status_check"
VALIDATE_CHECK = "0004_validate_status_check"
STATUS_INDEX = "0005_status_index"


@dataclass(frozen=True)
class MigrationOptions:
    """Knobs for running steps on a live database.

    - ``lock_timeout_s``: how long one DDL statement may wait for its lock before giving up
      (PostgreSQL ``lock_timeout``, MariaDB ``lock_wait_timeout``).
    - ``statement_timeout_s``: the longest any one statement may run (PostgreSQL
      ``statement_timeout``, MariaDB ``max_statement_time``).
    - ``retries`` and ``backoff_s``: a step that timed out waiting for a lock is retried this many
      more times, waiting ``backoff_s * 2**attempt`` seconds in between.
    - ``allow_table_rewrite``: run steps that copy the whole table (MariaDB's CHECK, a column
      MariaDB cannot add instantly, SQLite's DROP COLUMN) even when the table has more than
      ``rewrite_row_limit`` rows.
    - ``lock_wait_s``: how long a second migrator waits for the first one's migration lock
      before it gives up (one migrator per database at a time).
    """

    lock_timeout_s: float = 2.0
    statement_timeout_s: float = 600.0
    retries: int = 3
    backoff_s: float = 0.5
    allow_table_rewrite: bool = False
    rewrite_row_limit: int = 100_000
    lock_wait_s: float = 30.0

    def to_dict(self) -> dict[str, object]:
        """The options as a plain dict."""
        return asdict(self)
