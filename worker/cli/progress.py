"""Following a batch until it ends: a live Rich display on a terminal, plain lines elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jobs.ledger import Ledger
from jobs.ledger.states import FINAL_STATES, BatchState, JobState
from worker.cli.console import is_interactive, out

ENDED = (BatchState.FINISHED, BatchState.CANCELLED, BatchState.PAUSED)


@dataclass(frozen=True, slots=True)
class Snapshot:
    state: BatchState
    counts: dict[JobState, int]
    total: int
    estimated: Decimal
    charged: Decimal
    at: float

    @property
    def final(self) -> int:
        return sum(n for s, n in self.counts.items() if s in FINAL_STATES)

    def line(self) -> str:
        parts = ", ".join(f"{s.value} {n}" for s, n in sorted(self.counts.items()) if n)
        return (
            f"{self.final}/{self.total} final ({parts}); credits charged {self.charged} "
            f"of {self.estimated} estimated; batch {self.state.value}"
        )


def snapshot(ledger: Ledger, batch_id: int) -> Snapshot:
    counts = ledger.counts(batch_id)
    totals = ledger.totals(batch_id)
    return Snapshot(
        state=ledger.batch(batch_id).state,
        counts=counts,
        total=sum(counts.values()),
        estimated=totals.estimated_credits,
        charged=totals.charged_credits,
        at=time.monotonic(),
    )


def _table(snap: Snapshot, started: float) -> Table:
    table = Table.grid(padding=(0, 2))
    elapsed = max(snap.at - started, 1e-6)
    rate = snap.final / elapsed
    eta = (snap.total - snap.final) / rate if rate > 0 else float("nan")
    for s, n in sorted(snap.counts.items()):
        if n:
            table.add_row(s.value, str(n))
    table.add_row("credits", f"{snap.charged} charged / {snap.estimated} estimated")
    table.add_row("throughput", f"{rate * 60:.1f} jobs/min, ETA {eta:.0f}s")
    return table


def follow(
    ledger: Ledger,
    batch_id: int,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Show progress until the batch finishes, is cancelled or pauses; returns the last view."""
    started = time.monotonic()
    snap = snapshot(ledger, batch_id)
    if not is_interactive():
        last = ""
        while True:
            line = snap.line()
            if line != last:
                out.print(line)
                last = line
            if snap.state in ENDED or (timeout and snap.at - started > timeout):
                return snap
            sleep(interval)
            snap = snapshot(ledger, batch_id)
    progress = Progress(
        TextColumn("[bold]batch"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    bar = progress.add_task("jobs", total=snap.total)
    grid = Table.grid()
    with Live(grid, console=out, refresh_per_second=4) as live:
        while True:
            progress.update(bar, completed=snap.final, total=snap.total)
            view = Table.grid()
            view.add_row(progress)
            view.add_row(_table(snap, started))
            live.update(view)
            if snap.state in ENDED or (timeout and snap.at - started > timeout):
                return snap
            sleep(interval)
            snap = snapshot(ledger, batch_id)
