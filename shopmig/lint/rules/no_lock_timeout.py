"""``no-lock-timeout``: DDL that may wait for its lock forever while every query queues."""

from __future__ import annotations

from collections.abc import Iterator

from shopmig.dialects.base import Dialect
from shopmig.lint.rules.base import Context, Finding, Rule
from shopmig.lint.sql import Parsed


class NoLockTimeout(Rule):
    """The first DDL on an existing table with no lock timeout set (once per SQL or plan)."""

    name = "no-lock-timeout"
    severity = "warning"
    title = "DDL with no lock timeout"
    explanation = (
        "DDL waits for its lock behind any open transaction that touched the table, and while "
        "it waits every later query on the table queues behind it (PostgreSQL's lock queue, "
        "MariaDB's metadata lock): a one-millisecond ALTER can stop the shop for as long as "
        "the longest transaction. A lock timeout bounds the wait; then retry with backoff.")
    fix = ("Set the lock timeout first (PostgreSQL SET lock_timeout, MariaDB SET SESSION "
           "lock_wait_timeout) and retry with backoff.")
    applies_when = "databases with a lock queue and a lock timeout to bound it (servers)"

    def applies_to(self, dialect: Dialect) -> bool:
        """Where DDL waits in a lock queue that a lock timeout bounds."""
        return dialect.lock_timeout_sql(2.0) is not None

    def check(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        """The first DDL on an existing table when no timeout is in force."""
        if (not parsed.is_ddl or ctx.lock_timeout_s is not None or ctx.timeout_set
                or ctx.timeout_reported
                or set(parsed.statement_vars) & set(ctx.dialect.lock_timeout_variables)):
            return
        ctx.timeout_reported = True
        on = parsed.locks or "the table"
        setting = ctx.dialect.lock_timeout_sql(2.0)
        yield self.finding(
            ctx, parsed.text,
            f"DDL on {on} with no lock timeout: while it waits for its lock (behind any long "
            "transaction), every later query on the table queues behind it.",
            f"Run `{setting}` first (shopmig sets it for every step it runs, "
            "MigrationOptions.lock_timeout_s) and retry with backoff on timeout.")
