"""The rule registry: every preflight rule, one object each, in the order they are shown.

Each rule lives in its own module with its explanation, fix and the capability that makes a
database subject to it; its tests are ``tests/test_lint_rule_<name>.py``. Adding a rule means
adding a module and listing its object here.
"""

from __future__ import annotations

from shopmig.lint.rules.base import (
    SEVERITIES,
    Check,
    Context,
    Finding,
    PlannedStep,
    Rule,
)
from shopmig.lint.rules.check_not_valid import CheckNotValid
from shopmig.lint.rules.index_not_concurrent import IndexNotConcurrent
from shopmig.lint.rules.no_lock_timeout import NoLockTimeout
from shopmig.lint.rules.not_null_without_check import NotNullWithoutCheck
from shopmig.lint.rules.step_refused import StepRefused
from shopmig.lint.rules.table_rewrite import TableRewrite
from shopmig.lint.rules.volatile_default import VolatileDefault

REGISTRY: tuple[Rule, ...] = (
    VolatileDefault(),
    NotNullWithoutCheck(),
    IndexNotConcurrent(),
    CheckNotValid(),
    TableRewrite(),
    NoLockTimeout(),
    StepRefused(),
)
"""Every rule, in the order they run and are listed."""

BY_NAME: dict[str, Rule] = {rule.name: rule for rule in REGISTRY}
assert len(BY_NAME) == len(REGISTRY), "two rules share a name"


def rule(name: str) -> Rule:
    """The rule called ``name`` (:class:`KeyError` if there is none)."""
    return BY_NAME[name]


__all__ = ["BY_NAME", "REGISTRY", "SEVERITIES", "Check", "CheckNotValid", "Context", "Finding",
           "IndexNotConcurrent", "NoLockTimeout", "NotNullWithoutCheck", "PlannedStep", "Rule",
           "StepRefused", "TableRewrite", "VolatileDefault", "rule"]
