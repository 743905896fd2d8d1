"""Run the migration one revision at a time, preview it, adopt a shop, repair a half-applied step.

Planning is separate from execution: :func:`plan` and :func:`preview_sql` say what would run
(each step's statements built from the live table by its dialect, and their impact), and
:func:`upgrade` / :func:`downgrade` run exactly those statements, one revision at a time.

Targets: ``"+1"``/``"-1"`` (relative), ``"head"``, ``"base"`` or a revision id (a unique prefix
such as ``"0002"`` is enough). ``base`` means the baseline revision: shopmig never drops your
table. Every function takes ``table=`` (``schema.table`` on PostgreSQL) and ``column=`` for a
table other than ``orders`` or a column other than ``status``; after :func:`adopt` the database
remembers them.

Before moving a database, shopmig compares the real schema with the version table
(:func:`diagnose`): a step whose DDL ran but whose version was not recorded (MariaDB DDL commits
by itself; a killed ``CREATE INDEX CONCURRENTLY``) is named, and :func:`upgrade` /
:func:`downgrade` record the real revision and clean up an invalid index before going on.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from shopmig import validate
from shopmig.db import Source, mask_url, reading, translate_error, use_connection
from shopmig.dialects import NAMES, Dialect, dialect_class, dialect_for
from shopmig.errors import (
    AlreadyVersionedError,
    ConcurrentMigrationError,
    DatabaseError,
    HalfAppliedError,
    LockTimeoutError,
    MigrationFailedError,
    NotVersionedError,
    SchemaMismatchError,
    ShopmigError,
    UnknownRevisionError,
    UnsafeMigrationError,
)
from shopmig.migrate import runtime
from shopmig.migrate.options import BASELINE, VERSION_TABLE, MigrationOptions
from shopmig.migrate.steps import (
    STEPS,
    StepImpact,
    StepPlan,
    TableState,
    build,
    demo_state,
    plan_from,
)
from shopmig.migrate.target import Target, record_target, resolve_target

DIALECTS = NAMES


@dataclass(frozen=True)
class Step:
    """One planned step: a revision applied up or down, its SQL and its impact.

    ``sql`` is every statement the step runs, as it will run them (built from the live
    table); ``refusal`` says why it would not run as it is (``None`` if it would)."""

    revision: str
    direction: str
    description: str
    sql: str
    impact: StepImpact
    statements: list[str] = field(default_factory=list)
    refusal: str | None = None
    notes: list[str] = field(default_factory=list)
    hint: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The step as a plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class AppliedStep:
    """A step that ran: which revision, which way, how long it took, how many attempts, and
    the statements it executed. ``direction`` is ``"record"`` for a repair that only recorded
    the real revision of a half-applied step."""

    revision: str
    direction: str
    from_revision: str | None
    to_revision: str | None
    seconds: float
    attempts: int = 1
    notes: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The applied step as a plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Diagnosis:
    """The version table against the real schema.

    ``recorded`` is what the version table says, ``actual`` the last revision whose changes
    the table shows (None: none of them, or a state no revision describes, see ``ok``).
    ``invalid_indexes`` are leftovers of a failed index build (not applied)."""

    recorded: str | None
    actual: str | None
    agrees: bool
    recognized: bool
    detail: str
    invalid_indexes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when schema and version table agree and nothing is left over."""
        return self.agrees and not self.invalid_indexes

    def sentence(self) -> str:
        """One sentence for a person: what disagrees and what fixes it."""
        if self.ok:
            return f"the schema matches revision {self.recorded}"
        parts = []
        if not self.agrees:
            parts.append(f"the version table says {self.recorded or 'nothing'} but the table "
                         f"shows {self.detail}")
        if self.invalid_indexes:
            parts.append("a failed index build left the invalid index(es) "
                         + ", ".join(self.invalid_indexes))
        fix = ("`shopmig upgrade` (or downgrade) records the real revision and cleans up "
               "before it goes on" if self.recognized else
               "no revision describes this state: repair the table by hand to match one "
               "(shopmig inspect shows what is there)")
        return "; ".join(parts) + f". Fix: {fix}."

    def to_dict(self) -> dict[str, object]:
        """The diagnosis as a plain dict."""
        return {**asdict(self), "ok": self.ok, "sentence": self.sentence()}


# ------------------------------------------------------------------ Alembic plumbing


