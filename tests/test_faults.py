"""Fault injection (issue 13): kill ``shopmig upgrade`` at random moments of every step, kill
its server session, run two migrators at once, and check that shopmig always names the state,
that a rerun reaches head, and that no row changed (see ``tests/fault_harness.py``).

This is the fast, seeded subset (marker ``faults``, part of the normal suite); the full run with
at least 10 kills per step and backend is ``make faults`` (``benchmarks/faults.py``).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fault_harness import (
    HEAD,
    REVS,
    STEPS,
    FaultLab,
    State,
    Trial,
    cli_argv,
    finish,
    holding,
    invalid_indexes,
    run_cli,
    start_cli,
    wait_for,
)

import shopmig
from shopmig.db import parse_url
from shopmig.dialects import dialect_for
from shopmig.errors import (
    DatabaseError,
    LockTimeoutError,
    MigrationLockedError,
    ShopmigError,
)
from shopmig.migrate import core

pytestmark = pytest.mark.faults

SEED = 20240613
ROWS = 5_000  # the kills aim at the steps' own windows, so a small shop is enough here
# On a server a session kill must find the migrator's session while it holds the migration
# lock; at 5,000 rows MariaDB's index step is over before a loaded machine's watcher (polling
# the lock) sees it, and no fault lands. A larger shop gives the step a window to hit.
SERVER_ROWS = 50_000
TIMINGS = ("window", "ddl")  # two kills per step and backend
INDEX = "ix_orders_status"
BLOCK_WRITES = "UPDATE orders SET amount = amount WHERE order_id = 'ORD-0000001'"
BLOCK_DDL = "SELECT count(*) FROM orders"


def explain(trials: list[Trial]) -> str:
    """What went wrong, trial by trial, for an assertion message."""
    return "\n".join(
        f"{t.backend} {t.direction} {t.step} {t.mode}/{t.timing} after {t.delay_s}s: "
        f"{t.category}; " + " | ".join(t.problems) for t in trials)


@pytest.fixture
def lab(backend: str, make_url: Any) -> Iterator[FaultLab]:
    """A demo shop of ROWS orders on each backend, with warm processes to kill."""
    made = FaultLab(backend, make_url(backend), ROWS, warm=True, in_process_rerun=True,
                    calibrate=False)
    yield made
    made.close()


@pytest.fixture
def server_lab(server_backend: str, make_url: Any, request: Any) -> Iterator[FaultLab]:
    """The same on PostgreSQL and MariaDB only."""
    request.node.add_marker(pytest.mark.server)
    made = FaultLab(server_backend, make_url(server_backend), SERVER_ROWS, warm=True,
                    in_process_rerun=True, calibrate=False)
    yield made
    made.close()


# ------------------------------------------------------------------ random kills


def test_kill_9_at_random_moments_of_every_step(lab: FaultLab) -> None:
    """Per step: one kill anywhere while it migrates, one while its statements run."""
    rng = random.Random(f"{SEED}-sigkill-{lab.backend}")
    trials = [lab.kill_trial(step, "up", "sigkill", rng, timing=timing)
              for step in reversed(STEPS) for timing in TIMINGS]
    assert len(trials) == len(TIMINGS) * len(STEPS)
    bad = [t for t in trials if not t.ok]
    assert not bad, explain(bad)
    assert all(t.landed and t.killed["code"] == -9 for t in trials)
    assert all(t.reached and t.data_ok for t in trials)


def test_kill_9_during_a_downgrade(lab: FaultLab) -> None:
    rng = random.Random(f"{SEED}-down-{lab.backend}")
    step = rng.choice(STEPS)
    trial = lab.kill_trial(step, "down", "sigkill", rng)
    assert trial.ok, explain([trial])
    assert trial.killed["code"] == -9
    assert State.read(lab.url).recorded == REVS[REVS.index(step) - 1]


def test_server_session_killed_at_random_moments(server_lab: FaultLab) -> None:
    rng = random.Random(f"{SEED}-session-{server_lab.backend}")
    trials = [server_lab.kill_trial(step, "up", "session", rng, timing=timing)
              for step, timing in zip(rng.sample(STEPS, 2), TIMINGS, strict=True)]
    bad = [t for t in trials if not t.ok]
    assert not bad, explain(bad)
    assert all(t.sessions_killed >= 1 for t in trials)
    for t in trials:  # the run whose session died said so in one line (or had finished)
        err = t.killed["err"].strip()
        assert t.killed["code"] == 0 or (err.startswith("shopmig: error:")
                                          and len(err.splitlines()) == 1), err


def test_two_upgrades_at_once(lab: FaultLab) -> None:
    outcome = lab.concurrent_trial()
    assert not outcome["problems"], outcome
    assert State.read(lab.url).recorded == HEAD


# ------------------------------------------------------------------ one migrator at a time


def test_second_migrator_fails_in_one_line_naming_the_first(server_lab: FaultLab) -> None:
    url = server_lab.url
    server = server_lab.server
    assert server is not None
    with holding(url, BLOCK_DDL):  # the first migrator waits behind it, holding shopmig's lock
        first = start_cli(cli_argv(url, "upgrade", "+1", "--lock-timeout", "30"))

        def first_waits() -> set[int]:
            return {sid for sid, query, _ in server.sessions() if "ALTER TABLE" in query}

        wait_for(first_waits, 60, "the first upgrade waiting for its lock")
        assert server.migrating()
        sessions = first_waits()
        started = time.monotonic()
        with pytest.raises(MigrationLockedError) as info:
            shopmig.upgrade(url, "+1", options=shopmig.MigrationOptions(lock_wait_s=0.5))
        waited = time.monotonic() - started
    run = finish(first, [], started)
    assert run.code == 0, run.err
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "another shopmig migration is running" in message
    assert any(str(sid) in info.value.holder for sid in sessions), (info.value.holder, sessions)
    assert waited < 5
    assert State.read(url).recorded == REVS[1]  # the first one applied its step, once


def test_version_moved_by_another_session_mid_run_is_not_claimed(sqlite_url: str) -> None:
    """SQLite has no run-long lock: another migrator can run a step while this one plans it.
    No step may run twice, nor be reported as run by a session that did not run it."""
    shopmig.make_demo_shop(sqlite_url, rows=50)
    moved: list[str] = []

    def other_session_moves_first(step: core.Step) -> None:
        if step.revision == REVS[2] and not moved:
            moved.append(step.revision)
            shopmig.upgrade(sqlite_url, REVS[3])  # on its own connection

    applied = shopmig.upgrade(sqlite_url, "head", on_step=other_session_moves_first)
    assert moved
    assert [a.revision for a in applied] == [REVS[1], REVS[4]]
    assert State.read(sqlite_url).recorded == HEAD
    assert shopmig.snapshot(sqlite_url)["status"].eq("pending").all()


# ------------------------------------------------------------------ true errors


def _terminate_after(server_lab: FaultLab, revision: str, monkeypatch: Any) -> list[int]:
    """Make the server end the migrating session right after ``revision`` committed."""
    server = server_lab.server
    assert server is not None
    killed: list[int] = []
    real = core._run_one

    def run_then_lose_the_session(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if args[3] == revision and not killed:
            killed.append(server.kill_all())
            wait_for(lambda: not server.sessions(), 30, "the session ending")
        return result

    monkeypatch.setattr(core, "_run_one", run_then_lose_the_session)
    return killed


def test_session_lost_after_a_step_committed_is_told_truly(server_lab: FaultLab,
                                                           monkeypatch: Any) -> None:
    url = server_lab.url
    killed = _terminate_after(server_lab, REVS[1], monkeypatch)
    run = run_cli(cli_argv(url, "upgrade", "head", "--allow-table-rewrite"), in_process=True)
    assert killed == [1]
    assert run.code == 2 and run.clean_error(), run.err
    assert "nothing was changed" not in run.err.lower(), run.err
    assert f"this run had done: up {REVS[1]}" in run.err
    assert f"the schema matches revision {REVS[1]}" in run.err
    monkeypatch.undo()
    again = run_cli(cli_argv(url, "upgrade", "head", "--allow-table-rewrite"), in_process=True)
    assert again.code == 0 and not again.err, again.err
    assert State.read(url).recorded == HEAD
    ok, detail = server_lab.check_data(True)
    assert ok, detail


@pytest.mark.server
@pytest.mark.parametrize("phase", ["waiting", "building"])
def test_own_session_killed_during_create_index_concurrently(make_url: Any, phase: str) -> None:
    """shopmig's own session ended during CREATE INDEX CONCURRENTLY, while it waits for an
    older writer (its invalid index is already in the catalog) or as soon as it starts: one
    true line (no SQLAlchemy "rollback() fully" advice, no "nothing was changed" next to an
    index it left), and the rerun drops the leftover and builds the index."""
    lab = FaultLab("postgresql", make_url("postgresql"), 50_000)
    try:
        url, server = lab.url, lab.server
        assert server is not None
        lab.move_to(REVS[3])
        blocker = holding(url, BLOCK_WRITES) if phase == "waiting" else contextlib.nullcontext()
        with blocker:  # CONCURRENTLY waits for this writer to finish
            proc = start_cli(cli_argv(url, "upgrade", "+1", "--lock-timeout", "60"))
            started = time.monotonic()

            def building() -> list[int]:
                return [sid for sid, query, _ in server.sessions()
                        if query.startswith("CREATE INDEX CONCURRENTLY")]

            wait_for(building, 60, "CREATE INDEX CONCURRENTLY starting")
            server.conn.execute(sa.text("SELECT pg_terminate_backend(:p)"),
                                {"p": building()[0]})
            run = finish(proc, [], started)
        assert run.clean_error() and run.code == 2, run.err
        assert "rollback()" not in run.err and "sqlalche.me" not in run.err, run.err
        assert "terminating connection" in run.err
        state = State.read(url)
        assert state.recognized, state
        if phase == "waiting":
            assert state.invalid == [INDEX], state
        if state.invalid:
            assert INDEX in state.sentence
            assert INDEX in run.err and "nothing was changed" not in run.err.lower(), run.err
        else:  # killed before its first commit: nothing there, and it says so
            assert state.ok and state.recorded == REVS[3] and "nothing was changed" in run.err
        rerun = run_cli(cli_argv(url, "upgrade", "head"), in_process=True)
        assert rerun.code == 0 and not rerun.err, rerun.err
        assert State.read(url).ok and State.read(url).recorded == HEAD
        assert invalid_indexes(url) == []
        assert lab.check_data(True)[0]
    finally:
        lab.close()


def test_index_step_that_gives_up_names_what_it_left(server_lab: FaultLab) -> None:
    """0005 behind a long writing transaction: PostgreSQL's CONCURRENTLY build has already
    made its (invalid) index when the lock timeout ends it, so "nothing was changed" would be
    false; MariaDB's metadata lock wait really leaves nothing."""
    url = server_lab.url
    server_lab.move_to(REVS[3])
    options = shopmig.MigrationOptions(lock_timeout_s=1, retries=0)
    with holding(url, BLOCK_WRITES), pytest.raises(ShopmigError) as info:
        shopmig.upgrade(url, "+1", options=options)
    message = str(info.value)
    assert "\n" not in message
    state = State.read(url)
    assert state.recognized
    if server_lab.backend == "postgresql":
        assert state.invalid == [INDEX]
    if state.invalid:
        assert INDEX in message and "nothing was changed" not in message.lower(), message
    else:
        assert isinstance(info.value, LockTimeoutError)
        assert state.ok and state.recorded == REVS[3] and "Nothing was changed" in message
    rerun = run_cli(cli_argv(url, "upgrade", "head"), in_process=True)
    assert rerun.code == 0 and not rerun.err, rerun.err
    assert State.read(url).ok and State.read(url).recorded == HEAD
    assert invalid_indexes(url) == []


