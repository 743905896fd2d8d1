"""The two entry points: :func:`lint_sql` (any SQL text) and :func:`lint_plan` (shopmig's plan
for a live table)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from shopmig.db import Source, mask_url, reading, use_connection
from shopmig.dialects import Dialect, dialect_for
from shopmig.errors import InvalidArgumentError
from shopmig.lint.estimate import expected_lock_seconds
from shopmig.lint.linter import Linter
from shopmig.lint.report import STEP_COLUMNS, LintReport
from shopmig.lint.rules import Finding, PlannedStep
from shopmig.migrate.options import MigrationOptions

if TYPE_CHECKING:
    from shopmig.migrate.core import Step


def _dialect(dialect: str | Dialect, server_version: tuple[int, ...] | None) -> Dialect:
    """The :class:`Dialect` for a name or alias (or a Dialect), with ``server_version``."""
    if not isinstance(dialect, str | Dialect):
        raise InvalidArgumentError("dialect", dialect, "a database name such as 'sqlite', "
                                   "'postgresql', 'mariadb' or 'mysql'")
    found = dialect_for(dialect)
    if server_version is None:
        return found
    return type(found)(found.sa_dialect, tuple(server_version))


def lint_sql(
    sql: str, dialect: str | Dialect, *, rows: int | None = None,
    lock_timeout_s: float | None = None, server_version: tuple[int, ...] | None = None,
) -> list[Finding]:
    """Findings for every known dangerous pattern in ``sql`` (one or more statements).

    ``dialect`` is a database name or alias as :func:`shopmig.dialects.dialect_class` accepts
    them (``sqlite``, ``postgresql``/``postgres``/``pg``, ``mariadb``/``mysql``...). ``rows``
    (the table's row count) puts sizes and estimated lock times into the messages.
    ``lock_timeout_s`` is the lock timeout the statements will run under (shopmig sets one for
    every step it runs); without it, DDL on a server gets one ``no-lock-timeout`` warning
    unless the SQL itself sets the lock timeout first. ``server_version`` enables the
    version-specific rules (PostgreSQL before 11 rewrites for a constant default; a validated
    CHECK only spares the ``SET NOT NULL`` scan from 12). Statements are read in order: a CHECK
    validated earlier in ``sql`` covers a later ``SET NOT NULL``, and tables created in
    ``sql`` are new (nothing to lock or rewrite). Runs nothing.
    """
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        raise InvalidArgumentError("rows", rows, "a whole number of 0 or more, or None")
    linter = Linter(_dialect(dialect, server_version), rows=rows, lock_timeout_s=lock_timeout_s)
    return linter.lint(sql)


def lint_plan(
    source: Source, target: str = "head", *, options: MigrationOptions | None = None,
    direction: str | None = None, table: str | None = None, column: str | None = None,
) -> LintReport:
    """The preflight view of going from ``source``'s current revision to ``target``.

    Plans the steps with :func:`shopmig.plan` (reads the live table, the row count and the
    server version; runs nothing, and works on a table that is not adopted yet: it is planned
    as if at the baseline, and the report notes it), then for each step combines its impact
    (lock, writes blocked, rewrite, scan), the expected lock-hold time
    (:func:`~shopmig.lint.estimate.expected_lock_seconds`, from the impact; unknown for a
    refused step) and the findings: ``step-refused`` first when the step cannot run as it is
    (the database refuses it, naming the blocker, or it copies more rows than
    ``options.rewrite_row_limit`` without ``allow_table_rewrite``), then the :func:`lint_sql`
    rules on its SQL, read in plan order (a CHECK validated by an earlier step counts). With
    ``allow_table_rewrite`` a copy the database cannot avoid is a ``table-rewrite`` warning
    that names why. ``options`` gives the lock timeout the steps will run under (shopmig
    always sets one; default :class:`~shopmig.MigrationOptions`). Targets, ``direction``,
    ``table`` and ``column`` as for :func:`shopmig.plan`.
    """
    from shopmig.migrate import core as migrate
    from shopmig.migrate.target import resolve_target

    opts = options or MigrationOptions()
    kw: dict[str, Any] = {"direction": direction, "table": table, "column": column}
    with use_connection(source) as conn:
        planned = migrate.plan(conn, target, options=opts, **kw)
        # the same plan with the copy allowed (what --allow-table-rewrite would run), or not
        # allowed (to know which copies the database cannot avoid)
        other: list[Step] = []
        if opts.allow_table_rewrite or any(s.refusal for s in planned):
            other = migrate.plan(conn, target, **kw, options=replace(
                opts, allow_table_rewrite=not opts.allow_table_rewrite))
        with reading(conn):
            current = migrate.current_revision(conn)
            dialect = dialect_for(conn)
            rows = dialect.count_rows(conn, resolve_target(conn, table, column))
        url = mask_url(conn)
    linter = Linter(dialect, rows=rows, lock_timeout_s=opts.lock_timeout_s)
    records: list[dict[str, Any]] = []
    findings: list[Finding] = []
    others = {(s.revision, s.direction): s for s in other}
    for step in planned:
        twin = others.get((step.revision, step.direction))
        allowed = (twin.refusal if opts.allow_table_rewrite and twin is not None
                   and not step.refusal else None)
        found = linter.lint_step(PlannedStep(
            step, opts, rows, None if opts.allow_table_rewrite else twin), allowed)
        findings.extend(found)
        i = step.impact
        refused = any(f.rule == "step-refused" for f in found)
        records.append({
            "revision": step.revision,
            "summary": i.summary,
            "lock": i.lock,
            "blocks_writes": i.blocks_writes,
            "rewrites_table": i.rewrites_table,
            "scans_table": i.scans_table,
            "expected_lock_s": None if refused else expected_lock_seconds(i, step.sql, rows),
            "findings": [f"{f.rule} ({f.severity})" for f in found],
        })
    frame = pd.DataFrame(records, columns=STEP_COLUMNS)
    frame["expected_lock_s"] = frame["expected_lock_s"].astype(float)
    version = dialect.server_version
    return LintReport(
        url=url, dialect=dialect.name, server_version=tuple(version) if version else None,
        rows=rows, current=current, target=str(target), lock_timeout_s=opts.lock_timeout_s,
        steps=frame, findings=findings,
        notes=list(dict.fromkeys(n for s in planned for n in s.notes)),
        server=dialect.server_label)
