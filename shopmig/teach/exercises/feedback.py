"""What a check answers: :class:`Feedback`, and the graduated hints behind it.

A check collects findings in a :class:`Report`: ``right(...)`` (✓), ``wrong(..., hints=...)``
(✗ with a ladder of hints, from a nudge to a closer nudge) and ``note(...)`` (something worth
knowing that is not a mistake). The feedback shows the hint ladder of the *first* mistake, one
rung at a time: the first check of a mistake shows the nudge, each further check that finds the
same mistake the next rung (:class:`HintLadder`). No rung is the answer: the answer lives in the
solution notebook only (``tests/test_exercises.py`` checks every hint against it).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

RIGHT = "✓"
WRONG = "✗"

STATUS_CORRECT = "correct"
STATUS_WRONG = "not right yet"
STATUS_NOT_DONE = "not done yet"

NOT_DONE_HINT = ("Write your answer in the “your turn” cell above (replace the "
                 "`raise NotImplementedError`), run that cell, then run this check again.")


@dataclass(frozen=True)
class Feedback:
    """What a check found.

    - ``ok``: the answer is right; ``done``: there is an answer at all (the placeholder
      ``raise NotImplementedError("your turn")`` is "not done yet");
    - ``messages``: one sentence per finding, starting with ✓ or ✗;
    - ``hint``: the next thing to try (None when the answer is right), rung ``hint_level`` (1
      is the gentlest) of ``hint_levels`` for this mistake; running the check again on the
      same mistake shows the next rung;
    - ``notes``: worth knowing, not mistakes (e.g. what the real table needs on top);
    - ``ran_on``: the database the answer ran on, and whose rules it was held to.

    Shown as coloured HTML in a notebook and as plain text elsewhere (``str(feedback)``).
    """

    ok: bool
    done: bool
    messages: list[str] = field(default_factory=list)
    hint: str | None = None
    exercise: str = ""
    hint_level: int = 0
    hint_levels: int = 0
    notes: list[str] = field(default_factory=list)
    ran_on: str = ""

    @property
    def status(self) -> str:
        """``correct``, ``not right yet`` or ``not done yet``."""
        if not self.done:
            return STATUS_NOT_DONE
        return STATUS_CORRECT if self.ok else STATUS_WRONG

    def headline(self) -> str:
        """One line: the exercise and its status."""
        prefix = f"{self.exercise}: " if self.exercise else ""
        return f"{prefix}{self.status}"

    def _hint_label(self) -> str:
        if self.hint_levels > 1:
            return f"Hint {self.hint_level} of {self.hint_levels}"
        return "Hint"

    def _closer(self) -> str | None:
        if self.hint and self.hint_level < self.hint_levels:
            return f"Run the check again for hint {self.hint_level + 1} (a closer one)."
        return None

    def __str__(self) -> str:
        lines = [self.headline(), *(f"  {m}" for m in self.messages)]
        if self.hint:
            lines.append(f"  {self._hint_label()}: {self.hint}")
            closer = self._closer()
            if closer:
                lines.append(f"  ({closer})")
        lines += [f"  Note: {n}" for n in self.notes]
        if self.ran_on:
            lines.append(f"  ({self.ran_on})")
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's plain-text view: the same text as ``str()``."""
        p.text(str(self))

    def _repr_html_(self) -> str:
        colour = {STATUS_CORRECT: "#1a7f37", STATUS_WRONG: "#cf222e"}.get(self.status, "#9a6700")
        items = "".join(f"<li>{html.escape(m)}</li>" for m in self.messages)
        body = (f"<div style='border-left:4px solid {colour};padding-left:8px'>"
                f"<p style='color:{colour};font-weight:bold'>{html.escape(self.headline())}</p>")
        if items:
            body += f"<ul style='list-style:none;padding-left:0'>{items}</ul>"
        if self.hint:
            body += f"<p><b>{html.escape(self._hint_label())}:</b> {html.escape(self.hint)}</p>"
            closer = self._closer()
            if closer:
                body += f"<p style='color:#57606a'>{html.escape(closer)}</p>"
        for note in self.notes:
            body += f"<p><b>Note:</b> {html.escape(note)}</p>"
        if self.ran_on:
            body += f"<p style='color:#57606a;font-size:90%'>{html.escape(self.ran_on)}</p>"
        return body + "</div>"

    def to_dict(self) -> dict[str, object]:
        """The feedback as a plain dict (for JSON)."""
        return {"exercise": self.exercise, "ok": self.ok, "done": self.done,
                "status": self.status, "messages": list(self.messages), "hint": self.hint,
                "hint_level": self.hint_level, "hint_levels": self.hint_levels,
                "notes": list(self.notes), "ran_on": self.ran_on}


