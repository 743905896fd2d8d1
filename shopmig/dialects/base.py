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
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from shopmig.migrate.options import MigrationOptions


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
                    "generated": (col.get("computed") or {}).get("sqltext")}
            pk = insp.get_pk_constraint(table)
            if pk.get("constrained_columns"):
                out[("primary key", table)] = {"table": table, "name": pk.get("name"),
                                               "columns": pk["constrained_columns"]}
            for fk in insp.get_foreign_keys(table):
                out[("constraint", f"{table}.{fk.get('name')}")] = {
                    "table": table, "type": "foreign key", "columns": fk["constrained_columns"],
                    "references": fk["referred_table"], "referred": fk["referred_columns"]}
            for ix in insp.get_indexes(table):
                out[("index", f"{table}.{ix['name']}")] = {
                    "table": table, "columns": ix["column_names"], "unique": ix["unique"]}
            for check in insp.get_check_constraints(table):
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


class DumpRewriter:
    """Changes a dump stream line by line before it reaches the restore tool, and may add
    statements at its end (:meth:`Dialect.dump_rewriter`)."""

    def line(self, line: bytes) -> bytes:
        """One line of the dump (with its newline), as it should reach the restore tool."""
        return line

    def trailer(self) -> bytes:
        """Statements to run after the whole dump."""
        return b""


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
