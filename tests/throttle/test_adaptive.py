"""The adaptive limit: lowered on refusals, an account-wide cooldown, raised back gently."""

from __future__ import annotations

import pytest

from tests.throttle.conftest import FakeClock, MakePool
from worker.throttle import SlotPool


def fill(pool: SlotPool, n: int, start: int = 0) -> list[str]:
    holders = [str(i) for i in range(start, start + n)]
    for h in holders:
        assert pool.try_acquire(h)
    return holders


def test_a_refusal_lowers_the_limit_below_what_was_in_flight(make_pool: MakePool) -> None:
    pool = make_pool(limit=10, rand=lambda: 0.0)
    fill(pool, 6)
    pool.on_refused()
    # Six were held, the sixth was refused: the account has room for five of ours at most.
    assert pool.limit() == 5
    assert pool.configured_limit == 10


def test_a_refusal_at_the_limit_lowers_by_one(make_pool: MakePool) -> None:
    pool = make_pool(limit=3, rand=lambda: 0.0)
    fill(pool, 3)
    pool.on_refused()
    assert pool.limit() == 2


def test_never_lowered_below_min_limit(make_pool: MakePool, clock: FakeClock) -> None:
    pool = make_pool(limit=4, min_limit=2, rand=lambda: 0.0)
    for _ in range(5):
        pool.on_refused()
        clock.advance(pool.cooldown_remaining() + 0.001)
    assert pool.limit() == 2


def test_refusals_within_one_cooldown_lower_the_limit_once(make_pool: MakePool) -> None:
    pool = make_pool(limit=5, rand=lambda: 0.0)
    fill(pool, 5)
    for _ in range(4):  # concurrent creates refused together
        pool.on_refused()
    assert pool.limit() == 4


def test_cooldown_blocks_acquisition_until_it_passes(make_pool: MakePool, clock: FakeClock) -> None:
    pool = make_pool(limit=5, cooldown_base_s=2.0, rand=lambda: 0.0)
    holders = fill(pool, 3)
    wait = pool.on_refused()
    assert wait == pytest.approx(1.0)  # equal jitter, first refusal: half of the base at least
    assert pool.cooldown_remaining() == pytest.approx(1.0)
    assert pool.limit() == 2
    assert pool.release(holders[0])
    assert pool.release(holders[1])
    assert not pool.try_acquire("new")  # a slot is free, but the account is cooling down
    assert pool.try_acquire(holders[2])  # a holder keeps what it holds
    clock.advance(0.999)
    assert not pool.try_acquire("new")
    clock.advance(0.002)
    assert pool.cooldown_remaining() == 0.0
    assert pool.try_acquire("new")


def test_retry_after_sets_the_cooldown(make_pool: MakePool) -> None:
    pool = make_pool()
    assert pool.on_refused(retry_after=7.5) == pytest.approx(7.5)
    assert pool.cooldown_remaining() == pytest.approx(7.5)


def test_a_shorter_wait_never_cuts_a_running_cooldown(make_pool: MakePool) -> None:
    pool = make_pool()
    pool.on_refused(retry_after=30.0)
    assert pool.on_refused(retry_after=1.0) == pytest.approx(30.0)


