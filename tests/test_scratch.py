"""Scratch databases: fresh per call, named next to the base URL, leftovers cleared, dropped."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
import sqlalchemy as sa
from conftest import server_base_url

import shopmig
from shopmig.errors import InvalidArgumentError, NotACopyError


def _tables(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sa.inspect(conn).get_table_names()


def test_memory_scratch_databases_are_fresh_and_separate() -> None:
    first = shopmig.scratch_database("sqlite://", "shopmig_a")
    second = shopmig.scratch_database("sqlite://", "shopmig_a")
    try:
        shopmig.make_demo_shop(first, rows=10)
        assert shopmig.row_count(first) == 10
        assert _tables(second) == []
    finally:
        shopmig.drop_scratch(first)
        shopmig.drop_scratch(second)


def test_memory_scratch_is_a_copy_target() -> None:
    source = shopmig.scratch_database("sqlite://", "shopmig_src")
    target = shopmig.scratch_database("sqlite://", "shopmig_dst", create=False)
    try:
        shopmig.make_demo_shop(source, rows=20)
        result = shopmig.copy_database(source, target)
        assert result.tables["orders"] == 20
        assert shopmig.database_marker(target)["role"] == "copy"
    finally:
        shopmig.drop_scratch(target)
        shopmig.drop_scratch(source)


def test_file_scratch_lives_next_to_the_base_and_is_dropped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = f"sqlite:///{tmp_path / 'base.db'}"
    path = tmp_path / "shopmig_nb.db"
    engine = shopmig.scratch_database(base, "shopmig_nb")
    assert engine.url.database == str(path)
    shopmig.make_demo_shop(engine, rows=5)
    assert path.exists()
    again = shopmig.scratch_database(base, "shopmig_nb")  # the marked leftover is replaced
    assert _tables(again) == []
    shopmig.drop_scratch(again)
    assert not path.exists()
    assert not (tmp_path / "base.db").exists()  # the base database is never touched


def test_file_scratch_without_create_is_a_copy_target(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = shopmig.scratch_database("sqlite://", "shopmig_src")
    target = shopmig.scratch_database(f"sqlite:///{tmp_path / 'x.db'}", "shopmig_copy",
                                      create=False)
    try:
        assert not (tmp_path / "shopmig_copy.db").exists()
        shopmig.make_demo_shop(source, rows=7)
        assert shopmig.copy_database(source, target).tables["orders"] == 7
    finally:
        shopmig.drop_scratch(target)
        shopmig.drop_scratch(source)
    assert not (tmp_path / "shopmig_copy.db").exists()


def test_unmarked_database_with_tables_is_never_dropped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "precious.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE orders (order_id TEXT PRIMARY KEY)")
    base = f"sqlite:///{tmp_path / 'base.db'}"
    with pytest.raises(NotACopyError):
        shopmig.scratch_database(base, "precious")
    with pytest.raises(NotACopyError):
        shopmig.drop_scratch(shopmig.open_engine(f"sqlite:///{path}"))
    assert path.exists()


@pytest.mark.parametrize("name", ["", "a-b", "x; DROP TABLE orders", "1abc", "a" * 64, None])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(InvalidArgumentError):
        shopmig.scratch_database("sqlite://", name)  # type: ignore[arg-type]


def test_scratch_url_keeps_credentials_and_replaces_the_database() -> None:
    url = shopmig.scratch_url("postgresql+psycopg://u:secret@db.example:5432/prod", "shopmig_x")
    assert (url.username, url.password, url.host, url.database) == (
        "u", "secret", "db.example", "prod__shopmig_x"
    )
    # learners sharing a server each get their own scratch databases
    a = shopmig.scratch_url("postgresql+psycopg://h/shopmig_learner_01", "shopmig_nb01")
    b = shopmig.scratch_url("postgresql+psycopg://h/shopmig_learner_02", "shopmig_nb01")
    assert a.database != b.database and a.database.endswith("__shopmig_nb01")
    assert len(shopmig.scratch_url("mysql+pymysql://h/" + "x" * 80, "shopmig_nb01").database) <= 63
    assert shopmig.scratch_url("postgresql+psycopg://h", "shopmig_x").database == "shopmig_x"
    once = shopmig.scratch_url("postgresql+psycopg://h/test", "shopmig_x")
    assert shopmig.scratch_url(once, "shopmig_x") == once  # naming it again changes nothing
    assert shopmig.scratch_url("sqlite:///:memory:", "shopmig_x").database is None


@pytest.mark.server
def test_server_scratch_is_created_replaced_and_dropped(server_backend: str) -> None:
    base = server_base_url(server_backend)
    name = f"shopmig_t_scr_{uuid.uuid4().hex[:8]}"
    url = shopmig.scratch_url(base, name)
    try:
        engine = shopmig.scratch_database(base, name)
        assert shopmig.database_exists(url)
        shopmig.make_demo_shop(engine, rows=10)
        engine.dispose()
        again = shopmig.scratch_database(base, name)
        assert _tables(again) == []
        shopmig.drop_scratch(again)
        assert not shopmig.database_exists(url)
        target = shopmig.scratch_database(base, name, create=False)
        assert not shopmig.database_exists(url)
        target.dispose()
    finally:
        shopmig.drop_database(url)
