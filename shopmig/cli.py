"""The ``shopmig`` command line: a thin layer that parses, calls the library, prints, exits.

Exit codes: 0 success (including "already there, nothing to do"); 1 a check found differences;
2 bad usage, bad input or a database error; 141 the reader of the output went away (``| head``).
Errors are one line on stderr starting ``shopmig: error:`` and never show a password. Every
option is checked (:mod:`shopmig.validate`) before anything is created, copied or migrated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from shopmig import validate
from shopmig._version import __version__
from shopmig.errors import (
    DiskFullError,
    InvalidArgumentError,
    ShopmigError,
    TargetRequiredError,
    UnexpectedError,
)
from shopmig.masking import mask_text, scrub
from shopmig.migrate.options import TABLE, MigrationOptions
from shopmig.verification.options import METHODS

# Everything else is imported by the command that needs it, so `shopmig --help` stays fast.

EXIT_OK, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell shows for a program whose reader (``| head``) went away."""
TRACEBACK_ENV_VAR = "SHOPMIG_TRACEBACK"


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in shopmig's one-line format with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse echoes stray arguments, which may be URLs with a password
        self.exit(EXIT_ERROR, f"shopmig: error: {mask_text(message)} (see: {self.prog} --help)\n")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of 0 or more, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of 0 or more, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return value


def _key_range(text: str) -> tuple[str | None, str | None]:
    lo, sep, hi = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LO:HI, got {text!r}")
    return (lo or None, hi or None)


