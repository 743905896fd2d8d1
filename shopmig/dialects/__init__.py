"""Everything that differs between SQLite, PostgreSQL and MariaDB/MySQL, one class per database.

``dialect_for(x)`` answers "which database is this" once, for a connection, an engine, a URL
or a name, and returns the :class:`~shopmig.dialects.base.Dialect` to ask. Nothing outside this
package compares database names (``tests/test_architecture.py`` checks).
"""

from __future__ import annotations

from sqlalchemy.engine import URL, Connection, Engine

from shopmig.dialects.base import Dialect
from shopmig.dialects.mysql import MySQLDialect
from shopmig.dialects.postgresql import PostgreSQLDialect
from shopmig.dialects.sqlite import SQLiteDialect

DIALECTS: tuple[type[Dialect], ...] = (SQLiteDialect, PostgreSQLDialect, MySQLDialect)
"""Every database shopmig supports, in the order they are shown."""

NAMES: tuple[str, ...] = tuple(d.name for d in DIALECTS)


def dialect_class(name: str) -> type[Dialect]:
    """The class for a database name or alias (``sqlite``, ``postgresql``/``postgres``,
    ``mysql``/``mariadb``), case-insensitive. Raises :class:`~shopmig.errors.InvalidArgumentError`
    for any other name."""
    wanted = str(name).strip().lower()
    for cls in DIALECTS:
        if wanted == cls.name or wanted in cls.aliases:
            return cls
    from shopmig.errors import InvalidArgumentError

    raise InvalidArgumentError("dialect", name, "one of " + ", ".join(
        a for cls in DIALECTS for a in cls.aliases))


def dialect_for(source: Connection | Engine | URL | str | Dialect | object) -> Dialect:
    """The :class:`Dialect` of a connection, engine, SQLAlchemy dialect, URL (string or
    object) or database name. A live connection or engine gives the server's version too."""
    if isinstance(source, Dialect):
        return source
    if isinstance(source, Connection | Engine):
        sa_dialect = source.dialect
        version = tuple(int(v) for v in (sa_dialect.server_version_info or ())
                        if isinstance(v, int)) or None
        return dialect_class(sa_dialect.name)(sa_dialect, version)
    if isinstance(source, str) and ":" in source:
        from shopmig.db import parse_url

        source = parse_url(source)
    if isinstance(source, URL):
        backend = source.get_backend_name()
        for cls in DIALECTS:
            if backend == cls.name or backend in cls.aliases:
                return cls()
        from shopmig.db import mask_url
        from shopmig.errors import InvalidURLError

        raise InvalidURLError(mask_url(source), f"shopmig works with SQLite, PostgreSQL and "
                              f"MariaDB/MySQL, not {backend!r}")
    if isinstance(source, str):
        return dialect_class(source)()
    name = getattr(source, "name", None)  # a SQLAlchemy Dialect
    if isinstance(name, str):
        return dialect_class(name)(source, getattr(source, "server_version_info", None))  # type: ignore[arg-type]
    from shopmig.errors import InvalidArgumentError

    raise InvalidArgumentError("source", type(source).__name__,
                               "a connection, engine, URL or database name")


__all__ = ["DIALECTS", "NAMES", "Dialect", "MySQLDialect", "PostgreSQLDialect",
           "SQLiteDialect", "dialect_class", "dialect_for"]
