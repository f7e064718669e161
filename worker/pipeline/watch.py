"""Watching every task in flight of an account with the provider's list endpoint.

One list request reports up to 500 of the account's newest tasks, so a look every few seconds sees
each task finish soon after it does, at a cost that does not grow with the number of jobs: per-job
polls would need a request per job per look to match that detection lag. Each look ends in one
`watch` message scheduled for the next look while anything is in flight; a task the lists did not
show (too old to be on the first pages) gets an individual poll, and so does a job past its
deadline, whose poll makes the last query before giving up.

A look's message may stay for the looks that follow (`watch_turn`): on a worker with a slot to
spare, the task sleeps until the next look instead of sending a message for it, for up to
`poll.watch_turn_s`. A message costs its worker about 1 ms of CPU on top of the look (receiving
it, timing its countdown, acknowledging it, sending the next; ops/bench/RESULTS.md), an eighth
of a look's whole cost, paid every few seconds. On a worker with a single slot the task hands
over after every look, as its sleep would hold up every other message for that worker.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from jobs.ledger import JobRecord, Move, SettledJob, WatchedJob
from jobs.ledger.states import JobState
from worker.context import Context
from worker.logs import job_log_context
from worker.names import Task
from worker.pipeline.dispatch import claim_scheduled, mark_scheduled, schedule_once
from worker.pipeline.schedule import (
    deadline_seconds,
    expected_seconds,
    first_poll_delay,
    profile,
)
from worker.pipeline.settle import elapsed_since_submit, settle, settle_succeeded
from worker.providers import ProviderState, TaskStatus
from worker.providers.errors import ProviderError

log = logging.getLogger(__name__)

PAGE_SIZE = 500
MIN_PAGE_SIZE = 50
MAX_PAGES = 4
# A look every 8% of the expected (median) render time keeps the detection lag's p95 under 10% of
# it, while the looks per job, (mean render time / slots) / interval, stay near 3 even at 5 slots.
LOOK_SHARE = 0.08


def next_look_delay(ctx: Context, jobs: Sequence[SettledJob]) -> float:
    poll = ctx.settings.poll
    # One learned time per render profile, not per job: a look costs the same at 10 or 500 slots.
    by_profile = {profile(j.spec): j.spec for j in jobs}
    soonest = min(expected_seconds(ctx, spec) for spec in by_profile.values())
    return min(poll.max_interval_s, max(poll.min_interval_s, LOOK_SHARE * soonest))


def ensure_watch(ctx: Context, delay: float = 0.0) -> bool:
    """Schedule a look unless one is already scheduled (one watch chain per account)."""
    return schedule_once(ctx, "watch", Task.WATCH, delay, **_look_mark(ctx))


def _announce_look(ctx: Context, delay: float) -> bool:
    """Mark the next look as owed by a turn that stays for it, as `ensure_watch` marks it for a
    message."""
    return mark_scheduled(ctx, "watch", delay, **_look_mark(ctx))


def _look_mark(ctx: Context) -> dict[str, float]:
    """How long the mark of the next look lives: until it is due, and then a grace."""
    # The grace covers a message's usual lateness; a look later than that finds a successor
    # announced and ends. It is short because after a worker died holding the next look, its
    # mark is what keeps `kbatch resume` and the sweep from starting a new chain.
    interval = ctx.settings.poll.min_interval_s
    return {"hold": interval, "grace": interval}


def watch_account(ctx: Context) -> float | None:
    """One look at every watched task; returns the delay until the next look, None when idle."""
    jobs = ctx.ledger.watched()
    if not jobs:
        return None
    groups: defaultdict[str, list[WatchedJob]] = defaultdict(list)
    for job in jobs:
        groups[ctx.provider.listing_key(job.spec)].append(job)
    seen: list[tuple[WatchedJob, TaskStatus]] = []
    for group in groups.values():
        unseen = _look(ctx, group, seen)
        for job in unseen:
            _poll_alone(ctx, job)
    # Many renders can end between two looks (hundreds of slots): they are settled together,
    # in one database transaction with the moves of those that started.
    started = [
        Move(j.id, JobState.SUBMITTED, JobState.PROCESSING)
        for j, s in seen
        if j.state is JobState.SUBMITTED and s.state is ProviderState.RUNNING
    ]
    succeeded = [(j, s) for j, s in seen if s.state is ProviderState.SUCCEEDED]
    settle_succeeded(ctx, succeeded, also=started)
    for job, status in seen:
        if status.state is ProviderState.FAILED:
            with job_log_context(batch=job.batch_id, job=job.key, job_id=job.id):
                settle(ctx, job, status)
        elif not status.is_final and elapsed_since_submit(ctx, job) > deadline_seconds(
            ctx, job.spec
        ):
            _poll_alone(ctx, job)  # the last word before the deadline is a poll's
    ctx.pool.renew_expiring([str(job.id) for job, status in seen if not status.is_final])
    return next_look_delay(ctx, jobs)


def _look(
    ctx: Context, group: list[WatchedJob], seen: list[tuple[WatchedJob, TaskStatus]]
) -> list[WatchedJob]:
    """List pages until every job of the group was seen; returns the ones that were not."""
    wanted = {job.provider_task_id: job for job in group}
    oldest = min((j.submitted_at for j in group if j.submitted_at), default=None)
    # Pages a little larger than what is in flight: the newest tasks are mostly ours, and a
    # 500-task page costs transfer and decoding where a few dozen are wanted.
    size = min(PAGE_SIZE, max(MIN_PAGE_SIZE, 2 * len(wanted)))
    for page in range(1, MAX_PAGES + 1):
        try:
            listing = ctx.provider.list_recent(group[0].spec, page=page, size=size, wanted=wanted)
        except ProviderError as exc:
            # Per-job polls are the fallback; a failing list must not fail any job.
            log.warning("listing tasks failed: %s", exc)
            return list(wanted.values())
        for status in listing.statuses:
            job = wanted.pop(status.task_id, None)
            if job is not None:
                seen.append((job, status))
        last = listing.oldest
        if not wanted or listing.count < size or (oldest and last and last < oldest):
            break
    return list(wanted.values())


def _poll_alone(ctx: Context, job: WatchedJob) -> None:
    """An individual poll for this job, at most one per poll interval cap."""
    key = f"{ctx.prefix}scheduled:poll:{job.id}"
    if ctx.redis.set(key, "1", nx=True, px=int(ctx.settings.poll.max_interval_s * 1000)):
        ctx.enqueue(Task.POLL, job)


def _never() -> bool:
    return False


def watch_turn(
    ctx: Context,
    stay: Callable[[], bool] = _never,
    wait: Callable[[float], None] = time.sleep,
) -> int:
    """Look, and go on looking while `stay()` allows and the turn lasts; returns the looks made.

    The next look is always announced by the chain's mark, whether a message or this task owes
    it, so `kbatch resume`, the sweep and new submits find it and start no second chain. A look
    whose mark announces a later one is a duplicate (scheduled while the mark was gone, or
    delivered twice) and ends, so one chain of looks runs per account however many were started.
    `wait(seconds)` sleeps until the next look, returning early when the worker is asked to stop;
    `stay` is asked after each look and after each wait, and once it says no, the next look is
    handed to a message.
    """
    poll = ctx.settings.poll
    # The steps' clock, not a monotonic one: the tests' harness moves it instead of sleeping.
    turn_ends = ctx.now() + poll.watch_turn_s
    looks = 0
    while claim_scheduled(ctx, "watch", tolerance=poll.min_interval_s):
        delay = watch_account(ctx)
        looks += 1
        if delay is None:
            break
        due = ctx.now() + delay
        if due > turn_ends or not stay():
            ensure_watch(ctx, delay)
            break
        if not _announce_look(ctx, delay):
            break  # a look was scheduled meanwhile (a new submit, say): its message goes on
        while (left := due - ctx.now()) > 0:
            if not stay():
                ctx.enqueue(Task.WATCH, None, left)  # the mark already announces it
                return looks
            wait(left)
    return looks


def start_watching(ctx: Context, job: JobRecord) -> None:
    """A job was just submitted: make sure someone looks for its end (a list look, or its polls)."""
    if ctx.provider.supports_listing:
        ensure_watch(ctx, next_look_delay(ctx, [job]))
    else:
        ctx.enqueue(Task.POLL, job, first_poll_delay(ctx, job.spec))
