"""`kbatch db`: the results ledger's schema (`upgrade` creates or migrates it, `current` shows it).

The database URL comes from the settings (`KBATCH_DATABASE_URL`); it is only ever shown with
its password masked, and a driver error that quotes the password has it masked too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from jobs.ledger import LedgerError
from jobs.ledger.database import create_ledger_engine
from jobs.ledger.schema import current_revision, head_revision, upgrade
from worker.cli.console import err, out
from worker.settings import Settings, mask_url

app = typer.Typer(
    name="db",
    help="The results ledger's database schema.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Create the ledger's tables, or migrate them to this version's schema."""
    with _ledger_engine("upgrade") as (engine, shown):
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    if before == after:
        out.print(f"ledger {shown} is up to date (revision {after})")
    else:
        out.print(f"ledger {shown} upgraded from {before or 'an empty database'} to {after}")


@app.command("current")
def current_cmd() -> None:
    """Show the ledger's schema revision and the one this version expects."""
    with _ledger_engine("inspect") as (engine, shown):
        current = current_revision(engine)
    head = head_revision()
    status = "up to date" if current == head else "needs `kbatch db upgrade`"
    out.print(f"ledger {shown}: revision {current or 'none (empty)'}, expected {head}: {status}")
    if current != head:
        raise typer.Exit(1)


@contextmanager
def _ledger_engine(action: str) -> Iterator[tuple[Engine, str]]:
    raw = Settings().database_url.get_secret_value()
    shown = mask_url(raw)
    try:
        engine = create_ledger_engine(raw)
        try:
            yield engine, shown
        finally:
            engine.dispose()
    except (LedgerError, SQLAlchemyError, ValueError) as exc:
        err.print(f"cannot {action} ledger {shown}: {_without_password(str(exc), raw)}")
        raise typer.Exit(1) from None


def _without_password(message: str, url: str) -> str:
    try:
        password = make_url(url).password
    except (ValueError, SQLAlchemyError):
        password = None
    if password:
        message = message.replace(str(password), "***")
    return message
