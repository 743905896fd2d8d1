"""Classroom databases: one demo shop per learner on a shared server, made and dropped at once.

For a workshop on a shared PostgreSQL or MariaDB server, :func:`create_classroom` makes one
database per learner (``shopmig_learner_01``, ``shopmig_learner_02``, ... or
``shopmig_learner_<name>``), each a seeded demo shop at the baseline revision and marked as a
demo, so every learner can migrate their own database with the CLI without touching anyone
else's. :func:`drop_classroom` drops them again afterwards: only databases whose name starts
with the prefix *and* that carry a shopmig demo or copy marker (a learner's own rehearsal copy
``shopmig_learner_01_rehearsal`` included). A database with the prefix but no marker is left
alone, whoever made it.

SQLite needs no classroom: each learner's notebooks and CLI use their own file (the default).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from shopmig.databases import (
    admin_url,
    create_database,
    database_exists,
    database_marker,
    drop_database,
    is_server,
)
from shopmig.db import mask_url, open_engine, parse_url, translate_error
from shopmig.demo import make_demo_shop
from shopmig.dialects import dialect_for
from shopmig.errors import InvalidArgumentError, TargetExistsError

DEFAULT_PREFIX = "shopmig_learner_"
MAX_LEARNERS = 500
MAX_NAME_LENGTH = 63  # PostgreSQL's identifier limit (MariaDB allows 64)
CLASSROOM_ROLES = ("demo", "copy")



def _exists_error(url: str, prefix: str) -> TargetExistsError:
    """A :class:`TargetExistsError` (``.url`` set) worded for a classroom, with the fix."""
    exc = TargetExistsError(url)
    exc.problem = f"the classroom database {url} already exists; nothing was created."
    exc.hint = (f"Drop the old classroom first (shopmig classroom drop --prefix {prefix}) or "
                "choose another --prefix.")
    exc.args = (f"{exc.problem} {exc.hint}",)
    return exc


_PREFIX = re.compile(r"[a-z_][a-z0-9_]*")
_LEARNER = re.compile(r"[a-z0-9_]+")


def _check_server(server_url: str | URL) -> URL:
    parsed = parse_url(server_url)
    if not is_server(parsed):
        raise InvalidArgumentError(
            "server_url", mask_url(parsed),
            "a PostgreSQL or MariaDB/MySQL URL (with SQLite each learner simply uses their own "
            "file, no classroom needed)",
        )
    return parsed


def _check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidArgumentError(
            "prefix", prefix, "a non-empty lower-case identifier (a-z, 0-9, _; not a digit first)"
        )
    return prefix


def learner_names(learners: int | Sequence[str]) -> list[str]:
    """The learner part of each database name: ``01``, ``02``, ... for a count, else the names.

    A count gives zero-padded numbers (at least two digits). Names are lower-cased and must be
    plain (letters, digits, ``_``) and unique; a duplicate or a name with spaces or dashes
    raises :class:`~shopmig.errors.InvalidArgumentError` before anything is created.
    """
    if isinstance(learners, bool):
        raise InvalidArgumentError("learners", learners, "a number of learners or their names")
    if isinstance(learners, int):
        if not 1 <= learners <= MAX_LEARNERS:
            raise InvalidArgumentError("learners", learners,
                                       f"a whole number from 1 to {MAX_LEARNERS}")
        width = max(2, len(str(learners)))
        return [str(i).zfill(width) for i in range(1, learners + 1)]
    if isinstance(learners, str) or not isinstance(learners, Sequence) or not learners:
        raise InvalidArgumentError("learners", learners,
                                   "a number of learners or a non-empty list of names")
    names = []
    for name in learners:
        lowered = name.lower() if isinstance(name, str) else name
        if not isinstance(lowered, str) or not _LEARNER.fullmatch(lowered):
            raise InvalidArgumentError("learner name", name,
                                       "letters, digits and _ only (no spaces or dashes)")
        if lowered in names:
            raise InvalidArgumentError("learner names", list(learners),
                                       f"unique names ({lowered!r} appears twice)")
        names.append(lowered)
    if len(names) > MAX_LEARNERS:
        raise InvalidArgumentError("learners", len(names), f"at most {MAX_LEARNERS} names")
    return names


def classroom_urls(
    server_url: str | URL, learners: int | Sequence[str], *, prefix: str = DEFAULT_PREFIX
) -> list[URL]:
    """The URL of each learner's database on the server of ``server_url`` (nothing is created)."""
    server = _check_server(server_url)
    prefix = _check_prefix(prefix)
    urls = []
    for name in learner_names(learners):
        database = prefix + name
        if len(database) > MAX_NAME_LENGTH:
            raise InvalidArgumentError("database name", database,
                                       f"at most {MAX_NAME_LENGTH} characters (shorten the "
                                       "prefix or the learner names)")
        urls.append(server.set(database=database))
    return urls


