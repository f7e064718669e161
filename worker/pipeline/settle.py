"""Acting on what the provider says about a task, however it was learned (a poll, a list look).

A render that succeeded moves to `downloading` with its charge, its store step is queued and its
slot goes back to the pool; one that failed ends the job; one still running keeps the job
watched. A list look can see hundreds of renders end at once (K = 500), so `settle_succeeded`
takes them together: their ledger moves in one database transaction, their slots freed in one
Redis command and handed on by one dispatch, their render times recorded in one pipeline.
Per job, that leaves the store message.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from jobs.ledger import Move, SettledJob
from jobs.ledger.states import JobState
from worker.context import Context
from worker.logs import job_log_context
from worker.names import Task
from worker.pipeline.dispatch import dispatch
from worker.pipeline.finish import fail_job
from worker.pipeline.outcome import Done, Outcome
from worker.pipeline.schedule import record_completions
from worker.providers import ProviderState, TaskStatus


def elapsed_since_submit(ctx: Context, job: SettledJob) -> float:
    return ctx.now() - job.submitted_at.timestamp() if job.submitted_at else 0.0


def settle(
    ctx: Context, job: SettledJob, status: TaskStatus, *, renew: bool = True
) -> Outcome | None:
    """Act on one status. A final one ends the wait (Done); for a running one, a `submitted`
    job moves to `processing` and, with `renew`, its slot's lease is renewed; then None says
    the job still needs watching."""
    if status.state is ProviderState.SUCCEEDED:
        (won,) = settle_succeeded(ctx, [(job, status)])
        return Done("downloading" if won else "another worker saw the result first")
    if status.state is ProviderState.FAILED:
        settle_failed(ctx, job, status)
        return Done("failed at the provider")
    if job.state is JobState.SUBMITTED and status.state is ProviderState.RUNNING:
        ctx.ledger.transition(job.id, JobState.SUBMITTED, JobState.PROCESSING)
    if renew:
        ctx.pool.renew(str(job.id))
    return None


def settle_failed(ctx: Context, job: SettledJob, status: TaskStatus) -> None:
    fail_job(
        ctx,
        job,
        job.state,
        status.message or "generation failed",
        charged_units=status.units or Decimal(0),
    )


def settle_succeeded(
    ctx: Context, seen: Sequence[tuple[SettledJob, TaskStatus]], *, also: Sequence[Move] = ()
) -> list[bool]:
    """Renders seen succeeded: for each, whether this call moved its job on (another worker
    may have seen the same result first). `also` are more moves for the same database
    transaction (a look's renders that started)."""
    won = [False] * len(seen)
    ready: list[int] = []
    for i, (job, status) in enumerate(seen):
        if status.result_url is None:
            with job_log_context(batch=job.batch_id, job=job.key, job_id=job.id):
                fail_job(ctx, job, job.state, "provider reported success without a result URL")
        else:
            ready.append(i)
    moves = [
        Move(
            job.id,
            job.state,
            JobState.DOWNLOADING,
            fields={
                "charged_units": status.units,
                "charged_credits": ctx.prices.credits(job.spec),
                "result_url": status.result_url,
            },
        )
        for job, status in (seen[i] for i in ready)
    ]
    done = ctx.ledger.transition_many([*moves, *also])
    for i, moved in zip(ready, done[: len(moves)], strict=True):
        won[i] = moved
    winners = [seen[i][0] for i in ready if won[i]]
    # Queued first: if the ledger fails between the writes below, the retried step finds the
    # jobs past polling, and only these messages take them on (the store settles credits too).
    for job in winners:
        ctx.enqueue(Task.STORE, job)
    # The provider frees its slot when the task is final, so ours goes now, before the download.
    if ctx.pool.release_many([str(seen[i][0].id) for i in ready]):
        dispatch(ctx)
    for job in winners:
        if job.reserved_credits > 0:  # read after the submit step reserved: only budgets pay
            ctx.ledger.settle_credits(job.id)
    record_completions(ctx, [(job.spec, elapsed_since_submit(ctx, job)) for job in winners])
    return won
