"""What a rule is, what it finds, and what it knows while it reads a plan.

A :class:`Rule` is one object: its ``name``, its ``severity``, a one-line ``title``, an
``explanation`` of what happens on the server, the usual ``fix``, and :meth:`Rule.applies_to`,
which asks the database's :class:`~shopmig.dialects.base.Dialect` a capability question
(never its name). It reads one statement at a time (:meth:`Rule.check`) with a
:class:`Context` that remembers what earlier statements of the same SQL or plan did; a
plan-level rule reads a whole planned step (:meth:`Rule.check_step`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, ClassVar

from shopmig.lint import estimate
from shopmig.lint.sql import NOT_NULL_TEST, NOT_VALID, Action, Parsed, name

if TYPE_CHECKING:
    from shopmig.dialects.base import Dialect
    from shopmig.migrate.core import Step
    from shopmig.migrate.options import MigrationOptions

SEVERITIES = ("danger", "warning", "info")
"""``danger``: writes wait for a time that grows with the table (or the statement fails, or the
step cannot run) and a safer way exists; ``warning``: costly or risky, sometimes unavoidable,
or not decidable from the text alone; ``info``: for the record."""


@dataclass(frozen=True)
class Finding:
    """One dangerous pattern found in one statement.

    ``rule`` names the pattern (see :data:`shopmig.lint.RULES`), ``severity`` is ``danger``,
    ``warning`` or ``info``, ``statement`` is the statement it was found in (whitespace
    collapsed), ``message`` says what happens on the server and ``fix`` what to do instead.
    ``revision`` is the plan step the statement belongs to (None for :func:`lint_sql`).
    """

    rule: str
    severity: str
    statement: str
    message: str
    fix: str
    revision: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The finding as a plain dict (for JSON)."""
        return asdict(self)


@dataclass
class Check:
    """A CHECK constraint added earlier in the SQL: its table, the columns it says are NOT
    NULL, whether it is validated."""

    table: str
    columns: set[str]
    validated: bool


@dataclass
class Context:
    """What the rules know while they read one SQL text or one plan, statement by statement.

    ``dialect`` (with its server version) answers the capability questions; ``rows`` is the
    table's row count if known; ``lock_timeout_s`` the lock timeout the statements run under
    (None: only what the SQL sets). For a plan, ``revision`` is the step being read and
    ``allowed_rewrite`` says why a table copy in it cannot be avoided when the caller allowed
    it (``allow_table_rewrite``). The rest is memory of earlier statements: tables created
    by the SQL (new, so nothing waits on them), CHECK constraints added or validated, whether
    a lock timeout was set, whether the missing one was reported.
    """

    dialect: Dialect
    rows: int | None = None
    lock_timeout_s: float | None = None
    revision: str | None = None
    allowed_rewrite: str | None = None
    created: set[str] = field(default_factory=set)
    checks: dict[str, Check] = field(default_factory=dict)
    timeout_set: bool = False
    timeout_reported: bool = False

    # ------------------------------------------------------------ phrases for messages

    def size(self, table: str) -> str:
        """``all 1,000,000 rows of orders`` (or ``every row of orders``)."""
        return (f"all {self.rows:,} rows of {table}" if self.rows is not None
                else f"every row of {table}")

    def takes(self, kind: str) -> str:
        """``about 1.2 s (estimate)`` for ``kind`` of work on the table (see
        :data:`shopmig.lint.estimate.KINDS`)."""
        if self.rows is None:
            return "a time that grows with the table"
        return f"about {estimate.seconds(self.rows * estimate.rate(self.dialect, kind))} " \
               "(estimate)"

    def version_below(self, version: tuple[int, ...] | None) -> bool:
        """True when the server version is known and older than ``version``."""
        known = self.dialect.server_version
        return version is not None and known is not None and tuple(known) < tuple(version)

    def is_new(self, table: str | None) -> bool:
        """True for a table created earlier in the same SQL (empty, nobody waits on it)."""
        return table is not None and table in self.created

    # ------------------------------------------------------------ memory

    def remember(self, parsed: Parsed) -> None:
        """Note what ``parsed`` did, for the statements after it."""
        if parsed.kind == "set" and parsed.extra["variable"] in self.dialect.lock_timeout_variables:
            self.timeout_set = parsed.extra["value"] not in ("0", "default", "")
        elif parsed.kind == "create_table" and parsed.table:
            self.created.add(parsed.table)
        elif parsed.kind == "insert_select":
            self.created.discard(parsed.extra["new"])  # it holds the old rows now
        elif parsed.kind == "drop_table" and parsed.table:
            self.created.discard(parsed.table)
        elif parsed.kind == "alter_table" and parsed.table:
            for action in parsed.actions:
                self._remember_action(parsed.table, action)

    def _remember_action(self, table: str, action: Action) -> None:
        if action.kind == "add_check":
            constraint = action.group("name")
            columns = {name(c) for c in NOT_NULL_TEST.findall(action.group("expr") or "")}
            validated = NOT_VALID.search(action.group("tail") or "") is None
            if constraint or columns:
                key = name(constraint) if constraint else f"<unnamed {len(self.checks)}>"
                self.checks[key] = Check(table, columns, validated)
        elif action.kind == "validate":
            check = self.checks.get(name(action.group("name") or ""))
            if check is not None:
                check.validated = True
        elif action.kind == "drop_constraint":
            self.checks.pop(name(action.group("name") or ""), None)


