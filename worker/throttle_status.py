"""A read-only view of one account's throttle for status displays, and the log of recent provider
refusals (HTTP 429: Kling's 1303 "over the concurrency limit" and 1302 "too many requests") that
the view reports.

The refusal log is one sorted set per account (member: kind, time and a random tag; score: time)
trimmed to a window on every write and expiring with it, so it never grows and never outlives its
use. Recording is bookkeeping for people watching: it never raises into the step that was refused.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.throttle import SlotPool, ThrottleError, WaitList
from worker.throttle.convert import num, text
from worker.throttle.keys import DEFAULT_PREFIX, AccountKeys

log = logging.getLogger(__name__)

REFUSAL_WINDOW_S = 300.0

Clock = Callable[[], float]


class RefusalKind(StrEnum):
    CONCURRENCY = "concurrency"  # 1303: the account's parallel-task limit
    RATE = "rate"  # 1302: the request rate


def refusals_key(prefix: str, account: str) -> str:
    """Sorted set beside the account's slot pool (same hash tag): refusal -> epoch seconds."""
    return f"{AccountKeys(prefix, account).base}:refusals"


class RefusalLog:
    """Provider refusals of one account over the last `window_s` seconds, cluster-wide."""

    def __init__(
        self,
        redis: Redis,
        account: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        window_s: float = REFUSAL_WINDOW_S,
        now: Clock = time.time,
    ) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self.redis = redis
        self.key = refusals_key(prefix, account)
        self.window_s = window_s
        self.now = now

    def record(self, kind: RefusalKind = RefusalKind.CONCURRENCY) -> None:
        """Count one refusal now; a Redis failure is logged, never raised."""
        t = self.now()
        member = f"{kind.value}:{num(t)}:{uuid.uuid4().hex[:8]}"
        try:
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(self.key, {member: t})
                pipe.zremrangebyscore(self.key, "-inf", f"({num(t - self.window_s)}")
                # Real time, a margin over the window: the scores follow the injected clock.
                pipe.pexpire(self.key, int((self.window_s + 60) * 1000))
                pipe.execute()
        except RedisError as exc:
            log.warning("could not count a provider refusal (%s)", type(exc).__name__)

    def recent(self) -> dict[RefusalKind, int]:
        """Refusals within the window, by kind (every kind present)."""
        t = self.now()
        members = cast(
            "list[bytes | str]",
            self.redis.zrangebyscore(self.key, f"({num(t - self.window_s)}", "+inf"),
        )
        counts = dict.fromkeys(RefusalKind, 0)
        for member in members:
            kind = text(member).split(":", 1)[0]
            if kind in counts:
                counts[RefusalKind(kind)] += 1
        return counts


@dataclass(frozen=True, slots=True)
class ThrottleView:
    """What one account's throttle is doing now."""

    account: str
    configured_limit: int
    limit: int  # effective: lower than configured while adapting to refusals
    in_use: int
    waiting: int
    cooldown_s: float
    refusals: dict[RefusalKind, int] = field(default_factory=dict)
    window_s: float = REFUSAL_WINDOW_S

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())

    def describe(self) -> str:
        """One line: slots in use of the limit, waiting jobs, cooldown and recent 429s."""
        parts = [f"slots {self.in_use}/{self.limit}"]
        if self.limit < self.configured_limit:
            parts[0] += f" (lowered from {self.configured_limit})"
        parts.append(f"{self.waiting} waiting")
        if self.cooldown_s > 0:
            parts.append(f"cooling down {self.cooldown_s:.0f}s")
        window = f"{self.window_s / 60:.0f} min"
        detail = ", ".join(f"{k.value} {n}" for k, n in self.refusals.items() if n)
        parts.append(f"429s in {window}: {self.refused}" + (f" ({detail})" if detail else ""))
        return ", ".join(parts)


def read_throttle(
    redis: Redis,
    account: str,
    *,
    limit: int,
    prefix: str = DEFAULT_PREFIX,
    now: Clock = time.time,
    window_s: float = REFUSAL_WINDOW_S,
) -> ThrottleView:
    """Read the account's pool, wait list and refusal log (raises `ThrottleUnavailable`)."""
    status = SlotPool(redis, account, limit=limit, prefix=prefix, now=now).status()
    waiting = len(WaitList(redis, account, prefix=prefix))
    try:
        refusals = RefusalLog(redis, account, prefix=prefix, window_s=window_s, now=now).recent()
    except RedisError as exc:
        raise ThrottleError(f"the refusal log cannot be read ({type(exc).__name__})") from exc
    return ThrottleView(
        account=account,
        configured_limit=status.configured_limit,
        limit=status.limit,
        in_use=status.in_use,
        waiting=waiting,
        cooldown_s=status.cooldown_s,
        refusals=refusals,
        window_s=window_s,
    )


class ThrottleProbe:
    """Reads the configured account's throttle on each call; None while Redis is unreachable."""

    def __init__(
        self,
        redis: Redis,
        account: str,
        *,
        limit: int,
        prefix: str = DEFAULT_PREFIX,
        now: Clock = time.time,
    ) -> None:
        self.redis = redis
        self.account = account
        self.limit = limit
        self.prefix = prefix
        self.now = now

    @classmethod
    def from_settings(cls) -> ThrottleProbe:
        from worker.names import REDIS_PREFIX
        from worker.settings import get_settings

        settings = get_settings()
        # One quick try per look: a display must not stall on a Redis that is down.
        client = Redis.from_url(
            settings.redis_url.get_secret_value(),
            socket_connect_timeout=2,
            socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )
        provider = settings.provider
        return cls(client, provider.account, limit=provider.concurrency, prefix=REDIS_PREFIX)

    def __call__(self) -> ThrottleView | None:
        try:
            return read_throttle(
                self.redis, self.account, limit=self.limit, prefix=self.prefix, now=self.now
            )
        except (ThrottleError, RedisError):
            return None

    def close(self) -> None:
        self.redis.close()
