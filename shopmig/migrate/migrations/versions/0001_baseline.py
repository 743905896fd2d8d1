"""Baseline: the seed's orders table (order_id text primary key, amount float).

An existing shop is *adopted* at this revision (``shopmig adopt``) after its schema is checked;
a fresh demo shop is created by it. Downgrading it is refused: shopmig never drops your table.
"""

import sqlalchemy as sa
from alembic import op

from shopmig.migrate import steps

revision = steps.BASELINE
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        steps.TABLE,
        sa.Column(steps.KEY, sa.String(36), primary_key=True),
        sa.Column("amount", sa.Double),
    )


def downgrade() -> None:
    raise RuntimeError(
        "refusing to downgrade below the baseline: it would drop the orders table. "
        "The baseline is shopmig's floor ('base' in shopmig means this revision)."
    )
