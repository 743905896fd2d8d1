"""The library refuses what the CLI refuses (``shopmig.validate`` is shared): bad numbers,
a copy that is its own source, expectations that do not fit their column; before anything is
made."""

from __future__ import annotations

import math
import uuid

import pytest
from conftest import server_base_url
from helpers import digest

import shopmig
from shopmig import validate
from shopmig.db import parse_url
from shopmig.dialects import dialect_for
from shopmig.errors import (
    InvalidArgumentError,
    InvalidURLError,
    SameDatabaseError,
    StampRefusedError,
    UnwritablePathError,
)
from shopmig.migrate.options import MigrationOptions
from shopmig.rehearsal.run import rehearse

# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(("value", "seconds", "ms"), [
    (0.0004, 0.001, 1), (1e-300, 0.001, 1), (0.0015, 0.002, 2), (2, 2.0, 2000), (600, 600.0,
                                                                                 600_000)])
def test_a_tiny_lock_timeout_is_rounded_up_never_to_zero(value, seconds, ms) -> None:
    assert validate.lock_timeout(value) == seconds
    for name in ("postgresql", "mariadb", "sqlite"):  # 0 would mean "wait forever"
        assert dialect_for(name).lock_timeout_ms(MigrationOptions(lock_timeout_s=value)) == ms
    assert validate.migration_options(MigrationOptions(lock_timeout_s=value)).lock_timeout_s \
        == seconds


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0, -1, 601, True, "2", None])
def test_bad_lock_timeouts(value) -> None:
    with pytest.raises(InvalidArgumentError, match="lock_timeout_s"):
        validate.lock_timeout(value)


@pytest.mark.parametrize(("field", "value"), [
    ("statement_timeout_s", math.inf), ("statement_timeout_s", 0), ("retries", -1),
    ("retries", 1.5), ("backoff_s", math.nan), ("rewrite_row_limit", -1),
    ("allow_table_rewrite", "yes"), ("lock_timeout_s", 700),  # above the statement timeout
])
def test_bad_migration_options(field, value) -> None:
    with pytest.raises(InvalidArgumentError, match=field):
        validate.migration_options(MigrationOptions(**{field: value}))


def test_numbers_accept_numpy_and_the_limits() -> None:
    import numpy as np

    assert validate.rows(np.int64(5)) == 5
    assert validate.rows(validate.MAX_DEMO_ROWS) == validate.MAX_DEMO_ROWS
    assert validate.seed(0) == 0 and validate.seed(2**64 - 1) == 2**64 - 1
    assert validate.workload(0.1, 10) == (0.1, 10.0)
    with pytest.raises(InvalidArgumentError, match="write nothing"):
        validate.workload(0.1, 9)
    with pytest.raises(InvalidArgumentError, match="10,000,000"):
        validate.rows(validate.MAX_DEMO_ROWS + 1)


# ------------------------------------------------------------------ the API refuses too


def test_make_demo_shop_refuses_before_allocating(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    with pytest.raises(InvalidArgumentError, match="rows"):
        shopmig.make_demo_shop(url, rows=10_000_000_000_000)  # would need 70+ TiB
    with pytest.raises(InvalidArgumentError, match="seed"):
        shopmig.make_demo_shop(url, rows=5, seed=-1)
    assert list(tmp_path.iterdir()) == []


def test_upgrade_refuses_bad_options_and_changes_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(url, rows=5)
    before = digest(tmp_path / "shop.db")
    for options in (MigrationOptions(lock_timeout_s=math.nan),
                    MigrationOptions(lock_timeout_s=math.inf), MigrationOptions(retries=-3)):
        with pytest.raises(InvalidArgumentError):
            shopmig.upgrade(url, "+1", options=options)
        with pytest.raises(InvalidArgumentError):
            shopmig.downgrade(url, "-1", options=options)
    assert digest(tmp_path / "shop.db") == before


@pytest.mark.parametrize("alias", ["same", "dot", "absolute", "symlink"])
def test_the_copy_is_never_the_source_sqlite(tmp_path, monkeypatch, alias) -> None:
    monkeypatch.chdir(tmp_path)
    shopmig.make_demo_shop("sqlite:///shop.db", rows=30)
    shopmig.upgrade("sqlite:///shop.db", "0002")
    (tmp_path / "link.db").symlink_to(tmp_path / "shop.db")
    target = {"same": "sqlite:///shop.db", "dot": "sqlite:///./shop.db",
              "absolute": f"sqlite:///{tmp_path / 'shop.db'}", "symlink": "sqlite:///link.db"}[
        alias]
    before, files = digest(tmp_path / "shop.db"), sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SameDatabaseError, match="itself"):
        rehearse("sqlite:///shop.db", copy_to=target, duration_s=5, backup_dir="backups")
    with pytest.raises(SameDatabaseError, match="itself"):
        shopmig.copy_database("sqlite:///shop.db", target)
    assert digest(tmp_path / "shop.db") == before  # byte-identical
    assert sorted(p.name for p in tmp_path.iterdir()) == files


