"""shopmig: walk through, teach and rehearse the ``orders.status`` migration, safely.

Every function that touches a database takes a URL string, a SQLAlchemy ``Engine`` or a live
``Connection``. Keep one connection in a notebook (``conn = shopmig.connect(url)``) and pass it
to every call; for an in-memory SQLite database that is the only way to see it twice.

Typical session::

    import shopmig
    conn = shopmig.connect("sqlite://")
    shopmig.make_demo_shop(conn, rows=1_000)
    before = shopmig.snapshot(conn)
    print(shopmig.preview_sql(conn, "+1"))      # plan: the SQL, nothing runs
    shopmig.upgrade(conn, "+1")                 # execute: one revision
    shopmig.verify(before, conn, expect={"status": "pending"}).ok
"""

from shopmig._version import __version__
from shopmig.backup import Backup, backup_database, restore_backup
from shopmig.copy import (
    CopyResult,
    copy_database,
    create_database,
    database_exists,
    database_marker,
    drop_database,
    mark_database,
    require_copy,
)
from shopmig.db import Source, connect, default_url, mask_url, open_engine
from shopmig.demo import demo_orders, make_demo_shop
from shopmig.errors import ShopmigError
from shopmig.inspect import (
    TableInfo,
    describe_table,
    inspect_table,
    profile,
    row_count,
    sample,
    table_constraints,
    table_indexes,
)
from shopmig.lint import Finding, LintReport, lint_plan, lint_sql
from shopmig.migrate import (
    AppliedStep,
    Step,
    adopt,
    baseline_differences,
    current_revision,
    downgrade,
    history,
    plan,
    preview_sql,
    revisions,
    sql_by_dialect,
    upgrade,
)
from shopmig.naive import (
    WorkloadRun,
    compare_runs,
    naive_add_status,
    naive_add_status_sql,
    naive_impact,
    plot_runs,
    run_under_workload,
    safe_add_status,
    table_identity,
    workload_url,
)
from shopmig.plots import plot_differences
from shopmig.rehearse import Rehearsal, RehearsedStep, rehearse
from shopmig.report import plot_latency
from shopmig.scratch import drop_scratch, scratch_database, scratch_url
from shopmig.steps import STATUS_VALUES, MigrationOptions, StepImpact, step_impact
from shopmig.verify import VerifyResult, snapshot, verify
from shopmig.workload import ShopWorkload, WriteEvent

__all__ = [
    "STATUS_VALUES",
    "AppliedStep",
    "Backup",
    "CopyResult",
    "Finding",
    "LintReport",
    "MigrationOptions",
    "Rehearsal",
    "RehearsedStep",
    "ShopWorkload",
    "ShopmigError",
    "Source",
    "Step",
    "StepImpact",
    "TableInfo",
    "VerifyResult",
    "WorkloadRun",
    "WriteEvent",
    "__version__",
    "adopt",
    "backup_database",
    "baseline_differences",
    "compare_runs",
    "connect",
    "copy_database",
    "create_database",
    "current_revision",
    "database_exists",
    "database_marker",
    "default_url",
    "demo_orders",
    "describe_table",
    "downgrade",
    "drop_database",
    "drop_scratch",
    "history",
    "inspect_table",
    "lint_plan",
    "lint_sql",
    "make_demo_shop",
    "mark_database",
    "mask_url",
    "naive_add_status",
    "naive_add_status_sql",
    "naive_impact",
    "open_engine",
    "plan",
    "plot_differences",
    "plot_latency",
    "plot_runs",
    "preview_sql",
    "profile",
    "rehearse",
    "require_copy",
    "restore_backup",
    "revisions",
    "row_count",
    "run_under_workload",
    "safe_add_status",
    "sample",
    "scratch_database",
    "scratch_url",
    "snapshot",
    "sql_by_dialect",
    "step_impact",
    "table_constraints",
    "table_identity",
    "table_indexes",
    "upgrade",
    "verify",
    "workload_url",
]
