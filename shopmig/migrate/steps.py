"""What each migration step does on each database, and the DDL helpers its revision uses.

The revision scripts in ``shopmig/migrations/versions`` stay short: they call the functions
here, which pick the cheapest, shortest-locking statement the dialect offers. The same module
describes each step's *impact* (what it locks, whether it rewrites or scans the table), so the
preflight report and the code that runs the step cannot drift apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from alembic import op
from alembic.runtime.migration import MigrationContext

from shopmig.migrate.options import (  # noqa: F401 - re-exported for the revisions
    ADD_STATUS,
    BASELINE,
    CHECK_NAME,
    INDEX_NAME,
    KEY,
    STATUS,
    STATUS_CHECK,
    STATUS_DEFAULT,
    STATUS_INDEX,
    STATUS_LENGTH,
    STATUS_VALUES,
    TABLE,
    VALIDATE_CHECK,
    VERSION_TABLE,
    MigrationOptions,
)


@dataclass(frozen=True)
class StepImpact:
    """What one step does to the table on one database (the preflight answer)."""

    revision: str
    dialect: str
    summary: str
    lock: str
    blocks_writes: str
    rewrites_table: bool
    scans_table: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The impact as a plain dict (for JSON)."""
        return asdict(self)


def _family(dialect: str) -> str:
    return "mysql" if dialect in ("mysql", "mariadb") else dialect


def step_impact(revision: str, dialect: str, direction: str = "up", rows: int | None = None,
                server_version: tuple[int, ...] | None = None) -> StepImpact:
    """Describe what ``revision`` does on ``dialect`` when applied in ``direction``.

    ``rows`` (the table's row count) and ``server_version`` sharpen the notes when known.
    """
    fam = _family(dialect)
    notes: list[str] = []
    size = f"{rows:,} rows" if rows is not None else "the whole table"

    def impact(summary: str, lock: str, blocks: str, rewrite: bool, scan: bool) -> StepImpact:
        return StepImpact(revision, dialect, summary, lock, blocks, rewrite, scan, notes)

    if revision == BASELINE:
        if direction == "down":
            return impact("refused: shopmig never drops your orders table", "none", "no",
                          False, False)
        return impact("create the orders table (order_id text primary key, amount float)",
                      "new table only", "no", False, False)
    if revision == ADD_STATUS:
        if direction == "down":
            if fam == "sqlite":
                notes.append("SQLite 3.35+ drops the column in place; status values are lost.")
            else:
                notes.append("The status values written since the upgrade are lost.")
            return impact("drop the status column", "exclusive, brief", "briefly", False,
                          fam == "sqlite")
        if fam == "postgresql":
            if server_version is not None and server_version < (11,):
                notes.append("PostgreSQL before 11 rewrites the table for ADD COLUMN ... DEFAULT.")
                return impact("add status NOT NULL DEFAULT 'pending'", "ACCESS EXCLUSIVE",
                              f"for the whole rewrite of {size}", True, True)
            notes.append("PostgreSQL 11+ stores a constant default in the catalog: no rewrite.")
            return impact("add status NOT NULL DEFAULT 'pending' (metadata only)",
                          "ACCESS EXCLUSIVE, milliseconds (waits at most lock_timeout)",
                          "only while the lock is held (milliseconds)", False, False)
        if fam == "mysql":
            notes.append("ALGORITHM=INSTANT: only the data dictionary changes. If the server "
                         "cannot do it instantly the step stops instead of copying the table.")
            return impact("add status NOT NULL DEFAULT 'pending' (ALGORITHM=INSTANT)",
                          "metadata lock, milliseconds (waits at most lock_wait_timeout)",
                          "only while the metadata lock is held", False, False)
        notes.append("SQLite ADD COLUMN with a constant default only edits the schema text.")
        return impact("add status NOT NULL DEFAULT 'pending' (ALTER TABLE ADD COLUMN)",
                      "database write lock, milliseconds", "milliseconds", False, False)
    if revision == STATUS_CHECK:
        if fam == "postgresql":
            if direction == "down":
                return impact("drop the CHECK constraint", "ACCESS EXCLUSIVE, milliseconds",
                              "milliseconds", False, False)
            notes.append("NOT VALID: new and updated rows are checked at once; existing rows "
                         "are checked by the next step without blocking writes.")
            return impact("add CHECK (status IN ...) NOT VALID", "ACCESS EXCLUSIVE, milliseconds",
                          "milliseconds", False, False)
        if fam == "mysql":
            if direction == "down":
                return impact("drop the CHECK constraint", "metadata lock, brief",
                              "briefly", False, False)
            notes.append("MariaDB/MySQL have no online path for an enforced CHECK: the table is "
                         f"copied ({size}) and writes wait for the copy. Refused above the row "
                         "limit unless allow_table_rewrite=True (CLI --allow-table-rewrite).")
            return impact("add CHECK (status IN ...) (ALGORITHM=COPY)",
                          "shared lock for the whole copy", f"for the whole copy of {size}",
                          True, True)
        if direction == "down":
            notes.append("SQLite cannot drop a CHECK in place either: the table is rebuilt "
                         f"({size}) inside one transaction, under the same row limit.")
            return impact("rebuild orders without the CHECK", "database write lock",
                          f"for the whole rebuild of {size}", True, True)
        notes.append("SQLite cannot add a CHECK to an existing table: the table is rebuilt "
                     f"({size}) inside one transaction. Refused above the row limit unless "
                     "allow_table_rewrite=True (CLI --allow-table-rewrite).")
        return impact("rebuild orders with CHECK (status IN ...)", "database write lock",
                      f"for the whole rebuild of {size}", True, True)
    if revision == VALIDATE_CHECK:
        if fam == "postgresql":
            if direction == "down":
                return impact("mark the CHECK NOT VALID again (drop and re-add NOT VALID)",
                              "ACCESS EXCLUSIVE, milliseconds", "milliseconds", False, False)
            notes.append("VALIDATE CONSTRAINT scans every row under SHARE UPDATE EXCLUSIVE: "
                         "reads and writes go on.")
            return impact("VALIDATE CONSTRAINT ck_orders_status", "SHARE UPDATE EXCLUSIVE",
                          "no", False, True)
        notes.append("Nothing to do here: the CHECK was validated when it was added.")
        return impact("no-op on this database", "none", "no", False, False)
    if revision == STATUS_INDEX:
        if direction == "down":
            if fam == "postgresql":
                return impact("DROP INDEX CONCURRENTLY", "SHARE UPDATE EXCLUSIVE", "no",
                              False, False)
            return impact("drop the status index", "brief", "briefly", False, False)
        if fam == "postgresql":
            notes.append("CREATE INDEX CONCURRENTLY runs outside a transaction; an invalid "
                         "index left by a failed build is dropped before a retry.")
            return impact("CREATE INDEX CONCURRENTLY ix_orders_status",
                          "SHARE UPDATE EXCLUSIVE", "no", False, True)
        if fam == "mysql":
            return impact("CREATE INDEX ... ALGORITHM=INPLACE LOCK=NONE",
                          "metadata lock at start and end only", "no", False, True)
        return impact("CREATE INDEX ix_orders_status", "database write lock",
                      f"while {size} are indexed", False, True)
    raise KeyError(revision)


