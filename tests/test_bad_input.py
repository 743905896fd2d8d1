"""Every bad input to every command, one table: exit code 2, exactly one ``shopmig: error:``
line, no password anywhere in the output, and nothing changed: the SQLite files byte-identical,
no file left in the folder, and on the servers the source's rows and revision as they were and
no new database.

The inputs include every one issue 13 lists (items 6 and 8): MariaDB URL options, ``--report`` /
``--backup-dir`` on a bad path, ``--rows 10000000000000``, ``--seed -1``, ``--lock-timeout
nan``/``inf``, ``verify --expect amount=abc`` on SQLite, a password with a space in argparse
messages, a PostgreSQL table name with ``"``, bad ``--rows-per-sec``/``--duration`` (refused
before any copy, backup or baseline is made), and the copy that is its own source
(``--copy-to SRC`` and its aliases: ``./``, an absolute path, a symlink, ``localhost`` vs
``127.0.0.1``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import server_base_url

import shopmig
from shopmig.cli import main
from shopmig.db import parse_url

SECRET = "S3cr3t"
"""Part of every password below; it must never appear in any output."""
PW_RAW = "S3cr3t pw"  # a password with a space, unencoded, as a user might type it
PW_URL = "S3cr3t%20pw"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

S, PG, MY = "sqlite", "postgresql", "mariadb"


@dataclass(frozen=True)
class Case:
    """One bad input: where it runs, the arguments (``{placeholders}`` filled per test) and
    words the error line must hold (so the right check refused it)."""

    id: str
    backend: str
    args: list[str]
    needles: list[str] = field(default_factory=list)


def c(id: str, backend: str, args: list[str], *needles: str) -> Case:
    return Case(id, backend, args, list(needles))


DB = "{db}"
LOCK = ("nan", "inf", "-inf", "-1", "0", "1e9", "abc", "601")
CASES = [
    # ---------------------------------------------------------- the URL (every command)
    c("url-empty", S, ["--url", "", "inspect"], "empty"),
    c("url-garbage", S, ["--url", "not a url", "inspect"], "not a valid SQLAlchemy URL"),
    c("url-other-database", S, ["--url", f"oracle://u:{PW_RAW}@h/db", "inspect"], "oracle"),
    c("url-no-such-driver", S, ["--url", f"postgresql+nodriver://u:{PW_URL}@h/db", "history"],
      "driver"),
    c("sqlite-unknown-option", S, ["--url", DB + "?bogus=1", "inspect"], "bogus"),
    c("sqlite-bad-timeout", S, ["--url", DB + "?timeout=abc", "history"], "abc"),
    c("sqlite-missing-file", S, ["--url", "sqlite:///missing.db", "inspect"], "not found"),
    c("sqlite-folder", S, ["--url", "sqlite:///{tmp}", "history"], "is a folder"),
    c("sqlite-not-a-database", S, ["--url", "sqlite:///notes.txt", "history"], "notes.txt"),
    c("mariadb-charset", S, ["--url", "{my_pw}?charset=nonsense", "inspect"], "nonsense"),
    c("mariadb-ssl-ca", S, ["--url", "{my_pw}?ssl_ca=/nonexistent", "inspect"], "ssl_ca"),
    c("mariadb-unknown-option", S, ["--url", "{my_pw}?bogus=1", "history"], "bogus"),
    c("mariadb-connect-timeout", S, ["--url", "{my_pw}?connect_timeout=abc", "sql"], "abc"),
    c("pg-sslmode", S, ["--url", "{pg_pw}?sslmode=bogus", "inspect"], "sslmode"),
    c("pg-unknown-option", S, ["--url", "{pg_pw}?bogus=1", "history"], "bogus"),
    c("pg-sslrootcert", S, ["--url", "{pg_pw}?sslrootcert=/nonexistent", "lint"],
      "sslrootcert"),
    c("password-with-space-stray-argument", S,
      ["--url", DB, "inspect", f"postgresql+psycopg://u:{PW_RAW}@h/db"], "unrecognized"),
    c("password-with-space-as-command", S, [f"postgresql+psycopg://u:{PW_RAW}@h/db"],
      "invalid choice"),
    c("password-with-space-copy-one-url", S, ["copy", f"mysql+pymysql://u:{PW_RAW}@h/db"],
      "required"),
    c("unknown-command", S, ["frobnicate"], "invalid choice"),
    c("no-command", S, [], "required"),
    # ---------------------------------------------------------- init-demo
    c("init-rows-huge", S, ["--url", "sqlite:///new.db", "init-demo", "--rows",
                            "10000000000000"], "--rows", "10,000,000"),
    c("init-rows-negative", S, ["--url", "sqlite:///new.db", "init-demo", "--rows", "-5"],
      "--rows"),
    c("init-rows-text", S, ["--url", "sqlite:///new.db", "init-demo", "--rows", "abc"],
      "--rows"),
    c("init-rows-float", S, ["--url", "sqlite:///new.db", "init-demo", "--rows", "1e3"],
      "--rows"),
    c("init-seed-negative", S, ["--url", "sqlite:///new.db", "init-demo", "--seed", "-1"],
      "--seed"),
    c("init-seed-huge", S, ["--url", "sqlite:///new.db", "init-demo", "--seed", str(2**64)],
      "--seed"),
    c("init-seed-text", S, ["--url", "sqlite:///new.db", "init-demo", "--seed", "x"], "--seed"),
    c("init-unwritable-folder", S, ["--url", "sqlite:////proc/new.db", "init-demo"],
      "cannot be written"),
    c("init-missing-folder", S, ["--url", "sqlite:///nodir/new.db", "init-demo"],
      "does not exist"),
    c("init-existing-shop", S, ["--url", DB, "init-demo"], "--replace"),
    c("init-pg-bad-option", PG, ["--url", "{pg_new}?bogus=1", "init-demo"], "bogus"),
    c("init-pg-existing-shop", PG, ["--url", "{pg}", "init-demo", "--rows", "5"], "--replace"),
    # ---------------------------------------------------------- adopt
    c("adopt-already-tracked", S, ["--url", DB, "adopt"], "already tracked"),
    c("adopt-missing-file", S, ["--url", "sqlite:///missing.db", "adopt"], "not found"),
    # ---------------------------------------------------------- stamp
    c("stamp-prefix", S, ["--url", DB, "stamp", "0002"], "full revision id", "0002_add_status"),
    c("stamp-typo", S, ["--url", DB, "stamp", "0002_add_stauts"], "not a revision id"),
    c("stamp-relative", S, ["--url", DB, "stamp", "+1"], "not a revision id"),
    c("stamp-head", S, ["--url", DB, "stamp", "head"], "not a revision id"),
    c("stamp-empty", S, ["--url", DB, "stamp", ""], "not a revision id"),
    c("stamp-schema-disagrees", S, ["--url", DB, "stamp", "0003_status_check"],
      "does not show revision 0003_status_check"),
    c("stamp-pg-schema-disagrees", PG, ["--url", "{pg}", "stamp", "0005_status_index"],
      "does not show revision 0005_status_index"),
    c("stamp-mariadb-schema-disagrees", MY, ["--url", "{my}", "stamp", "0002_add_status"],
      "does not show revision 0002_add_status"),
    # ---------------------------------------------------------- inspect
    c("inspect-empty-table", S, ["--url", DB, "inspect", "--table", ""], "--table"),
    c("inspect-nul-in-table", S, ["--url", DB, "inspect", "--table", "a\x00b"], "NUL"),
    c("inspect-table-too-long", S, ["--url", DB, "inspect", "--table", "t" * 5000], "bytes"),
    c("inspect-missing-table", S, ["--url", DB, "inspect", "--table", "nope"], "not found"),
    c("inspect-pg-quote-in-table", PG, ["--url", "{pg}", "inspect", "--table", 'a"b'],
      'a"b'),
    c("inspect-pg-quoted-table-not-found", PG, ["--url", "{pg}", "inspect", "--table",
                                                '"a.b"'], "not found"),
    c("global-table-part-too-long", PG, ["--url", "{pg}", "--table", "public." + "y" * 64,
                                         "history"], "63 bytes"),
    c("global-column-empty", S, ["--url", DB, "--column", "", "sql"], "--column"),
    c("inspect-pg-table-over-63-bytes", PG, ["--url", "{pg}", "inspect", "--table", "x" * 64],
      "63 bytes"),
    c("inspect-mariadb-backtick-in-table", MY, ["--url", "{my}", "inspect", "--table", "a`b"],
      "not found"),
    # ---------------------------------------------------------- history, sql
    c("history-extra-argument", S, ["--url", DB, "history", "x"], "unrecognized"),
    c("sql-unknown-target", S, ["--url", DB, "sql", "nope"], "unknown revision"),
    c("sql-empty-target", S, ["--url", DB, "sql", ""], "unknown revision"),
    # ---------------------------------------------------------- lint
    *[c(f"lint-lock-timeout-{v}", S, ["--url", DB, "lint", "--lock-timeout", v],
        "--lock-timeout") for v in ("nan", "0", "inf")],
    c("lint-unknown-target", S, ["--url", DB, "lint", "nope"], "unknown revision"),
    # ---------------------------------------------------------- upgrade, downgrade
    c("upgrade-no-target", S, ["--url", DB, "upgrade"], "needs a TARGET", "shopmig upgrade +1"),
    c("upgrade-minus-one", S, ["--url", DB, "upgrade", "-1"], "-N goes down",
      "shopmig downgrade -1"),
    c("upgrade-base", S, ["--url", DB, "upgrade", "base"], "shopmig downgrade base"),
    c("upgrade-unknown", S, ["--url", DB, "upgrade", "nope"], "unknown revision", "head"),
    c("upgrade-plus-zero", S, ["--url", DB, "upgrade", "+0"], "1 or more"),
    *[c(f"upgrade-lock-timeout-{v}", S, ["--url", DB, "upgrade", "+1", "--lock-timeout", v],
        "--lock-timeout") for v in LOCK],
    c("upgrade-pg-lock-timeout-inf", PG, ["--url", "{pg}", "upgrade", "head",
                                          "--lock-timeout", "inf"], "--lock-timeout"),
    c("upgrade-mariadb-lock-timeout-nan", MY, ["--url", "{my}", "upgrade", "head",
                                               "--lock-timeout", "nan"], "--lock-timeout"),
    c("downgrade-plus-one", S, ["--url", DB, "downgrade", "+1"], "+N goes up",
      "shopmig upgrade +1"),
    c("downgrade-head", S, ["--url", DB, "downgrade", "head"], "shopmig upgrade head"),
    c("downgrade-no-target", S, ["--url", DB, "downgrade"], "needs a TARGET"),
    c("downgrade-lock-timeout-inf", S, ["--url", DB, "downgrade", "-1", "--lock-timeout",
                                        "inf"], "--lock-timeout"),
    # ---------------------------------------------------------- copy
    c("copy-onto-itself", S, ["copy", DB, DB], "itself"),
    c("copy-onto-itself-dot", S, ["copy", DB, "{dot}"], "itself"),
    c("copy-onto-itself-absolute", S, ["copy", DB, "{abs}"], "itself"),
    c("copy-onto-itself-symlink", S, ["copy", DB, "{link}"], "itself"),
    c("copy-onto-existing", S, ["copy", DB, "sqlite:///other.db"], "already exists"),
    c("copy-missing-source", S, ["copy", "sqlite:///missing.db", "sqlite:///new.db"],
      "not found"),
    c("copy-unwritable-target", S, ["copy", DB, "sqlite:////proc/c.db"], "cannot be written"),
    c("copy-target-bad-option", S, ["copy", DB, "{my_pw}?charset=nonsense"], "nonsense"),
    c("copy-pg-onto-itself-localhost", PG, ["copy", "{pg}", "{pg_alias}"], "itself"),
    c("copy-mariadb-onto-itself-localhost", MY, ["copy", "{my}", "{my_alias}"], "itself"),
    # ---------------------------------------------------------- verify
    *[c(f"verify-{name}", S, ["verify", "--before", DB, "--after", DB, *extra], *needles)
      for name, extra, needles in (
          ("expect-amount-abc", ["--expect", "amount=abc"], ["--expect amount", "abc"]),
          ("expect-amount-nan", ["--expect", "amount=nan"], ["--expect amount"]),
          ("expect-without-equals", ["--expect", "status"], ["COLUMN=VALUE"]),
          ("expect-without-column", ["--expect", "=x"], ["COLUMN=VALUE"]),
          ("chunk-rows-zero", ["--chunk-rows", "0"], ["--chunk-rows"]),
          ("chunk-rows-huge", ["--chunk-rows", "10000000000000"], ["chunk_rows"]),
          ("chunk-rows-text", ["--chunk-rows", "x"], ["--chunk-rows"]),
          ("sample-nan", ["--sample", "nan"], ["sample"]),
          ("sample-zero", ["--sample", "0"], ["sample"]),
          ("sample-two", ["--sample", "2"], ["sample"]),
          ("sample-inf", ["--sample", "inf"], ["sample"]),
          ("method-bogus", ["--method", "bogus"], ["invalid choice"]),
          ("key-range-without-colon", ["--key-range", "abc"], ["LO:HI"]),
          ("table-empty", ["--table", ""], ["--table"]),
          ("key-empty", ["--key", ""], ["--key"]),
          ("key-missing", ["--key", "nope"], ["nope"]),
      )],
    c("verify-missing-before", S, ["verify", "--before", "sqlite:///missing.db", "--after", DB],
      "not found"),
    c("verify-pg-expect-amount-abc", PG, ["verify", "--before", "{pg}", "--after", "{pg}",
                                          "--expect", "amount=abc"], "--expect amount"),
    # ---------------------------------------------------------- rehearse
    *[c(f"rehearse-rows-per-sec-{v}", S, ["rehearse", DB, "--rows-per-sec", v],
        "--rows-per-sec") for v in ("1e-300", "nan", "-1", "0", "1e9", "inf")],
    *[c(f"rehearse-duration-{v}", S, ["rehearse", DB, "--duration", v], "--duration")
      for v in ("0", "inf", "-1", "1e9", "nan", "1e-300")],
    c("rehearse-no-write-at-all", S, ["rehearse", DB, "--rows-per-sec", "0.2", "--duration",
                                      "2"], "--rows-per-sec x --duration", "write nothing"),
    *[c(f"rehearse-lock-timeout-{v}", S, ["rehearse", DB, "--lock-timeout", v],
        "--lock-timeout") for v in ("nan", "0")],
    c("rehearse-report-missing-folder", S, ["rehearse", DB, "--report", "/nonexistent/r.html"],
      "--report", "does not exist"),
    c("rehearse-report-is-a-folder", S, ["rehearse", DB, "--report", "{tmp}"], "is a folder"),
    c("rehearse-report-unwritable", S, ["rehearse", DB, "--report", "/proc/r.html"],
      "--report", "cannot write"),
    c("rehearse-backup-dir-unwritable", S, ["rehearse", DB, "--backup-dir", "/proc/x"],
      "--backup-dir"),
    c("rehearse-backup-dir-is-a-file", S, ["rehearse", DB, "--backup-dir", "notes.txt"],
      "--backup-dir", "is a file"),
    c("rehearse-backup-dir-under-a-file", S, ["rehearse", DB, "--backup-dir", "notes.txt/b"],
      "--backup-dir", "is a file"),
    c("rehearse-copy-onto-source", S, ["rehearse", DB, "--copy-to", DB], "itself"),
    c("rehearse-copy-onto-source-dot", S, ["rehearse", DB, "--copy-to", "{dot}"], "itself"),
    c("rehearse-copy-onto-source-absolute", S, ["rehearse", DB, "--copy-to", "{abs}"],
      "itself"),
    c("rehearse-copy-onto-source-symlink", S, ["rehearse", DB, "--copy-to", "{link}"],
      "itself"),
    c("rehearse-copy-unwritable", S, ["rehearse", DB, "--copy-to", "sqlite:////proc/c.db"],
      "cannot be written"),
    c("rehearse-copy-bad-option", S, ["rehearse", DB, "--copy-to", "{my_pw}?charset=x"],
      "charset"),
    c("rehearse-workload-missing-file", S, ["rehearse", DB, "--workload", "missing.sql"],
      "--workload", "readable"),
    c("rehearse-workload-is-a-folder", S, ["rehearse", DB, "--workload", "{tmp}"],
      "--workload"),
    c("rehearse-in-memory-source", S, ["rehearse", "sqlite://"], "in-memory"),
    c("rehearse-missing-source", S, ["rehearse", "sqlite:///missing.db", "--no-backup"],
      "not found"),
    c("rehearse-pg-copy-onto-source", PG, ["rehearse", "{pg}", "--copy-to", "{pg}"], "itself"),
    c("rehearse-pg-copy-onto-source-localhost", PG, ["rehearse", "{pg}", "--copy-to",
                                                     "{pg_alias}"], "itself"),
    c("rehearse-pg-rows-per-sec-before-any-copy", PG, ["rehearse", "{pg}", "--rows-per-sec",
                                                       "1e-300"], "--rows-per-sec"),
    c("rehearse-pg-duration-before-any-copy", PG, ["rehearse", "{pg}", "--duration", "0"],
      "--duration"),
    c("rehearse-pg-backup-dir-before-any-copy", PG, ["rehearse", "{pg}", "--backup-dir",
                                                     "/proc/x"], "--backup-dir"),
    c("rehearse-mariadb-copy-onto-source-localhost", MY, ["rehearse", "{my}", "--copy-to",
                                                          "{my_alias}"], "itself"),
    c("rehearse-mariadb-report-before-any-copy", MY, ["rehearse", "{my}", "--report",
                                                      "/nonexistent/r.html"], "--report"),
    # ---------------------------------------------------------- notebooks
    c("notebooks-missing-folder", S, ["notebooks", "--notebooks", "nope", "--out", "out"],
      "notebooks folder"),
    c("notebooks-out-unwritable", S, ["notebooks", "--notebooks", str(NOTEBOOKS), "--out",
                                      "/proc/out"], "--out"),
    c("notebooks-out-is-a-file", S, ["notebooks", "--notebooks", str(NOTEBOOKS), "--out",
                                     "notes.txt"], "--out", "is a file"),
    c("notebooks-bad-url-option", S, ["notebooks", "--notebooks", str(NOTEBOOKS), "--out",
                                      "out", "--url", "{pg_pw}?sslmode=bogus"], "sslmode"),
    # ---------------------------------------------------------- classroom
    c("classroom-on-sqlite", S, ["--url", DB, "classroom", "create", "2"], "PostgreSQL"),
    *[c(f"classroom-{name}", S, ["--url", "{pg_pw}", "classroom", *extra], *needles)
      for name, extra, needles in (
          ("zero-learners", ["create", "0"], ["learners"]),
          ("too-many-learners", ["create", "501"], ["500"]),
          ("name-with-dash", ["create", "ann", "bad-name"], ["bad-name"]),
          ("duplicate-names", ["create", "ann", "ANN"], ["twice"]),
          ("bad-prefix", ["create", "2", "--prefix", "Bad-"], ["prefix"]),
          ("rows-huge", ["create", "2", "--rows", "10000000000000"], ["--rows"]),
          ("urls-file-unwritable", ["create", "2", "--urls-file", "/proc/u.txt"],
           ["--urls-file"]),
          ("drop-empty-prefix", ["drop", "--prefix", ""], ["prefix"]),
      )],
]


# ------------------------------------------------------------------ places to run against


@dataclass
class Server:
    url: str  # 127.0.0.1, with a password where the server accepts any (PostgreSQL: trust)
    alias: str  # the same database by localhost
    name: str


def _server(backend: str, password: str | None) -> Server:
    base = parse_url(server_base_url(backend))
    name = f"shopmig_bad_{uuid.uuid4().hex[:8]}"
    url = base.set(database=name, host="127.0.0.1", password=password)
    shopmig.make_demo_shop(url.render_as_string(hide_password=False), rows=50, seed=1)
    return Server(url.render_as_string(hide_password=False),
                  url.set(host="localhost").render_as_string(hide_password=False), name)


@pytest.fixture(scope="module")
def pg_server():  # type: ignore[no-untyped-def]
    server = _server(PG, "S3cr3t pw")  # trust authentication: any password is accepted
    yield server
    shopmig.drop_database(server.url)


@pytest.fixture(scope="module")
def my_server():  # type: ignore[no-untyped-def]
    server = _server(MY, None)  # root has no password here: a wrong one would be refused
    yield server
    shopmig.drop_database(server.url)


def _files(root: Path) -> dict[str, str]:
    """Every path under ``root`` and the SHA-256 of every file (a symlink by its target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "folder"
    return out


def _server_state(server: Server) -> tuple[object, ...]:
    """The source's rows (every one) and revision, and every database named like it."""
    engine = shopmig.open_engine(server.url)
    try:
        with engine.connect() as conn:
            dialect = shopmig.dialects.dialect_for(conn)
            names = sorted(r[0] for r in conn.execute(sa.text(
                "SELECT datname FROM pg_database" if dialect.name == "postgresql" else
                "SELECT schema_name FROM information_schema.schemata")) if r[0].startswith(
                    server.name))
    finally:
        engine.dispose()
    rows = shopmig.snapshot(server.url).to_dict(orient="records")
    return names, shopmig.current_revision(server.url), rows


@pytest.fixture
def place(tmp_path, clean_cwd, request):  # type: ignore[no-untyped-def]
    """The folder every case runs in: a 20-row SQLite demo shop, a second database, a symlink
    to the shop and a plain file; plus the server sources a case needs."""
    shopmig.make_demo_shop(f"sqlite:///{tmp_path / 'shop.db'}", rows=20, seed=3)
    shopmig.make_demo_shop(f"sqlite:///{tmp_path / 'other.db'}", rows=3, seed=4)
    (tmp_path / "link.db").symlink_to(tmp_path / "shop.db")
    (tmp_path / "notes.txt").write_text("not a database\n")
    fill = {
        "db": "sqlite:///shop.db", "dot": "sqlite:///./shop.db",
        "abs": f"sqlite:///{tmp_path / 'shop.db'}", "link": "sqlite:///link.db",
        "tmp": str(tmp_path),
        "pg_pw": f"postgresql+psycopg://u:{PW_URL}@127.0.0.1:5432/shopmig_never_made",
        "my_pw": f"mysql+pymysql://u:{PW_URL}@127.0.0.1:3306/shopmig_never_made",
    }
    return tmp_path, fill


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(case: Case, place, request,
                                                              capsys) -> None:
    folder, fill = place
    server = None
    if case.backend != S:
        request.node.add_marker(pytest.mark.server)
        server = request.getfixturevalue("pg_server" if case.backend == PG else "my_server")
        prefix = "pg" if case.backend == PG else "my"
        fill = {**fill, prefix: server.url, f"{prefix}_alias": server.alias,
                f"{prefix}_new": server.url.replace(server.name, server.name + "_new")}
    args = [arg.format(**fill) for arg in case.args]
    files_before = _files(folder)
    server_before = _server_state(server) if server else None

    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()

    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("shopmig: error: "), err
    assert SECRET not in out + err
    for needle in case.needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err
    assert _files(folder) == files_before  # nothing changed, nothing left behind
    if server is not None:
        assert _server_state(server) == server_before


def test_the_table_covers_every_command_and_option() -> None:
    """Every command and every option that takes a value has at least one bad input above."""
    from shopmig.cli import build_parser

    parser = build_parser()
    covered = " ".join(" ".join(case.args) for case in CASES)
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        assert f" {name}" in f" {covered}", name
        actions = list(command._actions)
        for nested in [a for a in actions if a.dest == "classroom_command"]:
            actions += [x for p in nested.choices.values() for x in p._actions]  # type: ignore[union-attr]
        for action in actions:
            if action.option_strings and action.nargs != 0 and action.dest != "help":
                assert any(opt in covered for opt in action.option_strings), (name, action.dest)
    assert "--url" in covered
    assert len(CASES) >= 100
