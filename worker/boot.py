"""What a worker process does once, before its first message: open what its steps use, then
freeze its start-up heap.

The steps open their resources on first use, so that `kbatch submit` and a worker that never
stores pay for nothing they do not use. A worker knows from its queues which steps it runs: it
opens them as it starts (the process context; the provider client, which every step uses; the
storage, for a store worker). Its first job then does not wait for a tenth of a second of
imports and TLS set-up, and a worker whose ledger cannot be reached says so at start. Failing to
open is logged and left to the first task, which retries like any other.

Everything built by then lives as long as the process, so it is frozen (`gc.freeze`): the
garbage collector need not walk it again on every full collection.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from celery import signals

from worker.names import Queue

log = logging.getLogger(__name__)

_warmed_pid: int | None = None


def warm(queues: set[str]) -> None:
    """Open the process context and what the steps of `queues` use; then freeze the heap."""
    global _warmed_pid
    if _warmed_pid == os.getpid():
        return
    _warmed_pid = os.getpid()
    from worker.tasks import context  # the context exactly as the tasks build it

    try:
        ctx = context()
        _ = ctx.provider
        if Queue.STORE.value in queues:
            _ = ctx.storage
    except Exception as exc:
        # Any failure is the first task's to report, with its retries. The type only here: a
        # settings error may quote the values it refused.
        log.warning(
            "could not open the ledger, Redis or the provider at start (%s); "
            "the first task tries again",
            type(exc).__name__,
        )
    gc.freeze()


def _consumed_queues() -> set[str]:
    from worker.celery_app import app

    return set(app.amqp.queues.consume_from)


# Solo and prefork pools announce each process that runs tasks; a threads pool does not, so
# its worker is warmed once its consumer is ready. A prefork parent runs no task: it opens
# nothing (its children, forked before it is ready, open their own).
@signals.worker_process_init.connect
def _on_process_init(**_: Any) -> None:
    warm(_consumed_queues())


@signals.worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    from celery.concurrency.thread import TaskPool as ThreadsPool

    if isinstance(getattr(sender, "pool", None), ThreadsPool):
        warm(_consumed_queues())
