"""Shop databases of the project's own making, for tests: one SQL file per shop and backend.

``tests/fixtures/shops/<dir>/<name>.sql`` holds each shop (``dir`` is ``sqlite``,
``postgresql`` or ``mysql``, the last for MariaDB/MySQL). Every shop has an orders table with a
few hundred deterministic rows and the objects real shops have around it (see :data:`SHOPS`).

- :func:`load_shop` creates the database and runs the file for its backend.
- :data:`SHOPS` names each shop's orders table, its key columns, a free name for the column the
  migration adds, and the backends it exists on.
- :func:`shop_cases` gives ``pytest.param(name, backend)`` pairs (server ones marked).
- :func:`table_fingerprints` and :func:`source_counters` prove data equal and a source
  untouched.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import re
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import shopmig
from shopmig.db import parse_url, reading, use_connection

FIXTURES = Path(__file__).parent / "fixtures" / "shops"
FOLDER = {"sqlite": "sqlite", "postgresql": "postgresql", "mariadb": "mysql", "mysql": "mysql"}
"""The fixture folder of each test backend name."""
BACKENDS = ("sqlite", "postgresql", "mariadb")


@dataclass(frozen=True)
class Shop:
    """One fixture shop: where its orders live and what it covers."""

    name: str
    orders: str
    """The orders table, exactly as written (``Orders`` in the capitals shop)."""
    key: tuple[str, ...]
    """The orders table's primary key columns."""
    column: str
    """A free name for the column the migration adds (``status`` unless that is taken)."""
    backends: tuple[str, ...]
    covers: str
    children: tuple[str, ...] = ()
    """Tables with a foreign key to orders."""

    def path(self, backend: str) -> Path:
        """The SQL file of this shop for ``backend``."""
        return FIXTURES / FOLDER[backend] / f"{self.name}.sql"


SHOPS: dict[str, Shop] = {shop.name: shop for shop in (
    Shop("identity", "orders", ("order_id",), "status", BACKENDS,
         "integer identity / AUTO_INCREMENT / AUTOINCREMENT key; required customer_id FK "
         "without default; FK child order_items; triggers on orders (updated_at, audit rows "
         "into order_audit); CHECK; comments (servers)", ("order_items",)),
    Shop("bigint", "orders", ("order_id",), "status", BACKENDS,
         "bigint identity / BIGINT AUTO_INCREMENT key, bigserial; self-referencing FK "
         "(categories.parent_id); FK cycle categories <-> products; booleans; FK child",
         ("order_items",)),
    Shop("uuid", "orders", ("order_id",), "status", BACKENDS,
         "uuid key (PostgreSQL uuid, MariaDB UUID, SQLite 36-char text WITHOUT ROWID) with a "
         "server default; uuid FK child; jsonb/JSON; dates", ("order_events",)),
    Shop("composite", "orders", ("shop_id", "order_no"), "status", BACKENDS,
         "two-column primary key; composite FK child; partial and expression indexes "
         "(MariaDB: index on a virtual column, prefix index); two-column unique",
         ("order_lines",)),
    Shop("capitals", "Orders", ("OrderID",), "status", BACKENDS,
         "table named Orders with capitalised columns, serial key, capitalised child table "
         "and view", ("OrderLines",)),
    Shop("status", "orders", ("id",), "order_state", BACKENDS,
         "an existing status column (PostgreSQL enum type, MariaDB ENUM, SQLite CHECK); "
         "collations (PostgreSQL \"C\" and a nondeterministic ICU collation of its own, "
         "MariaDB ascii_bin/unicode_ci and a table default collation, SQLite NOCASE); domain"),
    Shop("views", "orders", ("order_id",), "status", BACKENDS,
         "generated columns (STORED, VIRTUAL); views on orders and a view on a view with a "
         "check option; PostgreSQL materialized view with its own index; CHECKs"),
    Shop("partitioned", "orders", ("order_id", "placed_at"), "status",
         ("postgresql", "mariadb"),
         "orders partitioned by range (PostgreSQL: 3 partitions + DEFAULT, index on the "
         "parent, FK to customers, FK child payments; MariaDB: RANGE COLUMNS + MAXVALUE)"),
    Shop("fulltext", "orders", ("order_id",), "status", BACKENDS,
         "full-text search on orders: MariaDB FULLTEXT, PostgreSQL generated tsvector + GIN "
         "with a fillfactor, SQLite FTS5 external-content table kept by triggers on orders"),
    Shop("routines", "orders", ("order_id",), "status", ("postgresql", "mariadb"),
         "stored function and procedure, a sequence as a column default, archive table "
         "filled by the procedure; PostgreSQL extension citext; MariaDB event (disabled)"),
)}


def shop_cases(backends: Iterable[str] = BACKENDS,
               shops: Iterable[str] | None = None) -> list[Any]:
    """``pytest.param(shop_name, backend)`` for every shop on each backend it exists on, the
    server ones marked ``server`` (ids like ``identity-postgresql``)."""
    wanted = set(backends)
    cases = []
    for shop in SHOPS.values():
        if shops is not None and shop.name not in set(shops):
            continue
        for backend in shop.backends:
            if backend in wanted:
                marks = [pytest.mark.server] if backend != "sqlite" else []
                cases.append(pytest.param(shop.name, backend, marks=marks,
                                          id=f"{shop.name}-{backend}"))
    return cases


