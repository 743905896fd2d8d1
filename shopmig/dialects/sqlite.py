"""SQLite: an embedded database in a file (or in one connection's memory).

DDL is transactional (with the pysqlite recipe in :meth:`SQLiteDialect.prepare_engine`), there
is one write lock for the whole database, and there is no server: no timeouts to set, no
server databases to create.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from shopmig.dialects.base import Dialect, file_identity

BEGIN_KEY = "shopmig_sqlite_begin"
"""Connection info key: the statement the next transaction on that connection begins with."""


class SQLiteDialect(Dialect):
    """SQLite 3.35+ (``DROP COLUMN``); Python's ``sqlite3`` driver."""

    name = "sqlite"
    label = "SQLite"
    aliases = ("sqlite", "sqlite3")
    is_server = False
    transactional_ddl = True
    max_identifier_length = 1024
    paramstyle_marker = "?"

    def _default_sa_dialect(self) -> sa.Dialect:
        from sqlalchemy.dialects import sqlite

        return sqlite.dialect()  # type: ignore[no-any-return]

    # -------------------------------------------------------------- connections

    @staticmethod
    def is_memory(url: URL) -> bool:
        """True for ``sqlite://`` and ``sqlite:///:memory:`` (a database living in one
        connection)."""
        return url.database in (None, "", ":memory:")

    def file_path(self, url: URL) -> str | None:
        """The file of a file-backed SQLite URL (None in memory)."""
        return None if self.is_memory(url) else url.database

    @staticmethod
    def prepare_engine(engine: Engine) -> None:
        """Let pysqlite run DDL inside transactions (SQLAlchemy's documented recipe).

        Python's sqlite3 module commits implicitly before DDL, so a failing migration step
        could leave half its statements applied. With this recipe SQLite's own ``BEGIN`` covers
        the whole step and a failure rolls all of it back.
        """

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.info.get(BEGIN_KEY, "BEGIN"))

    # -------------------------------------------------------------- server databases

    def database_identity(self, conn: Connection) -> tuple[Any, ...]:
        """The file's device and inode; an in-memory database is itself only."""
        path = self.file_path(conn.engine.url)
        if path is None or not os.path.exists(path):
            return ("memory", id(conn.connection.dbapi_connection))
        return file_identity(path)

    # -------------------------------------------------------------- sessions

    @contextlib.contextmanager
    def migration_transactions(self, conn: Connection) -> Iterator[None]:
        """Transactions begun on ``conn`` in this block take SQLite's write lock up front
        (``BEGIN IMMEDIATE``): a deferred transaction that reads and then writes gets "database
        is locked" at once when another connection writes; an immediate one waits for the lock
        (the busy timeout). Migrations read (reflection, row counts) before they write."""
        previous = conn.info.get(BEGIN_KEY)
        conn.info[BEGIN_KEY] = "BEGIN IMMEDIATE"
        try:
            yield
        finally:
            if previous is None:
                conn.info.pop(BEGIN_KEY, None)
            else:
                conn.info[BEGIN_KEY] = previous

    # -------------------------------------------------------------- objects

    def database_objects(self, conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
        """Every object of the main database: each table, index, trigger and view with the
        SQL SQLite keeps for it (exactly as it was written), each table's kind (ordinary,
        virtual, shadow, WITHOUT ROWID, STRICT), columns (type, NOT NULL, default, key
        position, generated), foreign keys, and the database's encoding, ``user_version``
        and ``application_id``. SQLite's own tables (``sqlite_sequence``, ``sqlite_stat*``)
        and automatic indexes are left out: the table's SQL defines them."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        out[("database", "database")] = {
            "encoding": conn.exec_driver_sql("PRAGMA main.encoding").scalar_one(),
            "user_version": conn.exec_driver_sql("PRAGMA main.user_version").scalar_one(),
            "application_id": conn.exec_driver_sql(
                "PRAGMA main.application_id").scalar_one(),
        }
        kinds = {row[1]: (row[2], row[4], row[5]) for row in conn.exec_driver_sql(
            "PRAGMA main.table_list") if row[0] == "main"}
        master = conn.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM main.sqlite_master "
            "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name").all()
        for kind, name, table, sql in master:
            if kind == "table":
                table_kind, without_rowid, strict = kinds.get(name, ("table", 0, 0))
                out[("table", name)] = {
                    "table": name, "kind": table_kind, "without_rowid": bool(without_rowid),
                    "strict": bool(strict), "sql": sql}
                self._column_objects(conn, name, out)
            elif kind == "index":
                out[("index", name)] = {"table": table, "sql": sql}
            else:
                out[(kind, name)] = {"table": table if kind == "trigger" else None, "sql": sql}
        return out

    def _column_objects(self, conn: Connection, table: str,
                        out: dict[tuple[str, str], dict[str, Any]]) -> None:
        quoted = self.literal(table)
        for cid, name, type_, notnull, default, pk, hidden in conn.exec_driver_sql(
                f"SELECT * FROM pragma_table_xinfo({quoted})"):
            out[("column", f"{table}.{name}")] = {
                "table": table, "position": cid + 1, "type": type_, "not_null": bool(notnull),
                "default": default, "primary_key": pk,
                "generated": {2: "virtual", 3: "stored"}.get(hidden),
                "hidden": bool(hidden == 1)}
        keys: dict[int, dict[str, Any]] = {}
        for row in conn.exec_driver_sql(
                f"SELECT * FROM pragma_foreign_key_list({quoted}) ORDER BY id, seq").all():
            fk_id, _seq, parent, column, parent_column, on_update, on_delete, match = row
            entry = keys.setdefault(fk_id, {"table": table, "references": parent,
                                            "columns": [], "referred_columns": [],
                                            "on_update": on_update, "on_delete": on_delete,
                                            "match": match})
            entry["columns"].append(column)
            entry["referred_columns"].append(parent_column)
        for entry in keys.values():
            name = f"{table}({', '.join(entry['columns'])}) -> {entry['references']}"
            out[("foreign key", name)] = entry

    # -------------------------------------------------------------- copies

    exact_copy_methods = ("backup-api",)
    backup_method = "sqlite-backup"
    backup_suffix = ".sqlite-backup"

    def restore_shell_command(self, path: str, target: URL) -> str:
        """``cp -n backup target.db``: a SQLite backup is itself a database file."""
        dest = self.file_path(target) or "restored.db"
        return f"cp -n {shlex.quote(path)} {shlex.quote(dest)}"

    def stream_type(self, column: sa.Column[Any]) -> sa.types.TypeEngine[Any] | None:
        """uuid as 36-character text with its dashes (what verify and people read), a
        one-column integer key as ``INTEGER`` (SQLite's 64-bit rowid, so inserts without
        a key get one), enums as text, every other type generic."""
        type_ = column.type
        if isinstance(type_, sa.Uuid) or type(type_).__name__.upper() == "UUID":
            return sa.String(36)
        if isinstance(type_, sa.Enum):
            return sa.String(max((len(v) for v in type_.enums), default=1))
        if (isinstance(type_, sa.Integer) and column.primary_key and column.table is not None
                and len(column.table.primary_key.columns) == 1):
            return sa.Integer()
        return None
