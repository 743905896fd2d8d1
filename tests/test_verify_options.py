"""The verify CLI's engine options and the key-space plot."""

from __future__ import annotations

import json

import matplotlib
import pytest
from helpers import execute

import shopmig
from shopmig.cli import main

matplotlib.use("Agg")


@pytest.fixture
def damaged_pair(make_url) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    before, after = make_url("sqlite"), make_url("sqlite")
    shopmig.make_demo_shop(before, rows=2_000, seed=3)
    shopmig.copy_database(before, after)
    execute(after, "DELETE FROM orders WHERE order_id BETWEEN 'ORD-0001000' AND 'ORD-0001009'",
            "UPDATE orders SET amount = amount + 1 WHERE order_id = 'ORD-0000100'")
    return before, after


@pytest.mark.parametrize("method", ["auto", "stream", "sqlite-join"])
def test_cli_verify_engine_options(damaged_pair, method: str, capsys) -> None:  # type: ignore[no-untyped-def]
    before, after = damaged_pair
    code = main(["verify", "--before", before, "--after", after, "--method", method,
                 "--chunk-rows", "300", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["method"] == ("sqlite-join" if method == "auto" else method)
    assert (report["missing"], report["changed"]) == (10, 1)
    assert report["examples"]["changed"] == ["ORD-0000100"]


def test_cli_verify_key_range_and_sample(damaged_pair, capsys) -> None:  # type: ignore[no-untyped-def]
    before, after = damaged_pair
    assert main(["verify", "--before", before, "--after", after, "--key-range",
                 ":ORD-0000999", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["rows_before"], report["missing"], report["changed"]) == (999, 0, 1)
    assert main(["verify", "--before", before, "--after", after, "--key-range",
                 "ORD-0001500:", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows_before"] == 501
    assert main(["verify", "--before", before, "--after", after, "--sample", "1.0",
                 "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["missing"] == 10


@pytest.mark.parametrize("argv", [["--method", "magic"], ["--chunk-rows", "0"],
                                  ["--key-range", "nocolon"]])
def test_cli_verify_bad_option_is_a_usage_error(damaged_pair, argv, capsys) -> None:  # type: ignore[no-untyped-def]
    before, after = damaged_pair
    with pytest.raises(SystemExit) as info:
        main(["verify", "--before", before, "--after", after, *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("shopmig: error:")


def test_cli_verify_sample_out_of_range_exit_2(damaged_pair, capsys) -> None:  # type: ignore[no-untyped-def]
    before, after = damaged_pair
    assert main(["verify", "--before", before, "--after", after, "--sample", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("shopmig: error:") and "sample" in err[0]


def test_plot_differences_draws_one_bar_per_segment(damaged_pair) -> None:  # type: ignore[no-untyped-def]
    before, after = damaged_pair
    result = shopmig.verify(before, after, chunk_rows=200)
    ax = shopmig.plot_differences(result)
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 4 * len(result.segments)  # one bar per kind per segment
    assert sum(heights) == sum(result.counts[k] for k in
                               ("missing", "unexpected", "changed", "expectation_failures"))
    assert "DIFFERENCES FOUND" in ax.get_title()


@pytest.fixture
def integer_key_pair(make_url, request) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Two copies of a table keyed by an integer, amounts changed at ids 5, 150 and 900."""
    backend = getattr(request, "param", "sqlite")
    before, after = make_url(backend), make_url(backend)
    for url in (before, after):
        shopmig.create_database(url)
        execute(url, "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount FLOAT)",
                *(f"INSERT INTO orders VALUES ({i}, {i * 1.5})" for i in range(1, 1001)),
                must_exist=False)
    execute(after, "UPDATE orders SET amount = 0 WHERE id IN (5, 150, 900)")
    return before, after


@pytest.mark.parametrize("integer_key_pair", ["sqlite", pytest.param(
    "postgresql", marks=pytest.mark.server), pytest.param("mariadb", marks=pytest.mark.server)],
    indirect=True)
@pytest.mark.parametrize("method", ["auto", "stream", "pandas"])
def test_cli_key_range_on_an_integer_key(integer_key_pair, method: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """``--key-range 100:200`` is text on the command line and numbers in the table: every
    engine compares ids 100..200 as numbers (not '100' <= '1000' <= '200' as text)."""
    before, after = integer_key_pair
    code = main(["verify", "--before", before, "--after", after, "--key-range", "100:200",
                 "--method", method, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (report["rows_before"], report["changed"]) == (101, 1)
    assert report["examples"]["changed"] == [150]


@pytest.mark.parametrize("integer_key_pair", ["sqlite", pytest.param(
    "postgresql", marks=pytest.mark.server)], indirect=True)
@pytest.mark.parametrize("method", ["auto", "stream", "pandas"])
def test_cli_key_range_that_is_no_key_value_is_refused(integer_key_pair, method: str,
                                                       capsys) -> None:  # type: ignore[no-untyped-def]
    """A bound that cannot be an integer key was, on SQLite, a range holding no row: verify
    said OK having compared nothing. It is one clear error naming the option and the key."""
    before, after = integer_key_pair
    code = main(["verify", "--before", before, "--after", after, "--key-range", "abc:",
                 "--method", method])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("shopmig: error: --key-range must be a number like the values "
                             "of the key column id (int), got 'abc'")


def test_api_key_range_of_a_composite_key_takes_tuples(make_url) -> None:  # type: ignore[no-untyped-def]
    before, after = make_url("sqlite"), make_url("sqlite")
    for url in (before, after):
        shopmig.create_database(url)
        execute(url, "CREATE TABLE orders (shop INTEGER, n INTEGER, amount FLOAT, "
                "PRIMARY KEY (shop, n))",
                *(f"INSERT INTO orders VALUES ({s}, {n}, 1.0)" for s in (1, 2) for n in range(50)),
                must_exist=False)
    execute(after, "UPDATE orders SET amount = 2 WHERE (shop, n) IN ((1, 10), (2, 10))")
    for method in ("auto", "stream", "pandas"):
        got = shopmig.verify(before, after, key_range=(("1", "0"), ("1", "49")), method=method)
        assert (got.rows_before, got.examples()["changed"]) == (50, [(1, 10)]), method
    with pytest.raises(shopmig.errors.InvalidArgumentError, match="a tuple of 2 values"):
        shopmig.verify(before, after, key_range=(1, 2))
    with pytest.raises(shopmig.errors.InvalidArgumentError, match=r"key column n \(int\)"):
        shopmig.verify(before, after, key_range=((1, 0.5), None))  # no integer rounds it
    assert shopmig.verify(before, after, key_range=((2, 10.0), None)).examples()["changed"] \
        == [(2, 10)]
