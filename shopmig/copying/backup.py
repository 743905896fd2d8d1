"""Backups before the first step: a file the user can restore, and the command that restores it.

- SQLite: SQLite's online backup API writes ``<directory>/<name>.sqlite-backup``, itself a
  SQLite database (works for a file and for an in-memory database given as engine/connection).
  Restore: copy the file.
- PostgreSQL: ``pg_dump --format=custom --no-owner`` writes ``<directory>/<db>.dump``.
  Restore: ``createdb`` + ``pg_restore --no-owner``. The ``pg_dump`` used is the newest one
  found whose major version is at least the server's (on Debian the versioned binaries live
  in ``/usr/lib/postgresql/<version>/bin``).
- MariaDB/MySQL: ``mariadb-dump`` (or ``mysqldump``) ``--single-transaction --routines
  --triggers`` writes ``<directory>/<db>.sql``. Restore: create the database, feed the file to
  ``mariadb``.

The source is only read. An existing backup file is never overwritten (a ``-2``, ``-3``, ...
suffix is added). Passwords reach the tools through the environment (``PGPASSWORD``,
``MYSQL_PWD``), never their command lines, and never appear in :attr:`Backup.restore_command`
or in an error message.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from shopmig.databases import create_database, database_exists, drop_database
from shopmig.db import (
    Source,
    database_file,
    is_memory_database,
    mask_url,
    open_engine,
    parse_url,
    reading,
    translate_error,
    url_of,
    use_connection,
)
from shopmig.errors import (
    BackupFailedError,
    BackupToolMissingError,
    DatabaseNotFoundError,
    InvalidArgumentError,
    TargetExistsError,
)
from shopmig.masking import mask_text

METHODS = ("sqlite-backup", "pg_dump", "mariadb-dump")
SUFFIX = {"sqlite-backup": ".sqlite-backup", "pg_dump": ".dump", "mariadb-dump": ".sql"}
PG_VERSIONED_BIN = "/usr/lib/postgresql"
"""Where Debian/Ubuntu install one ``bin`` folder per PostgreSQL major version."""
PG_PACKAGE = "postgresql-client"
MARIADB_PACKAGE = "mariadb-client"
TOOL_TIMEOUT_S = 6 * 60 * 60
STDERR_LINES = 3
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
        return _restore_command(self.method, self.path, parse_url(target))

    def to_dict(self) -> dict[str, object]:
        """The backup as a plain dict (for JSON)."""
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"backup of {self.source} ({self.method}, {self.bytes:,} bytes): {self.path}\n"
            f"restore with: {self.restore_command}"
        )


# ------------------------------------------------------------------ helpers


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend == "mariadb":
        return "mysql"
    if backend not in ("sqlite", "postgresql", "mysql"):
        raise InvalidArgumentError("source", mask_url(url), "a SQLite, PostgreSQL or MariaDB URL")
    return backend


def _method(url: URL) -> str:
    return {"sqlite": "sqlite-backup", "postgresql": "pg_dump", "mysql": "mariadb-dump"}[
        _backend(url)
    ]


def _new_path(directory: Path, name: str, suffix: str) -> Path:
    """``directory/name+suffix``, or ``name-2``, ``name-3``... if that file exists already."""
    safe = re.sub(r"[^\w.-]+", "_", name) or "database"
    path = directory / f"{safe}{suffix}"
    n = 2
    while path.exists() or path.with_name(path.name + ".partial").exists():
        path = directory / f"{safe}-{n}{suffix}"
        n += 1
    return path


def _secrets(url: URL) -> list[str]:
    values = [url.password, url.query.get("password")]
    return [str(v if isinstance(v, str) else v[0]) for v in values if v]


def _password(url: URL) -> str | None:
    secrets = _secrets(url)
    return secrets[0] if secrets else None


def _first_lines(text: str, url: URL) -> str:
    """The first lines of a tool's stderr as one line, with every password hidden."""
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    lines = [line.strip() for line in mask_text(text).splitlines() if line.strip()]
    shown = " | ".join(lines[:STDERR_LINES]) or "no error output"
    return shown + (f" | ... ({len(lines) - STDERR_LINES} more lines)"
                    if len(lines) > STDERR_LINES else "")


