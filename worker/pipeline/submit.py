"""The submit step: one create at the provider, exactly once, for a job that holds a slot.

Exactly-once rests on the job's `external_id`, sent with every create. A job found already in
`submitting` (a redelivered message, a retry after a lost response) is first looked up by that id:
if the provider has it, it is adopted; only if not is the create sent again, and a reply of
"already exists" is adopted too. A dialect without external ids cannot look up, so a create whose
outcome is unknown goes to `review` instead of being repeated. So does a job whose error retries
run out while a task may exist for it: failing it would let `kbatch retry` pay for a second one,
where `kbatch resume` looks it up by its external id and adopts it.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from jobs.ledger import BatchRecord, JobRecord
from jobs.ledger.states import BatchState, JobState
from worker.context import Context
from worker.names import Task
from worker.pipeline.dispatch import dispatch, release_slot
from worker.pipeline.finish import fail_job, finish_if_done, pause_batch
from worker.pipeline.outcome import Done, Next, Outcome, Retry, retry_within_budget
from worker.pipeline.watch import start_watching
from worker.providers import TaskStatus
from worker.providers.errors import (
    AccountError,
    ConcurrencyLimited,
    DuplicateExternalId,
    JobError,
    ThrottledError,
    TransientError,
)
from worker.throttle import backoff
from worker.throttle_status import RefusalKind

log = logging.getLogger(__name__)


def submit_job(ctx: Context, job_id: int, *, attempt: int = 0) -> Outcome:
    """Create the job's task at the provider (or adopt the one that exists)."""
    job, batch = ctx.ledger.job_and_batch(job_id)
    if job.state not in (JobState.PENDING, JobState.SUBMITTING):
        # Already past this step (a duplicate delivery) or ended: nothing to do, and the slot is
        # either still needed by the job or was released by the step that ended it.
        return Done(f"job is {job.state.value}")
    if batch.state is not BatchState.RUNNING and job.state is JobState.PENDING:
        return _not_now(ctx, job, batch.state)

    if job.state is JobState.PENDING:
        if job.spec.image_url and job.spec.image_url.startswith(("http://", "https://")):
            # Imported here: it brings httpx, which `kbatch submit` (importing this module to
            # queue jobs) never needs.
            from worker.providers.images import preflight_image

            try:
                preflight_image(job.spec.image_url, ctx.provider)
            except JobError as exc:
                return _fail(ctx, job, JobState.PENDING, f"image not reachable: {exc.message}")
            except TransientError as exc:
                return _retry_or_fail(ctx, job, JobState.PENDING, attempt, exc)
        if not _reserve(ctx, job, batch):
            return _skip_for_budget(ctx, job)
        if not ctx.ledger.transition(job.id, JobState.PENDING, JobState.SUBMITTING):
            return Done("another worker took the job")
        return _create(ctx, job, attempt)
    return _recover(ctx, job, attempt)


def _reserve(ctx: Context, job: JobRecord, batch: BatchRecord) -> bool:
    """Reserve the job's estimated credits when a budget or a daily cap applies."""
    cap = ctx.settings.budget.daily_credits
    if batch.budget_credits is None and cap is None:
        return True
    return ctx.ledger.reserve_credits(
        job.id,
        job.estimated_credits,
        daily_cap=None if cap is None else Decimal(str(cap)),
    )


def _skip_for_budget(ctx: Context, job: JobRecord) -> Outcome:
    """The create would take reserved + charged credits past the budget: it is not made."""
    ctx.ledger.transition(
        job.id, JobState.PENDING, JobState.SKIPPED_BUDGET, detail="over the credit budget"
    )
    release_slot(ctx, job.id)
    finish_if_done(ctx, job.batch_id)
    return Done("skipped: budget")


def _recover(ctx: Context, job: JobRecord, attempt: int) -> Outcome:
    """The job may already exist at the provider: look it up before creating again."""
    if not ctx.provider.supports_external_id:
        return _to_review(ctx, job, "create outcome unknown and the dialect cannot look it up")
    try:
        found = ctx.provider.find(job.external_id, job.spec)
    except TransientError as exc:
        # An earlier create's outcome is what this lookup was to settle.
        return _retry_or_fail(ctx, job, JobState.SUBMITTING, attempt, exc, maybe_created=True)
    except AccountError as exc:
        return _pause(ctx, job, exc)
    if found is not None:
        return _adopt(ctx, job, found, "found by external id")
    return _create(ctx, job, attempt)


