"""When to poll: first near the expected finish, then backing off to a cap, until a deadline.

The expected finish is learned from recent completions of the same kind of render (model, mode,
seconds, audio), kept in a short Redis list so every worker host learns from every other.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from jobs.catalog import Mode
from jobs.spec import JobSpec
from worker.context import Context

HISTORY = 20
FIRST_POLL_SHARE = 0.9  # a little early beats a little late: lag counts, one extra poll is cheap
INTERVAL_SHARE = 0.1  # then poll every tenth of the expected time, growing to the cap


def profile(spec: JobSpec) -> tuple[str, str, int, bool]:
    """What a render's time depends on: specs with one profile share one learned time."""
    return (spec.model, spec.mode.value, spec.seconds, spec.audio)


def _profile_key(ctx: Context, spec: JobSpec) -> str:
    model, mode, seconds, audio = profile(spec)
    return f"{ctx.prefix}timing:{model}:{mode}:{seconds}:{int(audio)}"


def _is_slow(spec: JobSpec) -> bool:
    return spec.mode is Mode.OMNI or spec.audio or bool(spec.shots)


def expected_seconds(ctx: Context, spec: JobSpec) -> float:
    """Median of recent completions of this kind, else the configured default."""
    raw = ctx.redis.lrange(_profile_key(ctx, spec), 0, HISTORY - 1)
    if raw:
        return statistics.median(float(x) for x in raw)
    default = ctx.settings.poll.default_expected_s
    return default * 2.5 if _is_slow(spec) else default


def record_completions(ctx: Context, done: list[tuple[JobSpec, float]]) -> None:
    """Remember how long these renders took, per render profile, in one round trip."""
    if not done:
        return
    by_key: defaultdict[str, list[str]] = defaultdict(list)
    for spec, seconds in done:
        by_key[_profile_key(ctx, spec)].append(f"{seconds:.3f}")
    pipe = ctx.redis.pipeline(transaction=False)
    for key, values in by_key.items():
        pipe.lpush(key, *values)
        pipe.ltrim(key, 0, HISTORY - 1)
        pipe.expire(key, 7 * 24 * 3600)
    pipe.execute()


def first_poll_delay(ctx: Context, spec: JobSpec) -> float:
    poll = ctx.settings.poll
    return max(poll.min_interval_s, FIRST_POLL_SHARE * expected_seconds(ctx, spec))


def next_poll_delay(ctx: Context, spec: JobSpec, polls_done: int) -> float:
    """Delay before poll number `polls_done + 1` (after the first), growing geometrically."""
    poll = ctx.settings.poll
    start = max(poll.min_interval_s, INTERVAL_SHARE * expected_seconds(ctx, spec))
    delay = start * poll.backoff_factor ** max(0, polls_done - 1)
    return min(poll.max_interval_s, delay)


def deadline_seconds(ctx: Context, spec: JobSpec) -> float:
    poll = ctx.settings.poll
    return poll.deadline_s * (poll.slow_deadline_factor if _is_slow(spec) else 1.0)