def script_location() -> str:
    """The folder of shopmig's Alembic environment inside the installed package."""
    return str(resources.files("shopmig.migrate") / "migrations")


def alembic_config(
    connection: Connection | None = None,
    *,
    options: MigrationOptions | None = None,
    target: Target | None = None,
    on_plan: Callable[[StepPlan], None] | None = None,
) -> Config:
    """An Alembic :class:`Config` for shopmig's migrations, sharing ``connection`` if given."""
    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    if connection is not None:
        cfg.attributes["connection"] = connection
    cfg.attributes[runtime.OPTIONS_KEY] = options or MigrationOptions()
    if target is not None:
        cfg.attributes[runtime.TARGET_KEY] = target
    if on_plan is not None:
        cfg.attributes[runtime.ON_PLAN_KEY] = on_plan
    return cfg


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    return list(STEPS)


def _descriptions() -> dict[str, str]:
    return {rev: spec.description for rev, spec in STEPS.items()}


def current_revision(source: Source) -> str | None:
    """The revision the database is recorded at, or None if shopmig does not track it yet."""
    with use_connection(source) as conn, reading(conn):
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def resolve_target_of(source: Source, table: str | None = None,
                      column: str | None = None) -> Target:
    """The table and column shopmig migrates on ``source`` (given, adopted, or the default)."""
    with use_connection(source) as conn, reading(conn):
        return _target(conn, table, column)


def _target(conn: Connection, table: str | None, column: str | None,
            must_exist: bool = True) -> Target:
    return resolve_target(conn, table, column, must_exist=must_exist)


CONCURRENT_DDL_WAIT_S = 30.0
"""How long :func:`diagnose` waits for another session's schema change that keeps the table's
definition from being read (MariaDB, while a killed migration's server thread finishes)."""


