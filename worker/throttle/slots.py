"""The slot pool: how many tasks one provider account has in flight, counted cluster-wide in Redis.

A job holds a slot from just before its create until it reaches a final state, failures included,
because that is what the provider counts (Kling's 1303 "parallel task over resource pack limit").
Every holder has a lease that polls renew; a dead worker's holder expires with its lease, and
`reconcile` against the ledger's in-flight jobs corrects whatever else drifted (a flushed Redis, a
release that never ran). The effective limit adapts for accounts shared with other clients: a
refusal drops it to what the provider was accepting from us and starts an account-wide cooldown; a
run of accepted creates raises it back one step at a time, never above the configured limit.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

from redis import Redis

from worker.throttle.backoff import backoff
from worker.throttle.convert import num, text
from worker.throttle.errors import fail_closed
from worker.throttle.keys import (
    DEFAULT_PREFIX,
    MIN_SLOTS_TTL_S,
    STATE_TTL_S,
    WAIT_TTL_S,
    AccountKeys,
    check_name,
)
from worker.throttle.scripts import scripts_for

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What `SlotPool.reconcile` changed."""

    released: list[str]  # holders the ledger no longer has in flight
    adopted: list[str]  # in-flight jobs the pool was not counting

    @property
    def changed(self) -> bool:
        return bool(self.released or self.adopted)


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of `SlotPool.acquire_or_wait`."""

    acquired: bool  # the caller holds a slot and may create its task now
    handed_on: list[str] = field(default_factory=list)  # other waiters that just got a slot


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """A consistent snapshot of one account's pool, for status displays."""

    configured_limit: int
    limit: int
    in_use: int
    cooldown_s: float


