"""Cross-engine copies (for example a PostgreSQL shop onto a laptop's SQLite): tables and rows
streamed in chunks, everything the target cannot hold listed in notes.

Order: tables (columns, primary keys, unique constraints, CHECKs the target accepts), then
rows, then indexes, then foreign keys (on SQLite, which cannot add them later, they are part
of the table and only checked at the end), then key counters. So self-referencing foreign keys
and tables in a foreign-key cycle load in any order. A partitioned table is copied as one
table (its rows read through the parent). Generated columns are left to the target when it
accepts the expression, and become plain columns holding the source's values otherwise. uuid
keeps its dashes (as text where the target has no uuid type), enums become text where the
target has no such type, collations are left out, timestamps with a time zone are written as
UTC where the target keeps none. Views, triggers, routines, events, sequences, types,
partitions, comments and collations cannot be carried: each is named in a note.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
import warnings
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.catalog import DatabaseObjects, database_objects
from shopmig.db import reading, writing
from shopmig.dialects import dialect_for
from shopmig.dialects.base import Dialect

NOT_CARRIED = {
    "view": "views", "trigger": "triggers", "routine": "routines", "event": "events",
    "type": "types", "collation": "collations", "extension": "extensions",
    "rule": "rules", "policy": "row security policies", "event trigger": "event triggers",
}


def _names(names: Iterable[str], limit: int = 8) -> str:
    items = sorted(names)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _not_carried(objects: DatabaseObjects, target: Dialect) -> list[str]:
    """A note per kind of object the streamed copy leaves behind."""
    notes = []
    for kind, label in NOT_CARRIED.items():
        names = objects.names(kind)
        if kind == "extension":
            names = [n for n in names if n != "plpgsql"]
        if names:
            notes.append(f"{label} are not copied to {target.label} ({_names(names)}): "
                         "their SQL is the source database's own.")
    partitioned = [n for n in objects.names("table")
                   if objects.objects[("table", n)].get("kind") == "partitioned"
                   or any(p.get("table") == n for (k, _), p in objects.objects.items()
                          if k == "partition")]
    if partitioned:
        notes.append(f"partitioned tables are copied as one table each "
                     f"({_names(partitioned)}); their partitions are not.")
    sequences = [n for n in objects.names("sequence")
                 if not objects.objects[("sequence", n)].get("owned_by")]
    if sequences:
        notes.append(f"sequences are not copied ({_names(sequences)}); a column default "
                     "that draws from one is left out.")
    commented = [n for (k, n), p in objects.objects.items() if p.get("comment")]
    if commented:
        notes.append(f"comments are not copied ({_names(commented)}).")
    return notes


def _portable_default(column: sa.Column[Any]) -> sa.DefaultClause | None:
    """A server default the target understands: only a plain literal survives."""
    import re

    default = column.server_default
    if not isinstance(default, sa.DefaultClause):
        return None
    text = str(getattr(default.arg, "text", default.arg)).strip()
    literal = re.fullmatch(r"\(*\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\s*\)*(?:::[\w ]+)?", text)
    return sa.DefaultClause(sa.text(literal.group(1))) if literal else None


def _target_type(column: sa.Column[Any], target: Dialect) -> sa.types.TypeEngine[Any]:
    mapped = target.stream_type(column)
    if mapped is not None:
        return mapped
    type_ = column.type
    with contextlib.suppress(NotImplementedError):
        type_ = type_.as_generic()
    if isinstance(type_, sa.types.NullType):
        return sa.Text()
    if getattr(type_, "collation", None):
        type_ = type_.copy()
        type_.collation = None  # type: ignore[attr-defined]
    return type_


class _Plan:
    """The target's tables (without indexes and, on servers, foreign keys), plus what to do
    with each row value on the way."""

    def __init__(self, source: sa.MetaData, target: Dialect,
                 generated: dict[tuple[str, str], tuple[str, bool]]) -> None:
        self.metadata = sa.MetaData()
        self.indexes: list[sa.Index] = []
        self.foreign_keys: list[sa.ForeignKeyConstraint] = []
        self.converters: dict[str, dict[str, Any]] = {}
        self.generated = generated
        self.pairs: list[tuple[sa.Table, sa.Table]] = []
        self.target = target
        self.collations: list[str] = []
        for table in source.sorted_tables:
            self.pairs.append((table, self._table(table)))

    def _table(self, table: sa.Table) -> sa.Table:
        columns = []
        converters: dict[str, Any] = {}
        for col in table.columns:
            type_ = _target_type(col, self.target)
            if getattr(col.type, "collation", None):
                self.collations.append(f"{table.name}.{col.name} ({col.type.collation})")
            computed = self.generated.get((table.name, col.name))
            if computed is None and col.computed is not None:
                computed = (str(getattr(col.computed.sqltext, "text", col.computed.sqltext)),
                            bool(col.computed.persisted))
            extra: list[Any] = []
            if computed:
                extra.append(sa.Computed(sa.text(computed[0]), persisted=computed[1]))
            new = sa.Column(col.name, type_, *extra, nullable=col.nullable,
                            primary_key=col.primary_key,
                            server_default=None if computed else _portable_default(col),
                            autoincrement=col.autoincrement if col.primary_key else False)
            columns.append(new)
            if isinstance(col.type, sa.Uuid) and not isinstance(type_, sa.Uuid):
                converters[col.name] = _uuid_text
            elif isinstance(col.type, sa.DateTime) and col.type.timezone \
                    and not self.target.stores_time_zones:
                converters[col.name] = _utc
        self.converters[table.name] = converters
        new_table = sa.Table(table.name, self.metadata, *columns)
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint) and not isinstance(
                    constraint, sa.PrimaryKeyConstraint):
                new_table.append_constraint(sa.UniqueConstraint(
                    *[c.name for c in constraint.columns], name=constraint.name))
            elif isinstance(constraint, sa.CheckConstraint):
                new_table.append_constraint(sa.CheckConstraint(
                    sa.text(str(getattr(constraint.sqltext, "text", constraint.sqltext))),
                    name=constraint.name))
            elif isinstance(constraint, sa.ForeignKeyConstraint):
                fk = sa.ForeignKeyConstraint(
                    [c.name for c in constraint.columns],
                    [f"{e.column.table.name}.{e.column.name}" for e in constraint.elements],
                    name=constraint.name, ondelete=constraint.ondelete,
                    onupdate=constraint.onupdate)
                if self.target.is_server:
                    self.foreign_keys.append(fk)
                    fk._shopmig_table = table.name  # type: ignore[attr-defined]
                else:
                    new_table.append_constraint(fk)
        for index in table.indexes:
            self.indexes.append(index)
        return new_table


def _uuid_text(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _create(dst: Connection, table: sa.Table, notes: list[str]) -> None:
    """Create ``table``; what the target refuses (CHECKs, generated expressions) is dropped
    with a note and the table created without it."""
    try:
        with writing(dst):
            table.create(dst)
        return
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0]
    checks = [c for c in table.constraints if isinstance(c, sa.CheckConstraint)]
    for check in checks:
        table.constraints.discard(check)
    computed = [c for c in table.columns if c.computed is not None]
    for col in computed:
        col.computed = None
        col.server_default = None
    with writing(dst):
        table.create(dst)
    if checks:
        notes.append(f"CHECK constraints of {table.name} are not copied "
                     f"({_names(c.name or 'unnamed' for c in checks)}): {reason}.")
    if computed:
        notes.append(f"generated columns of {table.name} are plain columns holding the "
                     f"source's values ({_names(c.name for c in computed)}): {reason}.")


def stream_copy(src: Connection, dst: Connection, chunk_rows: int) -> list[str]:
    """Copy every table of ``src`` into the empty database ``dst`` (another kind of
    database), rows before indexes and foreign keys. Returns notes naming what the target
    could not hold."""
    source_dialect, target = dialect_for(src), dialect_for(dst)
    with reading(src):
        objects = database_objects(src, include_shopmig=True)
        names = objects.data_tables()
        metadata = sa.MetaData()
        for schema in sorted({objects.table_ref(n)[0] or "" for n in names}):
            only = [objects.table_ref(n)[1] for n in names
                    if (objects.table_ref(n)[0] or "") == schema]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sa.exc.SAWarning)
                metadata.reflect(src, schema=schema or None, only=only)
        generated = source_dialect.generated_columns(src)
    notes = _not_carried(objects, target)
    plan = _Plan(metadata, target, generated)
    if plan.collations:
        notes.append(f"collations are not copied ({_names(plan.collations)}).")
    for _, table in plan.pairs:
        _create(dst, table, notes)
    for source_table, table in plan.pairs:
        _copy_rows(src, dst, source_table, table, plan.converters[table.name], chunk_rows)
    for index in plan.indexes:
        _create_index(dst, plan, index, notes)
    for fk in plan.foreign_keys:
        table = plan.metadata.tables[fk._shopmig_table]  # type: ignore[attr-defined]
        table.append_constraint(fk)
        try:
            with writing(dst):
                dst.execute(sa.schema.AddConstraint(fk))
        except sa.exc.DBAPIError as exc:
            notes.append(f"foreign key {fk.name or ''} of {table.name} was not added: "
                         f"{str(exc.orig).splitlines()[0]}.")
    for _, table in plan.pairs:
        for statement in target.reset_counters_sql(table):
            with writing(dst):
                dst.exec_driver_sql(statement)
    if not target.is_server:
        with reading(dst):
            broken = dst.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            notes.append(f"{len(broken)} rows break a foreign key in the copy (as they do "
                         "in the source: the rows were copied as they are).")
    return notes


def _copy_rows(src: Connection, dst: Connection, source_table: sa.Table, table: sa.Table,
               converters: dict[str, Any], chunk_rows: int) -> None:
    names = [c.name for c in table.columns if c.computed is None]
    select = sa.select(*[source_table.c[n] for n in names])
    insert = table.insert()
    with reading(src):
        result = src.execution_options(yield_per=chunk_rows).execute(select)
        for chunk in result.partitions(chunk_rows):
            rows = [dict(zip(names, row, strict=True)) for row in chunk]
            for name, convert in converters.items():
                if name in names:
                    for row in rows:
                        row[name] = convert(row[name])
            with writing(dst):
                dst.execute(insert, rows)


def _create_index(dst: Connection, plan: _Plan, index: sa.Index, notes: list[str]) -> None:
    table = plan.metadata.tables[index.table.name]  # type: ignore[union-attr]
    columns = [c.name for c in index.columns]
    expressions = index.expressions if not columns else []
    if expressions or len(columns) != len(index.expressions):
        notes.append(f"index {index.name} of {table.name} is not copied: it indexes "
                     "expressions written in the source's SQL.")
        return
    options = index.dialect_options
    where = None
    for name in ("postgresql", "sqlite"):
        with contextlib.suppress(KeyError):
            where = options[name].get("where") or where
    if where is not None:
        notes.append(f"index {index.name} of {table.name} is not copied: it is a partial "
                     "index (its condition is written in the source's SQL).")
        return
    new = sa.Index(index.name, *[table.c[c] for c in columns], unique=index.unique)
    try:
        with writing(dst):
            new.create(dst)
    except sa.exc.DBAPIError as exc:
        notes.append(f"index {index.name} of {table.name} is not copied: "
                     f"{str(exc.orig).splitlines()[0]}.")
