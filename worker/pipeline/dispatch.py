"""Handing free slots to waiting jobs, and the sweep that keeps slots honest.

Jobs wait for a slot in a Redis wait list, not as tasks: a waiting job costs no task execution, no
countdown message and no ledger write, however many wait. Whoever frees a slot calls `dispatch`,
which atomically moves the oldest waiters into the slot pool and enqueues exactly their submits.
When nothing is in flight to free a slot (after a 429 cooldown, say), one deduplicated wake-up
message runs `dispatch` again when the cooldown ends; the sweep is the safety net for everything
else.
"""

from __future__ import annotations

from contextlib import suppress
from weakref import WeakKeyDictionary

from redis import Redis
from redis.commands.core import Script

from jobs.ledger import LedgerUnavailable
from worker.context import Context, JobIdentity, JobRef
from worker.names import Task
from worker.throttle import acquire_for_waiters

SWEEP_EVERY_S = 30.0


def schedule_mark(ctx: Context, what: str) -> str:
    return f"{ctx.prefix}scheduled:{what}:{ctx.account}"


def schedule_once(
    ctx: Context, what: str, task: Task, delay: float, *, hold: float = 0.0, grace: float = 0.0
) -> bool:
    """Enqueue `task` after `delay` unless one is already scheduled.

    The mark is a Redis key holding the message's due time. It lives until the message is due
    (at least `hold` seconds), so a burst of callers schedules one message, not one each, and
    `grace` seconds more for a chain of messages whose next link the running one schedules (see
    `claim_scheduled`): a mark gone while its message waits to run lets a second chain start.
    """
    if mark_scheduled(ctx, what, delay, hold=hold, grace=grace):
        ctx.enqueue(task, None, delay)
        return True
    return False


def mark_scheduled(
    ctx: Context, what: str, delay: float, *, hold: float = 0.0, grace: float = 0.0
) -> bool:
    """Announce the next run of `what` in `delay` seconds unless one is announced already; the
    caller then owes that run (a message, or a running task that stays for it)."""
    ttl_ms = max(1, int((max(delay, hold) + grace) * 1000))
    due = ctx.now() + delay
    return bool(ctx.redis.set(schedule_mark(ctx, what), repr(due), nx=True, px=ttl_ms))


# KEYS: the mark. ARGV: now + tolerance. 1 when the running message may go on (it is the one the
# mark announced, whose mark is now cleared for its successor, or no mark is left), 0 when the
# mark announces a later message: the running one is a duplicate.
_CLAIM = """
local due = redis.call('GET', KEYS[1])
if not due then return 1 end
if tonumber(due) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

_claim_scripts: WeakKeyDictionary[Redis, Script] = WeakKeyDictionary()


def claim_scheduled(ctx: Context, what: str, tolerance: float) -> bool:
    """Whether the running message of a chain scheduled with `schedule_once` is the one its mark
    announced (give or take `tolerance` seconds), clearing the mark for its successor if so."""
    script = _claim_scripts.get(ctx.redis)
    if script is None:
        script = _claim_scripts[ctx.redis] = ctx.redis.register_script(_CLAIM)
    return bool(script(keys=[schedule_mark(ctx, what)], args=[repr(ctx.now() + tolerance)]))


def dispatch(ctx: Context) -> list[int]:
    """Give every free slot to the oldest waiting job; returns the ids whose submit was enqueued."""
    admitted = [int(h) for h in acquire_for_waiters(ctx.pool, ctx.waitlist)]
    for job in _identities(ctx, admitted):
        ctx.enqueue(Task.SUBMIT, job)
    if admitted:
        schedule_once(ctx, "sweep", Task.SWEEP, SWEEP_EVERY_S)
        return admitted
    if len(ctx.waitlist) > 0:
        wait = ctx.pool.cooldown_remaining()
        if wait > 0:
            schedule_once(ctx, "wake", Task.DISPATCH, wait)
        schedule_once(ctx, "sweep", Task.SWEEP, SWEEP_EVERY_S)
    elif ctx.pool.in_use() > 0:
        schedule_once(ctx, "sweep", Task.SWEEP, SWEEP_EVERY_S)
    return admitted


def _identities(ctx: Context, job_ids: list[int]) -> list[JobIdentity]:
    """The jobs as their messages name them, in admission order. While the ledger is
    unreachable, their ids alone: the jobs have just left the wait list, so failing here would
    strand them holding slots with no submit (the submit step needs only the id, and waits out
    the outage itself)."""
    if not job_ids:
        return []
    named: dict[int, JobIdentity] = {}
    with suppress(LedgerUnavailable):
        named.update((job.id, job) for job in ctx.ledger.names(job_ids))
    return [named.get(job_id) or JobRef(job_id, 0, "") for job_id in job_ids]


def release_slot(ctx: Context, job_id: int) -> None:
    """Free the job's slot (exactly once) and hand it on to the next waiter."""
    if ctx.pool.release(str(job_id)):
        dispatch(ctx)


def enqueue_waiting(ctx: Context, job_ids: list[int]) -> None:
    """Put jobs in the wait list (idempotent) and dispatch as many as there are free slots."""
    if job_ids:
        ctx.waitlist.push_many(job_ids)
    dispatch(ctx)
