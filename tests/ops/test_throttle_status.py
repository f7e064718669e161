"""The throttle view against real Redis: slots, wait list, cooldown and the refusal log."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.services import free_port
from worker.throttle import SlotPool, WaitList
from worker.throttle_status import (
    RefusalKind,
    RefusalLog,
    ThrottleProbe,
    read_throttle,
    refusals_key,
)


def _unreachable() -> redis.Redis:
    return redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_refusals_are_counted_by_kind_within_the_window(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = Clock()
    log = RefusalLog(redis_client, "acct", prefix=key_prefix, window_s=60, now=clock)
    log.record()
    log.record()
    log.record(RefusalKind.RATE)
    assert log.recent() == {RefusalKind.CONCURRENCY: 2, RefusalKind.RATE: 1}
    clock.t += 45
    log.record()
    clock.t += 30  # the first three are now older than the window
    assert log.recent() == {RefusalKind.CONCURRENCY: 1, RefusalKind.RATE: 0}


def test_the_refusal_log_trims_itself_and_expires(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = Clock()
    log = RefusalLog(redis_client, "acct", prefix=key_prefix, window_s=10, now=clock)
    for _ in range(5):
        log.record()
        clock.t += 6
    key = refusals_key(key_prefix, "acct")
    assert redis_client.zcard(key) == 2  # older entries were dropped by later writes
    ttl_ms = int(redis_client.pttl(key))
    assert 0 < ttl_ms <= 70_000
    assert key.startswith(f"{key_prefix}throttle:{{acct}}")  # same hash tag as the slot pool


def test_recording_a_refusal_never_raises_when_redis_is_gone() -> None:
    dead = _unreachable()
    RefusalLog(dead, "acct").record()  # logged as a warning, not raised into the step


def test_the_view_reads_slots_waiters_cooldown_and_refusals(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    clock = Clock()
    pool = SlotPool(redis_client, "acct", limit=4, prefix=key_prefix, now=clock, rand=lambda: 0.5)
    for holder in ("1", "2", "3"):
        assert pool.try_acquire(holder)
    WaitList(redis_client, "acct", prefix=key_prefix).push_many([4, 5])
    RefusalLog(redis_client, "acct", prefix=key_prefix, now=clock).record()
    quiet = read_throttle(redis_client, "acct", limit=4, prefix=key_prefix, now=clock)
    assert (quiet.in_use, quiet.limit, quiet.configured_limit, quiet.waiting) == (3, 4, 4, 2)
    assert quiet.cooldown_s == 0
    assert quiet.refused == 1

    wait = pool.on_refused(retry_after=20)
    view = read_throttle(redis_client, "acct", limit=4, prefix=key_prefix, now=clock)
    assert view.limit < 4
    assert view.cooldown_s == wait == 20
    text = view.describe()
    assert f"slots 3/{view.limit} (lowered from 4)" in text
    assert "2 waiting" in text
    assert "cooling down 20s" in text
    assert "429s in 5 min: 1 (concurrency 1)" in text


def test_the_probe_answers_none_while_redis_is_unreachable(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    dead = ThrottleProbe(_unreachable(), "acct", limit=2)
    assert dead() is None
    dead.close()
    live = ThrottleProbe(redis_client, "acct", limit=2, prefix=key_prefix)
    view = live()
    assert view is not None
    assert (view.in_use, view.limit, view.refused) == (0, 2, 0)
