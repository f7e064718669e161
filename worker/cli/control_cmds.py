"""`kbatch cancel`, `kbatch resume` and `kbatch retry`: steering a running or ended batch."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.ledger.states import JobState
from worker.batches import cancel_batch, resume_batch, retry_batch
from worker.cli.batch_cmds import command_context, find_batch
from worker.cli.console import out

BatchArg = Annotated[str, typer.Argument(help="Batch name or id.")]


def cancel(batch: BatchArg) -> None:
    """Stop creating; jobs already at the provider are still polled and stored."""
    ctx = command_context()
    record = find_batch(ctx.ledger, batch)
    n = cancel_batch(ctx, record)
    out.print(f"batch {record.name}: {n} waiting jobs cancelled; jobs in flight finish normally")


def resume(batch: BatchArg) -> None:
    """Re-enqueue every unfinished job from the ledger (after a pause or a lost Redis)."""
    ctx = command_context()
    record = find_batch(ctx.ledger, batch)
    r = resume_batch(ctx, record)
    out.print(
        f"batch {record.name}: {r.waiting} waiting, {r.recovering} being looked up, "
        f"{r.polling} polled, {r.storing} stored again"
    )


def retry(
    batch: BatchArg,
    failed: Annotated[bool, typer.Option("--failed", help="Retry failed jobs (default).")] = True,
    skipped: Annotated[
        bool, typer.Option("--skipped-budget", help="Also retry jobs skipped for the budget.")
    ] = False,
    review: Annotated[
        bool,
        typer.Option(
            "--review", help="Create again jobs in review (check the provider has no task first)."
        ),
    ] = False,
) -> None:
    """Start new attempts for failed jobs; each is recorded in the ledger with a new external id."""
    states = tuple(
        s for s, wanted in ((JobState.FAILED, failed), (JobState.SKIPPED_BUDGET, skipped)) if wanted
    )
    ctx = command_context()
    record = find_batch(ctx.ledger, batch)
    n = retry_batch(ctx, record, states=states)
    out.print(f"batch {record.name}: {n} jobs queued for a new attempt")


def register(app: typer.Typer) -> None:
    app.command("cancel")(cancel)
    app.command("resume")(resume)
    app.command("retry")(retry)