def _expectation(text: str) -> tuple[str, str]:
    column, sep, value = text.partition("=")
    if not sep or not column:
        raise argparse.ArgumentTypeError(f"expected COLUMN=VALUE, got {text!r}")
    return column, value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every ``shopmig`` command."""
    p = _Parser(prog="shopmig", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"shopmig {__version__}")
    p.add_argument("--url", help="database URL (default: $SHOPMIG_DATABASE_URL, else "
                   "sqlite:///shopmig.db)")
    p.add_argument("--table", dest="global_table", default=None, metavar="NAME",
                   help="the table to migrate (PostgreSQL: schema.table; default: the one "
                   "adopted, else orders)")
    p.add_argument("--column", dest="global_column", default=None, metavar="NAME",
                   help="the column the migration adds (default: status; adopt records it)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("init-demo", help="create a demo shop with seeded orders")
    s.add_argument("--rows", type=_non_negative_int, default=1000)
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--replace", action="store_true", help="drop and rebuild an existing demo shop")

    sub.add_parser("adopt", help="check an existing orders table and stamp it at the baseline")

    s = sub.add_parser("stamp", help="recovery: record REVISION as applied without running it "
                       "(after a half-applied step)")
    s.add_argument("revision")
    s.add_argument("--yes-this-is-not-a-copy", action="store_true",
                   help="allow changing a server database that is not a shopmig copy")

    s = sub.add_parser("inspect", help="columns, indexes, constraints, dependants, rows and "
                       "revision")
    s.add_argument("--table", default=None, help="the table (default: as for every command)")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("history", help="every revision and whether it is applied")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("sql", help="the SQL (and impact) from the current revision to TARGET")
    s.add_argument("target", nargs="?", default="+1")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("lint", help="preflight the steps to TARGET: locks, rewrites, expected "
                       "lock time, dangerous SQL; exit 1 on a danger finding")
    s.add_argument("target", nargs="?", default="head")
    s.add_argument("--lock-timeout", type=float, default=MigrationOptions.lock_timeout_s,
                   help="seconds each step may wait for its lock (default: %(default)s)")
    s.add_argument("--allow-table-rewrite", action="store_true",
                   help="lint the plan as it would run with --allow-table-rewrite")
    s.add_argument("--json", action="store_true")

    for name, helptext in (("upgrade", "+1, head or a revision id"),
                           ("downgrade", "-1, base or a revision id")):
        s = sub.add_parser(name, help=f"{name} to TARGET ({helptext}; required)")
        s.add_argument("target", nargs="?", default=None, metavar="TARGET")
        s.add_argument("--yes-this-is-not-a-copy", action="store_true",
                       help="allow changing a server database that is not a shopmig copy")
        s.add_argument("--allow-table-rewrite", action="store_true",
                       help="allow steps that copy a large table and block writes")
        s.add_argument("--lock-timeout", type=float, default=MigrationOptions.lock_timeout_s,
                       help="seconds a DDL statement may wait for its lock (default: %(default)s)")
        s.add_argument("--json", action="store_true")

    s = sub.add_parser("copy", help="copy a database for rehearsal and mark it as a copy")
    s.add_argument("src_url")
    s.add_argument("dst_url")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("verify", help="compare a table before vs after; exit 1 on differences")
    s.add_argument("--before", required=True, help="URL of the database before the migration")
    s.add_argument("--after", required=True, help="URL of the database after the migration")
    s.add_argument("--table", default=None, help=f"the table (default: {TABLE})")
    s.add_argument("--key", default=None, type=_key_columns, metavar="COL[,COL...]",
                   help="the column(s) that identify a row (default: the primary key)")
    s.add_argument("--expect", action="append", type=_expectation, default=[],
                   metavar="COL=VALUE", help="every pre-existing row has COL == VALUE")
    s.add_argument("--method", default="auto", choices=METHODS,
                   help="comparison engine (default: auto, the fastest that fits)")
    s.add_argument("--chunk-rows", type=_positive_int, default=50_000,
                   help="rows held per side at once (default: %(default)s)")
    s.add_argument("--key-range", type=_key_range, default=None, metavar="LO:HI",
                   help="compare only keys from LO to HI (either may be empty)")
    s.add_argument("--sample", type=float, default=None, metavar="FRACTION",
                   help="compare a seeded fraction of the key segments, for a quick look")
    s.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("rehearse", help="rehearse every pending step on a copy under a "
                       "synthetic write workload; exit 1 if anything is lost or fails")
    s.add_argument("source_url")
    s.add_argument("--copy-to", default=None, metavar="URL",
                   help="the rehearsal copy (default: <name>_rehearsal beside the source)")
    s.add_argument("--rows-per-sec", type=float, default=50.0,
                   help="workload writes per second (default: %(default)s)")
    s.add_argument("--duration", type=float, default=300.0, metavar="S",
                   help="the workload's hard time limit in seconds (default: %(default)s)")
    s.add_argument("--report", default=None, metavar="PATH", help="write the HTML report here")
    s.add_argument("--workload", default=None, metavar="FILE.sql",
                   help="write with your own statements (one per ';'; :run and :n keep each "
                   "run's rows apart) instead of writes derived from the table")
    s.add_argument("--backup-dir", default="shopmig-backups", metavar="DIR")
    s.add_argument("--no-backup", action="store_true", help="skip the pre-migration backup")
    s.add_argument("--allow-table-rewrite", action="store_true",
                   help="allow steps that copy a large table and block writes")
    s.add_argument("--lock-timeout", type=float, default=MigrationOptions.lock_timeout_s)
    s.add_argument("--yes-this-is-not-a-copy", action="store_true",
                   help="allow --copy-to to name an existing database that is not a shopmig copy")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("notebooks", help="run every notebook headless into DIR (ipynb + html)")
    s.add_argument("--out", default="build/notebooks")
    s.add_argument("--notebooks", default="notebooks", help="folder of the notebooks to run")
    s.add_argument("--url", dest="notebook_url", default=None,
                   help="run the notebooks against this database (default: each notebook's own)")

    s = sub.add_parser("classroom", help="one demo-shop database per learner on a shared server "
                       "(create), and drop them all again (drop)")
    csub = s.add_subparsers(dest="classroom_command", required=True, parser_class=_Parser)
    c = csub.add_parser("create", help="create <prefix>01.. (or <prefix>NAME) demo shops")
    c.add_argument("learners", nargs="+", metavar="N|NAME",
                   help="a number of learners, or one name per learner")
    c.add_argument("--rows", type=_non_negative_int, default=1000)
    c.add_argument("--urls-file", default=None, metavar="PATH",
                   help="also write each learner's full URL (password included) to PATH")
    d = csub.add_parser("drop", help="drop the <prefix>* databases that carry a shopmig marker")
    for cp in (c, d):
        cp.add_argument("--prefix", default="shopmig_learner_",
                        help="database name prefix (default: %(default)s)")
        cp.add_argument("--url", dest="classroom_url", default=None,
                        help="the server to use (same as shopmig --url)")
    return p


# ------------------------------------------------------------------ output


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _table(rows: Sequence[Mapping[Any, Any]]) -> str:
    """Rows as an aligned text table; a missing value (None, NaN) shows as a dash."""
    import pandas as pd

    frame = pd.DataFrame(rows).astype(object)
    return frame.where(frame.notna(), "—").to_string(index=False)


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename), readable
    by its owner only (0600): a report may name servers and databases."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".shopmig-", suffix=".tmp")  # mode 0600
    try:
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------ checks before anything


def _check_table(value: str, limit: int) -> None:
    """A ``--table`` value: each part of ``schema.table`` a name of at most ``limit`` bytes
    (a quoted part may hold dots: then the whole is checked)."""
    validate.identifier(value, "--table", max_bytes=2 * limit + 5)
    if '"' not in value:
        for part in value.split("."):
            validate.identifier(part, "--table", max_bytes=limit)


def _check_target(args: argparse.Namespace, limit: int) -> None:
    """The global ``--table`` (``schema.table`` allowed) and ``--column``, when given."""
    if args.global_table is not None:
        _check_table(args.global_table, limit)
    if args.global_column is not None:
        validate.identifier(args.global_column, "--column", max_bytes=limit)


def _name_bytes(*urls: str) -> int:
    from shopmig.dialects import dialect_for

    return min(dialect_for(u).max_identifier_length for u in urls)


def _check_url(url: str, args: argparse.Namespace) -> None:
    validate.database_url(url, "--url")
    _check_target(args, _name_bytes(url))


def _check_init_demo(url: str, args: argparse.Namespace) -> None:
    validate.rows(args.rows, "--rows")
    validate.seed(args.seed, "--seed")
    validate.database_url(url, "--url", new=True)
    _check_target(args, _name_bytes(url))


def _check_stamp(url: str, args: argparse.Namespace) -> None:
    from shopmig.migrate.core import revisions

    validate.stamp_revision(args.revision, revisions())
    _check_url(url, args)


def _check_inspect(url: str, args: argparse.Namespace) -> None:
    validate.database_url(url, "--url")
    _check_target(args, _name_bytes(url))
    if args.table is not None:
        _check_table(args.table, _name_bytes(url))


def _check_lint(url: str, args: argparse.Namespace) -> None:
    _check_url(url, args)
    validate.lock_timeout(args.lock_timeout, "--lock-timeout")


def _check_migrate(url: str, args: argparse.Namespace) -> None:
    from shopmig.migrate.core import revisions

    _check_url(url, args)
    validate.lock_timeout(args.lock_timeout, "--lock-timeout")
    if args.target is not None:
        validate.migration_target(args.command, args.target, revisions())


def _check_copy(url: str, args: argparse.Namespace) -> None:
    validate.database_url(args.src_url, "SRC_URL")
    validate.database_url(args.dst_url, "DST_URL", new=True)
    validate.not_same_database(args.src_url, args.dst_url, action="copy")


def _verify_table(args: argparse.Namespace) -> str:
    """``verify --table``, else the global ``--table``, else orders (an empty one is an
    error, not a default)."""
    return str(args.table if args.table is not None else (args.global_table or TABLE))


def _key_columns(text: str) -> list[str]:
    """``--key a,b``: the key's columns, in order."""
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"not a list of column names: {text!r}")
    return names


