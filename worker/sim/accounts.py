"""Accounts at run time: keys, concurrency, balance, plan, slots in use, external ids seen."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from worker.sim.config import AccountConfig

if TYPE_CHECKING:
    from worker.sim.engine import Task


@dataclass(eq=False)
class Account:
    """One account of the simulated service."""

    name: str
    concurrency: int
    balance: Decimal | None = None  # units left; None = unlimited
    models: frozenset[str] | None = None  # wire or manifest model names on the plan
    api_keys: set[str] = field(default_factory=set)
    secrets: dict[str, str] = field(default_factory=dict)  # access key -> secret key
    reserved: Decimal = Decimal(0)  # units held by tasks in flight
    active: dict[str, set[Task]] = field(default_factory=dict)  # pack -> tasks holding a slot
    by_external: dict[str, Task] = field(default_factory=dict)
    identities: set[str] = field(default_factory=set)
    tasks: list[Task] = field(default_factory=list)
    # token bucket for the optional request-rate limit
    tokens: float | None = None
    refilled: float = field(default_factory=time.monotonic)

    @classmethod
    def from_config(cls, cfg: AccountConfig, default_concurrency: int) -> Account:
        acc = cls(name=cfg.name, concurrency=default_concurrency)
        acc.configure(cfg)
        return acc

    def configure(self, cfg: AccountConfig) -> None:
        """Apply the fields `cfg` sets; keys are added to those the account already has."""
        if cfg.concurrency is not None:
            self.concurrency = cfg.concurrency
        if "balance" in cfg.model_fields_set or cfg.balance is not None:
            self.balance = cfg.balance
        if cfg.models is not None:
            self.models = frozenset(cfg.models)
        self.api_keys.update(k.get_secret_value() for k in cfg.api_keys)
        self.secrets.update({p.access_key: p.secret_key.get_secret_value() for p in cfg.key_pairs})

    def in_flight(self, pack: str | None = None) -> int:
        if pack is not None:
            return len(self.active.get(pack, ()))
        return sum(len(s) for s in self.active.values())

    def available(self) -> Decimal | None:
        return None if self.balance is None else self.balance - self.reserved

    def allows(self, *names: str) -> bool:
        return self.models is None or any(n in self.models for n in names)

    def take_token(self, rate: float, now: float) -> bool:
        """One request against a bucket of `rate` tokens per second, bursting to one second's."""
        capacity = max(1.0, rate)
        if self.tokens is None:
            self.tokens = capacity
        else:
            self.tokens = min(capacity, self.tokens + (now - self.refilled) * rate)
        self.refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def summary(self) -> dict[str, object]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "balance": None if self.balance is None else str(self.balance),
            "reserved": str(self.reserved),
            "in_flight": {pack: len(tasks) for pack, tasks in self.active.items()},
            "models": None if self.models is None else sorted(self.models),
            "api_keys": len(self.api_keys),
            "key_pairs": len(self.secrets),
        }
