"""Alembic environment for shopmig.

Online, it uses the live connection passed in ``config.attributes["connection"]`` (Alembic's
"sharing a connection" recipe), so notebooks, tests and in-memory SQLite all migrate the
database they already hold. Offline (``sql=True``), it renders the SQL for the dialect named in
``config.attributes["dialect_name"]`` without any server.
"""

from alembic import context

from shopmig.migrate.steps import VERSION_TABLE

config = context.config


def run_offline() -> None:
    """Render SQL for ``dialect_name`` without connecting."""
    context.configure(
        dialect_name=config.attributes.get("dialect_name", "sqlite"),
        literal_binds=True,
        version_table=VERSION_TABLE,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run migrations on the connection shopmig passed in; each step in its own transaction."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "shopmig's migrations run through shopmig.upgrade()/downgrade() (or the shopmig CLI), "
            "which pass a connection in config.attributes['connection']."
        )
    context.configure(
        connection=connection,
        version_table=VERSION_TABLE,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