def _check_verify(url: str, args: argparse.Namespace) -> None:
    validate.database_url(args.before, "--before")
    validate.database_url(args.after, "--after")
    limit = _name_bytes(args.before, args.after)
    _check_target(args, limit)
    _check_table(_verify_table(args), limit)
    for column in args.key or []:
        validate.identifier(column, "--key", max_bytes=limit)
    validate.verify_options(expect=dict(args.expect), chunk_rows=args.chunk_rows,
                            sample=args.sample)


def _rehearsal_copy(args: argparse.Namespace) -> str:
    from shopmig.rehearsal.run import default_copy_url

    return args.copy_to if args.copy_to is not None else default_copy_url(args.source_url)


def _check_rehearse(url: str, args: argparse.Namespace) -> None:
    validate.workload(args.rows_per_sec, args.duration, rate_name="--rows-per-sec",
                      duration_name="--duration")
    validate.lock_timeout(args.lock_timeout, "--lock-timeout")
    validate.database_url(args.source_url, "SOURCE_URL")
    copy_to = _rehearsal_copy(args)
    validate.database_url(copy_to, "--copy-to", new=True)
    if not args.no_backup:
        validate.writable_dir(args.backup_dir, "--backup-dir")
    if args.report:
        validate.writable_file(args.report, "--report")
    if args.workload:
        _read_workload(args.workload)
    _check_target(args, _name_bytes(args.source_url, copy_to))
    validate.not_same_database(args.source_url, copy_to, action="rehearse on a copy")


