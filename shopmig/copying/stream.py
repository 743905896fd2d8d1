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
import re
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


_NOW = re.compile(r"\(*\s*(?:now\(\)|current_timestamp(?:\(\d*\))?|localtimestamp"
                  r"(?:\(\d*\))?|statement_timestamp\(\)|transaction_timestamp\(\))\s*\)*"
                  r"(?:::[\w ]+)?", re.IGNORECASE)
_LITERAL = re.compile(r"\(*\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false)\s*\)*"
                      r"(?:::[\w ]+)?", re.IGNORECASE)


def _portable_default(column: sa.Column[Any], type_: sa.types.TypeEngine[Any]
                      ) -> sa.DefaultClause | None:
    """A server default the target understands: a plain literal (booleans as true/false),
    or the current time; any other expression is the source's own SQL and is left out."""
    default = column.server_default
    if not isinstance(default, sa.DefaultClause):
        return None
    text = str(getattr(default.arg, "text", default.arg)).strip()
    if _NOW.fullmatch(text):
        return sa.DefaultClause(sa.text("CURRENT_TIMESTAMP"))
    literal = _LITERAL.fullmatch(text)
    if not literal:
        return None
    value = literal.group(1)
    if isinstance(type_, sa.Boolean):
        value = "true" if value.strip("'").lower() in ("1", "true", "t") else "false"
    return sa.DefaultClause(sa.text(value))


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
    try:
        type_.compile(dialect=target.sa_dialect)
    except sa.exc.CompileError:
        base = getattr(type_, "data_type", None)  # a domain: its base type
        if base is not None and base is not column.type:
            return _target_type(sa.Column(column.name, base), target)
        return sa.Text()  # a type of the source's own (tsvector...): its text
    return type_


class _Plan:
    """The target's tables (without indexes and, on servers, foreign keys), plus what to do
    with each row value on the way."""

    def __init__(self, source: sa.MetaData, target: Dialect,
                 generated: dict[tuple[str, str], tuple[str, bool]],
                 checks: dict[str, list[tuple[str, str]]] | None) -> None:
        self.checks = checks
        self.metadata = sa.MetaData()
        self.indexes: list[sa.Index] = []
        self.foreign_keys: list[sa.ForeignKeyConstraint] = []
        self.converters: dict[str, dict[str, Any]] = {}
        self.generated = generated
        self.pairs: list[tuple[sa.Table, sa.Table]] = []
        self.target = target
        self.collations: list[str] = []
        self.enums: list[str] = []
        self.copied = {t.name for t in source.tables.values()}
        for table in sorted(source.tables.values(), key=lambda t: (t.schema or "", t.name)):
            self.pairs.append((table, self._table(table)))  # any order: FKs come after rows

    def _table(self, table: sa.Table) -> sa.Table:
        columns = []
        converters: dict[str, Any] = {}
        for col in table.columns:
            type_ = _target_type(col, self.target)
            collation = getattr(col.type, "collation", None)
            if collation:
                self.collations.append(f"{table.name}.{col.name} ({collation})")
            if isinstance(col.type, sa.Enum) and not isinstance(type_, sa.Enum):
                self.enums.append(f"{table.name}.{col.name}")
            computed = self.generated.get((table.name, col.name))
            if computed is None and col.computed is not None:
                computed = (str(getattr(col.computed.sqltext, "text", col.computed.sqltext)),
                            bool(col.computed.persisted))
            extra: list[Any] = []
            if computed:
                stored = computed[1] or not self.target.virtual_generated_columns
                extra.append(sa.Computed(sa.text(computed[0]), persisted=stored))
            single_key = len(table.primary_key.columns) == 1
            new = sa.Column(col.name, type_, *extra, nullable=col.nullable,
                            primary_key=col.primary_key,
                            server_default=None if computed else _portable_default(col, type_),
                            autoincrement=(col.autoincrement if col.primary_key and single_key
                                           else False))
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
            elif isinstance(constraint, sa.CheckConstraint) and self.checks is None:
                new_table.append_constraint(sa.CheckConstraint(
                    sa.text(str(getattr(constraint.sqltext, "text", constraint.sqltext))),
                    name=constraint.name))
            elif isinstance(constraint, sa.ForeignKeyConstraint):
                targets = [".".join(e.target_fullname.split(".")[-2:])
                           for e in constraint.elements]
                if any(t.split(".")[0] not in self.copied for t in targets):
                    continue  # to a partition (the parent's key covers it) or an uncopied table
                fk = sa.ForeignKeyConstraint(
                    [c.name for c in constraint.columns], targets,
                    name=constraint.name, ondelete=constraint.ondelete,
                    onupdate=constraint.onupdate)
                if self.target.is_server:
                    self.foreign_keys.append(fk)
                    fk._shopmig_table = table.name  # type: ignore[attr-defined]
                else:
                    new_table.append_constraint(fk)
        for name, condition in (self.checks or {}).get(table.name, []):
            new_table.append_constraint(sa.CheckConstraint(sa.text(condition), name=name))
        for index in table.indexes:
            self.indexes.append(index)
        return new_table