def _create(ctx: Context, job: JobRecord, attempt: int) -> Outcome:
    if ctx.rate_limiter is not None:
        wait = ctx.rate_limiter.try_acquire()
        if wait > 0:
            return Retry(wait, "provider request rate")  # keeps the slot: it is about to be used
    try:
        status = ctx.provider.create(
            job.spec, job.external_id, callback_url=ctx.settings.provider.callback_url
        )
    except DuplicateExternalId:
        return _recover_after_duplicate(ctx, job, attempt)
    except ConcurrencyLimited as exc:
        _count_refusal(ctx, RefusalKind.CONCURRENCY)
        wait = ctx.pool.on_refused(exc.retry_after)
        return _requeue(ctx, job, f"provider refused for concurrency; waiting {wait:.1f}s")
    except ThrottledError as exc:
        _count_refusal(ctx, RefusalKind.RATE)
        # A request-rate refusal says nothing about slots: keep this one and try again shortly.
        wait = backoff(attempt, retry_after=exc.retry_after)
        ctx.ledger.transition(job.id, JobState.SUBMITTING, JobState.PENDING, detail="rate limited")
        return Next(Task.SUBMIT, wait)
    except AccountError as exc:
        return _pause(ctx, job, exc)
    except JobError as exc:
        return _fail(ctx, job, JobState.SUBMITTING, exc.message)
    except TransientError as exc:
        if exc.outcome_unknown and not ctx.provider.supports_external_id:
            return _to_review(ctx, job, f"create outcome unknown: {exc.message}")
        # Stays `submitting`: the retry looks the job up by external id before creating again.
        return _retry_or_fail(
            ctx, job, JobState.SUBMITTING, attempt, exc, maybe_created=exc.outcome_unknown
        )
    return _adopt(ctx, job, status, "created", created=True)


def _recover_after_duplicate(ctx: Context, job: JobRecord, attempt: int) -> Outcome:
    # The provider says the task exists: whatever goes wrong now, it must not be created again.
    try:
        found = ctx.provider.find(job.external_id, job.spec)
    except TransientError as exc:
        return _retry_or_fail(ctx, job, JobState.SUBMITTING, attempt, exc, maybe_created=True)
    if found is None:
        return _retry_or_fail(ctx, job, JobState.SUBMITTING, attempt, None, maybe_created=True)
    return _adopt(ctx, job, found, "already existed")


def _adopt(
    ctx: Context, job: JobRecord, status: TaskStatus, how: str, *, created: bool = False
) -> Outcome:
    if not ctx.ledger.transition(
        job.id,
        JobState.SUBMITTING,
        JobState.SUBMITTED,
        detail=how,
        provider_task_id=status.task_id,
    ):
        return Done("another worker recorded the task first")
    if created:
        ctx.pool.on_created(str(job.id))  # renews the lease and counts towards the limit
    else:
        ctx.pool.renew(str(job.id))
    start_watching(ctx, job)
    return Done("submitted")


def _count_refusal(ctx: Context, kind: RefusalKind) -> None:
    if ctx.refusals is not None:
        ctx.refusals.record(kind)


def _requeue(ctx: Context, job: JobRecord, why: str) -> Outcome:
    """Back to the head of the wait list; the slot goes back to the pool."""
    ctx.ledger.transition(job.id, JobState.SUBMITTING, JobState.PENDING, detail=why)
    ctx.ledger.settle_credits(job.id)  # it reserves again when its turn comes back
    ctx.pool.release(str(job.id))
    ctx.waitlist.push(job.id, priority=0.0)
    dispatch(ctx)
    return Done(why)


def _not_now(ctx: Context, job: JobRecord, batch_state: BatchState) -> Outcome:
    """The batch is paused or cancelling: the job gives its slot back without a create."""
    if batch_state in (BatchState.CANCELLING, BatchState.CANCELLED):
        ctx.ledger.transition(
            job.id, JobState.PENDING, JobState.CANCELLED, detail="batch cancelled"
        )
        finish_if_done(ctx, job.batch_id)
    release_slot(ctx, job.id)
    return Done(f"batch is {batch_state.value}")


def _pause(ctx: Context, job: JobRecord, exc: AccountError) -> Outcome:
    """Credentials or credits: no retry helps, so the whole batch pauses with the reason."""
    ctx.ledger.transition(job.id, JobState.SUBMITTING, JobState.PENDING, detail=str(exc))
    ctx.ledger.settle_credits(job.id)
    pause_batch(ctx, job.batch_id, str(exc))
    release_slot(ctx, job.id)
    return Done(f"batch paused: {exc}")


def _fail(ctx: Context, job: JobRecord, current: JobState, message: str) -> Outcome:
    fail_job(ctx, job, current, message)
    return Done(message)


def _to_review(ctx: Context, job: JobRecord, why: str) -> Outcome:
    ctx.ledger.transition(job.id, JobState.SUBMITTING, JobState.REVIEW, detail=why, error=why)
    log.warning("job needs review: %s", why)
    release_slot(ctx, job.id)
    return Done(why)


def _retry_or_fail(
    ctx: Context,
    job: JobRecord,
    current: JobState,
    attempt: int,
    exc: TransientError | None,
    *,
    maybe_created: bool = False,
) -> Outcome:
    """Retry within the error budget; then fail the job, or send it to review when a task may
    exist for it at the provider (only a lookup may decide, once the provider answers again)."""
    reason = exc.message if exc is not None else "task neither created nor found"
    later = retry_within_budget(ctx.settings.retry, attempt, reason)
    if later is not None:
        return later
    given_up = f"gave up after {attempt + 1} attempts: {reason}"
    if maybe_created:
        return _to_review(ctx, job, f"{given_up}; a task may exist: `kbatch resume` looks it up")
    return _fail(ctx, job, current, given_up)
