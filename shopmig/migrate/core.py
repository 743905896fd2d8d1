"""Run the status-column migration one revision at a time, preview its SQL, adopt a shop.

Planning is separate from execution: :func:`plan` and :func:`preview_sql` say what would run
(SQL from Alembic's offline mode, plus each step's impact), :func:`upgrade` and
:func:`downgrade` run it one revision per transaction and return what was applied.

Targets: ``"+1"``/``"-1"`` (relative), ``"head"``, ``"base"`` or a revision id (a unique
prefix such as ``"0002"`` is enough). ``base`` means the baseline revision: shopmig never drops
your ``orders`` table.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from shopmig import validate
from shopmig.db import Source, mask_url, reading, use_connection
from shopmig.dialects import dialect_for
from shopmig.errors import (
    AlreadyVersionedError,
    LockTimeoutError,
    MigrationFailedError,
    NotVersionedError,
    SchemaMismatchError,
    ShopmigError,
    TableNotFoundError,
    UnknownRevisionError,
    UnsafeMigrationError,
)
from shopmig.migrate import steps
from shopmig.migrate.steps import MigrationOptions, StepImpact

DIALECTS = ("sqlite", "postgresql", "mariadb")


@dataclass(frozen=True)
class Step:
    """One planned step: a revision applied up or down, its SQL and its impact."""

    revision: str
    direction: str
    description: str
    sql: str
    impact: StepImpact

    def to_dict(self) -> dict[str, object]:
        """The step as a plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class AppliedStep:
    """A step that ran: which revision, which way, how long it took, how many attempts."""

    revision: str
    direction: str
    from_revision: str | None
    to_revision: str | None
    seconds: float
    attempts: int = 1
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The applied step as a plain dict (for JSON)."""
        return asdict(self)


# ------------------------------------------------------------------ Alembic plumbing


def script_location() -> str:
    """The folder of shopmig's Alembic environment inside the installed package."""
    return str(resources.files("shopmig.migrate") / "migrations")


def alembic_config(
    connection: Connection | None = None,
    *,
    dialect_name: str | None = None,
    options: MigrationOptions | None = None,
    output: io.StringIO | None = None,
) -> Config:
    """An Alembic :class:`Config` for shopmig's migrations, sharing ``connection`` if given."""
    cfg = Config(output_buffer=output) if output is not None else Config()
    cfg.set_main_option("script_location", script_location())
    if connection is not None:
        cfg.attributes["connection"] = connection
    if dialect_name is not None:
        cfg.attributes["dialect_name"] = dialect_name
    cfg.attributes["shopmig_options"] = options or MigrationOptions()
    return cfg


def _script() -> ScriptDirectory:
    return ScriptDirectory(script_location())


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    return [rev.revision for rev in reversed(list(_script().walk_revisions()))]


def _descriptions() -> dict[str, str]:
    out = {}
    for rev in _script().walk_revisions():
        doc = (rev.module.__doc__ or rev.doc or "").strip().splitlines()
        out[rev.revision] = doc[0] if doc else rev.revision
    return out