def diagnose(source: Source, *, table: str | None = None,
             column: str | None = None) -> Diagnosis:
    """Compare the real schema of the table with the version table (read-only). When another
    session's schema change keeps the catalog from being read, waits for it (at most
    ``CONCURRENT_DDL_WAIT_S``) and reads again."""
    deadline = time.monotonic() + CONCURRENT_DDL_WAIT_S
    with use_connection(source) as conn:
        dialect = dialect_for(conn)
        while True:
            try:
                with reading(conn):
                    recorded = current_revision(conn)
                    target = _target(conn, table, column)
                    state = dialect.table_state(conn, target)
                break
            except DBAPIError as exc:
                if not dialect.is_concurrent_ddl(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    return _diagnose(recorded, state, dialect)


def _diagnose(recorded: str | None, state: TableState, dialect: Dialect) -> Diagnosis:
    order = revisions()
    steps = order[1:]
    shows = {rev: STEPS[rev].applied(state) for rev in steps
             if dialect.observable(rev)}  # a no-op step leaves nothing to see

    def expected(upto: str) -> dict[str, bool]:
        return {rev: order.index(rev) <= order.index(upto) for rev in shows}

    matching = [rev for rev in order if expected(rev) == shows]
    seen = [rev for rev, flag in shows.items() if flag]
    detail = ("the changes of " + ", ".join(seen)) if seen else "none of the steps' changes"
    if recorded is None or recorded in matching:
        return Diagnosis(recorded, recorded, True, True, detail, state.invalid_indexes)
    actual = matching[-1] if matching else None
    return Diagnosis(recorded, actual, False, bool(matching), detail, state.invalid_indexes)


def half_applied(source: Source, *, table: str | None = None,
                 column: str | None = None) -> str | None:
    """A sentence naming a half-applied step (the schema is not what the version table says,
    or a failed index build left an invalid index) and its fix, or None when all agree."""
    if current_revision(source) is None:
        return None
    found = diagnose(source, table=table, column=column)
    return None if found.ok else found.sentence()


def schema_revision(source: Source, *, table: str | None = None,
                    column: str | None = None) -> str | None:
    """The last revision whose changes the table shows, whatever the version table says; None
    if no revision describes what the table shows."""
    return diagnose(source, table=table, column=column).actual


def history(source: Source | None = None, *, table: str | None = None) -> pd.DataFrame:
    """Every revision, oldest first, with whether it is recorded as applied on ``source`` and
    whether the table really shows it.

    Columns: ``revision``, ``description``, ``applied``, ``current``, ``in_schema`` (what the
    table shows: True/False, or None where the schema cannot tell: no source, no table, or a
    step that does nothing on this database)."""
    revs = revisions()
    desc = _descriptions()
    current = current_revision(source) if source is not None else None
    upto = revs.index(current) if current in revs else -1
    shows: list[bool | None] = [None] * len(revs)
    if source is not None:
        with use_connection(source) as conn, reading(conn):
            target = _target(conn, table, None, must_exist=False)
            dialect = dialect_for(conn)
            state = dialect.table_state(conn, target)
        if state.exists:
            shows = [STEPS[r].applied(state) if dialect.observable(r) else
                     (True if r == revs[0] else None) for r in revs]
    return pd.DataFrame({
        "revision": revs,
        "description": [desc[r] for r in revs],
        "applied": [i <= upto for i in range(len(revs))],
        "current": [r == current for r in revs],
        "in_schema": shows,
    })


def resolve_revision(current: str | None, target: str, *, direction: str) -> str:
    """Turn ``+1``, ``-1``, ``head``, ``base``, an id or a unique id prefix into a revision id."""
    revs = revisions()
    index = revs.index(current) if current in revs else -1
    text = str(target).strip()
    relative = re.fullmatch(r"([+-])(\d+)", text)
    if text == "head":
        return revs[-1]
    if text == "base":
        return revs[0]
    if relative:
        sign, count = relative.group(1), int(relative.group(2))
        if (sign == "+") != (direction == "up"):
            raise UnknownRevisionError(text, revs, reason=(
                f"{text} moves {'up' if sign == '+' else 'down'}: use shopmig "
                f"{'upgrade' if sign == '+' else 'downgrade'} {text}"))
        wanted = index + count if sign == "+" else index - count
        return revs[min(max(wanted, 0), len(revs) - 1)]
    matches = [r for r in revs if r == text] or [r for r in revs if r.startswith(text)]
    if len(matches) != 1 or not text:
        raise UnknownRevisionError(text, revs)
    return matches[0]


resolve_target_revision = resolve_revision


def _path(current: str | None, goal: str, direction: str) -> list[str]:
    """The revisions to run, in order, to go from ``current`` to ``goal``."""
    revs = revisions()
    here = revs.index(current) if current in revs else -1
    there = revs.index(goal)
    if direction == "up":
        if there < here:
            raise UnknownRevisionError(goal, revs[here + 1 :], reason=(
                f"{goal} is below the current revision {current}: use shopmig downgrade"))
        return revs[here + 1 : there + 1]
    if there > here:
        raise UnknownRevisionError(goal, revs[: here + 1], reason=(
            f"{goal} is above the current revision {current}: use shopmig upgrade"))
    return list(reversed(revs[there + 1 : here + 1]))


def _previous(revision: str) -> str | None:
    revs = revisions()
    i = revs.index(revision)
    return revs[i - 1] if i else None


# ------------------------------------------------------------------ planning (read-only)


def _version_sql(dialect: Dialect, revision: str, direction: str) -> str:
    table = dialect.quote(VERSION_TABLE)
    new = revision if direction == "up" else _previous(revision)
    old = _previous(revision) if direction == "up" else revision
    if old is None:
        return f"INSERT INTO {table} (version_num) VALUES ({dialect.literal(new or '')});"
    if new is None:
        return f"DELETE FROM {table} WHERE version_num = {dialect.literal(old)};"
    return (f"UPDATE {table} SET version_num={dialect.literal(new)} "
            f"WHERE {table}.version_num = {dialect.literal(old)};")


def _step(plan: StepPlan, dialect: Dialect, version_table: bool,
          notes: Sequence[str] = ()) -> Step:
    sql = plan.sql
    if version_table:
        sql += "\n" + _version_sql(dialect, plan.revision, plan.direction)
    return Step(plan.revision, plan.direction, STEPS[plan.revision].description, sql,
                plan.impact, [s.sql for s in plan.statements], plan.refusal, list(notes),
                plan.hint)


def _plans(dialect: Dialect, state: TableState, path: Sequence[str], direction: str,
           options: MigrationOptions) -> list[StepPlan]:
    out = []
    for rev in path:
        step = build(rev, direction, dialect, state, options)
        out.append(step)
        state = step.after
    return out


def plan(
    source: Source, target: str = "+1", *, direction: str | None = None,
    version_table: bool = False, table: str | None = None, column: str | None = None,
    options: MigrationOptions | None = None,
) -> list[Step]:
    """The steps that going to ``target`` would run, with their SQL and impact. Runs nothing.

    The SQL is built from the live table, exactly as the run will build it. ``direction``
    defaults to ``"down"`` for targets starting with ``-`` and ``"up"`` otherwise. A table that
    is not adopted yet is planned as if adopted at the baseline (read-only; each step notes
    it). A half-applied step is planned from the revision the table really shows.
    """
    direction = direction or ("down" if str(target).startswith("-") else "up")
    opts = options or MigrationOptions()
    with use_connection(source) as conn:
        joined = conn.in_transaction()
        with reading(conn):
            dialect = dialect_for(conn)
            recorded = current_revision(conn)
            tgt = _target(conn, table, column)
            state = dialect.table_state(conn, tgt).but(joined_transaction=joined)
    notes: list[str] = []
    start = recorded
    if recorded is None:
        start = BASELINE
        notes.append(f"{tgt.display} is not adopted yet: run shopmig adopt before upgrading "
                     "(this plan assumes it is at the baseline)")
    else:
        found = _diagnose(recorded, state, dialect)
        if not found.agrees and found.recognized:
            start = found.actual
            notes.append(found.sentence())
        elif not found.agrees:
            raise HalfAppliedError(mask_url(conn), recorded, None, found.detail,
                                   found.sentence())
    goal = resolve_revision(start, target, direction=direction)
    path = _path(start, goal, direction)
    return [_step(p, dialect, version_table, notes) for p in _plans(dialect, state, path,
                                                                     direction, opts)]


def preview_sql(source: Source | str | None, target: str = "+1", *,
                dialect: str | None = None, table: str | None = None,
                column: str | None = None) -> str:
    """The SQL going to ``target`` would run, in the database's dialect, without running it.

    ``source`` is a database (its current revision is the starting point, its live table the
    input), or pass ``dialect="postgresql"`` (or ``sqlite``/``mariadb``/``mysql``) with
    ``source=None`` to render one step for the *demo* table with no server at all; then
    ``target`` must be a revision id.
    """
    if dialect is not None:
        rev = resolve_revision(None, target, direction="up")
        return step_sql(rev, "up", dialect)
    assert source is not None
    return "\n\n".join(s.sql for s in plan(source, target, version_table=True, table=table,
                                             column=column))


def step_sql(revision: str, direction: str, dialect_name: str, *,
             version_table: bool = False) -> str:
    """The SQL one step runs on the *demo* table on ``dialect_name`` after the steps before it
    (no database needed)."""
    d = dialect_class(dialect_name)()
    step = plan_from(d, demo_state(d), revision, direction)
    return _step(step, d, version_table).sql


def sql_by_dialect(revision: str, dialects: Sequence[str] = DIALECTS) -> pd.DataFrame:
    """One step's SQL side by side for several dialects, for the demo table (no server)."""
    rev = resolve_revision(None, revision, direction="up")
    return pd.DataFrame({dialect_class(d).label: [step_sql(rev, "up", d)] for d in dialects},
                        index=[rev])


# ------------------------------------------------------------------ running (online)


def _settle(conn: Connection, external: bool) -> None:
    """End the transaction shopmig's own statements autobegan (never the caller's)."""
    if not external and conn.in_transaction():
        conn.commit()


def _lock_key(conn: Connection) -> str:
    return f"shopmig-migrate:{conn.engine.url.database or 'main'}"


@contextlib.contextmanager
def _migrating(conn: Connection, opts: MigrationOptions, external: bool) -> Iterator[Dialect]:
    """The migration lock and SQLite's up-front write lock, for the whole run (the session
    timeouts are set around each step's attempt, see :func:`_run_one`); the timeouts are reset
    and the lock released whatever happens."""
    dialect = dialect_for(conn)
    lock = (contextlib.nullcontext() if external
            else dialect.migration_lock(conn, _lock_key(conn), opts.lock_wait_s))
    with lock:
        try:
            with dialect.migration_transactions(conn):
                yield dialect
        finally:
            with contextlib.suppress(SQLAlchemyError):
                if not external and (conn.in_transaction() or conn.invalidated):
                    conn.rollback()
                dialect.reset_timeouts(conn)
                _settle(conn, external)


_JOINED_NOTE = (
    "ran inside the transaction already open on your connection: nothing is kept until you "
    "commit it (conn.commit()); a rollback or closing the connection undoes this step"
)


def _require_versioned(conn: Connection, tgt: Target) -> str:
    current = current_revision(conn)
    if current is None:
        raise NotVersionedError(mask_url(conn), tgt.display)
    return current


def _stamp(conn: Connection, revision: str | None, external: bool,
           target: Target | None = None) -> None:
    command.stamp(alembic_config(conn, target=target), revision or "base", purge=True)
    _settle(conn, external)


def _repair(conn: Connection, dialect: Dialect, tgt: Target, recorded: str,
            external: bool, direction: str) -> tuple[str, list[AppliedStep]]:
    """Record the real revision of a half-applied step (and, going down, drop an invalid index
    a failed build left: going up, the index step drops it itself before it builds again);
    returns the revision to continue from and what was repaired."""
    state = dialect.table_state(conn, tgt)
    _settle(conn, external)
    found = _diagnose(recorded, state, dialect)
    repaired: list[AppliedStep] = []
    if found.ok:
        return recorded, repaired
    if not found.recognized:
        raise HalfAppliedError(mask_url(conn), recorded, None, found.detail, found.sentence())
    started = time.perf_counter()
    order = revisions()
    index_step = order[-1]
    if (direction == "down" and found.invalid_indexes
            and order.index(found.actual or BASELINE) < order.index(index_step)):
        statements = dialect.repair_sql(state)
        for statement in statements:
            runtime_execute_autocommit(conn, statement.sql)
        repaired.append(AppliedStep(
            found.actual or recorded, "repair", recorded, recorded,
            round(time.perf_counter() - started, 4),
            notes=["repaired: dropped the invalid index(es) "
                   + ", ".join(found.invalid_indexes) + " a failed build left behind"],
            statements=[s.sql for s in statements]))
    if not found.agrees:
        assert found.actual is not None
        _stamp(conn, found.actual, external, tgt)
        repaired.append(AppliedStep(
            found.actual, "record", recorded, found.actual,
            round(time.perf_counter() - started, 4),
            notes=[f"repaired: {found.sentence()} Recorded the real revision {found.actual}."]))
    return found.actual or recorded, repaired


def runtime_execute_autocommit(conn: Connection, sql: str) -> None:
    """Run one statement outside any transaction (``DROP INDEX CONCURRENTLY``)."""
    if conn.in_transaction():
        conn.commit()
    level = conn.get_isolation_level()
    conn.execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.exec_driver_sql(sql)
    finally:
        if conn.in_transaction():
            conn.commit()
        conn.execution_options(isolation_level=level)


def _first_line(exc: BaseException) -> str:
    """The first line of the driver's own message. SQLAlchemy's "Can't reconnect until invalid
    transaction is rolled back" (a cleanup that ran on a killed session, Alembic's included)
    stands in front of the error that killed it: that one is told."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, DBAPIError):
        cause = cause.__context__
    shown = cause if cause is not None else exc
    text = str(getattr(shown, "orig", None) or shown).strip()
    return text.splitlines()[0] if text else type(shown).__name__


def _failure(conn: Connection, dialect: Dialect, tgt: Target, revision: str,
             before: str | None, exc: BaseException) -> ShopmigError:
    """A true message about a step that failed: check the catalog before saying whether
    anything changed."""
    detail = _first_line(exc)
    url = mask_url(conn)
    try:
        if conn.in_transaction() or conn.invalidated:  # a killed session: reconnect after it
            conn.rollback()
        recorded = current_revision(conn)
        state = dialect.table_state(conn, tgt)
        _settle(conn, False)
    except SQLAlchemyError:
        return MigrationFailedError(
            url, revision, before, f"{detail}; the connection was lost, so what the server kept "
            "is not known yet", changed=None)
    found = _diagnose(recorded, state, dialect)
    if found.ok and recorded == before:
        return MigrationFailedError(url, revision, recorded, detail, changed=False)
    return MigrationFailedError(url, revision, recorded, detail, changed=True,
                                state=found.sentence())


def _run_one(conn: Connection, dialect: Dialect, tgt: Target, revision: str, direction: str,
             opts: MigrationOptions, external: bool) -> tuple[int, list[str]]:
    """Run one revision with lock-timeout retries; return (attempts, statements run)."""
    ran: list[str] = []
    planned: list[StepPlan] = []

    def seen(step: StepPlan) -> None:
        planned.append(step)
        ran[:] = [s.sql for s in step.statements]

    cfg = alembic_config(conn, options=opts, target=tgt, on_plan=seen)
    url = mask_url(conn)
    attempts = 0
    while True:
        attempts += 1
        before = current_revision(conn)
        dialect.set_timeouts(conn, opts)  # the step's own statements wait at most this long
        _settle(conn, external)
        try:
            if direction == "up":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, _previous(revision) or "base")
            _settle(conn, external)
            if not planned:  # Alembic found the version already moved: another session ran it
                raise ConcurrentMigrationError(url, revision, _start_of(revision, direction),
                                               current_revision(conn))
            dialect.reset_timeouts(conn)
            _settle(conn, external)
            return attempts, ran
        except ShopmigError:
            with contextlib.suppress(SQLAlchemyError):
                if not external and (conn.in_transaction() or conn.invalidated):
                    conn.rollback()
            raise
        except DBAPIError as exc:
            if external:
                raise _failure(conn, dialect, tgt, revision, before, exc) from None
            if dialect.is_lock_timeout(exc):
                with contextlib.suppress(SQLAlchemyError):
                    conn.rollback()
                leftovers = dialect.table_state(conn, tgt).invalid_indexes
                _settle(conn, external)
                if attempts <= opts.retries and not leftovers:
                    time.sleep(opts.backoff_s * 2 ** (attempts - 1))
                    continue
                if not leftovers:
                    raise LockTimeoutError(url, revision, attempts, opts.lock_timeout_s) from None
            if dialect.refuses_in_place(exc):
                with contextlib.suppress(SQLAlchemyError):
                    if conn.in_transaction():
                        conn.rollback()
                found = _failure(conn, dialect, tgt, revision, before, exc)
                if isinstance(found, MigrationFailedError) and found.changed is False:
                    raise UnsafeMigrationError(
                        revision, url, f"the server cannot do it in place and would copy the "
                        f"whole table ({_first_line(exc)}). Nothing was changed.",
                        "Find what blocks the in-place path (shopmig lint names the blockers "
                        "it knows), remove it on a copy first, or schedule a window.") from None
                raise found from None
            raise _failure(conn, dialect, tgt, revision, before, exc) from None
        except (SQLAlchemyError, CommandError) as exc:
            raise _failure(conn, dialect, tgt, revision, before, exc) from None


def _start_of(revision: str, direction: str) -> str | None:
    """The revision a step starts from: the one below it going up, itself going down."""
    return _previous(revision) if direction == "up" else revision


def _rest_after_move(url: str, actual: str | None, revision: str, goal: str,
                     direction: str) -> list[str]:
    """The database moved while this run waited for ``revision`` (another session migrated
    it; SQLite has no run-long lock). If it moved this run's way past ``revision``, the rest of
    the path from where it is now (nothing once the goal is reached), so no step runs twice
    and none is reported as run by this session; otherwise
    :class:`~shopmig.errors.ConcurrentMigrationError`."""
    revs = revisions()
    here = revs.index(actual) if actual in revs else -1
    there = revs.index(goal)
    if direction == "up" and here >= revs.index(revision):
        return _path(actual, goal, direction) if here < there else []
    if direction == "down" and 0 <= here < revs.index(revision):
        return _path(actual, goal, direction) if here > there else []
    raise ConcurrentMigrationError(url, revision, _start_of(revision, direction), actual)


@contextlib.contextmanager
def _told_if_broken(conn: Connection, tgt: Target, applied: Sequence[AppliedStep],
                    external: bool) -> Iterator[None]:
    """Turn a driver error outside a step's own error handling (the session killed by an
    administrator or the server gone, between two steps or while taking the lock) into a true
    one-line error: what this run applied and what the database holds now, checked on a new
    connection, or that it could not be checked. Never "nothing was changed" unchecked."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise _interrupted(conn, tgt, applied, external, exc) from None


