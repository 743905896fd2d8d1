"""Connections: open engines from URLs, share one connection, mask passwords.

Every shopmig function that touches a database accepts a :data:`Source`: a URL
string, a SQLAlchemy :class:`~sqlalchemy.engine.Engine` or a live
:class:`~sqlalchemy.engine.Connection`. :func:`use_connection` turns any of them
into a connection for the duration of one call, closing only what it opened.

An in-memory SQLite database (``sqlite://`` or ``sqlite:///:memory:``) lives as
long as its single connection: :func:`open_engine` gives it a
:class:`~sqlalchemy.pool.StaticPool` so every ``engine.connect()`` reaches the
same database. Passing the *URL* of an in-memory database to two calls gives two
different empty databases (the mistake in the seed snippet); pass the engine or
the connection instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import NullPool, StaticPool

from shopmig.dialects import dialect_for
from shopmig.errors import (
    AuthenticationError,
    DatabaseError,
    DatabaseNotFoundError,
    DatabaseUnreachableError,
    InvalidURLError,
    ShopmigError,
)
from shopmig.masking import QUERY_SECRET as _QUERY_SECRET
from shopmig.masking import mask_unparsed

Source: TypeAlias = str | URL | Engine | Connection
"""Anything shopmig can reach a database through."""

DEFAULT_URL = "sqlite:///shopmig.db"
URL_ENV_VAR = "SHOPMIG_DATABASE_URL"
CONNECT_TIMEOUT_S = 5


def default_url() -> str:
    """The URL used when none is given: ``$SHOPMIG_DATABASE_URL`` or ``sqlite:///shopmig.db``."""
    return os.environ.get(URL_ENV_VAR) or DEFAULT_URL


def parse_url(url: str | URL) -> URL:
    """Parse ``url`` into a SQLAlchemy URL, raising :class:`InvalidURLError` if malformed."""
    if isinstance(url, URL):
        return url
    if not isinstance(url, str) or not url.strip():
        raise InvalidURLError(repr(url), "it is empty or not a string")
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise InvalidURLError(mask_unparsed(url), "it is not a valid SQLAlchemy URL") from exc


def url_of(source: Source) -> URL:
    """The URL behind ``source`` (a URL string, a URL, an Engine or a Connection)."""
    if isinstance(source, Connection):
        return source.engine.url
    if isinstance(source, Engine):
        return source.url
    return parse_url(source)


def mask_url(url: str | URL | Engine | Connection) -> str:
    """Render a URL (or an engine's or connection's URL) with its password replaced by ``***``."""
    if isinstance(url, Connection):
        url = url.engine.url
    elif isinstance(url, Engine):
        url = url.url
    if isinstance(url, str):
        try:
            url = make_url(url)
        except (ArgumentError, ValueError):
            return mask_unparsed(str(url))
    return _QUERY_SECRET.sub(r"\1=***", url.render_as_string(hide_password=True))


def is_memory_database(url: URL) -> bool:
    """True for an embedded database that lives in one connection (``sqlite://``)."""
    dialect = dialect_for(url)
    return not dialect.is_server and dialect.file_path(url) is None


def database_file(url: URL) -> str | None:
    """The file of a file-backed embedded database (a SQLite file), None otherwise."""
    return dialect_for(url).file_path(url)


def open_engine(
    url: str | URL, *, must_exist: bool = True, echo: bool = False, pooled: bool = True
) -> Engine:
    """Create an engine for ``url`` (nothing is connected until first use).

    - In-memory SQLite gets one shared connection (StaticPool), so the engine *is* the database.
    - File SQLite: with ``must_exist=True`` a missing file is an error instead of a new empty file.
    - Servers get a short connect timeout so an unreachable host fails in seconds.

    Raises :class:`InvalidURLError` for a malformed URL or a driver that is not installed, and
    :class:`DatabaseNotFoundError` for a missing SQLite file.
    """
    parsed = parse_url(url)
    dialect = dialect_for(parsed)
    kwargs: dict[str, object] = {"echo": echo}
    connect_args: dict[str, object] = dict(dialect.connect_args())
    memory = False
    if dialect.is_server:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        kwargs["pool_pre_ping"] = True
    else:
        path = dialect.file_path(parsed)
        memory = path is None
        if memory:
            kwargs["poolclass"] = StaticPool
            connect_args["check_same_thread"] = False
        elif must_exist and not os.path.exists(path):  # type: ignore[arg-type]
            raise DatabaseNotFoundError(mask_url(parsed), f"no SQLite file at {path!r}")
    if not pooled and not memory:
        kwargs["poolclass"] = NullPool  # closing the connection closes the socket/file too
    try:
        engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
    except NoSuchModuleError as exc:
        raise InvalidURLError(mask_url(parsed), f"unknown dialect or driver ({exc})") from exc
    except (ArgumentError, ImportError) as exc:
        raise InvalidURLError(mask_url(parsed), str(exc)) from exc
    dialect.prepare_engine(engine)
    return engine


