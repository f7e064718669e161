"""Cluster-wide throttling in Redis: concurrency slots with leases and an adaptive limit, the wait
list that holds jobs until a slot frees, backoff, and an optional request-rate limit.

Every decision is one atomic Lua script on Redis, and Redis being unreachable raises
`ThrottleUnavailable`: for a paid API the throttle fails closed and never assumes a free slot.
"""

from __future__ import annotations

from worker.throttle.backoff import Jitter, backoff
from worker.throttle.errors import ThrottleError, ThrottleUnavailable
from worker.throttle.handoff import acquire_for_waiters, acquire_or_wait
from worker.throttle.keys import DEFAULT_PREFIX, AccountKeys
from worker.throttle.ratelimit import RateLimiter
from worker.throttle.slots import Admission, PoolStatus, ReconcileResult, SlotPool
from worker.throttle.waitlist import WaitList

__all__ = [
    "DEFAULT_PREFIX",
    "AccountKeys",
    "Admission",
    "Jitter",
    "PoolStatus",
    "RateLimiter",
    "ReconcileResult",
    "SlotPool",
    "ThrottleError",
    "ThrottleUnavailable",
    "WaitList",
    "acquire_for_waiters",
    "acquire_or_wait",
    "backoff",
]
