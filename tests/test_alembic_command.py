"""The plain ``alembic`` command runs shopmig's revisions with the ini file shopmig ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import sqlite_exec

import shopmig
from shopmig.migrate.core import script_location

INI = Path(script_location()) / "alembic.ini"


def alembic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(INI), *args],
                          capture_output=True, text=True, check=False)


def test_alembic_upgrades_an_empty_database_to_head_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    done = alembic("-x", f"url={url}", "upgrade", "head")
    assert done.returncode == 0, done.stderr
    assert shopmig.current_revision(url) == shopmig.revisions()[-1]
    assert "status" in shopmig.describe_table(url)["name"].tolist()
    done = alembic("-x", f"url={url}", "downgrade", "base")
    assert done.returncode == 0, done.stderr
    assert shopmig.current_revision(url) is None
    assert shopmig.db.open_engine(url).connect().exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE name = 'orders'").scalar() == 0


def test_alembic_runs_on_the_table_adopt_recorded(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    sqlite_exec(path, 'CREATE TABLE "Orders" (id INTEGER PRIMARY KEY, status TEXT)',
                "INSERT INTO \"Orders\" (status) VALUES ('x'), ('y')")
    url = f"sqlite:///{path}"
    shopmig.adopt(url, table="orders", column="state")
    done = alembic("-x", f"url={url}", "upgrade", "head")
    assert done.returncode == 0, done.stderr
    columns = shopmig.describe_table(url).set_index("name")
    assert "state" in columns.index and "ix_orders_state" in shopmig.table_indexes(url)[
        "name"].tolist()
    assert shopmig.diagnose(url).ok
    done = alembic("-x", f"url={url}", "downgrade", "0001_baseline")
    assert done.returncode == 0, done.stderr
    assert "state" not in shopmig.describe_table(url)["name"].tolist()
    done = alembic("-x", f"url={url}", "downgrade", "base")  # an adopted table is never dropped
    assert done.returncode != 0 and "never drops your table" in done.stderr
    assert shopmig.row_count(url) == 2


def test_alembic_offline_sql_is_shopmigs_sql() -> None:
    done = alembic("-x", "url=postgresql://u@h/db", "upgrade", "0001_baseline:head", "--sql")
    assert done.returncode == 0, done.stderr
    for revision in shopmig.revisions()[1:]:
        assert shopmig.migrate.core.step_sql(revision, "up", "postgresql") in done.stdout
