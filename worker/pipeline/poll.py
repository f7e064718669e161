"""The poll step: one status query for one job; the job moves on, or the next poll is scheduled.

A poll that finds the task still running is a wait, not an error: it returns `Next(POLL, delay)`
so it never spends the error-retry budget. Only transport and server errors do. Providers with a
list endpoint are mostly watched account-wide instead (`worker.pipeline.watch`); there a single
poll is the fallback for a task the lists did not show, and the last word before a deadline.
"""

from __future__ import annotations

import logging

from jobs.ledger import JobRecord
from jobs.ledger.states import RENDERING_STATES
from worker.context import Context
from worker.names import Task
from worker.pipeline.finish import fail_job, pause_batch
from worker.pipeline.outcome import Done, Next, Outcome, retry_within_budget
from worker.pipeline.schedule import deadline_seconds, next_poll_delay
from worker.pipeline.settle import elapsed_since_submit, settle
from worker.providers.errors import AccountError, JobError, TransientError

log = logging.getLogger(__name__)

POLLABLE = RENDERING_STATES


def poll_job(ctx: Context, job_id: int, *, attempt: int = 0) -> Outcome:
    job = ctx.ledger.job(job_id)
    if job.state not in POLLABLE or job.provider_task_id is None:
        return Done(f"job is {job.state.value}")
    try:
        status = ctx.provider.query(job.provider_task_id, job.spec)
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
        timed_out = _fail_if_past_deadline(ctx, job, f": {exc.message}")
        if timed_out is not None:
            return timed_out
        log.warning("status unknown after %d tries: %s", attempt + 1, exc.message)
        if ctx.provider.supports_listing:
            return Done("status unknown; the account watch looks again")  # and polls if need be
        return Next(Task.POLL, ctx.settings.poll.max_interval_s)

    polls = job.poll_count + 1
    ctx.ledger.update(job.id, poll_count=polls)
    settled = settle(ctx, job, status)
    if settled is not None:
        return settled
    return _fail_if_past_deadline(ctx, job) or Next(
        Task.POLL, next_poll_delay(ctx, job.spec, polls)
    )


def _fail_if_past_deadline(ctx: Context, job: JobRecord, why: str = "") -> Outcome | None:
    elapsed = elapsed_since_submit(ctx, job)
    if elapsed <= deadline_seconds(ctx, job.spec):
        return None
    fail_job(ctx, job, job.state, f"timed out after {elapsed:.0f}s{why}")
    return Done("timed out")
