"""What every database does, and the questions shopmig asks a database.

:class:`Dialect` is the one place a caller goes for anything that differs between SQLite,
PostgreSQL and MariaDB/MySQL. Callers never compare database names: they ask
``dialect_for(conn)`` and call a method (Alembic's ``DefaultImpl`` / data-diff's
``databases/*.py`` / strong_migrations' adapters). The subclasses in ``sqlite.py``,
``postgresql.py`` and ``mysql.py`` fill in what differs; this class holds the defaults and
documents each question.

Sections (each subclass keeps the same order):

- identity: names, quoting, capabilities;
- server databases: the admin URL, create, drop, exists, identity of a database;
- sessions: lock and statement timeouts, error codes, the migration lock;
- bulk loading (the demo shop);
- verify: row hashes and buckets (``shopmig.verification.engines``);
- catalog, steps, copies, workload: added by the modules that need them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from shopmig.migrate.options import MigrationOptions
    from shopmig.migrate.steps import Statement, StepImpact, StepPlan, TableState
    from shopmig.migrate.target import Target


class Dialect:
    """The database-specific half of shopmig, for one database kind (and server version)."""

    name: ClassVar[str] = "default"
    """shopmig's name for the kind: ``sqlite``, ``postgresql`` or ``mysql`` (MariaDB too)."""
    label: ClassVar[str] = "SQL"
    """How messages name it: ``SQLite``, ``PostgreSQL``, ``MariaDB/MySQL``."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other names that pick this class (SQLAlchemy backend names, common spellings)."""
    is_server: ClassVar[bool] = True
    """False for an embedded database (a file or memory), True for a database server."""
    transactional_ddl: ClassVar[bool] = True
    """True when DDL runs inside a transaction and rolls back with it."""
    max_identifier_length: ClassVar[int] = 63

    def __init__(self, sa_dialect: sa.Dialect | None = None,
                 server_version: tuple[int, ...] | None = None) -> None:
        self.sa_dialect = sa_dialect or self._default_sa_dialect()
        self.server_version = server_version

    def __repr__(self) -> str:
        version = ".".join(map(str, self.server_version)) if self.server_version else "?"
        return f"<{type(self).__name__} {self.label} {version}>"

    def _default_sa_dialect(self) -> sa.Dialect:
        from sqlalchemy.engine import default

        return default.DefaultDialect()

    def connect_args(self) -> dict[str, Any]:
        """Extra arguments for the driver's connect (besides shopmig's connect timeout)."""
        return {}

    @staticmethod
    def prepare_engine(engine: sa.Engine) -> None:
        """Set up a new engine for this database (event listeners and the like)."""

    # -------------------------------------------------------------- identity

    @property
    def server_label(self) -> str:
        """``PostgreSQL 15.4``, ``MariaDB 10.11.6``, ``SQLite 3.40.1``: the kind and version."""
        version = ".".join(map(str, self.server_version or ()))
        return f"{self.label} {version}".strip()

    def quote(self, name: str) -> str:
        """Quote one identifier the way this database wants it (never by hand)."""
        return self.sa_dialect.identifier_preparer.quote(name)

    def quote_always(self, name: str) -> str:
        """Quote one identifier even when it would not need it (names kept exactly as given)."""
        return self.sa_dialect.identifier_preparer.quote_identifier(name)

    def qualified(self, table: str, schema: str | None = None) -> str:
        """``schema.table`` quoted (or just the table when ``schema`` is None)."""
        if schema:
            return f"{self.quote(schema)}.{self.quote(table)}"
        return self.quote(table)

    def literal(self, value: str) -> str:
        """A string as an SQL literal (single quotes doubled)."""
        return "'" + value.replace("'", "''") + "'"

    # -------------------------------------------------------------- server databases

    def admin_url(self, url: URL) -> URL:
        """A URL on the same server that does not use ``url``'s database (to create or drop it)."""
        return url

    def database_exists_sql(self) -> str | None:
        """SQL taking ``:name`` that returns a row when that database exists (servers only)."""
        return None

    def list_databases_sql(self) -> str:
        """SQL listing the names of the server's databases (servers only)."""
        raise NotImplementedError(f"{self.label} has no server databases")

    def create_database_sql(self, name: str, template: str | None = None) -> str:
        """The statement that creates the empty database ``name``."""
        raise NotImplementedError(f"{self.label} has no server databases")

    def drop_database_sql(self, name: str) -> str:
        """The statement that drops the database ``name`` if it exists."""
        raise NotImplementedError(f"{self.label} has no server databases")

    def database_identity(self, conn: Connection) -> tuple[Any, ...]:
        """What makes this database *this* database, whatever URL reached it (a server's own
        identity plus the database's name; a SQLite file's device and inode). Two URLs with the
        same identity name the same database."""
        raise NotImplementedError

    def named(self, url: URL, name: str) -> URL:
        """The database ``name`` beside ``url``'s (same server; for SQLite, ``<name>.db`` in
        the same folder). Nothing is created."""
        return url.set(database=name)

    def named_like(self, url: URL, suffix: str) -> URL:
        """The database called like ``url``'s plus ``suffix`` (``shop`` -> ``shop_rehearsal``;
        for SQLite ``shop.db`` -> ``shop_rehearsal.db``). Nothing is created."""
        return url.set(database=f"{url.database}{suffix}")

    def file_path(self, url: URL) -> str | None:
        """The file behind an embedded database's URL, None for servers and memory."""
        return None

    # -------------------------------------------------------------- sessions

    def set_timeouts(self, conn: Connection, options: MigrationOptions) -> None:
        """Give this session the lock timeout and statement timeout of ``options``."""

    def reset_timeouts(self, conn: Connection) -> None:
        """Put this session's timeouts back to the server's defaults."""

    def lock_timeout_ms(self, options: MigrationOptions) -> int:
        """The lock timeout in whole milliseconds, rounded *up* (never 0, which would mean
        "wait forever" on PostgreSQL)."""
        return max(1, int(-(-options.lock_timeout_s * 1000 // 1)))

    def error_code(self, exc: DBAPIError) -> object:
        """The driver's error code (MySQL errno, PostgreSQL SQLSTATE) of ``exc``."""
        orig = exc.orig
        args = getattr(orig, "args", ())
        if args and isinstance(args[0], int):
            return args[0]
        return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)

    lock_timeout_codes: ClassVar[frozenset[object]] = frozenset()
    """Error codes meaning "gave up waiting for a lock"."""

    def is_lock_timeout(self, exc: DBAPIError) -> bool:
        """True when ``exc`` means the statement gave up waiting for a lock."""
        return self.error_code(exc) in self.lock_timeout_codes

    not_instant_codes: ClassVar[frozenset[object]] = frozenset()
    """Error codes of a server refusing to change a table in place (it would copy it)."""

    def refuses_in_place(self, exc: DBAPIError) -> bool:
        """True when the server refused a step because it cannot do it without copying the
        table (a blocker shopmig did not see coming)."""
        return self.error_code(exc) in self.not_instant_codes

    lock_wait_codes: ClassVar[frozenset[object]] = frozenset()
    """Error codes of a write that lost out to a lock (timeout, deadlock, cancelled wait)."""

    def is_lock_wait(self, exc: DBAPIError) -> bool:
        """True when a write failed because it waited for a lock (behind a migration), not
        because the table refused it."""
        code = self.error_code(exc)
        return code in self.lock_timeout_codes or code in self.lock_wait_codes

    @contextlib.contextmanager
    def migration_lock(self, conn: Connection, key: str, wait_s: float) -> Iterator[None]:
        """Hold shopmig's per-database migration lock while the block runs (one migrator at a
        time). Waits up to ``wait_s`` seconds for another session's lock, then raises
        :class:`~shopmig.errors.MigrationLockedError` naming that session."""
        yield

    @contextlib.contextmanager
    def migration_transactions(self, conn: Connection) -> Iterator[None]:
        """Make the step transactions opened on ``conn`` in this block take the database's
        write lock up front where that matters (SQLite's ``BEGIN IMMEDIATE``)."""
        yield

    # -------------------------------------------------------------- bulk loading

    def bulk_insert(self, conn: Connection, table: str, columns: Sequence[str],
                    records: Sequence[tuple[Any, ...]], chunk_rows: int = 100_000) -> None:
        """Insert ``records`` (tuples in ``columns`` order) as fast as the driver allows."""
        raw = conn.connection.driver_connection
        assert raw is not None
        cols = ", ".join(self.quote(c) for c in columns)
        marker = self.paramstyle_marker
        sql = (f"INSERT INTO {self.quote(table)} ({cols}) "
               f"VALUES ({', '.join([marker] * len(columns))})")
        cur = raw.cursor()
        try:
            for start in range(0, len(records), chunk_rows):
                cur.executemany(sql, list(records[start : start + chunk_rows]))
        finally:
            cur.close()

    paramstyle_marker: ClassVar[str] = "%s"

    # -------------------------------------------------------------- catalog (the live table)

    def table_state(self, conn: Connection, target: Target) -> TableState:
        """What the steps need to know about ``target``'s table, read from the catalog."""
        from shopmig.migrate.steps import TableState

        insp = sa.inspect(conn)
        if not insp.has_table(target.table, schema=target.schema):
            return TableState(target, exists=False, extra=self._meta_extra(conn))
        columns = tuple(c["name"] for c in insp.get_columns(target.table, schema=target.schema))
        pk = insp.get_pk_constraint(target.table, schema=target.schema)
        checks = {c.get("name") for c in quiet(insp.get_check_constraints, target.table,
                                                                     schema=target.schema)}
        indexes = {i.get("name") for i in quiet(insp.get_indexes, target.table,
                                                schema=target.schema)}
        return TableState(
            target=target,
            columns=columns,
            primary_key=tuple(pk.get("constrained_columns") or ()),
            column=target.column in columns,
            check="valid" if target.check_name(self) in checks else None,
            index="valid" if target.index_name(self) in indexes else None,
            rows=self.estimated_rows(conn, target),
            taken_names=tuple(self.names_in_use(conn, target)),
            extra=self._meta_extra(conn),
        )

    def _meta_extra(self, conn: Connection) -> dict[str, Any]:
        """shopmig's own bookkeeping the steps look at (``shopmig_meta`` keys)."""
        insp = sa.inspect(conn)
        if not insp.has_table("shopmig_meta"):
            return {"meta": {}, "meta_table": False}
        meta = sa.table("shopmig_meta", sa.column("key"), sa.column("value"))
        return {"meta": dict(conn.execute(sa.select(meta.c.key, meta.c.value)).all()),
                "meta_table": True}

    def names_in_use(self, conn: Connection, target: Target) -> list[str]:
        """Which of the names the steps create (the CHECK's, the index's) something else
        already has, where the database would refuse a duplicate."""
        insp = sa.inspect(conn)
        wanted = {target.check_name(self), target.index_name(self)}
        used = {c.get("name") for c in quiet(insp.get_check_constraints, target.table,
                                                                  schema=target.schema)}
        used |= {i.get("name") for i in quiet(insp.get_indexes, target.table,
                                              schema=target.schema)}
        used |= {u.get("name") for u in quiet(insp.get_unique_constraints, target.table,
                                              schema=target.schema)}
        used |= {f.get("name") for f in insp.get_foreign_keys(target.table,
                                                              schema=target.schema)}
        return sorted(n for n in wanted if n in used)

    def estimated_rows(self, conn: Connection, target: Target) -> int | None:
        """About how many rows the table has (the server's statistics where it keeps them)."""
        return self.count_rows(conn, target)

    def count_rows(self, conn: Connection, target: Target) -> int:
        """The exact row count (``count(*)``)."""
        table = sa.table(target.table, schema=target.schema)
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def demo_table_state(self, target: Target) -> TableState:
        """The demo shop's table at the baseline, as the steps see it (no database needed)."""
        from shopmig.migrate.steps import TableState

        return TableState(target, columns=("order_id", "amount"), primary_key=("order_id",),
                          extra={"meta": {}})

    def dependants(self, conn: Connection, target: Target) -> list[dict[str, Any]]:
        """What depends on the table (foreign keys of other tables pointing at it, views, views
        on those views, triggers on it), each with what the steps do to it."""
        out = self.foreign_keys_in(conn, target)
        out += [{"kind": "view", "name": name, "detail": detail, "steps": self.view_effect}
                for name, detail in self.views_on(conn, target)]
        out += [{"kind": "trigger", "name": name, "detail": detail,
                 "steps": "it fires on the workload's and the shop's writes as before; rows it "
                 "writes into this table must satisfy the CHECK from 0003 on"}
                for name, detail in self.triggers_on(conn, target)]
        return out

    view_effect: ClassVar[str] = (
        "a view keeps the columns it was created with (SELECT * does not gain the new column); "
        "while a view uses the new column, 0002's downgrade cannot drop it")

    def unique_column_sets(self, conn: Connection, target: Target) -> list[list[str]]:
        """The column lists of the table's unique constraints and unique indexes (not the
        primary key; expression indexes left out: no plain columns to fill)."""
        insp = sa.inspect(conn)
        out = [list(u["column_names"]) for u in
               quiet(insp.get_unique_constraints, target.table, schema=target.schema)]
        out += [list(i["column_names"])
                for i in quiet(insp.get_indexes, target.table, schema=target.schema)
                if i.get("unique") and all(c is not None for c in i["column_names"])]
        return out

    def foreign_keys_in(self, conn: Connection, target: Target) -> list[dict[str, Any]]:
        """Foreign keys of other tables (or of the table itself) that reference the table."""
        insp = sa.inspect(conn)
        out = []
        for other in insp.get_table_names(schema=target.schema):
            for fk in insp.get_foreign_keys(other, schema=target.schema):
                if fk.get("referred_table") == target.table and (
                        fk.get("referred_schema") in (None, target.schema)):
                    out.append({
                        "kind": "foreign key in", "name": fk.get("name") or "",
                        "detail": f"{other}({', '.join(fk['constrained_columns'])}) -> "
                                  f"{target.table}({', '.join(fk['referred_columns'])})",
                        "steps": "every step keeps it: the key it points at is never touched"})
        return out

    def views_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """(name, how) of the views that read the table, directly or through another view."""
        return []

    def triggers_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """(name, definition or timing) of the triggers on the table."""
        return []

    validates_check_separately: ClassVar[bool] = False
    """True where a CHECK can be added unvalidated and validated later (PostgreSQL); elsewhere
    step 0004 has nothing to do and leaves nothing to see."""

    def observable(self, revision: str) -> bool:
        """Whether the catalog shows that ``revision`` ran (a step that does nothing on this
        database leaves nothing to see, so the schema cannot tell before from after it)."""
        from shopmig.migrate.options import BASELINE, VALIDATE_CHECK

        if revision == BASELINE:
            return False
        return revision != VALIDATE_CHECK or self.validates_check_separately

    def server_supports(self, state: TableState) -> list[str]:
        """What this server version cannot do of the migration (each with its fix)."""
        return []

    # -------------------------------------------------------------- steps

    def table_sql(self, target: Target) -> str:
        """The table's quoted, qualified name."""
        return self.qualified(target.table, target.schema)

    def column_definition(self, target: Target) -> str:
        """``status VARCHAR(16) DEFAULT 'pending' NOT NULL`` as this database writes it."""
        from shopmig.migrate.options import STATUS_DEFAULT, STATUS_LENGTH

        column = sa.Column(target.column, sa.String(STATUS_LENGTH), nullable=False,
                           server_default=sa.text(self.literal(STATUS_DEFAULT)))
        sa.Table("t", sa.MetaData(), column)
        return str(sa.schema.CreateColumn(column).compile(dialect=self.sa_dialect)).strip()

    def check_expression(self, target: Target) -> str:
        """``"status" IN ('pending', ...)``."""
        from shopmig.migrate.steps import check_values_sql

        return check_values_sql(self, target.column)

    def impact(self, state: TableState, revision: str, summary: str, *, lock: str,
               blocks_writes: str, rewrites: bool = False, scans: bool = False,
               notes: Sequence[str] = (), queues: str = "",
               transactional: bool | None = None) -> StepImpact:
        """A :class:`~shopmig.migrate.steps.StepImpact` for this database."""
        from shopmig.migrate.steps import StepImpact

        return StepImpact(revision, self.name, summary, lock, blocks_writes, rewrites, scans,
                          list(notes), queues,
                          self.transactional_ddl if transactional is None else transactional)

    def size(self, state: TableState) -> str:
        """``about 1,000,000 rows`` or ``the whole table``."""
        return f"about {state.rows:,} rows" if state.rows is not None else "the whole table"

    def plan(self, revision: str, direction: str, statements: Sequence[Statement],
             impact: StepImpact, after: TableState, **kw: Any) -> StepPlan:
        """A :class:`~shopmig.migrate.steps.StepPlan`."""
        from shopmig.migrate.steps import StepPlan

        return StepPlan(revision, direction, tuple(statements), impact, after, **kw)

    def create_baseline(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0001 up: create the demo shop's table (``order_id`` text key, ``amount`` double)
        and note in ``shopmig_meta`` that shopmig made it (so 0001 down may drop it again)."""
        from shopmig.migrate.options import BASELINE
        from shopmig.migrate.steps import Statement

        target = state.target
        table = sa.Table(target.table, sa.MetaData(),
                         sa.Column("order_id", sa.String(36), primary_key=True),
                         sa.Column("amount", sa.Double), schema=target.schema)
        meta = _meta_table()
        statements = [Statement(str(sa.schema.CreateTable(table).compile(
            dialect=self.sa_dialect)).strip())]
        if not state.extra.get("meta_table"):
            statements.append(Statement(str(sa.schema.CreateTable(meta).compile(
                dialect=self.sa_dialect)).strip()))
        insert = meta.insert().values(key="baseline_created", value=target.display)
        statements.append(Statement(str(insert.compile(
            dialect=self.sa_dialect, compile_kwargs={"literal_binds": True}))))
        after = state.but(exists=True, columns=("order_id", "amount"), primary_key=("order_id",),
                          extra={"meta": {**state.extra.get("meta", {}),
                                          "baseline_created": target.display},
                                 "meta_table": True})
        impact = self.impact(state, BASELINE, f"create the table {target.display}",
                             lock="new table only", blocks_writes="no")
        return self.plan(BASELINE, "up", statements, impact, after)

    def drop_baseline(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0001 down: drop the table only if 0001 made it (never an adopted table)."""
        from shopmig.migrate.options import BASELINE
        from shopmig.migrate.steps import Statement

        target = state.target
        meta = state.extra.get("meta", {})
        impact = self.impact(state, BASELINE, f"drop the table {target.display} that 0001 made",
                             lock="exclusive", blocks_writes="yes")
        if meta.get("baseline_created") != target.display:
            return self.plan(
                BASELINE, "down", [],
                dataclasses.replace(impact, summary="refused: shopmig never drops your table"),
                state, refusal=f"{target.display} was not created by shopmig's baseline "
                "revision (it was adopted), and shopmig never drops your table.",
                hint="'base' in shopmig means the baseline: stop there (shopmig downgrade base).")
        meta_table = _meta_table()
        statements = [Statement(f"DROP TABLE {self.table_sql(target)}"),
                      Statement(str(meta_table.delete().where(
                          meta_table.c.key == "baseline_created").compile(
                          dialect=self.sa_dialect, compile_kwargs={"literal_binds": True})))]
        rest = {k: v for k, v in meta.items() if k != "baseline_created"}
        if not rest:
            statements.append(Statement(f"DROP TABLE {self.quote('shopmig_meta')}"))
        after = state.but(exists=False, columns=(), primary_key=(),
                          extra={"meta": rest, "meta_table": bool(rest)})
        return self.plan(BASELINE, "down", statements, impact, after)

    def add_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0002 up: add the column NOT NULL with the default, the cheapest way there is."""
        raise NotImplementedError

    def drop_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0002 down: drop the column (its values are lost)."""
        raise NotImplementedError

    def add_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0003 up: the CHECK constraint, without blocking writes where the database can."""
        raise NotImplementedError

    def drop_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0003 down: drop the CHECK constraint."""
        raise NotImplementedError

    def validate_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0004 up: validate the CHECK for existing rows (nothing where it is validated when
        added)."""
        from shopmig.migrate.options import VALIDATE_CHECK

        impact = self.impact(state, VALIDATE_CHECK, "nothing to do on this database",
                             lock="none", blocks_writes="no",
                             notes=["The CHECK was validated when it was added."])
        return self.plan(VALIDATE_CHECK, "up", [], impact, state)

    def invalidate_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0004 down: mark the CHECK not validated again (nothing where that does not exist)."""
        from shopmig.migrate.options import VALIDATE_CHECK

        impact = self.impact(state, VALIDATE_CHECK, "nothing to do on this database",
                             lock="none", blocks_writes="no")
        return self.plan(VALIDATE_CHECK, "down", [], impact, state)

    def create_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0005 up: index the column without blocking writes where the database can."""
        raise NotImplementedError

    def drop_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0005 down: drop the index."""
        raise NotImplementedError

    def repair_sql(self, state: TableState) -> list[Statement]:
        """Statements that clean up what a failed or killed step left behind (PostgreSQL: an
        invalid index), run before the step is tried again. Nothing by default."""
        return []


    # -------------------------------------------------------------- workload

    def assigns_key(self, table: sa.Table, column: sa.Column) -> bool:
        """True when the server gives a new row its key if the insert leaves it out (identity,
        serial, AUTO_INCREMENT)."""
        if column.identity is not None or column.autoincrement is True:
            return True
        arg = getattr(column.server_default, "arg", None)  # text, or a SQL clause
        default = "" if arg is None else str(arg).lower()
        return "nextval(" in default

    # -------------------------------------------------------------- naive (the lesson's contrast)

    def naive_add_column_statements(self, target: Target) -> list[str]:
        """How the column is often added by hand: the statements, for display and to run."""
        raise NotImplementedError

    def run_naive_add_column(self, conn: Connection, target: Target) -> None:
        """Run :meth:`naive_add_column_statements` (in one transaction where DDL is
        transactional; the caller commits)."""
        for statement in self.naive_add_column_statements(target):
            conn.exec_driver_sql(statement)

    def naive_impact(self, rows: int | None = None) -> StepImpact:
        """What the naive way does, in the terms :class:`StepImpact` uses for shopmig's step."""
        raise NotImplementedError

    def storage_identity(self, conn: Connection, target: Target) -> str | None:
        """Something that changes when the table is rebuilt into new storage (None if the
        database does not say): tells a table rewrite from a metadata change."""
        return None

    def nullable_column_definition(self, target: Target) -> str:
        """The column without default or NOT NULL (the naive first step)."""
        from shopmig.migrate.options import STATUS_LENGTH

        column = sa.Column(target.column, sa.String(STATUS_LENGTH), nullable=True)
        sa.Table("t", sa.MetaData(), column)
        return str(sa.schema.CreateColumn(column).compile(dialect=self.sa_dialect)).strip()

    # -------------------------------------------------------------- lint (shopmig.lint's rules)
    # What the preflight rules ask a database. Each rule in ``shopmig/lint/rules/`` states
    # which of these capabilities it is about; the defaults describe a database that has none
    # of them.

    lock_rates_s_per_row: ClassVar[dict[str, float]] = {"rewrite": 2.0e-6, "index": 0.75e-6,
                                                        "scan": 0.15e-6}
    """Seconds per row a step spends holding its lock, by kind of work: ``rewrite`` (copy
    every row), ``index`` (build an index), ``scan`` (read every row). The rates of the
    expected lock time (``shopmig.lint.estimate``)."""
    lock_rates_basis: ClassVar[str] = "not measured (the slowest rates measured elsewhere)"
    """What the rates were measured on (shown with every estimate)."""

    def lock_timeout_sql(self, seconds: float) -> str | None:
        """The statement that bounds how long DDL waits for its lock (``None``: the database
        has no lock queue to bound, so the ``no-lock-timeout`` rule does not apply)."""
        return None

    lock_timeout_variables: ClassVar[tuple[str, ...]] = ()
    """Session variables that set the lock timeout (a ``SET`` of one counts as setting it)."""
    has_concurrent_index_builds: ClassVar[bool] = False
    """``CREATE INDEX CONCURRENTLY`` builds an index while writes go on (a plain
    ``CREATE INDEX`` blocks them)."""
    has_online_alter_clauses: ClassVar[bool] = False
    """``ALTER TABLE``/``CREATE INDEX`` take ``ALGORITHM=`` and ``LOCK=`` clauses: without them
    the server picks, and may copy the table or block writes instead of refusing."""
    has_not_valid_constraints: ClassVar[bool] = False
    """A CHECK or FOREIGN KEY can be added ``NOT VALID`` (no scan) and validated later while
    writes go on; without ``NOT VALID`` every row is checked under a lock that blocks writes."""
    set_not_null_scans: ClassVar[bool] = False
    """``ALTER COLUMN ... SET NOT NULL`` reads every row under a lock that blocks writes."""
    valid_check_spares_not_null_scan_from: ClassVar[tuple[int, ...] | None] = None
    """From this server version a validated ``CHECK (col IS NOT NULL)`` lets ``SET NOT NULL``
    skip its scan (None: never)."""
    constant_default_without_rewrite_from: ClassVar[tuple[int, ...]] = ()
    """From this server version ``ADD COLUMN ... DEFAULT <constant>`` rewrites no row (``()``:
    every version)."""
    alter_column_type_rewrites: ClassVar[bool] = False
    """``ALTER COLUMN ... TYPE`` rewrites every row (unless the new type is binary-compatible)."""
    update_writes_new_row_versions: ClassVar[bool] = False
    """An UPDATE writes a new version of every row it changes (MVCC): the table grows until
    VACUUM."""
    one_write_lock: ClassVar[bool] = False
    """One write lock for the whole database: while a statement writes, every writer of every
    table waits."""
    drop_column_rewrites: ClassVar[bool] = False
    """``DROP COLUMN`` rewrites every row of the table."""
    check_constraint_copies_table: ClassVar[bool] = False
    """Adding an enforced CHECK copies the whole table (no online path)."""
    volatile_default_effect: ClassVar[str] = "rewrite"
    """What ``ADD COLUMN`` with a volatile default (``random()``, ``uuid()``...) does:
    ``rewrite`` (every row is written with its own value), ``copy`` (the server cannot add it
    instantly and copies the table) or ``refused`` (the database refuses the statement)."""

    # -------------------------------------------------------------- objects

    def database_objects(self, conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
        """Every object of the database ``conn`` is in, keyed by ``(kind, name)``, each with
        its properties normalized so that two exact copies give equal values (no oids,
        owners, counters or the database's own name). Kinds: ``database``, ``table``,
        ``column``, ``primary key``, ``constraint``, ``foreign key``, ``index``, ``trigger``,
        ``view``, ``sequence``, ``type``, ``collation``, ``routine``, ``event``,
        ``partition``, ... as the database has them; an object attached to a table names it
        in its ``table`` property. This default reads what SQLAlchemy's inspector sees."""
        insp = sa.inspect(conn)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for table in insp.get_table_names():
            out[("table", table)] = {"table": table}
            for position, col in enumerate(insp.get_columns(table), 1):
                out[("column", f"{table}.{col['name']}")] = {
                    "table": table, "position": position, "type": str(col["type"]),
                    "nullable": col["nullable"], "default": col.get("default"),
                    "generated": dict(col.get("computed") or {}).get("sqltext")}
            pk = insp.get_pk_constraint(table)
            if pk.get("constrained_columns"):
                out[("primary key", table)] = {"table": table, "name": pk.get("name"),
                                               "columns": pk["constrained_columns"]}
            for fk in insp.get_foreign_keys(table):
                out[("constraint", f"{table}.{fk.get('name')}")] = {
                    "table": table, "type": "foreign key", "columns": fk["constrained_columns"],
                    "references": fk["referred_table"], "referred": fk["referred_columns"]}
            for ix in quiet(insp.get_indexes, table):
                out[("index", f"{table}.{ix['name']}")] = {
                    "table": table, "columns": ix["column_names"], "unique": ix["unique"]}
            for check in quiet(insp.get_check_constraints, table):
                out[("constraint", f"{table}.{check.get('name')}")] = {
                    "table": table, "type": "check", "definition": check["sqltext"]}
        for view in insp.get_view_names():
            out[("view", view)] = {"definition": insp.get_view_definition(view)}
        return out

    # -------------------------------------------------------------- copies

    exact_copy_methods: ClassVar[tuple[str, ...]] = ()
    """How a database of this kind is copied exactly onto one of the same kind, in the order
    tried (``shopmig.copying``): ``template`` (a server-side copy of the files), ``dump``
    (the dump tool piped into the restore tool), ``backup-api`` (SQLite's online backup)."""
    backup_method: ClassVar[str] = ""
    """:attr:`shopmig.Backup.method` of this kind's backups."""
    backup_suffix: ClassVar[str] = ""
    """The backup file's suffix."""
    tool_package: ClassVar[str] = ""
    """The Debian/Ubuntu package holding the dump and restore tools."""
    dump_tools: ClassVar[tuple[str, ...]] = ()
    """The dump tool's names, preferred first."""
    restore_tools: ClassVar[tuple[str, ...]] = ()
    """The restore tool's names, preferred first."""

    def find_tool(self, names: Sequence[str], url: URL) -> str:
        """The path of the first of ``names`` installed (fit for the server at ``url``);
        raises :class:`~shopmig.errors.BackupToolMissingError` naming the package."""
        import shutil

        from shopmig.errors import BackupToolMissingError

        for name in names:
            path = shutil.which(name)
            if path:
                return path
        raise BackupToolMissingError(
            names[0], self.tool_package,
            f"neither {' nor '.join(names)} is installed (not on PATH)")

    def tool_args(self, url: URL, *, prompt_password: bool = False) -> list[str]:
        """The command-line options that point a dump or restore tool at ``url``'s server
        (never its password; ``prompt_password`` makes the tool ask for it)."""
        return []

    def tool_env(self, url: URL) -> dict[str, str]:
        """Environment variables for the tools (the password travels here, never on a
        command line)."""
        return {}

    def dump_args(self, tool: str, url: URL, *, output: str | None,
                  conn: Connection | None = None) -> list[str]:
        """The command that dumps ``url``'s database into ``output`` (a file) or, with None,
        to standard output. ``conn`` (on that database) lets it name objects to handle
        apart."""
        raise NotImplementedError(f"{self.label} has no dump tool")

    def restore_args(self, tool: str, url: URL, *, input_path: str | None,
                     jobs: int = 1) -> list[str]:
        """The command that restores a dump into ``url``'s (existing, empty) database from
        ``input_path`` or, with None, from standard input; ``jobs`` parallel workers where
        the tool has them."""
        raise NotImplementedError(f"{self.label} has no restore tool")

    def restore_reads_stdin(self) -> bool:
        """True when the restore tool reads a dump file from standard input (not by name)."""
        return False

    def restore_shell_command(self, path: str, target: URL) -> str:
        """The shell command a person pastes to restore the backup ``path`` into the new
        database ``target`` (no password in it)."""
        raise NotImplementedError

    def dump_rewriter(self, conn: Connection) -> DumpRewriter | None:
        """What to change in a dump of the database ``conn`` is in before it is restored
        elsewhere (None: nothing, the tools are piped straight into each other)."""
        return None

    def restore_jobs(self, conn: Connection) -> int:
        """How many parallel restore workers pay off for a copy of the database ``conn`` is
        in (1: the dump is piped straight into the restore)."""
        return 1

    virtual_generated_columns: ClassVar[bool] = True
    """False where generated columns can only be stored (streamed ones are stored then)."""
    stores_time_zones: ClassVar[bool] = False
    """True when a timestamp column keeps its time zone (streamed copies write others as
    UTC)."""

    def template_blockers(self, conn: Connection, database: str) -> list[str]:
        """The sessions that stop a template copy of ``database`` right now."""
        return []

    def create_copy_sql(self, name: str, conn: Connection) -> str:
        """The statement that creates the empty database ``name`` to restore a copy of the
        database ``conn`` is in (with its encoding and collation)."""
        return self.create_database_sql(name)

    def reset_counters_sql(self, table: sa.Table) -> list[str]:
        """Statements that move ``table``'s key counters (sequences) past the rows streamed
        into it with their own keys."""
        return []

    def generated_columns(self, conn: Connection) -> dict[tuple[str, str], tuple[str, bool]]:
        """``{(table, column): (expression, stored)}`` for generated columns SQLAlchemy's
        reflection does not report (it does for SQLite and PostgreSQL)."""
        return {}

    def check_constraints(self, conn: Connection) -> dict[str, list[tuple[str, str]]] | None:
        """``{table: [(name, condition in standard SQL)]}`` when SQLAlchemy's reflection does
        not see every CHECK (None: it does)."""
        return None

    def stream_type(self, column: sa.Column[Any]) -> sa.types.TypeEngine[Any] | None:
        """The type to create ``column`` (reflected on another kind of database) with here,
        or None for the column's generic type. Each database maps what it stores otherwise
        (SQLite: uuid as 36-character text with its dashes)."""
        return None

    # -------------------------------------------------------------- URL options (validation)

    def url_option_problems(self, url: URL, connect_params: Mapping[str, Any]
                            ) -> list[str]:
        """What the driver would refuse in ``url``'s query options, one sentence each (empty
        when nothing), found *without* connecting. ``connect_params`` are the keyword
        arguments SQLAlchemy would pass the driver's ``connect()``. The default knows no
        driver rules."""
        return []

    # -------------------------------------------------------------- answer rules (teach)
    # The rules a learner's answer must meet on this database (shopmig.teach.exercises): an
    # answer runs on one database and is held to every database's rules, so an answer SQLite
    # accepts but PostgreSQL or MariaDB would refuse is named as such. The defaults here are
    # the SQL standard's (PostgreSQL's); each class overrides what differs in its own section.

    enforces_string_length: ClassVar[bool] = True
    """True when a value longer than a ``VARCHAR(n)`` is refused (not stored whole)."""
    checks_datetime_values: ClassVar[bool] = True
    """True when text that is no valid date/time is refused by a date/time column."""
    integer_division_truncates: ClassVar[bool] = True
    """True when ``integer / integer`` drops the fraction (``4815 / 100`` is 48)."""

    def float_kind(self, type_: sa.types.TypeEngine[Any]) -> str | None:
        """How a column declared ``type_`` stores numbers here: ``double`` (8 bytes, about 15
        digits), ``single`` (4 bytes, about 7 digits), or None for a type that is not
        floating-point. Default: ``FLOAT`` alone is double precision, ``REAL`` single."""
        return float_kind(type_, plain_float="double", real="single")

    def string_too_long(self, column: str, length: int, value: str, *,
                        default: bool = False) -> str | None:
        """The error this database gives when ``value`` goes into ``column VARCHAR(length)``
        (as the column's ``default`` or as a value), or None when it stores it."""
        if len(value) <= length:
            return None
        return f"value too long for type character varying({length})"

    def bare_word_default(self, column: str, word: str) -> str | None:
        """The error for ``column ... DEFAULT word`` with an unquoted word (a column reference
        to the database), or None when it is accepted."""
        if word.lower() in DEFAULT_KEYWORDS:
            return None
        return "cannot use column reference in DEFAULT expression"

    def invalid_datetime(self, column: str, value: str) -> str | None:
        """The error for storing the text ``value`` in the date/time column ``column``, or
        None when it is stored (a valid date/time, or a database that does not check)."""
        if is_datetime_text(value):
            return None
        return f'date/time field value out of range: "{value}"'

    # -------------------------------------------------------------- the lock queue (teach)
    # How a session bounds its wait for a lock, and what waits behind a DDL statement that is
    # waiting for its lock (shopmig.teach.lockqueue, notebook 07).

    lock_queue_explained: ClassVar[str] = (
        "ADD COLUMN needs an exclusive lock on orders. While it waits for the open "
        "transaction to end, every later query on orders, plain reads too, queues behind it."
    )
    """What waits, and behind what, while a DDL statement waits for its lock (one paragraph)."""
    lock_queue_write_probe: ClassVar[bool] = True
    """True when a write to another row can go on while a transaction reads the table (so a
    timed write measures the lock queue, not the reader)."""

    def bound_lock_wait(self, conn: Connection, seconds: float) -> None:
        """Make this session give up waiting for any lock after ``seconds`` (default: the
        lock timeout of :meth:`set_timeouts`)."""
        from shopmig.migrate.options import MigrationOptions

        self.set_timeouts(conn, MigrationOptions(lock_timeout_s=seconds))

    def gave_up_waiting(self, error_text: str) -> bool:
        """True when a failed step's error text says it gave up waiting for a lock (where the
        driver gives no code shopmig maps to :class:`~shopmig.errors.LockTimeoutError`)."""
        return False

    # -------------------------------------------------------------- faults (issue 13)

    concurrent_ddl_codes: ClassVar[frozenset[object]] = frozenset()
    """Error codes of a catalog read refused because another session's DDL is changing the
    table right now (a killed migration's server thread finishing its statement)."""

    def is_concurrent_ddl(self, exc: DBAPIError) -> bool:
        """True when ``exc`` means the table's definition cannot be read while another
        session's schema change runs (wait and read again); False by default."""
        return self.error_code(exc) in self.concurrent_ddl_codes

    # -------------------------------------------------------------- verify (verification.engines)

    verify_checksum: ClassVar[bool] = False
    """The server hashes rows and sums the hashes per key bucket: verify's ``checksum``
    engine can compare two databases of this kind without moving their rows."""

    verify_attach_join: ClassVar[bool] = False
    """Two databases of this kind (one a file) can be compared by one join in one process
    (SQLite's ATTACH): verify's ``sqlite-join`` engine."""

    def binary(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``expr`` compared and ordered by its bytes whatever its collation (case and
        trailing spaces count). Default: text under the BINARY collation."""
        if not isinstance(expr.type, sa.String):
            return expr
        return expr.collate("BINARY")

    def binary_value(self, expr: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
        """A literal to compare with ``binary(expr)``."""
        return sa.literal(value, expr.type)

    def single_precision(self, type_: sa.types.TypeEngine[Any]) -> bool:
        """True when a column of ``type_`` stores 4-byte floats (verify loosens its float
        tolerance to 1e-6 for it)."""
        return self.float_kind(type_) == "single"

    def key_bucket(self, keys: Sequence[sa.ColumnElement[Any]], buckets: int
                   ) -> sa.ColumnElement[Any]:
        """Which of ``buckets`` (a power of two) hash buckets a row's key falls in, computed by
        the server (the ``checksum`` engine; :attr:`verify_checksum` databases only)."""
        raise NotImplementedError(f"{self.name} has no server-side key buckets")

    def row_hash(self, keys: Sequence[sa.ColumnElement[Any]],
                 values: Sequence[sa.ColumnElement[Any]],
                 log_floats: Sequence[bool]) -> sa.ColumnElement[Any]:
        """A per-row hash over the key columns and ``values`` computed by the server, equal
        on two databases of this kind exactly when the row is (the ``checksum`` engine).
        ``log_floats[i]`` says ``values[i]`` is a double the hash may quantize
        (:attr:`log_hash_rtol`)."""
        raise NotImplementedError(f"{self.name} has no server-side row hash")

    log_hash_rtol: ClassVar[float | None] = None
    """When set, :meth:`row_hash` may hash a double by its quantized log instead of its text
    where the column's tolerance is at least this (two values with the same quantized log
    differ by less than it, relative). None: doubles are always hashed exactly."""

    def key_sample(self, keys: Sequence[sa.ColumnElement[Any]], step: int
                   ) -> sa.ColumnElement[bool]:
        """A condition keeping about one row in ``step`` (a power of two), spread over the
        key space, to place verify's segments from a sample of keys."""
        return self.key_bucket(keys, step) == 0

    @contextlib.contextmanager
    def hash_grouping(self, conn: Connection) -> Iterator[None]:
        """Hints for one grouped hash query (the ``checksum`` engine's bucket totals)."""
        yield


class DumpRewriter:
    """Changes a dump stream line by line before it reaches the restore tool, and may add
    statements at its end (:meth:`Dialect.dump_rewriter`)."""

    def line(self, line: bytes) -> bytes:
        """One line of the dump (with its newline), as it should reach the restore tool."""
        return line

    def trailer(self) -> bytes:
        """Statements to run after the whole dump."""
        return b""


def quiet(read: Any, *args: Any, **kwargs: Any) -> Any:
    """``read(*args, **kwargs)`` with SQLAlchemy's reflection warnings silenced (an expression
    index, PostgreSQL's NOT VALID flag): shopmig reads those objects from the catalog."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        return read(*args, **kwargs)


def url_password(url: URL) -> str | None:
    """The password in ``url`` (in its password part or a ``password=`` query option)."""
    for value in (url.password, url.query.get("password")):
        if value:
            return str(value if isinstance(value, str) else value[0])
    return None
def file_identity(path: str) -> tuple[Any, ...]:
    """A file's device and inode: the same file under any path or link."""
    st = os.stat(path)
    return ("file", st.st_dev, st.st_ino)



def _meta_table() -> sa.Table:
    return sa.Table("shopmig_meta", sa.MetaData(),
                    sa.Column("key", sa.String(64), primary_key=True),
                    sa.Column("value", sa.String(1000), nullable=False))


def views_reading(table: str, views: list[tuple[str, str]], quote: str) -> list[tuple[str, str]]:
    """(name, how) of the views among ``views`` (name, definition) that read ``table``, then
    those that read such a view, found by the names in their definitions."""
    import re

    def reads(sql: str, name: str) -> bool:
        pattern = (rf"(?<![\w{quote}]){re.escape(name)}(?![\w{quote}])|"
                   rf"{re.escape(quote + name + quote)}")
        return re.search(pattern, sql, flags=re.IGNORECASE) is not None

    found: dict[str, int] = {}
    frontier = {table: 0}
    while frontier:
        nxt = {}
        for view, sql in views:
            if view in found or view == table:
                continue
            for name, depth in frontier.items():
                if reads(sql, name):
                    nxt[view] = depth + 1
                    break
        found.update(nxt)
        frontier = nxt
    return [(v, "view on the table" if d == 1 else f"view on a view ({d} levels)")
            for v, d in sorted(found.items(), key=lambda kv: (kv[1], kv[0]))]

DEFAULT_KEYWORDS = frozenset({"null", "true", "false", "current_timestamp", "current_date",
                              "current_time", "localtimestamp", "localtime"})
"""Bare words every database accepts as a column default (SQL constants and clocks)."""


def is_datetime_text(value: str) -> bool:
    """True when ``value`` reads as an ISO date or date-time (``2024-01-31``,
    ``2024-01-31 12:00:00[.ffffff][+01:00]``); ``2024-13-45`` or ``yes`` do not."""
    import datetime as dt

    try:
        dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        return False
    return True


def float_kind(type_: sa.types.TypeEngine[Any], *, plain_float: str, real: str) -> str | None:
    """``double`` or ``single`` for a floating-point type, None for anything else.
    ``plain_float`` is what ``FLOAT`` without a precision means on the database, ``real`` what
    ``REAL`` means."""
    if isinstance(type_, sa.Double):
        return "double"
    if isinstance(type_, sa.REAL):
        return real
    if isinstance(type_, sa.Float):
        precision = getattr(type_, "precision", None)
        if precision is None:
            return plain_float
        return "single" if precision <= 24 else "double"
    return None
