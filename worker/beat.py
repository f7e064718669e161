"""Celery beat for kbatch: the nightly entry from settings, and the lock that keeps beat single.

Beat runs RedBeat's scheduler. The schedule and each entry's last run live in Redis, next to the
queues, so a restarted beat neither repeats nor forgets a run. A running beat holds a Redis lock
and renews it on every tick (at least every `BEAT_LOOP_S` seconds); a second beat started anywhere
against the same Redis waits on that lock and only starts sending once the first has stopped
(at once after a clean stop, within `LOCK_TIMEOUT_S` after a crash). Two beats never both send.

    python -m worker.beat check     # exit 0 when a beat holds the lock and no entry is overdue
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
from celery.schedules import crontab

from worker.names import REDIS_PREFIX, Queue, Task
from worker.settings import NightlySettings, Settings, get_settings, mask_url

NIGHTLY_TASK = Task.NIGHTLY.value
NIGHTLY_RELEASE_TASK = Task.NIGHTLY_RELEASE.value
NIGHTLY_ENTRY = "nightly"

# RedBeat appends ":lock" and ":schedule" to the prefix, and the entry name for each entry.
REDBEAT_PREFIX = f"{REDIS_PREFIX}redbeat:"
LOCK_KEY = f"{REDBEAT_PREFIX}:lock"
SCHEDULE_KEY = f"{REDBEAT_PREFIX}:schedule"
# Beat's longest sleep between ticks; RedBeat's default (300 s) would leave a standby beat five
# minutes between attempts at the lock and a dead beat's lock alive for 25 minutes.
BEAT_LOOP_S = 5.0
LOCK_TIMEOUT_S = 30
# An entry this far past its due time means no beat is sending (a tick runs every BEAT_LOOP_S).
OVERDUE_S = 60.0

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CRON_OFF = "off"


class ScheduleError(ValueError):
    """The nightly cron expression or time zone in the settings cannot be used."""


def parse_cron(expression: str) -> crontab:
    """A five-field cron expression (minute hour day-of-month month day-of-week) as a crontab."""
    fields = expression.split()
    if len(fields) != len(CRON_FIELDS):
        raise ScheduleError(
            f"KBATCH_NIGHTLY__CRON {expression!r} needs 5 fields "
            f"({' '.join(CRON_FIELDS)}), not {len(fields)}"
        )
    try:
        return crontab(**dict(zip(CRON_FIELDS, fields, strict=True)))
    except ValueError as exc:
        raise ScheduleError(f"KBATCH_NIGHTLY__CRON {expression!r}: {exc}") from None


def check_timezone(name: str) -> str:
    """`name` when it is an IANA time zone (`Europe/Paris`, `UTC`)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"KBATCH_NIGHTLY__TIMEZONE {name!r} is not a known time zone") from None
    return name


def nightly_schedule(nightly: NightlySettings) -> dict[str, dict[str, Any]]:
    """Beat's entry that starts the nightly batches (on the control queue), unless the cron is
    `off`: hosts that start them from system cron (`kbatch nightly`) still run beat's sweep."""
    if nightly.cron.strip().lower() == CRON_OFF:
        return {}
    entry = {
        "task": NIGHTLY_TASK,
        "schedule": parse_cron(nightly.cron),
        "options": {"queue": Queue.CONTROL.value},
    }
    return {NIGHTLY_ENTRY: entry}


def beat_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for beat: RedBeat with its lock, and the time zone crontabs are read in.

    Celery reads every crontab in the app's time zone; messages and ETAs stay in UTC.
    """
    redis_url = settings.redis_url.get_secret_value()
    config: dict[str, Any] = {
        "timezone": check_timezone(settings.nightly.timezone),
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "beat_max_loop_interval": BEAT_LOOP_S,
        "redbeat_redis_url": redis_url,
        # Set explicitly: RedBeat would otherwise borrow the broker's transport options (and warn).
        "redbeat_redis_options": {},
        "redbeat_key_prefix": REDBEAT_PREFIX,
        "redbeat_lock_timeout": LOCK_TIMEOUT_S,
    }
    if redis_url.startswith("rediss://"):
        config["redbeat_redis_use_ssl"] = {"ssl_cert_reqs": "required"}
    return config


@dataclass(frozen=True, slots=True)
class BeatStatus:
    """What Redis says about beat: whether one holds the lock, and how late its entries are."""

    locked: bool
    lock_ttl_s: float | None
    entries: int
    most_overdue_s: float

    @property
    def healthy(self) -> bool:
        return self.locked and self.entries > 0 and self.most_overdue_s < OVERDUE_S

    def describe(self) -> str:
        if not self.locked:
            return "no beat holds the lock"
        if self.entries == 0:
            return "a beat holds the lock but no schedule is in Redis (restart beat)"
        if self.most_overdue_s >= OVERDUE_S:
            return f"an entry is {self.most_overdue_s:.0f}s overdue: beat is not sending"
        ttl = f"{self.lock_ttl_s:.0f}s" if self.lock_ttl_s is not None else "no expiry"
        return f"beat holds the lock ({ttl} left), {self.entries} entries on time"


def beat_status(client: redis.Redis, now: float | None = None) -> BeatStatus:
    now = time.time() if now is None else now
    ttl_ms = int(client.pttl(LOCK_KEY))
    # RedBeat scores an entry that will never run again below zero: those are not late.
    first = cast(
        "list[tuple[bytes, float]]",
        client.zrangebyscore(SCHEDULE_KEY, 0, "+inf", 0, 1, withscores=True),
    )
    due = [score for _, score in first]
    return BeatStatus(
        locked=ttl_ms != -2,
        lock_ttl_s=ttl_ms / 1000 if ttl_ms >= 0 else None,
        entries=int(client.zcard(SCHEDULE_KEY)),
        most_overdue_s=max(0.0, now - due[0]) if due else 0.0,
    )


def main(argv: list[str]) -> int:
    if argv not in (["check"], ["--help"], ["-h"]):
        print("usage: python -m worker.beat check", file=sys.stderr)
        return 2
    if argv != ["check"]:
        print("usage: python -m worker.beat check\n\n" + (__doc__ or "").strip())
        return 0
    url = get_settings().redis_url.get_secret_value()
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        status = beat_status(client)
    except redis.RedisError as exc:
        print(f"beat: Redis at {mask_url(url)} is unreachable: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(f"beat: {status.describe()}", file=sys.stdout if status.healthy else sys.stderr)
    return 0 if status.healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
