"""Celery tasks: thin wrappers that run one pipeline step and turn its outcome into messages.

Messages carry the job id (plus batch id and job key so Flower shows what a task is about), never a
spec or a secret. Every task acknowledges late, so a worker killed mid-step leaves its message to be
delivered again, and the step, being idempotent, picks up where the ledger says the job is.
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
from worker.pipeline.watch import watch_step
from worker.throttle import ThrottleUnavailable, backoff

Step = Callable[..., Outcome]
log = logging.getLogger(__name__)


def enqueue(task: Task, job: JobIdentity | None, countdown: float = 0.0) -> None:
    """Send `task` for `job` to its queue (the one place that publishes task messages)."""
    args: list[Any] = [job.id] if job is not None else []
    kwargs: dict[str, Any] = {"batch": job.batch_id, "key": job.key} if job is not None else {}
    app.send_task(
        task.value,
        args=args,
        kwargs=kwargs,
        countdown=countdown if countdown > 0 else None,
        queue=TASK_QUEUES[task].value,
    )


def context() -> Context:
    return process_context(enqueue)


def _run(
    task: CeleryTask[Any, Any], step: Step, name: str, job_id: int, batch: int, key: str
) -> None:
    ctx = context()
    with job_log_context(batch=batch, job=key, step=name):
        try:
            outcome = step(ctx, job_id, attempt=task.request.retries)
        except (LedgerUnavailable, ThrottleUnavailable) as exc:
            # The ledger or Redis is down for a moment: every step is idempotent, so the same
            # message simply runs again later; nothing was decided, so nothing is lost.
            log.warning("%s; %s retried", exc, name)
            raise task.retry(
                countdown=backoff(task.request.retries, cap=60.0), max_retries=None
            ) from exc
    if isinstance(outcome, Next):
        enqueue(outcome.task, JobRef(job_id, batch, key), outcome.countdown)
    elif isinstance(outcome, Retry):
        raise task.retry(countdown=outcome.countdown, max_retries=None)


@app.task(name=Task.SUBMIT.value, bind=True)
def submit(self: CeleryTask[Any, Any], job_id: int, batch: int = 0, key: str = "") -> None:
    _run(self, submit_job, "submit", job_id, batch, key)


@app.task(name=Task.POLL.value, bind=True)
def poll(self: CeleryTask[Any, Any], job_id: int, batch: int = 0, key: str = "") -> None:
    _run(self, poll_job, "poll", job_id, batch, key)


@app.task(name=Task.STORE.value, bind=True)
def store(self: CeleryTask[Any, Any], job_id: int, batch: int = 0, key: str = "") -> None:
    _run(self, store_job, "store", job_id, batch, key)


@app.task(name=Task.DISPATCH.value)
def dispatch_task() -> None:
    dispatch(context())


@app.task(name=Task.WATCH.value)
def watch_task() -> None:
    watch_step(context())


@app.task(name=Task.SWEEP.value)
def sweep_task() -> dict[str, int]:
    return sweep(context())
