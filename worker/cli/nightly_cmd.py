"""`kbatch nightly`: start tonight's nightly batches now, as beat's nightly task does.

For servers that run system cron instead of celery beat (`ops/cron/` holds the crontab line and
its wrapper): the same naming, the same once-per-night rule, the same overlap and stored-key rules
(`worker.nightly`). Redis and the ledger's database are checked first; when either cannot be
reached the command says which, with its URL (password masked), and exits with status 4.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated
from urllib.parse import urlsplit

import redis
import typer
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from jobs.ledger.database import ledger_url
from worker.cli.console import err, out
from worker.providers.errors import AuthError
from worker.settings import Settings, get_settings, mask_url

EXIT_INVALID = 2  # a bad --date, or a manifest that cannot be rendered (the others still run)
EXIT_UNREACHABLE = 4  # Redis or the database cannot be reached: nothing was done
CONNECT_TIMEOUT_S = 5


def unreachable(settings: Settings) -> list[str]:
    """What of Redis and the ledger's database cannot be reached, one line each (no secret)."""
    problems = []
    url = settings.redis_url.get_secret_value()
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=CONNECT_TIMEOUT_S
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {mask_url(url)} is unreachable: {_reason(exc, url)}")
    finally:
        client.close()
    db = settings.database_url.get_secret_value()
    try:
        parsed = ledger_url(db)
        sqlite = parsed.get_backend_name() == "sqlite"
        args = {} if sqlite else {"connect_timeout": CONNECT_TIMEOUT_S}
        engine = create_engine(parsed, poolclass=NullPool, hide_parameters=True, connect_args=args)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
    except (SQLAlchemyError, ValueError) as exc:
        problems.append(f"the database {mask_url(db)} is unreachable: {_reason(exc, db)}")
    return problems


def _reason(exc: Exception, url: str) -> str:
    """The driver's own first line (SQLAlchemy wraps it in a paragraph), without the password."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    password = urlsplit(url).password
    return reason.replace(password, "***") if password else reason


def nightly(
    night: Annotated[
        str | None,
        typer.Option(
            "--date", help="The night, YYYY-MM-DD (default: today in the nightly time zone)."
        ),
    ] = None,
    manifests: Annotated[
        str | None,
        typer.Option("--manifests", help="Glob of manifests (default: KBATCH_NIGHTLY__MANIFESTS)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be created; create nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create tonight's batch of every nightly manifest (for system cron; beat does it itself)."""
    settings = get_settings()
    day = _parse_night(night)
    problems = unreachable(settings)
    if problems:
        for problem in problems:
            err.print(f"kbatch nightly: {problem}")
        err.print("kbatch nightly: nothing was done")
        raise typer.Exit(EXIT_UNREACHABLE)

    # Imported here: the Celery app is only needed once the services answer.
    from worker.cli.batch_cmds import command_context
    from worker.nightly import Action, held_batches, night_of, run_nightly, schedule_release

    try:
        ctx = command_context()
    except AuthError as exc:
        err.print(f"kbatch nightly: {exc}")
        raise typer.Exit(EXIT_INVALID) from None
    if day is None:
        day = night_of(datetime.now(UTC), settings.nightly.timezone)
    pattern = manifests or settings.nightly.manifests
    runs = run_nightly(ctx, settings.nightly, night=day, pattern=pattern, dry_run=dry_run)
    if not dry_run and held_batches(ctx.ledger):
        schedule_release(ctx)
    if as_json:
        data = {"night": day.isoformat(), "dry_run": dry_run, "runs": [r.as_dict() for r in runs]}
        out.print_json(json.dumps(data))
    else:
        head = f"night {day.isoformat()} ({settings.nightly.timezone}), manifests {pattern}"
        out.print(head + (" (dry run)" if dry_run else ""))
        if not runs:
            out.print("  no manifest matches")
        for run in runs:
            out.print(f"  {run.action.value:9} {run.batch or run.manifest}: {run.reason}")
    if any(run.action is Action.INVALID for run in runs):
        raise typer.Exit(EXIT_INVALID)


def _parse_night(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        err.print(f"kbatch nightly: --date {text!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_INVALID) from None


def register(app: typer.Typer) -> None:
    app.command("nightly")(nightly)
