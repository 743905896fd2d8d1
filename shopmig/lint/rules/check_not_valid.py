"""``check-not-valid``: a CHECK or FOREIGN KEY validated while writes wait."""

from __future__ import annotations

from collections.abc import Iterator

from shopmig.dialects.base import Dialect
from shopmig.lint.rules.base import Context, Finding, Rule
from shopmig.lint.sql import NOT_VALID, Parsed


class CheckNotValid(Rule):
    """``ADD CONSTRAINT ... CHECK`` / ``FOREIGN KEY`` without ``NOT VALID`` where the database
    can add it unvalidated."""

    name = "check-not-valid"
    severity = "danger"
    title = "CHECK or FOREIGN KEY added without NOT VALID"
    explanation = (
        "Adding a CHECK or a FOREIGN KEY checks every existing row before the statement ends, "
        "under a lock that blocks writes (ACCESS EXCLUSIVE for a CHECK; SHARE ROW EXCLUSIVE on "
        "both tables for a FOREIGN KEY). Added NOT VALID it only checks new rows (milliseconds);"
        " VALIDATE CONSTRAINT later checks the old ones while writes go on.")
    fix = "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later step."
    applies_when = "databases that can add a constraint NOT VALID and validate it later"

    def applies_to(self, dialect: Dialect) -> bool:
        """Where a constraint can be added ``NOT VALID``."""
        return dialect.has_not_valid_constraints

    def check(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        """Each ADD CHECK / ADD FOREIGN KEY action without NOT VALID."""
        table = parsed.table or "the table"
        for action in parsed.actions:
            if action.kind == "add_check" and not NOT_VALID.search(action.group("tail") or ""):
                yield self.finding(
                    ctx, parsed.text,
                    f"CHECK added without NOT VALID: {ctx.size(table)} are checked while reads "
                    f"and writes wait, {ctx.takes('scan')}.",
                    "ADD CONSTRAINT ... CHECK (...) NOT VALID (milliseconds), then VALIDATE "
                    "CONSTRAINT in a later step (SHARE UPDATE EXCLUSIVE: writes go on).")
            elif action.kind == "add_foreign_key" and not NOT_VALID.search(action.text):
                yield self.finding(
                    ctx, parsed.text,
                    f"FOREIGN KEY added without NOT VALID: {ctx.size(table)} are checked against "
                    "the referenced table while both are locked against writes (SHARE ROW "
                    "EXCLUSIVE).",
                    "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID (milliseconds), then VALIDATE "
                    "CONSTRAINT in a later step (writes go on).")
