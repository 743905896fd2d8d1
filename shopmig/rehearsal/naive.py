"""The naive way to add ``orders.status``, and a helper that runs any action under the workload.

Step 0002 adds ``status NOT NULL DEFAULT 'pending'`` without rewriting anything. The ways people
usually write the same change instead (:func:`naive_add_status`) hold writes back for as long as
the table takes to copy or backfill:

- SQLite: Alembic batch mode with ``recreate="always"``: a new table, every row copied into it,
  the old one dropped, the new one renamed (the database write lock is held throughout).
- PostgreSQL: the column added nullable, every row backfilled with ``UPDATE``, then
  ``SET DEFAULT`` and ``SET NOT NULL``, in one transaction: the ``ACCESS EXCLUSIVE`` lock the
  ``ADD COLUMN`` took is held until the backfill commits.
- MariaDB/MySQL: ``ALTER TABLE ... ADD COLUMN ..., ALGORITHM=COPY``: the server copies the table
  and writes wait for the copy.

Each naive variant ends where step 0002 ends (same column, database stamped at ``0002``), so the
two results can be compared. :func:`run_under_workload` runs one action (naive or shopmig's)
while :class:`~shopmig.workload.ShopWorkload` writes to the table, and returns a
:class:`WorkloadRun`: the write log, the action's time window, and timing-free facts (was the
table rewritten, was any committed write lost, is every row still there).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from alembic import command
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from shopmig.db import (
    Source,
    is_memory_database,
    parse_url,
    reading,
    url_of,
    use_connection,
)
from shopmig.dialects import dialect_for
from shopmig.errors import ShopmigError
from shopmig.migrate import steps
from shopmig.migrate.core import alembic_config, current_revision, upgrade
from shopmig.migrate.steps import StepImpact
from shopmig.migrate.target import Target, resolve_target
from shopmig.rehearsal.workload import ShopWorkload, expected_state, require_local, window_stats
from shopmig.scratch import scratch_url
from shopmig.verification.api import snapshot, verify

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

NAIVE_DIALECTS = ("sqlite", "postgresql", "mariadb")


# ------------------------------------------------------------------ where the workload can write


def workload_url(url: str | URL, folder: str, name: str) -> str:
    """A database ``name`` that a second connection (the workload's) can reach, next to ``url``.

    In-memory SQLite cannot be shared, so it becomes the file ``<folder>/<name>.db`` (a
    relative ``folder`` keeps the URL relative, so nothing prints an absolute path); a SQLite
    file URL gives ``<name>.db`` beside that file; a server URL names a scratch database as
    :func:`shopmig.scratch_url` does.
    Nothing is created. The password is kept: pass the result on, show it with
    :func:`shopmig.mask_url`.
    """
    parsed = parse_url(url)
    if not dialect_for(parsed).is_server:
        if is_memory_database(parsed):
            path = os.path.normpath(os.path.join(folder, f"{name}.db"))
        else:
            path = os.path.join(os.path.dirname(parsed.database or ""), f"{name}.db")
        return parsed.set(database=path).render_as_string(hide_password=False)
    return scratch_url(parsed, name).render_as_string(hide_password=False)


# ------------------------------------------------------------------ the naive step 0002


def naive_impact(dialect: str, rows: int | None = None) -> StepImpact:
    """What :func:`naive_add_status` does on ``dialect``, in the same terms as
    :func:`shopmig.step_impact` describes shopmig's own step 0002."""
    return dialect_for(dialect).naive_impact(rows)


def naive_add_status_sql(dialect: str) -> str:
    """The SQL :func:`naive_add_status` runs on ``dialect`` for the demo table (no server)."""
    return ";\n\n".join(dialect_for(dialect).naive_add_column_statements(Target())) + ";"


def naive_add_status(source: Source) -> None:
    """Add ``status`` the naive way for the database's dialect, then stamp it at step 0002.

    The database must be at the baseline revision. Where DDL is transactional (SQLite,
    PostgreSQL) everything runs in one transaction (a failure changes nothing); MariaDB/MySQL
    commit the ``ALTER`` on their own.
    """
    with use_connection(source) as conn:
        if current_revision(conn) != steps.BASELINE:
            raise ShopmigError(
                f"the naive step starts from {steps.BASELINE}, not "
                f"{current_revision(conn) or 'an untracked database'}.",
                hint="Run it on a fresh copy of the demo shop.")
        external = conn.in_transaction()
        dialect = dialect_for(conn)
        if external:
            target = resolve_target(conn)
        else:
            with reading(conn):
                target = resolve_target(conn)
        with dialect.migration_transactions(conn):
            if dialect.transactional_ddl:
                with conn.begin_nested() if external else conn.begin():
                    dialect.run_naive_add_column(conn, target)
                    command.stamp(alembic_config(conn), steps.ADD_STATUS)
            else:
                dialect.run_naive_add_column(conn, target)
                command.stamp(alembic_config(conn), steps.ADD_STATUS)
                if not external and conn.in_transaction():
                    conn.commit()


def safe_add_status(source: Source) -> None:
    """shopmig's own step 0002 (``shopmig.upgrade(source, "0002")``), for symmetry with
    :func:`naive_add_status` in :func:`run_under_workload`."""
    upgrade(source, steps.ADD_STATUS)


# ------------------------------------------------------------------ table identity


def table_identity(source: Source, table: str = steps.TABLE) -> str | None:
    """Something that changes when ``table`` is rebuilt into new storage, or None if unknown.

    SQLite: the table's root page; PostgreSQL: its file node; MariaDB/MySQL: the InnoDB table
    id. Compare it before and after a step to tell a table rewrite from a metadata change.
    """
    with use_connection(source) as conn, reading(conn):
        return dialect_for(conn).storage_identity(conn, resolve_target(conn, table))


# ------------------------------------------------------------------ running under the workload


@dataclass(frozen=True)
class ActionWindow:
    """When the action ran, in the workload's time base (what the latency plot shades)."""

    revision: str
    started_s: float
    seconds: float
    ok: bool


@dataclass(frozen=True, eq=False)
class WorkloadRun:
    """One action run while the synthetic shop wrote to ``orders``.

    ``events`` is the write log (one row per write, as :meth:`ShopWorkload.frame` gives it);
    ``started_s``/``seconds`` the action's window in the same time base. ``lost_writes`` counts
    committed writes the table no longer holds; ``unexplained_differences`` rows that differ
    from before although no committed write touched them. ``table_rewritten`` compares
    :func:`table_identity` before and after. It has ``events``, ``steps`` and ``summary()``,
    so :func:`shopmig.report.plot_latency` draws it like a rehearsal.
    """

    label: str
    dialect: str
    started_s: float
    seconds: float
    events: pd.DataFrame
    rows_before: int
    rows_after: int
    committed_writes: int
    committed_inserts: int
    failed_writes: int
    lost_writes: int
    unexplained_differences: int
    table_rewritten: bool | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The action ran, no write failed or was lost, no row changed unexplained."""
        return (self.error is None and self.failed_writes == 0 and self.lost_writes == 0
                and self.unexplained_differences == 0)

    @property
    def stats(self) -> dict[str, Any]:
        """Write latency while the action ran: writes, failed_writes, max_write_stall_s,
        p50_write_latency_s, p99_write_latency_s (timings: vary run to run)."""
        return window_stats(self.events, self.started_s, self.started_s + self.seconds)

    @property
    def steps(self) -> list[ActionWindow]:
        """The action as one window (the shape :func:`shopmig.report.plot_latency` reads)."""
        return [ActionWindow(self.label, self.started_s, self.seconds, self.error is None)]

    def checks(self) -> dict[str, Any]:
        """The facts that do not depend on timing: what a notebook may print and assert."""
        return {
            "action ran": self.error is None,
            "table rewritten": self.table_rewritten,
            "every row kept": self.rows_after == self.rows_before + self.committed_inserts,
            "failed writes": self.failed_writes,
            "lost writes": self.lost_writes,
            "unexplained differences": self.unexplained_differences,
        }

    def summary(self) -> str:
        """One line with the timings (for a plot title or a log, not for compared output)."""
        s = self.stats
        return (f"{self.label}: {self.seconds:.3f}s, longest write stall "
                f"{s['max_write_stall_s']:.3f}s, {self.committed_writes} committed writes, "
                f"{self.lost_writes} lost, {self.failed_writes} failed"
                + (f"; error: {self.error}" if self.error else ""))

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (without the write log)."""
        return {"label": self.label, "dialect": self.dialect, "ok": self.ok,
                "started_s": self.started_s, "seconds": self.seconds, **self.stats,
                "rows_before": self.rows_before, "rows_after": self.rows_after,
                "committed_writes": self.committed_writes,
                "committed_inserts": self.committed_inserts,
                "failed_writes": self.failed_writes, "lost_writes": self.lost_writes,
                "unexplained_differences": self.unexplained_differences,
                "table_rewritten": self.table_rewritten, "error": self.error}


def _account(before: pd.DataFrame, after: pd.DataFrame, events: list[Any]
             ) -> tuple[int, int]:
    """(lost writes, unexplained differences) of ``after`` against ``before`` + the writes."""
    expected = expected_state(events)
    amounts = dict(zip(after[steps.KEY], after["amount"], strict=True))
    lost = sum((key[0] not in amounts) or round(float(amounts[key[0]]), 6)
               != round(float(want["amount"]), 6)
               for key, want in expected.items() if "amount" in want)
    result = verify(before, after)
    differing = (set(result.missing[steps.KEY]) | set(result.unexpected[steps.KEY])
                 | set(result.changed["key"]))
    return int(lost), len(differing - {key[0] for key in expected})


def run_under_workload(
    source: Source,
    action: Callable[[Source], object],
    *,
    label: str,
    rows_per_sec: float = 50.0,
    lead_s: float = 0.5,
    tail_s: float = 0.5,
    max_s: float = 120.0,
    seed: int = 0,
    keys: int = 2_000,
) -> WorkloadRun:
    """Run ``action(source)`` while :class:`~shopmig.workload.ShopWorkload` writes to
    ``orders``, and account for every write.

    The workload starts ``lead_s`` before the action and stops ``tail_s`` after it (or after
    ``max_s`` in all); it inserts new orders and updates the amounts of the first ``keys``
    orders, at ``rows_per_sec``. ``source`` must be a SQLite file or a database on this machine
    (an in-memory database cannot be shared with the workload's own connection). A
    :class:`~shopmig.errors.ShopmigError` or driver error from ``action`` is recorded in
    ``error``, not raised.
    """
    url = url_of(source)
    require_local(url)
    before = snapshot(source, columns=[steps.KEY, "amount"])
    identity = table_identity(source)
    workload = ShopWorkload(url, existing_keys=before[steps.KEY].head(keys).tolist(),
                            rows_per_sec=rows_per_sec, duration_s=max_s, seed=seed)
    error = None
    try:
        workload.start()
        time.sleep(lead_s)
        t0 = workload.now()
        try:
            action(source)
        except (ShopmigError, DBAPIError) as exc:
            error = str(exc).strip().splitlines()[0]
        t1 = workload.now()
        time.sleep(tail_s)
    finally:
        events = workload.stop()
    frame = workload.frame()
    after = snapshot(source, columns=[steps.KEY, "amount"])
    lost, unexplained = _account(before, after, events)
    rewritten = table_identity(source)
    return WorkloadRun(
        label=label, dialect=url.get_backend_name(), started_s=round(t0, 4),
        seconds=round(t1 - t0, 4), events=frame, rows_before=len(before), rows_after=len(after),
        committed_writes=sum(e.ok for e in events),
        committed_inserts=sum(e.ok and e.kind == "insert" for e in events),
        failed_writes=sum(not e.ok for e in events), lost_writes=lost,
        unexplained_differences=unexplained,
        table_rewritten=None if identity is None or rewritten is None else identity != rewritten,
        error=error,
    )


def compare_runs(*runs: WorkloadRun) -> pd.DataFrame:
    """The timing-free :meth:`WorkloadRun.checks` of several runs side by side (one column
    per run): safe to show in a notebook whose outputs are compared."""
    return pd.DataFrame({run.label: run.checks() for run in runs})


def plot_runs(*runs: WorkloadRun, sharey: bool = True) -> Figure:
    """Each run's write latency on its own axes, side by side in one figure (the action's
    window shaded), on a shared latency scale."""
    import matplotlib.pyplot as plt

    from shopmig.rehearsal.report import plot_latency

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 3.4), sharey=sharey,
                             squeeze=False)
    for run, ax in zip(runs, axes[0], strict=True):
        plot_latency(run, ax=ax)  # type: ignore[arg-type]  # same shape as a Rehearsal
    fig.tight_layout()
    return fig
