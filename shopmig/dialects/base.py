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
    from shopmig.migrate.steps import Statement, StepImpact, StepPlan, TableState
    from shopmig.migrate.target import Target


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

    def named(self, url: URL, name: str) -> URL:
        """The database ``name`` beside ``url``'s (same server; for SQLite, ``<name>.db`` in
        the same folder). Nothing is created."""
        return url.set(database=name)

    def named_like(self, url: URL, suffix: str) -> URL:
        """The database called like ``url``'s plus ``suffix`` (``shop`` -> ``shop_rehearsal``;
        for SQLite ``shop.db`` -> ``shop_rehearsal.db``). Nothing is created."""
        return url.set(database=f"{url.database}{suffix}")

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

    lock_wait_codes: ClassVar[frozenset[object]] = frozenset()
    """Error codes of a write that lost out to a lock (timeout, deadlock, cancelled wait)."""

    def is_lock_wait(self, exc: DBAPIError) -> bool:
        """True when a write failed because it waited for a lock (behind a migration), not
        because the table refused it."""
        code = self.error_code(exc)
        return code in self.lock_timeout_codes or code in self.lock_wait_codes

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

    # -------------------------------------------------------------- catalog (the live table)

    def table_state(self, conn: Connection, target: Target) -> TableState:
        """What the steps need to know about ``target``'s table, read from the catalog."""
        from shopmig.migrate.steps import TableState

        insp = sa.inspect(conn)
        if not insp.has_table(target.table, schema=target.schema):
            return TableState(target, exists=False, extra=self._meta_extra(conn))
        columns = tuple(c["name"] for c in insp.get_columns(target.table, schema=target.schema))
        pk = insp.get_pk_constraint(target.table, schema=target.schema)
        checks = {c.get("name") for c in insp.get_check_constraints(target.table,
                                                                     schema=target.schema)}
        indexes = {i.get("name") for i in insp.get_indexes(target.table, schema=target.schema)}
        return TableState(
            target=target,
            columns=columns,
            primary_key=tuple(pk.get("constrained_columns") or ()),
            column=target.column in columns,
            check="valid" if target.check_name(self) in checks else None,
            index="valid" if target.index_name(self) in indexes else None,
            rows=self.estimated_rows(conn, target),
            taken_names=tuple(self.names_in_use(conn, target)),
            extra=self._meta_extra(conn),
        )

    def _meta_extra(self, conn: Connection) -> dict[str, Any]:
        """shopmig's own bookkeeping the steps look at (``shopmig_meta`` keys)."""
        insp = sa.inspect(conn)
        if not insp.has_table("shopmig_meta"):
            return {"meta": {}, "meta_table": False}
        meta = sa.table("shopmig_meta", sa.column("key"), sa.column("value"))
        return {"meta": dict(conn.execute(sa.select(meta.c.key, meta.c.value)).all()),
                "meta_table": True}

    def names_in_use(self, conn: Connection, target: Target) -> list[str]:
        """Which of the names the steps create (the CHECK's, the index's) something else
        already has, where the database would refuse a duplicate."""
        insp = sa.inspect(conn)
        wanted = {target.check_name(self), target.index_name(self)}
        used = {c.get("name") for c in insp.get_check_constraints(target.table,
                                                                  schema=target.schema)}
        used |= {i.get("name") for i in insp.get_indexes(target.table, schema=target.schema)}
        used |= {u.get("name") for u in insp.get_unique_constraints(target.table,
                                                                    schema=target.schema)}
        used |= {f.get("name") for f in insp.get_foreign_keys(target.table,
                                                              schema=target.schema)}
        return sorted(n for n in wanted if n in used)

    def estimated_rows(self, conn: Connection, target: Target) -> int | None:
        """About how many rows the table has (the server's statistics where it keeps them)."""
        return self.count_rows(conn, target)

    def count_rows(self, conn: Connection, target: Target) -> int:
        """The exact row count (``count(*)``)."""
        table = sa.table(target.table, schema=target.schema)
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def demo_table_state(self, target: Target) -> TableState:
        """The demo shop's table at the baseline, as the steps see it (no database needed)."""
        from shopmig.migrate.steps import TableState

        return TableState(target, columns=("order_id", "amount"), primary_key=("order_id",),
                          extra={"meta": {}})

    def dependants(self, conn: Connection, target: Target) -> list[dict[str, Any]]:
        """What depends on the table (foreign keys of other tables pointing at it, views, views
        on those views, triggers on it), each with what the steps do to it."""
        out = self.foreign_keys_in(conn, target)
        out += [{"kind": "view", "name": name, "detail": detail, "steps": self.view_effect}
                for name, detail in self.views_on(conn, target)]
        out += [{"kind": "trigger", "name": name, "detail": detail,
                 "steps": "it fires on the workload's and the shop's writes as before; rows it "
                 "writes into this table must satisfy the CHECK from 0003 on"}
                for name, detail in self.triggers_on(conn, target)]
        return out

    view_effect: ClassVar[str] = (
        "a view keeps the columns it was created with (SELECT * does not gain the new column); "
        "while a view uses the new column, 0002's downgrade cannot drop it")

    def foreign_keys_in(self, conn: Connection, target: Target) -> list[dict[str, Any]]:
        """Foreign keys of other tables (or of the table itself) that reference the table."""
        insp = sa.inspect(conn)
        out = []
        for other in insp.get_table_names(schema=target.schema):
            for fk in insp.get_foreign_keys(other, schema=target.schema):
                if fk.get("referred_table") == target.table and (
                        fk.get("referred_schema") in (None, target.schema)):
                    out.append({
                        "kind": "foreign key in", "name": fk.get("name") or "",
                        "detail": f"{other}({', '.join(fk['constrained_columns'])}) -> "
                                  f"{target.table}({', '.join(fk['referred_columns'])})",
                        "steps": "every step keeps it: the key it points at is never touched"})
        return out

    def views_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """(name, how) of the views that read the table, directly or through another view."""
        return []

    def triggers_on(self, conn: Connection, target: Target) -> list[tuple[str, str]]:
        """(name, definition or timing) of the triggers on the table."""
        return []

    validates_check_separately: ClassVar[bool] = False
    """True where a CHECK can be added unvalidated and validated later (PostgreSQL); elsewhere
    step 0004 has nothing to do and leaves nothing to see."""

    def observable(self, revision: str) -> bool:
        """Whether the catalog shows that ``revision`` ran (a step that does nothing on this
        database leaves nothing to see, so the schema cannot tell before from after it)."""
        from shopmig.migrate.options import BASELINE, VALIDATE_CHECK

        if revision == BASELINE:
            return False
        return revision != VALIDATE_CHECK or self.validates_check_separately

    def server_supports(self, state: TableState) -> list[str]:
        """What this server version cannot do of the migration (each with its fix)."""
        return []

    # -------------------------------------------------------------- steps

    def table_sql(self, target: Target) -> str:
        """The table's quoted, qualified name."""
        return self.qualified(target.table, target.schema)

    def column_definition(self, target: Target) -> str:
        """``status VARCHAR(16) DEFAULT 'pending' NOT NULL`` as this database writes it."""
        from shopmig.migrate.options import STATUS_DEFAULT, STATUS_LENGTH

        column = sa.Column(target.column, sa.String(STATUS_LENGTH), nullable=False,
                           server_default=sa.text(self.literal(STATUS_DEFAULT)))
        sa.Table("t", sa.MetaData(), column)
        return str(sa.schema.CreateColumn(column).compile(dialect=self.sa_dialect)).strip()

    def check_expression(self, target: Target) -> str:
        """``"status" IN ('pending', ...)``."""
        from shopmig.migrate.steps import check_values_sql

        return check_values_sql(self, target.column)

    def impact(self, state: TableState, revision: str, summary: str, *, lock: str,
               blocks_writes: str, rewrites: bool = False, scans: bool = False,
               notes: Sequence[str] = (), queues: str = "",
               transactional: bool | None = None) -> StepImpact:
        """A :class:`~shopmig.migrate.steps.StepImpact` for this database."""
        from shopmig.migrate.steps import StepImpact

        return StepImpact(revision, self.name, summary, lock, blocks_writes, rewrites, scans,
                          list(notes), queues,
                          self.transactional_ddl if transactional is None else transactional)

    def size(self, state: TableState) -> str:
        """``about 1,000,000 rows`` or ``the whole table``."""
        return f"about {state.rows:,} rows" if state.rows is not None else "the whole table"

    def plan(self, revision: str, direction: str, statements: Sequence[Statement],
             impact: StepImpact, after: TableState, **kw: Any) -> StepPlan:
        """A :class:`~shopmig.migrate.steps.StepPlan`."""
        from shopmig.migrate.steps import StepPlan

        return StepPlan(revision, direction, tuple(statements), impact, after, **kw)

    def create_baseline(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0001 up: create the demo shop's table (``order_id`` text key, ``amount`` double)
        and note in ``shopmig_meta`` that shopmig made it (so 0001 down may drop it again)."""
        from shopmig.migrate.options import BASELINE
        from shopmig.migrate.steps import Statement

        target = state.target
        table = sa.Table(target.table, sa.MetaData(),
                         sa.Column("order_id", sa.String(36), primary_key=True),
                         sa.Column("amount", sa.Double), schema=target.schema)
        meta = _meta_table()
        statements = [Statement(str(sa.schema.CreateTable(table).compile(
            dialect=self.sa_dialect)).strip())]
        if not state.extra.get("meta_table"):
            statements.append(Statement(str(sa.schema.CreateTable(meta).compile(
                dialect=self.sa_dialect)).strip()))
        insert = meta.insert().values(key="baseline_created", value=target.display)
        statements.append(Statement(str(insert.compile(
            dialect=self.sa_dialect, compile_kwargs={"literal_binds": True}))))
        after = state.but(exists=True, columns=("order_id", "amount"), primary_key=("order_id",),
                          extra={"meta": {**state.extra.get("meta", {}),
                                          "baseline_created": target.display},
                                 "meta_table": True})
        impact = self.impact(state, BASELINE, f"create the table {target.display}",
                             lock="new table only", blocks_writes="no")
        return self.plan(BASELINE, "up", statements, impact, after)

    def drop_baseline(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0001 down: drop the table only if 0001 made it (never an adopted table)."""
        from shopmig.migrate.options import BASELINE
        from shopmig.migrate.steps import Statement

        target = state.target
        meta = state.extra.get("meta", {})
        impact = self.impact(state, BASELINE, f"drop the table {target.display} that 0001 made",
                             lock="exclusive", blocks_writes="yes")
        if meta.get("baseline_created") != target.display:
            return self.plan(
                BASELINE, "down", [], impact.__class__(**{
                    **impact.to_dict(), "summary": "refused: shopmig never drops your table"}),
                state, refusal=f"{target.display} was not created by shopmig's baseline "
                "revision (it was adopted), and shopmig never drops your table.",
                hint="'base' in shopmig means the baseline: stop there (shopmig downgrade base).")
        meta_table = _meta_table()
        statements = [Statement(f"DROP TABLE {self.table_sql(target)}"),
                      Statement(str(meta_table.delete().where(
                          meta_table.c.key == "baseline_created").compile(
                          dialect=self.sa_dialect, compile_kwargs={"literal_binds": True})))]
        rest = {k: v for k, v in meta.items() if k != "baseline_created"}
        if not rest:
            statements.append(Statement(f"DROP TABLE {self.quote('shopmig_meta')}"))
        after = state.but(exists=False, columns=(), primary_key=(),
                          extra={"meta": rest, "meta_table": bool(rest)})
        return self.plan(BASELINE, "down", statements, impact, after)

    def add_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0002 up: add the column NOT NULL with the default, the cheapest way there is."""
        raise NotImplementedError

    def drop_column(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0002 down: drop the column (its values are lost)."""
        raise NotImplementedError

    def add_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0003 up: the CHECK constraint, without blocking writes where the database can."""
        raise NotImplementedError

    def drop_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0003 down: drop the CHECK constraint."""
        raise NotImplementedError

    def validate_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0004 up: validate the CHECK for existing rows (nothing where it is validated when
        added)."""
        from shopmig.migrate.options import VALIDATE_CHECK

        impact = self.impact(state, VALIDATE_CHECK, "nothing to do on this database",
                             lock="none", blocks_writes="no",
                             notes=["The CHECK was validated when it was added."])
        return self.plan(VALIDATE_CHECK, "up", [], impact, state)

    def invalidate_check(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0004 down: mark the CHECK not validated again (nothing where that does not exist)."""
        from shopmig.migrate.options import VALIDATE_CHECK

        impact = self.impact(state, VALIDATE_CHECK, "nothing to do on this database",
                             lock="none", blocks_writes="no")
        return self.plan(VALIDATE_CHECK, "down", [], impact, state)

    def create_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0005 up: index the column without blocking writes where the database can."""
        raise NotImplementedError

    def drop_index(self, state: TableState, options: MigrationOptions) -> StepPlan:
        """0005 down: drop the index."""
        raise NotImplementedError

    def repair_sql(self, state: TableState) -> list[Statement]:
        """Statements that clean up what a failed or killed step left behind (PostgreSQL: an
        invalid index), run before the step is tried again. Nothing by default."""
        return []


    # -------------------------------------------------------------- workload

    def assigns_key(self, table: sa.Table, column: sa.Column) -> bool:
        """True when the server gives a new row its key if the insert leaves it out (identity,
        serial, AUTO_INCREMENT)."""
        if column.identity is not None or column.autoincrement is True:
            return True
        default = str(getattr(column.server_default, "arg", "") or "").lower()
        return "nextval(" in default

    # -------------------------------------------------------------- naive (the lesson's contrast)

    def naive_add_column_statements(self, target: Target) -> list[str]:
        """How the column is often added by hand: the statements, for display and to run."""
        raise NotImplementedError

    def run_naive_add_column(self, conn: Connection, target: Target) -> None:
        """Run :meth:`naive_add_column_statements` (in one transaction where DDL is
        transactional; the caller commits)."""
        for statement in self.naive_add_column_statements(target):
            conn.exec_driver_sql(statement)

    def naive_impact(self, rows: int | None = None) -> StepImpact:
        """What the naive way does, in the terms :class:`StepImpact` uses for shopmig's step."""
        raise NotImplementedError

    def storage_identity(self, conn: Connection, target: Target) -> str | None:
        """Something that changes when the table is rebuilt into new storage (None if the
        database does not say): tells a table rewrite from a metadata change."""
        return None

    def nullable_column_definition(self, target: Target) -> str:
        """The column without default or NOT NULL (the naive first step)."""
        from shopmig.migrate.options import STATUS_LENGTH

        column = sa.Column(target.column, sa.String(STATUS_LENGTH), nullable=True)
        sa.Table("t", sa.MetaData(), column)
        return str(sa.schema.CreateColumn(column).compile(dialect=self.sa_dialect)).strip()

    # -------------------------------------------------------------- faults (issue 13)

    concurrent_ddl_codes: ClassVar[frozenset[object]] = frozenset()
    """Error codes of a catalog read refused because another session's DDL is changing the
    table right now (a killed migration's server thread finishing its statement)."""

    def is_concurrent_ddl(self, exc: DBAPIError) -> bool:
        """True when ``exc`` means the table's definition cannot be read while another
        session's schema change runs (wait and read again); False by default."""
        return self.error_code(exc) in self.concurrent_ddl_codes


def file_identity(path: str) -> tuple[Any, ...]:
    """A file's device and inode: the same file under any path or link."""
    st = os.stat(path)
    return ("file", st.st_dev, st.st_ino)



def _meta_table() -> sa.Table:
    return sa.Table("shopmig_meta", sa.MetaData(),
                    sa.Column("key", sa.String(64), primary_key=True),
                    sa.Column("value", sa.String(1000), nullable=False))


def views_reading(table: str, views: list[tuple[str, str]], quote: str) -> list[tuple[str, str]]:
    """(name, how) of the views among ``views`` (name, definition) that read ``table``, then
    those that read such a view, found by the names in their definitions."""
    import re

    def reads(sql: str, name: str) -> bool:
        pattern = (rf"(?<![\w{quote}]){re.escape(name)}(?![\w{quote}])|"
                   rf"{re.escape(quote + name + quote)}")
        return re.search(pattern, sql, flags=re.IGNORECASE) is not None

    found: dict[str, int] = {}
    frontier = {table: 0}
    while frontier:
        nxt = {}
        for view, sql in views:
            if view in found or view == table:
                continue
            for name, depth in frontier.items():
                if reads(sql, name):
                    nxt[view] = depth + 1
                    break
        found.update(nxt)
        frontier = nxt
    return [(v, "view on the table" if d == 1 else f"view on a view ({d} levels)")
            for v, d in sorted(found.items(), key=lambda kv: (kv[1], kv[0]))]
