"""Scratch databases: a fresh database per notebook or rehearsal, named, and dropped afterwards.

:func:`scratch_database` turns a base URL and a name into an engine for a new, empty database:

- ``sqlite://`` (in memory): a new in-memory database; the name is only a label. The engine
  holds the database (one shared connection), so keep the engine and pass it around.
- a SQLite file URL: the file ``<name>.db`` in the base file's folder.
- a PostgreSQL or MariaDB/MySQL URL: the database ``<name>`` on the same server (the base
  URL's own database is not touched).

A leftover of an earlier run with the same name is dropped first, but only if shopmig made it
(it carries a shopmig marker) or it is empty; anything else raises
:class:`~shopmig.errors.NotACopyError`. :func:`drop_scratch` disposes the engine and drops the
database again.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from shopmig.databases import create_database, database_exists, database_marker, drop_database
from shopmig.db import is_memory_database, mask_url, open_engine, parse_url
from shopmig.dialects import dialect_for
from shopmig.errors import InvalidArgumentError, NotACopyError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def scratch_url(base_url: str | URL, name: str) -> URL:
    """The URL of the scratch database ``name`` next to ``base_url`` (nothing is created).

    In-memory SQLite stays ``sqlite://``; a SQLite file becomes ``<folder>/<name>.db``; a
    server URL gets ``<its database>__<name>`` (just ``name`` if it names none), so learners
    sharing a server, each with a database of their own, never share scratch databases.
    ``name`` must be a plain identifier (letters, digits and underscores, at most 63
    characters).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            "name", name, "a plain identifier (letters, digits, _; at most 63 characters)"
        )
    parsed = parse_url(base_url)
    if is_memory_database(parsed):
        return URL.create(parsed.drivername)
    dialect = dialect_for(parsed)
    if not dialect.is_server:
        return dialect.named(parsed, name)
    if not parsed.database:
        return parsed.set(database=name)
    if parsed.database == name or parsed.database.endswith(f"__{name}"):
        return parsed  # already this scratch database: naming it again changes nothing
    owner = re.sub(r"[^A-Za-z0-9_]", "_", parsed.database)[: max(0, 61 - len(name))]
    return parsed.set(database=f"{owner}__{name}" if owner else name)


def _clear_leftover(url: URL) -> None:
    """Drop the database at ``url`` if it exists and is shopmig's or empty; refuse otherwise."""
    if not database_exists(url):
        return
    engine = open_engine(url)
    try:
        marker = database_marker(engine)
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    if marker is None and tables:
        raise NotACopyError(mask_url(url), "drop and recreate as a scratch database")
    drop_database(url)


def scratch_database(base_url: str | URL, name: str, *, create: bool = True) -> Engine:
    """An engine for a new, empty scratch database ``name`` next to ``base_url``.

    A leftover database of the same name from an earlier run is dropped first if shopmig made
    it or it is empty (otherwise :class:`~shopmig.errors.NotACopyError`, nothing dropped).
    With ``create=False`` a server database or SQLite file is *not* created, so the engine can
    be the target of :func:`shopmig.copy_database`, which creates it. For in-memory SQLite the
    engine always is the (new, empty) database. Pass the engine to every shopmig call and end
    with :func:`drop_scratch`.
    """
    url = scratch_url(base_url, name)
    if is_memory_database(url):
        return open_engine(url)
    _clear_leftover(url)
    if create:
        create_database(url)
        return open_engine(url, must_exist=dialect_for(url).is_server)
    return open_engine(url, must_exist=False)


def drop_scratch(engine: Engine) -> None:
    """Dispose ``engine`` and drop its scratch database (an in-memory database just goes away).

    Like the cleanup before :func:`scratch_database`, it refuses (:class:`NotACopyError`) a
    database that holds tables but no shopmig marker: that is not a scratch database.
    """
    url = engine.url
    engine.dispose()
    if not is_memory_database(url):
        _clear_leftover(url)
