"""Shared by the lint tests: which databases a rule applies to, and one rule's findings."""

from __future__ import annotations

from typing import Any

from shopmig.dialects import DIALECTS, dialect_class
from shopmig.lint import Finding, lint_sql
from shopmig.lint.rules import Rule


def applies(rule: Rule) -> set[str]:
    """The databases (shopmig's names) whose capabilities make ``rule`` apply."""
    return {cls.name for cls in DIALECTS if rule.applies_to(cls())}


def kinds(cases: list[tuple[Any, ...]]) -> set[str]:
    """The databases (shopmig's names) a list of ``(dialect, sql, ...)`` cases covers."""
    return {dialect_class(case[0]).name for case in cases}


def hits(rule: Rule, sql: str, dialect: str, **kw: Any) -> list[Finding]:
    """The findings of ``rule`` only (a lock timeout is given unless ``kw`` says otherwise)."""
    kw.setdefault("lock_timeout_s", 2.0)
    return [f for f in lint_sql(sql, dialect, **kw) if f.rule == rule.name]


def assert_fires(rule: Rule, dialect: str, sql: str, severity: str, **kw: Any) -> Finding:
    """``rule`` fires exactly once on ``sql``, with ``severity``, a message and a fix, on the
    statement as written."""
    found = hits(rule, sql, dialect, **kw)
    assert [f.severity for f in found] == [severity], found
    hit = found[0]
    assert hit.message and hit.fix and hit.revision is None
    assert hit.statement in " ".join(sql.split())
    return hit
