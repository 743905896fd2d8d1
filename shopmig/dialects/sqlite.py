"""SQLite: an embedded database in a file (or in one connection's memory).

DDL is transactional (with the pysqlite recipe in :meth:`SQLiteDialect.prepare_engine`), there
is one write lock for the whole database, and there is no server: no timeouts to set, no
server databases to create.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from shopmig.dialects.base import Dialect, file_identity, views_reading

if TYPE_CHECKING:
    from shopmig.migrate.options import MigrationOptions
    from shopmig.migrate.steps import Statement, StepImpact, StepPlan, TableState
    from shopmig.migrate.target import Target

BEGIN_KEY = "shopmig_sqlite_begin"
"""Connection info key: the statement the next transaction on that connection begins with."""


class SQLiteDialect(Dialect):
    """SQLite 3.35+ (``DROP COLUMN``); Python's ``sqlite3`` driver."""

    name = "sqlite"
    label = "SQLite"
    aliases = ("sqlite", "sqlite3")
    is_server = False
    transactional_ddl = True
    max_identifier_length = 1024
    paramstyle_marker = "?"

    def _default_sa_dialect(self) -> sa.Dialect:
        from sqlalchemy.dialects import sqlite

        return sqlite.dialect()

    # -------------------------------------------------------------- connections

    @staticmethod
    def is_memory(url: URL) -> bool:
        """True for ``sqlite://`` and ``sqlite:///:memory:`` (a database living in one
        connection)."""
        return url.database in (None, "", ":memory:")

    def file_path(self, url: URL) -> str | None:
        """The file of a file-backed SQLite URL (None in memory)."""
        return None if self.is_memory(url) else url.database

    def named(self, url: URL, name: str) -> URL:
        """``<name>.db`` in the folder of ``url``'s file (the current folder in memory)."""
        folder = os.path.dirname(os.path.abspath(url.database or "")) if not self.is_memory(
            url) else os.getcwd()
        return url.set(database=os.path.join(folder, f"{name}.db"))

    def named_like(self, url: URL, suffix: str) -> URL:
        """``shop.db`` -> ``shop<suffix>.db`` beside it (an in-memory database has no name:
        :class:`~shopmig.errors.InvalidArgumentError`)."""
        if self.is_memory(url):
            from shopmig.errors import InvalidArgumentError

            raise InvalidArgumentError("url", "sqlite://", "a SQLite file or a server database "
                                       "(an in-memory database has no file to put a copy "
                                       "beside; give the copy's URL)")
        root, ext = os.path.splitext(url.database or "")
        return url.set(database=f"{root}{suffix}{ext}")

    @staticmethod
    def prepare_engine(engine: Engine) -> None:
        """Let pysqlite run DDL inside transactions (SQLAlchemy's documented recipe).

        Python's sqlite3 module commits implicitly before DDL, so a failing migration step
        could leave half its statements applied. With this recipe SQLite's own ``BEGIN`` covers
        the whole step and a failure rolls all of it back.
        """

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            raw = conn.connection.driver_connection
            if raw is not None and raw.in_transaction:
                # a COMMIT that failed with "database is locked" leaves SQLite's transaction
                # open while SQLAlchemy has ended its own: nothing of it was committed
                raw.rollback()
            conn.exec_driver_sql(conn.info.get(BEGIN_KEY, "BEGIN"))

    # -------------------------------------------------------------- server databases

    def database_identity(self, conn: Connection) -> tuple[Any, ...]:
        """The file's device and inode; an in-memory database is itself only."""
        path = self.file_path(conn.engine.url)
        if path is None or not os.path.exists(path):
            return ("memory", id(conn.connection.dbapi_connection))
        return file_identity(path)

    # -------------------------------------------------------------- sessions

    BUSY_TIMEOUT_MS = 30_000
    """How long a SQLite connection waits for another writer by default (the driver's 5 s is
    short for a shop under load)."""

    def connect_args(self) -> dict[str, Any]:
        """The driver's wait for the write lock (seconds)."""
        return {"timeout": self.BUSY_TIMEOUT_MS / 1000}

    def set_timeouts(self, conn: Connection, options: MigrationOptions) -> None:
        """The lock timeout is SQLite's busy timeout: how long a step waits for the one write
        lock before it gives up (and shopmig retries)."""
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {self.lock_timeout_ms(options)}")

    def reset_timeouts(self, conn: Connection) -> None:
        """Back to shopmig's default wait."""
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {self.BUSY_TIMEOUT_MS}")

    def is_lock_timeout(self, exc: sa.exc.DBAPIError) -> bool:
        """"database is locked": the busy timeout ran out behind another writer."""
        return "database is locked" in str(exc.orig).lower()

    @contextlib.contextmanager
    def migration_transactions(self, conn: Connection) -> Iterator[None]:
        """Transactions begun on ``conn`` in this block take SQLite's write lock up front
        (``BEGIN IMMEDIATE``): a deferred transaction that reads and then writes gets "database
        is locked" at once when another connection writes; an immediate one waits for the lock
        (the busy timeout). Migrations read (reflection, row counts) before they write."""
        previous = conn.info.get(BEGIN_KEY)
        conn.info[BEGIN_KEY] = "BEGIN IMMEDIATE"
        try:
            yield
        finally:
            if previous is None:
                conn.info.pop(BEGIN_KEY, None)
            else:
                conn.info[BEGIN_KEY] = previous

    # -------------------------------------------------------------- catalog (the live table)

    def table_state(self, conn: Connection, target: Target) -> TableState:
        """The base catalog, plus the table's stored ``CREATE TABLE`` text and the schema
        cookie (the CHECK step edits that text in place)."""
        state = super().table_state(conn, target)
        if not state.exists:
            return state
        row = conn.execute(sa.text(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
            {"name": target.table}).first()
        version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
        sql = row[0] if row else None
        check = state.check
        if sql and check is None and constraint_span(sql, target.check_name(self)):
            check = "valid"
        return state.but(create_sql=sql, schema_version=int(version or 0), check=check)

    view_effect = ("SQLite expands a view when it is read: a SELECT * view shows the new column "
                   "from 0002 on; while a view or trigger uses the column, 0002's downgrade "
                   "(DROP COLUMN) is refused by SQLite")

    def views_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """Views whose SQL reads the table, then views reading those views."""
        rows = conn.execute(sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")).all()
        return views_reading(target.table, [(r[0], r[1] or "") for r in rows], '"')

    def triggers_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """Triggers on the table (kept exactly as they are by every step)."""
        rows = conn.execute(sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
            "ORDER BY name"), {"t": target.table}).all()
        return [(r[0], " ".join((r[1] or "").split())) for r in rows]

    def unique_column_sets(self, conn: Connection, target: Target) -> list[list[str]]:
        """From ``PRAGMA index_list``: SQLAlchemy leaves out the automatic index behind a
        column's own ``UNIQUE`` (``sqlite_autoindex_…``), which is unique all the same."""
        out = []
        table = self.quote(target.table)
        for row in conn.exec_driver_sql(f"PRAGMA index_list({table})").mappings():
            if not row["unique"] or row["origin"] == "pk":
                continue
            index = self.quote(row["name"])
            names = [r["name"] for r in
                     conn.exec_driver_sql(f"PRAGMA index_info({index})").mappings()]
            if names and all(n is not None for n in names):  # no expression parts
                out.append(names)
        return out

    def names_in_use(self, conn: Connection, target: Target) -> list[str]:
        """Index names are unique per database in SQLite, constraint names per table."""
        used = set(super().names_in_use(conn, target))
        index = target.index_name(self)
        taken = conn.execute(sa.text(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND lower(name) = lower(:n)"),
            {"n": index}).first()
        if taken:
            used.add(index)
        return sorted(used)

    def estimated_rows(self, conn: Connection, target: Target) -> int | None:
        """SQLite keeps no row statistics: count (fast for the sizes SQLite holds)."""
        return self.count_rows(conn, target)

    def demo_table_state(self, target: Target) -> TableState:
        """The demo table as 0001 creates it, with its stored text."""
        state = super().demo_table_state(target)
        table = sa.Table(target.table, sa.MetaData(),
                         sa.Column("order_id", sa.String(36), primary_key=True),
                         sa.Column("amount", sa.Double))
        sql = str(sa.schema.CreateTable(table).compile(dialect=self.sa_dialect)).strip()
        return state.but(create_sql=sql)

    # -------------------------------------------------------------- steps

    def add_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``ALTER TABLE ... ADD COLUMN``: SQLite appends the column to the stored table text;
        no row is read or written (a constant default is filled in on read)."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import Statement

        target = state.target
        definition = self.column_definition(target)
        after = state.but(column=True, columns=(*state.columns, target.column),
                          schema_version=_next(state.schema_version),
                          create_sql=_insert_definition(state.create_sql, definition))
        impact = self.impact(
            state, ADD_STATUS, f"add {target.column} NOT NULL DEFAULT 'pending' "
            "(ALTER TABLE ADD COLUMN: the stored table definition only)",
            lock="the database write lock, milliseconds",
            blocks_writes="milliseconds (every writer waits for the one database lock)",
            queues="writers to any table of the database; to commit it waits until no other "
            "connection is reading, and meanwhile every new reader waits too (milliseconds "
            "once it has the lock; at most the lock timeout while it waits)",
            notes=["SQLite ADD COLUMN with a constant default only edits the schema text: "
                   "no row is read or rewritten."])
        return self.plan(ADD_STATUS, "up", [Statement(
            f"ALTER TABLE {self.table_sql(target)} ADD COLUMN {definition}")], impact, after)

    def drop_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``ALTER TABLE ... DROP COLUMN`` (SQLite 3.35+) rewrites every row of the table."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import Statement

        target = state.target
        after = state.but(column=False, columns=tuple(c for c in state.columns
                                                      if c != target.column),
                          schema_version=_next(state.schema_version), create_sql=None)
        impact = self.impact(
            state, ADD_STATUS, f"drop the {target.column} column (its values are lost)",
            lock="the database write lock, for the whole rewrite",
            blocks_writes=f"for the whole rewrite of {self.size(state)}",
            rewrites=True, scans=True,
            queues="every writer of the database until the rewrite commits",
            notes=["SQLite DROP COLUMN rewrites every row to remove the value; refused above "
                   "the row limit unless allow_table_rewrite."])
        return self.plan(ADD_STATUS, "down", [Statement(
            f"ALTER TABLE {self.table_sql(target)} DROP COLUMN {self.quote(target.column)}")],
            impact, after, rewrites=True)

    def _schema_edit(self, state: TableState, new_sql_expression: str) -> list[Statement]:
        from shopmig.migrate.steps import Statement

        version = (str(state.schema_version + 1) if state.schema_version is not None
                   else "<the current schema_version + 1>")
        return [
            Statement("PRAGMA writable_schema = ON"),
            Statement(f"UPDATE sqlite_master SET sql = {new_sql_expression} "
                      f"WHERE type = 'table' AND name = {self.literal(state.target.table)}"),
            Statement(f"PRAGMA schema_version = {version}"),
            Statement("PRAGMA writable_schema = OFF"),
        ]

    def add_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """SQLite cannot ``ADD CONSTRAINT``; instead of rebuilding the table (which drops its
        triggers, and rewrites every row), shopmig follows SQLite's documented procedure for
        schema changes that leave the stored rows as they are: check every existing row
        against the rule, then add the constraint to the stored table definition and bump the
        schema cookie, all in one transaction. Indexes, triggers, views and the table's name
        stay exactly as they were."""
        from shopmig.migrate.options import STATUS_CHECK
        from shopmig.migrate.steps import Statement

        target = state.target
        expression = self.check_expression(target)
        fragment = (f", CONSTRAINT {self.quote_always(target.check_name(self))} "
                    f"CHECK ({expression})")
        end = definitions_end(state.create_sql or "")
        impact = self.impact(
            state, STATUS_CHECK, f"add CHECK ({expression}) to the stored table definition "
            "after checking every existing row", lock="the database write lock, for one scan",
            blocks_writes=f"while {self.size(state)} are checked (one read, no write)",
            scans=True, queues="every writer of the database until the step commits",
            notes=["SQLite's documented procedure for changes that leave the stored rows as "
                   "they are: no table rebuild, so indexes, triggers and views are untouched."])
        if end is None:
            return self.plan(STATUS_CHECK, "up", [], impact, state,
                             refusal=f"the stored definition of {target.display} could not be "
                             "read (no column list found). Nothing was changed.",
                             hint="Add the CHECK by hand, or rebuild the table.")
        statements = [Statement(
            f"SELECT count(*) FROM {self.table_sql(target)} WHERE NOT ({expression})",
            must_be_zero=True, purpose=f"every existing row satisfies {expression}")]
        statements += self._schema_edit(
            state, f"substr(sql, 1, {end}) || {self.literal(fragment)} || substr(sql, {end + 1})")
        after = state.but(check="valid", schema_version=_next(state.schema_version),
                          create_sql=(state.create_sql or "")[:end] + fragment
                          + (state.create_sql or "")[end:])
        return self.plan(STATUS_CHECK, "up", statements, impact, after)

    def drop_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """Remove the constraint from the stored table definition (no row is touched)."""
        from shopmig.migrate.options import STATUS_CHECK

        target = state.target
        span = constraint_span(state.create_sql or "", target.check_name(self))
        impact = self.impact(
            state, STATUS_CHECK, "remove the CHECK from the stored table definition",
            lock="the database write lock, milliseconds", blocks_writes="milliseconds",
            queues="writers of the database, for milliseconds")
        if span is None:
            return self.plan(STATUS_CHECK, "down", [], impact, state,
                             refusal=f"the definition of {target.display} holds no constraint "
                             f"named {target.check_name(self)}. Nothing was changed.",
                             hint="Check the table (shopmig inspect); record the real revision "
                             "with shopmig upgrade, which repairs a disagreement it can name.")
        start, stop = span
        statements = self._schema_edit(
            state, f"substr(sql, 1, {start}) || substr(sql, {stop + 1})")
        sql = state.create_sql or ""
        after = state.but(check=None, schema_version=_next(state.schema_version),
                          create_sql=sql[:start] + sql[stop:])
        return self.plan(STATUS_CHECK, "down", statements, impact, after)

    def create_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``CREATE INDEX``: reads every row, holding the database write lock meanwhile."""
        from shopmig.migrate.options import STATUS_INDEX
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(
            state, STATUS_INDEX, f"CREATE INDEX {target.index_name(self)}",
            lock="the database write lock", blocks_writes=f"while {self.size(state)} are indexed",
            scans=True, queues="every writer of the database until the index is built")
        return self.plan(STATUS_INDEX, "up", [Statement(
            f"CREATE INDEX {self.quote(target.index_name(self))} ON "
            f"{self.table_sql(target)} ({self.quote(target.column)})")],
            impact, state.but(index="valid", schema_version=_next(state.schema_version)))

    def drop_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``DROP INDEX``."""
        from shopmig.migrate.options import STATUS_INDEX
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(state, STATUS_INDEX, f"drop the index {target.index_name(self)}",
                             lock="the database write lock, brief", blocks_writes="briefly")
        return self.plan(STATUS_INDEX, "down", [Statement(
            f"DROP INDEX {self.quote(target.index_name(self))}")], impact,
            state.but(index=None, schema_version=_next(state.schema_version)))


    # -------------------------------------------------------------- workload

    def is_lock_wait(self, exc: sa.exc.DBAPIError) -> bool:
        """"database is locked": the busy timeout ran out behind another writer."""
        return "database is locked" in str(exc.orig).lower()

    def assigns_key(self, table: sa.Table, column: sa.Column) -> bool:
        """Also a lone ``INTEGER PRIMARY KEY``: SQLite's rowid, given to a row left without."""
        if super().assigns_key(table, column):
            return True
        pk = list(table.primary_key.columns)
        return (len(pk) == 1 and pk[0] is column
                and str(column.type).upper() == "INTEGER")

    # -------------------------------------------------------------- naive (the lesson's contrast)

    def _naive_rebuild(self, ops: Any, target: Target, copy_from: sa.Table | None) -> None:
        from shopmig.migrate.options import STATUS_DEFAULT, STATUS_LENGTH

        column = sa.Column(target.column, sa.String(STATUS_LENGTH), nullable=False,
                           server_default=sa.text(self.literal(STATUS_DEFAULT)))
        with ops.batch_alter_table(target.table, recreate="always",
                                   copy_from=copy_from) as batch:
            batch.add_column(column)

    def naive_add_column_statements(self, target: Target) -> list[str]:
        """Alembic's batch mode rebuilding the table (``recreate="always"``), for the demo
        table: a new table, every row copied, the old one dropped, the new one renamed."""
        import io

        from alembic.operations import Operations
        from alembic.runtime.migration import MigrationContext

        out = io.StringIO()
        ctx = MigrationContext.configure(dialect_name="sqlite",
                                         opts={"as_sql": True, "output_buffer": out})
        table = sa.Table(target.table, sa.MetaData(),
                         sa.Column("order_id", sa.String(36), primary_key=True),
                         sa.Column("amount", sa.Double))
        self._naive_rebuild(Operations(ctx), target, table)
        return [s.strip() for s in out.getvalue().split(";") if s.strip()]

    def run_naive_add_column(self, conn: Connection, target: Target) -> None:
        """The batch rebuild, reflecting the live table."""
        from alembic.operations import Operations
        from alembic.runtime.migration import MigrationContext

        self._naive_rebuild(Operations(MigrationContext.configure(conn)), target, None)

    def naive_impact(self, rows: int | None = None) -> StepImpact:
        """The whole table is copied into a new one."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import StepImpact

        size = f"{rows:,} rows" if rows is not None else "the whole table"
        return StepImpact(
            ADD_STATUS, self.name,
            "rebuild orders with the new column (Alembic batch mode, recreate='always')",
            "the database write lock", f"for the whole rebuild of {size}", True, True,
            ["A new table is created, every row is copied into it, the old table is dropped "
             "and the new one renamed: the table's root page changes (and Alembic's batch "
             "mode does not re-create triggers)."],
            queues="every writer of the database until the rebuild commits")

    def storage_identity(self, conn: Connection, target: Target) -> str | None:
        """The table's root page."""
        value = conn.execute(sa.text(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = :t"),
            {"t": target.table}).scalar()
        return None if value is None else str(value)

    # -------------------------------------------------------------- lint (shopmig.lint's rules)

    lock_rates_s_per_row: ClassVar[dict[str, float]] = {"rewrite": 0.25e-6, "index": 0.46e-6,
                                                        "scan": 0.35e-6}
    lock_rates_basis: ClassVar[str] = (
        "SQLite 3.40.1 (the steps as they are now, best of 3 with the host under load ~7): "
        "the CHECK step's scan 0.35 s, CREATE INDEX 0.46 s, DROP COLUMN 0.24 s")
    one_write_lock = True
    drop_column_rewrites = True
    volatile_default_effect = "refused"

    # -------------------------------------------------------------- objects

    def database_objects(self, conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
        """Every object of the main database: each table, index, trigger and view with the
        SQL SQLite keeps for it (exactly as it was written), each table's kind (ordinary,
        virtual, shadow, WITHOUT ROWID, STRICT), columns (type, NOT NULL, default, key
        position, generated), foreign keys, and the database's encoding, ``user_version``
        and ``application_id``. SQLite's own tables (``sqlite_sequence``, ``sqlite_stat*``)
        and automatic indexes are left out: the table's SQL defines them."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        out[("database", "database")] = {
            "encoding": conn.exec_driver_sql("PRAGMA main.encoding").scalar_one(),
            "user_version": conn.exec_driver_sql("PRAGMA main.user_version").scalar_one(),
            "application_id": conn.exec_driver_sql(
                "PRAGMA main.application_id").scalar_one(),
        }
        kinds = {row[1]: (row[2], row[4], row[5]) for row in conn.exec_driver_sql(
            "PRAGMA main.table_list") if row[0] == "main"}
        master = conn.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM main.sqlite_master "
            "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name").all()
        for kind, name, table, sql in master:
            if kind == "table":
                table_kind, without_rowid, strict = kinds.get(name, ("table", 0, 0))
                out[("table", name)] = {
                    "table": name, "kind": table_kind, "without_rowid": bool(without_rowid),
                    "strict": bool(strict), "sql": sql}
                self._column_objects(conn, name, out)
            elif kind == "index":
                out[("index", name)] = {"table": table, "sql": sql}
            else:
                out[(kind, name)] = {"table": table if kind == "trigger" else None, "sql": sql}
        return out

    def _column_objects(self, conn: Connection, table: str,
                        out: dict[tuple[str, str], dict[str, Any]]) -> None:
        quoted = self.literal(table)
        for cid, name, type_, notnull, default, pk, hidden in conn.exec_driver_sql(
                f"SELECT * FROM pragma_table_xinfo({quoted})"):
            out[("column", f"{table}.{name}")] = {
                "table": table, "position": cid + 1, "type": type_, "not_null": bool(notnull),
                "default": default, "primary_key": pk,
                "generated": {2: "virtual", 3: "stored"}.get(hidden),
                "hidden": bool(hidden == 1)}
        keys: dict[int, dict[str, Any]] = {}
        for row in conn.exec_driver_sql(
                f"SELECT * FROM pragma_foreign_key_list({quoted}) ORDER BY id, seq").all():
            fk_id, _seq, parent, column, parent_column, on_update, on_delete, match = row
            entry = keys.setdefault(fk_id, {"table": table, "references": parent,
                                            "columns": [], "referred_columns": [],
                                            "on_update": on_update, "on_delete": on_delete,
                                            "match": match})
            entry["columns"].append(column)
            entry["referred_columns"].append(parent_column)
        for entry in keys.values():
            name = f"{table}({', '.join(entry['columns'])}) -> {entry['references']}"
            out[("foreign key", name)] = entry

    # -------------------------------------------------------------- copies

    exact_copy_methods = ("backup-api",)
    backup_method = "sqlite-backup"
    backup_suffix = ".sqlite-backup"

    def restore_shell_command(self, path: str, target: URL) -> str:
        """``cp -n backup target.db``: a SQLite backup is itself a database file."""
        dest = self.file_path(target) or "restored.db"
        return f"cp -n {shlex.quote(path)} {shlex.quote(dest)}"

    def stream_type(self, column: sa.Column[Any]) -> sa.types.TypeEngine[Any] | None:
        """uuid as 36-character text with its dashes (what verify and people read), a
        one-column integer key as ``INTEGER`` (SQLite's 64-bit rowid, so inserts without
        a key get one), enums as text, every other type generic."""
        type_ = column.type
        if isinstance(type_, sa.Uuid) or type(type_).__name__.upper() == "UUID":
            return sa.String(36)
        if isinstance(type_, sa.Enum):
            return sa.String(max((len(v) for v in type_.enums), default=1))
        if (isinstance(type_, sa.Integer) and column.primary_key and column.table is not None
                and len(column.table.primary_key.columns) == 1):
            return sa.Integer()
        return None

    # -------------------------------------------------------------- answer rules (teach)
    # SQLite stores what it is given: type names only set an affinity, so lengths, dates and
    # bare-word defaults are never checked, and every floating-point type is 8 bytes.

    enforces_string_length = False
    checks_datetime_values = False

    def float_kind(self, type_: sa.types.TypeEngine[Any]) -> str | None:
        """Every floating-point type (FLOAT, REAL, DOUBLE) is an 8-byte double in SQLite."""
        from shopmig.dialects.base import float_kind

        return float_kind(type_, plain_float="double", real="double")

    def string_too_long(self, column: str, length: int, value: str, *,
                        default: bool = False) -> str | None:
        """None: SQLite ignores the length of ``VARCHAR(n)`` and stores the whole value."""
        return None

    def bare_word_default(self, column: str, word: str) -> str | None:
        """None: SQLite takes ``DEFAULT pending`` as the text 'pending'."""
        return None

    def invalid_datetime(self, column: str, value: str) -> str | None:
        """None: a date/time column in SQLite stores any text."""
        return None

    # -------------------------------------------------------------- the lock queue (teach)

    lock_queue_explained = (
        "SQLite has one lock for the whole database. The ALTER can commit only when no "
        "transaction still reads; while it waits it holds the PENDING lock, which makes every "
        "new reader wait too (rollback-journal mode, the default). The wait is bounded by the "
        "connection's busy timeout (shopmig sets it to the step's lock timeout). In WAL mode "
        "readers never wait for a writer."
    )

    lock_queue_write_probe = False  # rollback journal: every write waits for every reader

    def gave_up_waiting(self, error_text: str) -> bool:
        """SQLite's ``database is locked``: the busy timeout ran out behind another
        connection (shopmig's pre-step checks report it without a lock-timeout error)."""
        return "database is locked" in error_text.lower()

    # -------------------------------------------------------------- verify (verification.engines)

    verify_attach_join: ClassVar[bool] = True

    def key_sample(self, keys: Sequence[sa.ColumnElement[Any]], step: int
                   ) -> sa.ColumnElement[bool]:
        """Every ``step``-th rowid (SQLite computes no hash; a WITHOUT ROWID table raises,
        and verify walks the key index instead)."""
        return sa.literal_column("rowid") % step == 0


def _next(version: int | None) -> int | None:
    return None if version is None else version + 1


def _tokens(sql: str) -> Iterator[tuple[int, str]]:
    """(offset, token) of ``sql``'s significant tokens: parentheses, commas, words, quoted
    names and strings; comments and whitespace skipped."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            yield i, sql[i : j + 1]
            i = j + 1
        elif ch == "[":
            j = sql.find("]", i)
            j = n - 1 if j < 0 else j
            yield i, sql[i : j + 1]
            i = j + 1
        elif ch in "(),;":
            yield i, ch
            i += 1
        else:
            j = i
            while j < n and not sql[j].isspace() and sql[j] not in "(),;'\"`[" and not (
                sql.startswith("--", j) or sql.startswith("/*", j)
            ):
                j += 1
            yield i, sql[i:j]
            i = j


def definitions_end(sql: str) -> int | None:
    """The offset of the ``)`` that closes a ``CREATE TABLE`` statement's list of columns and
    constraints (where ``ALTER TABLE ADD COLUMN`` inserts too), or None."""
    depth = 0
    for offset, token in _tokens(sql):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth == 0:
                return offset
    return None


def _unquote(name: str) -> str:
    if name[:1] in "\"'`" and name[-1:] == name[:1]:
        return name[1:-1].replace(name[0] * 2, name[0])
    if name[:1] == "[" and name[-1:] == "]":
        return name[1:-1]
    return name


def constraint_span(sql: str, name: str) -> tuple[int, int] | None:
    """The span of ``, CONSTRAINT <name> CHECK (...)`` in a ``CREATE TABLE`` statement (from
    its comma to its closing parenthesis, inclusive), or None."""
    tokens = list(_tokens(sql))
    depth = 0
    for i, (offset, token) in enumerate(tokens):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token == "," and depth == 1 and i + 4 < len(tokens):
            words = [t for _, t in tokens[i + 1 : i + 5]]
            if (words[0].upper() == "CONSTRAINT" and _unquote(words[1]).lower() == name.lower()
                    and words[2].upper() == "CHECK" and words[3] == "("):
                inner = 0
                for off2, tok2 in tokens[i + 4 :]:
                    if tok2 == "(":
                        inner += 1
                    elif tok2 == ")":
                        inner -= 1
                        if inner == 0:
                            return offset, off2 + 1
                return None
    return None


def _insert_definition(sql: str | None, definition: str) -> str | None:
    """``sql`` as SQLite leaves it after ``ALTER TABLE ADD COLUMN definition``."""
    if sql is None:
        return None
    end = definitions_end(sql)
    return None if end is None else f"{sql[:end]}, {definition}{sql[end:]}"
