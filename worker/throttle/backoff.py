"""How long to wait before trying again: exponential, jittered, capped; Retry-After wins."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

Jitter = Literal["full", "equal", "none"]

# 2**63 seconds is past any cap; stopping the exponent there keeps the float finite.
_MAX_EXPONENT = 63


def backoff(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
    jitter: Jitter = "full",
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    The ceiling is `min(cap, base * 2**attempt)`. Full jitter waits uniformly in `[0, ceiling)`,
    which spreads a crowd of clients best; equal jitter waits in `[ceiling/2, ceiling)`, which
    never retries almost at once; `none` waits exactly the ceiling. A server's `Retry-After`
    (already converted to seconds) is obeyed as given, even above the cap: the server knows.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base <= 0 or cap < 0:
        raise ValueError("base must be > 0 and cap >= 0")
    if retry_after is not None:
        return max(0.0, float(retry_after))
    ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_EXPONENT))
    if jitter == "full":
        return ceiling * rand()
    if jitter == "equal":
        return ceiling / 2 + ceiling / 2 * rand()
    return ceiling
