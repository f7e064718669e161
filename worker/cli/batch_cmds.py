"""`kbatch submit`, `kbatch status` and `kbatch worker`: running batches."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from jobs.ledger import (
    BatchNameTaken,
    BatchRecord,
    BatchState,
    Ledger,
    LedgerNotFound,
    LedgerUnavailable,
)
from worker.batches import OverBudget, submit_manifest
from worker.cli.console import err, out
from worker.cli.manifest_cmds import SET_HELP, load_or_exit
from worker.cli.progress import follow, snapshot
from worker.context import Context
from worker.names import Queue
from worker.settings import get_settings
from worker.throttle import ThrottleUnavailable

ALL_QUEUES = ",".join(q.value for q in Queue)


def command_context() -> Context:
    # Imported here: the Celery app and its context are only needed by commands that enqueue.
    from worker.providers.errors import AccountError
    from worker.tasks import context

    try:
        return context()
    except AccountError as exc:  # no credentials configured: nothing can be created
        err.print(f"cannot start: {exc}")
        raise typer.Exit(2) from None


def submit(
    manifest: Annotated[Path, typer.Argument(help="Manifest file (YAML or CSV).")],
    name: Annotated[
        str | None, typer.Option("--name", help="Batch name (default: manifest name + time).")
    ] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the batch until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    budget: Annotated[
        Decimal | None,
        typer.Option("--budget-credits", help="Never commit more credits than this.", min=0),
    ] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="Render what fits the budget instead of refusing.")
    ] = False,
) -> None:
    """Record a batch in the ledger and queue its jobs."""
    loaded = load_or_exit(manifest, sets or ())
    ctx = command_context()
    try:
        batch = submit_manifest(ctx, loaded, name=name, budget_credits=budget, partial=partial)
    except OverBudget as exc:
        err.print(f"{manifest}: {exc}")
        raise typer.Exit(2) from None
    except BatchNameTaken as exc:
        err.print(f"cannot submit {manifest}: {exc}; choose another with --name")
        raise typer.Exit(2) from None
    except (ThrottleUnavailable, LedgerUnavailable) as exc:
        # Nothing was recorded or queued: Redis is checked before the batch is written.
        err.print(f"cannot submit {manifest}: {exc}")
        raise typer.Exit(1) from None
    totals = ctx.ledger.totals(batch.id)
    if as_json and not wait:
        out.print_json(
            json.dumps(
                {
                    "batch": batch.name,
                    "id": batch.id,
                    "jobs": totals.jobs,
                    "estimated_credits": str(totals.estimated_credits),
                }
            )
        )
        return
    out.print(
        f"batch {batch.name} (id {batch.id}): {totals.jobs} jobs, "
        f"{totals.estimated_credits} credits estimated"
    )
    if wait:
        last = follow(ctx.ledger, batch.id)
        if as_json:
            out.print_json(json.dumps(_status_json(ctx.ledger, ctx.ledger.batch(batch.id))))
        if last.state.value == "paused":
            raise typer.Exit(3)


def _status_json(ledger: Ledger, batch: BatchRecord) -> dict[str, object]:
    snap = snapshot(ledger, batch.id)
    totals = ledger.totals(batch.id)
    return {
        "batch": batch.name,
        "id": batch.id,
        "state": snap.state.value,
        "jobs": snap.total,
        "counts": {s.value: n for s, n in snap.counts.items()},
        "estimated_credits": str(totals.estimated_credits),
        "charged_credits": str(totals.charged_credits),
        "charged_units": str(totals.charged_units or Decimal(0)),
    }


def open_ledger() -> Ledger:
    return Ledger.open(get_settings().database_url.get_secret_value())


def find_batch(ledger: Ledger, batch: str) -> BatchRecord:
    try:
        return ledger.batch(int(batch) if batch.isdigit() else batch)
    except LedgerNotFound:
        err.print(f"no batch named {batch!r}")
        raise typer.Exit(2) from None


def status(
    batch: Annotated[str, typer.Argument(help="Batch name or id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts by state, credits estimated and charged."""
    ledger = open_ledger()
    record = find_batch(ledger, batch)
    data = _status_json(ledger, record)
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(f"batch {record.name} (id {record.id}): {data['state']}")
    for state, n in sorted(snapshot(ledger, record.id).counts.items()):
        out.print(f"  {state.value:15} {n}")
    out.print(
        f"  credits: {data['charged_credits']} charged, {data['estimated_credits']} estimated"
    )


def worker(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated queues.")
    ] = ALL_QUEUES,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 1,
    pool: Annotated[str, typer.Option("--pool", help="prefork, solo or threads.")] = "prefork",
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Node name (default: queues@host).")
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
) -> None:
    """Start a Celery worker for some queues.

    The same as `celery -A worker.celery_app worker -Q QUEUES`.
    """
    from worker.celery_app import app

    known = {q.value for q in Queue}
    unknown = [q for q in queues.split(",") if q not in known]
    if unknown:
        err.print(f"unknown queue(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        raise typer.Exit(2)
    argv = ["worker", "-Q", queues, "-c", str(concurrency), "--pool", pool, "-l", loglevel]
    argv += ["-n", name or f"{queues.replace(',', '-')}@%h"]
    app.worker_main(argv)


def batches(
    state: Annotated[
        list[BatchState] | None, typer.Option("--state", help="Only batches in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
) -> None:
    """The newest batches: id, name, state, jobs, and when each started."""
    ledger = open_ledger()
    for record in ledger.batches(limit=limit, states=state or None):
        out.print(
            f"{record.id:>6}  {record.name:40}  {record.state.value:10}  "
            f"{record.job_count:>7} jobs  {record.created_at:%Y-%m-%d %H:%M}Z"
        )
