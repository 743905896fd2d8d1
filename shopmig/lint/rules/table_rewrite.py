"""``table-rewrite``: a statement that copies or rewrites every row of a live table."""

from __future__ import annotations

import re
from collections.abc import Iterator

from shopmig.lint.rules.base import Context, Finding, Rule
from shopmig.lint.rules.volatile_default import DEFAULT, volatile_default
from shopmig.lint.sql import WHERE, Parsed, name

NULL_DEFAULT = re.compile(r"^\s*NULL\b", re.I)
ONLINE_FIX = ("Use ALGORITHM=INSTANT where the change allows it (the server then refuses "
              "instead of copying); otherwise rehearse on a copy and schedule a window, or use "
              "an online schema-change tool (pt-online-schema-change, gh-ost).")


class TableRewrite(Rule):
    """Every row copied or rewritten while writes wait: an UPDATE without WHERE, a table
    rebuilt by copying, ALTER COLUMN TYPE, a default added by rewriting (old servers), DROP
    COLUMN where it rewrites, and MariaDB/MySQL ALTERs that copy the table."""

    name = "table-rewrite"
    severity = "danger"
    title = "Every row copied or rewritten"
    explanation = (
        "Copying or rewriting a whole table holds a lock for a time that grows with the table: "
        "writes (often reads too) wait until it commits, the table needs twice its space, and "
        "on a replica the same work is replayed. It is a danger where a cheaper statement "
        "exists and a warning where the database has no other way (then rehearse it on a copy "
        "to measure, and schedule it).")
    fix = ("Batch backfills by key range; prefer ALGORITHM=INSTANT / catalog-only changes; "
           "otherwise rehearse on a copy and schedule a window.")
    applies_when = "every database (each has statements that copy or rewrite the table)"

    def finding(self, ctx: Context, statement: str, message: str, fix: str,
                severity: str | None = None) -> Finding:
        """A finding; a warning when the caller knowingly allowed a rewrite that the database
        cannot avoid (``allow_table_rewrite`` on a step refused without it), saying why."""
        if ctx.allowed_rewrite:
            severity = "warning"
            message += (" Allowed knowingly (allow_table_rewrite): the cheap way is impossible "
                        f"here: {ctx.allowed_rewrite}")
        return super().finding(ctx, statement, message, fix, severity)

    def check(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        """Rewrites found in one statement."""
        if parsed.kind == "update" and not WHERE.search(parsed.code):
            yield self._update(parsed, ctx)
        elif parsed.kind == "insert_select":
            new, old = parsed.extra["new"], parsed.extra["old"]
            if ctx.is_new(new):
                yield self._rebuild(parsed, ctx, new, old)
        elif parsed.kind == "alter_table":
            yield from self._alter(parsed, ctx)

    def _update(self, parsed: Parsed, ctx: Context) -> Finding:
        table = parsed.table or "the table"
        dialect = ctx.dialect
        extra = ""
        if dialect.update_writes_new_row_versions:
            extra = f" {dialect.label} writes a new version of every row (the table doubles)."
        if dialect.one_write_lock:
            extra += " Every writer of the database waits for the one write lock until then."
        return self.finding(
            ctx, parsed.text,
            f"UPDATE without WHERE writes {ctx.size(table)} in one transaction: each row stays "
            f"locked until it commits (concurrent updates wait).{extra}",
            "Backfill in batches of a few thousand rows by key range (UPDATE ... WHERE key > "
            ":last AND key <= :next), committing each batch.")

    def _rebuild(self, parsed: Parsed, ctx: Context, new: str, old: str) -> Finding:
        waits = ("under the database write lock; writers wait" if ctx.dialect.one_write_lock
                 else "; rows written to it meanwhile are missing from the copy unless writers "
                 "are stopped")
        return self.finding(
            ctx, parsed.text,
            f"table rebuild: {ctx.size(old)} are copied into {new} {waits} for "
            f"{ctx.takes('rewrite')}.",
            "Rebuild a table only for a change ALTER TABLE cannot make: rehearse it on a copy "
            "to measure, run it at a quiet moment, or keep the rule in the application.",
            severity="warning")

    def _alter(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        table = parsed.table or "the table"
        dialect = ctx.dialect
        algorithm = parsed.algorithm
        copy_reasons: list[tuple[str, str]] = []  # ALGORITHM= databases: (severity, why)
        for action in parsed.actions:
            if action.kind == "alter_type" and dialect.alter_column_type_rewrites:
                yield self.finding(
                    ctx, parsed.text,
                    f"ALTER COLUMN {name(action.group('column') or '')} TYPE rewrites "
                    f"{ctx.size(table)} for {ctx.takes('rewrite')} while reads and writes wait, "
                    "unless the new type is binary-compatible (e.g. a longer varchar, text).",
                    "Add a new column, backfill it in batches, switch readers and writers "
                    "over, then drop the old one.")
            elif action.kind == "add_column":
                definition = action.group("definition") or ""
                column = name(action.group("column") or "")
                volatile = volatile_default(definition)  # the volatile-default rule says it
                default = DEFAULT.search(definition)
                since = dialect.constant_default_without_rewrite_from
                if (not volatile and default is not None and ctx.version_below(since)
                        and not NULL_DEFAULT.match(default["expr"])):
                    yield self.finding(
                        ctx, parsed.text,
                        f"{dialect.label} before {'.'.join(map(str, since))} rewrites "
                        f"{ctx.size(table)} for ADD COLUMN ... DEFAULT while reads and writes "
                        f"wait, {ctx.takes('rewrite')}.",
                        f"Upgrade to {dialect.label} {'.'.join(map(str, since))}+, or add the "
                        "column without a default, backfill in batches and SET DEFAULT "
                        "afterwards.")
                if dialect.has_online_alter_clauses and not volatile:
                    if algorithm == "COPY":
                        copy_reasons.append(("danger", f"ADD COLUMN {column} with "
                                             "ALGORITHM=COPY"))
                    elif algorithm in ("INPLACE", "NOCOPY"):
                        copy_reasons.append(("warning", f"ADD COLUMN {column} with ALGORITHM="
                                             f"{algorithm} rebuilds the table"))
                    elif algorithm != "INSTANT":
                        copy_reasons.append(("warning", f"ADD COLUMN {column} without "
                                             "ALGORITHM=INSTANT may silently copy the table"))
            elif action.kind == "drop_column" and dialect.drop_column_rewrites:
                column = name(action.group("column") or "")
                waits = ("every writer of the database waits" if dialect.one_write_lock
                         else "writes wait")
                yield self.finding(
                    ctx, parsed.text,
                    f"DROP COLUMN {column} rewrites {ctx.size(table)} to remove its values; "
                    f"{waits} for {ctx.takes('rewrite')}.",
                    f"{dialect.label} has no cheaper way to drop a column: rehearse it on a copy "
                    "to measure and run it at a quiet moment, or leave the column unused.",
                    severity="warning")
            elif action.kind == "add_check" and dialect.check_constraint_copies_table:
                copy_reasons.append(("warning", "an enforced CHECK has no online path"))
            elif action.kind == "modify" and dialect.has_online_alter_clauses and (
                    algorithm not in ("INSTANT", "NOCOPY")):
                copy_reasons.append(("warning", "MODIFY/CHANGE COLUMN may copy the table "
                                     "(type, NULL-ness or charset changes do)"))
        if not dialect.has_online_alter_clauses:
            return
        if algorithm == "COPY" and not copy_reasons:
            copy_reasons.append(("danger", "ALGORITHM=COPY"))
        if copy_reasons:
            severity = "danger" if any(s == "danger" for s, _ in copy_reasons) else "warning"
            why = "; ".join(dict.fromkeys(w for _, w in copy_reasons))
            verb = "copies" if severity == "danger" or algorithm == "COPY" else "may copy"
            yield self.finding(
                ctx, parsed.text,
                f"the server {verb} {ctx.size(table)} into a new table ({why}); writes wait for "
                f"the whole copy, {ctx.takes('rewrite')}.", ONLINE_FIX, severity=severity)