def _interrupted(conn: Connection, tgt: Target, applied: Sequence[AppliedStep],
                 external: bool, exc: SQLAlchemyError) -> ShopmigError:
    """The error :func:`_told_if_broken` raises."""
    if isinstance(exc, DBAPIError) and dialect_for(conn).is_lock_timeout(exc):
        with contextlib.suppress(SQLAlchemyError):
            if conn.in_transaction():
                conn.rollback()
        return LockTimeoutError(mask_url(conn), "the check before the next step", 1,
                                MigrationOptions().lock_timeout_s)
    detail = _first_line(exc)
    done = ", ".join(f"{a.direction} {a.revision}" for a in applied)
    detail += f" (this run had done: {done})" if done else " (this run had run no step yet)"
    url = mask_url(conn)
    if not external:
        try:
            if conn.in_transaction() or conn.invalidated:
                conn.rollback()  # an invalidated connection reconnects on its next use
            recorded = current_revision(conn)
            dialect = dialect_for(conn)
            found = _diagnose(recorded, dialect.table_state(conn, tgt), dialect)
            _settle(conn, external)
            return DatabaseError(url, detail, hint=(
                f"Checked afterwards on a new connection: {found.sentence().rstrip('.')}. Run "
                "the command again to go on."))
        except SQLAlchemyError:
            pass
    return DatabaseError(url, detail, hint=(
        "The connection is gone, so what the server kept could not be checked: reconnect and "
        "run shopmig history (it compares the schema with the version table), then shopmig "
        "upgrade, which repairs what it can name."))


