"""A batch report gathered from the ledger: jobs, counts by state, totals by model and resolution.

Jobs are read in pages so that a batch of 100k jobs is never one giant query; the ledger's own
exact sums (`Ledger.totals`) are the batch totals, and the per-group subtotals add up to them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from jobs.catalog import RESOLUTIONS
from jobs.ledger import BatchRecord, Ledger, Totals
from jobs.ledger.states import JobState
from worker.reports.rows import JobRow

PAGE_SIZE = 2000


@dataclass(slots=True)
class GroupTotal:
    """Jobs, seconds and credits of one model or one resolution in a batch."""

    group: str
    jobs: int = 0
    seconds: int = 0
    estimated_credits: Decimal = Decimal(0)
    charged_credits: Decimal = Decimal(0)
    charged_usd: Decimal = Decimal(0)

    def add(self, row: JobRow) -> None:
        self.jobs += 1
        self.seconds += row.seconds
        self.estimated_credits += row.estimated_credits
        if row.charged_credits is not None:
            self.charged_credits += row.charged_credits
        if row.charged_usd is not None:
            self.charged_usd += row.charged_usd


@dataclass(frozen=True, slots=True)
class BatchReport:
    """Everything a batch report shows, read from the ledger at `generated_at`."""

    batch: BatchRecord
    credit_usd: Decimal
    counts: dict[JobState, int]
    totals: Totals
    by_model: list[GroupTotal]
    by_resolution: list[GroupTotal]
    jobs: list[JobRow]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def charged_usd(self) -> Decimal:
        return self.totals.charged_credits * self.credit_usd

    @property
    def estimated_usd(self) -> Decimal:
        return self.totals.estimated_credits * self.credit_usd


def job_rows(
    ledger: Ledger,
    batch: BatchRecord,
    credit_usd: Decimal,
    states: Collection[JobState] | None = None,
) -> Iterator[JobRow]:
    """The batch's jobs in ledger order, optionally only those in `states`."""
    after: int | None = None
    while True:
        page = ledger.jobs(batch.id, states, limit=PAGE_SIZE, after_id=after)
        for job in page:
            yield JobRow.of(job, batch.name, credit_usd)
        if len(page) < PAGE_SIZE:
            return
        after = page[-1].id


def batch_report(ledger: Ledger, batch: BatchRecord, credit_usd: Decimal) -> BatchReport:
    """The whole batch: every job, with subtotals by model and by resolution."""
    rows = list(job_rows(ledger, batch, credit_usd))
    return BatchReport(
        batch=batch,
        credit_usd=credit_usd,
        counts=ledger.counts(batch.id),
        totals=ledger.totals(batch.id),
        by_model=group_totals(rows, lambda r: r.model, sorted),
        by_resolution=group_totals(rows, lambda r: r.resolution, _by_resolution),
        jobs=rows,
    )


def group_totals(
    rows: Collection[JobRow],
    key: Callable[[JobRow], str],
    order: Callable[[Collection[str]], list[str]],
) -> list[GroupTotal]:
    groups: dict[str, GroupTotal] = {}
    for row in rows:
        name = key(row)
        group = groups.get(name)
        if group is None:
            group = groups[name] = GroupTotal(name)
        group.add(row)
    return [groups[name] for name in order(groups.keys())]


def _by_resolution(names: Collection[str]) -> list[str]:
    # The catalog's order (720p before 1080p before 4k), not the alphabet's.
    def rank(name: str) -> tuple[int, str]:
        return (RESOLUTIONS.index(name) if name in RESOLUTIONS else len(RESOLUTIONS), name)

    return sorted(names, key=rank)
