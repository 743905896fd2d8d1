"""Alembic environment for shopmig's revisions: the standard one, plus shopmig's options.

Where the database comes from, first match wins:

1. ``config.attributes["connection"]``: a ``Connection`` (Alembic's "sharing a connection"
   recipe: shopmig itself, notebooks, in-memory SQLite) or an ``Engine`` (pytest-alembic);
2. ``-x url=...`` on the ``alembic`` command line;
3. ``sqlalchemy.url`` in the ini file (``shopmig/migrate/migrations/alembic.ini``), or
   ``$SHOPMIG_DATABASE_URL``.

``-x table=shop.orders -x column=order_state -x lock_timeout=2 -x allow_table_rewrite=1`` set
the target and options under the plain ``alembic`` command; without them the table is the one
``shopmig adopt`` recorded. Offline (``--sql``), the SQL is rendered for the demo table.
Each step runs in its own transaction where the database allows it.
"""

from __future__ import annotations

import contextlib
import os

from alembic import context
from sqlalchemy.engine import Connection, Engine

from shopmig.migrate.options import VERSION_TABLE, MigrationOptions

config = context.config
_x = context.get_x_argument(as_dictionary=True)


def _options() -> None:
    """``-x`` options into shopmig's config attributes (when shopmig did not set them)."""
    import math
    from dataclasses import replace

    from shopmig.errors import InvalidArgumentError
    from shopmig.migrate import runtime

    opts = config.attributes.get(runtime.OPTIONS_KEY) or MigrationOptions()
    if "lock_timeout" in _x:
        try:
            seconds = float(_x["lock_timeout"])
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0.001:
            raise InvalidArgumentError("-x lock_timeout", _x["lock_timeout"],
                                       "a number of seconds of at least 0.001")
        opts = replace(opts, lock_timeout_s=seconds)
    if _x.get("allow_table_rewrite", "").lower() in ("1", "true", "yes"):
        opts = replace(opts, allow_table_rewrite=True)
    config.attributes[runtime.OPTIONS_KEY] = opts


def _url() -> str | None:
    return _x.get("url") or config.get_main_option("sqlalchemy.url") or os.environ.get(
        "SHOPMIG_DATABASE_URL")


def run_offline() -> None:
    """Render SQL without connecting (for the dialect of the URL, or SQLite)."""
    url = _url()
    context.configure(url=url, dialect_name=None if url else "sqlite", literal_binds=True,
                      version_table=VERSION_TABLE, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def _target(connection: Connection) -> None:
    from shopmig.migrate import runtime
    from shopmig.migrate.target import resolve_target

    if runtime.TARGET_KEY not in config.attributes and ("table" in _x or "column" in _x):
        config.attributes[runtime.TARGET_KEY] = resolve_target(
            connection, _x.get("table"), _x.get("column"), must_exist=False)


def run_online() -> None:
    """Run migrations on the connection, engine or URL given; each step in its own
    transaction, with shopmig's lock and statement timeouts set on the session."""
    from shopmig.db import open_engine
    from shopmig.dialects import dialect_for

    given = config.attributes.get("connection")
    with contextlib.ExitStack() as stack:
        if isinstance(given, Connection):
            connection = given
            own_timeouts = False
        else:
            if isinstance(given, Engine) or callable(getattr(given, "connect", None)):
                engine = given  # an Engine, or anything that hands out connections like one
            else:
                url = _url()
                if not url:
                    raise SystemExit("shopmig's migrations need a database: pass -x url=... or "
                                     "set sqlalchemy.url / $SHOPMIG_DATABASE_URL")
                engine = open_engine(url, must_exist=False)  # as alembic would: a new file
                stack.callback(engine.dispose)
            connection = stack.enter_context(engine.connect())  # type: ignore[union-attr]
            # a connection handed out inside its owner's transaction is the owner's to commit
            own_timeouts = not connection.in_transaction()
        _options()
        _target(connection)
        dialect = dialect_for(connection)
        if own_timeouts:  # shopmig's runner sets them itself, with its retries
            from shopmig.migrate import runtime

            dialect.set_timeouts(connection, config.attributes[runtime.OPTIONS_KEY])
            if connection.in_transaction():
                connection.commit()
        context.configure(connection=connection, version_table=VERSION_TABLE,
                          transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        if own_timeouts and connection.in_transaction():
            connection.commit()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
