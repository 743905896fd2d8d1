"""Exact copies onto the same kind of database, with the tools made for it.

- PostgreSQL: ``CREATE DATABASE ... TEMPLATE`` on the same server when no other session is
  on the source (a file-level copy); otherwise ``pg_dump --format=custom`` piped into
  ``pg_restore`` (or through a file with ``pg_restore --jobs`` for a large database).
- MariaDB/MySQL: ``mariadb-dump`` (routines, triggers, events, one snapshot) piped into
  ``mariadb``, the views after it (see ``MySQLDialect.dump_rewriter``).
- SQLite: the online backup API.

The order of the methods and everything per database comes from the dialect's "copies"
section; the caller (:func:`shopmig.copying.copy_database`) then compares every object.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL, Connection, Engine

from shopmig.copying.tools import Command, pipe, run
from shopmig.databases import create_copy_database, create_database
from shopmig.db import Source, open_engine, reading, translate_error, use_connection
from shopmig.dialects import dialect_for
from shopmig.dialects.base import Dialect
from shopmig.errors import ShopmigError


def same_server(a: URL, b: URL) -> bool:
    """True when ``a`` and ``b`` reach the same server as the same user."""
    return (a.get_backend_name(), a.host, a.port, a.username) == (
        b.get_backend_name(), b.host, b.port, b.username)


def exact_copy(source: Source, target: str | URL | Engine | Connection, src_url: URL,
               dst_url: URL, *, jobs: int | None = None) -> tuple[str, list[str]]:
    """Copy ``source`` into the new database ``target`` (same kind) by the first method of
    its dialect that applies. Returns the method's name and notes on methods passed over."""
    dialect = dialect_for(source if isinstance(source, Connection | Engine) else src_url)
    notes: list[str] = []
    for method in dialect.exact_copy_methods:
        if method == "template":
            if not same_server(src_url, dst_url):
                continue
            refused = _template(source, src_url, dst_url, dialect)
            if refused is None:
                return "template", notes
            notes.append(refused)
        elif method == "dump":
            _dump_restore(source, src_url, dst_url, dialect, jobs)
            return dialect.backup_method, notes
        elif method == "backup-api":
            _backup_api(source, target)
            return dialect.backup_method, notes
    raise ShopmigError(f"no way to copy a {dialect.label} database exactly")  # pragma: no cover


def _template(source: Source, src_url: URL, dst_url: URL, dialect: Dialect) -> str | None:
    """Copy by ``CREATE DATABASE ... TEMPLATE``; the reason it could not, or None."""
    fallback = "copied with pg_dump | pg_restore instead"
    if isinstance(source, Connection):
        return (f"CREATE DATABASE ... TEMPLATE needs no other session on the source, and "
                f"the source was given as an open connection: {fallback}.")
    if isinstance(source, Engine):
        source.dispose()  # our own idle pooled connections would block the template copy
    admin = open_engine(dialect.admin_url(src_url), pooled=False)
    try:
        with admin.connect() as conn:
            blockers = dialect.template_blockers(conn, src_url.database or "")
    except Exception as exc:
        return f"CREATE DATABASE ... TEMPLATE was not tried ({translate_error(exc, src_url)})"
    finally:
        admin.dispose()
    if blockers:
        shown = ", ".join(blockers[:3]) + (f" and {len(blockers) - 3} more"
                                           if len(blockers) > 3 else "")
        return (f"CREATE DATABASE ... TEMPLATE needs no other session on the source; "
                f"{len(blockers)} connected ({shown}): {fallback}.")
    try:
        create_database(dst_url, template=src_url.database)
    except ShopmigError as exc:
        return f"CREATE DATABASE ... TEMPLATE was refused ({exc.problem}): {fallback}."
    return None


def _dump_restore(source: Source, src_url: URL, dst_url: URL, dialect: Dialect,
                  jobs: int | None) -> None:
    """The dump tool piped into the restore tool (through a file with parallel jobs)."""
    dump_tool = dialect.find_tool(dialect.dump_tools, src_url)
    restore_tool = dialect.find_tool(dialect.restore_tools, dst_url)
    with use_connection(source) as conn, reading(conn):
        rewriter = dialect.dump_rewriter(conn)
        dump_args = dialect.dump_args(dump_tool, src_url, output=None, conn=conn)
        workers = jobs if jobs is not None else dialect.restore_jobs(conn)
        create_copy_database(dst_url, conn)
    dump = Command(dump_args, src_url, dialect.tool_env(src_url))
    if workers > 1 and rewriter is None and not dialect.restore_reads_stdin():
        with tempfile.TemporaryDirectory(prefix="shopmig-copy-") as folder:
            path = str(Path(folder) / "copy.dump")
            run(Command(dialect.dump_args(dump_tool, src_url, output=path), src_url,
                        dialect.tool_env(src_url)))
            run(Command(dialect.restore_args(restore_tool, dst_url, input_path=path,
                                             jobs=min(workers, os.cpu_count() or 1)),
                        dst_url, dialect.tool_env(dst_url)))
        return
    restore = Command(dialect.restore_args(restore_tool, dst_url, input_path=None), dst_url,
                      dialect.tool_env(dst_url))
    pipe(dump, restore, rewriter=rewriter)


def _backup_api(source: Source, target: str | URL | Engine | Connection) -> None:
    """SQLite's online backup: a consistent page-by-page copy, even while others use it."""
    with use_connection(source) as src, use_connection(target, must_exist=False) as dst, \
            reading(src), reading(dst):
        src_raw = src.connection.driver_connection
        dst_raw = dst.connection.driver_connection
        assert src_raw is not None and dst_raw is not None
        src_raw.backup(dst_raw)
