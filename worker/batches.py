"""Starting, resuming and describing batches: what the CLI and the nightly schedule call.

A new batch is written to the ledger first, then its job ids go into the Redis wait list; from
there `dispatch` hands them slots. Resuming rebuilds the queues from the ledger alone, which is why
a lost or flushed Redis loses nothing.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from jobs.ledger import BatchNameTaken, BatchRecord
from jobs.ledger.states import BatchState, JobState
from jobs.manifest import Manifest
from worker.context import Context
from worker.names import Task
from worker.pipeline.dispatch import enqueue_waiting
from worker.pipeline.finish import finish_if_done
from worker.pipeline.watch import start_watching
from worker.throttle.errors import fail_closed

DEFAULT_NAME_TRIES = 20


def default_batch_name(manifest: Manifest, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{manifest.name}-{stamp}"


def _default_names(manifest: Manifest) -> list[str]:
    """The default name, then the same with a number: a script may submit one manifest twice
    within a second."""
    first = default_batch_name(manifest)
    return [first, *(f"{first}-{n}" for n in range(2, DEFAULT_NAME_TRIES + 1))]


class OverBudget(Exception):
    """The batch's estimate exceeds its budget or what is left of the daily cap."""


def check_budget(
    ctx: Context, estimate: Decimal, budget_credits: Decimal | None, *, partial: bool
) -> None:
    """Refuse a batch that cannot be rendered whole within its budget, unless `partial`."""
    if partial:
        return
    if budget_credits is not None and estimate > budget_credits:
        raise OverBudget(
            f"the batch is estimated at {estimate} credits, over its budget of "
            f"{budget_credits}; pass --partial to render what fits"
        )
    cap = ctx.settings.budget.daily_credits
    if cap is not None:
        left = Decimal(str(cap)) - ctx.ledger.committed_today()
        if estimate > left:
            raise OverBudget(
                f"the batch is estimated at {estimate} credits but only {left} of today's "
                f"cap of {cap} are left; pass --partial to render what fits"
            )


def submit_manifest(
    ctx: Context,
    manifest: Manifest,
    *,
    name: str | None = None,
    budget_credits: Decimal | None = None,
    partial: bool = False,
    options: dict[str, Any] | None = None,
) -> BatchRecord:
    """Record the batch and its jobs in the ledger, then queue every job for a slot.

    Without a `name`, the batch is named after the manifest and the time, with a number added
    when that name is taken; a given `name` that is taken raises `BatchNameTaken`.

    With a budget, each job reserves its estimated credits before its create, and a job that
    would take the batch past the budget is skipped (`skipped_budget`), never created. When Redis
    cannot be reached, `ThrottleUnavailable` is raised and nothing is recorded.
    """
    estimates = [ctx.prices.credits(job.spec) for job in manifest.jobs]
    check_budget(ctx, sum(estimates, Decimal(0)), budget_credits, partial=partial)
    # Redis before the ledger: a batch recorded while Redis cannot be reached would sit pending,
    # queued nowhere, until someone thought of resuming it.
    with fail_closed("the queue of a new batch"):
        ctx.redis.ping()
    # A name taken is tried with the next; the last name's `BatchNameTaken` reaches the caller.
    *others, last = [name] if name is not None else _default_names(manifest)
    for candidate in others:
        with suppress(BatchNameTaken):
            batch = record_batch(ctx, manifest, candidate, estimates, budget_credits, options)
            break
    else:
        batch = record_batch(ctx, manifest, last, estimates, budget_credits, options)
    enqueue_waiting(ctx, ctx.ledger.job_ids(batch.id, [JobState.PENDING]))
    finish_if_done(ctx, batch.id)  # an empty manifest is a finished batch
    return batch


def record_batch(
    ctx: Context,
    manifest: Manifest,
    name: str,
    estimates: list[Decimal],
    budget_credits: Decimal | None = None,
    options: dict[str, Any] | None = None,
) -> BatchRecord:
    """Write the batch and its jobs to the ledger (running, every job pending), queuing none."""
    return ctx.ledger.create_batch(
        name,
        manifest.jobs,
        estimates,
        manifest=str(manifest.path),
        dialect=ctx.settings.provider.dialect,
        budget_credits=budget_credits,
        options=options,
    )


