"""Look at a table: columns, indexes, constraints, row count, a sample and a profile.

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

from shopmig.db import Source, mask_url, reading, use_connection
from shopmig.errors import InvalidArgumentError, TableNotFoundError
from shopmig.migrate import steps
from shopmig.migrate.core import current_revision

_NUMERIC = (sa.Integer, sa.Float, sa.Numeric)


def _require_table(conn: Connection, table: str) -> sa.Inspector:
    insp = sa.inspect(conn)
    if not insp.has_table(table):
        raise TableNotFoundError(table, mask_url(conn), insp.get_table_names())
    return insp


def _reflect(conn: Connection, table: str) -> sa.Table:
    _require_table(conn, table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        return sa.Table(table, sa.MetaData(), autoload_with=conn)


def _columns(conn: Connection, table: str) -> list[dict[str, Any]]:
    insp = _require_table(conn, table)
    pk = set(insp.get_pk_constraint(table).get("constrained_columns") or [])
    return [
        {
            "name": c["name"],
            "type": str(c["type"]),
            "nullable": bool(c["nullable"]),
            "default": None if c.get("default") is None else str(c["default"]),
            "primary_key": c["name"] in pk,
        }
        for c in insp.get_columns(table)
    ]


def describe_table(source: Source, table: str = steps.TABLE) -> pd.DataFrame:
    """The table's columns: ``name``, ``type``, ``nullable``, ``default`` (server default),
    ``primary_key``."""
    with use_connection(source) as conn, reading(conn):
        frame = pd.DataFrame(
            _columns(conn, table), columns=["name", "type", "nullable", "default", "primary_key"]
        )
    # "no default" is None whether or not another column has one (pandas would say NaN).
    frame["default"] = frame["default"].astype(object).where(frame["default"].notna(), None)
    return frame


def _indexes(conn: Connection, table: str) -> list[dict[str, Any]]:
    insp = _require_table(conn, table)
    return sorted(
        (
            {"name": i["name"], "columns": list(i["column_names"]), "unique": bool(i["unique"])}
            for i in insp.get_indexes(table)
        ),
        key=lambda i: i["name"] or "",
    )


def table_indexes(source: Source, table: str = steps.TABLE) -> pd.DataFrame:
    """The table's indexes: ``name``, ``columns``, ``unique``."""
    with use_connection(source) as conn, reading(conn):
        return pd.DataFrame(_indexes(conn, table), columns=["name", "columns", "unique"])


def _constraints(conn: Connection, table: str) -> list[dict[str, Any]]:
    insp = _require_table(conn, table)
    out: list[dict[str, Any]] = []
    pk = insp.get_pk_constraint(table)
    if pk.get("constrained_columns"):
        out.append({"name": pk.get("name"), "type": "primary key",
                    "definition": ", ".join(pk["constrained_columns"])})
    for fk in insp.get_foreign_keys(table):
        target = f"{fk['referred_table']}({', '.join(fk['referred_columns'])})"
        out.append({"name": fk.get("name"), "type": "foreign key",
                    "definition": f"({', '.join(fk['constrained_columns'])}) -> {target}"})
    for uq in insp.get_unique_constraints(table):
        out.append({"name": uq.get("name"), "type": "unique",
                    "definition": ", ".join(uq["column_names"])})
    try:
        checks = insp.get_check_constraints(table)
    except NotImplementedError:  # pragma: no cover - every supported dialect implements it
        checks = []
    for ck in checks:
        out.append({"name": ck.get("name"), "type": "check", "definition": ck["sqltext"]})
    return out


def table_constraints(source: Source, table: str = steps.TABLE) -> pd.DataFrame:
    """The table's constraints: ``name``, ``type`` (primary key/foreign key/unique/check),
    ``definition``."""
    with use_connection(source) as conn, reading(conn):
        return pd.DataFrame(_constraints(conn, table), columns=["name", "type", "definition"])


def row_count(source: Source, table: str = steps.TABLE) -> int:
    """The number of rows in ``table`` (an exact ``count(*)``)."""
    with use_connection(source) as conn, reading(conn):
        _require_table(conn, table)
        return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()


