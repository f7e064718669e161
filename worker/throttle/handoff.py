"""Handing free slots to waiting jobs, in one atomic Redis step each.

Whoever frees a slot calls `acquire_for_waiters` and enqueues the submits of exactly the ids it
returns; a periodic sweep calls it too, as the safety net. Nothing polls: a job waits in the wait
list until a slot is handed to it. `acquire_or_wait` is the way in for a job that wants a slot now:
it takes one only when nobody waits ahead of it, else it joins the list in the same step, so a slot
freed meanwhile can never be missed.
"""

from __future__ import annotations

from worker.throttle.slots import Admission, SlotPool
from worker.throttle.waitlist import WaitList


def _check_pair(pool: SlotPool, waitlist: WaitList) -> None:
    if pool.keys != waitlist.keys:
        raise ValueError("the slot pool and the wait list belong to different accounts")


def acquire_for_waiters(pool: SlotPool, waitlist: WaitList, n: int | None = None) -> list[str]:
    """Move the oldest waiters into the pool while slots are free (at most `n`) and return their
    ids, oldest first: the caller enqueues exactly their submits."""
    _check_pair(pool, waitlist)
    return pool.admit_waiters(n)


def acquire_or_wait(
    pool: SlotPool, waitlist: WaitList, holder: str, *, priority: float | None = None
) -> Admission:
    """Take a slot for `holder` if one is free and nobody waits, else queue it (idempotently).

    The caller creates its own task when `acquired` and enqueues the submits of `handed_on`.
    """
    _check_pair(pool, waitlist)
    return pool.acquire_or_wait(holder, priority=priority)