def create_classroom(
    server_url: str | URL,
    learners: int | Sequence[str],
    *,
    rows: int = 1000,
    prefix: str = DEFAULT_PREFIX,
    seed: int = 42,
) -> list[str]:
    """Create one demo-shop database per learner on the server of ``server_url``.

    ``learners`` is a count (databases ``<prefix>01``, ``<prefix>02``, ...) or a list of names
    (``<prefix>alice``, ...). Each database holds ``rows`` seeded orders at the baseline
    revision and is marked as a demo, so ``shopmig upgrade``/``downgrade`` accept it. The
    database part of ``server_url`` is only used to log in; it is not touched.

    Returns each learner's URL **with** its password, in order, for the facilitator to hand
    out (show them with :func:`shopmig.mask_url`). If any of the databases already exists,
    raises :class:`~shopmig.errors.TargetExistsError` and creates nothing; if creating one
    fails, the ones this call made are dropped again and the error is raised.
    """
    urls = classroom_urls(server_url, learners, prefix=prefix)
    for url in urls:
        if database_exists(url):
            raise _exists_error(mask_url(url), prefix)
    made: list[URL] = []
    try:
        for url in urls:
            create_database(url)
            made.append(url)
            make_demo_shop(url, rows, seed=seed)
    except BaseException:
        for url in made:
            drop_database(url)
        raise
    return [url.render_as_string(hide_password=False) for url in urls]


def list_classroom(server_url: str | URL, *, prefix: str = DEFAULT_PREFIX) -> dict[str, str | None]:
    """Every database on the server whose name starts with ``prefix``, with its shopmig role.

    The role is the marker's ``role`` (``"demo"`` or ``"copy"``), or None for a database
    without a shopmig marker. Names are compared in Python, not with ``LIKE`` (``_`` in the
    prefix is a plain underscore here).
    """
    server = _check_server(server_url)
    prefix = _check_prefix(prefix)
    sql = dialect_for(server).list_databases_sql()
    engine = open_engine(admin_url(server))
    try:
        with engine.connect() as conn:
            names = sorted(row[0] for row in conn.execute(sa.text(sql)))
    except DBAPIError as exc:
        raise translate_error(exc, server) from None
    finally:
        engine.dispose()
    found: dict[str, str | None] = {}
    for name in names:
        if not name.startswith(prefix):
            continue
        db = open_engine(server.set(database=name))
        try:
            marker = database_marker(db)
        finally:
            db.dispose()
        found[name] = (marker or {}).get("role")
    return found


def drop_classroom(server_url: str | URL, *, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Drop every classroom database on the server; return their URLs, passwords masked.

    Only databases whose name starts with ``prefix`` *and* that carry a shopmig demo or copy
    marker are dropped (learners' rehearsal copies ``<prefix>01_rehearsal`` included; on
    PostgreSQL open sessions are closed). Anything else is left alone, even with the prefix;
    :func:`list_classroom` afterwards shows what remains.
    """
    server = _check_server(server_url)
    dropped = []
    for name, role in list_classroom(server, prefix=prefix).items():
        if role in CLASSROOM_ROLES:
            url = server.set(database=name)
            drop_database(url)
            dropped.append(mask_url(url))
    return dropped
