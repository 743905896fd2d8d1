"""The preflight report of a plan: per-step impact, expected lock time, findings; text, JSON,
HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from shopmig.lint.estimate import ESTIMATE_BASIS, seconds
from shopmig.lint.rules import SEVERITIES, Finding

STEP_COLUMNS = ["revision", "summary", "lock", "blocks_writes", "rewrites_table",
                "scans_table", "expected_lock_s", "findings"]
FINDING_COLUMNS = ["revision", "severity", "rule", "message", "fix", "statement"]
SHADES = {"danger": "#ffebe9", "warning": "#fff8c5", "info": "#ddf4ff"}


@dataclass(frozen=True, eq=False)
class LintReport:
    """The preflight view of a plan (:func:`shopmig.lint_plan`): per-step impact, time,
    findings.

    ``steps`` has one row per pending step: ``revision``, ``summary``, ``lock``,
    ``blocks_writes``, ``rewrites_table``, ``scans_table``, ``expected_lock_s`` (an estimate,
    see ``basis``; NaN for a step that is refused or on a table of unknown size) and
    ``findings`` (``"rule (severity)"`` strings). ``findings`` lists every :class:`Finding`
    with its revision. ``ok`` is True when no finding is a ``danger``. ``current`` is None for
    a table that is not adopted yet (planned as if at the baseline); ``notes`` say so, and
    anything else the plan noted. ``server`` is the database and version as shown
    (``MariaDB 10.11.6``).
    """

    url: str
    dialect: str
    server_version: tuple[int, ...] | None
    rows: int | None
    current: str | None
    target: str
    lock_timeout_s: float | None
    steps: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    basis: str = ESTIMATE_BASIS
    notes: list[str] = field(default_factory=list)
    server: str | None = None

    @property
    def ok(self) -> bool:
        """True when no finding is a ``danger``."""
        return not any(f.severity == "danger" for f in self.findings)

    @property
    def counts(self) -> dict[str, int]:
        """The number of steps and of findings of each severity."""
        out = {"steps": len(self.steps)}
        out.update({s: sum(f.severity == s for f in self.findings) for s in SEVERITIES})
        return out

    @property
    def expected_lock_s(self) -> float | None:
        """The sum of the steps' expected lock-hold times (None if any is unknown)."""
        values = self.steps["expected_lock_s"].tolist()
        if any(v is None or pd.isna(v) for v in values):
            return None
        return round(float(sum(values)), 3)

    def findings_frame(self) -> pd.DataFrame:
        """The findings as a DataFrame (``revision``, ``severity``, ``rule``, ``message``,
        ``fix``, ``statement``)."""
        return pd.DataFrame([f.to_dict() for f in self.findings], columns=FINDING_COLUMNS)

    def summary(self) -> str:
        """One line: OK or DANGER, the steps, the findings and the expected lock time."""
        c = self.counts
        head = "OK" if self.ok else "DANGER"
        total = self.expected_lock_s
        if total is not None:
            when = f"~{seconds(total)} of locks expected"
        elif any(f.rule == "step-refused" for f in self.findings):
            when = "lock time unknown: a step is refused as planned"
        else:
            when = "lock time unknown (table size unknown)"
        version = ".".join(map(str, self.server_version)) if self.server_version else "?"
        where = self.server or f"{self.dialect} {version}"
        rows = f"{self.rows:,}" if self.rows is not None else "?"
        start = self.current or "not adopted (planned from the baseline)"
        return (f"{head}: {c['steps']} step(s) from {start} to {self.target} on {where} "
                f"({rows} rows); {c['danger']} danger, {c['warning']} warning(s), "
                f"{c['info']} info; {when}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the CLI's ``lint --json``): ``ok``, counts, steps and findings."""
        steps = [{k: _plain(v) for k, v in row.items()}
                 for row in self.steps.to_dict(orient="records")]
        return {
            "ok": self.ok,
            "url": self.url,
            "dialect": self.dialect,
            "server": self.server,
            "server_version": list(self.server_version) if self.server_version else None,
            "rows": self.rows,
            "current": self.current,
            "target": self.target,
            "lock_timeout_s": self.lock_timeout_s,
            "counts": self.counts,
            "expected_lock_s": self.expected_lock_s,
            "steps": steps,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
            "basis": self.basis,
        }

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"note: {n}" for n in self.notes]
        if len(self.steps):
            frame = self.steps.assign(findings=[", ".join(f) or "-"
                                                for f in self.steps["findings"]])
            lines.append(frame.to_string(index=False))
        for f in self.findings:
            lines.append(f"[{f.severity}] {f.rule} ({f.revision}): {f.message}")
            lines.append(f"    fix: {f.fix}")
            lines.append(f"    statement: {f.statement}")
        lines.append(f"expected_lock_s: {self.basis}")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's plain-text view."""
        p.text(str(self))

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        worst: dict[str | None, str] = {}
        for f in self.findings:
            if f.revision not in worst or SEVERITIES.index(f.severity) < SEVERITIES.index(
                    worst[f.revision]):
                worst[f.revision] = f.severity
        head = "".join(f"<th>{html.escape(c)}</th>" for c in STEP_COLUMNS)
        body = []
        for row in self.steps.to_dict(orient="records"):
            level = worst.get(row["revision"])
            style = f" style='background:{SHADES[level]}'" if level else ""
            cells = []
            for c in STEP_COLUMNS:
                value = row[c]
                if c == "findings":
                    value = ", ".join(value) or ""
                elif c == "expected_lock_s":
                    value = "?" if value is None or pd.isna(value) else seconds(value)
                cells.append(f"<td>{html.escape(str(value))}</td>")
            body.append(f"<tr{style}>{''.join(cells)}</tr>")
        out = (f"<p style='color:{colour};font-weight:bold'>{html.escape(self.summary())}</p>")
        out += "".join(f"<p><i>note:</i> {html.escape(n)}</p>" for n in self.notes)
        out += f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        if self.findings:
            items = "".join(
                f"<li style='background:{SHADES[f.severity]}'><b>{html.escape(f.severity)}</b> "
                f"<code>{html.escape(f.rule)}</code> ({html.escape(str(f.revision))}): "
                f"{html.escape(f.message)}<br><i>fix:</i> {html.escape(f.fix)}<br>"
                f"<code>{html.escape(f.statement)}</code></li>"
                for f in self.findings)
            out += f"<ul>{items}</ul>"
        return out + f"<p><small>expected_lock_s: {html.escape(self.basis)}</small></p>"


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if pd.isna(value) else value
    if hasattr(value, "item"):
        return _plain(value.item())
    return str(value)
