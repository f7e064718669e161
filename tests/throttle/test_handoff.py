"""Handing freed slots to waiters: oldest first, atomically, never more than the limit."""

from __future__ import annotations

import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from redis.connection import Connection, ConnectionPool

from tests.throttle.conftest import FakeClock, MakePool
from worker.throttle import SlotPool, WaitList, acquire_for_waiters, acquire_or_wait


def test_moves_the_oldest_waiters_into_free_slots(make_pool: MakePool, waitlist: WaitList) -> None:
    pool = make_pool(limit=3)
    assert pool.try_acquire("busy")
    waitlist.push_many(["a", "b", "c", "d"])
    assert acquire_for_waiters(pool, waitlist) == ["a", "b"]
    assert set(pool.holders()) == {"busy", "a", "b"}
    assert waitlist.peek(5) == ["c", "d"]
    assert acquire_for_waiters(pool, waitlist) == []
    assert pool.release("a")
    assert acquire_for_waiters(pool, waitlist) == ["c"]


def test_n_bounds_how_many_move(make_pool: MakePool, waitlist: WaitList) -> None:
    pool = make_pool(limit=5)
    waitlist.push_many(["a", "b", "c"])
    assert acquire_for_waiters(pool, waitlist, n=0) == []
    assert acquire_for_waiters(pool, waitlist, n=2) == ["a", "b"]
    assert acquire_for_waiters(pool, waitlist) == ["c"]


def test_nothing_moves_during_a_cooldown(
    make_pool: MakePool, waitlist: WaitList, clock: FakeClock
) -> None:
    pool = make_pool(limit=5)
    waitlist.push_many(["a", "b"])
    pool.on_refused(retry_after=10.0)
    assert acquire_for_waiters(pool, waitlist) == []
    clock.advance(10.001)
    # Refused with none of ours in flight: other clients fill the account, one slot is left.
    assert acquire_for_waiters(pool, waitlist) == ["a"]


def test_a_waiter_already_holding_moves_without_a_new_slot(
    make_pool: MakePool, waitlist: WaitList
) -> None:
    pool = make_pool(limit=2)
    assert pool.try_acquire("a")
    waitlist.push_many(["a", "b", "c"])
    assert acquire_for_waiters(pool, waitlist) == ["a", "b"]
    assert pool.in_use() == 2


def test_refuses_a_pool_and_list_of_different_accounts(
    make_pool: MakePool, redis_client: redis.Redis, key_prefix: str
) -> None:
    other = WaitList(redis_client, "other", prefix=key_prefix)
    with pytest.raises(ValueError, match="different accounts"):
        acquire_for_waiters(make_pool(), other)


def test_concurrent_callers_never_over_admit(make_pool: MakePool, waitlist: WaitList) -> None:
    pool = make_pool(limit=5)
    waitlist.push_many([str(i) for i in range(100)])
    barrier = threading.Barrier(12)

    def call(_: int) -> list[str]:
        barrier.wait(timeout=10)
        return acquire_for_waiters(pool, waitlist)

    with ThreadPoolExecutor(12) as ex:
        got = [h for r in ex.map(call, range(12)) for h in r]
    assert sorted(got, key=int) == ["0", "1", "2", "3", "4"]
    assert pool.in_use() == 5
    assert len(waitlist) == 95


# Counts simultaneous holders in Redis itself: incremented after a slot is obtained, decremented
# before it is released, so it can only under-count; its peak above the limit would be a breach.
_ENTER = """
local c = redis.call('INCR', KEYS[1])
if c > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], c) end
redis.call('PEXPIRE', KEYS[1], 600000)
redis.call('PEXPIRE', KEYS[2], 600000)
return c
"""


def test_releasers_racing_hand_every_waiter_a_slot_exactly_once(
    redis_client: redis.Redis, key_prefix: str
) -> None:
    limit, jobs = 5, 300
    pool = SlotPool(redis_client, "acct", limit=limit, prefix=key_prefix)
    waitlist = WaitList(redis_client, "acct", prefix=key_prefix)
    enter = redis_client.register_script(_ENTER)
    cur, peak = f"{key_prefix}probe:cur", f"{key_prefix}probe:peak"
    waitlist.push_many([str(i) for i in range(jobs)])
    work: queue.Queue[str | None] = queue.Queue()
    admitted: list[str] = []
    lock = threading.Lock()

    def admit(ids: list[str]) -> None:
        for h in ids:
            enter(keys=[cur, peak])
            with lock:
                admitted.append(h)
            work.put(h)

    def worker() -> None:
        while (h := work.get(timeout=30)) is not None:
            redis_client.decr(cur)
            assert pool.release(h)
            admit(acquire_for_waiters(pool, waitlist))
            with lock:
                if len(admitted) == jobs and work.empty():
                    for _ in range(8):
                        work.put(None)

    admit(acquire_for_waiters(pool, waitlist))
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert sorted(admitted, key=int) == [str(i) for i in range(jobs)]
    assert int(redis_client.get(peak) or 0) <= limit
    assert len(waitlist) == 0
    assert pool.in_use() == 0


