"""``index-not-concurrent``: an index built while writes wait."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shopmig.dialects.base import Dialect
from shopmig.lint.rules.base import Context, Finding, Rule
from shopmig.lint.sql import CONCURRENTLY, Parsed

USING_INDEX = re.compile(r"\bUSING\s+INDEX\b", re.I)


class IndexNotConcurrent(Rule):
    """An index build that blocks writes where the database can build it online:
    ``CREATE INDEX`` without ``CONCURRENTLY``, ``ADD CONSTRAINT ... UNIQUE`` building its own
    index, or an index without ``ALGORITHM=INPLACE, LOCK=NONE``."""

    name = "index-not-concurrent"
    severity = "danger"
    title = "Index built while writes wait"
    explanation = (
        "A plain index build reads and sorts every row while writes to the table wait "
        "(PostgreSQL's SHARE lock; a UNIQUE/PRIMARY KEY constraint builds its index under "
        "ACCESS EXCLUSIVE). PostgreSQL builds it online with CREATE INDEX CONCURRENTLY; "
        "MariaDB/MySQL with ALGORITHM=INPLACE, LOCK=NONE, and without those clauses the server "
        "picks, possibly blocking writes instead of refusing.")
    fix = ("CREATE INDEX CONCURRENTLY (PostgreSQL) or ALGORITHM=INPLACE LOCK=NONE "
           "(MariaDB/MySQL).")
    applies_when = ("databases that can build an index without blocking writes "
                    "(concurrent builds, or ALGORITHM=/LOCK= clauses)")

    def applies_to(self, dialect: Dialect) -> bool:
        """Where an index can be built online, by ``CONCURRENTLY`` or by clauses."""
        return dialect.has_concurrent_index_builds or dialect.has_online_alter_clauses

    def check(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        """CREATE INDEX, and ALTER TABLE actions that build an index."""
        table = parsed.table or "the table"
        dialect = ctx.dialect
        if parsed.kind == "create_index":
            if dialect.has_concurrent_index_builds:
                if not CONCURRENTLY.search(parsed.group("head")):
                    yield self.finding(
                        ctx, parsed.text,
                        f"CREATE INDEX without CONCURRENTLY holds a SHARE lock on {table}: "
                        f"writes wait for the whole build of {ctx.size(table)}, "
                        f"{ctx.takes('index')}.",
                        "CREATE INDEX CONCURRENTLY (outside a transaction; drop an INVALID index "
                        "left by a failed build before retrying).")
            elif dialect.has_online_alter_clauses:
                yield from self._clauses(parsed, ctx, table)
            return
        adds = [a for a in parsed.actions if a.kind == "add_index"]
        if not adds:
            return
        if dialect.has_concurrent_index_builds:
            for action in adds:
                if not USING_INDEX.search(action.text):
                    yield self.finding(
                        ctx, parsed.text,
                        "ADD CONSTRAINT ... UNIQUE/PRIMARY KEY builds its index under ACCESS "
                        f"EXCLUSIVE: reads and writes wait for {ctx.takes('index')}.",
                        "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... "
                        "USING INDEX (milliseconds).")
        elif dialect.has_online_alter_clauses:
            yield from self._clauses(parsed, ctx, table)

    def _clauses(self, parsed: Parsed, ctx: Context, table: str) -> Iterator[Finding]:
        algorithm, lock = parsed.algorithm, parsed.lock
        if algorithm in ("INPLACE", "NOCOPY", "INSTANT") and lock == "NONE":
            return
        blocking = algorithm == "COPY" or lock in ("SHARED", "EXCLUSIVE")
        yield self.finding(
            ctx, parsed.text,
            (f"the index build on {table} blocks writes for {ctx.takes('index')}."
             if blocking else
             f"the index on {table} is built without ALGORITHM=INPLACE, LOCK=NONE: the server "
             "picks, and may block writes for the whole build instead of failing."),
            "CREATE INDEX ... ALGORITHM=INPLACE LOCK=NONE (or ALTER TABLE ... ADD INDEX ..., "
            "ALGORITHM=INPLACE, LOCK=NONE): the server then refuses rather than blocks.",
            severity="danger" if blocking else "warning")