def _has_table(conn: Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def current_revision(source: Source) -> str | None:
    """The revision the database is at, or None if shopmig does not track it yet."""
    with use_connection(source) as conn, reading(conn):
        return MigrationContext.configure(
            conn, opts={"version_table": steps.VERSION_TABLE}
        ).get_current_revision()


def history(source: Source | None = None) -> pd.DataFrame:
    """Every revision, oldest first, with whether it is applied on ``source`` (if given).

    Columns: ``revision``, ``description``, ``applied``, ``current``.
    """
    revs = revisions()
    desc = _descriptions()
    current = current_revision(source) if source is not None else None
    upto = revs.index(current) if current in revs else -1
    return pd.DataFrame(
        {
            "revision": revs,
            "description": [desc[r] for r in revs],
            "applied": [i <= upto for i in range(len(revs))],
            "current": [r == current for r in revs],
        }
    )


def resolve_target(current: str | None, target: str, *, direction: str) -> str:
    """Turn ``+1``, ``-1``, ``head``, ``base``, an id or a unique id prefix into a revision id."""
    revs = revisions()
    index = revs.index(current) if current in revs else -1
    target = str(target).strip()
    relative = re.fullmatch(r"([+-])(\d+)", target)
    if target == "head":
        return revs[-1]
    if target == "base":
        return revs[0]
    if relative:
        sign, count = relative.group(1), int(relative.group(2))
        if (sign == "+") != (direction == "up"):
            raise UnknownRevisionError(target, revs)
        wanted = index + count if sign == "+" else index - count
        return revs[min(max(wanted, 0), len(revs) - 1)]
    matches = [r for r in revs if r == target] or [r for r in revs if r.startswith(target)]
    if len(matches) != 1 or not target:
        raise UnknownRevisionError(target, revs)
    return matches[0]


def _path(current: str | None, target: str, direction: str) -> list[str]:
    """The revisions to run, in order, to go from ``current`` to ``target``."""
    revs = revisions()
    here = revs.index(current) if current in revs else -1
    there = revs.index(target)
    if direction == "up":
        if there < here:
            raise UnknownRevisionError(target, revs[here + 1 :]) from None
        return revs[here + 1 : there + 1]
    if there > here:
        raise UnknownRevisionError(target, revs[: here + 1]) from None
    return list(reversed(revs[there + 1 : here + 1]))


# ------------------------------------------------------------------ preview (offline)


def _previous(revision: str) -> str | None:
    revs = revisions()
    i = revs.index(revision)
    return revs[i - 1] if i else None


def step_sql(
    revision: str, direction: str, dialect_name: str, *, version_table: bool = True
) -> str:
    """The SQL one step runs on ``dialect_name`` (Alembic offline mode; no server needed).

    ``version_table=False`` leaves out shopmig's bookkeeping (the version table and the
    BEGIN/COMMIT around each step) so only the statements that touch ``orders`` remain.
    """
    out = io.StringIO()
    cfg = alembic_config(dialect_name=dialect_name, output=out)
    prev = _previous(revision)
    if direction == "up":
        command.upgrade(cfg, f"{prev}:{revision}" if prev else revision, sql=True)
    else:
        command.downgrade(cfg, f"{revision}:{prev or 'base'}", sql=True)
    text = out.getvalue().strip()
    if version_table:
        return text
    keep = []
    for statement in text.split(";\n"):
        body = "\n".join(
            line for line in statement.strip().splitlines() if not line.startswith("--")
        ).strip()
        if not body or steps.VERSION_TABLE in body or body.rstrip(";") in ("BEGIN", "COMMIT"):
            continue
        keep.append(body.rstrip(";") + ";")
    return "\n\n".join(keep)


def _table_rows(conn: Connection) -> int | None:
    if not _has_table(conn, steps.TABLE):
        return None
    return conn.execute(sa.select(sa.func.count()).select_from(sa.table(steps.TABLE))).scalar_one()


def plan(
    source: Source, target: str = "+1", *, direction: str | None = None,
    version_table: bool = False,
) -> list[Step]:
    """The steps that going to ``target`` would run, with their SQL and impact. Runs nothing.

    ``direction`` defaults to ``"down"`` for targets starting with ``-`` and ``"up"`` otherwise.
    Raises the same errors as :func:`upgrade` for a database it could not migrate (no orders
    table, or one not adopted yet), instead of planning a ``CREATE TABLE orders``.
    """
    direction = direction or ("down" if str(target).startswith("-") else "up")
    with use_connection(source) as conn, reading(conn):
        current = _require_versioned(conn)
        goal = resolve_target(current, target, direction=direction)
        path = _path(current, goal, direction)
        rows = _table_rows(conn)
        name = conn.dialect.name
        version = conn.dialect.server_version_info
    desc = _descriptions()
    return [
        Step(
            revision=rev,
            direction=direction,
            description=desc[rev],
            sql=step_sql(rev, direction, name, version_table=version_table),
            impact=steps.step_impact(rev, name, direction, rows=rows, server_version=version),
        )
        for rev in path
    ]


def preview_sql(source: Source | str, target: str = "+1", *, dialect: str | None = None) -> str:
    """The SQL going to ``target`` would run, in the database's dialect, without running it.

    ``source`` is a database (its current revision is the starting point), or pass
    ``dialect="postgresql"`` (or ``sqlite``/``mariadb``/``mysql``) with ``source=None`` to
    render a step for a dialect with no server at all; then ``target`` must be a revision id.
    """
    if dialect is not None:
        rev = resolve_target(None, target, direction="up")
        return step_sql(rev, "up", dialect)
    return "\n\n".join(step.sql for step in plan(source, target, version_table=True))


def sql_by_dialect(revision: str, dialects: Sequence[str] = DIALECTS) -> pd.DataFrame:
    """One step's SQL side by side for several dialects (offline: no server needed)."""
    rev = resolve_target(None, revision, direction="up")
    return pd.DataFrame(
        {d: [step_sql(rev, "up", d, version_table=False)] for d in dialects}, index=[rev]
    )


# ------------------------------------------------------------------ running (online)

_LOCK_TIMEOUT_STATES = {"55P03"}
_LOCK_TIMEOUT_CODES = {1205}
_NOT_INSTANT_CODES = {1845, 1846}


def _error_code(exc: DBAPIError) -> object:
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        # MySQL/MariaDB errno first: PyMySQL also sets a generic sqlstate such as 'HY000'.
        return args[0]
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _set_timeouts(conn: Connection, opts: MigrationOptions, *, reset: bool = False) -> None:
    name = conn.dialect.name
    if name == "postgresql":
        if reset:
            conn.exec_driver_sql("RESET lock_timeout")
            conn.exec_driver_sql("RESET statement_timeout")
        else:
            conn.exec_driver_sql(f"SET lock_timeout = {int(opts.lock_timeout_s * 1000)}")
            conn.exec_driver_sql(
                f"SET statement_timeout = {int(opts.statement_timeout_s * 1000)}"
            )
    elif name in ("mysql", "mariadb"):
        if reset:
            conn.exec_driver_sql("SET SESSION lock_wait_timeout = DEFAULT")
            conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = DEFAULT")
            if conn.dialect.is_mariadb:
                conn.exec_driver_sql("SET SESSION max_statement_time = DEFAULT")
        else:
            wait = max(1, round(opts.lock_timeout_s))
            conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {wait}")
            conn.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {wait}")
            if conn.dialect.is_mariadb:
                conn.exec_driver_sql(
                    f"SET SESSION max_statement_time = {float(opts.statement_timeout_s)}"
                )


def _settle(conn: Connection, external: bool) -> None:
    """End the transaction shopmig's own statements autobegan (never the caller's)."""
    if not external and conn.in_transaction():
        conn.commit()


def _run_step(
    conn: Connection, revision: str, direction: str, opts: MigrationOptions, external: bool
) -> int:
    """Run one revision with lock-timeout retries; return the number of attempts it took."""
    cfg = alembic_config(conn, options=opts)
    url = mask_url(conn)
    attempts = 0
    while True:
        attempts += 1
        try:
            if direction == "up":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, _previous(revision) or "base")
            _settle(conn, external)
            return attempts
        except DBAPIError as exc:
            if not external and conn.in_transaction():
                conn.rollback()
            code = _error_code(exc)
            at = current_revision(conn)
            _settle(conn, external)
            if code in _LOCK_TIMEOUT_STATES or code in _LOCK_TIMEOUT_CODES:
                if attempts <= opts.retries and not external:
                    time.sleep(opts.backoff_s * 2 ** (attempts - 1))
                    _set_timeouts(conn, opts)
                    _settle(conn, external)
                    continue
                raise LockTimeoutError(url, revision, attempts, opts.lock_timeout_s) from None
            if code in _NOT_INSTANT_CODES:
                raise UnsafeMigrationError(
                    revision,
                    url,
                    "the server cannot add the column with ALGORITHM=INSTANT and would copy "
                    f"the whole table ({str(exc.orig).strip()}). Nothing was changed.",
                    "Find what blocks the instant path (ROW_FORMAT=COMPRESSED, a FULLTEXT "
                    "index, an old table format), fix it on a copy first, or schedule a window.",
                ) from None
            detail = str(exc.orig).strip().splitlines()[0]
            raise MigrationFailedError(url, revision, at, detail) from None
        except ShopmigError:
            if not external and conn.in_transaction():
                conn.rollback()
            raise


