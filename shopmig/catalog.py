"""Look at a table: columns, indexes, constraints, dependants, row count, a sample, a profile.

Everything is read through SQLAlchemy's inspector and returned as pandas DataFrames (or a
:class:`TableInfo` value with ``to_dict()`` for JSON). Nothing here writes.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.db import Source, mask_url, reading, reflect_table, use_connection
from shopmig.dialects import dialect_for
from shopmig.errors import InvalidArgumentError
from shopmig.migrate.core import current_revision
from shopmig.migrate.target import Target, resolve_target

_NUMERIC = (sa.Integer, sa.Float, sa.Numeric)


def _resolve(conn: Connection, table: str | None) -> Target:
    """The table named (``schema.table`` on PostgreSQL; found case-insensitively when the exact
    name does not exist), or the one shopmig adopted, or ``orders``."""
    return resolve_target(conn, table)


def _reflect(conn: Connection, target: Target) -> sa.Table:
    return reflect_table(conn, target.table, target.schema)


def _columns(conn: Connection, target: Target) -> list[dict[str, Any]]:
    insp = sa.inspect(conn)
    pk = set(insp.get_pk_constraint(target.table, schema=target.schema)
             .get("constrained_columns") or [])
    out = []
    for c in insp.get_columns(target.table, schema=target.schema):
        computed = c.get("computed")
        out.append({
            "name": c["name"],
            "type": str(c["type"]),
            "nullable": bool(c["nullable"]),
            "default": None if c.get("default") is None else str(c["default"]),
            "primary_key": c["name"] in pk,
            "generated": None if not computed else str(computed.get("sqltext")),
        })
    return out


def describe_table(source: Source, table: str | None = None) -> pd.DataFrame:
    """The table's columns: ``name``, ``type``, ``nullable``, ``default`` (server default),
    ``primary_key``, ``generated`` (the expression of a generated column)."""
    with use_connection(source) as conn, reading(conn):
        frame = pd.DataFrame(_columns(conn, _resolve(conn, table)),
                             columns=["name", "type", "nullable", "default", "primary_key",
                                      "generated"])
    for column in ("default", "generated"):  # "none" is None, never NaN
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    if frame["generated"].isna().all():
        frame = frame.drop(columns="generated")
    return frame


def _indexes(conn: Connection, target: Target) -> list[dict[str, Any]]:
    insp = sa.inspect(conn)
    return sorted(
        (
            {"name": i["name"], "columns": [c for c in i["column_names"] if c is not None]
             or list(i.get("expressions") or []), "unique": bool(i["unique"])}
            for i in _quiet(lambda: insp.get_indexes(target.table, schema=target.schema))
        ),
        key=lambda i: i["name"] or "",
    )


def _quiet(read: Any) -> Any:

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        return read()


def table_indexes(source: Source, table: str | None = None) -> pd.DataFrame:
    """The table's indexes: ``name``, ``columns``, ``unique``."""
    with use_connection(source) as conn, reading(conn):
        return pd.DataFrame(_indexes(conn, _resolve(conn, table)),
                            columns=["name", "columns", "unique"])


def _constraints(conn: Connection, target: Target) -> list[dict[str, Any]]:
    insp = sa.inspect(conn)
    name, schema = target.table, target.schema
    out: list[dict[str, Any]] = []
    pk = insp.get_pk_constraint(name, schema=schema)
    if pk.get("constrained_columns"):
        out.append({"name": pk.get("name") or "", "type": "primary key",
                    "definition": ", ".join(pk["constrained_columns"])})
    for fk in insp.get_foreign_keys(name, schema=schema):
        target_name = f"{fk['referred_table']}({', '.join(fk['referred_columns'])})"
        out.append({"name": fk.get("name") or "", "type": "foreign key",
                    "definition": f"({', '.join(fk['constrained_columns'])}) -> {target_name}"})
    for uq in insp.get_unique_constraints(name, schema=schema):
        out.append({"name": uq.get("name") or "", "type": "unique",
                    "definition": ", ".join(uq["column_names"])})
    for ck in _quiet(lambda: insp.get_check_constraints(name, schema=schema)):
        out.append({"name": ck.get("name") or "", "type": "check",
                    "definition": ck["sqltext"]})
    return out


def table_constraints(source: Source, table: str | None = None) -> pd.DataFrame:
    """The table's constraints: ``name``, ``type`` (primary key/foreign key/unique/check),
    ``definition``."""
    with use_connection(source) as conn, reading(conn):
        return pd.DataFrame(_constraints(conn, _resolve(conn, table)),
                            columns=["name", "type", "definition"])


