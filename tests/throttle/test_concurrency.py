"""The limit holds under real concurrency: many threads and processes against one Redis."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.synchronize import Barrier

import redis

from tests import services
from worker.throttle import SlotPool

LIMIT = 5

# Counts simultaneous holders in Redis itself: incremented after a slot is obtained, decremented
# before it is released, so it can only under-count real holders; a peak above the limit is a
# breach. The peak key also records that contention really happened.
_ENTER = """
local c = redis.call('INCR', KEYS[1])
if c > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], c) end
redis.call('PEXPIRE', KEYS[1], 600000)
redis.call('PEXPIRE', KEYS[2], 600000)
return c
"""


def hammer(client: redis.Redis, prefix: str, name: str, rounds: int) -> int:
    """Try for a slot `rounds` times, hold it across a few round trips, release; returns how
    many times a slot was obtained."""
    pool = SlotPool(client, "acct", limit=LIMIT, prefix=prefix)
    enter = client.register_script(_ENTER)
    cur, peak = f"{prefix}probe:cur", f"{prefix}probe:peak"
    got = 0
    for i in range(rounds):
        holder = f"{name}-{i}"
        if not pool.try_acquire(holder):
            continue
        got += 1
        enter(keys=[cur, peak])
        pool.renew(holder)  # the hold spans real work, here a couple of round trips
        client.decr(cur)
        if not pool.release(holder):
            raise AssertionError(f"{holder} was released by someone else")
    return got


def _process_main(url: str, prefix: str, idx: int, rounds: int, barrier: Barrier) -> None:
    client = redis.Redis.from_url(url)
    barrier.wait(timeout=60)
    hammer(client, prefix, f"p{idx}", rounds)
    client.close()


def peak_of(client: redis.Redis, prefix: str) -> int:
    return int(client.get(f"{prefix}probe:peak") or 0)


def test_sixteen_threads_never_exceed_the_limit(redis_client: redis.Redis, key_prefix: str) -> None:
    barrier = threading.Barrier(16)

    def run(idx: int) -> int:
        barrier.wait(timeout=10)
        return hammer(redis_client, key_prefix, f"t{idx}", 150)

    with ThreadPoolExecutor(16) as ex:
        obtained = sum(ex.map(run, range(16)))
    assert peak_of(redis_client, key_prefix) == LIMIT  # contended, and never above
    assert obtained > LIMIT
    assert SlotPool(redis_client, "acct", limit=LIMIT, prefix=key_prefix).in_use() == 0


def test_eight_processes_never_exceed_the_limit(redis_client: redis.Redis, key_prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(8)
    procs = [
        ctx.Process(target=_process_main, args=(services.REDIS_URL, key_prefix, i, 200, barrier))
        for i in range(8)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 8
    assert 1 <= peak_of(redis_client, key_prefix) <= LIMIT
    assert SlotPool(redis_client, "acct", limit=LIMIT, prefix=key_prefix).in_use() == 0


def test_racing_releases_free_each_slot_exactly_once(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    pool = SlotPool(redis_client, "acct", limit=64, prefix=key_prefix)
    holders = [str(i) for i in range(40)]
    for h in holders:
        assert pool.try_acquire(h)
    barrier = threading.Barrier(8)

    def release_all(_: int) -> list[str]:
        barrier.wait(timeout=10)
        return [h for h in holders if pool.release(h)]

    with ThreadPoolExecutor(8) as ex:
        freed = [h for r in ex.map(release_all, range(8)) for h in r]
    assert sorted(freed, key=int) == holders  # each exactly once, by exactly one caller
    assert pool.in_use() == 0


def test_racing_acquires_of_one_holder_take_one_slot(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    pool = SlotPool(redis_client, "acct", limit=2, prefix=key_prefix)
    barrier = threading.Barrier(10)

    def acquire(_: int) -> bool:
        barrier.wait(timeout=10)
        return pool.try_acquire("same")

    with ThreadPoolExecutor(10) as ex:
        assert all(ex.map(acquire, range(10)))
    assert pool.in_use() == 1
