"""What the Celery worker running this process offers a long task: a slot to spare, and whether
it is stopping.

A watch turn (`worker.pipeline.watch.watch_turn`) sleeps between looks instead of sending a
message for each. That is only right where its sleep holds up nothing else: a worker whose pool
has threads to spare. Celery tells its tasks neither, so the worker's setup is recorded here
from the `celeryd_after_setup` signal, and its warm or cold shutdown from the
`worker_shutting_down` signal and `celery.worker.state`, which the threads of a threads pool
share with the signal handler. The signal also wakes a task sleeping in `wait_unless_stopping`,
so a sleep between looks is one wait, not a wake-up every second to ask. Prefork children do
not see that state (the shutdown is the parent's), so a prefork worker is never one to stay.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import signals
from celery.worker import state

_spare_threads = 0
_stop_requested = threading.Event()


@signals.celeryd_after_setup.connect
def _record_pool(instance: Any = None, **_: Any) -> None:
    # Imported here, in a starting worker only: `kbatch submit` imports this module too.
    from celery.concurrency.thread import TaskPool as ThreadsPool

    global _spare_threads
    pool = getattr(instance, "pool_cls", None)
    threads = int(getattr(instance, "concurrency", 0) or 0)
    is_threads = isinstance(pool, type) and issubclass(pool, ThreadsPool)
    _spare_threads = threads - 1 if is_threads else 0


@signals.worker_shutting_down.connect
def _record_stop(**_: Any) -> None:
    # Sent by Celery's signal handler, in the main thread, just before it sets the state below.
    _stop_requested.set()


def stopping() -> bool:
    """Whether this worker was asked to shut down (the signal, or Celery's own test of its
    state)."""
    # Set to an exit code by the signal handler; 0 is a warm shutdown too.
    flags: tuple[Any, ...] = (state.should_stop, state.should_terminate)
    return _stop_requested.is_set() or any(flag is not None and flag is not False for flag in flags)


def wait_unless_stopping(seconds: float) -> None:
    """Sleep for `seconds`, or until this worker is asked to shut down if that comes first."""
    _stop_requested.wait(seconds)


def may_stay() -> bool:
    """Whether a task may keep its thread between pieces of work: another thread of this
    worker takes the worker's other messages meanwhile, and no shutdown is under way."""
    return _spare_threads > 0 and not stopping()
