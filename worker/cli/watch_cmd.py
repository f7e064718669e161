"""`kbatch watch BATCH`: follow a batch from any machine that can reach the ledger and Redis.

It only reads (the ledger's counts and credits, the throttle's state in Redis), so any number of
people can watch the same batch, and stopping a watch (Ctrl-C) changes nothing.
"""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.ledger.states import BatchState
from worker.cli.batch_cmds import find_batch, open_ledger
from worker.cli.progress import follow

# The same exit codes as `kbatch submit --wait`: 3 when the batch paused (credentials, credits).
EXIT_PAUSED = 3
EXIT_TIMEOUT = 1


def watch(
    batch: Annotated[str, typer.Argument(help="Batch name or id.")],
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between looks.")
    ] = 1.0,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.0, help="Stop watching after this long.")
    ] = None,
) -> None:
    """Show a batch live: progress, counts by state, throughput, ETA, credits, the throttle.

    Plain lines when the output is not a terminal. Exits 0 when the batch finished or was
    cancelled, 3 when it paused, 1 when --timeout passed first.
    """
    ledger = open_ledger()
    try:
        record = find_batch(ledger, batch)
        last = follow(ledger, record.id, interval=interval, timeout=timeout)
    finally:
        ledger.close()
    if last.state is BatchState.PAUSED:
        raise typer.Exit(EXIT_PAUSED)
    if last.state not in (BatchState.FINISHED, BatchState.CANCELLED):
        raise typer.Exit(EXIT_TIMEOUT)


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