def sample(source: Source, table: str = steps.TABLE, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows of ``table`` in primary-key order."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidArgumentError("n", n, "a whole number of 0 or more")
    with use_connection(source) as conn, reading(conn):
        t = _reflect(conn, table)
        order = list(t.primary_key.columns) or list(t.columns)
        rows = conn.execute(sa.select(t).order_by(*order).limit(n)).all()
        return pd.DataFrame(rows, columns=[c.name for c in t.columns])


def profile(source: Source, table: str = steps.TABLE) -> pd.DataFrame:
    """Per column: ``rows``, ``nulls``, ``distinct``, and ``min``/``max``/``mean``/``sum`` for
    numbers. Computed by the database in one scan, so it works on large tables."""
    with use_connection(source) as conn, reading(conn):
        t = _reflect(conn, table)
        exprs: list[sa.ColumnElement[Any]] = [sa.func.count().label("rows")]
        for c in t.columns:
            exprs.append(sa.func.count(c).label(f"{c.name}__nonnull"))
            exprs.append(sa.func.count(sa.distinct(c)).label(f"{c.name}__distinct"))
            if isinstance(c.type, _NUMERIC):
                for fn in ("min", "max", "avg", "sum"):
                    exprs.append(getattr(sa.func, fn)(c).label(f"{c.name}__{fn}"))
        got = conn.execute(sa.select(*exprs).select_from(t)).mappings().one()
    total = int(got["rows"])
    records = []
    for c in t.columns:
        numeric = isinstance(c.type, _NUMERIC)

        def stat(fn: str, name: str = c.name, numeric: bool = numeric) -> float | None:
            value = got.get(f"{name}__{fn}") if numeric else None
            return None if value is None else round(float(value), 4)

        records.append({
            "column": c.name,
            "rows": total,
            "nulls": total - int(got[f"{c.name}__nonnull"]),
            "distinct": int(got[f"{c.name}__distinct"]),
            "min": stat("min"),
            "max": stat("max"),
            "mean": stat("avg"),
            "sum": stat("sum"),
        })
    return pd.DataFrame(records).set_index("column")


@dataclass(frozen=True)
class TableInfo:
    """Everything :func:`inspect_table` found, as one value."""

    table: str
    url: str
    dialect: str
    rows: int
    revision: str | None
    columns: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    constraints: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The info as a plain dict (the CLI's ``inspect --json``)."""
        return asdict(self)


def inspect_table(source: Source, table: str = steps.TABLE) -> TableInfo:
    """Columns, indexes, constraints, row count and shopmig revision of ``table``."""
    with use_connection(source) as conn, reading(conn):
        _require_table(conn, table)
        return TableInfo(
            table=table,
            url=mask_url(conn),
            dialect=conn.dialect.name,
            rows=row_count(conn, table),
            revision=current_revision(conn),
            columns=_columns(conn, table),
            indexes=_indexes(conn, table),
            constraints=_constraints(conn, table),
        )


# ------------------------------------------------------------------ every object of a database

SHOPMIG_TABLES = ("shopmig_meta", "shopmig_version")
"""shopmig's own tables, left out of :func:`database_objects` unless asked for."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class DatabaseObjects:
    """Every object of one database, normalized by its dialect: ``objects`` maps
    ``(kind, name)`` to the object's properties. Two exact copies give equal values;
    :meth:`diff` names each object that is missing, extra or changed."""

    dialect: str
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.objects)

    def __contains__(self, key: object) -> bool:
        return key in self.objects

    def kinds(self) -> list[str]:
        """The kinds of object present (``table``, ``index``, ``view``...), sorted."""
        return sorted({kind for kind, _ in self.objects})

    def names(self, kind: str) -> list[str]:
        """The names of every object of ``kind``, sorted."""
        return sorted(name for k, name in self.objects if k == kind)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The properties of one object, or None."""
        return self.objects.get((kind, name))

    def data_tables(self) -> list[str]:
        """The tables that hold rows of their own: every table except partitions (their
        rows are read through the partitioned parent), virtual and shadow tables."""
        return [
            name for name in self.names("table")
            if not (self.objects[("table", name)].get("partition_of")
                    or self.objects[("table", name)].get("kind") in ("virtual", "shadow",
                                                                     "foreign"))
        ]

    def table_ref(self, name: str) -> tuple[str | None, str]:
        """``(schema, table)`` of a table listed here (schema None for the default one)."""
        props = self.objects.get(("table", name), {})
        schema = props.get("schema")
        return (None if schema in (None, "public") else schema, props.get("table") or name)

    def diff(self, other: DatabaseObjects, *, this: str = "source",
             that: str = "copy") -> list[str]:
        """Each object missing from ``other``, extra in ``other`` or with other properties
        there, as one sentence (``[]`` when both hold the same objects). ``this`` and
        ``that`` name the two sides in the sentences."""
        out: list[str] = []
        for key in sorted(self.objects.keys() | other.objects.keys()):
            kind, name = key
            mine, theirs = self.objects.get(key), other.objects.get(key)
            if theirs is None:
                out.append(f"{kind} {name} is in the {this} but missing in the {that}")
            elif mine is None:
                out.append(f"{kind} {name} is in the {that} but not in the {this}")
            elif mine != theirs:
                changes = [
                    f"{prop} is {_shown(mine.get(prop))} in the {this}, "
                    f"{_shown(theirs.get(prop))} in the {that}"
                    for prop in sorted(mine.keys() | theirs.keys())
                    if mine.get(prop) != theirs.get(prop)
                ]
                out.append(f"{kind} {name} differs: " + "; ".join(changes))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The objects as a plain dict (for JSON): ``{kind: {name: properties}}``."""
        out: dict[str, dict[str, Any]] = {}
        for (kind, name), props in sorted(self.objects.items()):
            out.setdefault(kind, {})[name] = props
        return {"dialect": self.dialect, "objects": out}


def database_objects(source: Source, *, include_shopmig: bool = False) -> DatabaseObjects:
    """Every object of the database ``source`` (tables, columns, keys, indexes,
    constraints, triggers, views, sequences, types, routines, events, partitions,
    comments, collations, table options: what its dialect can see), normalized so two exact
    copies compare equal and :meth:`DatabaseObjects.diff` names any object that is missing
    or changed. shopmig's own tables (``shopmig_meta``, ``shopmig_version``) and what hangs
    on them are left out unless ``include_shopmig=True``. Nothing is written."""
    from shopmig.dialects import dialect_for

    with use_connection(source) as conn, reading(conn):
        dialect = dialect_for(conn)
        found = {key: {k: v for k, v in props.items() if v is not None}
                 for key, props in dialect.database_objects(conn).items()}
    if not include_shopmig:
        found = {
            (kind, name): props for (kind, name), props in found.items()
            if not ((kind == "table" and (props.get("table") or name) in SHOPMIG_TABLES)
                    or props.get("table") in SHOPMIG_TABLES)
        }
    return DatabaseObjects(dialect.name, found)
