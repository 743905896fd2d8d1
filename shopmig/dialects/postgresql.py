"""PostgreSQL 11+: transactional DDL, ``lock_timeout``, ``CONCURRENTLY``, advisory locks."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from shopmig.dialects.base import Dialect

if TYPE_CHECKING:
    from shopmig.migrate.options import MigrationOptions

LOCK_POLL_S = 0.2


class PostgreSQLDialect(Dialect):
    """PostgreSQL (psycopg 3)."""

    name = "postgresql"
    label = "PostgreSQL"
    aliases = ("postgresql", "postgres", "pg")
    is_server = True
    transactional_ddl = True
    max_identifier_length = 63
    lock_timeout_codes: ClassVar[frozenset[object]] = frozenset({"55P03"})

    def _default_sa_dialect(self) -> sa.Dialect:
        from sqlalchemy.dialects import postgresql

        return postgresql.dialect()  # type: ignore[no-any-return]

    # -------------------------------------------------------------- server databases

    def admin_url(self, url: URL) -> URL:
        """The same server's ``postgres`` maintenance database."""
        return url.set(database="postgres")

    def database_exists_sql(self) -> str:
        """A row when the database ``:name`` exists."""
        return "SELECT 1 FROM pg_database WHERE datname = :name"

    def create_database_sql(self, name: str, template: str | None = None) -> str:
        """``CREATE DATABASE name [TEMPLATE template]`` (a file-level copy with a template)."""
        suffix = f" TEMPLATE {self.quote(template)}" if template else ""
        return f"CREATE DATABASE {self.quote(name)}{suffix}"

    def drop_database_sql(self, name: str) -> str:
        """``DROP DATABASE IF EXISTS name WITH (FORCE)``: other sessions are ended."""
        return f"DROP DATABASE IF EXISTS {self.quote(name)} WITH (FORCE)"

    def database_identity(self, conn: Connection) -> tuple[Any, ...]:
        """The cluster's system identifier (the same for every address and port that reaches
        it) and the database's name."""
        row = conn.execute(sa.text(
            "SELECT (SELECT system_identifier FROM pg_control_system()), current_database()"
        )).one()
        return ("postgresql", int(row[0]), row[1])

    # -------------------------------------------------------------- sessions

    def set_timeouts(self, conn: Connection, options: MigrationOptions) -> None:
        """``lock_timeout`` and ``statement_timeout`` for this session (milliseconds)."""
        conn.exec_driver_sql(f"SET lock_timeout = {self.lock_timeout_ms(options)}")
        statement_ms = max(1, int(-(-options.statement_timeout_s * 1000 // 1)))
        conn.exec_driver_sql(f"SET statement_timeout = {statement_ms}")

    def reset_timeouts(self, conn: Connection) -> None:
        """Back to the server's (or role's) defaults."""
        conn.exec_driver_sql("RESET lock_timeout")
        conn.exec_driver_sql("RESET statement_timeout")

    @contextlib.contextmanager
    def migration_lock(self, conn: Connection, key: str, wait_s: float) -> Iterator[None]:
        """A session-level advisory lock on ``hashtext(key)``; polled (never in an open
        transaction, so a waiting shopmig holds no snapshot that a concurrent index build
        would wait for)."""
        from shopmig.errors import MigrationLockedError

        lock_id = sa.func.hashtext(key)
        deadline = time.monotonic() + wait_s
        while True:
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(lock_id))).scalar_one()
            holder = None if got else self._advisory_holder(conn, key)
            conn.commit()
            if got:
                break
            if time.monotonic() >= deadline:
                raise MigrationLockedError(key, holder or "another session", wait_s)
            time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            with contextlib.suppress(sa.exc.DBAPIError):
                if conn.in_transaction():
                    conn.rollback()
                conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_id)))
                conn.commit()

    def _advisory_holder(self, conn: Connection, key: str) -> str | None:
        row = conn.execute(sa.text(
            "SELECT a.pid, a.usename, a.application_name, a.client_addr, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.objid = (hashtext(:key)::bigint & 4294967295)::oid LIMIT 1"
        ), {"key": key}).first()
        if row is None:
            return None
        app = f", application {row.application_name!r}" if row.application_name else ""
        addr = f" from {row.client_addr}" if row.client_addr else ""
        return f"PostgreSQL session {row.pid} (user {row.usename}{addr}{app})"

    # -------------------------------------------------------------- bulk loading

    def bulk_insert(self, conn: Connection, table: str, columns: Any, records: Any,
                    chunk_rows: int = 100_000) -> None:
        """``COPY ... FROM STDIN`` (psycopg 3's fast path)."""
        raw = conn.connection.driver_connection
        assert raw is not None
        cols = ", ".join(self.quote(c) for c in columns)
        with raw.cursor() as cur, cur.copy(f"COPY {self.quote(table)} ({cols}) FROM STDIN") as cp:
            for record in records:
                cp.write_row(record)

    # -------------------------------------------------------------- answer rules (teach)
    # PostgreSQL follows the defaults in base.py: lengths, dates and defaults are checked,
    # FLOAT alone is double precision, REAL single, integer division truncates.

    # -------------------------------------------------------------- the lock queue (teach)

    lock_queue_explained = (
        "ADD COLUMN takes ACCESS EXCLUSIVE on orders, even when it only changes the catalog. "
        "While it waits behind an open transaction's ACCESS SHARE (any SELECT that has not "
        "committed), PostgreSQL queues every later lock request on orders behind it, so plain "
        "SELECTs wait as long as the ALTER does. lock_timeout bounds that wait."
    )
