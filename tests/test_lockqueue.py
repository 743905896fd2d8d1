"""The lock queue, measured: reads queue behind a step waiting for its lock; without a lock
timeout until the blocking transaction ends, with one only until the attempt gives up.

Real runs on each backend (a 1.5 s blocker) and a synthetic timeline for the facts alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import shopmig
from shopmig.errors import InvalidArgumentError
from shopmig.teach import lockqueue
from shopmig.teach.lockqueue import Attempt, LockQueueRun


def _shop(backend: str, make_url, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    url = make_url(backend)
    shopmig.make_demo_shop(url, rows=500, seed=1)
    return url


@pytest.mark.slow
def test_reads_queue_behind_the_waiting_step_and_a_lock_timeout_bounds_it(
        backend: str, make_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    naive = lockqueue.measure_lock_queue(_shop(backend, make_url, tmp_path),
                                         lock_timeout_s=None, hold_s=2.0)
    safe = lockqueue.measure_lock_queue(_shop(backend, make_url, tmp_path),
                                        lock_timeout_s=0.3, retries=6, hold_s=2.0)
    n, s = naive.facts(), safe.facts()
    assert n["reads queued behind the waiting step"], naive.summary()
    assert n["queued reads released when the blocker ended"], naive.queued()
    assert not n["queued reads released by the lock timeout"]
    assert s["reads queued behind the waiting step"], safe.summary()
    assert s["queued reads released by the lock timeout"], safe.queued()
    assert [a.outcome for a in naive.attempts] == ["applied"]
    assert safe.attempts[0].outcome == "gave up" and safe.attempts[-1].outcome == "applied"
    assert all(f["step applied"] and f["step applied after the blocker ended"] for f in (n, s))
    assert safe.stats()["longest read stall (ms)"] < naive.stats()["longest read stall (ms)"]
    assert safe.stats()["reads slow between attempts"] == 0
    if backend != "sqlite":  # a write to another row queues too (on SQLite it waits anyway)
        assert "writes queued" in naive.stats() and naive.stats()["writes queued"] >= 1
    table = lockqueue.compare_facts(naive, safe)
    assert list(table.columns) == [naive.label, safe.label]
    assert naive.to_dict()["facts"] == n


def _run(attempts: list[Attempt], reads: list[tuple[float, float]],
         blocker: tuple[float, float] = (0.5, 3.5)) -> LockQueueRun:
    """A run with a made-up timeline: ``reads`` as (started_s, latency_s)."""
    quiet = [(t / 10, 0.002) for t in range(5)]  # the baseline: 2 ms
    events = pd.DataFrame([{"kind": "read", "started_s": st, "latency_s": lat, "ok": True,
                            "error": None} for st, lat in quiet + reads])
    return LockQueueRun("made up", "SQLite", 0.3, blocker[0], blocker[1], attempts, events,
                        applied=attempts[-1].ok, explained="")


def test_facts_tell_the_timeout_from_the_blocker() -> None:
    timeout = _run([Attempt(1.0, 0.35, "gave up"), Attempt(3.6, 0.05, "applied")],
                   reads=[(1.1, 0.28), (2.0, 0.002)])
    facts = timeout.facts()
    assert facts["reads queued behind the waiting step"]
    assert facts["queued reads released by the lock timeout"]
    assert not facts["queued reads released when the blocker ended"]
    assert timeout.queued()["attempt"].tolist() == [1]

    waited = _run([Attempt(1.0, 2.6, "applied")], reads=[(1.1, 2.45)])
    assert waited.facts()["queued reads released when the blocker ended"]
    assert not waited.facts()["queued reads released by the lock timeout"]

    # a read that waited on after its attempt gave up: not released by the timeout
    late = _run([Attempt(1.0, 0.35, "gave up"), Attempt(3.6, 0.05, "applied")],
                reads=[(1.1, 2.5)])
    assert not late.facts()["queued reads released by the lock timeout"]

    # nothing queued: no fact claims a release
    calm = _run([Attempt(1.0, 0.05, "applied")], reads=[(1.01, 0.002)], blocker=(0.2, 0.4))
    assert not any(v for k, v in calm.facts().items() if "queued" in k)
    assert calm.facts()["step applied after the blocker ended"]


def test_a_slow_read_between_attempts_is_counted() -> None:
    run = _run([Attempt(1.0, 0.35, "gave up"), Attempt(2.0, 0.05, "applied")],
               reads=[(1.5, 0.3)])
    assert run.stats()["reads slow between attempts"] == 1


def test_arguments_are_checked() -> None:
    with pytest.raises(InvalidArgumentError):
        lockqueue.measure_lock_queue("sqlite:///nowhere.db", lock_timeout_s=0, hold_s=1)
    with pytest.raises(InvalidArgumentError):
        lockqueue.measure_lock_queue("sqlite:///nowhere.db", lock_timeout_s=None, hold_s=0.2,
                                     lead_s=0.5)
