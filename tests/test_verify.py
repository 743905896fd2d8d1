"""shopmig.verify: which rows were lost, added or changed, checked against pandas.

Table-driven cases build *before*/*after* DataFrames by hand and compare every result frame
with ``assert_frame_equal``; a seeded property-style test damages random frames and checks
the result against an independent oracle written with plain dicts; the last tests verify real
databases on each backend.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pandas.testing import assert_frame_equal

import shopmig
from shopmig.errors import (
    InvalidArgumentError,
    KeyColumnError,
    KeyNotUniqueError,
    ShopmigError,
    TableNotFoundError,
)

NAN = float("nan")


def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """A frame with object columns (as a snapshot of a text/float table would compare)."""
    return pd.DataFrame(rows, columns=columns)


def changed_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["key", "column", "before", "after"])


def failures_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["key", "column", "expected", "actual"])


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same rows, columns and values; dtypes and the spelling of NULL may differ."""
    actual = actual.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    if len(expected) == 0:
        assert len(actual) == 0, actual
        assert list(actual.columns) == list(expected.columns)
        return
    assert_frame_equal(_nulls_as_none(actual), _nulls_as_none(expected), check_dtype=False)


def _nulls_as_none(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns with every NULL (None, NaN, pd.NA) as None, so NULLs compare equal."""
    out = df.astype(object)
    return out.where(out.notna(), None)


BASE = frame([("A1", 10.0, "x"), ("A2", 20.0, "y"), ("A3", 30.0, None)],
             ["order_id", "amount", "note"])


@dataclass
class Case:
    name: str
    before: pd.DataFrame
    after: pd.DataFrame
    missing: pd.DataFrame
    unexpected: pd.DataFrame
    changed: pd.DataFrame = field(default_factory=lambda: changed_frame([]))
    failures: pd.DataFrame = field(default_factory=lambda: failures_frame([]))
    expect: dict[str, Any] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _with_status(df: pd.DataFrame, values: list[Any]) -> pd.DataFrame:
    return df.assign(status=values)


CASES = [
    Case("identical", BASE, BASE.copy(), BASE.iloc[0:0], BASE.iloc[0:0]),
    Case(
        "missing row",
        BASE,
        BASE.iloc[[0, 2]].reset_index(drop=True),
        BASE.iloc[[1]],
        BASE.iloc[0:0],
    ),
    Case(
        "unexpected row",
        BASE,
        pd.concat([BASE, frame([("A9", 1.0, "new")], list(BASE.columns))], ignore_index=True),
        BASE.iloc[0:0],
        frame([("A9", 1.0, "new")], list(BASE.columns)),
    ),
    Case(
        "changed value names the column, old and new value",
        BASE,
        BASE.assign(amount=[10.0, 21.5, 30.0]),
        BASE.iloc[0:0],
        BASE.iloc[0:0],
        changed_frame([("A2", "amount", 20.0, 21.5)]),
    ),
    Case(
        "NULL vs value and value vs NULL are changes",
        BASE,
        BASE.assign(note=[None, "y", "now set"]),
        BASE.iloc[0:0],
        BASE.iloc[0:0],
        changed_frame([("A1", "note", "x", None), ("A3", "note", None, "now set")]),
    ),
    Case(
        "NULL vs NULL is equal (float NaN and None)",
        frame([("A1", NAN, None), ("A2", None, None)], ["order_id", "amount", "note"]),
        frame([("A1", NAN, None), ("A2", NAN, None)], ["order_id", "amount", "note"]),
        BASE.iloc[0:0],
        BASE.iloc[0:0],
    ),
    Case(
        "several changes in one row, sorted by key then column",
        BASE,
        BASE.assign(amount=[10.0, 20.0, 31.0], note=["x", "Y", "z"]),
        BASE.iloc[0:0],
        BASE.iloc[0:0],
        changed_frame([("A2", "note", "y", "Y"), ("A3", "amount", 30.0, 31.0),
                       ("A3", "note", None, "z")]),
    ),
    Case(
        "added column that meets the expectation",
        BASE,
        _with_status(BASE, ["pending"] * 3),
        BASE.iloc[0:0],
        _with_status(BASE, ["pending"] * 3).iloc[0:0],
        expect={"status": "pending"},
        added=["status"],
    ),
    Case(
        "expectation failures: wrong value and NULL",
        BASE,
        _with_status(BASE, ["pending", "paid", None]),
        BASE.iloc[0:0],
        _with_status(BASE, ["pending"] * 3).iloc[0:0],
        failures=failures_frame([("A2", "status", "pending", "paid"),
                                 ("A3", "status", "pending", None)]),
        expect={"status": "pending"},
        added=["status"],
    ),
    Case(
        "expectations only apply to rows that existed before",
        BASE,
        pd.concat([_with_status(BASE, ["pending"] * 3),
                   frame([("A9", 1.0, None, "paid")], [*BASE.columns, "status"])],
                  ignore_index=True),
        BASE.iloc[0:0],
        frame([("A9", 1.0, None, "paid")], [*BASE.columns, "status"]),
        expect={"status": "pending"},
        added=["status"],
    ),
    Case(
        "column removed on the after side is reported, not compared",
        BASE,
        BASE.drop(columns=["note"]),
        BASE.iloc[0:0],
        BASE.drop(columns=["note"]).iloc[0:0],
        removed=["note"],
    ),
    Case(
        "everything at once",
        BASE,
        pd.concat([
            _with_status(BASE.iloc[[0, 2]], ["pending", "shipped"]).assign(amount=[10.0, 99.0]),
            frame([("B1", 5.0, "b", "pending")], [*BASE.columns, "status"]),
        ], ignore_index=True),
        BASE.iloc[[1]],
        frame([("B1", 5.0, "b", "pending")], [*BASE.columns, "status"]),
        changed_frame([("A3", "amount", 30.0, 99.0)]),
        failures_frame([("A3", "status", "pending", "shipped")]),
        expect={"status": "pending"},
        added=["status"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verify_cases(case: Case) -> None:
    before, after = case.before.copy(), case.after.copy()
    result = shopmig.verify(case.before, case.after, expect=case.expect)
    assert_same(result.missing, case.missing)
    assert_same(result.unexpected, case.unexpected)
    assert_same(result.changed, case.changed)
    assert_same(result.expectation_failures, case.failures)
    assert result.columns_added == case.added
    assert result.columns_removed == case.removed
    assert result.rows_before == len(case.before)
    assert result.rows_after == len(case.after)
    expect_ok = not (len(case.missing) or len(case.unexpected) or len(case.changed)
                     or len(case.failures))
    assert result.ok is expect_ok
    assert result.summary().startswith("OK" if expect_ok else "DIFFERENCES FOUND")
    # verify never modifies its inputs
    assert_frame_equal(case.before, before)
    assert_frame_equal(case.after, after)
    # the long "differences" table has one row per difference
    assert len(result.differences) == sum(
        result.counts[k] for k in ("missing", "unexpected", "changed", "expectation_failures")
    )
    assert list(result.differences.columns) == ["kind", "key", "column", "before", "after"]


def test_integer_keys_and_values() -> None:
    before = pd.DataFrame({"id": [1, 2, 3], "qty": [5, 6, 7]})
    after = pd.DataFrame({"id": [1, 3, 4], "qty": [5, 8, 9]})
    result = shopmig.verify(before, after, key="id")
    assert result.missing["id"].tolist() == [2]
    assert result.unexpected["id"].tolist() == [4]
    assert_same(result.changed, changed_frame([(3, "qty", 7, 8)]))
    data = result.to_dict()
    json.dumps(data)  # numpy ints became plain ints
    assert data["examples"] == {"missing": [2], "unexpected": [4], "changed": [3],
                                "expectation_failures": []}


def test_duplicate_keys_raise_key_not_unique() -> None:
    dup = frame([("A1", 1.0), ("A1", 2.0), ("A2", 3.0), ("A2", 4.0)], ["order_id", "amount"])
    ok = frame([("A1", 1.0)], ["order_id", "amount"])
    with pytest.raises(KeyNotUniqueError) as info:
        shopmig.verify(dup, ok)
    err = info.value
    assert (err.key, err.side, err.duplicates) == ("order_id", "before", ["A1", "A2"])
    assert "Use a column" in str(err)
    with pytest.raises(KeyNotUniqueError) as info:
        shopmig.verify(ok, dup)
    assert info.value.side == "after"


def test_missing_key_column_raises_key_column_error() -> None:
    no_key = frame([("A1", 1.0)], ["id", "amount"])
    with pytest.raises(KeyColumnError) as info:
        shopmig.verify(BASE, no_key)
    err = info.value
    assert (err.key, err.side, err.columns) == ("order_id", "after", ["id", "amount"])
    assert "--key" in str(err)
    with pytest.raises(KeyColumnError):
        shopmig.verify(BASE, BASE, key="nope")


def test_expectation_on_unknown_column_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        shopmig.verify(BASE, BASE, expect={"status": "pending"})
    assert info.value.value == "status"


def test_to_dict_is_json_serialisable_and_complete() -> None:
    case = CASES[-1]
    result = shopmig.verify(case.before, case.after, expect=case.expect)
    data = json.loads(json.dumps(result.to_dict()))
    for name in ("ok", "rows_before", "rows_after", "missing", "unexpected", "changed",
                 "expectation_failures", "examples", "columns_added", "columns_removed"):
        assert name in data
    assert data["ok"] is False
    assert (data["missing"], data["unexpected"], data["changed"],
            data["expectation_failures"]) == (1, 1, 1, 1)
    assert data["examples"] == {"missing": ["A2"], "unexpected": ["B1"], "changed": ["A3"],
                                "expectation_failures": ["A3"]}
    assert data["expectations"] == {"status": "pending"}
    assert result.to_dict(examples=0)["examples"]["missing"] == []


def test_html_and_text_show_the_counts() -> None:
    case = CASES[-1]
    result = shopmig.verify(case.before, case.after, expect=case.expect)
    page = result._repr_html_()
    assert "DIFFERENCES FOUND" in page
    for name in ("rows_before", "missing", "unexpected", "changed", "expectation_failures"):
        assert name in page
    assert "1 missing, 1 unexpected, 1 changed value(s), 1 expectation failure(s)" in page
    assert "B1" in page and "A3" in page
    text = str(result)
    assert "A2" in text and "shipped" in text
    good = shopmig.verify(BASE, BASE)
    assert "OK: 3 rows before, 3 after" in good._repr_html_()
    assert str(good).startswith("OK")


# ------------------------------------------------------------------ property-style check


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def oracle(before: pd.DataFrame, after: pd.DataFrame, key: str,
           expect: dict[str, Any]) -> dict[str, set]:
    """Differences computed with plain dicts, independently of shopmig's merge."""
    b = {r[key]: r for r in before.to_dict(orient="records")}
    a = {r[key]: r for r in after.to_dict(orient="records")}
    shared = [c for c in before.columns if c in after.columns and c != key]
    changed = set()
    failures = set()
    for k in b.keys() & a.keys():
        for col in shared:
            old, new = _plain(b[k][col]), _plain(a[k][col])
            if old != new:
                changed.add((k, col, old, new))
        for col, value in expect.items():
            if _plain(a[k][col]) != value:
                failures.add((k, col, _plain(a[k][col])))
    return {
        "missing": set(b) - set(a),
        "unexpected": set(a) - set(b),
        "changed": changed,
        "failures": failures,
    }


def random_damage(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    keys = [f"K{i:05d}" for i in rng.choice(100_000, size=n, replace=False)]
    amount = np.round(rng.uniform(1, 500, n), 2)
    amount[rng.random(n) < 0.15] = np.nan
    notes = [None if rng.random() < 0.2 else f"n{int(rng.integers(0, 5))}" for _ in range(n)]
    before = pd.DataFrame({"order_id": keys, "amount": amount, "note": notes})
    after = before.copy()
    after["status"] = "pending"
    # change some values (including to and from NULL)
    for _ in range(int(rng.integers(0, 8))):
        if not len(after):
            break
        i = int(rng.integers(0, len(after)))
        col = ["amount", "note", "status"][int(rng.integers(0, 3))]
        if col == "amount":
            after.loc[i, col] = np.nan if rng.random() < 0.3 else float(rng.integers(1, 9))
        elif col == "note":
            after.loc[i, col] = None if rng.random() < 0.3 else f"m{int(rng.integers(0, 3))}"
        else:
            after.loc[i, col] = None if rng.random() < 0.3 else "paid"
    # delete some rows
    drop = rng.random(len(after)) < 0.1
    after = after[~drop]
    # insert some rows (keys never used before)
    new = pd.DataFrame({
        "order_id": [f"N{i:03d}" for i in range(int(rng.integers(0, 4)))],
        "amount": 1.0, "note": None, "status": "pending",
    })
    after = pd.concat([after, new], ignore_index=True) if len(new) else after
    # shuffle row order: matching must be by key, not by position
    after = after.sample(frac=1, random_state=seed).reset_index(drop=True)
    return before, after


@pytest.mark.parametrize("seed", range(40))
def test_random_damage_matches_oracle(seed: int) -> None:
    before, after = random_damage(seed)
    expect = {"status": "pending"}
    result = shopmig.verify(before, after, expect=expect)
    want = oracle(before, after, "order_id", expect)
    assert set(result.missing["order_id"]) == want["missing"]
    assert set(result.unexpected["order_id"]) == want["unexpected"]
    got_changed = {(k, c, _plain(o), _plain(n)) for k, c, o, n in
                   result.changed[["key", "column", "before", "after"]].itertuples(
                       index=False, name=None)}
    assert got_changed == want["changed"]
    got_failures = {(k, c, _plain(v)) for k, c, v in
                    result.expectation_failures[["key", "column", "actual"]].itertuples(
                        index=False, name=None)}
    assert got_failures == want["failures"]
    assert result.ok == (not any(want.values()))
    assert result.rows_before == len(before) and result.rows_after == len(after)
    # the missing/unexpected frames carry whole rows of their side
    assert list(result.missing.columns) == list(before.columns)
    assert list(result.unexpected.columns) == list(after.columns)
    json.dumps(result.to_dict())


# ------------------------------------------------------------------ real databases


def test_snapshot_errors_name_table_and_key(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE other (id INTEGER PRIMARY KEY)")
    engine.dispose()
    with pytest.raises(TableNotFoundError) as info:
        shopmig.snapshot(url)
    assert info.value.table == "orders" and info.value.existing == ["other"]
    with pytest.raises(KeyColumnError):
        shopmig.snapshot(url, "other", key="order_id")
    assert shopmig.snapshot(url, "other").attrs["key"] == ["id"]  # the primary key by default
    assert shopmig.snapshot(url, "other", key="id").empty
    with pytest.raises(InvalidArgumentError):
        shopmig.snapshot(url, "other", key="id", columns=["nope"])


def test_verify_two_databases_on_each_backend(demo_url, make_url, backend) -> None:
    copy_url = make_url(backend)
    shopmig.copy_database(demo_url, copy_url)
    before = shopmig.snapshot(demo_url)
    assert len(before) == 300
    assert shopmig.verify(demo_url, copy_url).ok

    shopmig.upgrade(copy_url, "head")
    result = shopmig.verify(demo_url, copy_url, expect={"status": "pending"})
    assert result.ok, str(result)
    assert result.columns_added == ["status"]
    assert result.columns_compared == ["amount"]

    engine = shopmig.open_engine(copy_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM orders WHERE order_id = 'ORD-0000005'"))
            conn.execute(sa.text("UPDATE orders SET amount = amount + 1 "
                                 "WHERE order_id = 'ORD-0000010'"))
            conn.execute(sa.text("UPDATE orders SET status = 'paid' "
                                 "WHERE order_id = 'ORD-0000020'"))
            conn.execute(sa.text("INSERT INTO orders (order_id, amount) "
                                 "VALUES ('ORD-9999999', 1.0)"))
    finally:
        engine.dispose()
    with shopmig.connect(copy_url) as conn:
        result = shopmig.verify(before, conn, expect={"status": "pending"})
    assert not result.ok
    assert result.missing["order_id"].tolist() == ["ORD-0000005"]
    assert result.unexpected["order_id"].tolist() == ["ORD-9999999"]
    old = float(before.loc[before["order_id"] == "ORD-0000010", "amount"].iloc[0])
    assert result.changed[["key", "column"]].values.tolist() == [["ORD-0000010", "amount"]]
    assert float(result.changed["before"].iloc[0]) == pytest.approx(old)
    assert float(result.changed["after"].iloc[0]) == pytest.approx(old + 1)
    assert_same(result.expectation_failures,
                failures_frame([("ORD-0000020", "status", "pending", "paid")]))
    # the source was only read
    assert_frame_equal(shopmig.snapshot(demo_url), before)


def test_verify_database_errors_are_shopmig_errors(demo_url) -> None:
    with pytest.raises(TableNotFoundError):
        shopmig.verify(demo_url, demo_url, table="nope")
    with pytest.raises(KeyColumnError):
        shopmig.verify(demo_url, demo_url, key="nope")
    with pytest.raises(ShopmigError):
        shopmig.verify(demo_url, demo_url, key="amount", expect={"nope": 1})
