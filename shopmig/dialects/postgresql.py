"""PostgreSQL 11+: transactional DDL, ``lock_timeout``, ``CONCURRENTLY``, advisory locks."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from shopmig.dialects.base import Dialect, url_password

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
