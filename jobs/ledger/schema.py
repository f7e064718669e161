"""The ledger's schema revision: Alembic, configured in code, run under a database-wide lock.

Many workers may open one empty ledger at the same moment, so an upgrade takes a lock first
(PostgreSQL: a transaction-scoped advisory lock; SQLite: the write lock of `BEGIN IMMEDIATE`)
and the whole upgrade is one transaction: the losers wait, then find nothing left to do.

Every process (each worker, each `kbatch` command) checks the revision when it opens the ledger,
and nearly always finds it current. That check reads Alembic's version table with one query and
compares it with `HEAD`, without importing Alembic: importing Alembic and reading the migration
scripts cost about 0.15 s of CPU per process, a tenth of what `kbatch submit` spent on a 200-job
batch. Alembic is imported when a migration runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect, text

from jobs.ledger.database import Writer
from jobs.ledger.errors import SchemaMismatch

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# The newest migration's revision. A new migration moves it; tests/ledger/test_migrations.py
# fails until it does.
HEAD = "0002"
# pg_advisory_xact_lock key: any constant no other application on the server uses ("kbatch").
_PG_LOCK_KEY = 0x6B6261746368


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an alembic.ini: the migrations ship inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision, as Alembic reads it from the scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the ledger ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.connect() as conn:
        return _revision(conn)


def ensure_current(engine: Engine) -> bool:
    """Upgrade the database to head unless it is there already; True if it had to upgrade."""
    current = current_revision(engine)
    if current == HEAD:
        return False
    _check_known(current)
    upgrade(engine)
    return True


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to `revision` (head by default) in one locked transaction."""
    from alembic import command

    with Writer(engine).begin() as conn:
        _lock(conn)
        _check_known(_revision(conn))
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to `revision` ("base" empties the database), in one locked transaction."""
    from alembic import command

    with Writer(engine).begin() as conn:
        _lock(conn)
        command.downgrade(alembic_config(conn), revision)


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the tables of `models` and the database, as Alembic's autogenerate
    sees them."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from jobs.ledger.models import metadata

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _revision(conn: Connection) -> str | None:
    """What Alembic's version table holds (None when there is none yet), read as Alembic does."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise SchemaMismatch(f"the ledger database is at several revisions at once: {rows}")
    return rows[0] if rows else None


def _check_known(revision: str | None) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if revision not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaMismatch(
            f"the ledger database is at schema revision {revision}, which this kbatch does not "
            "know: it was migrated by a newer version"
        )


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
