"""SlotPool holders: idempotent acquire, leases, exactly-once release, reconciliation."""

from __future__ import annotations

import pytest
import redis

from tests.throttle.conftest import FakeClock, MakePool
from worker.throttle import SlotPool, WaitList
from worker.throttle.scripts import scripts_for


def test_acquire_is_idempotent_and_refreshes_the_lease(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(limit=2, lease_s=10.0)
    assert pool.try_acquire("1")
    clock.advance(6)
    assert pool.try_acquire("1")
    assert pool.in_use() == 1
    assert pool.holders() == {"1": clock.t + 10.0}
    clock.advance(6)  # past the first lease, within the refreshed one
    assert pool.in_use() == 1


def test_refuses_at_the_limit_and_admits_after_a_release(make_pool: MakePool) -> None:
    pool = make_pool(limit=2)
    assert pool.try_acquire("1")
    assert pool.try_acquire("2")
    assert not pool.try_acquire("3")
    assert pool.try_acquire("1")  # a holder at the limit still holds
    assert pool.release("1")
    assert pool.try_acquire("3")
    assert set(pool.holders()) == {"2", "3"}


def test_release_is_true_only_once(make_pool: MakePool) -> None:
    pool = make_pool()
    assert pool.try_acquire("7")
    assert pool.release("7")
    assert not pool.release("7")
    assert not pool.release("never-held")
    assert pool.in_use() == 0


def test_renew_expiring_renews_leases_past_half_and_reads_them_a_tenth_of_a_lease_apart(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(lease_s=100.0)
    assert pool.try_acquire("old")
    clock.advance(30)
    assert pool.try_acquire("new")
    clock.advance(25)  # "old" has 45 s left, "new" 75 s
    assert pool.renew_expiring(["old", "new", "gone"]) == ["old", "gone"]
    assert pool.holders() == {"old": clock.t + 100.0, "new": clock.t + 75.0}  # "gone" holds none
    clock.advance(45)  # "old" 55 s left, "new" 30 s
    assert pool.renew_expiring(["old", "new"]) == ["new"]
    clock.advance(6)  # "old" is due now (49 s left), but the leases were read 6 s ago
    assert pool.renew_expiring(["old", "new"]) == []
    clock.advance(4)
    assert pool.renew_expiring(["old", "new"]) == ["old"]
    assert pool.holders()["old"] == clock.t + 100.0


def test_renew_extends_only_a_held_slot(make_pool: MakePool, clock: FakeClock) -> None:
    pool = make_pool(lease_s=10.0)
    assert not pool.renew("1")
    assert pool.try_acquire("1")
    clock.advance(8)
    assert pool.renew("1")
    assert pool.holders()["1"] == clock.t + 10.0
    pool.release("1")
    assert not pool.renew("1")
    assert pool.holders() == {}


def test_a_dead_holders_lease_expires_and_frees_its_slot(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(limit=1, lease_s=30.0)
    assert pool.try_acquire("dead")
    assert not pool.try_acquire("next")
    clock.advance(30)
    assert pool.in_use() == 0
    assert pool.try_acquire("next")  # the passed lease no longer counts
    assert pool.expire_leases() == ["dead"]
    assert pool.expire_leases() == []
    assert not pool.release("dead")  # the sweep freed it; nobody frees it twice
    assert not pool.renew("dead")
    assert list(pool.holders()) == ["next"]


def test_a_late_renewal_counts_the_task_again(make_pool: MakePool, clock: FakeClock) -> None:
    # The lease passed but the holder was not swept yet: the task it stands for is still running
    # at the provider, so it is counted again rather than forgotten.
    pool = make_pool(limit=1, lease_s=5.0)
    assert pool.try_acquire("slow")
    clock.advance(6)
    assert pool.in_use() == 0
    assert pool.renew("slow")
    assert pool.in_use() == 1
    assert not pool.try_acquire("other")


def test_an_expired_holder_must_find_room_to_acquire_again(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(limit=1, lease_s=5.0)
    assert pool.try_acquire("a")
    clock.advance(6)
    assert pool.try_acquire("b")
    assert not pool.try_acquire("a")


def test_adopt_counts_a_task_whatever_the_limit(make_pool: MakePool) -> None:
    pool = make_pool(limit=1)
    assert pool.try_acquire("1")
    assert pool.adopt("2")
    assert not pool.adopt("2")
    assert pool.in_use() == 2
    assert not pool.try_acquire("3")


def test_reconcile_releases_orphans_and_adopts_live_jobs(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(limit=3, lease_s=600.0)
    for holder in ("a", "b", "c"):
        assert pool.try_acquire(holder)
    clock.advance(120)
    result = pool.reconcile(["b", "c", "d"], grace_s=60.0)
    assert result.released == ["a"]
    assert result.adopted == ["d"]
    assert result.changed
    assert set(pool.holders()) == {"b", "c", "d"}
    assert pool.holders()["b"] == clock.t + 600.0  # live holders' leases are extended
    again = pool.reconcile(["b", "c", "d"], grace_s=60.0)
    assert (again.released, again.adopted, again.changed) == ([], [], False)


def test_reconcile_spares_a_slot_taken_within_the_grace(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(lease_s=600.0)
    assert pool.try_acquire("old")
    clock.advance(100)
    assert pool.try_acquire("fresh")  # took its slot, not yet recorded as in flight
    clock.advance(10)
    result = pool.reconcile([], grace_s=60.0)
    assert result.released == ["old"]
    assert set(pool.holders()) == {"fresh"}


def test_reconcile_releases_passed_leases_regardless_of_grace(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(lease_s=10.0)
    assert pool.try_acquire("gone")
    clock.advance(11)
    assert pool.reconcile([], grace_s=3600.0).released == ["gone"]


def test_reconcile_readopts_live_jobs_after_redis_lost_the_keys(
    make_pool: MakePool, redis_client: redis.Redis, clock: FakeClock
) -> None:
    pool = make_pool(limit=2)
    assert pool.try_acquire("1")
    assert pool.try_acquire("2")
    redis_client.delete(pool.keys.slots, pool.keys.state)  # a restart without persistence
    assert pool.in_use() == 0
    result = pool.reconcile(["1", "2", "3", "2"])
    assert result.adopted == ["1", "2", "3"]
    assert result.released == []
    assert pool.in_use() == 3  # over the limit: the provider counts all three
    assert not pool.try_acquire("4")


def test_reconcile_counts_a_passed_live_lease_as_adopted(
    make_pool: MakePool, clock: FakeClock
) -> None:
    pool = make_pool(lease_s=10.0)
    assert pool.try_acquire("1")
    clock.advance(20)
    assert pool.reconcile(["1"]).adopted == ["1"]
    assert pool.in_use() == 1


def test_every_key_has_an_expiry_or_is_a_single_counter(
    make_pool: MakePool, waitlist: WaitList, redis_client: redis.Redis, key_prefix: str
) -> None:
    pool = make_pool(limit=2)
    pool.try_acquire("1")
    waitlist.push_many(["2", "3"])
    pool.on_refused()
    keys = {k.decode() for k in redis_client.scan_iter(match=f"{key_prefix}*")}
    assert keys == {pool.keys.slots, pool.keys.state, pool.keys.wait, pool.keys.wait_seq}
    for key in keys - {pool.keys.wait_seq}:
        assert redis_client.pttl(key) > 0, key
    assert redis_client.type(pool.keys.wait_seq) == b"string"


def test_works_with_a_decoding_client(redis_url: str, key_prefix: str, clock: FakeClock) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        pool = SlotPool(client, "acct", limit=1, prefix=key_prefix, now=clock)
        assert pool.try_acquire("x")
        assert pool.holders() == {"x": clock.t + 600.0}
        assert pool.expire_leases() == []
        assert pool.limit() == 1
    finally:
        client.close()


def test_scripts_are_registered_once_per_client(
    make_pool: MakePool, redis_client: redis.Redis
) -> None:
    assert scripts_for(redis_client) is scripts_for(redis_client)
    assert make_pool()._scripts is make_pool(account="other")._scripts


def test_pools_of_different_accounts_do_not_share_slots(make_pool: MakePool) -> None:
    a = make_pool(limit=1, account="team-a")
    b = make_pool(limit=1, account="team-b")
    assert a.try_acquire("1")
    assert b.try_acquire("2")
    assert not a.try_acquire("3")


@pytest.mark.parametrize("account", ["", "a b", "x{y}", "é"])
def test_rejects_account_names_unfit_for_keys(make_pool: MakePool, account: str) -> None:
    with pytest.raises(ValueError, match="account name"):
        make_pool(account=account)


def test_rejects_nonsense_limits(make_pool: MakePool) -> None:
    with pytest.raises(ValueError, match="limit"):
        make_pool(limit=0)
    with pytest.raises(ValueError, match="lease_s"):
        make_pool(lease_s=0)


def test_release_many_frees_the_slots_held_and_counts_only_those(make_pool: MakePool) -> None:
    pool = make_pool(limit=3)
    for holder in ("a", "b", "c"):
        assert pool.try_acquire(holder)
    assert pool.release_many(["a", "c", "never-held"]) == 2
    assert set(pool.holders()) == {"b"}
    assert pool.release_many(["a"]) == 0
    assert pool.release_many([]) == 0