def summary(feedbacks: Sequence[Feedback]) -> pd.DataFrame:
    """One row per exercise: its name, status and hint (a progress table for the notebook)."""
    return pd.DataFrame(
        {"exercise": [f.exercise for f in feedbacks],
         "status": [f.status for f in feedbacks],
         "hint": [f.hint or "" for f in feedbacks]}
    )


# ------------------------------------------------------------------ graduated hints

LADDERS: list[tuple[str, ...]] = []
"""Every hint ladder the exercises define, in definition order (the tests check that each
one is reached by the wrong answer it is for, and that none holds a solution's code)."""


def ladder(*rungs: str) -> tuple[str, ...]:
    """A hint ladder: the rungs from the gentlest nudge to the closest one (never the
    answer). Registered in :data:`LADDERS`."""
    if not rungs or not all(isinstance(r, str) and r for r in rungs):
        raise ValueError("a hint ladder needs one or more non-empty rungs")
    LADDERS.append(rungs)
    return rungs



class HintLadder:
    """Which rung of a mistake's hints to show: the first time a check finds a mistake, rung
    1; each later check that finds the same mistake first, one rung closer (up to the last).

    One ladder per kernel (the module's :data:`LADDER`): a learner's session. ``reset()``
    starts over (a new session, a test).
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], int] = {}

    def climb(self, exercise: str, hints: Sequence[str]) -> int:
        """The rung (1-based) to show for this mistake now, and remember that it was shown."""
        key = (exercise, hints[0])
        seen = self._seen.get(key, 0) + 1
        self._seen[key] = seen
        return min(seen, len(hints))

    def reset(self) -> None:
        """Forget every mistake seen so far."""
        self._seen.clear()


LADDER = HintLadder()


def reset_hints() -> None:
    """Start every hint ladder again from its first rung (the gentlest nudge)."""
    LADDER.reset()


Hints = str | Sequence[str]


class Report:
    """Collects ✓/✗ messages, notes, and the hint ladder of the first mistake while a check
    runs; :meth:`feedback` turns them into a :class:`Feedback`."""

    def __init__(self, exercise: str, *, hint_level: int | None = None) -> None:
        self.exercise = exercise
        self.messages: list[str] = []
        self.notes: list[str] = []
        self.ladders: list[tuple[str, ...]] = []
        self.failed = False
        self.hint_level = hint_level
        self.ran_on = ""

    def right(self, message: str) -> None:
        """Something the answer gets right."""
        self.messages.append(f"{RIGHT} {message}")

    def wrong(self, message: str, hints: Hints | None = None) -> None:
        """Something the answer gets wrong, with the hints for it (gentlest first)."""
        self.failed = True
        self.messages.append(f"{WRONG} {message}")
        if hints:
            ladder = (hints,) if isinstance(hints, str) else tuple(hints)
            if ladder not in self.ladders:
                self.ladders.append(ladder)

    def note(self, message: str) -> None:
        """Something worth knowing that is not a mistake."""
        if message not in self.notes:
            self.notes.append(message)

    def feedback(self) -> Feedback:
        """The findings so far as a :class:`Feedback` (climbing the first mistake's ladder)."""
        hint, level, levels = None, 0, 0
        if self.failed and self.ladders:
            ladder = self.ladders[0]
            levels = len(ladder)
            level = (max(1, min(self.hint_level, levels)) if self.hint_level is not None
                     else LADDER.climb(self.exercise, ladder))
            hint = ladder[level - 1]
        return Feedback(ok=not self.failed, done=True, messages=list(self.messages), hint=hint,
                        exercise=self.exercise, hint_level=level, hint_levels=levels,
                        notes=list(self.notes), ran_on=self.ran_on)


def not_done(exercise: str, why: str = "there is no answer yet.") -> Feedback:
    """The feedback for an answer that is still the placeholder."""
    return Feedback(ok=False, done=False, messages=[why], hint=NOT_DONE_HINT, exercise=exercise,
                    hint_level=1, hint_levels=1)


def single(exercise: str, message: str, hints: Sequence[str], *, ran_on: str = "",
           hint_level: int | None = None) -> Feedback:
    """A "not right yet" feedback with one ✗ message (an answer that could not run at all)."""
    report = Report(exercise, hint_level=hint_level)
    report.wrong(message, hints)
    report.ran_on = ran_on
    return report.feedback()
