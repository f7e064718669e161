"""With Redis unreachable every operation fails closed with ThrottleUnavailable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests import services
from worker.throttle import (
    RateLimiter,
    SlotPool,
    ThrottleError,
    ThrottleUnavailable,
    WaitList,
    acquire_for_waiters,
    acquire_or_wait,
)

PASSWORD = "s3cret-pw"


@pytest.fixture
def dead_redis() -> Iterator[redis.Redis]:
    """A client for a port nothing listens on (taken and released, so it is closed)."""
    port = services.free_port()
    client = redis.Redis.from_url(
        f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2,
    )
    yield client
    client.close()


def operations(client: redis.Redis) -> dict[str, Callable[[], Any]]:
    pool = SlotPool(client, "acct", limit=5)
    waitlist = WaitList(client, "acct")
    limiter = RateLimiter(client, "provider", rate_per_s=1.0)
    return {
        "try_acquire": lambda: pool.try_acquire("1"),
        "renew": lambda: pool.renew("1"),
        "adopt": lambda: pool.adopt("1"),
        "release": lambda: pool.release("1"),
        "in_use": pool.in_use,
        "holders": pool.holders,
        "expire_leases": pool.expire_leases,
        "reconcile": lambda: pool.reconcile(["1"]),
        "limit": pool.limit,
        "cooldown_remaining": pool.cooldown_remaining,
        "on_refused": pool.on_refused,
        "on_success": pool.on_success,
        "set_limit": lambda: pool.set_limit(3),
        "status": pool.status,
        "push": lambda: waitlist.push(1),
        "push_many": lambda: waitlist.push_many([1, 2]),
        "pop": lambda: waitlist.pop(1),
        "peek": lambda: waitlist.peek(1),
        "remove": lambda: waitlist.remove(1),
        "len": lambda: len(waitlist),
        "acquire_for_waiters": lambda: acquire_for_waiters(pool, waitlist),
        "acquire_or_wait": lambda: acquire_or_wait(pool, waitlist, "1"),
        "rate": limiter.try_acquire,
    }


NAMES = [
    "try_acquire",
    "renew",
    "adopt",
    "release",
    "in_use",
    "holders",
    "expire_leases",
    "reconcile",
    "limit",
    "cooldown_remaining",
    "on_refused",
    "on_success",
    "set_limit",
    "status",
    "push",
    "push_many",
    "pop",
    "peek",
    "remove",
    "len",
    "acquire_for_waiters",
    "acquire_or_wait",
    "rate",
]


def test_every_operation_is_covered(dead_redis: redis.Redis) -> None:
    assert sorted(operations(dead_redis)) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_fails_closed(dead_redis: redis.Redis, name: str) -> None:
    with pytest.raises(ThrottleUnavailable) as info:
        operations(dead_redis)[name]()
    assert isinstance(info.value, ThrottleError)
    assert "Redis is unavailable" in str(info.value)
    assert isinstance(info.value.__cause__, redis.ConnectionError)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in str(info.value.__cause__)


def test_script_errors_are_not_mistaken_for_an_outage(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    pool = SlotPool(redis_client, "acct", limit=5, prefix=key_prefix)
    redis_client.set(pool.keys.slots, "not a sorted set")
    with pytest.raises(redis.ResponseError):
        pool.try_acquire("1")
