"""Exercises with automatic feedback for the training track (``notebooks/exercises/``).

Each ``check_*`` function takes the learner's answer (a small Python function), *runs* it on a
fresh scratch database made for the check alone (in-memory SQLite by default, or a database
named ``…__shopmig_ex<N>`` next to ``url``), looks at what it did (schema, data, the SQL it ran,
:func:`shopmig.lint_sql` findings, whether the table was copied), holds the result to the rules
of all three databases (:mod:`~shopmig.teach.exercises.rules`: what SQLite stores but PostgreSQL
or MariaDB would refuse is named) and answers with a :class:`Feedback`: what is right, what is
wrong, and a hint that gets closer each time the same mistake is checked again, never the
answer itself. A learner's exception never escapes as a traceback: it is explained. An answer
not written yet (the placeholder ``raise NotImplementedError("your turn")``, or ``...``) is "not
done yet"; an answer that runs but changes nothing is "not right yet".

The exercises:

1. :func:`check_shipped_at` -- add a nullable ``shipped_at`` and backfill it from ``status``.
2. :func:`check_fast_status` -- fix a step that writes every row to add ``status``
   (:func:`trace_step` shows what the given step does, statement by statement, without a
   verdict).
3. :func:`check_cents_downgrade` -- the downgrade of :func:`cents_upgrade` that loses nothing.
4. :func:`check_expectations` -- ``verify`` expectations that catch planted data bugs.
5. :func:`check_safe_order` -- the safe order of steps for a big PostgreSQL table.
"""

from __future__ import annotations

from shopmig.teach.exercises.cents import cents_upgrade, check_cents_downgrade
from shopmig.teach.exercises.expectations import check_expectations
from shopmig.teach.exercises.fast_status import check_fast_status, slow_add_status, trace_step
from shopmig.teach.exercises.feedback import Feedback, reset_hints, summary
from shopmig.teach.exercises.running import EXERCISE_ROWS
from shopmig.teach.exercises.safe_order import BIG_TABLE_ROWS, STEP_CHOICES, check_safe_order
from shopmig.teach.exercises.shipped_at import check_shipped_at

__all__ = [
    "BIG_TABLE_ROWS",
    "EXERCISE_ROWS",
    "STEP_CHOICES",
    "Feedback",
    "cents_upgrade",
    "check_cents_downgrade",
    "check_expectations",
    "check_fast_status",
    "check_safe_order",
    "check_shipped_at",
    "reset_hints",
    "slow_add_status",
    "summary",
    "trace_step",
]
