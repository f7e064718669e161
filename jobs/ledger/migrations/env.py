"""Alembic's entry point for the ledger: migrates the connection `jobs.ledger.schema` hands over.

The connection arrives already inside a locked transaction, so Alembic adds none of its own and
the whole upgrade commits or rolls back as one. There is no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from jobs.ledger.models import metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "ledger migrations run through jobs.ledger.schema (or `kbatch db upgrade`), "
            "which passes an open connection"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: later migrations rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the ledger's migrations have no offline mode")
run_migrations_online()