# ---------------------------------------------------------------- helpers for revision scripts


def context() -> MigrationContext:
    """The running Alembic migration context."""
    return op.get_context()


def dialect() -> str:
    """The dialect family of the running migration: ``sqlite``, ``postgresql`` or ``mysql``."""
    return _family(context().dialect.name)


def options() -> MigrationOptions:
    """The :class:`MigrationOptions` the caller passed (defaults if none)."""
    cfg = context().config
    opts = cfg.attributes.get("shopmig_options") if cfg is not None else None
    return opts if isinstance(opts, MigrationOptions) else MigrationOptions()


def offline() -> bool:
    """True when Alembic only renders SQL (preview) instead of running it."""
    return context().as_sql


def q(name: str) -> str:
    """Quote an identifier for the running dialect."""
    return context().dialect.identifier_preparer.quote(name)


def status_column() -> sa.Column:
    """The status column: NOT NULL with the *server-side* default 'pending'."""
    return sa.Column(STATUS, sa.String(STATUS_LENGTH), nullable=False,
                     server_default=sa.text(f"'{STATUS_DEFAULT}'"))


def column_ddl(column: sa.Column) -> str:
    """Render a column definition (``status VARCHAR(16) DEFAULT 'pending' NOT NULL``)."""
    return str(sa.schema.CreateColumn(column).compile(dialect=context().dialect)).strip()


def check_sql() -> str:
    """The CHECK expression restricting status to the allowed values."""
    values = ", ".join(f"'{v}'" for v in STATUS_VALUES)
    return f"{q(STATUS)} IN ({values})"


def guard_table_rewrite(revision: str) -> None:
    """Refuse a step that copies the whole table when the table is large and not allowed.

    Online only; the preview shows the SQL regardless.
    """
    if offline():
        return
    from shopmig.errors import UnsafeMigrationError

    opts = options()
    conn = context().connection
    assert conn is not None
    rows = conn.execute(sa.select(sa.func.count()).select_from(sa.table(TABLE))).scalar_one()
    if rows > opts.rewrite_row_limit and not opts.allow_table_rewrite:
        from shopmig.db import mask_url

        raise UnsafeMigrationError(
            revision,
            mask_url(conn),
            f"it copies all {rows:,} rows of {TABLE} and blocks writes until done "
            f"(more than the limit of {opts.rewrite_row_limit:,} rows).",
            "Rehearse it on a copy to measure how long writes stop, schedule a window, then "
            "run it with allow_table_rewrite=True (CLI: --allow-table-rewrite).",
        )


@contextlib.contextmanager
def autocommit() -> Iterator[None]:
    """Alembic's autocommit block (for CREATE INDEX CONCURRENTLY and friends)."""
    with context().autocommit_block():
        yield


def drop_invalid_index(name: str) -> None:
    """PostgreSQL: drop ``name`` if a failed CONCURRENTLY build left it invalid."""
    if offline():
        return
    conn = context().connection
    assert conn is not None
    invalid = conn.execute(
        sa.text(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND n.nspname = current_schema() AND NOT i.indisvalid"
        ),
        {"name": name},
    ).first()
    if invalid:
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {q(name)}")


def expected_orders(*, with_check: bool) -> sa.Table:
    """The orders table as shopmig's revisions leave it after ``0002`` (with or without the
    CHECK). Used only to render SQLite's table rebuild offline; online the live table is
    reflected, so extra columns and indexes of your own are kept."""
    table = sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column(KEY, sa.String(36), primary_key=True),
        sa.Column("amount", sa.Double),
        status_column(),
    )
    if with_check:
        table.append_constraint(sa.CheckConstraint(sa.text(check_sql()), name=CHECK_NAME))
    return table


def batch_copy_from(*, with_check: bool) -> sa.Table | None:
    """``copy_from`` for a SQLite batch rebuild: None online (reflect), a Table offline."""
    return expected_orders(with_check=with_check) if offline() else None
