"""The Celery app, configured from `Settings` in one place.

Start workers per queue (`kbatch worker --queues submit`, or `celery -A worker.celery_app worker -Q
submit`). Results are ignored: job state lives in the ledger, not in a result backend.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from worker.beat import beat_config, nightly_schedule
from worker.logs import configure_logging
from worker.names import TASK_QUEUES, Queue, Task
from worker.settings import Settings, get_settings

# Longer than any countdown a step asks for (poll cap, retry cap, 429 cooldowns): otherwise Redis
# would hand a waiting message to a second worker while the first still holds it.
VISIBILITY_TIMEOUT_S = 3 * 3600


def celery_config(settings: Settings) -> dict[str, Any]:
    broker = settings.redis_url.get_secret_value()
    config: dict[str, Any] = {
        "broker_url": broker,
        # kombu's Redis transport with a fix for losing the broker mid-task (see worker.broker).
        "broker_transport": "worker.broker:Transport",
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": Queue.CONTROL.value,
        "task_create_missing_queues": True,
        "task_routes": {task.value: {"queue": queue.value} for task, queue in TASK_QUEUES.items()},
        # Flower reads task events, and turns them on while it runs (Settings.task_events).
        "worker_send_task_events": settings.task_events,
        # Not the `task-sent` event, though: Flower shows a task from its `task-received` event
        # on (a countdown message is received at once), and the sent event doubles the CPU of
        # every send (ops/bench/celery_floor.py: 0.62 ms against 0.32 ms per message).
        "task_send_sent_event": False,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "beat_schedule": {
            "sweep": {"task": Task.SWEEP.value, "schedule": 30.0},
            **nightly_schedule(settings.nightly),
        },
        **beat_config(settings),
    }
    if broker.startswith("rediss://"):
        config["broker_use_ssl"] = {"ssl_cert_reqs": "required"}
    return config


@signals.setup_logging.connect
def _setup_logging(loglevel: str | int | None = None, **_: Any) -> None:
    # Connecting this signal keeps Celery from installing its own handlers: one log format for all.
    # An explicit KBATCH_LOG_LEVEL wins; otherwise the worker's own --loglevel does.
    settings = get_settings()
    level = settings.log_level
    if "log_level" not in settings.model_fields_set and loglevel:
        level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    configure_logging(settings.log_format, level)


def create_app(settings: Settings | None = None) -> Celery:
    app = Celery("kbatch", include=["worker.tasks", "worker.nightly", "worker.boot"])
    app.conf.update(celery_config(settings or get_settings()))
    return app


app = create_app()
