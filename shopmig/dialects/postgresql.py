"""PostgreSQL 11+: transactional DDL, ``lock_timeout``, ``CONCURRENTLY``, advisory locks."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from shopmig.dialects.base import Dialect, url_password

if TYPE_CHECKING:
    from shopmig.migrate.options import MigrationOptions
    from shopmig.migrate.steps import Statement, StepImpact, StepPlan, TableState
    from shopmig.migrate.target import Target

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
    validates_check_separately = True
    lock_wait_codes: ClassVar[frozenset[object]] = frozenset({"40P01", "57014"})

    def _default_sa_dialect(self) -> sa.Dialect:
        from sqlalchemy.dialects import postgresql

        return postgresql.dialect()

    # -------------------------------------------------------------- server databases

    def admin_url(self, url: URL) -> URL:
        """The same server's ``postgres`` maintenance database."""
        return url.set(database="postgres")

    def database_exists_sql(self) -> str:
        """A row when the database ``:name`` exists."""
        return "SELECT 1 FROM pg_database WHERE datname = :name"

    def list_databases_sql(self) -> str:
        """Every database on the server but the templates."""
        return "SELECT datname FROM pg_database WHERE NOT datistemplate"

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
        finally:  # also after the session was killed: never hide the error in flight
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                if conn.in_transaction() or conn.invalidated:
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

    # -------------------------------------------------------------- catalog (the live table)

    def table_state(self, conn: Connection, target: Target) -> TableState:
        """The base catalog plus what only PostgreSQL has: whether the CHECK is validated,
        whether the index is valid (a failed ``CONCURRENTLY`` build leaves an invalid one),
        partitions, and the row estimate from the statistics."""
        state = super().table_state(conn, target)
        if not state.exists:
            return state
        rel = self._regclass(target)
        row = conn.execute(sa.text(
            "SELECT c.oid, c.relkind, n.nspname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(:rel)"),
            {"rel": rel}).one()
        oid, relkind, schema = row
        check = conn.execute(sa.text(
            "SELECT convalidated FROM pg_constraint WHERE conrelid = :oid AND conname = :name "
            "AND contype = 'c'"), {"oid": oid, "name": target.check_name(self)}).first()
        index = self._index_validity(conn, schema, target.index_name(self))
        tree = self._partition_tree(conn, oid) if relkind == "p" else []
        child_indexes = {
            (s, n): self._child_index(conn, s, _child_index_name(self, n, target))
            for s, n, _, kind, _ in tree if kind != "p"
        }
        invalid = tuple(name for (s, n), (state_, name) in child_indexes.items()
                        if state_ == "invalid")
        if index == "invalid" and relkind != "p":
            invalid = (*invalid, target.index_name(self))
        return state.but(
            check=None if check is None else ("valid" if check[0] else "not valid"),
            index=index, partitioned=relkind == "p",
            partitions=tuple((s, n) for s, n, *_ in tree),
            invalid_indexes=invalid,
            extra={**state.extra, "schema": schema, "partition_tree": tree,
                   "child_indexes": child_indexes},
        )

    def views_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """Views and materialized views that depend on the table, through any number of views
        (``pg_depend`` of their rewrite rules)."""
        rows = conn.execute(sa.text(
            "WITH RECURSIVE deps(oid, depth) AS ("
            " SELECT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid"
            " WHERE d.refobjid = to_regclass(:rel) AND r.ev_class <> to_regclass(:rel)"
            " UNION SELECT r.ev_class, deps.depth + 1 FROM deps"
            " JOIN pg_depend d ON d.refobjid = deps.oid JOIN pg_rewrite r ON r.oid = d.objid"
            " WHERE r.ev_class <> deps.oid AND deps.depth < 20) "
            "SELECT n.nspname, c.relname, c.relkind, min(deps.depth) FROM deps "
            "JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "GROUP BY 1, 2, 3 ORDER BY 4, 1, 2"), {"rel": self._regclass(target)}).all()
        return [(f"{s}.{n}", ("materialized view" if k == "m" else "view")
                 + (" on the table" if d == 1 else f" on a view ({d} levels)"))
                for s, n, k, d in rows]

    def triggers_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """User triggers on the table (``pg_trigger``, internal ones left out)."""
        rows = conn.execute(sa.text(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = to_regclass(:rel) AND NOT tgisinternal ORDER BY tgname"),
            {"rel": self._regclass(target)}).all()
        return [(r[0], r[1]) for r in rows]

    def _regclass(self, target: Target) -> str:
        return self.qualified(target.table, target.schema)

    def _index_validity(self, conn: Connection, schema: str, name: str) -> str | None:
        row = conn.execute(sa.text(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND n.nspname = :schema"),
            {"name": name, "schema": schema}).first()
        return None if row is None else ("valid" if row[0] else "invalid")

    def _child_index(self, conn: Connection, schema: str, name: str
                     ) -> tuple[str | None, str]:
        """(None/"invalid"/"valid"/"attached", name) of a partition's own index."""
        row = conn.execute(sa.text(
            "SELECT i.indisvalid, EXISTS (SELECT 1 FROM pg_inherits h "
            "WHERE h.inhrelid = c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND n.nspname = :schema"),
            {"name": name, "schema": schema}).first()
        if row is None:
            return None, name
        if not row[0]:
            return "invalid", name
        return ("attached" if row[1] else "valid"), name

    def _partition_tree(self, conn: Connection, oid: int
                        ) -> list[tuple[str, str, int, str, int]]:
        """Every partition under ``oid`` (schema, name, oid, relkind, parent oid), parents
        before their children."""
        rows = conn.execute(sa.text(
            "WITH RECURSIVE tree(oid, depth) AS ("
            " SELECT inhrelid, 1 FROM pg_inherits WHERE inhparent = :oid"
            " UNION ALL SELECT h.inhrelid, t.depth + 1 FROM pg_inherits h"
            " JOIN tree t ON h.inhparent = t.oid) "
            "SELECT n.nspname, c.relname, c.oid, c.relkind, t.depth, "
            "(SELECT inhparent FROM pg_inherits WHERE inhrelid = c.oid) "
            "FROM tree t JOIN pg_class c ON c.oid = t.oid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') ORDER BY t.depth, n.nspname, c.relname"),
            {"oid": oid}).all()
        return [(r[0], r[1], int(r[2]), r[3], int(r[5])) for r in rows]

    def names_in_use(self, conn: Connection, target: Target) -> list[str]:
        """An index name is taken by any relation of the schema; a constraint name by any
        constraint of the table."""
        used = set(super().names_in_use(conn, target))
        schema = conn.execute(sa.text(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass(:rel)"), {"rel": self._regclass(target)}).scalar()
        index = target.index_name(self)
        if conn.execute(sa.text(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND n.nspname = :schema"),
            {"name": index, "schema": schema}).first():
            used.add(index)
        check = target.check_name(self)
        if conn.execute(sa.text(
            "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(:rel) AND conname = :n"),
            {"rel": self._regclass(target), "n": check}).first():
            used.add(check)
        return sorted(used)

    def estimated_rows(self, conn: Connection, target: Target) -> int | None:
        """``pg_class.reltuples`` (of every partition for a partitioned table); an exact count
        when the table was never analyzed."""
        estimate = conn.execute(sa.text(
            "SELECT sum(greatest(c.reltuples, 0)), bool_or(c.reltuples < 0) FROM pg_class c "
            "WHERE c.oid = to_regclass(:rel) OR c.oid IN (SELECT inhrelid FROM pg_inherits "
            "WHERE inhparent = to_regclass(:rel))"), {"rel": self._regclass(target)}).one()
        if estimate[0] is None or estimate[1] or estimate[0] == 0:
            return self.count_rows(conn, target)
        return int(estimate[0])

    def server_supports(self, state: TableState) -> list[str]:
        """PostgreSQL 11+ adds a column with a constant default without a rewrite."""
        if self.server_version is not None and self.server_version < (11,):
            return ["PostgreSQL before 11 rewrites the whole table to add a column with a "
                    "default: upgrade the server (or rehearse the rewrite and allow it with "
                    "--allow-table-rewrite)"]
        return []

    # -------------------------------------------------------------- steps

    _WAITING = ("While the step waits for its lock (behind any open transaction that touched "
                "the table), every later query on the table queues behind it, reads too; "
                "lock_timeout bounds that wait, then shopmig retries.")

    def add_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``ADD COLUMN ... DEFAULT ... NOT NULL``: PostgreSQL 11+ keeps a constant default in
        the catalog, so no row is rewritten; the step still takes ACCESS EXCLUSIVE."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import Statement

        target = state.target
        old = bool(self.server_supports(state))
        notes = ([self.server_supports(state)[0]] if old else
                 ["PostgreSQL 11+ stores a constant default in the catalog: no rewrite."])
        impact = self.impact(
            state, ADD_STATUS,
            f"add {target.column} NOT NULL DEFAULT 'pending'"
            + ("" if old else " (catalog only)"),
            lock="ACCESS EXCLUSIVE on the table, held for milliseconds"
            + ("" if old else "; waits at most lock_timeout to get it"),
            blocks_writes=(f"for the whole rewrite of {self.size(state)}" if old else
                           "reads and writes, while the lock is held (milliseconds) and while "
                           "it is waited for (at most lock_timeout per attempt)"),
            rewrites=old, scans=old, notes=[*notes, self._WAITING],
            queues="every query on the table, reads too, while the lock is waited for or held")
        return self.plan(ADD_STATUS, "up", [Statement(
            f"ALTER TABLE {self.table_sql(target)} ADD COLUMN "
            f"{self.column_definition(target)}")], impact,
            state.but(column=True, columns=(*state.columns, target.column)), rewrites=old)

    def drop_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``DROP COLUMN``: the catalog only (the values stay on disk until rows are
        rewritten), under ACCESS EXCLUSIVE for milliseconds."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(
            state, ADD_STATUS, f"drop the {target.column} column (its values are lost)",
            lock="ACCESS EXCLUSIVE, milliseconds", blocks_writes="reads and writes, briefly",
            notes=["The values written since the upgrade are lost.", self._WAITING],
            queues="every query on the table while the lock is waited for or held")
        return self.plan(ADD_STATUS, "down", [Statement(
            f"ALTER TABLE {self.table_sql(target)} DROP COLUMN {self.quote(target.column)}")],
            impact, state.but(column=False, columns=tuple(
                c for c in state.columns if c != target.column)))

    def add_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``ADD CONSTRAINT ... CHECK ... NOT VALID``: new and updated rows are checked at
        once; existing rows are checked by the next step without blocking writes."""
        from shopmig.migrate.options import STATUS_CHECK
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(
            state, STATUS_CHECK, f"add CHECK ({self.check_expression(target)}) NOT VALID",
            lock="ACCESS EXCLUSIVE, milliseconds (no row is read)",
            blocks_writes="reads and writes, briefly",
            notes=["NOT VALID: new and updated rows are checked at once; existing rows are "
                   "checked by the next step without blocking writes.", self._WAITING],
            queues="every query on the table while the lock is waited for or held")
        return self.plan(STATUS_CHECK, "up", [Statement(
            f"ALTER TABLE {self.table_sql(target)} ADD CONSTRAINT "
            f"{self.quote(target.check_name(self))} CHECK ({self.check_expression(target)}) "
            "NOT VALID")], impact, state.but(check="not valid"))

    def drop_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``DROP CONSTRAINT``."""
        from shopmig.migrate.options import STATUS_CHECK
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(state, STATUS_CHECK, "drop the CHECK constraint",
                             lock="ACCESS EXCLUSIVE, milliseconds", blocks_writes="briefly",
                             queues="every query on the table while the lock is waited for "
                             "or held")
        return self.plan(STATUS_CHECK, "down", [Statement(
            f"ALTER TABLE {self.table_sql(target)} DROP CONSTRAINT "
            f"{self.quote(target.check_name(self))}")], impact, state.but(check=None))

    def validate_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``VALIDATE CONSTRAINT``: scans every row under SHARE UPDATE EXCLUSIVE, so reads
        and writes go on."""
        from shopmig.migrate.options import VALIDATE_CHECK
        from shopmig.migrate.steps import Statement

        target = state.target
        impact = self.impact(
            state, VALIDATE_CHECK, f"VALIDATE CONSTRAINT {target.check_name(self)}",
            lock="SHARE UPDATE EXCLUSIVE for the scan", blocks_writes="no",
            scans=True, queues="other schema changes and VACUUM on the table only",
            notes=["VALIDATE CONSTRAINT reads every row; reads and writes go on meanwhile."])
        return self.plan(VALIDATE_CHECK, "up", [Statement(
            f"ALTER TABLE {self.table_sql(target)} VALIDATE CONSTRAINT "
            f"{self.quote(target.check_name(self))}")], impact, state.but(check="valid"))

    def invalidate_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """Drop the CHECK and add it again ``NOT VALID`` (one transaction)."""
        from shopmig.migrate.options import VALIDATE_CHECK
        from shopmig.migrate.steps import Statement

        target = state.target
        table, name = self.table_sql(target), self.quote(target.check_name(self))
        impact = self.impact(
            state, VALIDATE_CHECK, "mark the CHECK NOT VALID again (drop and re-add NOT VALID)",
            lock="ACCESS EXCLUSIVE, milliseconds", blocks_writes="briefly",
            queues="every query on the table while the lock is waited for or held")
        return self.plan(VALIDATE_CHECK, "down", [
            Statement(f"ALTER TABLE {table} DROP CONSTRAINT {name}"),
            Statement(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK "
                      f"({self.check_expression(target)}) NOT VALID"),
        ], impact, state.but(check="not valid"))

    def repair_sql(self, state: TableState) -> list[Statement]:
        """Drop the invalid indexes a failed or killed ``CONCURRENTLY`` build left behind."""
        from shopmig.migrate.steps import Statement

        schema = state.target.schema
        return [Statement(f"DROP INDEX CONCURRENTLY IF EXISTS {self.qualified(name, schema)}",
                          autocommit=True) for name in state.invalid_indexes]

    def create_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``CREATE INDEX CONCURRENTLY`` outside a transaction (reads and writes go on); an
        invalid index left by a failed build is dropped first. A partitioned table gets the
        partitioned recipe: the index ``ON ONLY`` the parent, ``CONCURRENTLY`` on each
        partition, then ``ATTACH PARTITION`` (the parent's index becomes valid with the
        last)."""
        from shopmig.migrate.options import STATUS_INDEX
        from shopmig.migrate.steps import Statement

        target = state.target
        column = self.quote(target.column)
        schema = target.schema
        index = target.index_name(self)
        statements = self.repair_sql(state)
        notes = ["CREATE INDEX CONCURRENTLY runs outside a transaction: if it fails or is "
                 "killed it leaves an invalid index, which shopmig drops before the retry."]
        if state.joined_transaction:
            impact = self.impact(
                state, STATUS_INDEX, f"CREATE INDEX {index} (inside your open transaction)",
                lock="SHARE on the table until your transaction ends", blocks_writes="yes",
                scans=True, queues="every write on the table until your transaction ends",
                notes=["CONCURRENTLY cannot run inside a transaction, and this step runs inside "
                       "the one open on your connection: the plain CREATE INDEX blocks writes "
                       "until you commit. Run it on its own connection to build it online."])
            return self.plan(STATUS_INDEX, "up", [Statement(
                f"CREATE INDEX {self.quote(index)} ON {self.table_sql(target)} ({column})")],
                impact, state.but(index="valid"))
        if not state.partitioned:
            statements.append(Statement(
                f"CREATE INDEX CONCURRENTLY {self.quote(index)} ON "
                f"{self.table_sql(target)} ({column})", autocommit=True))
        else:
            notes.append("Partitioned table: the index is created ON ONLY the parent (invalid "
                         "until every partition's index is attached), CONCURRENTLY on each "
                         "partition, then attached.")
            statements += self._partitioned_index(state, index, schema, column)
        impact = self.impact(
            state, STATUS_INDEX, f"CREATE INDEX CONCURRENTLY {index}",
            lock="SHARE UPDATE EXCLUSIVE (waits for transactions already running to finish)",
            blocks_writes="no", scans=True, notes=notes, transactional=False,
            queues="other schema changes and VACUUM on the table only")
        return self.plan(STATUS_INDEX, "up", statements, impact,
                         state.but(index="valid", invalid_indexes=()))

    def _partitioned_index(self, state: TableState, index: str, schema: str | None,
                           column: str) -> list[Statement]:
        from shopmig.migrate.steps import Statement

        target = state.target
        tree = state.extra.get("partition_tree", [])
        children: dict[tuple[str, str], tuple[str | None, str]] = state.extra.get(
            "child_indexes", {})
        top_oid = tree[0][4] if tree else None
        index_of = {top_oid: self.qualified(index, schema)}  # a table's oid -> its index
        out = [Statement(f"CREATE INDEX IF NOT EXISTS {self.quote(index)} ON ONLY "
                         f"{self.table_sql(target)} ({column})")]
        for s, n, oid, kind, parent in tree:
            name = _child_index_name(self, n, target)
            index_of[oid] = self.qualified(name, s)
            attach = Statement(f"ALTER INDEX {index_of[parent]} ATTACH PARTITION "
                               f"{self.qualified(name, s)}")
            if kind == "p":  # a sub-partitioned partition: its own ON ONLY index, attached
                out.append(Statement(f"CREATE INDEX IF NOT EXISTS {self.quote(name)} ON ONLY "
                                     f"{self.qualified(n, s)} ({column})"))
                out.append(attach)
                continue
            status = children.get((s, n), (None, name))[0]
            if status != "attached":
                if status in (None, "invalid"):
                    out.append(Statement(f"CREATE INDEX CONCURRENTLY {self.quote(name)} ON "
                                         f"{self.qualified(n, s)} ({column})", autocommit=True))
                out.append(attach)
        return out

    def drop_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """``DROP INDEX CONCURRENTLY`` (a partitioned index cannot be dropped concurrently:
        plain ``DROP INDEX``, which takes ACCESS EXCLUSIVE on the table briefly)."""
        from shopmig.migrate.options import STATUS_INDEX
        from shopmig.migrate.steps import Statement

        target = state.target
        name = self.qualified(target.index_name(self), target.schema)
        if state.partitioned or state.joined_transaction:
            impact = self.impact(state, STATUS_INDEX, "DROP INDEX",
                                 lock="ACCESS EXCLUSIVE on the table and its partitions, brief",
                                 blocks_writes="reads and writes, briefly",
                                 queues="every query on the table while the lock is waited "
                                 "for or held")
            statements = [Statement(f"DROP INDEX IF EXISTS {name}")]
        else:
            impact = self.impact(state, STATUS_INDEX, "DROP INDEX CONCURRENTLY",
                                 lock="SHARE UPDATE EXCLUSIVE", blocks_writes="no",
                                 transactional=False, queues="other schema changes only")
            statements = [Statement(f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
                                    autocommit=True)]
        return self.plan(STATUS_INDEX, "down", statements, impact, state.but(index=None))


    # -------------------------------------------------------------- naive (the lesson's contrast)

    def naive_add_column_statements(self, target: Target) -> list[str]:
        """Add it nullable, backfill every row, then the default and NOT NULL: one long
        transaction holding ACCESS EXCLUSIVE."""
        from shopmig.migrate.options import STATUS_DEFAULT

        table, column = self.table_sql(target), self.quote(target.column)
        default = self.literal(STATUS_DEFAULT)
        return [
            f"ALTER TABLE {table} ADD COLUMN {self.nullable_column_definition(target)}",
            f"UPDATE {table} SET {column} = {default}",
            f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}",
            f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL",
        ]

    def naive_impact(self, rows: int | None = None) -> StepImpact:
        """The backfill writes a new version of every row while every query waits."""
        from shopmig.migrate.options import ADD_STATUS
        from shopmig.migrate.steps import StepImpact

        size = f"{rows:,} rows" if rows is not None else "the whole table"
        return StepImpact(
            ADD_STATUS, self.name,
            "add status nullable, UPDATE every row to 'pending', SET DEFAULT, SET NOT NULL",
            "ACCESS EXCLUSIVE until the backfill commits", f"for the whole backfill of {size}",
            False, True,
            ["The table file stays, but the UPDATE writes a new version of every row (the "
             "table roughly doubles until VACUUM) while every read and write waits."],
            queues="every query on the table, reads too, until the backfill commits")

    def storage_identity(self, conn: Connection, target: Target) -> str | None:
        """The table's file node."""
        value = conn.execute(sa.text("SELECT pg_relation_filenode(to_regclass(:t))"),
                             {"t": self.table_sql(target)}).scalar()
        return None if value is None else str(value)

    # -------------------------------------------------------------- lint (shopmig.lint's rules)

    lock_rates_s_per_row: ClassVar[dict[str, float]] = {"rewrite": 2.0e-6, "index": 0.35e-6,
                                                        "scan": 0.12e-6}
    lock_rates_basis: ClassVar[str] = (
        "PostgreSQL 15: ADD COLUMN with a volatile default 1.9 s, ALTER COLUMN TYPE 1.9 s, "
        "VALIDATE CONSTRAINT 0.12 s, CREATE INDEX CONCURRENTLY 0.31 s")

    def lock_timeout_sql(self, seconds: float) -> str | None:
        """``SET lock_timeout = '2s'``."""
        return f"SET lock_timeout = '{seconds:g}s'"

    lock_timeout_variables = ("lock_timeout",)
    has_concurrent_index_builds = True
    has_not_valid_constraints = True
    set_not_null_scans = True
    valid_check_spares_not_null_scan_from = (12,)
    constant_default_without_rewrite_from = (11,)
    alter_column_type_rewrites = True
    update_writes_new_row_versions = True
    volatile_default_effect = "rewrite"

    # -------------------------------------------------------------- objects

    def database_objects(self, conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
        """Every object of the database from the catalogs, as the server itself writes them
        (``pg_get_*def``), without oids, owners, privileges or counters: schemas, extensions,
        tables (options, partition key and bound, comments), columns (type, default,
        identity, generated expression, collation, storage), constraints (with their
        validity), indexes (definition, validity), triggers, views and materialized views,
        sequences, types (enums, domains, composites, ranges), collations, routines, rules,
        policies, event triggers. Objects that belong to an extension are the extension's."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, sql in _PG_OBJECT_QUERIES:
            for row in conn.execute(sa.text(sql)).mappings():
                props = {k: v for k, v in row.items() if k != "name"}
                for prop in ("definition", "default", "generated"):
                    if isinstance(props.get(prop), str) and kind != "routine":
                        props[prop] = _CAST_CHAIN.sub(r"\1", props[prop])
                if kind == "constraint" and props.get("type") == "check":
                    props["definition"] = _bare_check(props["definition"])
                out[(kind, row["name"])] = props
        return out

    # -------------------------------------------------------------- copies

    exact_copy_methods = ("template", "dump")
    backup_method = "pg_dump"
    backup_suffix = ".dump"
    tool_package = "postgresql-client"
    dump_tools = ("pg_dump",)
    restore_tools = ("pg_restore",)
    versioned_bin: ClassVar[str] = "/usr/lib/postgresql"
    """Where Debian/Ubuntu install one ``bin`` folder per PostgreSQL major version."""

    def server_major(self, url: URL) -> int:
        """The major version of the server at ``url`` (asked through its ``postgres``
        database, so ``url``'s own database need not exist)."""
        from shopmig.db import open_engine, translate_error

        engine = open_engine(self.admin_url(url), pooled=False)
        try:
            with engine.connect() as conn:
                return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
        except sa.exc.DBAPIError as exc:
            raise translate_error(exc, url) from None
        finally:
            engine.dispose()

    def find_tool(self, names: Sequence[str], url: URL) -> str:
        """The newest ``pg_dump``/``pg_restore`` whose major version is at least the server's:
        on PATH or in Debian's versioned folders. Raises
        :class:`~shopmig.errors.BackupToolMissingError` naming the package to install."""
        from shopmig.errors import BackupToolMissingError

        tool = names[0]
        found: list[tuple[int, str]] = []
        versioned = Path(self.versioned_bin)
        if versioned.is_dir():
            for folder in versioned.iterdir():
                if folder.name.isdigit():
                    path = shutil.which(tool, path=str(folder / "bin"))
                    if path:
                        found.append((int(folder.name), path))
        on_path = shutil.which(tool)
        if on_path:
            try:
                out = subprocess.run([on_path, "--version"], capture_output=True, text=True,
                                     timeout=60, check=False).stdout
            except (OSError, subprocess.TimeoutExpired):
                out = ""
            match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
            if match:
                found.append((int(match.group(1)), on_path))
        if not found:
            raise BackupToolMissingError(tool, self.tool_package,
                                         f"{tool} is not installed (not on PATH)")
        server = self.server_major(url)
        newest = max(found, key=lambda f: f[0])
        if newest[0] < server:
            raise BackupToolMissingError(
                tool, f"{self.tool_package}-{server}",
                f"the newest {tool} found ({newest[1]}) is version {newest[0]}, "
                f"older than the server (version {server})")
        return newest[1]

    def tool_args(self, url: URL, *, prompt_password: bool = False) -> list[str]:
        """``--host``, ``--port``, ``--username`` (never a password)."""
        args = []
        host = url.host or url.query.get("host")
        if host:
            args += ["--host", str(host)]
        if url.port:
            args += ["--port", str(url.port)]
        if url.username:
            args += ["--username", url.username]
        return args

    def tool_env(self, url: URL) -> dict[str, str]:
        """``PGPASSWORD`` (from the URL), SSL settings, a connect timeout."""
        env = {"PGCONNECT_TIMEOUT": "10"}
        password = url_password(url)
        if password:
            env["PGPASSWORD"] = password
        for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
            value = url.query.get(key)
            if value:
                env[f"PG{key.upper()}"] = str(value)
        return env

    def dump_args(self, tool: str, url: URL, *, output: str | None,
                  conn: Connection | None = None) -> list[str]:
        """``pg_dump --format=custom --no-owner`` of ``url``'s database, to ``output`` (a
        file) or standard output."""
        args = [tool, "--format=custom", "--no-owner", *self.tool_args(url)]
        if output:
            args.append(f"--file={output}")
        return [*args, f"--dbname={url.database}"]

    def restore_args(self, tool: str, url: URL, *, input_path: str | None,
                     jobs: int = 1) -> list[str]:
        """``pg_restore --no-owner --exit-on-error`` into ``url``'s database, from
        ``input_path`` (``--jobs`` in parallel) or standard input."""
        args = [tool, "--no-owner", "--exit-on-error", *self.tool_args(url),
                f"--dbname={url.database}"]
        if input_path:
            return [*args, *([f"--jobs={jobs}"] if jobs > 1 else []), input_path]
        return args

    def restore_shell_command(self, path: str, target: URL) -> str:
        """``createdb ... && pg_restore ...``: what a person pastes to restore a backup."""
        q = shlex.quote
        db = q(target.database or "restored")
        conn = " ".join(q(a) for a in self.tool_args(target))
        return (f"createdb {conn} {db} && "
                f"pg_restore --no-owner --exit-on-error {conn} --dbname={db} {q(path)}")

    restore_jobs_min_bytes: ClassVar[int] = 1 << 30
    """From this database size on, a copy goes through a file and ``pg_restore --jobs``."""
    stores_time_zones = True
    virtual_generated_columns = False

    def restore_jobs(self, conn: Connection) -> int:
        """Parallel ``pg_restore`` workers for a copy: up to 4 (one per core) for a database
        of :attr:`restore_jobs_min_bytes` or more on a machine with 4 cores or more, else 1:
        ``pg_dump`` piped into ``pg_restore`` runs both at once, which a dump file cannot
        (on 2 cores the pipe copied a 1M-order shop in 11 s, file + ``--jobs 2`` in 16 s:
        ``benchmarks/results/copy.md``)."""
        cores = os.cpu_count() or 1
        if cores < 4:
            return 1
        size = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
        return min(4, cores) if int(size or 0) >= self.restore_jobs_min_bytes else 1

    def stream_type(self, column: sa.Column[Any]) -> sa.types.TypeEngine[Any] | None:
        """An enum from another database (no type name here) becomes text of its longest
        value."""
        if isinstance(column.type, sa.Enum):
            return sa.String(max((len(v) for v in column.type.enums), default=1))
        return None

    def template_blockers(self, conn: Connection, database: str) -> list[str]:
        """The other sessions connected to ``database`` (each stops ``CREATE DATABASE ...
        TEMPLATE``), as ``pid N (user, application)``. ``conn`` is on another database."""
        rows = conn.execute(sa.text(
            "SELECT pid, usename, application_name FROM pg_stat_activity "
            "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).all()
        return [f"pid {pid} ({user}{', ' + app if app else ''})" for pid, user, app in rows]

    def create_copy_sql(self, name: str, conn: Connection) -> str:
        """``CREATE DATABASE name TEMPLATE template0`` with the encoding, collation, ctype
        and locale provider of the database ``conn`` is in (what ``pg_dump`` leaves out)."""
        row = conn.execute(sa.text(
            "SELECT pg_encoding_to_char(encoding) AS encoding, datcollate, datctype, "
            "to_jsonb(d) ->> 'datlocprovider' AS provider, "
            "coalesce(to_jsonb(d) ->> 'daticulocale', to_jsonb(d) ->> 'datlocale') AS icu "
            "FROM pg_database d WHERE datname = current_database()")).mappings().one()
        sql = (f"CREATE DATABASE {self.quote(name)} TEMPLATE template0 "
               f"ENCODING {self.literal(row['encoding'])} "
               f"LC_COLLATE {self.literal(row['datcollate'])} "
               f"LC_CTYPE {self.literal(row['datctype'])}")
        if row["provider"] == "i" and row["icu"]:
            sql += f" LOCALE_PROVIDER icu ICU_LOCALE {self.literal(row['icu'])}"
        return sql

    def reset_counters_sql(self, table: sa.Table) -> list[str]:
        """After rows with their own keys were streamed in: move each identity or serial
        column's sequence past the largest value, so the next insert gets a fresh key."""
        out = []
        name = self.qualified(table.name, table.schema)
        for column in table.columns:
            if column.primary_key and column.autoincrement is not False and isinstance(
                    column.type, sa.Integer) and len(table.primary_key.columns) == 1:
                col = self.quote(column.name)
                out.append(
                    f"SELECT setval(pg_get_serial_sequence({self.literal(name)}, "
                    f"{self.literal(column.name)}), (SELECT max({col}) FROM {name})) "
                    f"WHERE pg_get_serial_sequence({self.literal(name)}, "
                    f"{self.literal(column.name)}) IS NOT NULL "
                    f"AND EXISTS (SELECT 1 FROM {name})")
        return out
    # -------------------------------------------------------------- URL options (validation)

    SSL_MODES: ClassVar[tuple[str, ...]] = ("disable", "allow", "prefer", "require",
                                            "verify-ca", "verify-full")
    FILE_OPTIONS: ClassVar[tuple[str, ...]] = ("sslrootcert", "sslcert", "sslkey", "sslcrl",
                                               "passfile")

    def url_option_problems(self, url: URL, connect_params: Mapping[str, Any]
                            ) -> list[str]:
        """libpq's own check of the option names (``make_conninfo`` parses them without
        connecting), ``sslmode`` one of libpq's modes, and the files that options name
        exist."""
        import psycopg
        from psycopg.conninfo import make_conninfo

        own = set(inspect.signature(psycopg.Connection.connect).parameters)
        conninfo = {k: str(v) for k, v in connect_params.items()
                    if k not in own and v is not None}
        problems = []
        try:
            make_conninfo("", **conninfo)
        except psycopg.ProgrammingError as exc:
            problems.append(str(exc).strip())
        mode = conninfo.get("sslmode")
        if mode is not None and mode not in self.SSL_MODES:
            problems.append(f"sslmode {mode!r} is not one of {', '.join(self.SSL_MODES)}")
        for name in self.FILE_OPTIONS:
            path = conninfo.get(name)
            if path and not (name == "sslrootcert" and path == "system") and not os.path.isfile(
                    path):
                problems.append(f"{name} names no readable file ({path!r})")
        return problems
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

    # -------------------------------------------------------------- verify (verification.engines)

    verify_checksum: ClassVar[bool] = True

    def binary(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """Text under the ``C`` collation (byte order)."""
        return expr.collate("C") if isinstance(expr.type, sa.String) else expr

    def key_bucket(self, keys: Sequence[sa.ColumnElement[Any]], buckets: int
                   ) -> sa.ColumnElement[Any]:
        """``hashtext`` of the key's text, masked to ``buckets`` (several key columns: their
        texts joined by a separator no key holds)."""
        mask: sa.ColumnElement[Any] = sa.literal_column(str(int(buckets - 1)))
        texts = [sa.cast(k, sa.Text) for k in keys]
        text = texts[0] if len(texts) == 1 else sa.func.concat_ws("\x1f", *texts)
        return sa.func.hashtext(self.binary(text)).op("&")(mask)

    def _column_hash(self, col: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """A 64-bit hash of one column, NULL-safe (NULL hashes to a constant)."""
        typ = col.type
        if isinstance(typ, sa.Float | sa.Numeric) and not isinstance(typ, sa.Integer):
            h = sa.func.hashfloat8extended(sa.cast(col, sa.Double), 0)
        elif isinstance(typ, sa.Integer):
            h = sa.func.hashint8extended(sa.cast(col, sa.BigInteger), 0)
        else:
            h = sa.func.hashtextextended(self.binary(sa.cast(col, sa.Text)), 0)
        return sa.func.coalesce(h, sa.literal(7919, sa.BigInteger))

    def row_hash(self, keys: Sequence[sa.ColumnElement[Any]],
                 values: Sequence[sa.ColumnElement[Any]],
                 log_floats: Sequence[bool]) -> sa.ColumnElement[Any]:
        """The 64-bit column hashes, each shifted by its position, XORed together (floats
        hash by their double value: exact)."""
        out: sa.ColumnElement[Any] | None = None
        for i, col in enumerate([*keys, *values]):
            h = self._column_hash(col)
            h = h.op("<<")(sa.literal_column(str(int(i)))) if i else h
            out = h if out is None else out.op("#")(h)
        assert out is not None
        return out

    @contextlib.contextmanager
    def hash_grouping(self, conn: Connection) -> Iterator[None]:
        """Have the planner group by hashing for one query.

        The planner takes a bucket expression over a unique key for as many groups as rows, so
        it sorts every row (on disk, at 10M rows) to group them into a few thousand buckets; a
        hash aggregate does the same in a third less time. ``enable_sort`` is set for the
        current transaction only and put back straight after (on an error the transaction is
        void, and the setting goes with it)."""
        setting = sa.func.set_config
        old = conn.execute(sa.select(sa.func.current_setting("enable_sort"))).scalar_one()
        conn.execute(sa.select(setting("enable_sort", "off", sa.true())))
        yield
        conn.execute(sa.select(setting("enable_sort", old, sa.true())))


def _child_index_name(dialect: Dialect, partition: str, target: Target) -> str:
    from shopmig.migrate.target import Target as _Target

    return _Target(partition, target.column).index_name(dialect)


# ------------------------------------------------------------------ objects (catalog queries)

_CAST_CHAIN = re.compile(r"(::[a-z_][\w ]*(?:\(\d+(?:,\d+)?\))?(?:\[\])?)"
                         r"(?:::[a-z_][\w ]*(?:\(\d+(?:,\d+)?\))?(?:\[\])?)+")
"""A chain of casts (``'a'::character varying::text``): PostgreSQL deparses an expression it
parsed from its own deparsed text with one cast more (a CHECK after ``pg_restore``); the first
cast says what the value is, so only it is kept."""

def _bare_check(definition: str) -> str:
    """A CHECK without its casts and parentheses: PostgreSQL deparses ``x IN ('a', 'b')`` on
    a varchar as ``(x)::text = ANY ((ARRAY['a'::varchar, ...])::text[])`` and, once that text
    is parsed again (``pg_restore``), as ``x::text = ANY (ARRAY['a'::varchar::text, ...])``:
    the same check, compared without the casts."""
    text = re.sub(r"::[a-z_][\w ]*(?:\(\d+(?:,\d+)?\))?(?:\[\])?", "", definition)
    return re.sub(r"[()\s]+", " ", text).strip()


_USER_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'")


def _qname(ns: str, name: str) -> str:
    """``name`` in ``public``, ``schema.name`` elsewhere."""
    return f"CASE WHEN {ns} = 'public' THEN '' ELSE {ns} || '.' END || {name}"


def _not_extension_member(catalog: str, oid: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass "
            f"AND e.objid = {oid} AND e.deptype = 'e')")


_REL = _qname("n.nspname", "c.relname")

_PG_OBJECT_QUERIES: tuple[tuple[str, str], ...] = (
    ("database", """
        SELECT 'database' AS name, pg_encoding_to_char(d.encoding) AS encoding,
               d.datcollate AS collate, d.datctype AS ctype,
               to_jsonb(d) ->> 'datlocprovider' AS locale_provider,
               coalesce(to_jsonb(d) ->> 'daticulocale', to_jsonb(d) ->> 'datlocale')
                   AS icu_locale
        FROM pg_database d WHERE d.datname = current_database()"""),
    ("schema", f"""
        SELECT n.nspname AS name, obj_description(n.oid, 'pg_namespace') AS comment
        FROM pg_namespace n WHERE {_USER_NS} AND n.nspname <> 'public'
          AND {_not_extension_member('pg_namespace', 'n.oid')}"""),
    ("extension", """
        SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"""),
    ("table", f"""
        SELECT {_REL} AS name, n.nspname AS schema, c.relname AS table,
               CASE c.relkind WHEN 'p' THEN 'partitioned' WHEN 'f' THEN 'foreign'
                    ELSE 'ordinary' END AS kind,
               c.relpersistence AS persistence, c.reloptions AS options,
               am.amname AS access_method,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
               (SELECT {_qname('pn.nspname', 'pc.relname')} FROM pg_inherits i
                  JOIN pg_class pc ON pc.oid = i.inhparent
                  JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                 WHERE i.inhrelid = c.oid AND c.relispartition) AS partition_of,
               pg_get_expr(c.relpartbound, c.oid) AS partition_bound,
               (SELECT array_agg({_qname('pn.nspname', 'pc.relname')} ORDER BY i.inhseqno)
                  FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                  JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                 WHERE i.inhrelid = c.oid AND NOT c.relispartition) AS inherits,
               c.relreplident AS replica_identity, c.relrowsecurity AS row_security,
               c.relforcerowsecurity AS force_row_security,
               obj_description(c.oid, 'pg_class') AS comment
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_am am ON am.oid = c.relam
        WHERE c.relkind IN ('r', 'p', 'f') AND {_USER_NS}
          AND {_not_extension_member('pg_class', 'c.oid')}"""),
    ("column", f"""
        SELECT {_REL} || '.' || a.attname AS name, {_REL} AS table,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS position,
               format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
               CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END
                   AS default,
               CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END
                   AS generated,
               nullif(a.attidentity, '') AS identity,
               CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collation,
               CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END AS storage,
               col_description(c.oid, a.attnum) AS comment
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
          AND {_USER_NS} AND {_not_extension_member('pg_class', 'c.oid')}"""),
    ("constraint", f"""
        SELECT coalesce({_REL}, {_qname('tn.nspname', 'ty.typname')}) || '.' || k.conname
                   AS name,
               {_REL} AS table,
               CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
                    WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check'
                    WHEN 'x' THEN 'exclusion' WHEN 't' THEN 'trigger' ELSE k.contype::text
               END AS type,
               pg_get_constraintdef(k.oid, true) AS definition, k.convalidated AS valid,
               k.conislocal AS local, k.coninhcount AS inherited_from,
               obj_description(k.oid, 'pg_constraint') AS comment
        FROM pg_constraint k
        LEFT JOIN pg_class c ON c.oid = k.conrelid
        LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_type ty ON ty.oid = k.contypid
        LEFT JOIN pg_namespace tn ON tn.oid = ty.typnamespace
        WHERE coalesce(n.nspname, tn.nspname) NOT IN ('pg_catalog', 'information_schema')
          AND (c.oid IS NULL OR {_not_extension_member('pg_class', 'c.oid')})
          AND (ty.oid IS NULL OR {_not_extension_member('pg_type', 'ty.oid')})"""),
    ("index", f"""
        SELECT {_qname('n.nspname', 'ic.relname')} AS name, {_REL} AS table,
               pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid,
               i.indisready AS ready, i.indisprimary AS primary, i.indisunique AS unique,
               i.indisclustered AS clustered, i.indisreplident AS replica_identity,
               (SELECT {_qname('pn.nspname', 'pc.relname')} FROM pg_inherits h
                  JOIN pg_class pc ON pc.oid = h.inhparent
                  JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                 WHERE h.inhrelid = ic.oid) AS attached_to,
               obj_description(ic.oid, 'pg_class') AS comment
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NS} AND {_not_extension_member('pg_class', 'c.oid')}"""),
    ("trigger", f"""
        SELECT {_REL} || '.' || tg.tgname AS name, {_REL} AS table,
               pg_get_triggerdef(tg.oid, true) AS definition, tg.tgenabled AS enabled,
               obj_description(tg.oid, 'pg_trigger') AS comment
        FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT tg.tgisinternal AND {_USER_NS}"""),
    ("view", f"""
        SELECT {_REL} AS name,
               CASE c.relkind WHEN 'm' THEN 'materialized' ELSE 'plain' END AS kind,
               pg_get_viewdef(c.oid, true) AS definition, c.reloptions AS options,
               CASE WHEN c.relkind = 'm' THEN c.relispopulated END AS populated,
               obj_description(c.oid, 'pg_class') AS comment
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {_USER_NS}
          AND {_not_extension_member('pg_class', 'c.oid')}"""),
    ("sequence", f"""
        SELECT {_REL} AS name, format_type(s.seqtypid, NULL) AS type, s.seqstart AS start,
               s.seqincrement AS increment, s.seqmin AS min, s.seqmax AS max,
               s.seqcache AS cache, s.seqcycle AS cycle,
               (SELECT {_qname('on_.nspname', 'oc.relname')} || '.' || oa.attname
                  FROM pg_depend d JOIN pg_class oc ON oc.oid = d.refobjid
                  JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
                  JOIN pg_attribute oa ON oa.attrelid = d.refobjid AND oa.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                 LIMIT 1) AS owned_by,
               obj_description(c.oid, 'pg_class') AS comment
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_NS} AND {_not_extension_member('pg_class', 'c.oid')}"""),
    ("type", f"""
        SELECT {_qname('n.nspname', 't.typname')} AS name,
               CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain'
                    WHEN 'c' THEN 'composite' WHEN 'r' THEN 'range' ELSE t.typtype::text
               END AS kind,
               (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = t.oid) AS labels,
               CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END
                   AS base_type,
               t.typnotnull AS not_null, t.typdefault AS default,
               (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                 ORDER BY a.attnum)
                  FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                   AND NOT a.attisdropped) AS attributes,
               (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r
                 WHERE r.rngtypid = t.oid) AS subtype,
               obj_description(t.oid, 'pg_type') AS comment
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd', 'c', 'r') AND {_USER_NS}
          AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND {_not_extension_member('pg_type', 't.oid')}"""),
    ("collation", f"""
        SELECT {_qname('n.nspname', 'co.collname')} AS name,
               to_jsonb(co) - 'oid' - 'collname' - 'collnamespace' - 'collowner'
                   - 'collversion' AS definition
        FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
        WHERE {_USER_NS} AND {_not_extension_member('pg_collation', 'co.oid')}"""),
    ("routine", f"""
        SELECT {_qname('n.nspname', 'p.proname')} || '('
                   || pg_get_function_identity_arguments(p.oid) || ')' AS name,
               CASE p.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure'
                    WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window' END AS kind,
               CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid)
                    ELSE pg_get_function_result(p.oid) END AS definition,
               obj_description(p.oid, 'pg_proc') AS comment
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_USER_NS} AND {_not_extension_member('pg_proc', 'p.oid')}"""),
    ("rule", f"""
        SELECT {_REL} || '.' || r.rulename AS name, {_REL} AS table,
               pg_get_ruledef(r.oid, true) AS definition, r.ev_enabled AS enabled
        FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE r.rulename <> '_RETURN' AND {_USER_NS}"""),
    ("policy", f"""
        SELECT {_REL} || '.' || p.polname AS name, {_REL} AS table, p.polcmd AS command,
               p.polpermissive AS permissive,
               pg_get_expr(p.polqual, p.polrelid) AS using,
               pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace"""),
    ("event trigger", """
        SELECT e.evtname AS name, e.evtevent AS event, e.evtfoid::regproc::text AS function,
               e.evtenabled AS enabled, e.evttags AS tags
        FROM pg_event_trigger e"""),
)
