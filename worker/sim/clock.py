"""The simulator's clock: wall time plus an offset that `/_sim/advance` moves forward.

Task timing, result expiry and timestamps on the wire all read this clock, so a test can jump
30 days ahead without waiting. Authentication reads the plain wall clock instead, because clients
sign their JWTs with theirs.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch, as the simulator sees them."""

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...

    def reset(self) -> None: ...


class OffsetClock:
    """Wall clock plus an advance offset."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0


class ManualClock:
    """A clock that only moves when told to, for tests of the engine."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.start = start
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def reset(self) -> None:
        self.t = self.start