def translate_error(exc: BaseException, url: str | URL | Engine | Connection) -> ShopmigError:
    """Map a driver exception to the shopmig error a user can act on (password masked)."""
    masked = mask_url(url)
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    lowered = str(orig).lower()
    code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
    if code in (1045,) or "password authentication failed" in lowered or (
        "no password supplied" in lowered
    ):
        return AuthenticationError(masked, text)
    if code in (1049,) or ("database" in lowered and "does not exist" in lowered):
        return DatabaseNotFoundError(masked, text)
    if code in (2002, 2003, 2005, 2006, 2013) or any(
        s in lowered
        for s in (
            "connection refused",
            "could not connect",
            "timeout expired",
            "name or service not known",
            "could not translate host name",
            "failed to resolve host",
            "no route to host",
            "can't connect",
        )
    ):
        return DatabaseUnreachableError(masked, text)
    if "unable to open database file" in lowered:
        return DatabaseNotFoundError(masked, text)
    return DatabaseError(masked, text)


@contextlib.contextmanager
def use_connection(source: Source, *, must_exist: bool = True) -> Iterator[Connection]:
    """Yield a connection for ``source``, closing it afterwards only if it was opened here.

    A :class:`Connection` is yielded as it is (the caller keeps it). An :class:`Engine` lends
    one of its connections. A URL gets a new engine that is disposed at the end. Connection
    failures become :class:`~shopmig.errors.ShopmigError` subclasses with the URL masked.
    """
    if isinstance(source, Connection):
        yield source
        return
    engine = source if isinstance(source, Engine) else open_engine(source, must_exist=must_exist)
    try:
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            raise translate_error(exc, engine.url) from None
        with conn:
            try:
                yield conn
            except DBAPIError as exc:  # e.g. a SQLite "file" that is not a database
                raise translate_error(exc, engine.url) from exc
    finally:
        if not isinstance(source, Engine):
            engine.dispose()


def connect(url: str | URL, *, must_exist: bool = True) -> Connection:
    """Open and return one connection to ``url``; the caller closes it (use ``with``).

    For notebooks: keep this one connection and pass it to every shopmig call. For in-memory
    SQLite this is the only way to see the same database twice.
    """
    engine = open_engine(url, must_exist=must_exist, pooled=False)
    try:
        return engine.connect()
    except DBAPIError as exc:
        engine.dispose()
        raise translate_error(exc, url) from None


def quote(conn: Connection | Engine | sa.Dialect, name: str) -> str:
    """Quote an identifier for the connection's dialect (never by hand)."""
    dialect = conn if isinstance(conn, sa.Dialect) else conn.dialect
    return dialect.identifier_preparer.quote(name)


@contextlib.contextmanager
def reading(conn: Connection) -> Iterator[Connection]:
    """Run reads on ``conn``, ending the transaction they autobegan (if they began one).

    SQLAlchemy 2 connections autobegin a transaction on first use; leaving it open would make
    later shopmig writes think they run inside a caller's transaction.
    """
    began_here = not conn.in_transaction()
    try:
        yield conn
    finally:
        if began_here and conn.in_transaction():
            conn.rollback()


@contextlib.contextmanager
def writing(conn: Connection) -> Iterator[Connection]:
    """Run writes on ``conn`` in one transaction: committed here, or the caller's if one is open.

    If the caller already has a transaction open, the writes join it and the caller decides
    whether to commit. Otherwise they are committed at the end, or rolled back on error.
    """
    if conn.in_transaction():
        yield conn
        return
    with conn.begin():
        yield conn


def reflect_table(conn: Connection, table: str, schema: str | None = None) -> sa.Table:
    """The table as the database describes it. SQLAlchemy's warnings about what it cannot
    represent (an expression index, PostgreSQL's NOT VALID flag on a CHECK) are not errors
    here: shopmig reads those objects from the catalog itself."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        return sa.Table(table, sa.MetaData(), autoload_with=conn, schema=schema)
