"""SQLite: an embedded database in a file (or in one connection's memory).

DDL is transactional (with the pysqlite recipe in :meth:`SQLiteDialect.prepare_engine`), there
is one write lock for the whole database, and there is no server: no timeouts to set, no
server databases to create.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from shopmig.dialects.base import Dialect, file_identity

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

        return sqlite.dialect()  # type: ignore[no-any-return]

    # -------------------------------------------------------------- connections

    @staticmethod
    def is_memory(url: URL) -> bool:
        """True for ``sqlite://`` and ``sqlite:///:memory:`` (a database living in one
        connection)."""
        return url.database in (None, "", ":memory:")

    def file_path(self, url: URL) -> str | None:
        """The file of a file-backed SQLite URL (None in memory)."""
        return None if self.is_memory(url) else url.database

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
        "connection's busy timeout (5 s in Python's sqlite3). In WAL mode readers never wait "
        "for a writer."
    )

    lock_queue_write_probe = False  # rollback journal: every write waits for every reader

    def bound_lock_wait(self, conn: Connection, seconds: float) -> None:
        """``PRAGMA busy_timeout``: how long this connection waits for the database lock."""
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, int(-(-seconds * 1000 // 1)))}")

    def gave_up_waiting(self, error_text: str) -> bool:
        """SQLite's ``database is locked`` (SQLITE_BUSY after the busy timeout)."""
        return "database is locked" in error_text.lower()
