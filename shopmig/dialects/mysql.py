"""MariaDB 10.3+ and MySQL 8: DDL commits implicitly, ``ALGORITHM=INSTANT``, metadata locks,
``lock_wait_timeout`` in whole seconds, ``GET_LOCK``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from shopmig.dialects.base import Dialect, views_reading

if TYPE_CHECKING:
    from shopmig.migrate.options import MigrationOptions
    from shopmig.migrate.steps import StepImpact, StepPlan, TableState
    from shopmig.migrate.target import Target


class MySQLDialect(Dialect):
    """MariaDB and MySQL (PyMySQL)."""

    name = "mysql"
    label = "MariaDB/MySQL"
    aliases = ("mysql", "mariadb")
    is_server = True
    transactional_ddl = False
    max_identifier_length = 64
    lock_timeout_codes: ClassVar[frozenset[object]] = frozenset({1205})
    lock_wait_codes: ClassVar[frozenset[object]] = frozenset({1213, 3024, 1969})

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
        finally:  # also after the session was killed: never hide the error in flight
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                if conn.in_transaction() or conn.invalidated:
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

    # -------------------------------------------------------------- catalog (the live table)

    def table_state(self, conn: Connection, target: Target) -> TableState:
        """The base catalog plus what stops an instant ``ADD COLUMN`` (a FULLTEXT index, a
        compressed row format, an old server) and the row estimate."""
        state = super().table_state(conn, target)
        if not state.exists:
            return state
        schema = target.schema or conn.exec_driver_sql("SELECT DATABASE()").scalar()
        blockers: list[str] = []
        fulltext = conn.execute(sa.text(
            "SELECT DISTINCT index_name FROM information_schema.statistics "
            "WHERE table_schema = :s AND table_name = :t AND index_type = 'FULLTEXT'"),
            {"s": schema, "t": target.table}).scalars().all()
        if fulltext and self.is_mariadb:
            blockers.append(f"the FULLTEXT index {', '.join(sorted(fulltext))} (MariaDB cannot "
                            "add a column instantly to a table with a FULLTEXT index)")
        row_format = conn.execute(sa.text(
            "SELECT row_format FROM information_schema.tables "
            "WHERE table_schema = :s AND table_name = :t"), {"s": schema, "t": target.table}
        ).scalar()
        if str(row_format or "").lower() == "compressed":
            blockers.append("ROW_FORMAT=COMPRESSED (no instant ADD COLUMN on compressed tables)")
        return state.but(instant_blockers=tuple(blockers), extra={**state.extra,
                                                                  "schema": schema})

    def views_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """Views whose definition reads the table, then views reading those views (the server
        stores each view's definition with its names quoted)."""
        schema = target.schema or conn.exec_driver_sql("SELECT DATABASE()").scalar()
        views = conn.execute(sa.text(
            "SELECT table_name, view_definition FROM information_schema.views "
            "WHERE table_schema = :s ORDER BY table_name"), {"s": schema}).all()
        return views_reading(target.table, [(r[0], r[1] or "") for r in views], "`")

    def triggers_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """Triggers on the table (``information_schema.triggers``)."""
        schema = target.schema or conn.exec_driver_sql("SELECT DATABASE()").scalar()
        rows = conn.execute(sa.text(
            "SELECT trigger_name, action_timing, event_manipulation "
            "FROM information_schema.triggers WHERE event_object_schema = :s "
            "AND event_object_table = :t ORDER BY trigger_name"),
            {"s": schema, "t": target.table}).all()
        return [(r[0], f"{r[1]} {r[2]}") for r in rows]

    def estimated_rows(self, conn: Connection, target: Target) -> int | None:
        """``information_schema.tables.table_rows`` (InnoDB's estimate)."""
        value = conn.execute(sa.text(
            "SELECT table_rows FROM information_schema.tables "
            "WHERE table_schema = COALESCE(:s, DATABASE()) AND table_name = :t"),
            {"s": target.schema, "t": target.table}).scalar()
        return None if value is None else int(value)

    def server_supports(self, state: TableState) -> list[str]:
        """Instant ADD COLUMN needs MariaDB 10.3.2+ or MySQL 8.0.12+."""
        version = self.server_version
        if version is None:
            return []
        needed = (10, 3, 2) if self.is_mariadb else (8, 0, 12)
        if tuple(version[:3]) < needed:
            return [f"{self.server_label} cannot add a column instantly (needs "
                    f"{'MariaDB' if self.is_mariadb else 'MySQL'} "
                    f"{'.'.join(map(str, needed))}+): upgrade the server"]
        return []

    # -------------------------------------------------------------- steps

    _WAITING = ("While the step waits for the metadata lock (behind any open transaction that "
                "touched the table), every later query on the table queues behind it, reads "
                "too; lock_wait_timeout bounds that wait, then shopmig retries.")
    _NOT_TRANSACTIONAL = ("MariaDB/MySQL commit each DDL statement by itself: a step that "
                          "fails or is killed after its DDL but before its version is recorded "
                          "is half-applied, and shopmig upgrade records the real revision.")

    def _instant(self, state: TableState, options: MigrationOptions, what: str
                 ) -> tuple[str, bool, str | None, str | None]:
        """(algorithm, rewrites, refusal, hint) for an ADD/DROP COLUMN."""
        blockers = [*self.server_supports(state), *state.instant_blockers]
        if not blockers:
            return "INSTANT", False, None, None
        if options.allow_table_rewrite:
            return "COPY", True, None, None
        return ("INSTANT", False,
                f"the server cannot {what} with ALGORITHM=INSTANT because of "
                f"{'; '.join(blockers)}, so it would copy the whole table "
                f"({self.size(state)}) and block writes meanwhile. Nothing was changed.",
                "Rehearse it on a copy to measure how long writes stop, schedule a window, then "
                "run it with allow_table_rewrite=True (CLI: --allow-table-rewrite); or remove "
                "the blocker on a copy first.")

    def add_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``ADD COLUMN ..., ALGORITHM=INSTANT``: only the data dictionary changes; when the
        server cannot (FULLTEXT and the like) the step is refused, or with
        ``allow_table_rewrite`` runs ``ALGORITHM=COPY`` knowingly."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import Statement

        target = state.target
        algorithm, rewrites, refusal, hint = self._instant(state, options, "add the column")
        copying = algorithm == "COPY"
        impact = self.impact(
            state, ADD_STATUS,
            f"add {target.column} NOT NULL DEFAULT 'pending' (ALGORITHM={algorithm})",
            lock=("metadata lock for the whole copy" if copying else
                  "metadata lock, milliseconds (waits at most lock_wait_timeout)"),
            blocks_writes=(f"for the whole copy of {self.size(state)}" if copying else
                           "reads and writes, while the metadata lock is waited for or held"),
            rewrites=copying, scans=copying,
            notes=[*(["INSTANT is impossible here: " + "; ".join(
                [*self.server_supports(state), *state.instant_blockers])]
                if state.instant_blockers or self.server_supports(state) else
                ["ALGORITHM=INSTANT: only the data dictionary changes; the server errors "
                 "instead of copying the table."]), self._WAITING, self._NOT_TRANSACTIONAL],
            queues="every query on the table while the metadata lock is waited for or held")
        return self.plan(ADD_STATUS, "up", [Statement(
            f"ALTER TABLE {self.table_sql(target)} ADD COLUMN "
            f"{self.column_definition(target)}, ALGORITHM={algorithm}")], impact,
            state.but(column=True, columns=(*state.columns, target.column)),
            rewrites=rewrites, refusal=refusal, hint=hint)

    def drop_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``DROP COLUMN ..., ALGORITHM=INSTANT`` (MariaDB 10.4+, MySQL 8.0.29+); a plain
        (copying) drop on older servers, refused on a large table unless allowed."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import Statement

        target = state.target
        version = tuple((self.server_version or (99,))[:3])
        can_instant = version >= ((10, 4) if self.is_mariadb else (8, 0, 29))
        algorithm, rewrites, refusal, hint = (
            self._instant(state, options, "drop the column") if can_instant
            else ("COPY", True, None, None))
        suffix = f", ALGORITHM={algorithm}"
        impact = self.impact(
            state, ADD_STATUS, f"drop the {target.column} column (its values are lost)",
            lock="metadata lock" + (", milliseconds" if algorithm == "INSTANT" else
                                    " for the whole copy"),
            blocks_writes="briefly" if algorithm == "INSTANT" else
            f"for the whole copy of {self.size(state)}",
            rewrites=rewrites, scans=rewrites,
            notes=["The values written since the upgrade are lost.", self._NOT_TRANSACTIONAL],
            queues="every query on the table while the metadata lock is waited for or held")
        return self.plan(ADD_STATUS, "down", [Statement(
            f"ALTER TABLE {self.table_sql(target)} DROP COLUMN "
            f"{self.quote(target.column)}{suffix}")], impact,
            state.but(column=False, columns=tuple(c for c in state.columns
                                                  if c != target.column)),
            rewrites=rewrites, refusal=refusal, hint=hint)

    def add_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``ADD CONSTRAINT ... CHECK ..., ALGORITHM=COPY``: MariaDB/MySQL have no online
        path for an enforced CHECK; the table is copied, refused above the row limit unless
        ``allow_table_rewrite``."""
        from shopmig.migrate.options import STATUS_CHECK
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(
            state, STATUS_CHECK, f"add CHECK ({self.check_expression(target)}) "
            "(ALGORITHM=COPY)", lock="metadata lock; writes wait for the whole copy",
            blocks_writes=f"for the whole copy of {self.size(state)}", rewrites=True,
            scans=True,
            notes=["MariaDB/MySQL have no online path for an enforced CHECK: the table is "
                   f"copied ({self.size(state)}) and writes wait for the copy. Refused above "
                   "the row limit unless allow_table_rewrite=True (CLI --allow-table-rewrite).",
                   self._NOT_TRANSACTIONAL],
            queues="writes (and DDL) on the table until the copy is done")
        return self.plan(STATUS_CHECK, "up", [Statement(
            f"ALTER TABLE {self.table_sql(target)} ADD CONSTRAINT "
            f"{self.quote(target.check_name(self))} CHECK ({self.check_expression(target)}), "
            "ALGORITHM=COPY")], impact, state.but(check="valid"), rewrites=True)

    def drop_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``DROP CONSTRAINT``."""
        from shopmig.migrate.options import STATUS_CHECK
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(state, STATUS_CHECK, "drop the CHECK constraint",
                             lock="metadata lock, brief", blocks_writes="briefly",
                             notes=[self._NOT_TRANSACTIONAL],
                             queues="every query on the table while the metadata lock is "
                             "waited for or held")
        return self.plan(STATUS_CHECK, "down", [Statement(
            f"ALTER TABLE {self.table_sql(target)} DROP CONSTRAINT "
            f"{self.quote(target.check_name(self))}")], impact, state.but(check=None))

    def create_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``CREATE INDEX ... ALGORITHM=INPLACE LOCK=NONE``: reads and writes go on; the
        metadata lock is taken briefly at the start and the end."""
        from shopmig.migrate.options import STATUS_INDEX
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(
            state, STATUS_INDEX, "CREATE INDEX ... ALGORITHM=INPLACE LOCK=NONE",
            lock="metadata lock at the start and the end only", blocks_writes="no",
            scans=True, notes=[self._NOT_TRANSACTIONAL],
            queues="every query on the table while the brief metadata locks are waited for")
        return self.plan(STATUS_INDEX, "up", [Statement(
            f"CREATE INDEX {self.quote(target.index_name(self))} ON {self.table_sql(target)} "
            f"({self.quote(target.column)}) ALGORITHM=INPLACE LOCK=NONE")], impact,
            state.but(index="valid"))

    def drop_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``DROP INDEX``."""
        from shopmig.migrate.options import STATUS_INDEX
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(state, STATUS_INDEX, f"drop the index {target.index_name(self)}",
                             lock="metadata lock, brief", blocks_writes="briefly",
                             notes=[self._NOT_TRANSACTIONAL])
        return self.plan(STATUS_INDEX, "down", [Statement(
            f"DROP INDEX {self.quote(target.index_name(self))} ON {self.table_sql(target)}")],
            impact, state.but(index=None))

    # -------------------------------------------------------------- naive (the lesson's contrast)

    def naive_add_column_statements(self, target: Target) -> list[str]:
        """``ADD COLUMN ... ALGORITHM=COPY``: what an old server (or a blocker) does silently."""
        return [f"ALTER TABLE {self.table_sql(target)} ADD COLUMN "
                f"{self.column_definition(target)}, ALGORITHM=COPY"]

    def naive_impact(self, rows: int | None = None) -> StepImpact:
        """The server builds a new copy of the table and swaps it in."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import StepImpact

        size = f"{rows:,} rows" if rows is not None else "the whole table"
        return StepImpact(
            ADD_STATUS, self.name, "add status NOT NULL DEFAULT 'pending' (ALGORITHM=COPY)",
            "metadata lock; writes wait for the whole copy", f"for the whole copy of {size}",
            True, True, ["The server builds a new copy of the table with the column and swaps "
                         "it in: the InnoDB table id changes."],
            queues="writes on the table until the copy is swapped in", transactional=False)

    def storage_identity(self, conn: Connection, target: Target) -> str | None:
        """The InnoDB table id."""
        schema = target.schema or conn.exec_driver_sql("SELECT DATABASE()").scalar()
        for view in ("INNODB_SYS_TABLES", "INNODB_TABLES"):
            try:
                value = conn.execute(sa.text(
                    f"SELECT TABLE_ID FROM information_schema.{view} WHERE NAME = :n"),
                    {"n": f"{schema}/{target.table}"}).scalar()
                return None if value is None else str(value)
            except sa.exc.DBAPIError:
                conn.rollback()
        return None

    # -------------------------------------------------------------- faults (issue 13)

    concurrent_ddl_codes: ClassVar[frozenset[object]] = frozenset({1684})
    """ER_WARN_I_S_SKIPPED_TABLE: "Table ... was skipped since its definition is being modified
    by concurrent DDL statement" (seen right after a migration's client was killed during
    ``ALTER TABLE ... ALGORITHM=COPY``, while its server thread finished the copy)."""
