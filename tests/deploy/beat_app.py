"""kbatch's Celery app with the nightly entry sent every second, for the beat tests.

Everything else is production's: the RedBeat scheduler and its lock, the task name, the queue and
the routing. Only the cadence differs, so a test sees several runs in a few seconds.
"""

from __future__ import annotations

from worker.beat import NIGHTLY_ENTRY
from worker.celery_app import app

EVERY_S = 1.0

app.conf.beat_schedule = {
    **app.conf.beat_schedule,
    NIGHTLY_ENTRY: {**app.conf.beat_schedule[NIGHTLY_ENTRY], "schedule": EVERY_S},
}

__all__ = ["app"]