@pytest.fixture
def ddl_timer() -> Iterator[list[tuple[str, float]]]:
    """(statement, seconds) of every ALTER TABLE run in this process meanwhile: from its start
    to the start of the next statement (at most a little more than it took)."""
    timed: list[tuple[str, float]] = []
    running: list[tuple[str, float]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        now = time.monotonic()
        if running:
            alter, since = running.pop()
            timed.append((alter, now - since))
        if statement.startswith("ALTER TABLE"):
            running.append((statement, now))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
    yield timed
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", before)


def test_tiny_lock_timeout_is_not_no_timeout(server_lab: FaultLab,
                                             ddl_timer: list[tuple[str, float]]) -> None:
    """``--lock-timeout 0.0004`` is rounded *up* to what the server counts (1 ms; MariaDB 1 s),
    never to 0, which PostgreSQL reads as "wait forever"."""
    url = server_lab.url
    options = shopmig.MigrationOptions(lock_timeout_s=0.0004, retries=0)
    dialect = dialect_for(parse_url(url))
    rounded = dialect.lock_timeout_ms(options) / 1000
    if server_lab.backend == "mariadb":
        rounded = float(dialect.lock_wait_seconds(options))  # type: ignore[attr-defined]
    assert rounded > 0
    with holding(url, BLOCK_DDL) as blocker:
        release = threading.Timer(30, blocker.rollback)  # "no timeout" would wait for this
        release.start()
        try:
            with pytest.raises(LockTimeoutError):
                shopmig.upgrade(url, "+1", options=options)
        finally:
            release.cancel()
    assert len(ddl_timer) == 1, ddl_timer
    waited = ddl_timer[0][1]
    assert waited < rounded + 0.5, (waited, rounded)  # at most about the timeout
    assert State.read(url).recorded == REVS[0]
    if server_lab.backend == "mariadb":
        return  # the command line below is the same there, with four 1 s waits
    with holding(url, BLOCK_DDL):  # the command line takes it too, and gives up in one line
        run = run_cli(cli_argv(url, "upgrade", "+1", "--lock-timeout", "0.0004"),
                      in_process=True)
    assert run.code == 2 and run.clean_error() and "gave up after 4 attempt" in run.err, run.err


def test_the_session_lost_before_any_step_says_nothing_unchecked(
        server_lab: FaultLab, monkeypatch: Any) -> None:
    """A session killed while shopmig waits for the migration lock: one line, with what the
    database holds checked on a new connection."""
    url = server_lab.url
    server = server_lab.server
    assert server is not None
    real = core._repair

    def lose_the_session_first(*args: Any, **kwargs: Any) -> Any:
        server.kill_all()
        wait_for(lambda: not server.sessions(), 30, "the session ending")
        return real(*args, **kwargs)

    monkeypatch.setattr(core, "_repair", lose_the_session_first)
    with pytest.raises(DatabaseError) as info:
        shopmig.upgrade(url, "head")
    message = str(info.value)
    assert "this run had run no step yet" in message
    assert f"Checked afterwards on a new connection: the schema matches revision {REVS[0]}" \
        in message


@pytest.mark.server
def test_diagnose_waits_for_a_schema_change_running_elsewhere(make_url: Any,
                                                              monkeypatch: Any) -> None:
    """Right after a client was killed during MariaDB's ALTER ... ALGORITHM=COPY, its server
    thread still finishes the copy, and reading the table's definition fails with error 1684
    meanwhile (seen in the full run). diagnose waits for it instead of failing."""
    import pymysql

    from shopmig.dialects.mysql import MySQLDialect

    url = make_url("mariadb")
    shopmig.make_demo_shop(url, rows=50)
    real = MySQLDialect.table_state
    refusals: list[int] = []

    def busy_twice(self: MySQLDialect, conn: Any, target: Any) -> Any:
        if len(refusals) < 2:
            refusals.append(1684)
            raise sa.exc.OperationalError("SHOW CREATE TABLE `orders`", {}, pymysql.err.
                                          OperationalError(1684, "Table 'x'.'orders' was "
                                                           "skipped since its definition is "
                                                           "being modified by concurrent DDL "
                                                           "statement"))
        return real(self, conn, target)

    monkeypatch.setattr(MySQLDialect, "table_state", busy_twice)
    found = shopmig.diagnose(url)
    assert refusals == [1684, 1684]
    assert found.ok and found.recorded == REVS[0]