def _migrate(source: Source, target: str, direction: str, options: MigrationOptions | None,
             on_step: Callable[[Step], None] | None, table: str | None,
             column: str | None) -> list[AppliedStep]:
    opts = options or MigrationOptions()
    with use_connection(source) as conn:
        external = conn.in_transaction()
        with reading(conn):
            tgt = _target(conn, table, column)
            _require_versioned(conn, tgt)
        resolve_revision(current_revision(conn), target, direction=direction)  # fail early
        applied: list[AppliedStep] = []
        with _told_if_broken(conn, tgt, applied, external), \
                _migrating(conn, opts, external) as dialect:
            recorded = current_revision(conn)
            _settle(conn, external)
            start, repaired = _repair(conn, dialect, tgt, recorded or BASELINE, external,
                                      direction)
            applied += repaired
            goal = resolve_revision(start, target, direction=direction)
            path = _path(start, goal, direction)
            while path:
                rev = path[0]
                before = current_revision(conn)
                if before != _start_of(rev, direction):  # another session moved it meanwhile
                    path = _rest_after_move(mask_url(conn), before, rev, goal, direction)
                    continue
                state = dialect.table_state(conn, tgt).but(joined_transaction=external)
                _settle(conn, external)
                planned = build(rev, direction, dialect, state, opts)
                runtime.refuse_if_needed(conn, planned, opts)
                _settle(conn, external)
                if on_step is not None:
                    on_step(_step(planned, dialect, False))
                started = time.perf_counter()
                try:
                    attempts, ran = _run_one(conn, dialect, tgt, rev, direction, opts, external)
                except ConcurrentMigrationError as exc:
                    path = _rest_after_move(exc.url, exc.actual, rev, goal, direction)
                    continue
                path = path[1:]
                after = rev if direction == "up" else _previous(rev)  # committed by _run_one
                applied.append(AppliedStep(
                    rev, direction, before, after, round(time.perf_counter() - started, 4),
                    attempts, [_JOINED_NOTE] if external else [], ran))
        return applied