_JOINED_NOTE = (
    "ran inside the transaction already open on your connection: nothing is kept until you "
    "commit it (conn.commit()); a rollback or closing the connection undoes this step"
)


def _require_versioned(conn: Connection) -> str | None:
    current = current_revision(conn)
    if current is None:
        with reading(conn):
            if _has_table(conn, steps.TABLE):
                raise NotVersionedError(mask_url(conn))
            raise TableNotFoundError(
                steps.TABLE, mask_url(conn), sa.inspect(conn).get_table_names()
            )
    return current


def _migrate(
    source: Source,
    target: str,
    direction: str,
    options: MigrationOptions | None,
    on_step: Callable[[Step], None] | None,
) -> list[AppliedStep]:
    opts = options or MigrationOptions()
    with use_connection(source) as conn:
        current = _require_versioned(conn)
        goal = resolve_target(current, target, direction=direction)
        path = _path(current, goal, direction)
        if not path:
            return []
        external = conn.in_transaction()
        _set_timeouts(conn, opts)
        _settle(conn, external)
        with dialect_for(conn).migration_transactions(conn):
            return _run_path(conn, path, direction, opts, external, on_step)


def _run_path(conn: Connection, path: list[str], direction: str, opts: MigrationOptions,
              external: bool, on_step: Callable[[Step], None] | None) -> list[AppliedStep]:
    """Run ``path`` one revision at a time; reset the session timeouts whatever happens."""
    applied: list[AppliedStep] = []
    try:
        for rev in path:
            before = current_revision(conn)
            if on_step is not None:
                on_step(plan(conn, "+1" if direction == "up" else "-1")[0])
            started = time.perf_counter()
            attempts = _run_step(conn, rev, direction, opts, external)
            after = current_revision(conn)
            _settle(conn, external)
            applied.append(
                AppliedStep(rev, direction, before, after,
                            round(time.perf_counter() - started, 4), attempts,
                            [_JOINED_NOTE] if external else [])
            )
    finally:
        with contextlib.suppress(DBAPIError):
            _set_timeouts(conn, opts, reset=True)
            _settle(conn, external)
    return applied


