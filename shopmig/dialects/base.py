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



def file_identity(path: str) -> tuple[Any, ...]:
    """A file's device and inode: the same file under any path or link."""
    st = os.stat(path)
    return ("file", st.st_dev, st.st_ino)


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