def upgrade(
    source: Source, target: str = "+1", *, options: MigrationOptions | None = None,
    on_step: Callable[[Step], None] | None = None, table: str | None = None,
    column: str | None = None,
) -> list[AppliedStep]:
    """Apply revisions up to ``target`` (default: the next one), one revision at a time.

    Returns the steps applied, in order (a ``"record"`` step first when a half-applied step was
    repaired); an empty list if the database is already there. Raises
    :class:`~shopmig.errors.NotVersionedError` for a table not adopted yet,
    :class:`~shopmig.errors.TableNotFoundError`, :class:`~shopmig.errors.UnknownRevisionError`,
    :class:`~shopmig.errors.LockTimeoutError`, :class:`~shopmig.errors.UnsafeMigrationError`,
    :class:`~shopmig.errors.MigrationLockedError` (another migrator runs),
    :class:`~shopmig.errors.ExistingRowsViolateError` or
    :class:`~shopmig.errors.MigrationFailedError` (which says whether anything changed).
    """
    validate.migration_options(options)
    return _migrate(source, target, "up", options, on_step, table, column)


def downgrade(
    source: Source, target: str = "-1", *, options: MigrationOptions | None = None,
    on_step: Callable[[Step], None] | None = None, table: str | None = None,
    column: str | None = None,
) -> list[AppliedStep]:
    """Roll back revisions down to ``target`` (default: one step), one revision at a time.

    ``base`` is the baseline revision: shopmig never drops your table. Values written to the
    column a step added are lost when that step is rolled back.
    """
    validate.migration_options(options)
    return _migrate(source, target, "down", options, on_step, table, column)


