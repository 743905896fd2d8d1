"""Rehearsal copies: copy a database, mark it as a copy, and guard the databases that are not.

- SQLite to SQLite uses SQLite's online backup API (a consistent page-by-page copy).
- PostgreSQL to the same server uses ``CREATE DATABASE ... TEMPLATE`` (a file-level copy), which
  needs no other session on the source; if one is connected, shopmig says so and streams instead.
- MariaDB/MySQL to the same server creates the database, replays each table's own
  ``SHOW CREATE TABLE`` (indexes, constraints, keys) and copies rows with ``INSERT ... SELECT``.
- Anything else (for example a PostgreSQL table into a SQLite file) is streamed in chunks.

Every copy is *marked*: a small ``shopmig_meta`` table records that it is a copy and of what
(URL with the password masked). CLI commands that change data refuse a server database that is
neither a copy nor a demo shop unless told explicitly.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from shopmig import validate
from shopmig.databases import (
    META_TABLE,
    create_database,
    database_exists,
    drop_database,
    mark_database,
)
from shopmig.db import (
    Source,
    is_memory_database,
    mask_url,
    quote,
    reading,
    url_of,
    use_connection,
    writing,
)
from shopmig.errors import (
    DatabaseNotFoundError,
    ShopmigError,
    TargetExistsError,
)

COPY_CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class CopyResult:
    """What :func:`copy_database` did: from where, to where, how, and how many rows per table."""

    source: str
    target: str
    method: str
    tables: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The result as a plain dict (for JSON)."""
        return asdict(self)


# ------------------------------------------------------------------ copying


def _table_counts(conn: Connection) -> dict[str, int]:
    with reading(conn):
        names = sorted(sa.inspect(conn).get_table_names())
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in names
            if name != META_TABLE
        }


def _sqlite_backup(src: Connection, dst: Connection) -> None:
    with reading(src), reading(dst):
        src_raw = src.connection.driver_connection
        dst_raw = dst.connection.driver_connection
        assert src_raw is not None and dst_raw is not None
        src_raw.backup(dst_raw)


_LITERAL_DEFAULT = re.compile(r"\(*\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*\)*(?:::[\w ]+)?")


def _make_portable(metadata: sa.MetaData) -> list[str]:
    """Let tables reflected on one dialect be created on another (e.g. PostgreSQL to SQLite).

    Types become generic, server defaults keep only plain literals (``'pending'::character
    varying`` becomes ``'pending'``) and CHECK constraints, whose SQL text is dialect-specific,
    are left out. Returns notes saying what was dropped.
    """
    dropped: list[str] = []
    for table in metadata.tables.values():
        for column in table.columns:
            with contextlib.suppress(NotImplementedError):
                column.type = column.type.as_generic()
            default = column.server_default
            if isinstance(default, sa.DefaultClause):
                text = str(getattr(default.arg, "text", default.arg)).strip()
                literal = _LITERAL_DEFAULT.fullmatch(text)
                column.server_default = (
                    sa.DefaultClause(sa.text(literal.group(1))) if literal else None
                )
        for constraint in list(table.constraints):
            if isinstance(constraint, sa.CheckConstraint):
                table.constraints.discard(constraint)
                dropped.append(f"{table.name}.{constraint.name or 'unnamed check'}")
    if not dropped:
        return []
    return [
        "copied across database kinds: CHECK constraints are not copied ("
        + ", ".join(dropped)
        + "); column types were made generic."
    ]


def _stream_tables(src: Connection, dst: Connection, chunk_rows: int) -> list[str]:
    """Create every table of ``src`` in ``dst`` (reflected) and copy rows in chunks."""
    metadata = sa.MetaData()
    with reading(src):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            metadata.reflect(src)
        tables = list(metadata.sorted_tables)
    notes = _make_portable(metadata) if src.dialect.name != dst.dialect.name else []
    with writing(dst):
        metadata.create_all(dst)
    for table in tables:
        with reading(src):
            result = src.execution_options(yield_per=chunk_rows).execute(sa.select(table))
            for chunk in result.mappings().partitions(chunk_rows):
                with writing(dst):
                    dst.execute(table.insert(), [dict(row) for row in chunk])
    return notes


def _mysql_same_server(src: Connection, dst: Connection) -> None:
    source_db = src.engine.url.database or ""
    with reading(src):
        names = sa.inspect(src).get_table_names()
        ddl = {n: src.exec_driver_sql(f"SHOW CREATE TABLE {quote(src, n)}").one()[1] for n in names}
    dst.exec_driver_sql("SET SESSION foreign_key_checks = 0")
    try:
        for name in names:
            with writing(dst):
                dst.exec_driver_sql(ddl[name])
                dst.exec_driver_sql(
                    f"INSERT INTO {quote(dst, name)} SELECT * FROM "
                    f"{quote(dst, source_db)}.{quote(dst, name)}"
                )
    finally:
        dst.exec_driver_sql("SET SESSION foreign_key_checks = 1")
        if dst.in_transaction():
            dst.commit()


def _same_server(a: URL, b: URL) -> bool:
    return (a.get_backend_name(), a.host, a.port, a.username) == (
        b.get_backend_name(), b.host, b.port, b.username
    )


def copy_database(
    source: Source, target: str | URL | Engine | Connection, *, chunk_rows: int = COPY_CHUNK_ROWS
) -> CopyResult:
    """Copy every table of ``source`` into the new database ``target`` and mark it a copy.

    ``target`` must not exist yet (a SQLite file or a server database); it is created. An
    in-memory SQLite target must be given as an engine or connection (a URL would be lost).
    Raises :class:`~shopmig.errors.TargetExistsError` and leaves everything as it was if the
    target exists. The source is only read.
    """
    validate.copy_options(source, target)
    src_url, dst_url = url_of(source), url_of(target)
    if not isinstance(source, Connection | Engine) and not database_exists(src_url):
        raise DatabaseNotFoundError(mask_url(src_url))
    if not is_memory_database(dst_url) and database_exists(dst_url):
        raise TargetExistsError(mask_url(dst_url))
    notes: list[str] = []
    backend = src_url.get_backend_name()
    method = "stream"
    if backend == "postgresql" and dst_url.get_backend_name() == "postgresql" and _same_server(
        src_url, dst_url
    ) and not isinstance(source, Connection):
        if isinstance(source, Engine):
            source.dispose()  # our own idle pooled connections would block the template copy
        try:
            create_database(dst_url, template=src_url.database)
            method = "template"
        except ShopmigError as exc:
            notes.append(
                "CREATE DATABASE ... TEMPLATE needs no other session on the source database "
                f"and was refused ({exc.problem}); rows were streamed instead."
            )
    if method != "template":
        create_database(dst_url)
    try:
        with use_connection(source) as src, use_connection(target, must_exist=False) as dst:
            if method != "template":
                if backend == "sqlite" and dst.dialect.name == "sqlite":
                    method = "sqlite-backup"
                    _sqlite_backup(src, dst)
                elif backend in ("mysql", "mariadb") and dst.dialect.name in (
                    "mysql", "mariadb"
                ) and _same_server(src_url, dst_url):
                    method = "show-create-table"
                    _mysql_same_server(src, dst)
                else:
                    notes.extend(_stream_tables(src, dst, chunk_rows))
            mark_database(dst, "copy", mask_url(src_url))
            tables = _table_counts(dst)
    except BaseException:
        if not is_memory_database(dst_url) and not isinstance(target, Connection | Engine):
            drop_database(dst_url)
        raise
    return CopyResult(mask_url(src_url), mask_url(dst_url), method, tables, notes)