@pytest.mark.server
def test_the_copy_is_never_the_source_servers(server_backend) -> None:
    base = parse_url(server_base_url(server_backend))
    name = f"shopmig_self_{uuid.uuid4().hex[:8]}"
    src = base.set(database=name, host="127.0.0.1").render_as_string(hide_password=False)
    alias = parse_url(src).set(host="localhost").render_as_string(hide_password=False)
    shopmig.make_demo_shop(src, rows=40)
    shopmig.copy_database(src, parse_url(src).set(database=name + "_c"))  # src is a copy too
    copy = parse_url(src).set(database=name + "_c").render_as_string(hide_password=False)
    try:
        for source in (src, copy):  # a shopmig copy as the source was the worst case
            twin = source.replace("127.0.0.1", "localhost")
            before = (shopmig.current_revision(source), shopmig.snapshot(source))
            for target in (source, twin):
                with pytest.raises(SameDatabaseError):
                    rehearse(source, copy_to=target, duration_s=5, backup_dir=None)
                with pytest.raises(SameDatabaseError):
                    shopmig.copy_database(source, target)
            after = (shopmig.current_revision(source), shopmig.snapshot(source))
            assert before[0] == after[0] and before[1].equals(after[1])
        assert not shopmig.database_exists(parse_url(src).set(database=name + "_rehearsal"))
        assert alias != src
    finally:
        shopmig.drop_database(copy)
        shopmig.drop_database(src)


def test_rehearse_checks_everything_before_any_copy(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shopmig.make_demo_shop("sqlite:///shop.db", rows=30)
    files = sorted(p.name for p in tmp_path.iterdir())
    for kwargs, error in (({"rows_per_sec": 1e-300}, InvalidArgumentError),
                          ({"duration_s": math.inf}, InvalidArgumentError),
                          ({"options": MigrationOptions(lock_timeout_s=math.nan)},
                           InvalidArgumentError),
                          ({"backup_dir": "/proc/backups"}, UnwritablePathError),
                          ({"copy_to": "sqlite:///c.db?bogus=1"}, InvalidURLError)):
        with pytest.raises(error):
            rehearse("sqlite:///shop.db", **kwargs)
        assert sorted(p.name for p in tmp_path.iterdir()) == files, kwargs


@pytest.mark.parametrize(("expect", "match"), [
    ({"status": ["pending", "paid"]}, "one value"),
    ({"status": {"pending"}}, "one value"),
    ({"status": ("pending",)}, "one value"),
    ({"status": {"a": 1}}, "one value"),
    ({"amount": math.nan}, "finite"),
    ({"amount": "abc"}, "a number"),
    (["status"], "mapping"),
])
def test_verify_refuses_expectations_that_cannot_be_checked(tmp_path, expect, match) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(url, rows=10)
    with pytest.raises(InvalidArgumentError, match=match):
        shopmig.verify(url, url, expect=expect)


def test_expectations_are_converted_to_the_column_type(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(url, rows=10)
    assert validate.expectations(url, "orders", {"amount": "12.5", "extra": "x"}) == {
        "amount": 12.5, "extra": "x"}
    assert validate.expectations(url, "nope", {"amount": "abc"}) == {"amount": "abc"}


def test_stamp_takes_only_a_full_revision_id() -> None:
    known = shopmig.revisions()
    assert validate.stamp_revision("0002_add_status", known) == "0002_add_status"
    for typo in ("0002", "0002_add_stauts", "+1", "head", "", " 0002_add_status"):
        with pytest.raises(StampRefusedError, match="Nothing was written"):
            validate.stamp_revision(typo, known)


def test_writable_paths_leave_nothing_behind(tmp_path) -> None:
    folder = validate.writable_dir(tmp_path / "a" / "b", "--backup-dir")
    assert folder == tmp_path / "a" / "b" and list(tmp_path.iterdir()) == []
    assert validate.writable_file(tmp_path / "r.html", "--report") == tmp_path / "r.html"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    for bad, check in ((tmp_path / "f" / "b", validate.writable_dir),
                       (tmp_path, validate.writable_file),
                       (tmp_path / "missing" / "r.html", validate.writable_file),
                       ("", validate.writable_dir)):
        with pytest.raises(UnwritablePathError):
            check(bad, "path")
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_the_stamp_api_refuses_a_mistyped_revision_too(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    shopmig.make_demo_shop(url, rows=5)
    before = digest(tmp_path / "shop.db")
    for typo in ("0002", "+1", "head"):
        with pytest.raises(StampRefusedError):
            shopmig.migrate.stamp(url, typo)
    assert digest(tmp_path / "shop.db") == before
