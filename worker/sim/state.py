"""One simulator run's parts, wired together and shared by the routes of every dialect."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

from worker.sim.accounts import Account
from worker.sim.auth import Authenticator
from worker.sim.callbacks import CallbackDispatcher
from worker.sim.clock import Clock, OffsetClock
from worker.sim.config import SimConfig
from worker.sim.engine import Engine
from worker.sim.faults import Faults
from worker.sim.inputs import InputFetcher
from worker.sim.kling_wire import task_object
from worker.sim.results import Results


@dataclass
class SimState:
    config: SimConfig
    engine: Engine
    auth: Authenticator
    results: Results
    faults: Faults
    fetcher: InputFetcher
    callbacks: CallbackDispatcher

    @classmethod
    def build(cls, config: SimConfig, clock: Clock | None = None) -> SimState:
        seed = config.seed if config.seed is not None else secrets.randbelow(2**31)
        engine = Engine(config=config, clock=clock or OffsetClock(), seed=seed)
        key = config.signing_key.get_secret_value().encode() if config.signing_key else None
        results = Results(engine, key)
        callbacks = CallbackDispatcher(engine, lambda t, s: task_object(t, s, results))
        engine.listeners.append(callbacks)
        return cls(
            config=config,
            engine=engine,
            auth=Authenticator(engine),
            results=results,
            faults=Faults(engine),
            fetcher=InputFetcher(engine, config.input_fetch_timeout_s),
            callbacks=callbacks,
        )

    def reset(self) -> None:
        self.fetcher.cancel_all()
        self.callbacks.cancel_all()
        self.engine.reset()
        self.faults.reseed()
        self.callbacks.reseed()

    def base_url(self, request: Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    def rate_limited(self, account: Account) -> bool:
        """True when the optional per-account request-rate limit refuses this request."""
        rps = self.config.rps
        if rps is None or account.take_token(rps, time.monotonic()):
            return False
        self.engine.metrics.faults["rate_limited"] += 1
        return True

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        await self.callbacks.aclose()