def _run(tool: str, args: Sequence[str], url: URL, env: dict[str, str], *,
         stdin: Path | None = None) -> None:
    """Run ``args``; a non-zero exit becomes :class:`BackupFailedError` (stderr, masked)."""
    with contextlib.ExitStack() as stack:
        stdin_file = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        try:
            done = subprocess.run(
                list(args), stdin=stdin_file, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, env={**os.environ, **env}, timeout=TOOL_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackupFailedError(tool, mask_url(url), _first_lines(str(exc), url)) from None
    if done.returncode != 0:
        detail = _first_lines(done.stderr.decode("utf-8", "replace"), url)
        raise BackupFailedError(tool, mask_url(url), f"exit code {done.returncode}: {detail}")


def _server_version(url: URL) -> int:
    """The major version of the PostgreSQL server at ``url`` (any of its databases)."""
    engine = open_engine(url.set(database="postgres"), pooled=False)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000
    except DBAPIError as exc:
        raise translate_error(exc, url) from None
    finally:
        engine.dispose()


_PG_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


def _pg_tool(tool: str, server_major: int) -> str:
    """The newest ``tool`` (pg_dump, pg_restore) whose major version is >= the server's."""
    found: list[tuple[int, str]] = []
    versioned = Path(PG_VERSIONED_BIN)
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
        match = _PG_VERSION.search(out)
        if match:
            found.append((int(match.group(1)), on_path))
    if not found:
        raise BackupToolMissingError(tool, PG_PACKAGE, f"{tool} is not installed (not on PATH)")
    newest = max(found, key=lambda f: f[0])
    if newest[0] < server_major:
        raise BackupToolMissingError(
            tool, f"{PG_PACKAGE}-{server_major}",
            f"the newest {tool} found ({newest[1]}) is version {newest[0]}, "
            f"older than the server (version {server_major})",
        )
    return newest[1]


def _mariadb_tool(names: Sequence[str]) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise BackupToolMissingError(
        names[0], MARIADB_PACKAGE, f"neither {' nor '.join(names)} is installed (not on PATH)"
    )


def _pg_args(url: URL) -> list[str]:
    args = []
    host = url.host or url.query.get("host")
    if host:
        args += ["--host", str(host)]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    return args


def _pg_env(url: URL) -> dict[str, str]:
    env = {"PGCONNECT_TIMEOUT": "10"}
    password = _password(url)
    if password:
        env["PGPASSWORD"] = password
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        value = url.query.get(key)
        if value:
            env[f"PG{key.upper()}"] = str(value)
    return env


def _mysql_args(url: URL, *, prompt_password: bool = False) -> list[str]:
    socket = url.query.get("unix_socket")
    if socket:
        args = [f"--socket={socket}"]
    else:
        args = ["--protocol=TCP", f"--host={url.host or 'localhost'}", f"--port={url.port or 3306}"]
    if url.username:
        args.append(f"--user={url.username}")
    if prompt_password and _password(url):
        args.append("--password")  # alone: the client asks for it
    return args


def _mysql_env(url: URL) -> dict[str, str]:
    password = _password(url)
    return {"MYSQL_PWD": password} if password else {}


def _restore_command(method: str, path: str, target: URL) -> str:
    q = shlex.quote
    if method == "sqlite-backup":
        dest = database_file(target) or "restored.db"
        return f"cp -n {q(path)} {q(dest)}"
    db = q(target.database or "restored")
    if method == "pg_dump":
        conn = " ".join(q(a) for a in _pg_args(target))
        return (f"createdb {conn} {db} && "
                f"pg_restore --no-owner --exit-on-error {conn} --dbname={db} {q(path)}")
    conn = " ".join(q(a) for a in _mysql_args(target, prompt_password=True))
    create = q(f"CREATE DATABASE {_mysql_ident(target.database or 'restored')}")
    return f"mariadb {conn} -e {create} && mariadb {conn} {db} < {q(path)}"


def _mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _default_target(url: URL, path: Path) -> URL:
    if url.get_backend_name() == "sqlite":
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
    --triggers`` (``<db>.sql``). The source is only read. Returns a :class:`Backup` whose
    ``restore_command`` restores it. Raises :class:`~shopmig.errors.BackupToolMissingError`
    when the dump tool is not installed and :class:`~shopmig.errors.BackupFailedError` with
    the tool's error output (passwords masked) when it fails; no partial file is left.
    """
    url = url_of(source)
    method = _method(url)
    if isinstance(source, str | URL) and not is_memory_database(url) and not database_exists(url):
        raise DatabaseNotFoundError(mask_url(url))
    folder = Path(directory)
    if method == "sqlite-backup":
        name = Path(database_file(url) or "memory").stem
    else:
        name = url.database or "database"
        if method == "pg_dump":
            tool = _pg_tool("pg_dump", _server_version(url))
        else:
            tool = _mariadb_tool(["mariadb-dump", "mysqldump"])
    folder.mkdir(parents=True, exist_ok=True)
    path = _new_path(folder.resolve(), name, SUFFIX[method])
    partial = path.with_name(path.name + ".partial")
    try:
        if method == "sqlite-backup":
            _sqlite_backup(source, partial)
        elif method == "pg_dump":
            _run("pg_dump", [tool, "--format=custom", "--no-owner", *_pg_args(url),
                             f"--file={partial}", f"--dbname={url.database}"],
                 url, _pg_env(url))
        else:
            _run(Path(tool).name, [
                tool, *_mysql_args(url), "--single-transaction", "--routines", "--triggers",
                "--hex-blob", "--default-character-set=utf8mb4",
                f"--result-file={partial}", "--", str(url.database),
            ], url, _mysql_env(url))
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    command = _restore_command(method, str(path), _default_target(url, path))
    return Backup(mask_url(url), str(path), method, path.stat().st_size, command)


# ------------------------------------------------------------------ restore


def restore_backup(backup: Backup, target: str | URL | Engine | Connection) -> str:
    """Restore ``backup`` into the new database ``target`` and return its masked URL.

    ``target`` must not exist yet (raises :class:`~shopmig.errors.TargetExistsError`); it is
    created on the same kind of server as the backup's source (an in-memory SQLite target is
    given as engine or connection). The backup's source is never touched. If the restore
    fails, the half-restored target is dropped and
    :class:`~shopmig.errors.BackupFailedError` says why.
    """
    if backup.method not in METHODS:
        raise InvalidArgumentError("backup.method", backup.method, " or ".join(METHODS))
    url = url_of(target)
    if _method(url) != backup.method:
        raise InvalidArgumentError(
            "target", mask_url(url),
            f"a {_backend(parse_url(backup.source))} database URL (the backup was made with "
            f"{backup.method})",
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
    if backup.method == "sqlite-backup":
        _restore_sqlite(path, target)
        return mask_url(url)
    if backup.method == "pg_dump":
        tool = _pg_tool("pg_restore", _server_version(url))
        create_database(url)
        args = [tool, "--no-owner", "--exit-on-error", *_pg_args(url),
                f"--dbname={url.database}", str(path)]
        run = ("pg_restore", args, _pg_env(url), None)
    else:
        tool = _mariadb_tool(["mariadb", "mysql"])
        create_database(url)
        args = [tool, *_mysql_args(url), "--", str(url.database)]
        run = (Path(tool).name, args, _mysql_env(url), path)
    try:
        _run(run[0], run[1], url, run[2], stdin=run[3])
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

