"""Counters the `/_sim/` routes report: requests, creates, in-flight peaks, units, faults."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class Metrics:
    """What happened since the start or the last reset."""

    requests: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    creates_accepted: int = 0
    creates_refused: int = 0
    refused_by_reason: Counter[str] = field(default_factory=Counter)
    duplicate_creates: int = 0
    max_in_flight: dict[str, int] = field(default_factory=dict)
    units_by_account: defaultdict[str, Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    faults: Counter[str] = field(default_factory=Counter)
    callbacks: Counter[str] = field(default_factory=Counter)

    def request(self, endpoint: str, status: str) -> None:
        self.requests[endpoint][status] += 1

    def refused(self, reason: str) -> None:
        self.creates_refused += 1
        self.refused_by_reason[reason] += 1

    def in_flight(self, account: str, count: int) -> None:
        if count > self.max_in_flight.get(account, 0):
            self.max_in_flight[account] = count

    @property
    def units_charged(self) -> Decimal:
        return sum(self.units_by_account.values(), Decimal(0))

    def snapshot(self) -> dict[str, Any]:
        return {
            "creates_accepted": self.creates_accepted,
            "creates_refused": self.creates_refused,
            "refused_by_reason": dict(self.refused_by_reason),
            "duplicate_creates": self.duplicate_creates,
            "max_in_flight": dict(self.max_in_flight),
            "units_charged": float(self.units_charged),
            "units_by_account": {k: str(v) for k, v in self.units_by_account.items()},
            "requests": {ep: dict(by) for ep, by in sorted(self.requests.items())},
            "faults": dict(self.faults),
            "callbacks": dict(self.callbacks),
        }