@dataclass(frozen=True, slots=True)
class Resumed:
    waiting: int
    recovering: int
    polling: int
    storing: int


def resume_batch(ctx: Context, batch: BatchRecord) -> Resumed:
    """Re-enqueue every non-final job from the ledger's state, creating nothing twice.

    Jobs that may exist at the provider (`submitting`) are looked up by external id before any
    create; submitted ones are polled, never re-created. Where the dialect has external ids, jobs
    in `review` wait for a slot again with the same external id: their create either adopts the
    task that exists ("already exists") or makes the one that never did.
    """
    ctx.ledger.set_batch_state(batch.id, BatchState.PAUSED, BatchState.RUNNING)
    for job in ctx.ledger.jobs(batch.id, [JobState.PAUSED]):
        ctx.ledger.transition(job.id, JobState.PAUSED, JobState.PENDING, detail="resumed")
    unsure = []
    if ctx.provider.supports_external_id:
        unsure = [
            j.id
            for j in ctx.ledger.jobs(batch.id, [JobState.REVIEW])
            if ctx.ledger.transition(
                j.id,
                JobState.REVIEW,
                JobState.PENDING,
                detail="resumed: look up by external id",
                error=None,
            )
        ]
    pending = ctx.ledger.job_ids(batch.id, [JobState.PENDING])
    recovering = ctx.ledger.jobs(batch.id, [JobState.SUBMITTING])
    polling = ctx.ledger.jobs(batch.id, [JobState.SUBMITTED, JobState.PROCESSING])
    storing = ctx.ledger.jobs(batch.id, [JobState.DOWNLOADING])
    for job in recovering:
        ctx.pool.adopt(str(job.id))
        ctx.enqueue(Task.SUBMIT, job)
    for job in polling:
        ctx.pool.adopt(str(job.id))
        start_watching(ctx, job)
    for job in storing:
        ctx.enqueue(Task.STORE, job)
    enqueue_waiting(ctx, pending)
    finish_if_done(ctx, batch.id)
    return Resumed(
        len(pending) - len(unsure), len(recovering) + len(unsure), len(polling), len(storing)
    )


def cancel_batch(ctx: Context, batch: BatchRecord) -> int:
    """No further creates; tasks already at the provider are still polled and stored (they are
    billed regardless), then the batch ends as cancelled. Returns how many jobs were cancelled."""
    ctx.ledger.set_batch_state(
        batch.id, (BatchState.RUNNING, BatchState.PAUSED), BatchState.CANCELLING
    )
    waiting = ctx.ledger.job_ids(batch.id, [JobState.PENDING, JobState.PAUSED])
    ctx.waitlist.remove_many(waiting)
    cancelled = 0
    for job_id in waiting:
        cancelled += ctx.ledger.transition(
            job_id, (JobState.PENDING, JobState.PAUSED), JobState.CANCELLED, detail="cancelled"
        )
    finish_if_done(ctx, batch.id)
    return cancelled


def retry_batch(ctx: Context, batch: BatchRecord, *, states: tuple[JobState, ...]) -> int:
    """A new attempt (new external id, recorded in the ledger) for each job in `states`.

    A job in `review` (a create whose outcome could not be known) is created again only when an
    operator says so here, having checked the provider's console that no task exists for it.
    """
    retried = [
        j.id
        for j in ctx.ledger.jobs(batch.id, states)
        if (
            ctx.ledger.transition(
                j.id, JobState.REVIEW, JobState.PENDING, detail="operator: create again", error=None
            )
            if j.state is JobState.REVIEW
            else ctx.ledger.new_attempt(j.id)
        )
    ]
    if retried:
        ctx.ledger.set_batch_state(
            batch.id, (BatchState.FINISHED, BatchState.PAUSED), BatchState.RUNNING
        )
        enqueue_waiting(ctx, retried)
    return len(retried)
