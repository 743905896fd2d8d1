"""Rehearsal copies: copy a database exactly, prove it, mark it as a copy.

- Onto the same kind of database, with the tools made for it (:mod:`shopmig.copying.exact`):
  PostgreSQL ``CREATE DATABASE ... TEMPLATE`` on the same server when no other session is on
  the source, else ``pg_dump --format=custom`` | ``pg_restore``; MariaDB/MySQL
  ``mariadb-dump --routines --triggers --events --single-transaction`` | ``mariadb``; SQLite
  the online backup API. Every object of the copy is then compared with the source's
  (:func:`shopmig.catalog.database_objects`): a missing or changed object raises
  :class:`~shopmig.errors.CopyIncompleteError` naming it, and the copy is dropped.
- Onto another kind (for example a PostgreSQL shop into a SQLite file): rows streamed in
  chunks (:mod:`shopmig.copying.stream`); what cannot be carried is listed in
  :attr:`CopyResult.notes`.

Every copy is *marked*: a small ``shopmig_meta`` table records that it is a copy and of what
(URL with the password masked). CLI commands that change data refuse a server database that is
neither a copy nor a demo shop unless told explicitly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from shopmig import validate
from shopmig.catalog import database_objects
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
    reading,
    url_of,
    use_connection,
)
from shopmig.dialects import dialect_for
from shopmig.errors import (
    CopyIncompleteError,
    DatabaseNotFoundError,
    TargetExistsError,
)

COPY_CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class CopyResult:
    """What :func:`copy_database` did: from where, to where, how (``template``, ``pg_dump``,
    ``mariadb-dump``, ``sqlite-backup`` or ``stream``), how many rows per table, how many
    objects were compared, and notes (a method passed over, what a cross-engine copy could
    not carry)."""

    source: str
    target: str
    method: str
    tables: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    objects: int = 0
    """How many objects were compared and found equal (0 for a cross-engine copy)."""

    def to_dict(self) -> dict[str, object]:
        """The result as a plain dict (for JSON)."""
        return asdict(self)


def _table_counts(conn: Connection) -> dict[str, int]:
    with reading(conn):
        objects = database_objects(conn, include_shopmig=True)
        counts = {}
        for name in objects.data_tables():
            if name == META_TABLE:
                continue
            schema, table = objects.table_ref(name)
            counts[name] = conn.execute(sa.select(sa.func.count()).select_from(
                sa.table(table, schema=schema))).scalar_one()
        return dict(sorted(counts.items()))


def copy_database(
    source: Source, target: str | URL | Engine | Connection, *,
    chunk_rows: int = COPY_CHUNK_ROWS, jobs: int | None = None,
) -> CopyResult:
    """Copy every object and row of ``source`` into the new database ``target``, prove it,
    and mark it a copy.

    ``target`` must not exist yet (a SQLite file or a server database); it is created. An
    in-memory SQLite target must be given as an engine or connection (a URL would be lost).
    On the same kind of database the copy is exact (see the module's docstring) and checked
    object by object; ``jobs`` sets PostgreSQL's parallel restore workers (default: by the
    database's size). Across kinds the rows are streamed ``chunk_rows`` at a time.

    Raises :class:`~shopmig.errors.TargetExistsError` (nothing touched) if the target exists,
    :class:`~shopmig.errors.CopyIncompleteError` if an object did not survive, and the tools'
    errors (:class:`~shopmig.errors.BackupFailedError`, ...); on any failure the half-made
    copy is dropped. The source is only read.
    """
    from shopmig.copying.exact import exact_copy
    from shopmig.copying.stream import stream_copy

    validate.copy_options(source, target)
    src_url, dst_url = url_of(source), url_of(target)
    if not isinstance(source, Connection | Engine) and not database_exists(src_url):
        raise DatabaseNotFoundError(mask_url(src_url))
    if not is_memory_database(dst_url) and database_exists(dst_url):
        raise TargetExistsError(mask_url(dst_url))
    src_dialect = dialect_for(source if isinstance(source, Connection | Engine) else src_url)
    same_kind = type(src_dialect) is type(dialect_for(dst_url))
    compared = 0
    try:
        if same_kind:
            method, notes = exact_copy(source, target, src_url, dst_url, jobs=jobs)
            want = database_objects(source, include_shopmig=True)
            with use_connection(target) as dst:
                got = database_objects(dst, include_shopmig=True)
            differences = want.diff(got)
            if differences:
                raise CopyIncompleteError(mask_url(src_url), mask_url(dst_url), method,
                                          differences)
            compared = len(want)
        else:
            method = "stream"
            create_database(dst_url)
            with use_connection(source) as src, \
                    use_connection(target, must_exist=False) as dst:
                notes = stream_copy(src, dst, chunk_rows)
        with use_connection(target) as dst:
            mark_database(dst, "copy", mask_url(src_url))
            tables = _table_counts(dst)
    except BaseException:
        if not is_memory_database(dst_url) and not isinstance(target, Connection | Engine):
            drop_database(dst_url)
        raise
    return CopyResult(mask_url(src_url), mask_url(dst_url), method, tables, notes, compared)
