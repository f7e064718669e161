"""Celery tasks: thin wrappers that run one pipeline step and turn its outcome into messages.

Messages carry the job id (plus batch id and job key so Flower shows what a task is about), never a
spec or a secret. Every task acknowledges late, so a worker killed mid-step leaves its message to be
delivered again, and the step, being idempotent, picks up where the ledger says the job is.

Celery's own retry limit is off on every task (`max_retries=None`; its default of 3 would fail the
task, and strand its job mid-way, on the fourth retry): a step bounds its error retries itself
(`settings.retry.max_attempts`), and an outage of the ledger or Redis is waited out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task as CeleryTask

from jobs.ledger import LedgerUnavailable
from worker.celery_app import app
from worker.context import Context, JobIdentity, JobRef, process_context
from worker.logs import job_log_context
from worker.names import TASK_QUEUES, Task
from worker.pipeline.dispatch import dispatch
from worker.pipeline.outcome import Next, Outcome, Retry
from worker.pipeline.poll import poll_job
from worker.pipeline.store import store_job
from worker.pipeline.submit import submit_job
from worker.pipeline.sweep import sweep
from worker.pipeline.watch import ensure_watch, watch_turn
from worker.throttle import ThrottleUnavailable, backoff
from worker.worker_pool import may_stay, wait_unless_stopping

Step = Callable[..., Outcome]
log = logging.getLogger(__name__)
OUTAGES = (LedgerUnavailable, ThrottleUnavailable)


def enqueue(task: Task, job: JobIdentity | None, countdown: float = 0.0) -> None:
    """Send `task` for `job` to its queue (the one place that publishes task messages).

    Two of Celery's per-message costs are skipped, together a quarter of a send's CPU: the
    arguments are shown (Flower, events) with a plain `repr`, not Celery's `saferepr`, as they
    are two ints and a job key; and the queue is not declared again before every message, since
    Redis delivers to a queue by its name and the workers declare theirs when they start.
    """
    args: list[Any] = [job.id] if job is not None else []
    kwargs: dict[str, Any] = {"batch": job.batch_id, "key": job.key} if job is not None else {}
    app.send_task(
        task.value,
        args=args,
        kwargs=kwargs,
        countdown=countdown if countdown > 0 else None,
        queue=TASK_QUEUES[task].value,
        argsrepr=repr(args),
        kwargsrepr=repr(kwargs),
        declare=[],
    )


def context() -> Context:
    return process_context(enqueue)


def _retry_after_outage(task: CeleryTask[Any, Any], name: str, exc: Exception) -> Exception:
    """The ledger or Redis is down for a moment: every step is idempotent, so the same message
    simply runs again later; nothing was decided, so nothing is lost."""
    log.warning("%s; %s retried", exc, name)
    return task.retry(countdown=backoff(task.request.retries, cap=60.0))


def _run(
    task: CeleryTask[Any, Any], step: Step, name: str, job_id: int, batch: int, key: str
) -> None:
    ctx = context()
    with job_log_context(batch=batch, job=key, step=name):
        try:
            outcome = step(ctx, job_id, attempt=task.request.retries)
        except OUTAGES as exc:
            raise _retry_after_outage(task, name, exc) from exc
    if isinstance(outcome, Next):
        enqueue(outcome.task, JobRef(job_id, batch, key), outcome.countdown)
    elif isinstance(outcome, Retry):
        raise task.retry(countdown=outcome.countdown)


@app.task(name=Task.SUBMIT.value, bind=True, max_retries=None)
def submit(self: CeleryTask[Any, Any], job_id: int, batch: int = 0, key: str = "") -> None:
    _run(self, submit_job, "submit", job_id, batch, key)


@app.task(name=Task.POLL.value, bind=True, max_retries=None)
def poll(self: CeleryTask[Any, Any], job_id: int, batch: int = 0, key: str = "") -> None:
    _run(self, poll_job, "poll", job_id, batch, key)


@app.task(name=Task.STORE.value, bind=True, max_retries=None)
def store(self: CeleryTask[Any, Any], job_id: int, batch: int = 0, key: str = "") -> None:
    _run(self, store_job, "store", job_id, batch, key)


@app.task(name=Task.DISPATCH.value, bind=True, max_retries=None)
def dispatch_task(self: CeleryTask[Any, Any]) -> None:
    try:
        dispatch(context())
    except OUTAGES as exc:
        raise _retry_after_outage(self, "dispatch", exc) from exc


@app.task(name=Task.WATCH.value)
def watch_task() -> None:
    ctx = context()
    try:
        # On a threads pool with a thread to spare, the task stays for the looks that follow.
        watch_turn(ctx, may_stay, wait_unless_stopping)
    except LedgerUnavailable as exc:
        # This look is lost, not the chain of looks: the next one is scheduled unless another
        # chain has one already (a plain retry could leave two chains looking forever).
        log.warning("%s; watch retried", exc)
        retry = ctx.settings.retry
        ensure_watch(ctx, backoff(0, base=retry.base_s, cap=retry.cap_s, jitter="equal"))


@app.task(name=Task.SWEEP.value, bind=True, max_retries=None)
def sweep_task(self: CeleryTask[Any, Any]) -> dict[str, int]:
    try:
        return sweep(context())
    except OUTAGES as exc:
        raise _retry_after_outage(self, "sweep", exc) from exc
