"""``volatile-default``: ADD COLUMN with a default that differs per row."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shopmig.lint.rules.base import Context, Finding, Rule
from shopmig.lint.sql import VOLATILE_CALL, Parsed, name

DEFAULT = re.compile(r"\bDEFAULT\b(?P<expr>.*)$", re.I | re.S)


def volatile_default(definition: str) -> bool:
    """True when a column definition's DEFAULT calls a function that differs per row."""
    default = DEFAULT.search(definition)
    return default is not None and VOLATILE_CALL.search(default["expr"]) is not None


class VolatileDefault(Rule):
    """A column added with a volatile default (``random()``, ``gen_random_uuid()``,
    ``uuid()``, ``clock_timestamp()``, ``nextval()``...)."""

    name = "volatile-default"
    severity = "danger"
    title = "ADD COLUMN with a volatile default"
    explanation = (
        "A constant default is stored once in the catalog; a volatile one has a value per row. "
        "PostgreSQL then writes every row under ACCESS EXCLUSIVE (reads and writes wait); "
        "MariaDB/MySQL cannot add the column instantly and copy the table (or refuse with "
        "ALGORITHM=INSTANT); SQLite refuses the statement.")
    fix = ("Add the column with no default (or a constant one), backfill it in batches, then SET "
           "DEFAULT for new rows.")
    applies_when = "every database (what happens differs: rewrite, copy or refusal)"

    def check(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        """Each ADD COLUMN of an ALTER TABLE whose DEFAULT calls a volatile function."""
        for action in parsed.actions:
            if action.kind != "add_column" or not volatile_default(action.group("definition")
                                                                   or ""):
                continue
            table = parsed.table or "the table"
            column = name(action.group("column") or "")
            effect = ctx.dialect.volatile_default_effect
            if effect == "refused":
                what = f"{ctx.dialect.label} refuses ADD COLUMN with a non-constant default."
            elif effect == "copy":
                what = ("the server cannot add it instantly: with ALGORITHM=INSTANT it refuses, "
                        f"otherwise it copies {ctx.size(table)} while writes wait.")
            else:
                what = (f"{ctx.dialect.label} evaluates it once per row and rewrites "
                        f"{ctx.size(table)} while reads and writes wait, "
                        f"{ctx.takes('rewrite')}.")
            yield self.finding(
                ctx, parsed.text, f"ADD COLUMN {column} with a volatile default: {what}",
                f"Add {column} with no default (or a constant one), backfill it in batches of a "
                "few thousand rows, then SET DEFAULT for new rows.")