# ------------------------------------------------------------------ adopting an existing shop


def baseline_differences(source: Source, table: str | None = None,
                         column: str | None = None) -> list[str]:
    """Why the table cannot be adopted, each with its fix; empty if it can.

    Only what the steps need is checked: the table exists and has a primary key, the column
    and the names the steps create are free, and the server can run every step cheaply.
    Everything else in the database is the user's and survives every step.
    """
    with use_connection(source) as conn, reading(conn):
        tgt = _target(conn, table, column)
        dialect = dialect_for(conn)
        state = dialect.table_state(conn, tgt)
    problems = []
    if not state.primary_key:
        problems.append(f"{tgt.display} has no primary key: add one (verify and the rehearsal "
                        "match rows by it)")
    if state.column:
        problems.append(f"column {tgt.column!r} already exists: choose another name with "
                        "--column NAME (Python: column=...)")
    for name in state.taken_names:
        problems.append(f"the name {name!r} that a step creates is already used: rename that "
                        "object, or pick another column name with --column")
    problems += dialect.server_supports(state)
    return problems


def adopt(source: Source, *, table: str | None = None, column: str | None = None) -> str:
    """Check an existing table and stamp it at the baseline; the database remembers the table
    and column, so later commands need no option.

    Returns the baseline revision id. Raises :class:`~shopmig.errors.SchemaMismatchError`
    listing every blocker with its fix (nothing is written), or
    :class:`~shopmig.errors.AlreadyVersionedError` if shopmig already tracks the database.
    """
    with use_connection(source) as conn:
        current = current_revision(conn)
        with reading(conn):
            versioned = sa.inspect(conn).has_table(VERSION_TABLE)
        if versioned:
            raise AlreadyVersionedError(mask_url(conn), current)
        with reading(conn):
            tgt = _target(conn, table, column)
        problems = baseline_differences(conn, table=tgt.display if tgt.schema is None else
                                        f'"{tgt.schema}"."{tgt.table}"', column=tgt.column)
        if problems:
            raise SchemaMismatchError(tgt.display, mask_url(conn), problems)
        external = conn.in_transaction()
        try:
            if external:
                record_target(conn, tgt)
                command.stamp(alembic_config(conn, target=tgt), BASELINE)
            else:
                with conn.begin():
                    record_target(conn, tgt)
                command.stamp(alembic_config(conn, target=tgt), BASELINE)
                _settle(conn, external)
        except DBAPIError as exc:
            raise translate_error(exc, conn) from None
        return BASELINE