def _check_notebooks(url: str | None, args: argparse.Namespace) -> None:
    from shopmig.teach.notebooks import notebook_paths

    notebook_paths(args.notebooks)
    validate.writable_dir(args.out, "--out")
    if url is not None:
        validate.database_url(url, "--url")


def _check_classroom(url: str, args: argparse.Namespace) -> None:
    from shopmig.teach import classroom

    server = args.classroom_url or url
    validate.database_url(server, "--url")
    if args.classroom_command == "create":
        validate.rows(args.rows, "--rows")
        classroom.classroom_urls(server, _learners(args), prefix=args.prefix)
        if args.urls_file:
            validate.writable_file(args.urls_file, "--urls-file")
    else:
        classroom.classroom_urls(server, 1, prefix=args.prefix)


def _learners(args: argparse.Namespace) -> int | list[str]:
    if len(args.learners) == 1 and args.learners[0].isdigit():
        return int(args.learners[0])
    return list(args.learners)


# ------------------------------------------------------------------ leaving nothing half-made


@contextlib.contextmanager
def _removed_on_failure(urls: Sequence[str]) -> Iterator[None]:
    """Databases in ``urls`` that do not exist yet, and that the command fails part-way through
    making, are dropped again; the error then says so (after checking that they are gone)."""
    from shopmig.databases import database_exists, drop_database

    new = [u for u in urls if not database_exists(u)]
    try:
        yield
    except BaseException as exc:
        if not new:
            raise
        made = [u for u in new if _exists_quietly(u, database_exists)]
        for u in made:
            with contextlib.suppress(Exception):
                drop_database(u)
        gone = not any(_exists_quietly(u, database_exists) for u in new)
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = exc if isinstance(exc, ShopmigError) else _as_error(exc, new[0])
        if isinstance(error, DiskFullError):
            error = DiskFullError(error.where, error.detail, cleaned=gone)
        elif made:
            note = (" The half-made database was removed again." if gone else
                    " A half-made database may be left behind: check before retrying.")
            error.args = (error.problem + note + (f" {error.hint}" if error.hint else ""),)
        if error is exc:
            raise
        raise error from None


def _exists_quietly(url: str, exists: Callable[[str], bool]) -> bool:
    try:
        return exists(url)
    except Exception:
        return True  # cannot tell: assume it is there (never claim a clean-up that is unsure)


@contextlib.contextmanager
def _folder_removed_on_failure(path: str | None) -> Iterator[None]:
    """Folders of ``path`` that do not exist yet and are still empty if the command fails are
    removed again."""
    if path is None:
        yield
        return
    from pathlib import Path

    folder = Path(path).absolute()
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        yield
    except BaseException:
        for p in missing:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()
        raise


# ------------------------------------------------------------------ commands


def _cmd_init_demo(url: str, args: argparse.Namespace) -> int:
    from shopmig.db import mask_url
    from shopmig.demo import make_demo_shop

    with _removed_on_failure([url]):
        rows = make_demo_shop(url, args.rows, seed=args.seed, replace=args.replace)
    print(f"created a demo shop with {rows:,} orders at revision 0001_baseline in {mask_url(url)}")
    return EXIT_OK


def _cmd_adopt(url: str, args: argparse.Namespace) -> int:
    from shopmig.db import mask_url
    from shopmig.migrate import core as migrate

    rev = migrate.adopt(url, table=args.global_table, column=args.global_column)
    target = migrate.resolve_target_of(url)
    print(f"{target.display} can be migrated (column {target.column!r}); {mask_url(url)} is now "
          f"at revision {rev}, and remembers the table")
    return EXIT_OK


def _cmd_stamp(url: str, args: argparse.Namespace) -> int:
    from shopmig.databases import require_copy
    from shopmig.db import mask_url
    from shopmig.migrate import core as migrate

    if not args.yes_this_is_not_a_copy:
        require_copy(url, "stamp")
    before = migrate.half_applied(url)
    rev = migrate.stamp(url, args.revision, table=args.global_table)  # refuses what the
    print(f"{mask_url(url)} is now recorded at revision {rev}"         # schema does not show
          + ("" if before else " (the schema did not disagree with the old revision)"))
    mismatch = migrate.half_applied(url)
    if mismatch:
        print(f"warning: {mismatch}", file=sys.stderr)
    return EXIT_OK


