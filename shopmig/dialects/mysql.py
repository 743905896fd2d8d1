"""MariaDB 10.3+ and MySQL 8: DDL commits implicitly, ``ALGORITHM=INSTANT``, metadata locks,
``lock_wait_timeout`` in whole seconds, ``GET_LOCK``."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from shopmig.dialects.base import Dialect, DumpRewriter, url_password, views_reading

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
    not_instant_codes: ClassVar[frozenset[object]] = frozenset({1845, 1846})

    def _default_sa_dialect(self) -> sa.Dialect:
        from sqlalchemy.dialects import mysql

        return mysql.dialect()

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

    def list_databases_sql(self) -> str:
        """Every database (schema) on the server."""
        return "SELECT schema_name FROM information_schema.schemata"

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
        virtual = conn.execute(sa.text(
            "SELECT DISTINCT s.index_name FROM information_schema.statistics s "
            "JOIN information_schema.columns c ON c.table_schema = s.table_schema "
            "AND c.table_name = s.table_name AND c.column_name = s.column_name "
            "WHERE s.table_schema = :s AND s.table_name = :t AND c.extra LIKE :virtual"),
            {"s": schema, "t": target.table, "virtual": "%VIRTUAL%"}).scalars().all()
        if virtual and self.is_mariadb:
            blockers.append(f"the index {', '.join(sorted(virtual))} on a virtual generated "
                            "column (MariaDB cannot add a column instantly next to one)")
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

    # -------------------------------------------------------------- lint (shopmig.lint's rules)

    lock_rates_s_per_row: ClassVar[dict[str, float]] = {"rewrite": 1.2e-6, "index": 0.75e-6,
                                                        "scan": 0.15e-6}
    lock_rates_basis: ClassVar[str] = "MariaDB 10.11: ALGORITHM=COPY 1.2 s, index INPLACE 0.73 s"

    def lock_timeout_sql(self, seconds: float) -> str | None:
        """``SET SESSION lock_wait_timeout = 2`` (whole seconds, rounded up)."""
        return f"SET SESSION lock_wait_timeout = {max(1, int(-(-seconds // 1)))}"

    lock_timeout_variables = ("lock_wait_timeout",)
    has_online_alter_clauses = True
    check_constraint_copies_table = True
    volatile_default_effect = "copy"

    # -------------------------------------------------------------- objects

    def database_objects(self, conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
        """Every object of the current database as the server writes it: each table's
        ``SHOW CREATE TABLE`` cut into its columns, keys (PRIMARY, UNIQUE, FULLTEXT, SPATIAL),
        constraints (CHECK, FOREIGN KEY) and table options (engine, charset, collation,
        row format, comment; not the ``AUTO_INCREMENT`` counter), partitions, sequences,
        views (definition, check option, algorithm, security, definer), triggers, routines
        (with their parameters) and events, from ``information_schema``. The database's own
        name is taken out of definitions, so a copy under another name compares equal."""
        database = conn.exec_driver_sql("SELECT DATABASE()").scalar_one()
        strip = re.compile(re.escape(self.quote_always(database)) + r"\.")
        out: dict[tuple[str, str], dict[str, Any]] = {}
        charset, collation = conn.execute(sa.text(
            "SELECT default_character_set_name, default_collation_name "
            "FROM information_schema.schemata WHERE schema_name = :db"), {"db": database}).one()
        out[("database", "database")] = {"charset": charset, "collation": collation}
        tables = conn.execute(sa.text(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = :db ORDER BY table_name"), {"db": database}).all()
        for name, table_type in tables:
            if table_type == "VIEW":
                continue
            if table_type == "SEQUENCE":
                text = conn.exec_driver_sql(
                    f"SHOW CREATE SEQUENCE {self.quote_always(name)}").one()[1]
                out[("sequence", name)] = {"definition": strip.sub("", text)}
                continue
            text = conn.exec_driver_sql(f"SHOW CREATE TABLE {self.quote_always(name)}").one()[1]
            out.update(self._table_objects(name, strip.sub("", text), table_type))
        row: dict[str, Any]
        for found in conn.execute(sa.text(
            "SELECT table_name, partition_name, subpartition_name, partition_method, "
            "subpartition_method, partition_expression, subpartition_expression, "
            "partition_description, partition_ordinal_position, partition_comment "
            "FROM information_schema.partitions WHERE table_schema = :db "
            "AND partition_name IS NOT NULL"), {"db": database}).mappings():
            row = dict(found)
            full = f"{row['table_name']}.{row['partition_name']}" + (
                f".{row['subpartition_name']}" if row["subpartition_name"] else "")
            out[("partition", full)] = {
                "table": row["table_name"], "method": row["partition_method"],
                "expression": row["partition_expression"],
                "values": row["partition_description"],
                "position": row["partition_ordinal_position"],
                "subpartition": row["subpartition_method"],
                "subexpression": row["subpartition_expression"],
                "comment": row["partition_comment"]}
        for found in conn.execute(sa.text(
            "SELECT * FROM information_schema.views WHERE table_schema = :db"),
            {"db": database}).mappings():
            row = {k.lower(): v for k, v in found.items()}
            out[("view", row["table_name"])] = {
                "definition": strip.sub("", row["view_definition"]),
                "check_option": row["check_option"], "security": row["security_type"],
                "definer": row["definer"], "algorithm": row.get("algorithm"),
                "charset_client": row["character_set_client"],
                "collation_connection": row["collation_connection"]}
        for found in conn.execute(sa.text(
            "SELECT * FROM information_schema.triggers WHERE trigger_schema = :db"),
            {"db": database}).mappings():
            row = {k.lower(): v for k, v in found.items()}
            out[("trigger", f"{row['event_object_table']}.{row['trigger_name']}")] = {
                "table": row["event_object_table"],
                "timing": f"{row['action_timing']} {row['event_manipulation']}",
                "order": row["action_order"],
                "definition": strip.sub("", row["action_statement"]),
                "sql_mode": row["sql_mode"], "definer": row["definer"],
                "charset_client": row["character_set_client"],
                "collation_connection": row["collation_connection"]}
        params: dict[tuple[str, str], list[str]] = {}
        for param in conn.execute(sa.text(
            "SELECT specific_name, routine_type, parameter_mode, parameter_name, "
            "dtd_identifier FROM information_schema.parameters WHERE specific_schema = :db "
            "AND ordinal_position > 0 ORDER BY ordinal_position"), {"db": database}):
            params.setdefault((param[0], param[1]), []).append(
                " ".join(str(p) for p in param[2:] if p is not None))
        for found in conn.execute(sa.text(
            "SELECT * FROM information_schema.routines WHERE routine_schema = :db"),
            {"db": database}).mappings():
            row = {k.lower(): v for k, v in found.items()}
            kind = row["routine_type"]
            out[("routine", row["routine_name"])] = {
                "kind": kind.lower(),
                "parameters": params.get((row["specific_name"], kind), []),
                "returns": row["dtd_identifier"],
                "definition": strip.sub("", row["routine_definition"] or ""),
                "deterministic": row["is_deterministic"],
                "data_access": row["sql_data_access"], "security": row["security_type"],
                "sql_mode": row["sql_mode"], "comment": row["routine_comment"],
                "definer": row["definer"], "charset_client": row["character_set_client"],
                "collation_connection": row["collation_connection"],
                "database_collation": row["database_collation"]}
        for found in conn.execute(sa.text(
            "SELECT * FROM information_schema.events WHERE event_schema = :db"),
            {"db": database}).mappings():
            row = {k.lower(): v for k, v in found.items()}
            out[("event", row["event_name"])] = {
                "definition": strip.sub("", row["event_definition"]),
                "type": row["event_type"], "at": _text(row["execute_at"]),
                "every": f"{row['interval_value']} {row['interval_field']}"
                if row["interval_value"] else None,
                "starts": _text(row["starts"]), "ends": _text(row["ends"]),
                "status": row["status"], "on_completion": row["on_completion"],
                "comment": row["event_comment"], "definer": row["definer"],
                "sql_mode": row["sql_mode"], "time_zone": row["time_zone"]}
        return out

    @staticmethod
    def _table_objects(name: str, create: str, table_type: str
                       ) -> dict[tuple[str, str], dict[str, Any]]:
        """Cut one ``SHOW CREATE TABLE`` (one item per line) into named objects."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        lines = create.splitlines()
        body, tail = lines[1:], []
        for i, line in enumerate(body):
            if line.startswith(")"):
                body, tail = body[:i], body[i:]
                break
        position = 0
        for raw in body:
            line = raw.strip().rstrip(",")
            column = re.match(r"`((?:[^`]|``)+)`\s", line)
            if column:
                position += 1
                out[("column", f"{name}.{column.group(1).replace('``', '`')}")] = {
                    "table": name, "position": position, "definition": line}
                continue
            key = re.match(r"(?:(UNIQUE|FULLTEXT|SPATIAL|VECTOR)\s+)?KEY\s+`((?:[^`]|``)+)`",
                           line)
            constraint = re.match(r"CONSTRAINT\s+`((?:[^`]|``)+)`\s+(FOREIGN KEY|CHECK)", line)
            if line.startswith("PRIMARY KEY"):
                out[("primary key", name)] = {"table": name, "definition": line}
            elif constraint:
                kind = "foreign key" if constraint.group(2) == "FOREIGN KEY" else "check"
                out[("constraint", f"{name}.{constraint.group(1)}")] = {
                    "table": name, "type": kind, "definition": line}
            elif key:
                out[("index", f"{name}.{key.group(2)}")] = {"table": name, "definition": line}
            else:
                out[("table part", f"{name}.{line}")] = {"table": name}
        options = " ".join(part.strip() for part in tail)
        options = re.sub(r"\s+AUTO_INCREMENT=\d+", "", options)
        options = options.split(" PARTITION BY ")[0].split(" /*!50100 PARTITION BY ")[0]
        out[("table", name)] = {"table": name, "type": table_type, "options": options}
        return out

    # -------------------------------------------------------------- copies

    exact_copy_methods = ("dump",)
    backup_method = "mariadb-dump"
    backup_suffix = ".sql"
    tool_package = "mariadb-client"
    dump_tools = ("mariadb-dump", "mysqldump")
    restore_tools = ("mariadb", "mysql")

    def tool_args(self, url: URL, *, prompt_password: bool = False) -> list[str]:
        """``--socket`` or ``--protocol=TCP --host --port``, ``--user``; ``--password`` alone
        (the client asks for it) when ``prompt_password`` and the URL has one."""
        socket = url.query.get("unix_socket")
        if socket:
            args = [f"--socket={socket}"]
        else:
            args = ["--protocol=TCP", f"--host={url.host or 'localhost'}",
                    f"--port={url.port or 3306}"]
        if url.username:
            args.append(f"--user={url.username}")
        if prompt_password and url_password(url):
            args.append("--password")
        return args

    def tool_env(self, url: URL) -> dict[str, str]:
        """``MYSQL_PWD`` from the URL."""
        password = url_password(url)
        return {"MYSQL_PWD": password} if password else {}

    def dump_args(self, tool: str, url: URL, *, output: str | None,
                  conn: Connection | None = None) -> list[str]:
        """``mariadb-dump --single-transaction --routines --triggers --events --hex-blob
        --skip-add-locks``: one consistent snapshot of every table, routine, trigger and
        event. Views are left to :meth:`dump_rewriter` (``conn`` names them): the dump
        re-creates views in name order over placeholders, which fails for a view with a
        CHECK OPTION on another view. No ``LOCK TABLES`` in the dump: a table whose default
        takes a value from a sequence cannot be loaded under them."""
        args = [tool, *self.tool_args(url), "--single-transaction", "--routines",
                "--triggers", "--events", "--hex-blob", "--skip-add-locks",
                "--default-character-set=utf8mb4"]
        if conn is not None:
            args += [f"--ignore-table={url.database}.{view}" for view in self._views(conn)]
        if output:
            args.append(f"--result-file={output}")
        return [*args, "--", str(url.database)]

    def restore_args(self, tool: str, url: URL, *, input_path: str | None,
                     jobs: int = 1) -> list[str]:
        """``mariadb ... database`` reading the dump from standard input."""
        return [tool, *self.tool_args(url), "--", str(url.database)]

    def restore_reads_stdin(self) -> bool:
        """The ``mariadb`` client reads the dump from standard input."""
        return True

    def restore_shell_command(self, path: str, target: URL) -> str:
        """``mariadb -e 'CREATE DATABASE ...' && mariadb ... db < file``."""
        q = shlex.quote
        db = q(target.database or "restored")
        conn = " ".join(q(a) for a in self.tool_args(target, prompt_password=True))
        create = q(f"CREATE DATABASE {self.quote_always(target.database or 'restored')}")
        return f"mariadb {conn} -e {create} && mariadb {conn} {db} < {q(path)}"

    def create_copy_sql(self, name: str, conn: Connection) -> str:
        """``CREATE DATABASE name`` with the default character set and collation of the
        database ``conn`` is in (a dump does not carry them)."""
        row = conn.execute(sa.text(
            "SELECT default_character_set_name, default_collation_name "
            "FROM information_schema.schemata WHERE schema_name = DATABASE()")).one()
        return (f"CREATE DATABASE {self.quote(name)} CHARACTER SET {row[0]} "
                f"COLLATE {row[1]}")

    def generated_columns(self, conn: Connection) -> dict[tuple[str, str], tuple[str, bool]]:
        """From ``information_schema.columns`` (SQLAlchemy's reflection reads them as plain
        columns)."""
        rows = conn.execute(sa.text(
            "SELECT table_name, column_name, generation_expression, extra "
            "FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND generation_expression IS NOT NULL AND generation_expression <> ''")).all()
        return {(t, c): (expr, "STORED" in (extra or "").upper()) for t, c, expr, extra in rows}

    def check_constraints(self, conn: Connection) -> dict[str, list[tuple[str, str]]]:
        """Every CHECK from ``information_schema.check_constraints``: SQLAlchemy's reflection
        misses the ones written on a column. Identifiers in standard double quotes."""
        out: dict[str, list[tuple[str, str]]] = {}
        for table, name, clause in conn.execute(sa.text(
                "SELECT table_name, constraint_name, check_clause FROM "
                "information_schema.check_constraints WHERE constraint_schema = DATABASE() "
                "ORDER BY table_name, constraint_name")):
            ansi = re.sub(r"`((?:[^`]|``)*)`",
                          lambda m: '"' + m.group(1).replace("``", "`") + '"', clause)
            out.setdefault(table, []).append((name, ansi))
        return out

    def stream_type(self, column: sa.Column[Any]) -> sa.types.TypeEngine[Any] | None:
        """Text in a key or index needs a length: a ``TEXT`` primary key column becomes
        ``VARCHAR(255)``."""
        if column.primary_key and isinstance(column.type, sa.Text | sa.String) and not getattr(
                column.type, "length", None):
            return sa.String(255)
        return None

    def _views(self, conn: Connection) -> list[str]:
        """The views of the current database, each after the views it reads."""
        database = conn.exec_driver_sql("SELECT DATABASE()").scalar_one()
        rows = conn.execute(sa.text(
            "SELECT table_name, view_definition FROM information_schema.views "
            "WHERE table_schema = :db ORDER BY table_name"), {"db": database}).all()
        prefix = self.quote_always(database) + "."
        reads = {name: {other for other, _ in rows if other != name
                        and prefix + self.quote_always(other) in (definition or "")}
                 for name, definition in rows}
        ordered: list[str] = []
        while reads:
            ready = sorted(name for name, deps in reads.items() if not deps - set(ordered))
            if not ready:  # a cycle cannot exist; keep every view anyway
                ready = sorted(reads)
            ordered += ready
            for name in ready:
                reads.pop(name)
        return ordered

    def dump_rewriter(self, conn: Connection) -> DumpRewriter:
        """Take the source database's name out of table definitions (``mariadb-dump``
        writes a sequence default as ``nextval(`shop`.`seq`)``, which in a copy would draw
        from the *source's* sequence) and append the views, each after the views it reads,
        with the character set they were created with."""
        database = conn.exec_driver_sql("SELECT DATABASE()").scalar_one()
        views = []
        for name in self._views(conn):
            row = conn.exec_driver_sql(f"SHOW CREATE VIEW {self.quote_always(name)}").one()
            views.append((row[1], row[2], row[3]))
        return _MySQLDumpRewriter(self.quote_always(database), views)

    # -------------------------------------------------------------- verify (verification.engines)

    verify_checksum: ClassVar[bool] = True

    log_hash_rtol: ClassVar[float | None] = 2e-10
    """Doubles hash by ``round(log2(x) * 2**32)``: two values with the same hash differ by
    less than 1.62e-10 relative, so verify uses it only where the column's tolerance is at
    least this (its default is 1e-9 for doubles). MariaDB's float formatting costs more than
    the rest of the row together."""

    def binary(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """Text cast to binary (byte order, whatever the collation)."""
        return sa.cast(expr, sa.LargeBinary) if isinstance(expr.type, sa.String) else expr

    def binary_value(self, expr: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
        """A text literal cast to binary for a text column."""
        if isinstance(expr.type, sa.String):
            return sa.cast(sa.literal(value, sa.String), sa.LargeBinary)
        return sa.literal(value, expr.type)

    def key_bucket(self, keys: Sequence[sa.ColumnElement[Any]], buckets: int
                   ) -> sa.ColumnElement[Any]:
        """``crc32`` of the key masked to ``buckets``, signed (MariaDB compares an unsigned
        expression with an IN list a third slower)."""
        mask: sa.ColumnElement[Any] = sa.literal_column(str(int(buckets - 1)))
        key = keys[0] if len(keys) == 1 else sa.func.concat_ws("\x1f", *keys)
        return sa.cast(sa.func.crc32(key).op("&")(mask), sa.BigInteger)

    def row_hash(self, keys: Sequence[sa.ColumnElement[Any]],
                 values: Sequence[sa.ColumnElement[Any]],
                 log_floats: Sequence[bool]) -> sa.ColumnElement[Any]:
        """``crc32`` of the row written as text: every value through ``QUOTE()`` (NULL stays
        the bare word NULL, quotes and backslashes escaped), a single key last and unquoted,
        so the text reads unambiguously from the left; one ``crc32`` per row costs less than
        one per column. Doubles in ``log_floats`` are written as their quantized log."""
        parts = [self._hash_value(col, log) for col, log in zip(values, log_floats, strict=True)]
        tail = list(keys) if len(keys) == 1 else [sa.func.quote(k) for k in keys]
        return sa.func.crc32(sa.func.concat_ws(",", *parts, *tail))

    @staticmethod
    def _hash_value(col: sa.ColumnElement[Any], log: bool) -> sa.ColumnElement[Any]:
        if log:
            # positive doubles: their log, in 2**-32 steps (no float formatting, 3x cheaper);
            # zero, negatives and NULL: crc32 of their quoted text, moved out of the log's range
            return sa.case(
                (col > 0, sa.cast(sa.func.log2(col) * 4294967296, sa.BigInteger)),
                else_=sa.func.crc32(sa.func.quote(col)) + 2**50,
            )
        return sa.func.quote(col)

    # -------------------------------------------------------------- URL options (validation)

    SSL_FILES: ClassVar[tuple[str, ...]] = ("ca", "cert", "key", "capath")

    def url_option_problems(self, url: URL, connect_params: Mapping[str, Any]
                            ) -> list[str]:
        """For PyMySQL: every option is a ``Connection`` argument, the character set is one it
        knows, and the certificate files the ``ssl_*`` options name exist."""
        if url.get_driver_name() != "pymysql":
            return []
        import pymysql  # type: ignore[import-untyped]
        from pymysql.charset import charset_by_name  # type: ignore[import-untyped]

        known = set(inspect.signature(pymysql.connections.Connection.__init__).parameters)
        problems = [f"unknown option {name!r}" for name in connect_params
                    if name not in known or name == "self"]
        charset = connect_params.get("charset")
        if charset is not None and charset_by_name(str(charset)) is None:
            problems.append(f"charset {charset!r} is not a character set PyMySQL knows "
                            "(e.g. utf8mb4)")
        ssl = connect_params.get("ssl")
        files = {f"ssl_{k}": v for k, v in (ssl.items() if isinstance(ssl, dict) else ())}
        files.update({k: connect_params[k] for k in ("ssl_ca", "ssl_cert", "ssl_key")
                      if connect_params.get(k)})
        for name, path in sorted(files.items()):
            if name.removeprefix("ssl_") not in self.SSL_FILES or not isinstance(path, str):
                continue
            exists = os.path.isdir(path) if name == "ssl_capath" else os.path.isfile(path)
            if not exists:
                problems.append(f"{name} names no readable file ({path!r})")
        return problems
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
    # -------------------------------------------------------------- faults (issue 13)

    concurrent_ddl_codes: ClassVar[frozenset[object]] = frozenset({1684})
    """ER_WARN_I_S_SKIPPED_TABLE: "Table ... was skipped since its definition is being modified
    by concurrent DDL statement" (seen right after a migration's client was killed during
    ``ALTER TABLE ... ALGORITHM=COPY``, while its server thread finished the copy)."""


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class _MySQLDumpRewriter(DumpRewriter):
    def __init__(self, quoted_database: str, views: list[tuple[str, str, str]]) -> None:
        self.prefix = (quoted_database + ".").encode()
        self.views = views
        self.in_create = False

    def line(self, line: bytes) -> bytes:
        if line.startswith(b"CREATE TABLE "):
            self.in_create = True
        if self.in_create:
            if line.rstrip().endswith(b";"):
                self.in_create = False
            return line.replace(self.prefix, b"")
        return line

    def trailer(self) -> bytes:
        prefix = self.prefix.decode()
        parts = []
        for create, charset, collation in self.views:
            parts.append(f"SET character_set_client = {charset};\n"
                         f"SET collation_connection = {collation};\n"
                         f"{create.replace(prefix, '')};\n")
        if parts:
            parts.append("SET NAMES utf8mb4;\n")
        return "".join(parts).encode()
