"""Which table the migration changes, which column it adds, and the names it creates.

A :class:`Target` is the user's ``orders`` table (any name, PostgreSQL ``schema.table``) and the
column to add (``status`` unless that name is taken). The CHECK constraint and the index get
names derived from both (``ck_<table>_<column>``, ``ix_<table>_<column>``), shortened with a
stable hash when the database's identifier limit would cut them.

:func:`resolve_target` finds the target of a database: the ``table=``/``column=`` the caller
gave, else what ``shopmig adopt`` recorded in the database, else ``orders``/``status``. Names
are kept exactly as written and found case-insensitively when the exact name does not exist
(``Orders`` on SQLite).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shopmig.dialects import Dialect, dialect_for
from shopmig.errors import InvalidArgumentError, TableNotFoundError
from shopmig.migrate.options import STATUS, TABLE

META_TABLE = "shopmig_meta"
TARGET_KEYS = ("target_table", "target_schema", "target_column")


@dataclass(frozen=True)
class Target:
    """The table the migration changes and the column it adds.

    ``table`` and ``schema`` are the names as the database stores them; ``schema`` is None for
    the connection's default schema (SQLite's ``main``, PostgreSQL's ``search_path``, the
    MariaDB database of the URL).
    """

    table: str = TABLE
    column: str = STATUS
    schema: str | None = None

    @property
    def display(self) -> str:
        """``schema.table`` (or ``table``), unquoted, for messages."""
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def check_name(self, dialect: Dialect | None = None) -> str:
        """The CHECK constraint's name: ``ck_<table>_<column>``."""
        return _derived("ck", self.table, self.column, dialect)

    def index_name(self, dialect: Dialect | None = None) -> str:
        """The index's name: ``ix_<table>_<column>``."""
        return _derived("ix", self.table, self.column, dialect)

    def to_dict(self) -> dict[str, str | None]:
        """The target as a plain dict."""
        return asdict(self)


def _derived(prefix: str, table: str, column: str, dialect: Dialect | None) -> str:
    """``prefix_table_column``, lower-cased to plain characters; cut to the identifier limit
    with an 8-character hash of the full name so two long names never collide."""
    raw = f"{prefix}_{table}_{column}"
    name = re.sub(r"[^0-9a-z_]+", "_", raw.lower())
    limit = dialect.max_identifier_length if dialect is not None else 63
    if name != raw.lower() or len(name) > limit:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        name = f"{name[: min(limit, 63) - 9]}_{digest}"
    return name


def parse_table(name: str) -> tuple[str | None, str]:
    """Split ``schema.table`` into (schema, table); a name without a dot has no schema.

    Double quotes keep a dot inside a name: ``"my.schema"."Orders"``. A name is taken exactly
    as written otherwise.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError("table", name, "a table name such as orders or shop.orders")
    text = name.strip()
    parts: list[str] = []
    buf, quoted, i = "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if quoted and i + 1 < len(text) and text[i + 1] == '"':
                buf += '"'
                i += 1
            else:
                quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
        i += 1
    parts.append(buf)
    if quoted or len(parts) > 2 or any(not p for p in parts):
        raise InvalidArgumentError("table", name, "a table name such as orders or shop.orders "
                                   '(double quotes around a part that holds a dot)')
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def check_column_name(column: str) -> str:
    """A column name as given (any characters but NUL; at most 63 characters)."""
    if not isinstance(column, str) or not column.strip() or "\x00" in column or len(column) > 63:
        raise InvalidArgumentError("column", column, "a column name of 1 to 63 characters")
    return column


# ------------------------------------------------------------------ finding the table


def find_table(conn: Connection, schema: str | None, table: str) -> tuple[str | None, str] | None:
    """The (schema, table) as the database stores them: the exact name if there is one, else
    the one table whose name matches case-insensitively (SQLite's ``Orders`` for ``orders``);
    a schema is matched the same way. None if there is none (or more than one)."""
    insp = sa.inspect(conn)
    schemas: list[str | None] = [schema]
    if schema is not None and schema not in insp.get_schema_names():
        schemas = [s for s in insp.get_schema_names() if s.lower() == schema.lower()]
    for sch in schemas:
        names = insp.get_table_names(schema=sch)
        if table in names:
            return sch, table
        folded = [n for n in names if n.lower() == table.lower()]
        if len(folded) == 1:
            return sch, folded[0]
    return None


def recorded_target(conn: Connection) -> Target | None:
    """The target ``shopmig adopt`` recorded in this database, or None."""
    insp = sa.inspect(conn)
    if not insp.has_table(META_TABLE):
        return None
    meta = sa.table(META_TABLE, sa.column("key"), sa.column("value"))
    rows = dict(conn.execute(sa.select(meta.c.key, meta.c.value)
                             .where(meta.c.key.in_(TARGET_KEYS))).all())
    if not rows.get("target_table"):
        return None
    return Target(rows["target_table"], rows.get("target_column") or STATUS,
                  rows.get("target_schema") or None)


def record_target(conn: Connection, target: Target) -> None:
    """Store ``target`` in the database's ``shopmig_meta`` table (in the caller's transaction)."""
    meta = sa.Table(META_TABLE, sa.MetaData(),
                    sa.Column("key", sa.String(64), primary_key=True),
                    sa.Column("value", sa.String(1000), nullable=False))
    meta.create(conn, checkfirst=True)
    values = {"target_table": target.table, "target_schema": target.schema or "",
              "target_column": target.column}
    conn.execute(meta.delete().where(meta.c.key.in_(TARGET_KEYS)))
    conn.execute(meta.insert(), [{"key": k, "value": v} for k, v in values.items()])


def forget_target(conn: Connection) -> None:
    """Remove the recorded target (in the caller's transaction); drop ``shopmig_meta`` when
    nothing else is left in it."""
    if not sa.inspect(conn).has_table(META_TABLE):
        return
    meta = sa.table(META_TABLE, sa.column("key"))
    conn.execute(sa.delete(meta).where(meta.c.key.in_(TARGET_KEYS)))
    if conn.execute(sa.select(sa.func.count()).select_from(meta)).scalar_one() == 0:
        conn.exec_driver_sql(f"DROP TABLE {dialect_for(conn).quote(META_TABLE)}")


def resolve_target(conn: Connection, table: str | None = None, column: str | None = None,
                   *, must_exist: bool = True) -> Target:
    """The target for ``conn``: ``table``/``column`` as given, else as recorded by adopt, else
    ``orders``/``status``; the table's name as the database stores it. Raises
    :class:`~shopmig.errors.TableNotFoundError` (listing the tables there are) when the table
    does not exist and ``must_exist``."""
    recorded = recorded_target(conn)
    if table is None:
        base = recorded or Target()
    else:
        schema, name = parse_table(table)
        base = Target(name, STATUS, schema)
        if recorded is not None and (recorded.table.lower(), (recorded.schema or "").lower()) == (
            name.lower(), (schema or "").lower()
        ):
            base = recorded
    if column is not None:
        base = replace(base, column=check_column_name(column))
    found = find_table(conn, base.schema, base.table)
    if found is None:
        if must_exist:
            from shopmig.db import mask_url

            insp = sa.inspect(conn)
            raise TableNotFoundError(base.display, mask_url(conn),
                                     insp.get_table_names(schema=base.schema))
        return base
    return replace(base, schema=found[0], table=found[1])