def stamp(source: Source, revision: str, *, table: str | None = None) -> str:
    """Record ``revision`` in the version table without running anything (recovery only).

    Refused when the table's schema does not show ``revision`` (that would make shopmig believe
    a step ran that did not): :func:`upgrade` repairs a half-applied step by itself.
    """
    validate.stamp_revision(revision, revisions())
    rev = resolve_revision(None, revision, direction="up")
    with use_connection(source) as conn:
        with reading(conn):
            tgt = _target(conn, table, None)
            _require_versioned(conn, tgt)
            state = dialect_for(conn).table_state(conn, tgt)
        found = _diagnose(rev, state, dialect_for(conn))
        if not found.agrees or not found.recognized:
            raise HalfAppliedError(
                mask_url(conn), current_revision(conn), found.actual, found.detail,
                f"the table does not show revision {rev}; stamping it would record a step "
                "that did not run. Run shopmig upgrade, which records the real revision "
                f"({found.actual or 'none recognized'}) and goes on from there.")
        external = conn.in_transaction()
        _stamp(conn, rev, external, tgt)
    return rev


def _plan_for(source: Source, revision: str, direction: str, **kw: Any) -> StepPlan:
    """The :class:`StepPlan` of one step on the live table (for tests and the linter)."""
    with use_connection(source) as conn, reading(conn):
        tgt = _target(conn, kw.get("table"), kw.get("column"))
        dialect = dialect_for(conn)
        return build(revision, direction, dialect, dialect.table_state(conn, tgt),
                     kw.get("options"))