def test_acquire_or_wait_takes_a_free_slot_only_when_nobody_waits(
    make_pool: MakePool, waitlist: WaitList
) -> None:
    pool = make_pool(limit=2)
    assert acquire_or_wait(pool, waitlist, "a").acquired
    assert acquire_or_wait(pool, waitlist, "b").acquired
    late = acquire_or_wait(pool, waitlist, "c")
    assert (late.acquired, late.handed_on) == (False, [])
    assert not acquire_or_wait(pool, waitlist, "c").acquired  # still waiting, once
    assert not acquire_or_wait(pool, waitlist, "d").acquired
    assert waitlist.peek(5) == ["c", "d"]
    assert pool.release("a")
    # A slot is free but c and d were first: e queues and c is handed the slot.
    newcomer = acquire_or_wait(pool, waitlist, "e")
    assert (newcomer.acquired, newcomer.handed_on) == (False, ["c"])
    assert waitlist.peek(5) == ["d", "e"]
    assert acquire_or_wait(pool, waitlist, "c").acquired  # c's submit: it holds its slot


def test_acquire_or_wait_admits_the_caller_when_its_turn_comes(
    make_pool: MakePool, waitlist: WaitList
) -> None:
    # Slots are free while b waits (no release has handed them on yet).
    pool = make_pool(limit=3)
    assert pool.try_acquire("a")
    waitlist.push("b")
    first = acquire_or_wait(pool, waitlist, "c", priority=0.0)  # goes ahead of b
    assert (first.acquired, first.handed_on) == (True, ["b"])
    assert len(waitlist) == 0
    assert pool.in_use() == 3


def test_acquire_or_wait_queues_behind_earlier_waiters(
    make_pool: MakePool, waitlist: WaitList
) -> None:
    pool = make_pool(limit=2)
    assert pool.try_acquire("a")
    waitlist.push("b")
    got = acquire_or_wait(pool, waitlist, "c")
    assert (got.acquired, got.handed_on) == (False, ["b"])
    assert waitlist.peek(2) == ["c"]


def test_acquire_or_wait_never_strands_a_waiter(redis_client: redis.Redis, key_prefix: str) -> None:
    # Newcomers and releasers race: if a slot freed between a newcomer's "no slot" and its
    # joining the list, the newcomer would wait forever with a slot free. Every job must run.
    pool = SlotPool(redis_client, "acct", limit=3, prefix=key_prefix)
    waitlist = WaitList(redis_client, "acct", prefix=key_prefix)
    jobs = [str(i) for i in range(120)]
    ran: list[str] = []
    lock = threading.Lock()
    work: queue.Queue[str] = queue.Queue()

    def arrive(job: str) -> None:
        got = acquire_or_wait(pool, waitlist, job)
        for h in ([job] if got.acquired else []) + got.handed_on:
            work.put(h)

    def finish() -> None:
        while True:
            try:
                h = work.get(timeout=0.5)
            except queue.Empty:
                return
            with lock:
                ran.append(h)
            assert pool.release(h)
            for nxt in acquire_for_waiters(pool, waitlist):
                work.put(nxt)

    finishers = [threading.Thread(target=finish) for _ in range(4)]
    for t in finishers:
        t.start()
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(arrive, jobs))
    for t in finishers:
        t.join(timeout=60)
    # Whatever is left can only be for lack of a handoff, never of a slot.
    assert len(waitlist) == 0
    assert sorted(ran, key=int) == jobs
    assert pool.in_use() == 0


class CountingConnection(Connection):
    """A real connection that counts round trips (one per packed send)."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def test_ten_thousand_waiting_jobs_cost_nothing_while_they_wait(
    redis_url: str, key_prefix: str, clock: FakeClock
) -> None:
    client = redis.Redis(
        connection_pool=ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    )
    try:
        pool = SlotPool(client, "acct", limit=10, prefix=key_prefix, now=clock)
        waitlist = WaitList(client, "acct", prefix=key_prefix)
        ids = [str(i) for i in range(10_000)]
        client.ping()  # the connection's own handshake is not the throttle's cost
        before = CountingConnection.sends
        assert waitlist.push_many(ids) == 10_000
        assert CountingConnection.sends - before <= 10 + 2  # a thousand ids a call (+ script load)
        running = deque(acquire_for_waiters(pool, waitlist))
        order = list(running)
        assert order == ids[:10]
        # Waiting is one sorted set: no per-job key, timer or message exists while jobs wait.
        assert len(list(client.scan_iter(match=f"{key_prefix}*"))) == 3
        before = CountingConnection.sends
        while running:
            clock.advance(1.0)
            assert client.zrem(pool.keys.slots, running.popleft()) == 1
            handed = acquire_for_waiters(pool, waitlist)
            assert len(handed) <= 1
            running.extend(handed)
            order.extend(handed)
        assert order == ids
        # Each job cost exactly its own release and one hand-on, however many waited behind it.
        assert CountingConnection.sends - before == 2 * 10_000
    finally:
        client.close()
