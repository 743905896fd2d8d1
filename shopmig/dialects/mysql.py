"""MariaDB 10.3+ and MySQL 8: DDL commits implicitly, ``ALGORITHM=INSTANT``, metadata locks,
``lock_wait_timeout`` in whole seconds, ``GET_LOCK``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from shopmig.dialects.base import Dialect

if TYPE_CHECKING:
    from shopmig.migrate.options import MigrationOptions


class MySQLDialect(Dialect):
    """MariaDB and MySQL (PyMySQL)."""

    name = "mysql"
    label = "MariaDB/MySQL"
    aliases = ("mysql", "mariadb")
    is_server = True
    transactional_ddl = False
    max_identifier_length = 64
    lock_timeout_codes: ClassVar[frozenset[object]] = frozenset({1205})

    def _default_sa_dialect(self) -> sa.Dialect:
        from sqlalchemy.dialects import mysql

        return mysql.dialect()  # type: ignore[no-any-return]

    @property
    def is_mariadb(self) -> bool:
        """True for MariaDB (as opposed to MySQL)."""
        return bool(getattr(self.sa_dialect, "is_mariadb", False))

    @property
    def server_label(self) -> str:
        """``MariaDB 10.11.6`` or ``MySQL 8.0.36``."""
        version = ".".join(map(str, self.server_version or ()))
        return f"{'MariaDB' if self.is_mariadb else 'MySQL'} {version}".strip()

    # -------------------------------------------------------------- server databases

    def admin_url(self, url: URL) -> URL:
        """The same server, no default database."""
        return URL.create(url.drivername, url.username, url.password, url.host, url.port,
                          None, url.query)

    def database_exists_sql(self) -> str:
        """A row when the database (schema) ``:name`` exists."""
        return "SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"

    def create_database_sql(self, name: str, template: str | None = None) -> str:
        """``CREATE DATABASE name CHARACTER SET utf8mb4``."""
        return f"CREATE DATABASE {self.quote(name)} CHARACTER SET utf8mb4"

    def drop_database_sql(self, name: str) -> str:
        """``DROP DATABASE IF EXISTS name``."""
        return f"DROP DATABASE IF EXISTS {self.quote(name)}"

    def database_identity(self, conn: Connection) -> tuple[Any, ...]:
        """The server's host name, port and data directory, and the database's name."""
        row = conn.execute(sa.text("SELECT @@hostname, @@port, @@datadir, DATABASE()")).one()
        return ("mysql", row[0], int(row[1]), row[2], row[3])

    # -------------------------------------------------------------- sessions

    def lock_wait_seconds(self, options: MigrationOptions) -> int:
        """``lock_wait_timeout`` counts whole seconds: the lock timeout rounded up, at least 1."""
        return max(1, int(-(-options.lock_timeout_s // 1)))

    def set_timeouts(self, conn: Connection, options: MigrationOptions) -> None:
        """``lock_wait_timeout`` (metadata locks) and ``innodb_lock_wait_timeout`` (row locks)
        in whole seconds, and MariaDB's ``max_statement_time``."""
        wait = self.lock_wait_seconds(options)
        conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {wait}")
        conn.exec_driver_sql(f"SET SESSION innodb_lock_wait_timeout = {wait}")
        if self.is_mariadb:
            conn.exec_driver_sql(
                f"SET SESSION max_statement_time = {float(options.statement_timeout_s)}")

    def reset_timeouts(self, conn: Connection) -> None:
        """Back to the server's defaults."""
        conn.exec_driver_sql("SET SESSION lock_wait_timeout = DEFAULT")
        conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = DEFAULT")
        if self.is_mariadb:
            conn.exec_driver_sql("SET SESSION max_statement_time = DEFAULT")

    @contextlib.contextmanager
    def migration_lock(self, conn: Connection, key: str, wait_s: float) -> Iterator[None]:
        """``GET_LOCK(key, wait)``: a named lock held by this session (freed if it dies)."""
        from shopmig.errors import MigrationLockedError

        name = key[:64]
        wait = max(0, int(-(-wait_s // 1)))
        got = conn.execute(sa.select(sa.func.get_lock(name, wait))).scalar()
        if conn.in_transaction():
            conn.commit()
        if got != 1:
            raise MigrationLockedError(key, self._lock_holder(conn, name) or "another session",
                                       wait_s)
        try:
            yield
        finally:
            with contextlib.suppress(sa.exc.DBAPIError):
                if conn.in_transaction():
                    conn.rollback()
                conn.execute(sa.select(sa.func.release_lock(name)))
                conn.commit()

    def _lock_holder(self, conn: Connection, name: str) -> str | None:
        row = conn.execute(sa.text(
            "SELECT p.id, p.user, p.host FROM information_schema.processlist p "
            "WHERE p.id = IS_USED_LOCK(:name)"), {"name": name}).first()
        if conn.in_transaction():
            conn.commit()
        if row is None:
            return None
        return f"{self.label} connection {row[0]} (user {row[1]} from {row[2]})"

    # -------------------------------------------------------------- answer rules (teach)
    # MariaDB/MySQL in strict mode (the default since MariaDB 10.2.4 and MySQL 5.7): lengths
    # and dates are checked; FLOAT alone is single precision, REAL double; `/` is decimal
    # division (4815 / 100 is 48.1500), only DIV truncates.

    integer_division_truncates = False

    def float_kind(self, type_: sa.types.TypeEngine[Any]) -> str | None:
        """``FLOAT`` (or ``FLOAT(p)`` with p <= 24) is a 4-byte single; DOUBLE and REAL are
        8-byte doubles."""
        from shopmig.dialects.base import float_kind

        return float_kind(type_, plain_float="single", real="double")

    def string_too_long(self, column: str, length: int, value: str, *,
                        default: bool = False) -> str | None:
        """``Invalid default value for 'status'`` for a default, ``Data too long for column``
        for a value."""
        if len(value) <= length:
            return None
        if default:
            return f"(1067) Invalid default value for '{column}'"
        return f"(1406) Data too long for column '{column}'"

    def bare_word_default(self, column: str, word: str) -> str | None:
        """``Unknown column 'pending' in 'DEFAULT'``: an unquoted word names a column."""
        from shopmig.dialects.base import DEFAULT_KEYWORDS

        if word.lower() in DEFAULT_KEYWORDS:
            return None
        return f"(1054) Unknown column '{word}' in 'DEFAULT'"

    def invalid_datetime(self, column: str, value: str) -> str | None:
        """``Incorrect datetime value`` for text that is no date/time."""
        from shopmig.dialects.base import is_datetime_text

        if is_datetime_text(value):
            return None
        return f"(1292) Incorrect datetime value: '{value}' for column '{column}'"

    # -------------------------------------------------------------- the lock queue (teach)

    lock_queue_explained = (
        "ALTER TABLE, even ALGORITHM=INSTANT, needs an exclusive metadata lock on orders. "
        "While it waits for an open transaction's shared metadata lock (any statement on "
        "orders in a transaction that has not ended), every later statement on orders, plain "
        "SELECTs too, waits behind it ('Waiting for table metadata lock'). lock_wait_timeout "
        "(whole seconds) bounds that wait."
    )
