"""Classroom databases: one demo shop per learner on a server, dropped by one call, nothing else.

Every server test uses its own random prefix and drops whatever carries it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import server_base_url

import shopmig
from shopmig.cli import main
from shopmig.db import parse_url
from shopmig.errors import InvalidArgumentError, TargetExistsError
from shopmig.teach import classroom


def test_learner_names_from_a_count_are_zero_padded() -> None:
    assert classroom.learner_names(3) == ["01", "02", "03"]
    assert classroom.learner_names(120)[:2] == ["001", "002"]
    assert classroom.learner_names(["Alice", "bob_2"]) == ["alice", "bob_2"]


@pytest.mark.parametrize(
    "learners", [0, -1, classroom.MAX_LEARNERS + 1, True, [], "alice", ["a-b"], ["x y"],
                 ["Ann", "ann"], [3]]
)
def test_bad_learners_are_refused(learners: object) -> None:
    with pytest.raises(InvalidArgumentError):
        classroom.learner_names(learners)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "1abc", "Shop_", "a-b", "a b"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(InvalidArgumentError):
        classroom.classroom_urls("postgresql+psycopg://u@h/db", 2, prefix=prefix)


def test_sqlite_needs_no_classroom(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError, match="own file"):
        classroom.create_classroom(f"sqlite:///{tmp_path / 'x.db'}", 2)
    with pytest.raises(InvalidArgumentError):
        classroom.drop_classroom("sqlite://")


def test_urls_keep_the_password_and_only_change_the_database() -> None:
    urls = classroom.classroom_urls("postgresql+psycopg://me:s3cret@db.example:6543/shop",
                                    ["ann"], prefix="ws_")
    assert urls[0].render_as_string(hide_password=False) == (
        "postgresql+psycopg://me:s3cret@db.example:6543/ws_ann")
    with pytest.raises(InvalidArgumentError, match="63"):
        classroom.classroom_urls("postgresql+psycopg://u@h/db", ["x" * 61], prefix="ws_")


@pytest.fixture
def prefix(server_backend: str) -> Iterator[str]:
    """A fresh prefix on ``server_backend``; every database carrying it is dropped afterwards."""
    server = server_base_url(server_backend)
    value = f"shopmig_t_cls_{uuid.uuid4().hex[:6]}_"
    yield value
    for name in classroom.list_classroom(server, prefix=value):
        shopmig.drop_database(parse_url(server).set(database=name))


def _rows(url: str) -> int:
    return shopmig.row_count(url)


def test_create_makes_one_marked_demo_shop_per_learner(server_backend: str, prefix: str) -> None:
    server = server_base_url(server_backend)
    urls = classroom.create_classroom(server, 3, rows=25, prefix=prefix)
    assert [parse_url(u).database for u in urls] == [f"{prefix}01", f"{prefix}02", f"{prefix}03"]
    for url in urls:
        assert shopmig.database_marker(url)["role"] == "demo"
        assert shopmig.current_revision(url) == "0001_baseline"
        assert _rows(url) == 25
        shopmig.require_copy(url, "upgrade")  # the CLI may migrate a learner's database
    assert classroom.list_classroom(server, prefix=prefix) == {
        f"{prefix}01": "demo", f"{prefix}02": "demo", f"{prefix}03": "demo"}


def test_create_refuses_an_existing_learner_database_and_makes_nothing(
    server_backend: str, prefix: str
) -> None:
    server = server_base_url(server_backend)
    classroom.create_classroom(server, ["bob"], rows=5, prefix=prefix)
    with pytest.raises(TargetExistsError, match="classroom drop --prefix"):
        classroom.create_classroom(server, ["ann", "bob", "cy"], rows=5, prefix=prefix)
    assert classroom.list_classroom(server, prefix=prefix) == {f"{prefix}bob": "demo"}


def test_a_failure_half_way_drops_what_was_made(
    server_backend: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = server_base_url(server_backend)
    real, calls = classroom.make_demo_shop, []

    def flaky(url, rows, *, seed):  # type: ignore[no-untyped-def]
        calls.append(url)
        if len(calls) == 2:
            raise shopmig.ShopmigError("disk full (simulated)")
        return real(url, rows, seed=seed)

    monkeypatch.setattr(classroom, "make_demo_shop", flaky)
    with pytest.raises(shopmig.ShopmigError, match="simulated"):
        classroom.create_classroom(server, 3, rows=5, prefix=prefix)
    assert classroom.list_classroom(server, prefix=prefix) == {}


def test_drop_takes_marked_databases_only(server_backend: str, prefix: str, make_url) -> None:  # type: ignore[no-untyped-def]
    server = server_base_url(server_backend)
    base = parse_url(server)
    urls = classroom.create_classroom(server, 2, rows=5, prefix=prefix)
    # a learner's rehearsal copy carries the prefix and a copy marker: it goes too
    shopmig.copy_database(urls[0], base.set(database=f"{prefix}01_rehearsal"))
    # same prefix, no marker: an empty database and one holding someone's table stay
    empty, owned = base.set(database=f"{prefix}empty"), base.set(database=f"{prefix}owned")
    shopmig.create_database(empty)
    shopmig.create_database(owned)
    engine = shopmig.open_engine(owned)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE orders (order_id VARCHAR(20) PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO orders VALUES ('keep-me')"))
    finally:
        engine.dispose()
    # a marked demo shop without the prefix stays
    other = make_url(server_backend)
    shopmig.make_demo_shop(other, rows=5)

    dropped = classroom.drop_classroom(server, prefix=prefix)

    assert sorted(parse_url(u).database for u in dropped) == [
        f"{prefix}01", f"{prefix}01_rehearsal", f"{prefix}02"]
    assert classroom.list_classroom(server, prefix=prefix) == {
        f"{prefix}empty": None, f"{prefix}owned": None}
    assert _rows(owned.render_as_string(hide_password=False)) == 1
    assert shopmig.database_marker(other)["role"] == "demo"
    assert classroom.drop_classroom(server, prefix=prefix) == []  # again: nothing to do


def test_cli_create_and_drop(
    server_backend: str, prefix: str, tmp_path, capsys  # type: ignore[no-untyped-def]
) -> None:
    server = server_base_url(server_backend)
    urls_file = tmp_path / "urls.txt"
    assert main(["--url", server, "classroom", "create", "ann", "bo", "--rows", "7",
                 "--prefix", prefix, "--urls-file", str(urls_file)]) == 0
    out = capsys.readouterr().out
    assert f"/{prefix}ann" in out and f"/{prefix}bo" in out and "7 orders each" in out
    full = urls_file.read_text().split()
    assert [parse_url(u).database for u in full] == [f"{prefix}ann", f"{prefix}bo"]
    assert urls_file.stat().st_mode & 0o077 == 0  # passwords: the facilitator's eyes only
    assert _rows(full[1]) == 7

    assert main(["classroom", "create", "2", "--url", server, "--prefix", prefix]) == 0
    assert len(classroom.list_classroom(server, prefix=prefix)) == 4
    assert main(["classroom", "create", "2", "--url", server, "--prefix", prefix]) == 2
    assert capsys.readouterr().err.startswith("shopmig: error: the classroom database")

    shopmig.create_database(parse_url(server).set(database=f"{prefix}zz"))
    assert main(["classroom", "drop", "--url", server, "--prefix", prefix]) == 0
    out = capsys.readouterr().out
    assert out.count("dropped ") == 5 and f"left alone {prefix}zz" in out
    assert list(classroom.list_classroom(server, prefix=prefix)) == [f"{prefix}zz"]


def test_cli_classroom_on_sqlite_is_a_usage_error(clean_cwd, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["classroom", "create", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PostgreSQL or MariaDB" in err[0]
