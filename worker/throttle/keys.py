"""Every Redis key the throttle uses, declared in one place.

Keys of one account share a hash tag (`{account}`) so that scripts touching several of them stay
on one node of a Redis Cluster. Lifetimes: the slot pool outlives its longest lease (refreshed on
every write), the adaptive state lasts a day after its last change, the wait list a week after its
last push or pop; the wait list's push counter is a single integer and needs no expiry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PREFIX = "kbatch:"

_NAME = re.compile(r"^[A-Za-z0-9_.:@/-]{1,200}$")

STATE_TTL_S = 24 * 3600
WAIT_TTL_S = 7 * 24 * 3600
MIN_SLOTS_TTL_S = 3600
RATE_TTL_MARGIN_S = 60


def check_name(kind: str, name: str) -> str:
    """Account and limiter names go into key names: keep them to a safe, brace-free alphabet."""
    if not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must match {_NAME.pattern}")
    return name


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """Key names of one provider account's slot pool and wait list."""

    prefix: str
    account: str

    @property
    def base(self) -> str:
        return f"{self.prefix}throttle:{{{self.account}}}"

    @property
    def slots(self) -> str:
        """Sorted set: holder (a job id) -> lease expiry (epoch seconds)."""
        return f"{self.base}:slots"

    @property
    def state(self) -> str:
        """Hash: adapted limit `eff`, cooldown end `cool`, refusal `streak`, successes `ok`,
        time of the last adaptation `changed`."""
        return f"{self.base}:state"

    @property
    def wait(self) -> str:
        """Sorted set: waiting job id -> position (priority, or the push counter's next value)."""
        return f"{self.base}:wait"

    @property
    def wait_seq(self) -> str:
        """Integer: the wait list's push counter, which gives FIFO positions."""
        return f"{self.base}:wait:seq"


def rate_key(prefix: str, name: str) -> str:
    """String: the rate limiter's theoretical arrival time (GCRA), epoch seconds."""
    return f"{prefix}ratelimit:{{{name}}}"