@dataclass(frozen=True)
class PlannedStep:
    """One step of a plan as a plan-level rule reads it: the step, the options it would run
    with, the row count, and the same step planned with the rewrite allowed (``alternative``,
    when the options do not allow it; None otherwise)."""

    step: Step
    options: MigrationOptions
    rows: int | None
    alternative: Step | None = None


class Rule:
    """One preflight rule: what it is about, which databases it applies to, how it reads SQL.

    Subclasses set the class attributes and override :meth:`applies_to` and :meth:`check`
    (statement by statement) or :meth:`check_step` (a planned step).
    """

    name: ClassVar[str]
    """The rule's id, as findings, the CLI and JSON show it (``table-rewrite``)."""
    severity: ClassVar[str]
    """The worst severity it reports (some findings of the rule may be milder)."""
    title: ClassVar[str]
    """One line: what it finds."""
    explanation: ClassVar[str]
    """What happens on the server, and why it matters on a live table."""
    fix: ClassVar[str]
    """What to do instead, in general (each finding says it for its statement)."""
    applies_when: ClassVar[str]
    """The capability that makes a database subject to the rule, in words."""

    def applies_to(self, dialect: Dialect) -> bool:
        """Whether the rule can fire on ``dialect`` (a capability question, never a name)."""
        return True

    def check(self, parsed: Parsed, ctx: Context) -> Iterator[Finding]:
        """Findings on one statement (the context remembers earlier ones)."""
        return iter(())

    def check_step(self, planned: PlannedStep, ctx: Context) -> Iterator[Finding]:
        """Findings on one planned step as a whole (plan-level rules)."""
        return iter(())

    def finding(self, ctx: Context, statement: str, message: str, fix: str,
                severity: str | None = None) -> Finding:
        """A :class:`Finding` of this rule for ``statement`` in the step being read."""
        return Finding(self.name, severity or self.severity, statement, message, fix,
                       ctx.revision)

    def describe(self) -> dict[str, str]:
        """The rule as plain data (name, severity, title, explanation, fix, applies_when)."""
        return {"name": self.name, "severity": self.severity, "title": self.title,
                "explanation": self.explanation, "fix": self.fix,
                "applies_when": self.applies_when}

    def __repr__(self) -> str:
        return f"<rule {self.name} ({self.severity})>"
