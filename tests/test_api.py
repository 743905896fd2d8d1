"""The public API: exported names, docstrings, ``python -m shopmig``, password masking and the
data every error carries."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

import shopmig
from shopmig import errors
from shopmig.db import parse_url
from shopmig.masking import mask_text

SECRET = "s3cr3tpw"


def _modules() -> list:
    names = [m.name for m in pkgutil.iter_modules(shopmig.__path__)
             if not m.ispkg and m.name != "__main__"]
    return [importlib.import_module(f"shopmig.{name}") for name in sorted(names)]


def _public_members(module) -> list[tuple[str, object]]:
    found = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
            found.append((f"{module.__name__}.{name}", obj))
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(member, property):
                        member = member.fget
                    elif isinstance(member, staticmethod | classmethod):
                        member = member.__func__
                    if inspect.isfunction(member):
                        found.append((f"{module.__name__}.{name}.{attr}", member))
    return found


def test_every_name_in_all_exists_and_all_is_sorted_and_unique() -> None:
    assert len(shopmig.__all__) == len(set(shopmig.__all__))
    missing = [name for name in shopmig.__all__ if not hasattr(shopmig, name)]
    assert missing == []
    assert isinstance(shopmig.__version__, str) and shopmig.__version__


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from shopmig import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(shopmig.__all__)


@pytest.mark.parametrize("name", [
    n for n in shopmig.__all__
    if inspect.isfunction(getattr(shopmig, n)) or inspect.isclass(getattr(shopmig, n))
])
def test_every_exported_function_and_class_has_a_docstring(name: str) -> None:
    obj = getattr(shopmig, name)
    assert (obj.__doc__ or "").strip(), f"shopmig.{name} has no docstring"


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_every_public_function_of_every_module_has_a_docstring(module) -> None:
    assert (module.__doc__ or "").strip(), f"{module.__name__} has no module docstring"
    undocumented = [name for name, obj in _public_members(module)
                    if not (obj.__doc__ or "").strip()]
    assert undocumented == []


def test_package_docstring_example_names_exist() -> None:
    for name in ("connect", "make_demo_shop", "snapshot", "preview_sql", "upgrade", "verify"):
        assert f"shopmig.{name}(" in shopmig.__doc__


def test_python_dash_m_shopmig_help_and_version() -> None:
    done = subprocess.run([sys.executable, "-m", "shopmig", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("init-demo", "adopt", "inspect", "history", "sql", "upgrade", "downgrade",
                    "copy", "verify", "--url"):
        assert command in done.stdout
    assert done.stderr == ""
    done = subprocess.run([sys.executable, "-m", "shopmig", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip() == f"shopmig {shopmig.__version__}"


# ------------------------------------------------------------------ mask_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql+psycopg://alice:{SECRET}@db.example:5432/shop",
         "postgresql+psycopg://alice:***@db.example:5432/shop"),
        (f"mysql+pymysql://root:{SECRET}@127.0.0.1:3306/test",
         "mysql+pymysql://root:***@127.0.0.1:3306/test"),
        # special characters, percent-encoded in the URL
        ("postgresql+psycopg://alice:s3cr3t%40pw%3A%2F@h/db", "postgresql+psycopg://alice:***@h/db"),
        # an empty user name
        (f"mysql+pymysql://:{SECRET}@h/db", "mysql+pymysql://:***@h/db"),
        # the password as a query parameter
        (f"postgresql+psycopg://alice@h/db?password={SECRET}&sslmode=require",
         "postgresql+psycopg://alice@h/db?password=***&sslmode=require"),
        # no password at all: unchanged
        ("postgresql+psycopg://alice@h/db", "postgresql+psycopg://alice@h/db"),
        ("sqlite:///shop.db", "sqlite:///shop.db"),
        ("sqlite://", "sqlite://"),
        # strings that are not valid URLs
        (f"postgresql+psycopg://alice:{SECRET}@h:notaport/db",
         "postgresql+psycopg://alice:***@h:notaport/db"),
        (f"postgresql+psycopg//alice:{SECRET}@h/db", "postgresql+psycopg//alice:***@h/db"),
        (f"alice:{SECRET}@h/db", "alice:***@h/db"),
        (f"postgresql+psycopg://alice:{SECRET}@[bad", "postgresql+psycopg://alice:***@[bad"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url_strings(url: str, expected: str) -> None:
    masked = shopmig.mask_url(url)
    assert masked == expected
    assert SECRET not in masked and "s3cr3t%40" not in masked


def test_mask_url_url_object_and_engine() -> None:
    url = URL.create("postgresql+psycopg", "alice", "p@ss:w/rd " + SECRET, "h", 5432, "shop")
    assert shopmig.mask_url(url) == "postgresql+psycopg://alice:***@h:5432/shop"
    engine = sa.create_engine(url)  # never connects
    try:
        assert shopmig.mask_url(engine) == "postgresql+psycopg://alice:***@h:5432/shop"
    finally:
        engine.dispose()


@pytest.mark.server
def test_mask_url_live_connection(make_url) -> None:
    # PostgreSQL here uses trust authentication, so any password is accepted
    url = parse_url(make_url("postgresql")).set(database="postgres", password=SECRET)
    with shopmig.connect(url) as conn:
        masked = shopmig.mask_url(conn)
    assert SECRET not in masked and ":***@" in masked


def test_mask_text_hides_urls_inside_messages() -> None:
    text = (f"unrecognized arguments: postgresql+psycopg://u:{SECRET}@h/db and "
            f"'mysql+pymysql://r:{SECRET}@x/y' ?password={SECRET}")
    masked = mask_text(text)
    assert SECRET not in masked
    assert "postgresql+psycopg://u:***@h/db" in masked
    plain = "Access denied for user 'root'@'127.0.0.1' (using password: YES)"
    assert mask_text(plain) == plain


@pytest.mark.parametrize(("text", "expected"), [
    # a password with spaces, as argparse echoes a stray argument
    ("unrecognized arguments: postgresql+psycopg://u:my s3cr3t pw@h:5432/db (see: --help)",
     "unrecognized arguments: postgresql+psycopg://u:***@h:5432/db (see: --help)"),
    ("invalid choice: 'mysql+pymysql://root:a b@c@127.0.0.1/x' (choose from ...)",
     "invalid choice: 'mysql+pymysql://root:***@127.0.0.1/x' (choose from ...)"),
    # two URLs in one message, each masked, the text between kept
    ("copy a://u:p q@h1/d to b://v:r s@h2/e failed",
     "copy a://u:***@h1/d to b://v:***@h2/e failed"),
    # a port, no password: unchanged, even with an @ later in the text
    ("postgresql://127.0.0.1:5432/db refused root@localhost",
     "postgresql://127.0.0.1:5432/db refused root@localhost"),
])
def test_mask_text_passwords_with_spaces(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_scrub_removes_known_secrets_in_every_spelling() -> None:
    from shopmig.masking import scrub

    secret = "pa ss/wörd"
    text = f"raw {secret}, quoted pa%20ss%2Fw%C3%B6rd, plus pa+ss%2Fw%C3%B6rd, pw"
    assert scrub(text, [secret, "pw"]) == "raw ***, quoted ***, plus ***, pw"  # "pw": too short


# ------------------------------------------------------------------ errors carry data


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


URL_M = "postgresql+psycopg://alice:***@h/db"
INSTANCES = [
    (errors.InvalidArgumentError("rows", -5, "a whole number of 0 or more"),
     {"name": "rows", "value": -5}),
    (errors.InvalidURLError("not a url", "it is not valid"), {"url": "not a url"}),
    (errors.DatabaseUnreachableError(URL_M, "connection refused"), {"url": URL_M}),
    (errors.AuthenticationError(URL_M, "password authentication failed"), {"url": URL_M}),
    (errors.DatabaseNotFoundError(URL_M), {"url": URL_M}),
    (errors.DatabaseError(URL_M, "boom"), {"url": URL_M}),
    (errors.TableNotFoundError("orders", URL_M, ["a", "b"]),
     {"table": "orders", "url": URL_M, "existing": ["a", "b"]}),
    (errors.TableExistsError("orders", URL_M), {"table": "orders", "url": URL_M}),
    (errors.SchemaMismatchError("orders", URL_M, ["x is missing", "y is wrong"]),
     {"table": "orders", "url": URL_M, "differences": ["x is missing", "y is wrong"]}),
    (errors.NotVersionedError(URL_M), {"url": URL_M}),
    (errors.AlreadyVersionedError(URL_M, "0002_add_status"),
     {"url": URL_M, "revision": "0002_add_status"}),
    (errors.UnknownRevisionError("nope", ["0001_baseline"]),
     {"target": "nope", "known": ["0001_baseline"]}),
    (errors.NotACopyError(URL_M, "upgrade"), {"url": URL_M, "action": "upgrade"}),
    (errors.TargetExistsError(URL_M), {"url": URL_M}),
    (errors.LockTimeoutError(URL_M, "0002_add_status", 3, 2.0),
     {"url": URL_M, "revision": "0002_add_status", "attempts": 3, "lock_timeout": 2.0}),
    (errors.UnsafeMigrationError("0003_status_check", URL_M, "it rewrites", "Use a window."),
     {"revision": "0003_status_check", "url": URL_M, "reason": "it rewrites"}),
    (errors.MigrationFailedError(URL_M, "0004_validate_status_check", "0003_status_check", "x"),
     {"url": URL_M, "step": "0004_validate_status_check", "revision": "0003_status_check"}),
    (errors.KeyColumnError("order_id", "after", ["id"]),
     {"key": "order_id", "side": "after", "columns": ["id"]}),
    (errors.NoPrimaryKeyError("orders", "before"), {"table": "orders", "side": "before"}),
    (errors.KeyNotUniqueError("order_id", "before", ["A1"]),
     {"key": "order_id", "side": "before", "duplicates": ["A1"]}),
    (errors.BackupToolMissingError("pg_dump", "postgresql-client", "not on PATH"),
     {"tool": "pg_dump", "package": "postgresql-client"}),
    (errors.BackupFailedError("pg_dump", URL_M, "exit code 1: boom"),
     {"tool": "pg_dump", "url": URL_M, "detail": "exit code 1: boom"}),
    (errors.MigrationLockedError("shopmig:orders", "PostgreSQL session 42", 5.0),
     {"key": "shopmig:orders", "holder": "PostgreSQL session 42", "waited_s": 5.0}),
    (errors.ConcurrentMigrationError(URL_M, "0002_add_status", "0001_baseline", "0002_add_status"),
     {"url": URL_M, "revision": "0002_add_status", "expected": "0001_baseline",
      "actual": "0002_add_status"}),
    (errors.ExistingRowsViolateError(URL_M, "0003_status_check", "0002_add_status", "orders",
                                     "status", 3, "x"),
     {"url": URL_M, "step": "0003_status_check", "revision": "0002_add_status",
      "table": "orders", "column": "status", "rows": 3, "rule": "x", "changed": False}),
    (errors.RehearsalInterruptedError(URL_M, ["the copy x"]),
     {"copy": URL_M, "left": ["the copy x"]}),
    (errors.HalfAppliedError(URL_M, "0004_validate_status_check", "0005_status_index", "d", "f"),
     {"url": URL_M, "recorded": "0004_validate_status_check", "actual": "0005_status_index",
      "detail": "d"}),
    (errors.CopyIncompleteError(URL_M, URL_M, "mariadb-dump",
                                ["view v is in the source but missing in the copy"]),
     {"source": URL_M, "target": URL_M, "method": "mariadb-dump",
      "differences": ["view v is in the source but missing in the copy"]}),
    (errors.SameDatabaseError(URL_M, URL_M + "?x=1", "copy"),
     {"source": URL_M, "target": URL_M + "?x=1", "action": "copy"}),
    (errors.UnwritablePathError("--report", "/x/r.html", "the folder '/x' does not exist"),
     {"name": "--report", "path": "/x/r.html", "reason": "the folder '/x' does not exist"}),
    (errors.DiskFullError("sqlite:///c.db", "database or disk is full", cleaned=True),
     {"where": "sqlite:///c.db", "detail": "database or disk is full", "cleaned": True}),
    (errors.TargetRequiredError("upgrade", ["shopmig upgrade +1"], "0001_baseline"),
     {"command": "upgrade", "choices": ["shopmig upgrade +1"], "current": "0001_baseline"}),
    (errors.TargetDirectionError("downgrade", "+1", "upgrade", "-N, base or a revision id"),
     {"command": "downgrade", "target": "+1", "other": "upgrade"}),
    (errors.StampRefusedError("0002", "it is not a revision id", ["0002_add_status"],
                              "Use one of: 0002_add_status."),
     {"revision": "0002", "known": ["0002_add_status"]}),
    (errors.FileSystemError("/x/y", "Permission denied"), {"path": "/x/y"}),
    (errors.UnexpectedError("unexpected TypeError", "boom"),
     {"kind": "unexpected TypeError", "detail": "boom"}),
]


def test_every_error_class_is_covered_here() -> None:
    # the classes of shopmig.errors (modules such as rehearsal.run add their own once imported)
    assert {type(e) for e, _ in INSTANCES} == {
        c for c in _subclasses(errors.ShopmigError) if c.__module__ == "shopmig.errors"}


@pytest.mark.parametrize(("error", "data"), INSTANCES, ids=lambda x: type(x).__name__)
def test_errors_carry_data_and_a_hint(error: errors.ShopmigError, data: dict) -> None:
    assert isinstance(error, shopmig.ShopmigError)
    for attr, value in data.items():
        assert getattr(error, attr) == value, attr
    assert error.hint, "every error says what to do next"
    assert error.problem and str(error) == f"{error.problem} {error.hint}"
    assert str(error).count("\n") == 0, "the CLI prints one line"
    assert error.exit_code == 2
    assert (type(error).__doc__ or "").strip()


def test_error_messages_name_the_specifics() -> None:
    msg = str(errors.UnknownRevisionError("nope", ["0001_baseline", "0002_add_status"]))
    assert "'nope'" in msg and "0002_add_status" in msg and "head" in msg
    msg = str(errors.SchemaMismatchError("orders", URL_M, ["column 'amount' is missing"]))
    assert "column 'amount' is missing" in msg
    msg = str(errors.TableNotFoundError("orders", URL_M, []))
    assert "no tables" in msg and "init-demo" in msg
    msg = str(errors.NotACopyError(URL_M, "upgrade"))
    assert "shopmig copy" in msg and "--yes-this-is-not-a-copy" in msg
    msg = str(errors.KeyNotUniqueError("k", "before", list(range(10))))
    assert "10 duplicated" in msg
