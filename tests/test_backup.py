"""Backups on every backend: restored databases equal their source (data, schema, revision),
the printed restore command works and never shows a password, missing or failing tools say so."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from helpers import add_child_table, digest, execute
from pandas.testing import assert_frame_equal

import shopmig
from shopmig.db import parse_url
from shopmig.dialects import PostgreSQLDialect
from shopmig.errors import (
    BackupFailedError,
    BackupToolMissingError,
    InvalidArgumentError,
    TargetExistsError,
)

SECRET = "Bk-s3cr3t-pw"
METHOD = {"sqlite": "sqlite-backup", "postgresql": "pg_dump", "mariadb": "mariadb-dump"}
SUFFIX = {"sqlite": ".sqlite-backup", "postgresql": ".dump", "mariadb": ".sql"}


def table_names(source: shopmig.Source) -> list[str]:
    engine = shopmig.open_engine(source) if isinstance(source, str) else None
    try:
        with (engine or source).connect() as conn:  # type: ignore[union-attr]
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        if engine is not None:
            engine.dispose()


def state(source: shopmig.Source) -> dict[str, object]:
    """Everything a restore must reproduce: schema of both tables, revision, row counts."""
    out: dict[str, object] = {"tables": table_names(source),
                              "revision": shopmig.current_revision(source)}
    for table in ("orders", "order_items"):
        out[f"{table} columns"] = shopmig.describe_table(source, table)
        out[f"{table} indexes"] = shopmig.table_indexes(source, table)
        out[f"{table} constraints"] = shopmig.table_constraints(source, table)
    for table in out["tables"]:  # type: ignore[union-attr]
        out[f"{table} rows"] = shopmig.row_count(source, table)
    return out


def assert_same_state(got: dict[str, object], want: dict[str, object]) -> None:
    assert got.keys() == want.keys()
    for name, value in want.items():
        if isinstance(value, pd.DataFrame):
            assert_frame_equal(got[name], value, obj=name)  # type: ignore[arg-type]
        else:
            assert got[name] == value, name


def assert_equal_databases(source: shopmig.Source, restored: shopmig.Source) -> None:
    assert shopmig.verify(source, restored).ok
    assert shopmig.verify(source, restored, table="order_items", key="item_id").ok
    assert_same_state(state(restored), state(source))


def with_password(url: str, user: str | None = None) -> str:
    parsed = parse_url(url).set(password=SECRET)
    if user:
        parsed = parsed.set(username=user)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def mariadb_user() -> object:
    """A MariaDB user with a password (and every privilege), dropped after the test."""
    from conftest import server_base_url

    base = server_base_url("mariadb")
    name = f"shopmig_bk_{uuid.uuid4().hex[:8]}"
    execute(base, f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{SECRET}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{name}'@'%%'")
    yield name
    execute(base, f"DROP USER IF EXISTS '{name}'@'%%'")


def secret_url(backend: str, url: str, request: pytest.FixtureRequest) -> str:
    """``url`` with a password where the backend lets the test log in with one."""
    if backend == "postgresql":  # trust authentication: any password is accepted
        return with_password(url)
    if backend == "mariadb":
        return with_password(url, request.getfixturevalue("mariadb_user"))
    return url


def test_backup_and_restore_each_backend(  # type: ignore[no-untyped-def]
    demo_url: str, backend: str, make_url, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    add_child_table(demo_url)
    shopmig.upgrade(demo_url, "+1")
    source = secret_url(backend, demo_url, request)
    before = state(demo_url)
    sqlite_digest = digest(Path(parse_url(demo_url).database or "")) if backend == "sqlite" \
        else None

    made = shopmig.backup_database(source, tmp_path / "backups")

    assert made.method == METHOD[backend]
    path = Path(made.path)
    assert path.is_file() and path.parent == (tmp_path / "backups").resolve()
    assert path.name.endswith(SUFFIX[backend])
    assert made.bytes == path.stat().st_size > 0
    assert made.source == shopmig.mask_url(source)
    assert not list(path.parent.glob("*.partial"))
    for text in (made.restore_command, str(made), repr(made), str(made.to_dict())):
        assert SECRET not in text
    assert made.path in made.to_dict()["path"]  # type: ignore[operator]
    if backend == "sqlite":
        assert digest(Path(parse_url(demo_url).database or "")) == sqlite_digest

    target = make_url(backend)
    restored = shopmig.restore_backup(made, secret_url(backend, target, request))
    assert SECRET not in restored
    assert_equal_databases(demo_url, target)
    assert_same_state(state(demo_url), before)  # the source is unchanged
    assert shopmig.current_revision(target) == shopmig.revisions()[1]


def test_printed_restore_command_works(  # type: ignore[no-untyped-def]
    demo_url: str, backend: str, make_url, tmp_path: Path
) -> None:
    add_child_table(demo_url)
    made = shopmig.backup_database(demo_url, tmp_path)
    target = make_url(backend)
    command = made.restore_command_for(target)
    assert command.split()[0] in ("cp", "createdb", "mariadb")
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert_equal_databases(demo_url, target)


def test_default_restore_command_names_a_new_database(demo_url: str, backend: str,
                                                      tmp_path: Path) -> None:
    made = shopmig.backup_database(demo_url, tmp_path)
    name = parse_url(demo_url).database or ""
    restored_name = (Path(name).stem if backend == "sqlite" else name) + "_restored"
    assert restored_name in made.restore_command
    assert made.path in made.restore_command


def test_restore_command_never_shows_a_password(tmp_path: Path) -> None:
    for method, url in (
        ("pg_dump", f"postgresql+psycopg://alice:{SECRET}@db.example:5433/shop"),
        ("pg_dump", f"postgresql+psycopg://alice@db.example/shop?password={SECRET}"),
        ("mariadb-dump", f"mysql+pymysql://root:{SECRET}@db.example:3307/shop"),
    ):
        made = shopmig.Backup(shopmig.mask_url(url), str(tmp_path / "my shop.bak"), method, 1, "")
        command = made.restore_command_for(url)
        assert SECRET not in command
        assert "'" + str(tmp_path / "my shop.bak") + "'" in command  # quoted for the shell
        if method == "mariadb-dump":
            assert "--password " in command  # the client asks for it
            assert "--host=db.example" in command and "--port=3307" in command
        else:
            assert "--host db.example" in command and "-d" not in command.split()


def test_backup_of_in_memory_sqlite_engine_and_restore_into_file_and_memory(
    tmp_path: Path, make_url  # type: ignore[no-untyped-def]
) -> None:
    with shopmig.connect("sqlite://") as conn:
        shopmig.make_demo_shop(conn, rows=50, seed=3)
        made = shopmig.backup_database(conn, tmp_path)
        assert Path(made.path).name == "memory.sqlite-backup"
        target = make_url("sqlite")
        shopmig.restore_backup(made, target)
        assert shopmig.verify(conn, target).ok
        engine = shopmig.open_engine("sqlite://")
        try:
            shopmig.restore_backup(made, engine)
            assert shopmig.verify(conn, engine).ok
        finally:
            engine.dispose()
    with pytest.raises(InvalidArgumentError, match="in-memory"):
        shopmig.restore_backup(made, "sqlite://")


def test_backups_never_overwrite_each_other(demo_url: str, tmp_path: Path) -> None:
    first = shopmig.backup_database(demo_url, tmp_path)
    second = shopmig.backup_database(demo_url, tmp_path)
    assert first.path != second.path
    assert Path(first.path).is_file() and Path(second.path).is_file()
    assert Path(second.path).stem.endswith("-2")


def test_restore_refuses_an_existing_target(  # type: ignore[no-untyped-def]
    demo_url: str, backend: str, make_url, tmp_path: Path
) -> None:
    made = shopmig.backup_database(demo_url, tmp_path)
    target = make_url(backend)
    shopmig.create_database(target)
    execute(target, "CREATE TABLE keep_me (x INTEGER)", must_exist=False)
    with pytest.raises(TargetExistsError):
        shopmig.restore_backup(made, target)
    assert table_names(target) == ["keep_me"]
    with pytest.raises(InvalidArgumentError, match="backup was made with"):
        shopmig.restore_backup(made, f"sqlite:///{tmp_path / 'x.db'}" if backend != "sqlite"
                               else "postgresql+psycopg://u@h/x")


@pytest.mark.server
def test_missing_tool_names_it_and_its_package(  # type: ignore[no-untyped-def]
    server_backend: str, make_url, tmp_path: Path, monkeypatch
) -> None:
    url = make_url(server_backend)
    shopmig.create_database(url)
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(BackupToolMissingError) as info:
        shopmig.backup_database(url, tmp_path / "b")
    tool, package = (("pg_dump", "postgresql-client") if server_backend == "postgresql"
                     else ("mariadb-dump", "mariadb-client"))
    assert info.value.tool == tool and info.value.package == package
    assert tool in str(info.value) and f"apt-get install {package}" in str(info.value)
    assert not (tmp_path / "b").exists()


@pytest.mark.server
def test_pg_dump_older_than_the_server_is_refused(  # type: ignore[no-untyped-def]
    make_url, tmp_path: Path, monkeypatch
) -> None:
    url = make_url("postgresql")
    shopmig.create_database(url)
    monkeypatch.setattr(PostgreSQLDialect, "server_major", lambda self, url: 99)
    with pytest.raises(BackupToolMissingError) as info:
        shopmig.backup_database(url, tmp_path)
    assert info.value.package == "postgresql-client-99"
    assert "older than the server (version 99)" in str(info.value)


def fake_tool(folder: Path, name: str, stderr: str) -> Path:
    """An executable that reports version 99 and otherwise fails, printing ``stderr``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 99.0"; exit 0; fi\n'
        f"cat >&2 <<'EOF'\n{stderr}\nEOF\nexit 3\n"
    )
    path.chmod(0o755)
    return path


@pytest.mark.server
def test_failing_tool_reports_its_error_output_masked(  # type: ignore[no-untyped-def]
    server_backend: str, make_url, tmp_path: Path, monkeypatch, request: pytest.FixtureRequest
) -> None:
    url = make_url(server_backend)
    shopmig.create_database(url)
    source = secret_url(server_backend, url, request)
    name = "pg_dump" if server_backend == "postgresql" else "mariadb-dump"
    tool = fake_tool(tmp_path / "bin", name, "\n".join([
        f"{name}: error: connection to {source} failed",
        f"password was {SECRET}",
        "line 3", "line 4", "line 5",
    ]))
    monkeypatch.setattr(PostgreSQLDialect, "versioned_bin", str(tmp_path / "none"))
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(BackupFailedError) as info:
        shopmig.backup_database(source, tmp_path / "b")
    message = str(info.value)
    assert SECRET not in message and "\n" not in message
    assert info.value.tool == name and "exit code 3" in message
    assert f"{name}: error: connection to" in message and "line 3" in message
    assert "line 4" not in message and "2 more lines" in message
    assert list((tmp_path / "b").iterdir()) == []  # no partial file left
