"""Ending things: a failed job, a paused batch, a batch whose every job is final."""

from __future__ import annotations

import logging
from decimal import Decimal

from jobs.ledger import SettledJob
from jobs.ledger.states import BatchState, JobState
from worker.context import Context
from worker.pipeline.dispatch import release_slot

log = logging.getLogger(__name__)


def fail_job(
    ctx: Context,
    job: SettledJob,
    current: JobState,
    message: str,
    *,
    charged_units: Decimal | None = None,
    charged_credits: Decimal | None = None,
) -> bool:
    """Fail the job, free its slot and maybe finish the batch.

    A render that failed at the provider costs nothing; one that succeeded but could not be stored
    was paid for, so the caller passes what was charged.
    """
    won = ctx.ledger.transition(
        job.id,
        current,
        JobState.FAILED,
        detail=message,
        error=message,
        charged_credits=charged_credits if charged_credits is not None else Decimal(0),
        charged_units=charged_units,
    )
    if won:
        log.info("job failed: %s", message)
        ctx.ledger.settle_credits(job.id)
    release_slot(ctx, job.id)
    if won:
        finish_if_done(ctx, job.batch_id)
    return won


def pause_batch(ctx: Context, batch_id: int, reason: str) -> None:
    """Stop creating for this batch: its waiting jobs leave the wait list and stay pending.

    Jobs already created keep being polled and stored: they run (and are billed) regardless.
    """
    if ctx.ledger.set_batch_state(batch_id, BatchState.RUNNING, BatchState.PAUSED):
        log.error("batch paused: %s", reason)
        ctx.waitlist.remove_many(ctx.ledger.job_ids(batch_id, [JobState.PENDING]))


def finish_if_done(ctx: Context, batch_id: int) -> bool:
    """Mark the batch finished (or cancelled) once the ledger says every job is final."""
    if ctx.ledger.has_unfinished(batch_id):
        return False
    if ctx.ledger.set_batch_state(batch_id, BatchState.CANCELLING, BatchState.CANCELLED):
        return True
    return ctx.ledger.set_batch_state(
        batch_id, (BatchState.RUNNING, BatchState.PAUSED), BatchState.FINISHED
    )
