"""Check every option before anything happens: numbers finite and in range, paths writable,
URLs the driver understands, a copy that is not its source.

The command line and the Python API call the same checks (the CLI first, so it can name its
``--options``; the library functions again at their top, so a caller of the API is refused the
same way). Every check raises a :class:`~shopmig.errors.ShopmigError` subclass with exit code 2
and changes nothing: checks only read. Some connect to read a database's identity
(:func:`not_same_database`) or its column types (:func:`expectations`); none writes.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopmig.errors import (
    InvalidArgumentError,
    SameDatabaseError,
    StampRefusedError,
    TargetDirectionError,
    UnknownRevisionError,
    UnwritablePathError,
)
from shopmig.migrate.options import MigrationOptions

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from shopmig.db import Source

MAX_DEMO_ROWS = 10_000_000
"""The demo shop is generated in memory (about 200 bytes a row) and its ids have 7 digits: 10
million rows is the largest shop the benchmarks build."""
MAX_SEED = 2**64 - 1
LOCK_TIMEOUT_STEP_S = 0.001
"""Lock timeouts are whole milliseconds on PostgreSQL (and 0 there means *no* timeout), so a
smaller value is rounded up to 1 ms, never down to 0."""
MAX_STATEMENT_TIMEOUT_S = 2_147_483.0
"""PostgreSQL's ``statement_timeout`` holds at most 2**31-1 milliseconds."""
MAX_RETRIES = 100
MAX_BACKOFF_S = 3600.0
MIN_ROWS_PER_SEC, MAX_ROWS_PER_SEC = 0.1, 10_000.0
"""Below one write every 10 s a step sees no write at all; above 10,000 a second the one
workload connection cannot commit that fast (each write is its own transaction)."""
MIN_DURATION_S, MAX_DURATION_S = 1.0, 86_400.0
MAX_CHUNK_ROWS = 10_000_000
_RELATIVE = re.compile(r"([+-])(\d+)")


# ------------------------------------------------------------------ numbers


def number(name: str, value: object, *, low: float, high: float, integer: bool = False,
           low_open: bool = False, unit: str = "") -> Any:
    """``value`` if it is a finite number (a whole one with ``integer``) from ``low`` to
    ``high`` (``low`` itself excluded with ``low_open``); else
    :class:`~shopmig.errors.InvalidArgumentError` naming the range."""
    kind = "a whole number" if integer else "a number"
    above = "above" if low_open else "from"
    expected = f"{kind} {above} {_shown(low)} to {_shown(high)}{unit}"
    if integer:
        ok_type = isinstance(value, int) and not isinstance(value, bool)
        if not ok_type and hasattr(value, "__index__") and not isinstance(value, bool):
            try:
                value, ok_type = value.__index__(), True
            except TypeError:
                ok_type = False
    else:
        ok_type = isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
    if not ok_type or not math.isfinite(value):  # type: ignore[arg-type]
        raise InvalidArgumentError(name, value, expected)
    if value < low or (low_open and value == low) or value > high:  # type: ignore[operator]
        raise InvalidArgumentError(name, value, expected)
    return value


def _shown(limit: float) -> str:
    return f"{int(limit):,}" if float(limit).is_integer() else f"{limit:,g}"


def rows(value: object, name: str = "rows") -> int:
    """A demo shop's row count: a whole number from 0 to :data:`MAX_DEMO_ROWS`."""
    return int(number(name, value, low=0, high=MAX_DEMO_ROWS, integer=True))


def seed(value: object, name: str = "seed") -> int:
    """A random seed: a whole number from 0 to 2**64-1 (NumPy refuses negative seeds)."""
    return int(number(name, value, low=0, high=MAX_SEED, integer=True))


def lock_timeout(value: object, name: str = "lock_timeout_s",
                 statement_timeout_s: float = MigrationOptions.statement_timeout_s) -> float:
    """A lock timeout in seconds: finite, above 0 and at most the statement timeout (a
    statement is cancelled then anyway). Returns it rounded *up* to whole milliseconds (at
    least 1 ms: PostgreSQL reads 0 as "wait forever")."""
    seconds = float(number(name, value, low=0, high=statement_timeout_s, low_open=True,
                           unit=" seconds"))
    return max(LOCK_TIMEOUT_STEP_S, math.ceil(round(seconds * 1000, 6)) / 1000)


