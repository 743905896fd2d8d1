"""Baseline: the table as it was before the migration.

An existing shop is *adopted* at this revision (``shopmig adopt``: nothing runs). On an empty
database it creates the demo shop's ``orders`` table (``order_id`` text key, ``amount`` double)
and notes that it did, so that its downgrade may drop that table again; it refuses to drop a
table it did not create.
"""

from shopmig.migrate.steps import run_step

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_step(revision, "up")


def downgrade() -> None:
    run_step(revision, "down")
