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


def _child_index_name(dialect: Dialect, partition: str, target: Target) -> str:
    from shopmig.migrate.target import Target as _Target

    return _Target(partition, target.column).index_name(dialect)
