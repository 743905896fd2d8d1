"""Shared fixtures: one scratch database per test, on SQLite, PostgreSQL and MariaDB.

Server tests need ``SHOPMIG_TEST_POSTGRES_URL`` and ``SHOPMIG_TEST_MARIADB_URL`` (a URL whose
user may create and drop databases; its database part is ignored). Without them the server
variants skip with that message, except in CI (``CI=true``), where a missing or unreachable
server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import shopmig
from shopmig.db import open_engine, parse_url

SERVER_ENV = {
    "postgresql": "SHOPMIG_TEST_POSTGRES_URL",
    "mariadb": "SHOPMIG_TEST_MARIADB_URL",
}
EXAMPLE = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_reachable: dict[str, str | None] = {}


def server_base_url(backend: str) -> str:
    """The server URL for ``backend`` from the environment, or skip (fail in CI)."""
    var = SERVER_ENV[backend]
    url = os.environ.get(var)
    if not url:
        msg = (f"{backend} tests need a server: set {var} (for example "
               f"{var}={EXAMPLE[backend]}) to run them")
        if IN_CI:
            pytest.fail(f"CI=true but {msg}")
        pytest.skip(msg)
    if backend not in _reachable:
        engine = open_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            _reachable[backend] = None
        except Exception as exc:  # any failure means "not reachable"
            masked = shopmig.mask_url(url)
            _reachable[backend] = f"{backend} server at {masked} not reachable: {exc}"
        finally:
            engine.dispose()
    problem = _reachable[backend]
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    return url


def scratch_url(backend: str, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A URL naming a new, not yet created scratch database on ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / ('shop_' + uuid.uuid4().hex[:8] + '.db')}"
    base = parse_url(server_base_url(backend))
    return base.set(database=f"shopmig_t_{uuid.uuid4().hex[:10]}").render_as_string(
        hide_password=False
    )


@pytest.fixture
def make_url(tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    """Factory: ``make_url(backend)`` names a scratch database, dropped after the test."""
    made: list[str] = []

    def factory(backend: str) -> str:
        url = scratch_url(backend, tmp_path)
        made.append(url)
        return url

    yield factory
    for url in made:
        shopmig.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def backend(request) -> str:  # type: ignore[no-untyped-def]
    """Each test using this runs once per backend."""
    if request.param != "sqlite":
        request.node.add_marker(pytest.mark.server)
    return request.param


@pytest.fixture(params=["postgresql", "mariadb"])
def server_backend(request) -> str:  # type: ignore[no-untyped-def]
    """Server backends only (PostgreSQL and MariaDB)."""
    return request.param


@pytest.fixture
def db_url(backend, make_url) -> str:  # type: ignore[no-untyped-def]
    """A URL for a new empty scratch database on each backend (created, dropped afterwards)."""
    url = make_url(backend)
    shopmig.create_database(url)
    return url


@pytest.fixture
def demo_url(db_url) -> str:  # type: ignore[no-untyped-def]
    """A scratch database holding a 300-row demo shop at the baseline revision."""
    shopmig.make_demo_shop(db_url, rows=300, seed=7)
    return db_url


@pytest.fixture
def sqlite_url(make_url) -> str:  # type: ignore[no-untyped-def]
    """A file-backed SQLite URL in tmp_path (file not created yet)."""
    return make_url("sqlite")


@pytest.fixture
def clean_cwd(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Run in an empty folder with no ``SHOPMIG_DATABASE_URL`` (the CLI's default URL is local)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOPMIG_DATABASE_URL", raising=False)