def _cmd_inspect(url: str, args: argparse.Namespace) -> int:
    from shopmig.catalog import inspect_table

    info = inspect_table(url, args.table or args.global_table)
    if args.json:
        _print_json(info.to_dict())
        return EXIT_OK
    print(f"{info.table} in {info.url} ({info.dialect}): {info.rows:,} rows, "
          f"revision {info.revision or '(not tracked by shopmig)'}")
    print(_table(info.columns))
    if info.indexes:
        print("indexes:\n" + _table(info.indexes))
    if info.constraints:
        print("constraints:\n" + _table(info.constraints))
    if info.dependants:
        print("depends on it:")
        for d in info.dependants:
            print(f"  {d['kind']} {d['name']}: {d['detail']}\n    steps: {d['steps']}")
    if info.schema_state:
        print(f"schema: {info.schema_state}")
    return EXIT_OK


def _cmd_history(url: str, args: argparse.Namespace) -> int:
    from shopmig.migrate import core as migrate

    frame = migrate.history(url, table=args.global_table)
    if args.json:
        _print_json(frame.to_dict(orient="records"))
    else:
        print(_table(frame.to_dict(orient="records")))
    return EXIT_OK


def _cmd_sql(url: str, args: argparse.Namespace) -> int:
    from shopmig.migrate import core as migrate

    steps = migrate.plan(url, args.target, version_table=True, table=args.global_table,
                         column=args.global_column)
    if args.json:
        _print_json([s.to_dict() for s in steps])
        return EXIT_OK
    if not steps:
        print(f"already at {migrate.current_revision(url)}: no SQL to run")
    for note in steps[0].notes if steps else []:
        print(f"-- note: {note}")
    for s in steps:
        i = s.impact
        print(f"-- step {s.revision} ({s.direction}): {i.summary}")
        print(f"--   lock: {i.lock}; blocks writes: {i.blocks_writes}; "
              f"rewrites table: {'yes' if i.rewrites_table else 'no'}; "
              f"scans table: {'yes' if i.scans_table else 'no'}")
        for note in i.notes:
            print(f"--   note: {note}")
        print(s.sql + "\n")
    return EXIT_OK


def _cmd_lint(url: str, args: argparse.Namespace) -> int:
    from shopmig.lint import lint_plan

    options = validate.migration_options(MigrationOptions(
        lock_timeout_s=args.lock_timeout, allow_table_rewrite=args.allow_table_rewrite))
    report = lint_plan(url, args.target, options=options, table=args.global_table,
                       column=args.global_column)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report)
    return EXIT_OK if report.ok else EXIT_DIFFERENCES


def _target_choices(url: str, args: argparse.Namespace) -> TargetRequiredError:
    """What ``upgrade``/``downgrade`` without a TARGET would mean: the next step and the
    whole way, read from the database (nothing runs)."""
    from shopmig.migrate import core as migrate

    command = args.command
    up = command == "upgrade"
    steps = migrate.plan(url, "head" if up else "base", direction="up" if up else "down",
                         table=args.global_table, column=args.global_column)
    current = migrate.current_revision(url)
    if not steps:
        return TargetRequiredError(command, [], current)
    steps = [s for s in steps if s.direction == ("up" if up else "down")] or steps
    one, end = ("+1", "head") if up else ("-1", "base")
    last = steps[-1].revision if up else migrate.revisions()[0]
    first = steps[0].revision if up else (migrate.revisions()[
        max(0, migrate.revisions().index(steps[0].revision) - 1)])
    where = "next" if up else "back to"
    choices = [f"shopmig {command} {one} ({where}: {first})"]
    if len(steps) > 1:
        choices.append(f"shopmig {command} {end} ({len(steps)} steps, "
                       f"{'up' if up else 'down'} to {last})")
    return TargetRequiredError(command, choices, current)


