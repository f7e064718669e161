"""Queue names, task names and the Redis key prefix, declared once.

Submit and poll work run on separate queues so a backlog of creates never delays the polls that free
slots; downloads and uploads run on a third queue so a slow upload never delays a poll either.
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    SUBMIT = "submit"
    POLL = "poll"
    STORE = "store"
    CONTROL = "control"  # dispatch wake-ups, sweeps, nightly batches


class Task(StrEnum):
    SUBMIT = "kbatch.submit"
    POLL = "kbatch.poll"
    STORE = "kbatch.store"
    DISPATCH = "kbatch.dispatch"
    SWEEP = "kbatch.sweep"
    WATCH = "kbatch.watch"
    NIGHTLY = "kbatch.nightly"
    NIGHTLY_RELEASE = "kbatch.nightly_release"


TASK_QUEUES: dict[Task, Queue] = {
    Task.SUBMIT: Queue.SUBMIT,
    Task.POLL: Queue.POLL,
    Task.STORE: Queue.STORE,
    Task.DISPATCH: Queue.CONTROL,
    Task.SWEEP: Queue.CONTROL,
    Task.WATCH: Queue.POLL,
    Task.NIGHTLY: Queue.CONTROL,
    Task.NIGHTLY_RELEASE: Queue.CONTROL,
}

REDIS_PREFIX = "kbatch:"
