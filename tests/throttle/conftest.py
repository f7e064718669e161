"""Throttle test fixtures: a clock moved by hand, pools and lists on the test's own keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from worker.throttle import SlotPool, WaitList


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakePool = Callable[..., SlotPool]


@pytest.fixture
def make_pool(redis_client: redis.Redis, key_prefix: str, clock: FakeClock) -> MakePool:
    """A `SlotPool` of account `acct` on this test's keys and clock; keywords override."""

    def make(limit: int = 5, **kw: Any) -> SlotPool:
        kw.setdefault("prefix", key_prefix)
        kw.setdefault("now", clock)
        return SlotPool(redis_client, kw.pop("account", "acct"), limit=limit, **kw)

    return make


@pytest.fixture
def waitlist(redis_client: redis.Redis, key_prefix: str) -> WaitList:
    return WaitList(redis_client, "acct", prefix=key_prefix)