def _cmd_migrate(url: str, args: argparse.Namespace) -> int:
    from shopmig.databases import require_copy
    from shopmig.migrate import core as migrate

    if not args.yes_this_is_not_a_copy:
        require_copy(url, args.command)
    if args.target is None:
        raise _target_choices(url, args)
    options = validate.migration_options(
        MigrationOptions(lock_timeout_s=args.lock_timeout,
                         allow_table_rewrite=args.allow_table_rewrite))
    run = migrate.upgrade if args.command == "upgrade" else migrate.downgrade
    applied = run(url, args.target, options=options, table=args.global_table,
                  column=args.global_column)
    if args.json:
        _print_json({"applied": [a.to_dict() for a in applied],
                     "revision": migrate.current_revision(url)})
        return EXIT_OK
    if not applied:
        print(f"already at {migrate.current_revision(url)}: nothing to do, nothing changed")
    for a in applied:
        print(f"{a.direction}: {a.from_revision} -> {a.to_revision} ({a.seconds:.3f}s)")
        for note in a.notes:
            print(f"  {note}")
    return EXIT_OK


def _cmd_copy(url: str, args: argparse.Namespace) -> int:
    from shopmig.copying import copy_database

    with _removed_on_failure([args.dst_url]):
        result = copy_database(args.src_url, args.dst_url)
    if args.json:
        _print_json(result.to_dict())
        return EXIT_OK
    tables = ", ".join(f"{t} ({n:,} rows)" for t, n in result.tables.items())
    print(f"copied {result.source} to {result.target} by {result.method}: {tables}")
    for note in result.notes:
        print(f"note: {note}")
    return EXIT_OK


_VERIFY_OPTIONS = {"key": "--key", "key_range": "--key-range", "expect": "--expect",
                  "method": "--method", "chunk_rows": "--chunk-rows", "sample": "--sample"}


@contextlib.contextmanager
def _named_as_options(options: dict[str, str]) -> Iterator[None]:
    """An API argument error says which command-line option was wrong (``--key-range``, not
    ``key_range``)."""
    try:
        yield
    except InvalidArgumentError as exc:
        if exc.name not in options:
            raise
        raise InvalidArgumentError(options[exc.name], exc.value, exc.expected) from None


def _cmd_verify(url: str, args: argparse.Namespace) -> int:
    from shopmig.db import use_connection
    from shopmig.verification.api import verify as verify_tables

    expect = validate.expectations(args.after, _verify_table(args), dict(args.expect),
                                   name="--expect")
    with use_connection(args.before) as before, use_connection(args.after) as after, \
            _named_as_options(_VERIFY_OPTIONS):
        result = verify_tables(before, after, table=_verify_table(args), key=args.key,
                               expect=expect, method=args.method,
                               chunk_rows=args.chunk_rows, key_range=args.key_range,
                               sample=args.sample, progress=args.progress)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result)
    return EXIT_OK if result.ok else EXIT_DIFFERENCES


def _cmd_rehearse(url: str, args: argparse.Namespace) -> int:
    from shopmig.rehearsal.run import rehearse

    options = validate.migration_options(
        MigrationOptions(lock_timeout_s=args.lock_timeout,
                         allow_table_rewrite=args.allow_table_rewrite))
    backup_dir = None if args.no_backup else args.backup_dir
    with _folder_removed_on_failure(backup_dir):
        result = rehearse(
            args.source_url, copy_to=args.copy_to, rows_per_sec=args.rows_per_sec,
            duration_s=args.duration, options=options, backup_dir=backup_dir,
            allow_not_a_copy=args.yes_this_is_not_a_copy,
            progress=not args.json and _is_terminal(sys.stderr),
            table=args.global_table, column=args.global_column,
            workload=_read_workload(args.workload) if args.workload else None,
        )
    secrets = _secrets(args, url)
    if args.report:
        _write_private(args.report, scrub(result.to_html(), secrets))
    if args.json:
        print(scrub(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str),
                    secrets))
    else:
        print(result.summary())
        for note in result.notes:
            print(f"  note: {note}")
        for step in result.steps:
            print(f"  {step.revision}: {step.seconds:.3f}s, longest write stall "
                  f"{step.max_write_stall_s:.3f}s, p99 {step.p99_write_latency_s:.3f}s, "
                  f"{step.failed_writes} failed write(s)" + (f" - {step.error}" if step.error
                                                              else ""))
        if result.backup:
            print(f"backup: {result.backup['path']}; restore with: "
                  f"{result.backup['restore_command']}")
        if args.report:
            print(f"report: {args.report}")
        for what in result.left:
            print(f"left: {what}")
    return EXIT_OK if result.ok else EXIT_DIFFERENCES