def backend_of(url: str) -> str:
    """The test backend name (``sqlite``, ``postgresql``, ``mariadb``) of a URL."""
    name = parse_url(url).get_backend_name()
    return "mariadb" if name in ("mysql", "mariadb") else name


# ------------------------------------------------------------------ loading


def _mysql_statements(script: str) -> Iterator[str]:
    """Split a MariaDB script the way the ``mariadb`` client does, ``DELIMITER`` lines too."""
    delimiter, buffer = ";", []
    for line in script.splitlines():
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("--")):
            continue
        match = re.fullmatch(r"DELIMITER\s+(\S+)", stripped, flags=re.IGNORECASE)
        if match and not buffer:
            delimiter = match.group(1)
            continue
        buffer.append(line)
        if stripped.endswith(delimiter):
            text = "\n".join(buffer).rstrip()
            yield text[: -len(delimiter)].strip()
            buffer = []
    if "".join(buffer).strip():
        yield "\n".join(buffer)


def load_shop(name: str, url: str) -> Shop:
    """Create the database ``url`` and build shop ``name`` in it from its SQL file.

    The backend comes from the URL; a shop that does not exist on that backend raises
    :class:`KeyError`. Returns the :class:`Shop`.
    """
    shop = SHOPS[name]
    backend = backend_of(url)
    if backend not in shop.backends:
        raise KeyError(f"shop {name!r} has no {backend} version")
    script = shop.path(backend).read_text()
    shopmig.create_database(url)
    engine = shopmig.open_engine(url, must_exist=False)
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            if backend == "sqlite":
                raw.executescript(script)
            elif backend == "postgresql":
                with raw.cursor() as cur:
                    cur.execute(script)  # psycopg runs several statements when none has params
                raw.commit()
            else:
                with raw.cursor() as cur:
                    for statement in _mysql_statements(script):
                        cur.execute(statement)
                    # Settle InnoDB's statistics now, so no background recalculation resets
                    # the row-change counters source_counters() reads later.
                    cur.execute("SELECT table_name FROM information_schema.tables WHERE "
                                "table_schema = DATABASE() AND table_type = 'BASE TABLE'")
                    for (table,) in cur.fetchall():
                        cur.execute(f"ANALYZE TABLE `{table}`")
                        cur.fetchall()
                raw.commit()
    finally:
        engine.dispose()
    return shop


# ------------------------------------------------------------------ proving data equal


def _plain(value: Any) -> Any:
    """A value in one form whatever engine and driver gave it (for cross-engine checks)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return format(decimal.Decimal(repr(value)).normalize(), "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def table_fingerprints(source: Any, *, plain: bool = False) -> dict[str, tuple[int, str]]:
    """``{table: (rows, sha256)}`` of every table that holds rows (partitions counted in their
    parent, shopmig's tables left out), over the rows sorted by their text. ``plain=True``
    writes every value in one form first (uuid text, decimals without trailing zeros, UTC
    timestamps, bools as 0/1), so copies on another engine compare too."""
    out: dict[str, tuple[int, str]] = {}
    with use_connection(source) as conn, reading(conn):
        objects = shopmig.database_objects(conn)
        for name in objects.data_tables():
            schema, table = objects.table_ref(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sa.exc.SAWarning)
                reflected = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
            rows = conn.execute(sa.select(reflected)).all()
            lines = sorted(repr([_plain(v) for v in row] if plain else list(row))
                           for row in rows)
            out[name] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    return out


def source_counters(url: str) -> object:
    """What changes when anything writes to the database ``url``: PostgreSQL's rows
    inserted, updated and deleted (``pg_stat_database``, read once the counters are still),
    MariaDB's InnoDB row-change counters and last-update times per table, the SQLite file's
    sha256."""
    backend = backend_of(url)
    if backend == "sqlite":
        path = parse_url(url).database
        assert path is not None
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    database = parse_url(url).database
    engine = shopmig.open_engine(parse_url(url).set(
        database="postgres" if backend == "postgresql" else None), pooled=False)
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                sql = sa.text("SELECT tup_inserted, tup_updated, tup_deleted "
                              "FROM pg_stat_database WHERE datname = :db")
                previous = None
                for _ in range(50):  # sessions that just ended flush their counters
                    conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
                    now = tuple(conn.execute(sql, {"db": database}).one())
                    conn.commit()
                    if now == previous:
                        return now
                    previous = now
                    time.sleep(0.2)
                return previous
            # InnoDB counts every row a statement changes (modified_counter, and autoinc on
            # inserts) and notes when a table last changed (update_time).
            stats = conn.execute(sa.text(
                "SELECT name, modified_counter, autoinc FROM information_schema"
                ".innodb_sys_tablestats WHERE name LIKE CONCAT(:db, '/%') ORDER BY name"),
                {"db": database}).all()
            times = conn.execute(sa.text(
                "SELECT table_name, update_time FROM information_schema.tables "
                "WHERE table_schema = :db ORDER BY table_name"), {"db": database}).all()
            return [tuple(r) for r in stats], [tuple(r) for r in times]
    finally:
        engine.dispose()
