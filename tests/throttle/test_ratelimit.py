"""RateLimiter: `rate` requests a second on the injected clock, bursts, shared by name."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import redis

from tests.throttle.conftest import FakeClock
from worker.throttle import RateLimiter

MakeLimiter = Callable[..., RateLimiter]


@pytest.fixture
def make_limiter(redis_client: redis.Redis, key_prefix: str, clock: FakeClock) -> MakeLimiter:
    def make(rate: float, burst: int = 1, name: str = "provider") -> RateLimiter:
        return RateLimiter(
            redis_client, name, rate_per_s=rate, burst=burst, prefix=key_prefix, now=clock
        )

    return make


def test_admits_rate_per_second(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(8.0)
    admitted = []
    for _ in range(1280):  # ten seconds in steps of 1/128 s (exact in binary)
        if limiter.try_acquire() == 0.0:
            admitted.append(clock.t)
        clock.advance(1 / 128)
    assert len(admitted) == 80
    gaps = {b - a for a, b in itertools.pairwise(admitted)}
    assert gaps == {0.125}


def test_a_refusal_says_how_long_to_wait(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(4.0)
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.25)
    clock.advance(0.1)
    assert limiter.try_acquire() == pytest.approx(0.15)
    clock.advance(0.15)
    assert limiter.try_acquire() == 0.0


def test_burst_allows_that_many_at_once(make_limiter: MakeLimiter, clock: FakeClock) -> None:
    limiter = make_limiter(2.0, burst=3)
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire() == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() > 0.0


def test_idle_time_does_not_bank_more_than_the_burst(
    make_limiter: MakeLimiter, clock: FakeClock
) -> None:
    limiter = make_limiter(10.0, burst=2)
    clock.advance(3600)
    assert [limiter.try_acquire() == 0.0 for _ in range(3)] == [True, True, False]


def test_limiters_of_one_name_share_the_rate(make_limiter: MakeLimiter) -> None:
    a, b, other = make_limiter(1.0), make_limiter(1.0), make_limiter(1.0, name="other")
    assert a.try_acquire() == 0.0
    assert b.try_acquire() > 0.0
    assert other.try_acquire() == 0.0


def test_rejects_nonsense(make_limiter: MakeLimiter) -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        make_limiter(0.0)
    with pytest.raises(ValueError, match="burst"):
        make_limiter(1.0, burst=0)
