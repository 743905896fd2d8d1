"""Databases as a whole: create, drop, check they exist, and mark them as shopmig's.

Every copy and demo shop is *marked*: a small ``shopmig_meta`` table records that it is a
``copy`` (and of what, URL with the password masked) or a ``demo``. Commands that change data
refuse a server database that is neither unless told explicitly (:func:`require_copy`).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from shopmig._version import __version__
from shopmig.db import (
    Source,
    mask_url,
    open_engine,
    parse_url,
    reading,
    translate_error,
    url_of,
    use_connection,
    writing,
)
from shopmig.dialects import dialect_for
from shopmig.errors import NotACopyError

META_TABLE = "shopmig_meta"

# ------------------------------------------------------------------ markers


def _meta_table(metadata: sa.MetaData | None = None) -> sa.Table:
    return sa.Table(
        META_TABLE,
        metadata or sa.MetaData(),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(1000), nullable=False),
    )


def mark_database(source: Source, role: str, origin: str | None = None) -> None:
    """Record in the database itself that it is a shopmig ``copy`` (of ``origin``) or ``demo``."""
    meta = _meta_table()
    values = {"role": role, "origin": mask_url(origin) if origin else "", "shopmig": __version__}
    with use_connection(source, must_exist=False) as conn, writing(conn):
        meta.create(conn, checkfirst=True)
        conn.execute(meta.delete().where(meta.c.key.in_(list(values))))
        conn.execute(meta.insert(), [{"key": k, "value": v} for k, v in values.items()])


def database_marker(source: Source) -> dict[str, str] | None:
    """The shopmig marker of a database (``{"role": "copy", "origin": ...}``), or None."""
    with use_connection(source) as conn, reading(conn):
        if not sa.inspect(conn).has_table(META_TABLE):
            return None
        rows = conn.execute(sa.select(_meta_table())).all()
    return {key: value for key, value in rows} or None


def is_server(source: Source) -> bool:
    """True for a database server (PostgreSQL, MariaDB/MySQL), False for an embedded SQLite."""
    return dialect_for(source if isinstance(source, Connection | Engine) else url_of(source)
                       ).is_server


def require_copy(source: Source, action: str, *, include_sqlite: bool = False) -> None:
    """Raise :class:`NotACopyError` unless ``source`` is a shopmig copy or demo database.

    A SQLite file is the user's own scratch file and passes, unless ``include_sqlite=True``.
    """
    if not include_sqlite and not is_server(source):
        return
    marker = database_marker(source)
    if not marker or marker.get("role") not in ("copy", "demo"):
        raise NotACopyError(mask_url(source), action)


# ------------------------------------------------------------------ server databases


def admin_url(url: URL) -> URL:
    """A URL on the same server that does not use ``url``'s database (to create or drop it)."""
    return dialect_for(url).admin_url(url)


def database_exists(url: str | URL) -> bool:
    """True if the database named by ``url`` exists (a file for SQLite; in memory: always)."""
    parsed = parse_url(url)
    dialect = dialect_for(parsed)
    if not dialect.is_server:
        path = dialect.file_path(parsed)
        return path is None or os.path.exists(path)
    engine = open_engine(dialect.admin_url(parsed))
    try:
        with engine.connect() as conn:
            sql = dialect.database_exists_sql()
            assert sql is not None
            return conn.execute(sa.text(sql), {"name": parsed.database}).first() is not None
    except DBAPIError as exc:
        raise translate_error(exc, parsed) from None
    finally:
        engine.dispose()


def _admin_execute(url: URL, statement: str) -> None:
    engine = open_engine(admin_url(url))
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(statement)
    except DBAPIError as exc:
        raise translate_error(exc, url) from None
    finally:
        engine.dispose()


def create_database(url: str | URL, *, template: str | None = None) -> None:
    """Create the (empty) server database named by ``url`` (with PostgreSQL, optionally as a
    copy of ``template``); SQLite files need nothing."""
    parsed = parse_url(url)
    dialect = dialect_for(parsed)
    if dialect.is_server:
        _admin_execute(parsed, dialect.create_database_sql(parsed.database or "", template))


def drop_database(url: str | URL) -> None:
    """Drop the database named by ``url`` if it exists (delete the file for SQLite)."""
    parsed = parse_url(url)
    dialect = dialect_for(parsed)
    if not dialect.is_server:
        path = dialect.file_path(parsed)
        if path and os.path.exists(path):
            os.remove(path)
        return
    _admin_execute(parsed, dialect.drop_database_sql(parsed.database or ""))


def database_identity(source: Source) -> tuple[object, ...]:
    """What makes a database *this* database whatever URL reaches it: a server's own identity
    and the database's name, or a SQLite file's device and inode. Two sources with the same
    identity are the same database (``localhost`` vs ``127.0.0.1``, ``./shop.db`` vs
    ``shop.db``)."""
    with use_connection(source) as conn, reading(conn):
        return dialect_for(conn).database_identity(conn)


def same_database(a: Source, b: Source) -> bool:
    """True when ``a`` and ``b`` are the same database (compared by identity, not URL text).
    A database that does not exist yet is nobody's twin."""
    for side in (a, b):
        if isinstance(side, str | URL) and not database_exists(side):
            return False
    return database_identity(a) == database_identity(b)