def test_cooldowns_grow_with_the_refusal_streak_and_a_success_resets_it(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(limit=100, cooldown_base_s=2.0, cooldown_cap_s=10.0, rand=lambda: 0.999999)
    waits = []
    for _ in range(5):
        waits.append(pool.on_refused())
        clock.advance(waits[-1] + 0.001)
    assert waits == pytest.approx([2.0, 4.0, 8.0, 10.0, 10.0], abs=1e-4)
    pool.on_success()
    assert pool.on_refused() == pytest.approx(2.0, abs=1e-4)


def test_cooldown_is_jittered_within_equal_jitter_bounds(
    make_pool: MakePool, clock: FakeClock
) -> None:
    draws = iter([0.0, 0.5, 0.999])
    pool = make_pool(limit=100, cooldown_base_s=4.0, rand=lambda: next(draws))
    waits = []
    for _ in range(3):
        waits.append(pool.on_refused())
        clock.advance(waits[-1] + 0.001)
    # Ceilings 4, 8, 16: each wait lies in [ceiling/2, ceiling) where the draw puts it.
    assert waits == pytest.approx([2.0, 6.0, 15.992])


def test_gentle_raise_after_successes_and_time(make_pool: MakePool, clock: FakeClock) -> None:
    pool = make_pool(limit=4, raise_after=3, raise_interval_s=30.0, rand=lambda: 0.0)
    fill(pool, 4)
    pool.on_refused()
    pool.on_refused()  # same episode
    assert pool.limit() == 3
    clock.advance(pool.cooldown_remaining() + 0.001)
    for _ in range(5):
        pool.on_success()
    assert pool.limit() == 3  # enough successes, but too soon after the refusal
    clock.advance(30)
    pool.on_success()
    assert pool.limit() == 4
    for _ in range(20):
        clock.advance(60)
        pool.on_success()
    assert pool.limit() == 4  # never above the configured limit


def test_raise_needs_consecutive_successes(make_pool: MakePool, clock: FakeClock) -> None:
    pool = make_pool(limit=10, raise_after=3, raise_interval_s=0.0, rand=lambda: 0.0)
    fill(pool, 5)
    pool.on_refused()
    assert pool.limit() == 4
    clock.advance(pool.cooldown_remaining() + 0.001)
    pool.on_success()
    pool.on_success()
    assert pool.limit() == 4
    pool.on_success()
    assert pool.limit() == 5
    for _ in range(2):
        pool.on_success()
    assert pool.limit() == 5
    pool.on_success()
    assert pool.limit() == 6


def test_no_raise_during_a_cooldown(make_pool: MakePool) -> None:
    pool = make_pool(limit=5, raise_after=1, raise_interval_s=0.0)
    fill(pool, 5)
    pool.on_refused(retry_after=60.0)
    for _ in range(10):
        pool.on_success()
    assert pool.limit() == 4


def test_the_lowered_limit_holds_for_every_pool_of_the_account(
    make_pool: MakePool, clock: FakeClock
) -> None:
    here = make_pool(limit=3, rand=lambda: 0.0)
    there = make_pool(limit=3)
    fill(here, 3)
    here.on_refused()
    clock.advance(here.cooldown_remaining() + 0.001)
    assert there.limit() == 2
    assert here.release("0")
    assert here.release("1")
    assert there.try_acquire("a")
    assert not there.try_acquire("b")


def test_set_limit_caps_an_adapted_limit_and_lets_it_climb_to_a_raised_one(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(limit=8, raise_after=1, raise_interval_s=0.0, rand=lambda: 0.0)
    fill(pool, 6)
    pool.on_refused()
    assert pool.limit() == 5
    pool.set_limit(3)
    assert pool.limit() == 3
    assert pool.configured_limit == 3
    pool.set_limit(6)
    assert pool.limit() == 6  # the adapted value was dropped when the limit went below it
    with pytest.raises(ValueError, match="limit"):
        pool.set_limit(0)


def test_status_reads_everything_at_once(make_pool: MakePool) -> None:
    pool = make_pool(limit=4, rand=lambda: 0.0)
    fill(pool, 2)
    pool.on_refused(retry_after=5.0)
    status = pool.status()
    assert (status.configured_limit, status.limit, status.in_use) == (4, 1, 2)
    assert status.cooldown_s == pytest.approx(5.0)


def test_a_create_renews_its_lease_and_counts_as_a_success_in_one_call(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(limit=10, raise_after=2, raise_interval_s=0.0, rand=lambda: 0.0)
    fill(pool, 5)
    pool.on_refused()
    assert pool.limit() == 4
    clock.advance(pool.cooldown_remaining() + 0.001)
    first_lease = pool.holders()["0"]

    assert pool.on_created("0") is True
    assert pool.holders()["0"] > first_lease
    assert pool.limit() == 4  # one success of the two needed
    assert pool.on_created("1") is True
    assert pool.limit() == 5

    assert pool.release("2")
    assert pool.on_created("2") is False  # no slot to renew; the success still counts
    assert "2" not in pool.holders()
