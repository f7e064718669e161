"""Handing free slots to waiting jobs, and the sweep that keeps slots honest.

Jobs wait for a slot in a Redis wait list, not as tasks: a waiting job costs no task execution, no
countdown message and no ledger write, however many wait. Whoever frees a slot calls `dispatch`,
which atomically moves the oldest waiters into the slot pool and enqueues exactly their submits.
When nothing is in flight to free a slot (after a 429 cooldown, say), one deduplicated wake-up
message runs `dispatch` again when the cooldown ends; the sweep is the safety net for everything
else.
"""

from __future__ import annotations

import logging

from jobs.ledger.states import BatchState, JobState
from worker.context import Context
from worker.names import Task
from worker.throttle import acquire_for_waiters

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 30.0


def _schedule_once(ctx: Context, what: str, task: Task, delay: float) -> bool:
    """Enqueue `task` after `delay` unless one is already scheduled (a Redis key with a TTL)."""
    key = f"{ctx.prefix}scheduled:{what}:{ctx.account}"
    if ctx.redis.set(key, "1", nx=True, px=max(1, int(delay * 1000))):
        ctx.enqueue(task, None, delay)
        return True
    return False


def dispatch(ctx: Context) -> list[int]:
    """Give every free slot to the oldest waiting job; returns the ids whose submit was enqueued."""
    admitted = [int(h) for h in acquire_for_waiters(ctx.pool, ctx.waitlist)]
    for job_id in admitted:
        ctx.enqueue(Task.SUBMIT, ctx.ledger.job(job_id))
    if not admitted and len(ctx.waitlist) > 0:
        wait = ctx.pool.cooldown_remaining()
        if wait > 0:
            _schedule_once(ctx, "wake", Task.DISPATCH, wait)
    if admitted or len(ctx.waitlist) > 0 or ctx.pool.in_use() > 0:
        _schedule_once(ctx, "sweep", Task.SWEEP, SWEEP_EVERY_S)
    return admitted


def release_slot(ctx: Context, job_id: int) -> None:
    """Free the job's slot (exactly once) and hand it on to the next waiter."""
    if ctx.pool.release(str(job_id)):
        dispatch(ctx)


def enqueue_waiting(ctx: Context, job_ids: list[int]) -> None:
    """Put jobs in the wait list (idempotent) and dispatch as many as there are free slots."""
    if job_ids:
        ctx.waitlist.push_many(job_ids)
    dispatch(ctx)


def sweep(ctx: Context) -> dict[str, int]:
    """The safety net: expire dead holders' leases, reconcile slots with the ledger, re-queue.

    Holders whose job is no longer in flight (their worker died between two steps) are released;
    jobs the ledger has in flight but Redis forgot (Redis restarted or flushed) are adopted so the
    limit keeps counting them; pending jobs of running batches that neither wait nor hold a slot
    (lost between the wait list and their submit message) go back to the wait list.
    """
    expired = ctx.pool.expire_leases()
    live = [str(job.id) for job in ctx.ledger.in_flight()]
    reconciled = ctx.pool.reconcile(live)
    holders = ctx.pool.holders()
    stray = [
        job_id
        for batch in ctx.ledger.batches(states=[BatchState.RUNNING])
        for job_id in ctx.ledger.job_ids(batch.id, [JobState.PENDING])
        if str(job_id) not in holders
    ]
    requeued = ctx.waitlist.push_many(stray)
    admitted = dispatch(ctx)
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
