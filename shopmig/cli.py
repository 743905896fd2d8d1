"""The ``shopmig`` command line: a thin layer that parses, calls the library, prints, exits.

Exit codes: 0 success (including "already there, nothing to do"); 1 a check found differences;
2 bad usage, bad input or a database error. Errors are one line on stderr starting
``shopmig: error:`` and never show a password.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from shopmig._version import __version__
from shopmig.errors import InvalidArgumentError, ShopmigError
from shopmig.masking import mask_text
from shopmig.migrate.options import TABLE, MigrationOptions
from shopmig.verification.options import METHODS

# Everything else is imported by the command that needs it, so `shopmig --help` stays fast.

EXIT_OK, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2


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

    for name, default, helptext in (("upgrade", "+1", "+1, head or a revision id"),
                                    ("downgrade", "-1", "-1, base or a revision id")):
        s = sub.add_parser(name, help=f"{name} to TARGET ({helptext})")
        s.add_argument("target", nargs="?", default=default)
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
    s.add_argument("--key", default="order_id")
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


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _cmd_init_demo(url: str, args: argparse.Namespace) -> int:
    from shopmig.db import mask_url
    from shopmig.demo import make_demo_shop

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
    rev = migrate.stamp(url, args.revision, table=args.global_table)
    print(f"{mask_url(url)} is now recorded at revision {rev}"
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
    import pandas as pd

    print(pd.DataFrame(info.columns).to_string(index=False))
    if info.indexes:
        print("indexes:\n" + pd.DataFrame(info.indexes).to_string(index=False))
    if info.constraints:
        print("constraints:\n" + pd.DataFrame(info.constraints).to_string(index=False))
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
        print(frame.to_string(index=False))
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

    if args.lock_timeout <= 0:
        raise InvalidArgumentError("--lock-timeout", args.lock_timeout, "a positive number")
    options = MigrationOptions(lock_timeout_s=args.lock_timeout,
                               allow_table_rewrite=args.allow_table_rewrite)
    report = lint_plan(url, args.target, options=options, table=args.global_table,
                       column=args.global_column)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report)
    return EXIT_OK if report.ok else EXIT_DIFFERENCES


def _cmd_migrate(url: str, args: argparse.Namespace) -> int:
    from shopmig.databases import require_copy
    from shopmig.migrate import core as migrate

    if not args.yes_this_is_not_a_copy:
        require_copy(url, args.command)
    if args.lock_timeout <= 0:
        raise InvalidArgumentError("--lock-timeout", args.lock_timeout, "a positive number")
    options = MigrationOptions(lock_timeout_s=args.lock_timeout,
                               allow_table_rewrite=args.allow_table_rewrite)
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

    result = copy_database(args.src_url, args.dst_url)
    if args.json:
        _print_json(result.to_dict())
        return EXIT_OK
    tables = ", ".join(f"{t} ({n:,} rows)" for t, n in result.tables.items())
    print(f"copied {result.source} to {result.target} by {result.method}: {tables}")
    for note in result.notes:
        print(f"note: {note}")
    return EXIT_OK


def _cmd_verify(url: str, args: argparse.Namespace) -> int:
    from shopmig.db import use_connection
    from shopmig.verification.api import verify as verify_tables

    with use_connection(args.before) as before, use_connection(args.after) as after:
        result = verify_tables(before, after, table=args.table or args.global_table or TABLE,
                               key=args.key,
                               expect=dict(args.expect), method=args.method,
                               chunk_rows=args.chunk_rows, key_range=args.key_range,
                               sample=args.sample, progress=args.progress)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result)
    return EXIT_OK if result.ok else EXIT_DIFFERENCES


def _cmd_rehearse(url: str, args: argparse.Namespace) -> int:
    from shopmig.rehearsal.run import rehearse

    if args.lock_timeout <= 0:
        raise InvalidArgumentError("--lock-timeout", args.lock_timeout, "a positive number")
    options = MigrationOptions(lock_timeout_s=args.lock_timeout,
                               allow_table_rewrite=args.allow_table_rewrite)
    result = rehearse(
        args.source_url, copy_to=args.copy_to, rows_per_sec=args.rows_per_sec,
        duration_s=args.duration, options=options,
        backup_dir=None if args.no_backup else args.backup_dir,
        allow_not_a_copy=args.yes_this_is_not_a_copy, progress=not args.json,
        table=args.global_table, column=args.global_column,
        workload=_read_workload(args.workload) if args.workload else None,
    )
    if args.report:
        with open(args.report, "w", encoding="utf-8") as fh:
            fh.write(result.to_html())
    if args.json:
        _print_json(result.to_dict())
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


def _cmd_notebooks(url: str, args: argparse.Namespace) -> int:
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
    learners: int | list[str] = args.learners
    if len(args.learners) == 1 and args.learners[0].isdigit():
        learners = int(args.learners[0])
    urls = classroom.create_classroom(server, learners, rows=args.rows, prefix=args.prefix)
    if args.urls_file:  # passwords inside: readable by the facilitator only
        import os

        fd = os.open(args.urls_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(urls) + "\n")
    for learner_url in urls:
        print(mask_url(learner_url))
    print(f"created {len(urls)} demo shop(s) with {args.rows:,} orders each"
          + (f"; full URLs in {args.urls_file}" if args.urls_file else ""))
    print(f"drop them all afterwards with: shopmig classroom drop --prefix {args.prefix}")
    return EXIT_OK


_COMMANDS = {
    "init-demo": _cmd_init_demo,
    "adopt": _cmd_adopt,
    "stamp": _cmd_stamp,
    "inspect": _cmd_inspect,
    "history": _cmd_history,
    "sql": _cmd_sql,
    "lint": _cmd_lint,
    "upgrade": _cmd_migrate,
    "downgrade": _cmd_migrate,
    "copy": _cmd_copy,
    "verify": _cmd_verify,
    "rehearse": _cmd_rehearse,
    "notebooks": _cmd_notebooks,
    "classroom": _cmd_classroom,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``shopmig`` command line with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from shopmig.db import default_url

    url = args.url if args.url is not None else default_url()  # --url "" is an error
    if args.command == "notebooks":
        url = args.notebook_url if args.notebook_url is not None else args.url
    try:
        return _COMMANDS[args.command](url, args)
    except ShopmigError as exc:
        print(f"shopmig: error: {mask_text(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("shopmig: error: interrupted", file=sys.stderr)
        return EXIT_ERROR