def migration_options(options: MigrationOptions | None) -> MigrationOptions:
    """Check every field of ``options`` (None: the defaults); return them with the lock
    timeout rounded up to whole milliseconds."""
    import dataclasses

    if options is None:
        return MigrationOptions()
    if not isinstance(options, MigrationOptions):
        raise InvalidArgumentError("options", type(options).__name__, "a MigrationOptions")
    statement = float(number("statement_timeout_s", options.statement_timeout_s, low=0,
                             high=MAX_STATEMENT_TIMEOUT_S, low_open=True, unit=" seconds"))
    timeout = lock_timeout(options.lock_timeout_s, statement_timeout_s=statement)
    number("retries", options.retries, low=0, high=MAX_RETRIES, integer=True)
    number("backoff_s", options.backoff_s, low=0, high=MAX_BACKOFF_S, unit=" seconds")
    number("rewrite_row_limit", options.rewrite_row_limit, low=0, high=2**63 - 1, integer=True)
    if not isinstance(options.allow_table_rewrite, bool):
        raise InvalidArgumentError("allow_table_rewrite", options.allow_table_rewrite,
                                   "True or False")
    return dataclasses.replace(options, lock_timeout_s=timeout)


def workload(rows_per_sec: object, duration_s: object, *, rate_name: str = "rows_per_sec",
             duration_name: str = "duration_s") -> tuple[float, float]:
    """The rehearsal workload's rate (writes a second) and hard time limit (seconds)."""
    rate = float(number(rate_name, rows_per_sec, low=MIN_ROWS_PER_SEC, high=MAX_ROWS_PER_SEC,
                        unit=" writes a second"))
    duration = float(number(duration_name, duration_s, low=MIN_DURATION_S,
                            high=MAX_DURATION_S, unit=" seconds"))
    if rate * duration < 1:
        raise InvalidArgumentError(
            f"{rate_name} x {duration_name}", rate * duration,
            "at least 1 write (the workload would write nothing: a rehearsal without load "
            "proves nothing)")
    return rate, duration


def demo_options(rows_value: object, seed_value: object) -> tuple[int, int]:
    """``rows`` and ``seed`` of a demo shop."""
    return rows(rows_value), seed(seed_value)


# ------------------------------------------------------------------ paths


def _probe(directory: Path, name: str, shown: str) -> None:
    """Write and remove a scratch file in ``directory``: the one test that also holds for root
    (who passes every permission check) on a read-only or virtual file system."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".shopmig-probe-")
    except OSError as exc:
        raise UnwritablePathError(name, shown, f"cannot write in {str(directory)!r} "
                                  f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _existing_ancestor(path: Path, name: str, shown: str) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UnwritablePathError(name, shown, f"{str(parent)!r} is a file, not a folder")
            return parent
    raise UnwritablePathError(name, shown, "no part of it exists")  # pragma: no cover


def writable_dir(path: str | os.PathLike[str], name: str) -> Path:
    """A folder shopmig may create and write files in (it need not exist yet: the nearest
    existing folder above it must be writable). Nothing is left behind by the check."""
    if not str(path).strip():
        raise UnwritablePathError(name, str(path), "it is empty")
    folder = Path(path).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise UnwritablePathError(name, str(path), "it is a file, not a folder")
    _probe(_existing_ancestor(folder, name, str(path)), name, str(path))
    return folder


def writable_file(path: str | os.PathLike[str], name: str) -> Path:
    """A file shopmig may create or replace: its folder exists and is writable, and it is not
    a folder itself. Nothing is left behind by the check."""
    if not str(path).strip():
        raise UnwritablePathError(name, str(path), "it is empty")
    file = Path(path).expanduser().absolute()
    if file.is_dir():
        raise UnwritablePathError(name, str(path), "it is a folder")
    if not file.parent.is_dir():
        raise UnwritablePathError(name, str(path), f"the folder {str(file.parent)!r} does not "
                                  "exist")
    _probe(file.parent, name, str(path))
    if file.exists():
        try:
            with open(file, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise UnwritablePathError(name, str(path), exc.strerror or str(exc)) from None
    return file


# ------------------------------------------------------------------ databases


def database_url(url: object, name: str = "url", *, new: bool = False) -> URL:
    """Parse ``url`` and check its options with the driver's own rules, without connecting
    (:class:`~shopmig.errors.InvalidURLError`). With ``new`` (a database shopmig will create,
    such as a copy), a SQLite file's folder must exist and be writable."""
    from shopmig.db import mask_url, open_engine, parse_url
    from shopmig.dialects import dialect_for

    if not isinstance(url, str):
        from sqlalchemy.engine import URL

        if not isinstance(url, URL):
            raise InvalidArgumentError(name, type(url).__name__, "a database URL")
    parsed = parse_url(url)
    dialect = dialect_for(parsed)
    open_engine(parsed, must_exist=False).dispose()  # the driver's option checks, no connection
    path = dialect.file_path(parsed)
    if path is not None:
        file = Path(path)
        if file.is_dir():
            raise UnwritablePathError(name, mask_url(parsed), f"{path!r} is a folder")
        if new and not file.exists():
            if not file.absolute().parent.is_dir():
                raise UnwritablePathError(name, mask_url(parsed),
                                          f"the folder of {path!r} does not exist")
            _probe(file.absolute().parent, name, mask_url(parsed))
    return parsed