def row_count(source: Source, table: str | None = None) -> int:
    """The number of rows in ``table`` (an exact ``count(*)``)."""
    with use_connection(source) as conn, reading(conn):
        return dialect_for(conn).count_rows(conn, _resolve(conn, table))


def sample(source: Source, table: str | None = None, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows of ``table`` in primary-key order."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidArgumentError("n", n, "a whole number of 0 or more")
    with use_connection(source) as conn, reading(conn):
        t = _reflect(conn, _resolve(conn, table))
        order = list(t.primary_key.columns) or list(t.columns)
        rows = conn.execute(sa.select(t).order_by(*order).limit(n)).all()
        return pd.DataFrame(rows, columns=[c.name for c in t.columns])


def profile(source: Source, table: str | None = None) -> pd.DataFrame:
    """Per column: ``rows``, ``nulls``, ``distinct``, and ``min``/``max``/``mean``/``sum`` for
    numbers. Computed by the database in one scan, so it works on large tables."""
    with use_connection(source) as conn, reading(conn):
        t = _reflect(conn, _resolve(conn, table))
        exprs: list[sa.ColumnElement[Any]] = [sa.func.count().label("rows")]
        for i, c in enumerate(t.columns):
            exprs.append(sa.func.count(c).label(f"c{i}__nonnull"))
            exprs.append(sa.func.count(sa.distinct(c)).label(f"c{i}__distinct"))
            if isinstance(c.type, _NUMERIC):
                for fn in ("min", "max", "avg", "sum"):
                    exprs.append(getattr(sa.func, fn)(c).label(f"c{i}__{fn}"))
        got = conn.execute(sa.select(*exprs).select_from(t)).mappings().one()
    total = int(got["rows"])
    records = []
    for i, c in enumerate(t.columns):
        numeric = isinstance(c.type, _NUMERIC)

        def stat(fn: str, i: int = i, numeric: bool = numeric) -> float | None:
            value = got.get(f"c{i}__{fn}") if numeric else None
            return None if value is None else round(float(value), 4)

        records.append({
            "column": c.name,
            "rows": total,
            "nulls": total - int(got[f"c{i}__nonnull"]),
            "distinct": int(got[f"c{i}__distinct"]),
            "min": stat("min"),
            "max": stat("max"),
            "mean": stat("avg"),
            "sum": stat("sum"),
        })
    frame = pd.DataFrame(records).set_index("column")
    stats = ["min", "max", "mean", "sum"]
    frame[stats] = frame[stats].astype(object).where(frame[stats].notna(), None)
    return frame


def dependants(source: Source, table: str | None = None) -> pd.DataFrame:
    """What depends on the table, and what each step does to it: ``kind`` (foreign key from
    another table, view, trigger), ``name``, ``detail`` and ``steps`` (a sentence)."""
    with use_connection(source) as conn, reading(conn):
        target = _resolve(conn, table)
        found = dialect_for(conn).dependants(conn, target)
    return pd.DataFrame(found, columns=["kind", "name", "detail", "steps"])


@dataclass(frozen=True)
class TableInfo:
    """Everything :func:`inspect_table` found, as one value. ``schema_state`` says whether the
    table shows what the version table says (see :func:`shopmig.diagnose`)."""

    table: str
    url: str
    dialect: str
    rows: int
    revision: str | None
    columns: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    dependants: list[dict[str, Any]] = field(default_factory=list)
    schema_state: str | None = None
    column: str = "status"

    def to_dict(self) -> dict[str, Any]:
        """The info as a plain dict (the CLI's ``inspect --json``)."""
        return asdict(self)


def inspect_table(source: Source, table: str | None = None) -> TableInfo:
    """Columns, indexes, constraints, what depends on the table, row count, shopmig revision,
    and whether the schema agrees with that revision."""
    from shopmig.migrate.core import diagnose

    with use_connection(source) as conn, reading(conn):
        target = _resolve(conn, table)
        dialect = dialect_for(conn)
        revision = current_revision(conn)
        state = None
        if revision is not None:
            state = diagnose(conn, table=_table_arg(target)).sentence()
        return TableInfo(
            table=target.display,
            url=mask_url(conn),
            dialect=dialect.name,
            rows=dialect.count_rows(conn, target),
            revision=revision,
            columns=_columns(conn, target),
            indexes=_indexes(conn, target),
            constraints=_constraints(conn, target),
            dependants=dialect.dependants(conn, target),
            schema_state=state,
            column=target.column,
        )


def _table_arg(target: Target) -> str:
    return target.table if target.schema is None else f'"{target.schema}"."{target.table}"'
