"""The sweep: the periodic safety net under the event-driven hand-off of slots."""

from __future__ import annotations

import logging

from jobs.ledger.states import BatchState, JobState
from worker.context import Context
from worker.pipeline.dispatch import dispatch
from worker.pipeline.finish import finish_if_done
from worker.pipeline.watch import ensure_watch

log = logging.getLogger(__name__)


def sweep(ctx: Context) -> dict[str, int]:
    """The safety net: expire dead holders' leases, reconcile slots with the ledger, re-queue.

    Holders whose job is no longer in flight (their worker died between two steps) are released;
    jobs the ledger has in flight but Redis forgot (Redis restarted or flushed) are adopted so the
    limit keeps counting them; pending jobs of running batches that neither wait nor hold a slot
    (lost between the wait list and their submit message) go back to the wait list; batches
    whose every job is final are finished.
    """
    expired = ctx.pool.expire_leases()
    live = [str(job.id) for job in ctx.ledger.in_flight()]
    reconciled = ctx.pool.reconcile(live)
    holders = ctx.pool.holders()
    active = ctx.ledger.batches(states=[BatchState.RUNNING, BatchState.CANCELLING])
    stray = [
        job_id
        for batch in active
        if batch.state is BatchState.RUNNING
        for job_id in ctx.ledger.job_ids(batch.id, [JobState.PENDING])
        if str(job_id) not in holders
    ]
    requeued = ctx.waitlist.push_many(stray)
    # A step that ended its job and then met an outage of the ledger is not run again (its job
    # is final), so the batch it should have finished is finished here.
    for batch in active:
        finish_if_done(ctx, batch.id)
    admitted = dispatch(ctx)
    if ctx.provider.supports_listing and ctx.ledger.watched():
        ensure_watch(ctx)
    figures = {
        "expired": len(expired),
        "released": len(reconciled.released),
        "adopted": len(reconciled.adopted),
        "requeued": requeued,
        "admitted": len(admitted),
        "waiting": len(ctx.waitlist),
        "in_use": ctx.pool.in_use(),
    }
    if expired or reconciled.changed or requeued:
        log.warning("slot sweep corrected the pool", extra={"figures": figures})
    return figures
