"""An optional cluster-wide requests-per-second limit, for providers that have one.

GCRA (the generic cell rate algorithm): one Redis string per limiter holds the theoretical arrival
time of the next request, so the limit costs one key and one round trip per request whatever the
rate. It refuses fast with the wait instead of sleeping: the caller retries its step that much
later (Celery's own `rate_limit` is per worker process and would not hold cluster-wide).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis import Redis

from worker.throttle.convert import num, text
from worker.throttle.errors import fail_closed
from worker.throttle.keys import DEFAULT_PREFIX, RATE_TTL_MARGIN_S, check_name, rate_key
from worker.throttle.scripts import scripts_for


class RateLimiter:
    """At most `rate_per_s` requests a second across every process, with bursts of `burst`."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        rate_per_s: float,
        burst: int = 1,
        prefix: str = DEFAULT_PREFIX,
        now: Callable[[], float] = time.time,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.redis = redis
        self.name = check_name("rate limiter", name)
        self.key = rate_key(prefix, name)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.now = now
        self._scripts = scripts_for(redis)
        self._margin_ms = str(RATE_TTL_MARGIN_S * 1000)

    def try_acquire(self) -> float:
        """0.0 when a request may go now (and it is counted), else the seconds until one may."""
        args = [num(self.now()), num(1.0 / self.rate_per_s), str(self.burst), self._margin_ms]
        with fail_closed("the request rate"):
            wait = self._scripts.rate(keys=[self.key], args=args)
        return max(0.0, float(text(wait)))