def identifier(value: object, name: str, *, max_bytes: int = 63) -> str:
    """A table or column name as the user typed it: a non-empty string without NUL characters
    and at most ``max_bytes`` bytes (PostgreSQL silently cuts longer names to 63 bytes, which
    could name another table). Quoting is SQLAlchemy's job; any other character is allowed."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(name, value, "a non-empty name")
    if "\x00" in value:
        raise InvalidArgumentError(name, value, "a name without NUL characters")
    if len(value.encode("utf-8")) > max_bytes:
        raise InvalidArgumentError(name, value, f"a name of at most {max_bytes} bytes")
    return value


def not_same_database(source: Source, target: Source, *, action: str = "copy") -> None:
    """Raise :class:`~shopmig.errors.SameDatabaseError` when ``target`` is ``source`` itself,
    whatever URL reaches it (``localhost`` vs ``127.0.0.1``, ``./shop.db`` vs ``shop.db``, a
    symlink): compared by database identity, not URL text."""
    from sqlalchemy.engine import Connection

    from shopmig.databases import database_exists, same_database
    from shopmig.db import mask_url, url_of

    for side in (source, target):  # connecting to a missing SQLite file would create it
        if not isinstance(side, Connection) and not database_exists(url_of(side)):
            return
    if same_database(source, target):
        raise SameDatabaseError(mask_url(source), mask_url(target), action)


def copy_options(source: Source, target: Source) -> None:
    """Before :func:`shopmig.copy_database`: both URLs usable (the target's SQLite folder
    writable) and the target not the source itself."""
    if isinstance(source, str):
        database_url(source, "source")
    if isinstance(target, str):
        database_url(target, "target", new=True)
    not_same_database(source, target, action="copy")


def rehearse_options(source: str, copy_to: str, *, rows_per_sec: object, duration_s: object,
                     options: MigrationOptions | None,
                     backup_dir: str | os.PathLike[str] | None) -> None:
    """Before :func:`shopmig.rehearse` makes a copy, a backup or a baseline: every number in
    range, the backup folder writable, both URLs usable, and the copy not the source."""
    workload(rows_per_sec, duration_s)
    migration_options(options)
    database_url(source, "source")
    database_url(copy_to, "copy_to", new=True)
    if backup_dir is not None:
        writable_dir(backup_dir, "backup_dir")
    not_same_database(source, copy_to, action="rehearse on a copy")


# ------------------------------------------------------------------ verify


_SCALARS = (str, int, float, bool, decimal.Decimal, _dt.date, _dt.datetime, _dt.time)


def verify_options(*, expect: Mapping[str, Any] | None, chunk_rows: object, sample: object,
                   after: object = None, table: str = "orders") -> None:
    """``expect`` maps column names to one plain value each (not a list, set or dict),
    ``chunk_rows`` is from 1 to :data:`MAX_CHUNK_ROWS`, ``sample`` a fraction in (0, 1]. With
    ``after`` (a database, not a DataFrame), each expected value must also fit its column's
    type there (:func:`expectations`)."""
    number("chunk_rows", chunk_rows, low=1, high=MAX_CHUNK_ROWS, integer=True)
    if sample is not None:
        number("sample", sample, low=0, high=1, low_open=True)
    if expect is None:
        return
    if not isinstance(expect, Mapping):
        raise InvalidArgumentError("expect", expect, "a mapping of column name to value")
    for column, value in expect.items():
        identifier(column, "expect column", max_bytes=1024)
        if value is not None and not isinstance(value, _SCALARS):
            raise InvalidArgumentError(f"expect[{column!r}]", value,
                                       "one value (a string, number, date or None)")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgumentError(f"expect[{column!r}]", value, "a finite number")
    if expect and _is_database(after):
        expectations(after, table, expect)  # type: ignore[arg-type]


def _is_database(source: object) -> bool:
    if isinstance(source, str):
        return True
    from sqlalchemy.engine import URL, Connection, Engine

    return isinstance(source, URL | Engine | Connection)


def _convert(value: Any, python_type: type) -> Any:
    if value is None or (isinstance(value, python_type) and not isinstance(value, bool)):
        return value
    if python_type is bool:
        text = str(value).strip().lower()
        if text in ("1", "true", "t", "yes"):
            return True
        if text in ("0", "false", "f", "no"):
            return False
        raise ValueError(value)
    if python_type is float or python_type is decimal.Decimal:
        number_value = python_type(str(value).strip())
        if not math.isfinite(number_value):
            raise ValueError(value)
        return number_value
    if python_type is int:
        return int(str(value).strip())
    if python_type in (_dt.date, _dt.datetime, _dt.time):
        return python_type.fromisoformat(str(value).strip())
    if python_type is str:
        return str(value)
    return value


def expectations(after: Source, table: str, expect: Mapping[str, Any], *,
                 name: str = "expect") -> dict[str, Any]:
    """``expect`` with each value converted to its column's type in ``after``'s ``table``
    (``"12.5"`` for a float column becomes 12.5); a value that cannot be (``amount=abc``)
    raises :class:`~shopmig.errors.InvalidArgumentError`. Columns or tables that do not exist
    are left for :func:`shopmig.verify` to report. Only reads the catalog."""
    import sqlalchemy as sa

    from shopmig.db import reading, use_connection

    out = dict(expect)
    if not out:  # nothing to convert: no connection to open
        return out
    with use_connection(after) as conn, reading(conn):
        insp = sa.inspect(conn)
        if not insp.has_table(table):
            return out
        columns = {c["name"]: c["type"] for c in insp.get_columns(table)}
    for column, value in expect.items():
        if column not in columns:
            continue
        try:
            python_type = columns[column].python_type
        except NotImplementedError:
            continue
        try:
            out[column] = _convert(value, python_type)
        except (ValueError, TypeError, ArithmeticError):
            kind = {float: "a number", decimal.Decimal: "a number", int: "a whole number",
                    bool: "true or false", _dt.date: "a date (YYYY-MM-DD)",
                    _dt.datetime: "a date and time (ISO 8601)"}.get(python_type, "a value")
            raise InvalidArgumentError(
                f"{name} {column}", value,
                f"{kind} ({column} is {columns[column]} in {table})") from None
    return out


# ------------------------------------------------------------------ revisions


def migration_target(command: str, target: str, known: Iterable[str]) -> str:
    """A TARGET for ``upgrade`` (``+N``, ``head`` or a revision) or ``downgrade`` (``-N``,
    ``base`` or a revision): a relative target that goes the other way raises
    :class:`~shopmig.errors.TargetDirectionError`; anything that names no revision raises
    :class:`~shopmig.errors.UnknownRevisionError` listing only what this command takes."""
    known = list(known)
    text = str(target).strip()
    up = command == "upgrade"
    valid = ("+N (e.g. +1), head or a revision id" if up
             else "-N (e.g. -1), base or a revision id")
    relative = _RELATIVE.fullmatch(text)
    other = "downgrade" if up else "upgrade"
    if relative:
        if (relative.group(1) == "+") != up:
            raise TargetDirectionError(command, text, other, valid)
        if int(relative.group(2)) == 0:
            raise InvalidArgumentError(f"{command} TARGET", text,
                                       valid.replace("N (", "N with N of 1 or more ("))
        return text
    if text in ("head", "base"):
        if text != ("head" if up else "base"):
            raise TargetDirectionError(command, text, other, valid)
        return text
    matches = [r for r in known if r == text] or [r for r in known if text and r.startswith(text)]
    if len(matches) != 1:
        exc = UnknownRevisionError(text, known)
        exc.hint = "Use one of: " + ", ".join([*known, "+1" if up else "-1",
                                                "head" if up else "base"]) + "."
        exc.args = (f"{exc.problem} {exc.hint}",)
        raise exc
    return matches[0]


def stamp_revision(revision: str, known: Iterable[str]) -> str:
    """``stamp`` records a revision without running it, so only a full revision id is taken
    (no prefix, no ``+1``, no ``head``): a typo must not be written."""
    known = list(known)
    text = str(revision)
    if text not in known:
        close = [r for r in known if text.strip() and r.startswith(text.strip())]
        reason = (f"stamp needs the full revision id (did you mean {close[0]}?)"
                  if len(close) == 1 else "it is not a revision id")
        raise StampRefusedError(text, reason, known,
                                "Use one of: " + ", ".join(known) + ".")
    return text
