"""The ``shopmig`` command line contract: URL resolution, every command, exit codes, JSON
output, the SQLite walk-through end to end, and the copy-upgrade-verify rehearsal on servers.

Most tests call :func:`shopmig.cli.main` in-process; a few run ``python -m shopmig`` and the
``shopmig`` console script as real subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import digest, plain_server_shop, sqlite_exec

import shopmig
from shopmig.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``shopmig ARGS`` in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse usage errors, --help, --version
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args: str):
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return json.loads(out)





pytestmark = pytest.mark.usefixtures("clean_cwd")


# ------------------------------------------------------------------ URL resolution


def test_default_url_is_shopmig_db_in_the_current_folder(tmp_path, capsys) -> None:
    code, out, err = run(capsys, "init-demo", "--rows", "25")
    assert (code, err) == (0, "")
    assert "25 orders" in out and "sqlite:///shopmig.db" in out
    assert (tmp_path / "shopmig.db").exists()
    assert run_json(capsys, "inspect", "--json")["rows"] == 25


def test_env_var_is_used_when_no_url_is_given(tmp_path, capsys, monkeypatch) -> None:
    env_db = tmp_path / "from_env.db"
    monkeypatch.setenv("SHOPMIG_DATABASE_URL", f"sqlite:///{env_db}")
    code, out, _ = run(capsys, "init-demo", "--rows", "7")
    assert code == 0 and str(env_db) in out
    assert env_db.exists() and not (tmp_path / "shopmig.db").exists()
    assert run_json(capsys, "inspect", "--json")["rows"] == 7


def test_url_option_beats_the_env_var(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SHOPMIG_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    url = f"sqlite:///{tmp_path / 'opt.db'}"
    assert run(capsys, "--url", url, "init-demo", "--rows", "3")[0] == 0
    assert (tmp_path / "opt.db").exists() and not (tmp_path / "env.db").exists()


# ------------------------------------------------------------------ commands


def test_init_demo_seed_rows_and_replace(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    other = f"sqlite:///{tmp_path / 'b.db'}"
    assert run(capsys, "--url", url, "init-demo", "--rows", "40", "--seed", "5")[0] == 0
    assert run(capsys, "--url", other, "init-demo", "--rows", "40", "--seed", "5")[0] == 0
    assert shopmig.snapshot(url).equals(shopmig.snapshot(other))  # same seed, same shop
    # a second init-demo refuses (the shop exists), --replace rebuilds it
    before = digest(tmp_path / "a.db")
    code, out, err = run(capsys, "--url", url, "init-demo", "--rows", "10")
    assert code == 2 and out == ""
    assert err.startswith("shopmig: error:") and "--replace" in err
    assert digest(tmp_path / "a.db") == before
    code, out, _ = run(capsys, "--url", url, "init-demo", "--rows", "10", "--seed", "1",
                       "--replace")
    assert code == 0 and "10 orders" in out
    assert shopmig.row_count(url) == 10
    assert run(capsys, "--url", url, "init-demo", "--rows", "0", "--replace")[0] == 0
    assert shopmig.row_count(url) == 0


def test_inspect_json_shape(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    run(capsys, "--url", url, "init-demo", "--rows", "12")
    info = run_json(capsys, "--url", url, "inspect", "--json")
    assert info["table"] == "orders"
    assert info["rows"] == 12
    assert info["revision"] == "0001_baseline"
    assert [c["name"] for c in info["columns"]] == ["order_id", "amount"]
    for column in info["columns"]:
        assert set(column) >= {"name", "type", "nullable", "default", "primary_key"}
    key = info["columns"][0]
    assert key["primary_key"] is True and key["nullable"] is False
    # text output names the table, the row count and the revision
    code, out, _ = run(capsys, "--url", url, "inspect")
    assert code == 0
    assert "orders" in out and "12 rows" in out and "0001_baseline" in out
    assert "order_id" in out and "amount" in out


def test_inspect_other_table(tmp_path, capsys) -> None:
    path = tmp_path / "other.db"
    sqlite_exec(path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
                "INSERT INTO customers VALUES (1, 'Ann')")
    info = run_json(capsys, "--url", f"sqlite:///{path}", "inspect", "--table", "customers",
                    "--json")
    assert (info["table"], info["rows"], info["revision"]) == ("customers", 1, None)
    assert [c["name"] for c in info["columns"]] == ["id", "name"]


def test_history_text_and_json(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    run(capsys, "--url", url, "init-demo", "--rows", "5")
    code, out, _ = run(capsys, "--url", url, "history")
    assert code == 0
    for rev in shopmig.revisions():
        assert rev in out
    rows = run_json(capsys, "--url", url, "history", "--json")
    assert [r["revision"] for r in rows] == shopmig.revisions()
    assert [r["applied"] for r in rows] == [True, False, False, False, False]
    assert [r["current"] for r in rows] == [True, False, False, False, False]


def test_sql_previews_without_running(tmp_path, capsys) -> None:
    path = tmp_path / "shop.db"
    url = f"sqlite:///{path}"
    run(capsys, "--url", url, "init-demo", "--rows", "5")
    before = digest(path)
    code, out, _ = run(capsys, "--url", url, "sql")
    assert code == 0
    assert "-- step 0002_add_status (up)" in out
    assert "lock:" in out and "blocks writes:" in out and "rewrites table: no" in out
    assert "ALTER TABLE orders ADD COLUMN status" in out and "'pending'" in out
    assert "0003" not in out.split("ALTER TABLE")[0]  # only the next step by default
    code, out, _ = run(capsys, "--url", url, "sql", "head")
    assert code == 0
    for rev in shopmig.revisions()[1:]:
        assert f"-- step {rev} (up)" in out
    steps = run_json(capsys, "--url", url, "sql", "0003", "--json")
    assert [s["revision"] for s in steps] == ["0002_add_status", "0003_status_check"]
    assert all("impact" in s and "sql" in s for s in steps)
    assert digest(path) == before
    assert shopmig.current_revision(url) == "0001_baseline"


def test_sql_downgrade_target(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    run(capsys, "--url", url, "init-demo", "--rows", "5")
    run(capsys, "--url", url, "upgrade", "+1")
    code, out, _ = run(capsys, "--url", url, "sql", "-1")
    assert code == 0
    assert "-- step 0002_add_status (down)" in out and "DROP COLUMN" in out.upper()


def test_upgrade_and_downgrade_targets(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    run(capsys, "--url", url, "init-demo", "--rows", "5")
    before = digest(tmp_path / "shop.db")
    code, out, err = run(capsys, "--url", url, "upgrade")  # no target: says which, runs nothing
    assert (code, out) == (2, "") and digest(tmp_path / "shop.db") == before
    assert err == ("shopmig: error: upgrade needs a TARGET; say which: shopmig upgrade +1 "
                   "(next: 0002_add_status) or shopmig upgrade head (4 steps, up to "
                   "0005_status_index). Preview a step's SQL first with: shopmig sql TARGET.\n")
    code, out, _ = run(capsys, "--url", url, "upgrade", "+1")
    assert code == 0 and "0001_baseline -> 0002_add_status" in out
    code, out, _ = run(capsys, "--url", url, "upgrade", "0004")  # an id prefix
    assert code == 0 and out.count("up:") == 2
    assert shopmig.current_revision(url) == "0004_validate_status_check"
    result = run_json(capsys, "--url", url, "upgrade", "head", "--json")
    assert result["revision"] == "0005_status_index"
    assert [a["revision"] for a in result["applied"]] == ["0005_status_index"]
    code, out, err = run(capsys, "--url", url, "downgrade")  # no target: says which
    assert (code, out) == (2, "") and shopmig.current_revision(url) == "0005_status_index"
    assert "shopmig downgrade -1 (back to: 0004_validate_status_check)" in err
    assert "shopmig downgrade base (4 steps, down to 0001_baseline)" in err
    code, out, _ = run(capsys, "--url", url, "downgrade", "-1")
    assert code == 0 and "0005_status_index -> 0004_validate_status_check" in out
    code, out, _ = run(capsys, "--url", url, "downgrade", "0002_add_status")
    assert code == 0 and shopmig.current_revision(url) == "0002_add_status"
    code, out, _ = run(capsys, "--url", url, "downgrade", "base")
    assert code == 0 and shopmig.current_revision(url) == "0001_baseline"


@pytest.mark.parametrize(("command", "target", "at"),
                         [("upgrade", "head", "head"), ("upgrade", "+1", "head"),
                          ("downgrade", "base", "base"), ("downgrade", "-1", "base")])
def test_already_there_says_so_and_changes_nothing(tmp_path, capsys, command, target,
                                                   at) -> None:
    path = tmp_path / "shop.db"
    url = f"sqlite:///{path}"
    run(capsys, "--url", url, "init-demo", "--rows", "5")
    if at == "head":
        run(capsys, "--url", url, "upgrade", "head")
    before = digest(path)
    code, out, err = run(capsys, "--url", url, command, target)
    assert (code, err) == (0, "")
    assert "already at" in out and "nothing changed" in out
    assert digest(path) == before
    if command == "upgrade":
        code, out, _ = run(capsys, "--url", url, "sql")
        assert code == 0 and "already at" in out


def test_stamp_never_writes_a_mistyped_revision(tmp_path, capsys) -> None:
    path = tmp_path / "shop.db"
    url = f"sqlite:///{path}"
    run(capsys, "--url", url, "init-demo", "--rows", "5")
    run(capsys, "--url", url, "upgrade", "+1")
    before = digest(path)
    for typo, why in (("0002", "stamp needs the full revision id (did you mean 0002_add_status?)"),
                      ("0003_status_chek", "it is not a revision id"),
                      ("+1", "it is not a revision id")):
        code, out, err = run(capsys, "--url", url, "stamp", typo)
        assert (code, out) == (2, "")
        assert err == (f"shopmig: error: not recording revision {typo!r}: {why}. Nothing was "
                       "written. Use one of: " + ", ".join(shopmig.revisions()) + ".\n")
    # a real id the schema does not show: refused too, and the fix named
    code, out, err = run(capsys, "--url", url, "stamp", "0003_status_check")
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert "the table does not show revision 0003_status_check" in err
    assert digest(path) == before and shopmig.current_revision(url) == "0002_add_status"
    # the recovery stamp shopmig advises is written
    from alembic import command

    from shopmig.migrate.core import alembic_config

    with shopmig.connect(url) as conn:  # a half-applied step, as a crash leaves it
        command.stamp(alembic_config(conn), "0001_baseline", purge=True)
        conn.commit()
    code, out, err = run(capsys, "--url", url, "stamp", "0002_add_status")
    assert (code, err) == (0, "") and "now recorded at revision 0002_add_status" in out
    assert shopmig.current_revision(url) == "0002_add_status"


def test_inspect_shows_missing_values_as_a_dash(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    run(capsys, "--url", url, "init-demo", "--rows", "5")
    code, out, _ = run(capsys, "--url", url, "inspect")
    assert code == 0
    assert "NaN" not in out and "None" not in out
    key = next(line for line in out.splitlines() if line.strip().startswith("order_id"))
    assert key.split()[:5] == ["order_id", "VARCHAR(36)", "False", "—", "True"]  # no default
    primary = next(line for line in out.splitlines() if "primary key" in line)
    assert primary.split()[0] in ("—", "primary")  # SQLite's primary key has no name
    info = run_json(capsys, "--url", url, "inspect", "--json")
    assert info["columns"][0]["default"] is None  # JSON keeps null


def test_adopt_an_existing_shop(tmp_path, capsys) -> None:
    path = tmp_path / "legacy.db"
    sqlite_exec(path, "CREATE TABLE orders (order_id VARCHAR(36) PRIMARY KEY, amount FLOAT)",
                "INSERT INTO orders VALUES ('X1', 9.5)")
    url = f"sqlite:///{path}"
    code, out, err = run(capsys, "--url", url, "upgrade", "+1")
    assert code == 2 and "shopmig adopt" in err
    code, out, _ = run(capsys, "--url", url, "adopt")
    assert code == 0 and "0001_baseline" in out
    code, out, err = run(capsys, "--url", url, "adopt")
    assert code == 2 and "already tracked" in err
    assert run(capsys, "--url", url, "upgrade", "head")[0] == 0
    assert shopmig.snapshot(url).to_dict(orient="records") == [
        {"order_id": "X1", "amount": 9.5, "status": "pending"}
    ]


def test_copy_command(tmp_path, capsys) -> None:
    src = f"sqlite:///{tmp_path / 'src.db'}"
    dst = f"sqlite:///{tmp_path / 'dst.db'}"
    run(capsys, "--url", src, "init-demo", "--rows", "30")
    before = digest(tmp_path / "src.db")
    code, out, _ = run(capsys, "copy", src, dst)
    assert code == 0 and "orders (30 rows)" in out
    assert shopmig.database_marker(dst)["role"] == "copy"
    assert digest(tmp_path / "src.db") == before
    code, _, err = run(capsys, "copy", src, dst)
    assert code == 2 and "already exists" in err
    result = run_json(capsys, "copy", src, f"sqlite:///{tmp_path / 'dst2.db'}", "--json")
    assert result["tables"]["orders"] == 30


def test_help_and_version(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "init-demo" in out
    code, out, _ = run(capsys, "verify", "--help")
    assert code == 0 and "--expect" in out and "--key" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and shopmig.__version__ in out


def test_no_command_is_a_usage_error(capsys) -> None:
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("shopmig: error:")


# ------------------------------------------------------------------ end to end on SQLite


def test_end_to_end_sqlite(tmp_path, capsys) -> None:
    db = tmp_path / "shopmig.db"
    before_db = tmp_path / "before.db"
    # 1. a demo shop in the default database of the current folder
    code, out, _ = run(capsys, "init-demo", "--rows", "200", "--seed", "3")
    assert code == 0 and db.exists()
    info = run_json(capsys, "inspect", "--json")
    assert (info["rows"], info["revision"]) == (200, "0001_baseline")
    assert "status" not in [c["name"] for c in info["columns"]]
    # 2. look before leaping
    code, out, _ = run(capsys, "history")
    assert code == 0 and "0002_add_status" in out
    code, out, _ = run(capsys, "sql")
    assert code == 0 and "ADD COLUMN status" in out and "lock:" in out
    # 3. keep a copy of the data as it was
    code, out, _ = run(capsys, "copy", "sqlite:///shopmig.db", "sqlite:///before.db")
    assert code == 0 and before_db.exists()
    # 4. one step
    code, out, _ = run(capsys, "upgrade", "+1")
    assert code == 0 and "0001_baseline -> 0002_add_status" in out
    info = run_json(capsys, "inspect", "--json")
    status = {c["name"]: c for c in info["columns"]}["status"]
    assert info["revision"] == "0002_add_status"
    assert status["nullable"] is False and "pending" in status["default"]
    # 5. verify against the copy
    verify = ("verify", "--before", "sqlite:///before.db", "--after", "sqlite:///shopmig.db",
              "--expect", "status=pending")
    code, out, _ = run(capsys, *verify)
    assert code == 0 and out.startswith("OK: 200 rows before, 200 after")
    report = run_json(capsys, *verify, "--json")
    assert report["ok"] is True and report["columns_added"] == ["status"]
    for name in ("rows_before", "rows_after", "missing", "unexpected", "changed",
                 "expectation_failures", "examples"):
        assert name in report
    # 6. damage the migrated database behind shopmig's back
    sqlite_exec(db,
                "DELETE FROM orders WHERE order_id = 'ORD-0000007'",
                "UPDATE orders SET amount = amount + 0.01 WHERE order_id = 'ORD-0000042'",
                "UPDATE orders SET status = 'paid' WHERE order_id = 'ORD-0000099'",
                "INSERT INTO orders (order_id, amount) VALUES ('ORD-9000000', 1.0)")
    code, out, err = run(capsys, *verify, "--json")
    assert (code, err) == (1, "")
    report = json.loads(out)
    assert report["ok"] is False
    assert (report["rows_before"], report["rows_after"]) == (200, 200)
    assert (report["missing"], report["unexpected"], report["changed"],
            report["expectation_failures"]) == (1, 1, 1, 1)
    assert report["examples"] == {"missing": ["ORD-0000007"], "unexpected": ["ORD-9000000"],
                                  "changed": ["ORD-0000042"],
                                  "expectation_failures": ["ORD-0000099"]}
    code, out, _ = run(capsys, *verify)
    assert code == 1 and out.startswith("DIFFERENCES FOUND")
    for key in ("ORD-0000007", "ORD-9000000", "ORD-0000042", "ORD-0000099"):
        assert key in out
    # 7. back to the baseline: status is gone, the rest of the data stays
    code, out, _ = run(capsys, "downgrade", "base")
    assert code == 0 and "0002_add_status -> 0001_baseline" in out
    info = run_json(capsys, "inspect", "--json")
    assert info["revision"] == "0001_baseline"
    assert [c["name"] for c in info["columns"]] == ["order_id", "amount"]
    code, out, _ = run(capsys, "downgrade", "base")
    assert code == 0 and "already at 0001_baseline" in out
    # 8. all the way up, then verify the untouched copy against itself after an upgrade
    assert run(capsys, "upgrade", "head")[0] == 0
    assert run_json(capsys, "inspect", "--json")["revision"] == "0005_status_index"
    code, out, _ = run(capsys, "upgrade", "head")
    assert code == 0 and "already at 0005_status_index" in out
    rows = run_json(capsys, "history", "--json")
    assert all(r["applied"] for r in rows) and rows[-1]["current"]
    assert run(capsys, "--url", "sqlite:///before.db", "inspect")[0] == 0
    assert shopmig.current_revision("sqlite:///before.db") == "0001_baseline"


# ------------------------------------------------------------------ real processes


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SHOPMIG_DATABASE_URL"}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_python_dash_m_shopmig_subprocess(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    cmd = [sys.executable, "-m", "shopmig", "--url", url]
    done = subprocess.run([*cmd, "init-demo", "--rows", "15"], capture_output=True,
                          text=True, timeout=120, env=_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([*cmd, "inspect", "--json"], capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["rows"] == 15
    done = subprocess.run([*cmd, "upgrade", "nope"], capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("shopmig: error:")
    assert "unknown revision 'nope'" in done.stderr


def test_console_script_subprocess(tmp_path) -> None:
    script = Path(sys.executable).with_name("shopmig")
    if not script.exists():
        found = shutil.which("shopmig")
        if found is None:
            pytest.skip("the shopmig console script is not installed")
        script = Path(found)
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    env = _env()

    def shopmig_cmd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(script), *args], capture_output=True, text=True,
                              timeout=120, env=env, cwd=tmp_path)

    assert shopmig_cmd("init-demo", "--rows", "20").returncode == 0
    assert (tmp_path / "shopmig.db").exists()
    assert shopmig_cmd("--url", f"sqlite:///{src}", "init-demo", "--rows", "20").returncode == 0
    assert shopmig_cmd("copy", f"sqlite:///{src}", f"sqlite:///{dst}").returncode == 0
    assert shopmig_cmd("--url", f"sqlite:///{dst}", "upgrade", "head").returncode == 0
    done = shopmig_cmd("verify", "--before", f"sqlite:///{src}", "--after", f"sqlite:///{dst}",
                       "--expect", "status=pending")
    assert done.returncode == 0, done.stdout + done.stderr
    sqlite_exec(dst, "DELETE FROM orders WHERE order_id = 'ORD-0000001'")
    done = shopmig_cmd("verify", "--before", f"sqlite:///{src}", "--after", f"sqlite:///{dst}",
                       "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["examples"]["missing"] == ["ORD-0000001"]


# ------------------------------------------------------------------ servers


def _state(url: str) -> tuple:
    """Revision, columns and every row: enough to tell a database was left unchanged."""
    return (shopmig.current_revision(url),
            shopmig.describe_table(url).to_dict(orient="records"),
            shopmig.snapshot(url).to_dict(orient="records"))


@pytest.mark.server
def test_server_copy_upgrade_verify(server_backend, make_url, capsys) -> None:
    src, dst = make_url(server_backend), make_url(server_backend)
    assert run(capsys, "--url", src, "init-demo", "--rows", "300", "--seed", "9")[0] == 0
    source_state = _state(src)
    code, out, err = run(capsys, "copy", src, dst)
    assert code == 0, err
    assert "orders (300 rows)" in out
    code, out, err = run(capsys, "--url", dst, "upgrade", "head")
    assert code == 0, err
    assert shopmig.current_revision(dst) == "0005_status_index"
    code, out, err = run(capsys, "verify", "--before", src, "--after", dst,
                         "--expect", "status=pending")
    assert code == 0, out + err
    assert out.startswith("OK: 300 rows before, 300 after")
    assert _state(src) == source_state  # the source was only read
    # damage on the copy is found
    engine = shopmig.open_engine(dst)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM orders WHERE order_id = 'ORD-0000003'"))
    finally:
        engine.dispose()
    report = json.loads(run(capsys, "verify", "--before", src, "--after", dst, "--json")[1])
    assert report["ok"] is False and report["examples"]["missing"] == ["ORD-0000003"]


@pytest.mark.server
@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_server_refuses_a_database_that_is_not_a_copy(server_backend, make_url, capsys,
                                                      command) -> None:
    url = make_url(server_backend)
    plain_server_shop(url)
    if command == "downgrade":
        shopmig.upgrade(url, "+1")
    state = _state(url)
    target = "+1" if command == "upgrade" else "-1"
    code, out, err = run(capsys, "--url", url, command, target)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("shopmig: error:")
    assert "neither a shopmig copy nor a demo database" in err
    assert "shopmig copy" in err and "--yes-this-is-not-a-copy" in err
    assert _state(url) == state
    code, out, err = run(capsys, "--url", url, command, target, "--yes-this-is-not-a-copy")
    assert code == 0, err
    assert shopmig.current_revision(url) != state[0]


@pytest.mark.server
def test_successful_output_never_shows_the_password(make_url, capsys) -> None:
    # PostgreSQL here uses trust authentication, so a password in the URL is accepted
    secret = "s3cr3tpw"
    src = shopmig.db.parse_url(make_url("postgresql")).set(password=secret)
    dst = shopmig.db.parse_url(make_url("postgresql")).set(password=secret)
    src_text, dst_text = (u.render_as_string(hide_password=False) for u in (src, dst))
    outputs = []
    for args in (["--url", src_text, "init-demo", "--rows", "10"],
                 ["--url", src_text, "inspect", "--json"],
                 ["--url", src_text, "inspect"],
                 ["copy", src_text, dst_text],
                 ["copy", src_text, dst_text, "--json"],  # fails: the target exists
                 ["--url", dst_text, "upgrade", "head", "--json"],
                 ["verify", "--before", src_text, "--after", dst_text, "--json"]):
        code, out, err = run(capsys, *args)
        assert code in (0, 2)
        outputs.append(out + err)
    joined = "\n".join(outputs)
    assert secret not in joined
    assert ":***@" in joined
