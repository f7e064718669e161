"""The poll step: one status query for one job; the job moves on, or the next poll is scheduled.

A poll that finds the task still running is a wait, not an error: it returns `Next(POLL, delay)`
so it never spends the error-retry budget. Only transport and server errors do. Providers with a
list endpoint are mostly watched account-wide instead (`worker.pipeline.watch`); there a single
poll is the fallback for a task the lists did not show, and the last word before a deadline.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

from jobs.ledger import JobRecord
from jobs.ledger.states import JobState
from worker.context import Context
from worker.names import Task
from worker.pipeline.dispatch import release_slot
from worker.pipeline.finish import fail_job, pause_batch
from worker.pipeline.outcome import Done, Next, Outcome, retry_within_budget
from worker.pipeline.schedule import deadline_seconds, next_poll_delay, record_completion
from worker.providers import ProviderState, TaskStatus
from worker.providers.errors import AccountError, JobError, TransientError

log = logging.getLogger(__name__)

POLLABLE = (JobState.SUBMITTED, JobState.PROCESSING)
SEEN_TTL_S = 3600


def elapsed_since_submit(ctx: Context, job: JobRecord) -> float:
    return ctx.now() - job.submitted_at.timestamp() if job.submitted_at else 0.0


def poll_job(ctx: Context, job_id: int, *, attempt: int = 0) -> Outcome:
    job = ctx.ledger.job(job_id)
    if job.state not in POLLABLE or job.provider_task_id is None:
        return Done(f"job is {job.state.value}")
    try:
        status = take_seen(ctx, job.id) or ctx.provider.query(job.provider_task_id, job.spec)
    except AccountError as exc:
        # The task runs on at the provider; `kbatch resume` re-enqueues this poll once fixed.
        pause_batch(ctx, job.batch_id, str(exc))
        return Done(f"batch paused: {exc}")
    except JobError as exc:
        fail_job(ctx, job, job.state, exc.message)
        return Done(exc.message)
    except TransientError as exc:
        later = retry_within_budget(ctx.settings.retry, attempt, exc.message)
        if later is not None:
            return later
        # The render goes on (and is billed) whether or not its status can be read: failing it
        # here would throw a paid video away over an outage. Only its deadline ends the wait.
        elapsed = elapsed_since_submit(ctx, job)
        if elapsed > deadline_seconds(ctx, job.spec):
            fail_job(ctx, job, job.state, f"timed out after {elapsed:.0f}s: {exc.message}")
            return Done("timed out")
        log.warning("status unknown after %d tries: %s", attempt + 1, exc.message)
        if ctx.provider.supports_listing:
            return Done("status unknown; the account watch looks again")  # and polls if need be
        return Next(Task.POLL, ctx.settings.poll.max_interval_s)

    polls = job.poll_count + 1
    ctx.ledger.update(job.id, poll_count=polls)
    settled = settle(ctx, job, status)
    if settled is not None:
        return settled
    elapsed = elapsed_since_submit(ctx, job)
    if elapsed > deadline_seconds(ctx, job.spec):
        fail_job(ctx, job, job.state, f"timed out after {elapsed:.0f}s")
        return Done("timed out")
    return Next(Task.POLL, next_poll_delay(ctx, job.spec, polls))


def seen_key(ctx: Context, job_id: int) -> str:
    return f"{ctx.prefix}seen:{job_id}"


def park_seen(ctx: Context, seen: list[tuple[JobRecord, TaskStatus]]) -> None:
    """Keep final statuses a list look saw for the polls that will settle them: no new request.

    A poll that finds none (expired, or Redis lost it) simply asks the provider.
    """
    pipe = ctx.redis.pipeline(transaction=False)
    for job, status in seen:
        data = {
            "task_id": status.task_id,
            "state": status.state.value,
            "message": status.message,
            "result_url": status.result_url,
            "units": None if status.units is None else str(status.units),
        }
        pipe.set(seen_key(ctx, job.id), json.dumps(data), ex=SEEN_TTL_S)
    pipe.execute()


def take_seen(ctx: Context, job_id: int) -> TaskStatus | None:
    raw = ctx.redis.getdel(seen_key(ctx, job_id))
    if raw is None:
        return None
    data = json.loads(raw)
    return TaskStatus(
        task_id=data["task_id"],
        state=ProviderState(data["state"]),
        message=data["message"],
        result_url=data["result_url"],
        units=None if data["units"] is None else Decimal(data["units"]),
    )


def settle(
    ctx: Context, job: JobRecord, status: TaskStatus, *, renew: bool = True
) -> Outcome | None:
    """Act on a status, however it was learned (a query, a list, a callback).

    A final status ends the wait: the slot is released and the job goes to storage or fails. A
    running one moves a `submitted` job to `processing` and renews its slot's lease; then None
    says the job still needs watching.
    """
    if status.state is ProviderState.SUCCEEDED:
        return _succeeded(ctx, job, status)
    if status.state is ProviderState.FAILED:
        fail_job(
            ctx,
            job,
            job.state,
            status.message or "generation failed",
            charged_units=status.units or Decimal(0),
        )
        return Done("failed at the provider")
    if job.state is JobState.SUBMITTED and status.state is ProviderState.RUNNING:
        ctx.ledger.transition(job.id, JobState.SUBMITTED, JobState.PROCESSING)
    if renew:
        ctx.pool.renew(str(job.id))
    return None


def _succeeded(ctx: Context, job: JobRecord, status: TaskStatus) -> Outcome:
    if status.result_url is None:
        fail_job(ctx, job, job.state, "provider reported success without a result URL")
        return Done("no result URL")
    won = ctx.ledger.transition(
        job.id,
        job.state,
        JobState.DOWNLOADING,
        charged_units=status.units,
        charged_credits=ctx.prices.credits(job.spec),
        result_url=status.result_url,
    )
    if won:
        # Queued first: if the ledger fails between the writes below, the retried step finds the
        # job past polling, and only this message takes it on (the store settles credits too).
        ctx.enqueue(Task.STORE, job)
    # The provider frees its slot when the task is final, so ours goes now, before the download.
    release_slot(ctx, job.id)
    if not won:
        return Done("another worker saw the result first")
    if job.reserved_credits > 0:  # read after the submit step reserved: only budgets pay this
        ctx.ledger.settle_credits(job.id)
    record_completion(ctx, job.spec, elapsed_since_submit(ctx, job))
    return Done("downloading")