def _uuid_text(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _without_casts(expression: str) -> str:
    """An expression without PostgreSQL's ``::type`` casts (``(qty)::numeric * price``)."""
    return re.sub(r"::[a-z_][\w ]*(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?", "", expression)


def _create(dst: Connection, table: sa.Table, notes: list[str]) -> None:
    """Create ``table``. What the target refuses is given up step by step, each with a note:
    generated expressions (tried again without PostgreSQL's casts, then made plain columns
    holding the source's values), then CHECK constraints."""
    def attempt() -> str | None:
        try:
            with writing(dst):
                table.create(dst)
        except sa.exc.DBAPIError as exc:
            return str(exc.orig).splitlines()[0]
        return None

    reason = attempt()
    if reason is None:
        return
    plain = [c for c in table.columns if c.computed is not None
             and not _expression_works(dst, table, c)]
    for col in plain:
        col.computed = None
        col.server_default = None
    if plain:
        notes.append(f"generated columns of {table.name} are plain columns holding the "
                     f"source's values ({_names(c.name for c in plain)}): the target cannot "
                     "compute their expressions.")
    if any(c.computed is not None for c in table.columns) or plain:
        if (retry := attempt()) is None:
            return
        reason = retry
    checks = [c for c in table.constraints if isinstance(c, sa.CheckConstraint)]
    for check in checks:
        table.constraints.discard(check)
    with writing(dst):
        table.create(dst)
    if checks:
        notes.append(f"CHECK constraints of {table.name} are not copied "
                     f"({_names(str(c.name or 'unnamed') for c in checks)}): {reason}.")


def _expression_works(dst: Connection, table: sa.Table, column: sa.Column[Any]) -> bool:
    """Whether the target computes ``column``'s generation expression (as written, or
    without PostgreSQL's casts, which is then kept): a scratch table with only that
    generated column is created and dropped."""
    assert column.computed is not None
    written = str(getattr(column.computed.sqltext, "text", column.computed.sqltext))
    for expression in dict.fromkeys((written, _without_casts(written))):
        probe = sa.Table(f"{table.name}_shopmig_probe", sa.MetaData(), *[
            sa.Column(c.name, c.type.copy(), *([sa.Computed(
                sa.text(expression), persisted=column.computed.persisted)]
                if c is column else [])) for c in table.columns])
        try:
            with writing(dst):
                probe.create(dst)
        except sa.exc.DBAPIError:
            continue
        with writing(dst):
            probe.drop(dst)
        column.computed.sqltext = sa.text(expression)
        return True
    return False


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
                # Not resolve_fks: PostgreSQL lists a foreign key to a partitioned table
                # once per partition, which would bring the partitions in as tables.
                metadata.reflect(src, schema=schema or None, only=only, resolve_fks=False)
        generated = source_dialect.generated_columns(src)
        checks = source_dialect.check_constraints(src)
    notes = _not_carried(objects, target)
    plan = _Plan(metadata, target, generated, checks)
    if plan.collations:
        notes.append(f"collations are not copied ({_names(plan.collations)}).")
    if plan.enums:
        notes.append(f"enum columns are text in the copy, their values unchanged "
                     f"({_names(plan.enums)}).")
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
    """Stream the rows: read ``chunk_rows`` at a time, write each chunk with the driver's
    ``executemany`` (the target types' own bind processing, done here once per value)."""
    names = [c.name for c in table.columns if c.computed is None]
    select = sa.select(*[source_table.c[n] for n in names])
    target = dialect_for(dst)
    marker = target.paramstyle_marker
    sql = (f"INSERT INTO {target.qualified(table.name, table.schema)} "
           f"({', '.join(target.quote(n) for n in names)}) "
           f"VALUES ({', '.join([marker] * len(names))})")
    steps = []
    for name in names:
        process = table.c[name].type._cached_bind_processor(dst.dialect)
        convert = converters.get(name)
        steps.append(None if process is None and convert is None else _chain(convert, process))
    with reading(src):
        result = src.execution_options(yield_per=chunk_rows).execute(select)
        for chunk in result.partitions(chunk_rows):
            rows = [tuple(v if f is None else f(v) for f, v in zip(steps, row, strict=True))
                    for row in chunk]
            with writing(dst):
                dst.exec_driver_sql(sql, rows)


def _chain(first: Any, second: Any) -> Any:
    if first is None:
        return second
    if second is None:
        return first
    return lambda value: second(first(value))


def _create_index(dst: Connection, plan: _Plan, index: sa.Index, notes: list[str]) -> None:
    table = plan.metadata.tables[index.table.name]  # type: ignore[union-attr]
    columns = [c.name for c in index.columns]
    expressions = index.expressions if not columns else []
    if expressions or len(columns) != len(index.expressions):
        notes.append(f"index {index.name} of {table.name} is not copied: it indexes "
                     "expressions written in the source's SQL.")
        return
    partial = any(key.endswith("_where") and value is not None
                  for key, value in index.dialect_kwargs.items())
    if partial:
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
