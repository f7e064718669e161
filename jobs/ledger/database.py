"""Engines for the ledger: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL via psycopg 3.

Statement parameters are kept out of error messages and logs (`hide_parameters`): a row holds
provider result URLs whose signatures grant access to the video.

SQLite transactions are begun by us, not by the sqlite3 module: writes (`Writer`) open with
`BEGIN IMMEDIATE`, so a writer waits (up to the busy timeout) for the write lock at the start
of its transaction instead of failing half-way through it, and DDL runs inside the transaction
like everything else. A single-statement read (`reader`) begins no transaction at all: the
statement is its own (SQLite in the driver's autocommit mode, PostgreSQL in autocommit), which
saves a BEGIN and a ROLLBACK on every read, about a quarter of the statements a job costs. So
on SQLite, a connection of the engine itself (not a `Writer`'s transaction) runs each statement
as its own transaction.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import monotonic, sleep
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, ExceptionContext, make_url
from sqlalchemy.exc import OperationalError

from jobs.ledger.errors import LedgerUnavailable

DEFAULT_URL = "sqlite:///./var/kbatch.db"

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Set after the busy timeout and the switch to WAL (`_switch_to_wal`).
_SQLITE_PRAGMAS = (
    # With WAL, NORMAL loses at most the last transactions on power loss, never consistency.
    "synchronous = NORMAL",
    "foreign_keys = ON",
)


def ledger_url(url: str) -> URL:
    """The SQLAlchemy URL for `url`; plain `postgresql://` means psycopg 3, the driver we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"the ledger runs on SQLite or PostgreSQL, not {parsed.drivername}")
    return parsed


def create_ledger_engine(url: str) -> Engine:
    """An engine for `url` with the ledger's connection settings; SQLite's folder is created."""
    parsed = ledger_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    engine = create_engine(
        parsed,
        hide_parameters=True,
        pool_pre_ping=True,  # workers live for days; the server may have restarted meanwhile
        pool_size=5,
        max_overflow=10,
        connect_args={"application_name": "kbatch"},
    )
    _dispose_after_fork(engine)
    _translate_outages(engine)
    return engine


class Writer:
    """Transactions that write, on one engine's pool: on SQLite they begin `IMMEDIATE`.

    The `BEGIN IMMEDIATE` is the transaction's first statement, sent here, not from an engine
    event: any connection-event listener makes SQLAlchemy dispatch its statement events for
    every statement of every connection of that engine (a fifth of the CPU of a read or of a
    transition on SQLite).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._immediate = engine.dialect.name == "sqlite"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends, rolled back if it
        raises."""
        if not self._immediate:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the driver is in autocommit mode
            yield conn
            conn.commit()


def reader(engine: Engine) -> Engine:
    """The same engine (same pool) for reads of one statement each, run without a transaction."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    # SQLite: the engine as it is, the driver in autocommit mode (`_configure`). Not SQLAlchemy's
    # AUTOCOMMIT: on returning the connection it would hand the sqlite3 module back its own
    # transaction handling, which `_configure` turns off for good.
    return engine


def _translate_outages(engine: Engine) -> None:
    """Raise `LedgerUnavailable` for a database that cannot be reached or used right now.

    Callers (Celery tasks) then retry without knowing SQLAlchemy's or the driver's errors; the
    message names the database without its password and keeps the driver's text out, since a
    driver may quote connection parameters.
    """
    where = engine.url.render_as_string(hide_password=True)

    @event.listens_for(engine, "handle_error")
    def _outage(context: ExceptionContext) -> None:
        if context.is_disconnect or isinstance(context.sqlalchemy_exception, OperationalError):
            kind = type(context.original_exception).__name__
            raise LedgerUnavailable(f"the ledger database {where} is unavailable ({kind})")


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise ValueError("the SQLite ledger must be a file, shared by every worker process")
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, hide_parameters=True, pool_size=5, max_overflow=10)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # autocommit in the driver; `_begin` opens transactions
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _switch_to_wal(cursor)
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    _dispose_after_fork(engine)
    _translate_outages(engine)
    return engine


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database in WAL mode (a no-op once it is: the mode is kept in the file).

    The first connections to a new database race to switch it, and SQLite answers the losers
    "database is locked" at once instead of waiting out the busy timeout (several workers first
    started together against one new ledger). So the switch is retried, within that timeout.
    """
    deadline = monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or monotonic() + pause > deadline:
                raise
        sleep(pause)  # backing off while another connection switches the file
        pause = min(2 * pause, 0.1)


def _dispose_after_fork(engine: Engine) -> None:
    """Make a forked child (a Celery prefork worker) open its own connections, not its parent's."""
    ref = weakref.ref(engine)

    def _child() -> None:
        alive = ref()
        if alive is not None:
            alive.dispose(close=False)

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_child)
