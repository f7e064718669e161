"""Throughput of the throttle against a real Redis: acquire+release round trips per second, the
cost of handing a freed slot on with few or many jobs waiting, and rate-limiter checks per second.

    python -m ops.bench.throttle_bench [--redis-url URL] [--seconds S] [--waiting N]

Keys live under a prefix of the run's own and are deleted at the end; nothing else is touched.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable

import redis

from worker.throttle import RateLimiter, SlotPool, WaitList, acquire_for_waiters


def rate(seconds: float, step: Callable[[int], None]) -> tuple[int, float]:
    """Run `step(i)` for about `seconds`; returns (calls, calls per second)."""
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            step(n)
            n += 1
    return n, n / (time.perf_counter() - start)


def bench_acquire_release(client: redis.Redis, prefix: str, seconds: float) -> float:
    pool = SlotPool(client, "bench", limit=10, prefix=prefix)

    def step(i: int) -> None:
        holder = str(i)
        if not pool.try_acquire(holder) or not pool.release(holder):
            raise RuntimeError("the slot pool refused an uncontended acquire")

    _, per_s = rate(seconds, step)
    return per_s


def bench_hand_on(client: redis.Redis, prefix: str, seconds: float, waiting: int) -> float:
    """Steps per second with `waiting` jobs behind a limit of 10; a step is what a finished job
    costs (release, hand the slot on) plus one new job joining the list, so the list stays at
    `waiting` for the whole run."""
    pool = SlotPool(client, "handon", limit=10, prefix=prefix)
    waitlist = WaitList(client, "handon", prefix=prefix)
    waitlist.push_many(f"w{i}" for i in range(waiting + 10))
    running = acquire_for_waiters(pool, waitlist)

    def step(i: int) -> None:
        slot = i % len(running)
        pool.release(running[slot])
        waitlist.push(f"n{i}")
        running[slot] = acquire_for_waiters(pool, waitlist)[0]

    _, per_s = rate(seconds, step)
    return per_s


def _limiter_step(limiter: RateLimiter) -> Callable[[int], None]:
    def step(_: int) -> None:
        limiter.try_acquire()

    return step


def bench_rate_limiter(client: redis.Redis, prefix: str, seconds: float) -> float:
    limiter = RateLimiter(client, "bench", rate_per_s=1e9, burst=1000, prefix=prefix)
    _, per_s = rate(seconds, _limiter_step(limiter))
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--redis-url", default=os.environ.get("KBATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--waiting", type=int, default=10_000)
    args = parser.parse_args()

    client = redis.Redis.from_url(args.redis_url)
    prefix = f"kbatch-bench:{uuid.uuid4().hex[:8]}:"
    try:
        pairs = bench_acquire_release(client, prefix, args.seconds)
        print(f"acquire+release round trips: {pairs:,.0f}/s ({1e6 / pairs:.0f} us each)")
        for waiting in (0, args.waiting):
            per_s = bench_hand_on(client, f"{prefix}{waiting}:", args.seconds, waiting)
            print(
                f"release+push+hand-on with {waiting:,} waiting: {per_s:,.0f}/s "
                f"({1e6 / per_s:.0f} us each)"
            )
        checks = bench_rate_limiter(client, prefix, args.seconds)
        print(f"rate limiter checks: {checks:,.0f}/s")
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
