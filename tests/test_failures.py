"""Failures that escape a command become one true line, never a traceback: driver, pool and
Alembic errors (with the revision the database is at), a full disk (with what was half-made
removed, checked), Ctrl-C, and a reader that went away (``shopmig ... | head``)."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util.exc import CommandError
from conftest import server_base_url

import shopmig
from shopmig.cli import EXIT_BROKEN_PIPE, main
from shopmig.db import parse_url

SECRET = "S3cr3t"


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("shopmig: error: "), err
    assert "Traceback" not in err and SECRET not in err
    return lines[0]


pytestmark = pytest.mark.usefixtures("clean_cwd")


@pytest.fixture
def shop(tmp_path) -> str:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(url, rows=20)
    return url


# ------------------------------------------------------------------ the last line of defence


ESCAPES = [
    (sa.exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back."),
     ["database error on", "PendingRollbackError", "is at revision 0001_baseline"]),
    (sa.exc.OperationalError("SELECT 1", {}, Exception(
        "server closed the connection unexpectedly\nThis probably means ...")),
     ["database error on", "server closed the connection", "is at revision 0001_baseline"]),
    (sa.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out"),
     ["database error on", "QueuePool limit", "is at revision 0001_baseline"]),
    (CommandError("Can't locate revision identified by 'zzz'"),
     ["database error on", "CommandError", "is at revision 0001_baseline"]),
    (sqlite3.OperationalError("database is locked"), ["database is locked"]),
    (OSError(errno.ENOSPC, "No space left on device", "/data/shop.db"),
     ["no space left writing /data/shop.db"]),
    (PermissionError(errno.EACCES, "Permission denied", "/data/shop.db"),
     ["cannot use the file '/data/shop.db'", "Permission denied"]),
    (MemoryError(), ["out of memory"]),
    (RuntimeError(f"boom near postgresql://u:{SECRET}@h/db\nsecond line"),
     ["unexpected RuntimeError", "boom near postgresql://u:***@h/db", "SHOPMIG_TRACEBACK"]),
]


@pytest.mark.parametrize(("exc", "needles"), ESCAPES, ids=lambda x: type(x).__name__)
def test_an_escaping_error_becomes_one_line(shop, capsys, monkeypatch, exc, needles) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr("shopmig.migrate.core.upgrade", fail)
    code, out, err = run(capsys, "--url", shop, "upgrade", "+1")
    assert (code, out) == (2, "")
    line = one_line(err)
    for needle in needles:
        assert needle in line, (needle, line)
    assert "Nothing was changed" not in line  # not checked, so never claimed


def test_traceback_on_request(shop, capsys, monkeypatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("shopmig.migrate.core.upgrade", fail)
    monkeypatch.setenv("SHOPMIG_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["--url", shop, "upgrade", "+1"])


def test_ctrl_c_is_one_line_with_the_revision(shop, capsys, monkeypatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("shopmig.migrate.core.upgrade", interrupted)
    code, out, err = run(capsys, "--url", shop, "upgrade", "head")
    assert (code, out) == (2, "")
    assert one_line(err) == (f"shopmig: error: interrupted. {shop} is at revision "
                             "0001_baseline (shopmig history shows more).")


@pytest.mark.server
def test_a_connection_lost_mid_command_is_one_line(make_url, capsys, monkeypatch) -> None:
    """A real driver error: the server ends shopmig's session while the command runs."""
    url = make_url("postgresql")
    shopmig.make_demo_shop(url, rows=10)
    real_upgrade = shopmig.migrate.core.upgrade

    def upgrade_then_lose_the_connection(source: str, *args: object, **kwargs: object) -> None:
        real_upgrade(source, "+1")
        engine = sa.create_engine(source, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn, engine.connect() as admin:
                pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                conn.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()

    monkeypatch.setattr("shopmig.migrate.core.upgrade", upgrade_then_lose_the_connection)
    code, out, err = run(capsys, "--url", url, "upgrade", "head")
    assert (code, out) == (2, "")
    line = one_line(err)
    assert "terminating connection" in line
    assert "is at revision 0002_add_status" in line  # read afresh: the step that did commit


# ------------------------------------------------------------------ a reader that went away


def test_broken_pipe_in_process_exits_quietly(shop, capsys, monkeypatch) -> None:
    class GoneReader:
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", GoneReader())
    code = main(["--url", shop, "history"])
    monkeypatch.undo()
    assert code == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_broken_pipe_subprocess_piped_to_a_closed_reader(shop, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOPMIG_DATABASE_URL"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-m", "shopmig", "--url", shop, "sql", "head"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` that already has what it wants
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == EXIT_BROKEN_PIPE
    assert err == ""
    done = subprocess.run(f"{sys.executable} -m shopmig --url {shop} sql head | head -n 1",
                          shell=True, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.stdout.startswith("-- step 0002_add_status") and done.stderr == ""


# ------------------------------------------------------------------ a full disk


def _big(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    shopmig.make_demo_shop(url, rows=40_000)  # about 2 MB: more than the 1 MB disk holds
    return url


@pytest.fixture
def tiny_disk(tmp_path):  # type: ignore[no-untyped-def]
    """A real 1 MB file system (tmpfs), mounted for the test and unmounted after it."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tmpfs needs root and mount(8); the monkeypatched tests below still run")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_init_demo_copy_and_backup(tiny_disk, tmp_path, capsys) -> None:
    big = _big(tmp_path)
    # init-demo into a new file on the full disk: one line, the half-made file removed
    code, out, err = run(capsys, "--url", f"sqlite:///{tiny_disk / 'shop.db'}", "init-demo",
                         "--rows", "40000")
    assert (code, out) == (2, "")
    assert "no space left writing" in one_line(err) and "removed again" in err
    assert list(tiny_disk.iterdir()) == []
    # copy onto the full disk
    code, out, err = run(capsys, "copy", big, f"sqlite:///{tiny_disk / 'copy.db'}")
    assert (code, out) == (2, "")
    assert "no space left writing" in one_line(err) and "removed again" in err
    assert list(tiny_disk.iterdir()) == []
    # the rehearsal's backup onto the full disk: the backup folder made for it goes again
    copy = tmp_path / "rehearsal.db"
    code, out, err = run(capsys, "rehearse", big, "--copy-to", f"sqlite:///{copy}",
                         "--backup-dir", str(tiny_disk / "backups" / "today"), "--duration", "5")
    assert (code, out) == (2, "")
    line = one_line(err)
    assert "no space left writing" in line and "the backup folder" in line
    assert list(tiny_disk.iterdir()) == []
    assert not list(tmp_path.glob("*baseline*"))
    assert not copy.exists()  # no step ran on it: the rehearsal removed the copy it made


def test_full_disk_simulated_init_demo_removes_the_half_made_file(tmp_path, capsys,
                                                                  monkeypatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("shopmig.dialects.base.Dialect.bulk_insert", full)
    code, out, err = run(capsys, "--url", "sqlite:///new.db", "init-demo", "--rows", "100")
    assert (code, out) == (2, "")
    assert one_line(err) == (
        "shopmig: error: no space left writing sqlite:///new.db: database or disk is full. "
        "What was half-made was removed again. Free some disk space (or choose another place) "
        "and run the command again.")
    assert list(tmp_path.iterdir()) == []


def test_full_disk_simulated_copy(shop, tmp_path, capsys, monkeypatch) -> None:
    def full(src: object, dst: object) -> None:
        with shopmig.connect(str(dst), must_exist=False) as conn:  # something was written
            conn.exec_driver_sql("CREATE TABLE half (x INTEGER)")
            conn.commit()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("shopmig.copying.exact._backup_api", full)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(capsys, "copy", shop, "sqlite:///copy.db")
    assert (code, out) == (2, "")
    line = one_line(err)
    assert "no space left writing" in line and "removed again" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_half_made_server_database_is_dropped_again(tmp_path, capsys, monkeypatch) -> None:
    """Any failure part-way through init-demo on a new database drops it (SQLite here; the
    same code path drops a server database)."""
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("driver bug")

    monkeypatch.setattr("shopmig.dialects.base.Dialect.bulk_insert", broken)
    code, _, err = run(capsys, "--url", "sqlite:///new.db", "init-demo")
    assert code == 2
    assert "driver bug" in one_line(err) and "half-made database was removed again" in err
    assert not (tmp_path / "new.db").exists()


@pytest.mark.server
def test_init_demo_failing_on_a_new_server_database_drops_it(capsys, monkeypatch) -> None:
    base = parse_url(server_base_url("postgresql"))
    url = base.set(database=f"shopmig_half_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise sa.exc.OperationalError("COPY", {}, Exception("could not extend file: No space "
                                                            "left on device"))

    monkeypatch.setattr("shopmig.dialects.postgresql.PostgreSQLDialect.bulk_insert", broken)
    code, _, err = run(capsys, "--url", url, "init-demo")
    assert code == 2
    assert "no space left" in one_line(err) and "removed again" in err
    assert not shopmig.database_exists(url)
