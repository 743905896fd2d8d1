"""``not-null-without-check``: SET NOT NULL that scans the table while it is locked."""

from __future__ import annotations

from collections.abc import Iterator

from shopmig.dialects.base import Dialect
from shopmig.lint.rules.base import Context, Finding, Rule
from shopmig.lint.sql import Parsed, name


class NotNullWithoutCheck(Rule):
    """``ALTER COLUMN ... SET NOT NULL`` with no validated ``CHECK (col IS NOT NULL)`` before
    it (or on a server too old to use one)."""

    name = "not-null-without-check"
    severity = "danger"
    title = "SET NOT NULL without a validated CHECK"
    explanation = (
        "SET NOT NULL reads every row to prove there is no NULL, holding a lock that blocks "
        "reads and writes for the whole scan. From PostgreSQL 12 a validated CHECK (col IS NOT "
        "NULL) is proof enough and the scan is skipped; the CHECK itself can be added NOT VALID "
        "and validated while writes go on.")
    fix = ("ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT; SET NOT "
           "NULL; drop the CHECK.")
    applies_when = "databases whose SET NOT NULL scans the table under a blocking lock"

    def applies_to(self, dialect: Dialect) -> bool:
        """Where ``SET NOT NULL`` scans the table while writes wait."""
        return dialect.set_not_null_scans

    def check(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        """Each SET NOT NULL not covered by a validated CHECK the server can use."""
        table = parsed.table or "the table"
        spares_from = ctx.dialect.valid_check_spares_not_null_scan_from
        for action in parsed.actions:
            if action.kind != "set_not_null":
                continue
            column = name(action.group("column") or "")
            covered = any(c.validated and c.table == table and column in c.columns
                          for c in ctx.checks.values())
            usable = spares_from is not None and not ctx.version_below(spares_from)
            if covered and usable:
                continue
            if covered:
                version = ".".join(map(str, spares_from or ()))
                why = (f"{ctx.dialect.label} before {version} cannot use the validated CHECK "
                       "and ") if spares_from else "the validated CHECK does not help and "
            else:
                why = "with no validated CHECK (... IS NOT NULL) earlier in the plan, "
            yield self.finding(
                ctx, parsed.text,
                f"SET NOT NULL on {table}.{column} {why}scans {ctx.size(table)} while reads and "
                f"writes wait, {ctx.takes('scan')}.",
                f"ADD CONSTRAINT {column}_not_null CHECK ({column} IS NOT NULL) NOT VALID; "
                "VALIDATE CONSTRAINT it (writes go on); then SET NOT NULL (PostgreSQL 12+ skips "
                "the scan) and drop the CHECK.")
