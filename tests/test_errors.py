"""Bad input, one test each: exit code 2, exactly one ``shopmig: error:`` line that names the
problem and the fix, no password anywhere in the output, and the database left unchanged."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import digest, plain_server_shop, sqlite_exec
from sqlalchemy.exc import OperationalError

import shopmig
from shopmig.cli import main
from shopmig.db import parse_url, translate_error
from shopmig.errors import (
    AuthenticationError,
    DatabaseError,
    DatabaseNotFoundError,
    DatabaseUnreachableError,
    InvalidURLError,
)

SECRET = "s3cr3tpw"


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(capsys, args: list[str], *needles: str) -> str:
    """Run the CLI, check the error contract, return the error line."""
    code, out, err = run(capsys, *args)
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shopmig: error: ")
    assert SECRET not in out + err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]





pytestmark = pytest.mark.usefixtures("clean_cwd")


@pytest.fixture
def shop(tmp_path, capsys) -> Path:
    """A 20-row demo shop in shop.db."""
    path = tmp_path / "shop.db"
    assert run(capsys, "--url", f"sqlite:///{path}", "init-demo", "--rows", "20")[0] == 0
    return path


def _nothing_created(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ------------------------------------------------------------------ URLs and servers


@pytest.mark.parametrize("url", [
    "not a url",
    f"postgresql+psycopg//user:{SECRET}@localhost/db",
    f"postgresql+psycopg://user:{SECRET}@localhost:notaport/db",
    f"nosuchdb+nodriver://user:{SECRET}@localhost/db",
    "",
])
@pytest.mark.parametrize("command", [["inspect"], ["upgrade"], ["history"], ["sql"],
                                     ["init-demo", "--rows", "3"]])
def test_malformed_url(tmp_path, capsys, url, command) -> None:
    # --url "" (say, an unset shell variable) is an error, not a silent fall back to the default
    assert_error(capsys, ["--url", url, *command], "database URL",
                 "sqlite:///")  # the fix: an example URL
    _nothing_created(tmp_path)


def test_url_that_does_not_resolve(tmp_path, capsys) -> None:
    started = time.monotonic()
    assert_error(capsys, ["--url", f"postgresql+psycopg://user:{SECRET}@[bad", "inspect"],
                 "cannot reach", "user:***@")
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x",
    f"mysql+pymysql://u:{SECRET}@127.0.0.1:1/x",
])
@pytest.mark.parametrize("command", [["inspect"], ["upgrade", "head"], ["init-demo"]])
def test_unreachable_server_fails_quickly(tmp_path, capsys, url, command) -> None:
    started = time.monotonic()
    assert_error(capsys, ["--url", url, *command], "cannot reach", "u:***@127.0.0.1:1",
                 "server is running")
    assert time.monotonic() - started < 10


def test_unreachable_server_in_verify_and_copy(tmp_path, capsys, shop) -> None:
    bad = f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/x"
    good = f"sqlite:///{shop}"
    before = digest(shop)
    assert_error(capsys, ["verify", "--before", good, "--after", bad], "cannot reach")
    assert_error(capsys, ["verify", "--before", bad, "--after", good], "cannot reach")
    assert_error(capsys, ["copy", bad, f"sqlite:///{shop.parent / 'c.db'}"], "cannot reach")
    assert_error(capsys, ["copy", good, bad], "cannot reach")
    assert digest(shop) == before
    assert not (shop.parent / "c.db").exists()


@pytest.mark.server
def test_wrong_password_mariadb(make_url, capsys) -> None:
    url = parse_url(make_url("mariadb")).set(password=SECRET, database="test")
    text = url.render_as_string(hide_password=False)
    assert SECRET in text
    assert_error(capsys, ["--url", text, "inspect"], "refused the login", "root:***@",
                 "Check the user name and password")
    assert_error(capsys, ["--url", text, "upgrade"], "refused the login")
    assert_error(capsys, ["--url", text, "init-demo"], "refused the login")


@pytest.mark.server
def test_missing_server_database(make_url, capsys) -> None:
    url = parse_url(make_url("postgresql")).set(password=SECRET)  # trust auth ignores it
    text = url.render_as_string(hide_password=False)
    assert_error(capsys, ["--url", text, "inspect"], "not found", "does not exist", ":***@")
    assert not shopmig.database_exists(url)


class FakePsycopgError(Exception):
    """Looks like a psycopg error: the message is all there is."""


class FakePyMySQLError(Exception):
    """Looks like a PyMySQL error: ``args == (code, message)``."""


PG = f"postgresql+psycopg://alice:{SECRET}@db.example:5432/shop"
MY = f"mysql+pymysql://root:{SECRET}@db.example:3306/shop"


@pytest.mark.parametrize(("exc", "url", "kind"), [
    (FakePsycopgError('connection failed: FATAL:  password authentication failed for user '
                      '"alice"'), PG, AuthenticationError),
    (FakePsycopgError("fe_sendauth: no password supplied"), PG, AuthenticationError),
    (FakePyMySQLError(1045, "Access denied for user 'root'@'10.0.0.1' (using password: YES)"),
     MY, AuthenticationError),
    (FakePsycopgError('connection failed: FATAL:  database "shop" does not exist'), PG,
     DatabaseNotFoundError),
    (FakePyMySQLError(1049, "Unknown database 'shop'"), MY, DatabaseNotFoundError),
    (FakePsycopgError('connection failed: connection to server at "db.example", port 5432 '
                      "failed: Connection refused"), PG, DatabaseUnreachableError),
    (FakePsycopgError("connection failed: timeout expired"), PG, DatabaseUnreachableError),
    (FakePyMySQLError(2003, "Can't connect to MySQL server on 'db.example'"), MY,
     DatabaseUnreachableError),
    (FakePsycopgError("relation \"orders\" does not exist\nLINE 1: SELECT"), PG, DatabaseError),
    (FakePyMySQLError(1064, "You have an error in your SQL syntax"), MY, DatabaseError),
])
@pytest.mark.parametrize("wrapped", [False, True], ids=["raw", "sqlalchemy"])
def test_translate_error(exc, url, kind, wrapped) -> None:
    if wrapped:  # what SQLAlchemy raises: the driver error is on .orig
        exc = OperationalError("SELECT 1", {}, exc)
    err = translate_error(exc, url)
    assert type(err) is kind
    assert SECRET not in str(err) and ":***@db.example" in str(err)
    assert err.url == shopmig.mask_url(url)
    assert err.hint and "\n" not in str(err)
    assert err.exit_code == 2


def test_translate_error_accepts_an_engine(tmp_path) -> None:
    engine = sa.create_engine(PG)
    try:
        err = translate_error(FakePsycopgError("password authentication failed"), engine)
    finally:
        engine.dispose()
    assert isinstance(err, AuthenticationError) and SECRET not in str(err)


def test_parse_url_rejects_empty_and_non_strings() -> None:
    for bad in ("", "   ", None, 42):
        with pytest.raises(InvalidURLError):
            parse_url(bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ SQLite files and tables


@pytest.mark.parametrize("command", [["inspect"], ["history"], ["sql"], ["upgrade"],
                                     ["downgrade"], ["adopt"]])
def test_missing_sqlite_file_is_not_created(tmp_path, capsys, command) -> None:
    assert_error(capsys, ["--url", "sqlite:///nothere.db", *command],
                 "not found", "nothere.db", "init-demo")
    _nothing_created(tmp_path)


def test_missing_sqlite_file_default_url(tmp_path, capsys) -> None:
    assert_error(capsys, ["inspect"], "shopmig.db", "not found")
    _nothing_created(tmp_path)


def test_missing_sqlite_file_in_verify_and_copy(tmp_path, capsys, shop) -> None:
    good = f"sqlite:///{shop}"
    assert_error(capsys, ["verify", "--before", "sqlite:///gone.db", "--after", good],
                 "not found", "gone.db")
    assert_error(capsys, ["verify", "--before", good, "--after", "sqlite:///gone.db"],
                 "not found", "gone.db")
    assert_error(capsys, ["copy", "sqlite:///gone.db", "sqlite:///new.db"], "not found")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.db"]


def test_file_that_is_not_a_database(tmp_path, capsys) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a SQLite database, just some text " * 10)
    before = digest(junk)
    for command in (["inspect"], ["upgrade"], ["history"], ["adopt"]):
        assert_error(capsys, ["--url", f"sqlite:///{junk}", *command], "junk.db",
                     "not a database")
    assert digest(junk) == before


@pytest.mark.parametrize("command", [["inspect"], ["upgrade"], ["adopt"], ["sql"]])
def test_missing_orders_table(tmp_path, capsys, command) -> None:
    path = tmp_path / "other.db"
    sqlite_exec(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    before = digest(path)
    assert_error(capsys, ["--url", f"sqlite:///{path}", *command],
                 "table 'orders' not found", "customers", "init-demo")
    assert digest(path) == before


def test_inspect_unknown_table(capsys, shop) -> None:
    before = digest(shop)
    assert_error(capsys, ["--url", f"sqlite:///{shop}", "inspect", "--table", "nope"],
                 "table 'nope' not found", "orders")
    assert digest(shop) == before


@pytest.mark.parametrize(("ddl", "differences"), [
    ("CREATE TABLE orders (order_id VARCHAR(36), amount FLOAT)",
     ["has no primary key: add one"]),
    ("CREATE TABLE orders (order_id VARCHAR(36) PRIMARY KEY, amount FLOAT, "
     "status VARCHAR(16))",
     ["column 'status' already exists: choose another name with --column"]),
    ("CREATE TABLE orders (id INTEGER, status TEXT)",
     ["has no primary key", "column 'status' already exists"]),
])
def test_adopt_lists_every_blocker_with_its_fix(tmp_path, capsys, ddl, differences) -> None:
    path = tmp_path / "legacy.db"
    sqlite_exec(path, ddl)
    before = digest(path)
    line = assert_error(capsys, ["--url", f"sqlite:///{path}", "adopt"],
                        "cannot be adopted", "Nothing was written")
    for difference in differences:
        assert difference in line
    assert digest(path) == before
    with pytest.raises(shopmig.ShopmigError) as info:
        shopmig.adopt(f"sqlite:///{path}")
    assert len(info.value.differences) == len(differences)


def test_upgrade_a_table_not_adopted_is_refused_but_sql_shows_the_plan(tmp_path, capsys
                                                                       ) -> None:
    path = tmp_path / "legacy.db"
    sqlite_exec(path, "CREATE TABLE orders (order_id VARCHAR(36) PRIMARY KEY, amount FLOAT)")
    before = digest(path)
    assert_error(capsys, ["--url", f"sqlite:///{path}", "upgrade", "+1"], "shopmig adopt")
    code, out, _ = run(capsys, "--url", f"sqlite:///{path}", "sql", "head")
    assert code == 0 and "not adopted yet" in out and "ADD COLUMN status" in out
    assert digest(path) == before


# ------------------------------------------------------------------ revisions and targets


@pytest.mark.parametrize(("command", "target", "end"), [
    ("upgrade", "nope", "head"), ("upgrade", "0009", "head"), ("upgrade", "0", "head"),
    ("downgrade", "nope", "base"), ("sql", "nope", "head"), ("sql", "zzz", "head"),
])
def test_unknown_revision(capsys, shop, command, target, end) -> None:
    before = digest(shop)
    line = assert_error(capsys, ["--url", f"sqlite:///{shop}", command, target],
                        "unknown revision", "0002_add_status", end)
    assert repr(target) in line
    assert digest(shop) == before


@pytest.mark.parametrize(("command", "target", "other"), [
    ("upgrade", "-1", "downgrade"), ("upgrade", "base", "downgrade"),
    ("downgrade", "+1", "upgrade"), ("downgrade", "+2", "upgrade"),
    ("downgrade", "head", "upgrade"),
])
def test_a_target_the_other_way_says_why(capsys, shop, command, target, other) -> None:
    before = digest(shop)
    line = assert_error(capsys, ["--url", f"sqlite:///{shop}", command, target],
                        f"{command} cannot go to {target!r}", f"use shopmig {other} {target}")
    assert "unknown" not in line
    valid = line.split(f"{command} takes ")[1]  # what the command does take
    assert target not in valid.replace("-N", "").replace("+N", "")
    assert digest(shop) == before


def test_upgrade_to_a_revision_behind_the_current_one(capsys, shop) -> None:
    url = f"sqlite:///{shop}"
    assert run(capsys, "--url", url, "upgrade", "head")[0] == 0
    before = digest(shop)
    assert_error(capsys, ["--url", url, "upgrade", "0002"], "below the current revision",
                 "use shopmig downgrade")
    assert digest(shop) == before


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_bad_lock_timeout(capsys, shop, value) -> None:
    before = digest(shop)
    assert_error(capsys, ["--url", f"sqlite:///{shop}", "upgrade", "+1", "--lock-timeout",
                          value], "lock-timeout")
    assert digest(shop) == before


# ------------------------------------------------------------------ copies


@pytest.mark.server
def test_upgrade_refuses_a_server_database_that_is_not_a_copy(server_backend, make_url,
                                                               capsys) -> None:
    url = make_url(server_backend)
    plain_server_shop(url)
    state = (shopmig.current_revision(url), shopmig.describe_table(url).to_dict("records"))
    for target in ("+1", "head"):
        assert_error(capsys, ["--url", url, "upgrade", target],
                     "neither a shopmig copy nor a demo database", "--yes-this-is-not-a-copy")
    assert (shopmig.current_revision(url), shopmig.describe_table(url).to_dict("records")) \
        == state


def test_copy_onto_an_existing_target(tmp_path, capsys, shop) -> None:
    target = tmp_path / "target.db"
    sqlite_exec(target, "CREATE TABLE keep (id INTEGER)")
    before = digest(target)
    assert_error(capsys, ["copy", f"sqlite:///{shop}", f"sqlite:///{target}"],
                 "already exists", "new database name")
    assert digest(target) == before


def test_init_demo_refuses_to_replace_a_shop_it_did_not_make(tmp_path, capsys) -> None:
    path = tmp_path / "real.db"
    sqlite_exec(path, "CREATE TABLE orders (order_id VARCHAR(36) PRIMARY KEY, amount FLOAT)",
                "INSERT INTO orders VALUES ('REAL', 100.0)")
    before = digest(path)
    assert_error(capsys, ["--url", f"sqlite:///{path}", "init-demo"], "already exists")
    assert_error(capsys, ["--url", f"sqlite:///{path}", "init-demo", "--replace"],
                 "neither a shopmig copy nor a demo database")
    assert digest(path) == before


# ------------------------------------------------------------------ numbers and options


@pytest.mark.parametrize("rows", ["-1", "-500", "abc", "1.5", ""])
def test_bad_rows(tmp_path, capsys, rows) -> None:
    assert_error(capsys, ["init-demo", "--rows", rows], "--rows", "whole number of 0 or more")
    _nothing_created(tmp_path)


def test_bad_seed(tmp_path, capsys) -> None:
    assert_error(capsys, ["init-demo", "--seed", "x"], "--seed")
    _nothing_created(tmp_path)


@pytest.mark.parametrize("args", [
    ["bogus"],
    ["inspect", f"postgresql+psycopg://u:{SECRET}@h/db"],  # forgot --url
    [f"postgresql+psycopg://u:{SECRET}@h/db", "inspect"],
    ["verify", "--before", "sqlite:///a.db"],
    ["verify", "--before", "sqlite:///a.db", "--after", "sqlite:///b.db", "--expect", "x"],
    ["copy", "sqlite:///a.db"],
])
def test_usage_errors(tmp_path, capsys, args) -> None:
    assert_error(capsys, args, "--help")
    _nothing_created(tmp_path)


# ------------------------------------------------------------------ verify


@pytest.fixture
def pair(tmp_path, capsys, shop) -> tuple[str, str]:
    after = tmp_path / "after.db"
    assert run(capsys, "copy", f"sqlite:///{shop}", f"sqlite:///{after}")[0] == 0
    assert run(capsys, "--url", f"sqlite:///{after}", "upgrade", "+1")[0] == 0
    return f"sqlite:///{shop}", f"sqlite:///{after}"


def test_verify_key_column_that_does_not_exist(capsys, pair) -> None:
    before, after = pair
    assert_error(capsys, ["verify", "--before", before, "--after", after, "--key", "nope"],
                 "key column 'nope' not found", "order_id", "--key")


def test_verify_key_column_that_is_not_unique(tmp_path, capsys, pair) -> None:
    _, after = pair
    # status is 'pending' everywhere: not unique (and only on the after side)
    assert_error(capsys, ["verify", "--before", after, "--after", after, "--key", "status"],
                 "key column 'status' is not unique", "'pending'", "unique")
    dup = tmp_path / "dup.db"
    sqlite_exec(dup, "CREATE TABLE orders (order_id TEXT, amount FLOAT)",
                "INSERT INTO orders VALUES ('A', 1), ('A', 2), ('B', 3)")
    assert_error(capsys, ["verify", "--before", f"sqlite:///{dup}", "--after", after],
                 "has no primary key", "--key order_id")
    assert_error(capsys, ["verify", "--before", f"sqlite:///{dup}", "--after", after,
                          "--key", "order_id"], "not unique in the before table", "'A'")


def test_verify_unknown_table_and_expectation_column(capsys, pair) -> None:
    before, after = pair
    assert_error(capsys, ["verify", "--before", before, "--after", after, "--table", "nope"],
                 "table 'nope' not found")
    assert_error(capsys, ["verify", "--before", before, "--after", after,
                          "--expect", "colour=red"], "colour")


def test_verify_errors_leave_both_databases_unchanged(tmp_path, capsys, pair) -> None:
    before, after = pair
    files = [Path(parse_url(u).database) for u in pair]
    hashes = [digest(p) for p in files]
    run(capsys, "verify", "--before", before, "--after", after, "--key", "nope")
    run(capsys, "verify", "--before", before, "--after", after)
    assert [digest(p) for p in files] == hashes
