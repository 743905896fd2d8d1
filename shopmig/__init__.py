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

``import shopmig`` is cheap: each name below is imported from its module the first time it is
used (PEP 562), so the command line starts without pandas, Alembic or matplotlib until a command
needs them. The package's layout: ``db``/``errors``/``dialects`` at the bottom (connections,
errors, everything that differs per database), then ``catalog``, ``databases``, ``copying``,
``migrate``, ``verification``, ``lint``, ``rehearsal`` and ``teach``, and ``cli`` on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopmig._lazy import attach
from shopmig._version import __version__
from shopmig.errors import ShopmigError

_EXPORTS: dict[str, str] = {
    "Backup": "shopmig.copying.backup",
    "backup_database": "shopmig.copying.backup",
    "restore_backup": "shopmig.copying.backup",
    "CopyResult": "shopmig.copying",
    "copy_database": "shopmig.copying",
    "create_database": "shopmig.databases",
    "database_exists": "shopmig.databases",
    "database_marker": "shopmig.databases",
    "drop_database": "shopmig.databases",
    "mark_database": "shopmig.databases",
    "require_copy": "shopmig.databases",
    "Source": "shopmig.db",
    "connect": "shopmig.db",
    "default_url": "shopmig.db",
    "mask_url": "shopmig.db",
    "open_engine": "shopmig.db",
    "demo_orders": "shopmig.demo",
    "make_demo_shop": "shopmig.demo",
    "TableInfo": "shopmig.catalog",
    "describe_table": "shopmig.catalog",
    "inspect_table": "shopmig.catalog",
    "profile": "shopmig.catalog",
    "row_count": "shopmig.catalog",
    "sample": "shopmig.catalog",
    "table_constraints": "shopmig.catalog",
    "table_indexes": "shopmig.catalog",
    "Finding": "shopmig.lint",
    "LintReport": "shopmig.lint",
    "lint_plan": "shopmig.lint",
    "lint_sql": "shopmig.lint",
    "AppliedStep": "shopmig.migrate.core",
    "stamp": "shopmig.migrate.core",
    "half_applied": "shopmig.migrate.core",
    "diagnose": "shopmig.migrate.core",
    "Diagnosis": "shopmig.migrate.core",
    "Step": "shopmig.migrate.core",
    "adopt": "shopmig.migrate.core",
    "baseline_differences": "shopmig.migrate.core",
    "current_revision": "shopmig.migrate.core",
    "downgrade": "shopmig.migrate.core",
    "history": "shopmig.migrate.core",
    "plan": "shopmig.migrate.core",
    "preview_sql": "shopmig.migrate.core",
    "revisions": "shopmig.migrate.core",
    "sql_by_dialect": "shopmig.migrate.core",
    "upgrade": "shopmig.migrate.core",
    "WorkloadRun": "shopmig.rehearsal.naive",
    "compare_runs": "shopmig.rehearsal.naive",
    "naive_add_status": "shopmig.rehearsal.naive",
    "naive_add_status_sql": "shopmig.rehearsal.naive",
    "naive_impact": "shopmig.rehearsal.naive",
    "plot_runs": "shopmig.rehearsal.naive",
    "run_under_workload": "shopmig.rehearsal.naive",
    "safe_add_status": "shopmig.rehearsal.naive",
    "table_identity": "shopmig.rehearsal.naive",
    "workload_url": "shopmig.rehearsal.naive",
    "plot_differences": "shopmig.verification.plots",
    "Rehearsal": "shopmig.rehearsal.run",
    "RehearsedStep": "shopmig.rehearsal.run",
    "rehearse": "shopmig.rehearsal.run",
    "plot_latency": "shopmig.rehearsal.report",
    "drop_scratch": "shopmig.scratch",
    "scratch_database": "shopmig.scratch",
    "scratch_url": "shopmig.scratch",
    "STATUS_VALUES": "shopmig.migrate.steps",
    "MigrationOptions": "shopmig.migrate.steps",
    "StepImpact": "shopmig.migrate.steps",
    "step_impact": "shopmig.migrate.steps",
    "VerifyResult": "shopmig.verification.api",
    "snapshot": "shopmig.verification.api",
    "verify": "shopmig.verification.api",
    "ShopWorkload": "shopmig.rehearsal.workload",
    "WriteEvent": "shopmig.rehearsal.workload",
    "exercises": "shopmig.teach.exercises:module",
}

__getattr__, __dir__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load lazily
    from shopmig.catalog import (
        TableInfo,
        describe_table,
        inspect_table,
        profile,
        row_count,
        sample,
        table_constraints,
        table_indexes,
    )
    from shopmig.copying import (
        CopyResult,
        copy_database,
    )
    from shopmig.copying.backup import (
        Backup,
        backup_database,
        restore_backup,
    )
    from shopmig.databases import (
        create_database,
        database_exists,
        database_marker,
        drop_database,
        mark_database,
        require_copy,
    )
    from shopmig.db import (
        Source,
        connect,
        default_url,
        mask_url,
        open_engine,
    )
    from shopmig.demo import (
        demo_orders,
        make_demo_shop,
    )
    from shopmig.lint import (
        Finding,
        LintReport,
        lint_plan,
        lint_sql,
    )
    from shopmig.migrate.core import (
        AppliedStep,
        Diagnosis,
        Step,
        adopt,
        baseline_differences,
        current_revision,
        diagnose,
        downgrade,
        half_applied,
        history,
        plan,
        preview_sql,
        revisions,
        sql_by_dialect,
        stamp,
        upgrade,
    )
    from shopmig.migrate.steps import (
        STATUS_VALUES,
        MigrationOptions,
        StepImpact,
        step_impact,
    )
    from shopmig.rehearsal.naive import (
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
    from shopmig.rehearsal.report import (
        plot_latency,
    )
    from shopmig.rehearsal.run import (
        Rehearsal,
        RehearsedStep,
        rehearse,
    )
    from shopmig.rehearsal.workload import (
        ShopWorkload,
        WriteEvent,
    )
    from shopmig.scratch import (
        drop_scratch,
        scratch_database,
        scratch_url,
    )
    from shopmig.teach import exercises  # noqa: F401 - shopmig.exercises, for the notebooks
    from shopmig.verification.api import (
        VerifyResult,
        snapshot,
        verify,
    )
    from shopmig.verification.plots import (
        plot_differences,
    )

__all__ = [
    "STATUS_VALUES",
    "AppliedStep",
    "Backup",
    "CopyResult",
    "Diagnosis",
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
    "diagnose",
    "downgrade",
    "drop_database",
    "drop_scratch",
    "half_applied",
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
    "stamp",
    "step_impact",
    "table_constraints",
    "table_identity",
    "table_indexes",
    "upgrade",
    "verify",
    "workload_url",
]