def upgrade(
    source: Source, target: str = "+1", *, options: MigrationOptions | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> list[AppliedStep]:
    """Apply revisions up to ``target`` (default: the next one), one transaction per step.

    Returns the steps applied, in order; an empty list if the database is already there.
    Raises :class:`~shopmig.errors.NotVersionedError` for an orders table not adopted yet,
    :class:`~shopmig.errors.TableNotFoundError` when there is no orders table,
    :class:`~shopmig.errors.UnknownRevisionError`, :class:`~shopmig.errors.LockTimeoutError`,
    :class:`~shopmig.errors.UnsafeMigrationError` or
    :class:`~shopmig.errors.MigrationFailedError` (the database stays at the last good step).
    """
    validate.migration_options(options)
    return _migrate(source, target, "up", options, on_step)


def downgrade(
    source: Source, target: str = "-1", *, options: MigrationOptions | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> list[AppliedStep]:
    """Roll back revisions down to ``target`` (default: one step), one transaction per step.

    ``base`` is the baseline revision: shopmig never drops the orders table. Values written to
    columns a step added (such as ``status``) are lost when that step is rolled back.
    """
    validate.migration_options(options)
    return _migrate(source, target, "down", options, on_step)


# ------------------------------------------------------------------ adopting an existing shop

_STRING_TYPES = (sa.String,)
_FLOAT_TYPES = (sa.Float, sa.Numeric)


def baseline_differences(source: Source, table: str = steps.TABLE) -> list[str]:
    """How ``table`` differs from the baseline schema shopmig expects; empty if it matches.

    Extra columns, indexes, foreign keys and other tables are allowed (they survive every step);
    a missing or mistyped ``order_id``/``amount``, a different primary key or a ``status`` column
    that already exists are differences.
    """
    with use_connection(source) as conn, reading(conn):
        insp = sa.inspect(conn)
        if not insp.has_table(table):
            raise TableNotFoundError(table, mask_url(conn), insp.get_table_names())
        columns = {c["name"]: c for c in insp.get_columns(table)}
        pk = insp.get_pk_constraint(table).get("constrained_columns") or []
    problems = []
    key = columns.get(steps.KEY)
    if key is None:
        problems.append(f"column {steps.KEY!r} is missing")
    elif not isinstance(key["type"], _STRING_TYPES):
        problems.append(f"column {steps.KEY!r} is {key['type']}, expected a text type")
    if pk != [steps.KEY]:
        problems.append(f"primary key is {pk or 'missing'}, expected [{steps.KEY!r}]")
    amount = columns.get("amount")
    if amount is None:
        problems.append("column 'amount' is missing")
    elif not isinstance(amount["type"], _FLOAT_TYPES):
        problems.append(f"column 'amount' is {amount['type']}, expected a float or numeric type")
    if steps.STATUS in columns:
        problems.append(
            "column 'status' already exists (the table looks migrated already; "
            "shopmig cannot tell which steps were applied)"
        )
    return problems


def adopt(source: Source) -> str:
    """Check an existing ``orders`` table against the baseline and stamp it there.

    Returns the baseline revision id. Raises :class:`~shopmig.errors.SchemaMismatchError`
    listing every difference (nothing is written), or
    :class:`~shopmig.errors.AlreadyVersionedError` if shopmig already tracks the database.
    """
    with use_connection(source) as conn:
        current = current_revision(conn)
        with reading(conn):
            versioned = _has_table(conn, steps.VERSION_TABLE)
        if versioned:
            raise AlreadyVersionedError(mask_url(conn), current)
        problems = baseline_differences(conn)
        if problems:
            raise SchemaMismatchError(steps.TABLE, mask_url(conn), problems)
        external = conn.in_transaction()
        command.stamp(alembic_config(conn), steps.BASELINE)
        _settle(conn, external)
        return steps.BASELINE


# ------------------------------------------------------------------ half-applied steps


def _marks(revision: str, postgres: bool) -> frozenset[str]:
    """What the schema shows once ``revision`` is applied."""
    order = revisions()
    applied = set(order[: order.index(revision) + 1])
    marks = set()
    if steps.ADD_STATUS in applied:
        marks.add("status column")
    if steps.STATUS_CHECK in applied:
        marks.add("CHECK")
    if steps.VALIDATE_CHECK in applied or (not postgres and steps.STATUS_CHECK in applied):
        marks.add("CHECK validated")
    if steps.STATUS_INDEX in applied:
        marks.add("index")
    return frozenset(marks)


def _schema_marks(conn: Connection) -> frozenset[str]:
    insp = sa.inspect(conn)
    marks = set()
    if steps.STATUS in {c["name"] for c in insp.get_columns(steps.TABLE)}:
        marks.add("status column")
    if steps.CHECK_NAME in {c.get("name") for c in insp.get_check_constraints(steps.TABLE)}:
        marks.add("CHECK")
        validated = True
        if conn.dialect.name == "postgresql":
            validated = bool(conn.execute(sa.text(
                "SELECT convalidated FROM pg_constraint WHERE conname = :name"),
                {"name": steps.CHECK_NAME}).scalar())
        if validated:
            marks.add("CHECK validated")
    if steps.INDEX_NAME in {i.get("name") for i in insp.get_indexes(steps.TABLE)}:
        marks.add("index")
    return frozenset(marks)


def schema_revision(source: Source) -> str | None:
    """The last revision whose schema matches what the ``orders`` table shows (the status
    column, the CHECK and whether it is validated, the index), whatever the version table says;
    None if no revision matches or there is no table."""
    with use_connection(source) as conn, reading(conn):
        if not sa.inspect(conn).has_table(steps.TABLE):
            return None
        marks = _schema_marks(conn)
        postgres = conn.dialect.name == "postgresql"
    matching = [r for r in revisions() if _marks(r, postgres) == marks]
    return matching[-1] if matching else None


def half_applied(source: Source) -> str | None:
    """A sentence describing a half-applied step (the schema is not what the version table
    says) and how to recover, or None when they agree.

    On MariaDB/MySQL, whose DDL is not transactional, a step can complete its DDL and fail
    before its version is recorded.
    """
    with use_connection(source) as conn, reading(conn):
        recorded = current_revision(conn)
        if recorded is None or not sa.inspect(conn).has_table(steps.TABLE):
            return None
        marks = _schema_marks(conn)
        postgres = conn.dialect.name == "postgresql"
    if _marks(recorded, postgres) == marks:
        return None
    actual = schema_revision(source)
    shows = ", ".join(sorted(marks)) or "none of the steps' changes"
    fix = (f"record the real state with `shopmig stamp {actual}`" if actual else
           "repair the table by hand to match a revision")
    return (f"the version table says {recorded} but {steps.TABLE} shows {shows}: the schema and "
            f"the recorded revision disagree (on MariaDB/MySQL a step's DDL can run without its "
            f"version being recorded, since DDL is not transactional there). Check the table, "
            f"{fix}, then run the step again.")


def stamp(source: Source, revision: str) -> str:
    """Record ``revision`` in the version table without running anything (recovery only).

    Use after :func:`half_applied` reports that a step's DDL ran but was not recorded.
    """
    validate.stamp_revision(revision, revisions())
    rev = resolve_target(None, revision, direction="up")
    with use_connection(source) as conn:
        _require_versioned(conn)
        external = conn.in_transaction()
        command.stamp(alembic_config(conn), rev, purge=True)
        _settle(conn, external)
    return rev