class SlotPool:
    """Cluster-wide concurrency slots of one provider account.

    Holders are job id strings. Every method is one atomic Redis step and raises
    `ThrottleUnavailable` when Redis cannot be reached: no slot is ever assumed.
    """

    def __init__(
        self,
        redis: Redis,
        account: str,
        *,
        limit: int,
        lease_s: float = 600.0,
        prefix: str = DEFAULT_PREFIX,
        now: Clock = time.time,
        min_limit: int = 1,
        raise_after: int = 5,
        raise_interval_s: float = 30.0,
        cooldown_base_s: float = 2.0,
        cooldown_cap_s: float = 60.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if limit < 1 or min_limit < 1:
            raise ValueError("limit and min_limit must be >= 1")
        if lease_s <= 0 or raise_after < 1 or raise_interval_s < 0:
            raise ValueError("lease_s must be > 0, raise_after >= 1, raise_interval_s >= 0")
        self.redis = redis
        self.account = check_name("account", account)
        self.keys = AccountKeys(prefix, account)
        self.lease_s = lease_s
        self.min_limit = min_limit
        self.raise_after = raise_after
        self.raise_interval_s = raise_interval_s
        self.cooldown_base_s = cooldown_base_s
        self.cooldown_cap_s = cooldown_cap_s
        self.now = now
        self._rand = rand
        self._limit = limit
        self._scripts = scripts_for(redis)
        # The pool key must outlive every lease in it; leases are set from the injected clock,
        # the key's expiry is real time, so keep a wide margin.
        self._slots_ttl_ms = str(int(max(2 * lease_s, MIN_SLOTS_TTL_S) * 1000))
        self._state_ttl_ms = str(STATE_TTL_S * 1000)
        self._leases_checked_at = -math.inf
        self._wait_ttl_ms = str(WAIT_TTL_S * 1000)

    @property
    def configured_limit(self) -> int:
        return self._limit

    def _stamp(self) -> tuple[str, str]:
        """The clock now, and the lease expiry a holder touched now gets."""
        t = self.now()
        return num(t), num(t + self.lease_s)

    def _limits(self) -> list[str]:
        return [str(self._limit), str(self.min_limit)]

    # -- holders -------------------------------------------------------------------------------

    def try_acquire(self, holder: str) -> bool:
        """Take a slot for `holder` (idempotent: a holder already in the pool just renews).

        Refused while the pool is full at the effective limit or a post-refusal cooldown runs.
        """
        now, expiry = self._stamp()
        with fail_closed("a slot"):
            got = self._scripts.acquire(
                keys=[self.keys.slots, self.keys.state],
                args=[holder, now, expiry, *self._limits(), self._slots_ttl_ms],
            )
        return bool(got)

    def renew(self, holder: str) -> bool:
        """Extend `holder`'s lease; False when it holds no slot (released or swept)."""
        _, expiry = self._stamp()
        with fail_closed("a lease renewal"):
            got = self._scripts.renew(
                keys=[self.keys.slots], args=[holder, expiry, self._slots_ttl_ms]
            )
        return bool(got)

    def adopt(self, holder: str) -> bool:
        """Count `holder` whatever the limit: its task is known to be at the provider already.

        Returns True when the pool was not counting it (it is now), False when it already was.
        """
        now, expiry = self._stamp()
        with fail_closed("a slot adoption"):
            got = self._scripts.adopt(
                keys=[self.keys.slots], args=[holder, now, expiry, self._slots_ttl_ms]
            )
        return bool(got)

    def release(self, holder: str) -> bool:
        """Free `holder`'s slot. Exactly once: only the call that removed it returns True."""
        with fail_closed("a slot release"):
            removed = self.redis.zrem(self.keys.slots, holder)
        return removed == 1

    def release_many(self, holders: list[str]) -> int:
        """Free these holders' slots in one command; returns how many of them held one."""
        if not holders:
            return 0
        with fail_closed("a slot release"):
            return int(self.redis.zrem(self.keys.slots, *holders))

    def in_use(self) -> int:
        """Holders whose lease has not passed."""
        with fail_closed("the slots in use"):
            return self.redis.zcount(self.keys.slots, f"({num(self.now())}", "+inf")

    def holders(self) -> dict[str, float]:
        """Every holder and its lease expiry, including leases that passed but were not swept."""
        with fail_closed("the slot holders"):
            pairs = cast(
                "list[tuple[bytes | str, float]]",
                self.redis.zrange(self.keys.slots, 0, -1, withscores=True),
            )
        return {text(h): float(s) for h, s in pairs}

    def renew_expiring(self, holders: Iterable[str]) -> list[str]:
        """Renew those of `holders` whose lease ends within half a lease; returns them.

        Meant to be called on every look at running jobs: the leases are read at most once a
        tenth of a lease by this pool (a lease is ten minutes; looks come every few seconds), so
        a lease is renewed with at least 40% of it left.
        """
        now = self.now()
        if now < self._leases_checked_at + self.lease_s / 10:
            return []
        self._leases_checked_at = now
        leases = self.holders()
        soon = now + self.lease_s / 2
        due = [h for h in holders if leases.get(h, 0.0) < soon]
        for holder in due:
            self.renew(holder)
        return due

    def expire_leases(self) -> list[str]:
        """Drop the holders whose lease passed (a dead worker's) and return them."""
        with fail_closed("lease expiry"):
            gone = self._scripts.expire(keys=[self.keys.slots], args=[num(self.now())])
        return [text(h) for h in gone]

    def reconcile(self, live: Iterable[str], *, grace_s: float = 60.0) -> ReconcileResult:
        """Make the pool match `live`, the ids of every job the ledger has in flight for this
        account.

        Holders not in `live` are released once their lease was last set more than `grace_s`
        ago (a job that took its slot a moment ago may not be recorded as in flight yet);
        holders whose lease passed go regardless. Live jobs the pool is not counting (Redis
        was flushed, a lease passed) are adopted whatever the limit, since the provider counts
        them; live holders' leases are extended.
        """
        t = self.now()
        cutoff = t + self.lease_s - grace_s
        with fail_closed("slot reconciliation"):
            released, adopted = self._scripts.reconcile(
                keys=[self.keys.slots],
                args=[num(t), num(t + self.lease_s), num(cutoff), self._slots_ttl_ms, *live],
            )
        return ReconcileResult([text(h) for h in released], [text(h) for h in adopted])

    # -- the adaptive limit --------------------------------------------------------------------

    def limit(self) -> int:
        """The effective limit: the configured one, or lower while adapting to refusals."""
        with fail_closed("the effective limit"):
            raw = self.redis.hget(self.keys.state, "eff")
        return self._effective(raw)

    def _effective(self, raw: bytes | str | None) -> int:
        floor = min(self.min_limit, self._limit)
        if raw is None:
            return self._limit
        return max(floor, min(self._limit, int(text(raw))))

    def cooldown_remaining(self) -> float:
        """Seconds until creates may be tried again after a refusal; 0.0 when not cooling."""
        with fail_closed("the cooldown"):
            raw = self.redis.hget(self.keys.state, "cool")
        return self._remaining(raw)

    def _remaining(self, raw: bytes | str | None) -> float:
        return 0.0 if raw is None else max(0.0, float(text(raw)) - self.now())

    def on_refused(self, retry_after: float | None = None) -> float:
        """The provider refused a create for concurrency (429 / 1303): adapt, and say how long
        every worker of the account waits before the next create.

        The effective limit drops to at most `in_use - 1` (the refused job's own slot is still
        counted: the caller releases it and puts the job back at the head of the wait list),
        and by at least one step per cooldown episode, never below `min_limit`. The cooldown
        lasts `retry_after` when the provider sent one, else a jittered exponential backoff on
        the account's streak of refusals.
        """
        with fail_closed("a refusal"):
            raw_streak = self.redis.hget(self.keys.state, "streak")
            streak = 0 if raw_streak is None else int(text(raw_streak))
            wait = backoff(
                streak,
                base=self.cooldown_base_s,
                cap=self.cooldown_cap_s,
                retry_after=retry_after,
                rand=self._rand,
                jitter="equal",
            )
            remaining, _ = self._scripts.refused(
                keys=[self.keys.slots, self.keys.state],
                args=[num(self.now()), *self._limits(), num(wait), self._state_ttl_ms],
            )
        return float(text(remaining))

    def on_success(self) -> None:
        """A create was accepted: count it towards raising an adapted limit back by one."""
        with fail_closed("a success"):
            self._scripts.succeeded(keys=[self.keys.state], args=self._success_args())

    def on_created(self, holder: str) -> bool:
        """`holder`'s create was accepted: renew its lease and count the success, in one script
        (the submit step's hot path; a pipeline of the two scripts cost redis-py a second round
        trip, to check they were loaded). Returns what `renew` would."""
        _, expiry = self._stamp()
        with fail_closed("a create's bookkeeping"):
            renewed = self._scripts.created(
                keys=[self.keys.slots, self.keys.state],
                args=[holder, expiry, self._slots_ttl_ms, *self._success_args()],
            )
        return bool(renewed)

    def _success_args(self) -> list[str]:
        return [
            num(self.now()),
            str(self._limit),
            str(self.raise_after),
            num(self.raise_interval_s),
            self._state_ttl_ms,
        ]

    def set_limit(self, limit: int) -> None:
        """The configured limit changed; an adapted limit above the new one is dropped at once."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._limit = limit
        with fail_closed("a limit change"):
            self._scripts.set_limit(keys=[self.keys.state], args=[str(limit)])

    def status(self) -> PoolStatus:
        """Limits, slots in use and cooldown read in one transaction."""
        with fail_closed("the pool status"), self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(self.keys.state, ["eff", "cool"])
            pipe.zcount(self.keys.slots, f"({num(self.now())}", "+inf")
            (eff, cool), in_use = pipe.execute()
        return PoolStatus(self._limit, self._effective(eff), int(in_use), self._remaining(cool))

    # -- handing slots to the account's wait list ----------------------------------------------

    def admit_waiters(self, n: int | None = None) -> list[str]:
        """Move the oldest jobs of this account's wait list into the pool while slots are free
        (at most `n`) and return their ids, oldest first.

        Nothing moves during a cooldown. A waiter that already holds a live slot moves without
        using another.
        """
        if n is not None and n <= 0:
            return []
        now, expiry = self._stamp()
        with fail_closed("the slot hand-on"):
            moved = self._scripts.hand_on(
                keys=[self.keys.slots, self.keys.state, self.keys.wait],
                args=[
                    now,
                    expiry,
                    *self._limits(),
                    str(n or 0),
                    self._slots_ttl_ms,
                    self._wait_ttl_ms,
                ],
            )
        return [text(h) for h in moved]

    def acquire_or_wait(self, holder: str, *, priority: float | None = None) -> Admission:
        """Take a slot if one is free and nobody waits, else join this account's wait list.

        When slots are free but others wait, they are handed on first, in order, and `holder`
        gets one only if its place allows.
        """
        now, expiry = self._stamp()
        prio = "" if priority is None else num(priority)
        with fail_closed("a slot"):
            got = self._scripts.acquire_or_wait(
                keys=[self.keys.slots, self.keys.state, self.keys.wait, self.keys.wait_seq],
                args=[
                    holder,
                    now,
                    expiry,
                    *self._limits(),
                    prio,
                    self._slots_ttl_ms,
                    self._wait_ttl_ms,
                ],
            )
        return Admission(acquired=int(got[0]) == 1, handed_on=[text(h) for h in got[1:]])