def _read_workload(path: str) -> list[str]:
    """The statements of a workload file (split on ``;`` at line ends)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise InvalidArgumentError("--workload", path, f"a readable SQL file ({exc.strerror})"
                                   ) from None
    statements = [s.strip() for s in text.split(";\n") if s.strip().rstrip(";").strip()]
    statements = [s.rstrip(";").strip() for s in statements]
    if not statements:
        raise InvalidArgumentError("--workload", path, "a file with at least one statement")
    return statements


def _cmd_notebooks(url: str | None, args: argparse.Namespace) -> int:
    from shopmig.teach.notebooks import run_notebooks

    for path in run_notebooks(args.notebooks, args.out, url=url):
        print(f"ran {path}")
    return EXIT_OK


def _cmd_classroom(url: str, args: argparse.Namespace) -> int:
    from shopmig.db import mask_url
    from shopmig.teach import classroom

    server = args.classroom_url or url
    if args.classroom_command == "drop":
        dropped = classroom.drop_classroom(server, prefix=args.prefix)
        for name in dropped:
            print(f"dropped {name}")
        left = classroom.list_classroom(server, prefix=args.prefix)
        for name in left:
            print(f"left alone {name}: no shopmig marker, not a classroom database")
        print(f"dropped {len(dropped)} classroom database(s) with prefix {args.prefix!r}")
        return EXIT_OK
    urls = classroom.create_classroom(server, _learners(args), rows=args.rows,
                                      prefix=args.prefix)
    if args.urls_file:  # passwords inside, on purpose: readable by the facilitator only
        _write_private(args.urls_file, "\n".join(urls) + "\n")
    for learner_url in urls:
        print(mask_url(learner_url))
    print(f"created {len(urls)} demo shop(s) with {args.rows:,} orders each"
          + (f"; full URLs in {args.urls_file}" if args.urls_file else ""))
    print(f"drop them all afterwards with: shopmig classroom drop --prefix {args.prefix}")
    return EXIT_OK


Check = Callable[[Any, argparse.Namespace], None]
Command = Callable[[Any, argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Check, Command]] = {
    # command: (checks made before anything happens, the command)
    "init-demo": (_check_init_demo, _cmd_init_demo),
    "adopt": (_check_url, _cmd_adopt),
    "stamp": (_check_stamp, _cmd_stamp),
    "inspect": (_check_inspect, _cmd_inspect),
    "history": (_check_url, _cmd_history),
    "sql": (_check_url, _cmd_sql),
    "lint": (_check_lint, _cmd_lint),
    "upgrade": (_check_migrate, _cmd_migrate),
    "downgrade": (_check_migrate, _cmd_migrate),
    "copy": (_check_copy, _cmd_copy),
    "verify": (_check_verify, _cmd_verify),
    "rehearse": (_check_rehearse, _cmd_rehearse),
    "notebooks": (_check_notebooks, _cmd_notebooks),
    "classroom": (_check_classroom, _cmd_classroom),
}
_CHANGES_REVISION = {"upgrade", "downgrade", "stamp", "adopt", "rehearse"}


# ------------------------------------------------------------------ the last line of defence


def _secrets(args: argparse.Namespace | None, url: str | None) -> list[str]:
    """Every password the command was given (URLs, the environment): never printed or
    written."""
    from shopmig.db import url_secrets

    given = [url, os.environ.get("SHOPMIG_DATABASE_URL"), os.environ.get("SHOPMIG_NOTEBOOK_URL")]
    if args is not None:
        given += [getattr(args, name, None) for name in (
            "url", "src_url", "dst_url", "before", "after", "source_url", "copy_to",
            "notebook_url", "classroom_url")]
    return url_secrets(*[u for u in given if isinstance(u, str)])


def _subject(args: argparse.Namespace, url: str | None) -> str | None:
    """The database a command changes or reads first: the one an error is about."""
    command = args.command
    if command == "copy":
        return str(args.dst_url)
    if command == "verify":
        return str(args.after)
    if command == "rehearse":
        try:
            return _rehearsal_copy(args)
        except ShopmigError:
            return str(args.source_url)
    if command == "classroom":
        return args.classroom_url or url
    return url


def _written(args: argparse.Namespace, url: str | None) -> str | None:
    """What a command writes, in words (for a full disk whose error does not say where)."""
    from shopmig.db import mask_url

    if args.command == "rehearse":
        places = [f"the rehearsal copy {mask_url(_subject(args, url) or '')} or its baseline"]
        if not args.no_backup:
            places.append(f"the backup folder {args.backup_dir!r}")
        if args.report:
            places.append(f"the report {args.report!r}")
        return ", ".join(places[:-1]) + ", or " + places[-1] if len(places) > 1 else places[0]
    if args.command == "notebooks":
        return f"the folder {args.out!r}"
    subject = _subject(args, url)
    return mask_url(subject) if subject else None


def _revision_note(url: str | None) -> str:
    """Where the database is now, read afresh after a failure (or why that could not be read)."""
    if url is None:
        return ""
    try:
        from shopmig.db import mask_url
        from shopmig.migrate.core import current_revision

        return (f" {mask_url(url)} is at revision {current_revision(url) or 'none'} "
                "(shopmig history shows more).")
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(
            exc).__name__
        return f" shopmig could not read the revision afterwards ({detail})."


def _as_error(exc: BaseException, url: str | None, *, revision_of: str | None = None,
              written: str | None = None) -> ShopmigError:
    """Any exception that escaped a command as the shopmig error a user can act on: driver,
    pool and Alembic errors become a DatabaseError on the (masked) URL with the revision the
    database is at now; a full disk a DiskFullError (naming ``written``, what the command
    writes, when the error does not say); the rest an UnexpectedError."""
    import errno
    import sqlite3

    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from shopmig.db import mask_url, translate_error
    from shopmig.errors import DatabaseError, FileSystemError

    masked = mask_url(url) if url else "the database"
    note = _revision_note(revision_of) if revision_of else ""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return DiskFullError(exc.filename or written or masked, exc.strerror or first)
    if isinstance(exc, sqlite3.Error | DBAPIError):
        error = translate_error(exc, url) if url else DatabaseError(masked, first)
        if isinstance(error, DiskFullError) and written:
            return DiskFullError(written, error.detail)
        if isinstance(error, DatabaseError) and note:
            error = DatabaseError(masked, f"{first.rstrip('.')}.{note}", hint=error.hint)
        return error
    if isinstance(exc, SQLAlchemyError | CommandError):
        return DatabaseError(masked, f"{type(exc).__name__}: {first.rstrip('.')}.{note}")
    if isinstance(exc, OSError):
        return FileSystemError(str(exc.filename or masked), exc.strerror or first)
    if isinstance(exc, MemoryError):
        return UnexpectedError("out of memory", "the command needed more memory than there is")
    return UnexpectedError(f"unexpected {type(exc).__name__}", first + note)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _say(line: str, secrets: Sequence[str]) -> None:
    """Print one error line: secrets scrubbed, newlines and runs of spaces folded (on a
    terminal, first clear a progress bar left on the current line)."""
    text = " ".join(scrub(line, secrets).split())
    clear = "\r\033[K" if _is_terminal(sys.stderr) else ""
    with contextlib.suppress(OSError, ValueError):
        print(f"{clear}shopmig: error: {text}", file=sys.stderr)


def _silence_stdout() -> None:
    """The reader of stdout went away (``| head``): send the rest to /dev/null so Python's
    final flush does not complain either."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``shopmig`` command line with ``argv`` (default: ``sys.argv[1:]``)."""
    try:
        return _main(argv)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from shopmig.db import default_url

    url = args.url if args.url is not None else default_url()  # --url "" is an error
    if args.command == "notebooks":
        url = args.notebook_url if args.notebook_url is not None else args.url
    secrets = _secrets(args, url)
    check, command = _COMMANDS[args.command]
    changes = args.command in _CHANGES_REVISION
    try:
        check(url, args)
        return command(url, args)
    except ShopmigError as exc:
        _say(str(exc), secrets)
        return exc.exit_code
    except KeyboardInterrupt:
        note = _revision_note(_subject(args, url)) if changes else ""
        _say("interrupted." + note, secrets)
        return EXIT_ERROR
    except BrokenPipeError:
        raise
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get(TRACEBACK_ENV_VAR):
            raise
        error = _as_error(exc, _subject(args, url),
                          revision_of=_subject(args, url) if changes else None,
                          written=_written(args, url))
        _say(str(error), secrets)
        return error.exit_code
