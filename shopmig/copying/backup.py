"""Backups before the first step: a file the user can restore, and the command that restores it.

- SQLite: SQLite's online backup API writes ``<directory>/<name>.sqlite-backup``, itself a
  SQLite database (works for a file and for an in-memory database given as engine/connection).
  Restore: copy the file.
- PostgreSQL: ``pg_dump --format=custom --no-owner`` writes ``<directory>/<db>.dump``.
  Restore: ``createdb`` + ``pg_restore --no-owner``. The ``pg_dump`` used is the newest one
  found whose major version is at least the server's (on Debian the versioned binaries live
  in ``/usr/lib/postgresql/<version>/bin``).
- MariaDB/MySQL: ``mariadb-dump`` (or ``mysqldump``) ``--single-transaction --routines
  --triggers --events`` writes ``<directory>/<db>.sql``, the views at its end, each after
  the views it reads. Restore: create the database, feed the file to ``mariadb``.

Which tool, its arguments, environment and the restore command are each dialect's "copies"
section (``shopmig/dialects/``); running them is :mod:`shopmig.copying.tools`.

The source is only read. An existing backup file is never overwritten (a ``-2``, ``-3``, ...
suffix is added). Passwords reach the tools through the environment (``PGPASSWORD``,
``MYSQL_PWD``), never their command lines, and never appear in :attr:`Backup.restore_command`
or in an error message.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import URL, Connection, Engine

from shopmig.copying.tools import Command, pipe, run
from shopmig.databases import create_database, database_exists, drop_database
from shopmig.db import (
    Source,
    database_file,
    is_memory_database,
    mask_url,
    parse_url,
    reading,
    url_of,
    use_connection,
)
from shopmig.dialects import DIALECTS, dialect_for
from shopmig.dialects.base import Dialect
from shopmig.errors import (
    BackupFailedError,
    DatabaseNotFoundError,
    InvalidArgumentError,
    TargetExistsError,
)

METHODS = tuple(d.backup_method for d in DIALECTS)
SUFFIX = {d.backup_method: d.backup_suffix for d in DIALECTS}
RESTORED_SUFFIX = "_restored"


@dataclass(frozen=True)
class Backup:
    """A backup file made by :func:`backup_database` and how to restore it.

    ``source`` is the database's URL with the password masked, ``path`` the backup file,
    ``method`` one of ``sqlite-backup``, ``pg_dump``, ``mariadb-dump``, ``bytes`` its size and
    ``restore_command`` a shell command a person can paste to restore it into a new database
    (``<name>_restored``, or ``restore_command_for(url)`` for another one). No field holds a
    password.
    """

    source: str
    path: str
    method: str
    bytes: int
    restore_command: str

    def restore_command_for(self, target: str | URL) -> str:
        """The shell command that restores this backup into the (new) database ``target``.

        The command holds no password: the tools ask for it, or read ``PGPASSWORD`` /
        ``MYSQL_PWD`` from the environment.
        """
        return _dialect_of_method(self.method).restore_shell_command(self.path,
                                                                     parse_url(target))

    def to_dict(self) -> dict[str, object]:
        """The backup as a plain dict (for JSON)."""
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"backup of {self.source} ({self.method}, {self.bytes:,} bytes): {self.path}\n"
            f"restore with: {self.restore_command}"
        )


# ------------------------------------------------------------------ helpers


def _dialect_of_method(method: str) -> Dialect:
    for cls in DIALECTS:
        if cls.backup_method == method:
            return cls()
    raise InvalidArgumentError("backup.method", method, " or ".join(METHODS))


def _new_path(directory: Path, name: str, suffix: str) -> Path:
    """``directory/name+suffix``, or ``name-2``, ``name-3``... if that file exists already."""
    safe = re.sub(r"[^\w.-]+", "_", name) or "database"
    path = directory / f"{safe}{suffix}"
    n = 2
    while path.exists() or path.with_name(path.name + ".partial").exists():
        path = directory / f"{safe}-{n}{suffix}"
        n += 1
    return path


def _default_target(url: URL, path: Path) -> URL:
    if not dialect_for(url).is_server:
        stem = Path(database_file(url) or "memory").stem
        return url.set(database=str(path.with_name(f"{stem}{RESTORED_SUFFIX}.db")))
    return url.set(database=f"{url.database}{RESTORED_SUFFIX}")


# ------------------------------------------------------------------ backup


def _sqlite_backup(source: Source, path: Path) -> None:
    dst = sqlite3.connect(path)
    try:
        with use_connection(source) as conn, reading(conn):
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.backup(dst)
    finally:
        dst.close()


def backup_database(source: Source, directory: str | os.PathLike[str]) -> Backup:
    """Back up ``source`` into a new file in ``directory`` (created if missing).

    SQLite uses the online backup API (``<name>.sqlite-backup``; an in-memory database must be
    given as its engine or connection), PostgreSQL ``pg_dump --format=custom --no-owner``
    (``<db>.dump``) and MariaDB/MySQL ``mariadb-dump --single-transaction --routines
    --triggers --events`` with the views after it, each after the views it reads
    (``<db>.sql``). The source is only read. Returns a :class:`Backup` whose
    ``restore_command`` restores it. Raises :class:`~shopmig.errors.BackupToolMissingError`
    when the dump tool is not installed and :class:`~shopmig.errors.BackupFailedError` with
    the tool's error output (passwords masked) when it fails; no partial file is left.
    """
    url = url_of(source)
    dialect = dialect_for(url)
    method = dialect.backup_method
    if isinstance(source, str | URL) and not is_memory_database(url) and not database_exists(url):
        raise DatabaseNotFoundError(mask_url(url))
    folder = Path(directory)
    tool = None
    if dialect.is_server:
        name = url.database or "database"
        tool = dialect.find_tool(dialect.dump_tools, url)
    else:
        name = Path(database_file(url) or "memory").stem
    folder.mkdir(parents=True, exist_ok=True)
    path = _new_path(folder.resolve(), name, dialect.backup_suffix)
    partial = path.with_name(path.name + ".partial")
    try:
        if tool is None:
            _sqlite_backup(source, partial)
        else:
            with use_connection(source) as conn, reading(conn):
                rewriter = dialect.dump_rewriter(conn)
                args = dialect.dump_args(tool, url, output=None if rewriter else str(partial),
                                         conn=conn)
            command = Command(args, url, dialect.tool_env(url))
            if rewriter is None:
                run(command)
            else:
                pipe(command, None, rewriter=rewriter, output=partial)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    restore = dialect.restore_shell_command(str(path), _default_target(url, path))
    return Backup(mask_url(url), str(path), method, path.stat().st_size, restore)


# ------------------------------------------------------------------ restore


def restore_backup(backup: Backup, target: str | URL | Engine | Connection) -> str:
    """Restore ``backup`` into the new database ``target`` and return its masked URL.

    ``target`` must not exist yet (raises :class:`~shopmig.errors.TargetExistsError`); it is
    created on the same kind of server as the backup's source (an in-memory SQLite target is
    given as engine or connection). The backup's source is never touched. If the restore
    fails, the half-restored target is dropped and
    :class:`~shopmig.errors.BackupFailedError` says why.
    """
    dialect = _dialect_of_method(backup.method)
    url = url_of(target)
    if type(dialect_for(url)) is not type(dialect):
        raise InvalidArgumentError(
            "target", mask_url(url),
            f"a {dialect.label} database URL (the backup was made with {backup.method})",
        )
    path = Path(backup.path)
    if not path.is_file():
        raise InvalidArgumentError("backup.path", backup.path, "an existing backup file")
    live = isinstance(target, Engine | Connection)
    if is_memory_database(url) and not live:
        raise InvalidArgumentError(
            "target", mask_url(url), "a SQLite file URL, or the engine or connection of an "
            "in-memory database (a new in-memory URL would be lost at once)",
        )
    if not (live and is_memory_database(url)) and database_exists(url):
        raise TargetExistsError(mask_url(url))
    if not dialect.is_server:
        _restore_sqlite(path, target)
        return mask_url(url)
    tool = dialect.find_tool(dialect.restore_tools, url)
    create_database(url)
    try:
        stdin = dialect.restore_reads_stdin()
        args = dialect.restore_args(tool, url, input_path=None if stdin else str(path))
        run(Command(args, url, dialect.tool_env(url)), stdin=path if stdin else None)
    except BaseException:
        drop_database(url)
        raise
    return mask_url(url)


def _restore_sqlite(path: Path, target: str | URL | Engine | Connection) -> None:
    src = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        if isinstance(target, Engine | Connection):
            with use_connection(target) as conn, reading(conn):
                raw = conn.connection.driver_connection
                assert raw is not None
                src.backup(raw)
            return
        dest_path = database_file(url_of(target))
        assert dest_path is not None
        dst = sqlite3.connect(dest_path)
        try:
            src.backup(dst)
        except BaseException:
            dst.close()
            Path(dest_path).unlink(missing_ok=True)
            raise
        dst.close()
    except sqlite3.Error as exc:
        raise BackupFailedError("sqlite3 backup", mask_url(url_of(target)), str(exc)) from None
    finally:
        src.close()

