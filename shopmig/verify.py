"""Verify data before vs after a migration: which rows were lost, added or changed.

:func:`snapshot` reads a table into a DataFrame ordered by its key. :func:`verify` compares two
snapshots (or two databases) by key and returns a :class:`VerifyResult`: counts, the differing
rows as DataFrames, ``to_dict()`` for JSON and an HTML view for notebooks. Expectations check
columns the migration added, for example that every pre-existing order has
``status == 'pending'``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from shopmig import steps
from shopmig.db import Source, mask_url, reading, use_connection
from shopmig.errors import (
    InvalidArgumentError,
    KeyColumnError,
    KeyNotUniqueError,
    TableNotFoundError,
)

DIFF_COLUMNS = ["kind", "key", "column", "before", "after"]


def snapshot(
    source: Source, table: str = steps.TABLE, *, key: str = steps.KEY,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read ``table`` into a DataFrame ordered by ``key`` (all columns, or ``columns``)."""
    with use_connection(source) as conn, reading(conn):
        insp = sa.inspect(conn)
        if not insp.has_table(table):
            raise TableNotFoundError(table, mask_url(conn), insp.get_table_names())
        names = [c["name"] for c in insp.get_columns(table)]
        if key not in names:
            raise KeyColumnError(key, mask_url(conn), names)
        wanted = list(columns) if columns is not None else names
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InvalidArgumentError("columns", missing, f"columns of {table} ({names})")
        if key not in wanted:
            wanted.insert(0, key)
        t = sa.table(table, *(sa.column(c) for c in names))
        stmt = sa.select(*(t.c[c] for c in wanted)).order_by(t.c[key])
        rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=wanted)


@dataclass(frozen=True, eq=False)
class VerifyResult:
    """The outcome of :func:`verify`: counts plus the rows behind every difference.

    - ``missing``: rows in *before* whose key is not in *after* (lost rows).
    - ``unexpected``: rows in *after* whose key was not in *before*.
    - ``changed``: one row per (key, column) whose value differs, with ``before`` and ``after``.
    - ``expectation_failures``: one row per pre-existing key whose new column has the wrong value.
    """

    table: str
    key: str
    rows_before: int
    rows_after: int
    missing: pd.DataFrame
    unexpected: pd.DataFrame
    changed: pd.DataFrame
    expectation_failures: pd.DataFrame
    columns_compared: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    expectations: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no row was lost, added or changed and every expectation holds."""
        return not any(self.counts[k] for k in
                       ("missing", "unexpected", "changed", "expectation_failures"))

    @property
    def counts(self) -> dict[str, int]:
        """Row counts on each side and the number of each kind of difference."""
        return {
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "changed": len(self.changed),
            "expectation_failures": len(self.expectation_failures),
        }

    @property
    def differences(self) -> pd.DataFrame:
        """Every difference in one long table: ``kind``, ``key``, ``column``, ``before``,
        ``after``."""
        parts = [
            pd.DataFrame({"kind": "missing", "key": self.missing[self.key], "column": None,
                          "before": "(row)", "after": None}),
            pd.DataFrame({"kind": "unexpected", "key": self.unexpected[self.key],
                          "column": None, "before": None, "after": "(row)"}),
            self.changed.assign(kind="changed"),
            self.expectation_failures.rename(columns={"expected": "before", "actual": "after"})
            .assign(kind="expectation"),
        ]
        parts = [p[DIFF_COLUMNS].astype(object) for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=DIFF_COLUMNS)
        return pd.concat(parts, ignore_index=True).sort_values(
            ["key", "kind"], kind="stable"
        ).reset_index(drop=True)

    def examples(self, n: int = 5) -> dict[str, list[Any]]:
        """Up to ``n`` example keys for each kind of difference."""
        return {
            "missing": self.missing[self.key].head(n).tolist(),
            "unexpected": self.unexpected[self.key].head(n).tolist(),
            "changed": list(dict.fromkeys(self.changed["key"].tolist()))[:n],
            "expectation_failures": list(
                dict.fromkeys(self.expectation_failures["key"].tolist())
            )[:n],
        }

    def to_dict(self, examples: int = 5) -> dict[str, Any]:
        """Plain-data summary (the CLI's ``verify --json``): ``ok``, counts and example keys."""
        return {
            "ok": self.ok,
            "table": self.table,
            "key": self.key,
            **self.counts,
            "columns_compared": list(self.columns_compared),
            "columns_added": list(self.columns_added),
            "columns_removed": list(self.columns_removed),
            "expectations": {k: _plain(v) for k, v in self.expectations.items()},
            "examples": {k: [_plain(x) for x in v] for k, v in self.examples(examples).items()},
        }

    def summary(self) -> str:
        """One line: OK or the counts of each kind of difference."""
        c = self.counts
        head = "OK" if self.ok else "DIFFERENCES FOUND"
        return (
            f"{head}: {c['rows_before']:,} rows before, {c['rows_after']:,} after; "
            f"{c['missing']} missing, {c['unexpected']} unexpected, {c['changed']} changed "
            f"value(s), {c['expectation_failures']} expectation failure(s)"
        )

    def __str__(self) -> str:
        lines = [self.summary()]
        if not self.ok:
            lines.append(self.differences.to_string(index=False))
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's plain-text view: the summary and differences, not every field's repr."""
        p.text(str(self))

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        counts = pd.DataFrame([self.counts]).to_html(index=False)
        body = (f"<p style='color:{colour};font-weight:bold'>{html.escape(self.summary())}</p>"
                + counts)
        if not self.ok:
            body += self.differences.to_html(index=False, max_rows=50)
        return body


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return None if isinstance(value, float) and pd.isna(value) else value
    if hasattr(value, "item"):
        return _plain(value.item())
    return str(value)


def _as_frame(side: str, data: pd.DataFrame | Source, table: str, key: str) -> pd.DataFrame:
    frame = data if isinstance(data, pd.DataFrame) else snapshot(data, table, key=key)
    if key not in frame.columns:
        raise KeyColumnError(key, side, list(frame.columns))
    dup = frame[key][frame[key].duplicated()]
    if len(dup):
        raise KeyNotUniqueError(key, side, sorted(dup.unique().tolist()))
    return frame


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise "not equal", where NULL equals NULL and NULL differs from any value."""
    a_na, b_na = a.isna(), b.isna()
    both = ~a_na & ~b_na
    unequal = pd.Series(False, index=a.index)
    unequal[both] = (a[both].astype(object) != b[both].astype(object)).to_numpy()
    return unequal | (a_na ^ b_na)


def _matches(values: pd.Series, expected: Any) -> pd.Series:
    if isinstance(expected, str) and values.dtype != object and not pd.api.types.is_string_dtype(
        values
    ):
        return values.astype(str) == expected
    return values.notna() & (values.astype(object) == expected)


def verify(
    before: pd.DataFrame | Source,
    after: pd.DataFrame | Source,
    *,
    table: str = steps.TABLE,
    key: str = steps.KEY,
    expect: Mapping[str, Any] | None = None,
) -> VerifyResult:
    """Compare ``before`` and ``after`` row by row on ``key``.

    Each side is a DataFrame (for example from :func:`snapshot`) or a database. Columns present
    on both sides are compared value by value (NULL equals NULL); columns only in *after* are
    checked against ``expect`` (``{"status": "pending"}``) for every row that existed before.
    Raises :class:`~shopmig.errors.KeyColumnError` or :class:`~shopmig.errors.KeyNotUniqueError`
    when rows cannot be matched by ``key``.
    """
    b = _as_frame("before", before, table, key)
    a = _as_frame("after", after, table, key)
    expect = dict(expect or {})
    for col in expect:
        if col not in a.columns:
            raise InvalidArgumentError(
                "expect", col, f"a column of the after table {list(a.columns)}"
            )
    shared = [c for c in b.columns if c in a.columns and c != key]
    merged = b.merge(a, on=key, how="outer", suffixes=("__b", "__a"), indicator=True, sort=True)
    missing = b[b[key].isin(merged.loc[merged["_merge"] == "left_only", key])]
    unexpected = a[a[key].isin(merged.loc[merged["_merge"] == "right_only", key])]
    both = merged[merged["_merge"] == "both"]
    changes = []
    for col in shared:
        left = both[f"{col}__b"]
        right = both[f"{col}__a"]
        mask = _differs(left.reset_index(drop=True), right.reset_index(drop=True)).to_numpy()
        if mask.any():
            changes.append(pd.DataFrame({"key": both[key][mask].to_numpy(), "column": col,
                                         "before": left[mask].astype(object).to_numpy(),
                                         "after": right[mask].astype(object).to_numpy()}))
    changed = (pd.concat(changes, ignore_index=True).sort_values(["key", "column"])
               .reset_index(drop=True) if changes
               else pd.DataFrame(columns=["key", "column", "before", "after"]))
    failures = []
    for col, value in expect.items():
        values = both[col if col not in b.columns else f"{col}__a"].reset_index(drop=True)
        bad = ~_matches(values, value).to_numpy()
        if bad.any():
            failures.append(pd.DataFrame({"key": both[key][bad].to_numpy(), "column": col,
                                          "expected": value,
                                          "actual": values[bad].astype(object).to_numpy()}))
    expectation_failures = (
        pd.concat(failures, ignore_index=True).sort_values(["key", "column"])
        .reset_index(drop=True) if failures
        else pd.DataFrame(columns=["key", "column", "expected", "actual"])
    )
    return VerifyResult(
        table=table,
        key=key,
        rows_before=len(b),
        rows_after=len(a),
        missing=missing.reset_index(drop=True),
        unexpected=unexpected.reset_index(drop=True),
        changed=changed,
        expectation_failures=expectation_failures,
        columns_compared=shared,
        columns_added=[c for c in a.columns if c not in b.columns],
        columns_removed=[c for c in b.columns if c not in a.columns],
        expectations=expect,
    )
