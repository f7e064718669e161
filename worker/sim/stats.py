"""`/_sim/`: observability and control for tests and benchmarks (no part of any real API).

`GET /_sim/stats` counters, `GET /_sim/tasks` per-task timelines (engine-clock Unix seconds, so
detection lag is `first_final_seen_at - finished_at`), `POST /_sim/reset`,
`POST /_sim/advance?seconds=N`, `GET /_sim/accounts` and `POST /_sim/accounts/{name}` to change
balance, concurrency, keys or plan at run time, and `POST /_sim/faults` to change fault rates (an
outage that starts and ends mid-batch). No authentication.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.sim.config import AccountConfig, FaultRates
from worker.sim.state import SimState


class StatsApi:
    """The `/_sim/` routes over one `SimState`; `wake` nudges the background ticker."""

    def __init__(self, state: SimState, wake: Callable[[], None]) -> None:
        self.state = state
        self.wake = wake

    def routes(self) -> list[Route]:
        return [
            Route("/_sim/health", self.health, methods=["GET"]),
            Route("/_sim/stats", self.stats, methods=["GET"]),
            Route("/_sim/tasks", self.tasks, methods=["GET"]),
            Route("/_sim/reset", self.reset, methods=["POST"]),
            Route("/_sim/advance", self.advance, methods=["POST"]),
            Route("/_sim/accounts", self.accounts, methods=["GET"]),
            Route("/_sim/accounts/{name}", self.update_account, methods=["POST"]),
            Route("/_sim/faults", self.faults, methods=["POST"]),
        ]

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    def snapshot(self) -> dict[str, Any]:
        engine = self.state.engine
        engine.process_due()
        by_status = Counter(engine.status(t).value for t in engine.tasks.values())
        data = engine.metrics.snapshot()
        data.update(
            {
                "tasks": dict(by_status),
                "in_flight": {a.name: a.in_flight() for a in engine.accounts.values()},
                "balance": {
                    a.name: None if a.balance is None else str(a.balance)
                    for a in engine.accounts.values()
                },
                "seed": engine.seed,
                "now": engine.clock.now(),
            }
        )
        return data

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.snapshot())

    async def tasks(self, request: Request) -> Response:
        engine = self.state.engine
        account = request.query_params.get("account")
        rows = [
            engine.timeline(t)
            for t in engine.tasks.values()
            if account is None or t.account == account
        ]
        return JSONResponse(rows)

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        self.wake()
        return JSONResponse({"ok": True, "seed": self.state.engine.seed})

    async def advance(self, request: Request) -> Response:
        try:
            seconds = float(request.query_params.get("seconds", ""))
        except ValueError:
            return JSONResponse({"error": "seconds must be a number"}, status_code=400)
        if seconds < 0:
            return JSONResponse({"error": "time only moves forward"}, status_code=400)
        engine = self.state.engine
        engine.clock.advance(seconds)
        engine.process_due()
        self.wake()
        return JSONResponse({"ok": True, "now": engine.clock.now()})

    async def accounts(self, request: Request) -> Response:
        return JSONResponse([a.summary() for a in self.state.engine.accounts.values()])

    async def update_account(self, request: Request) -> Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise TypeError("expected a JSON object")
            cfg = AccountConfig.model_validate({**body, "name": request.path_params["name"]})
        except (ValueError, TypeError, ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        account = self.state.engine.upsert_account(cfg)
        self.wake()
        return JSONResponse(account.summary())

    async def faults(self, request: Request) -> Response:
        try:
            rates = FaultRates.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        config = self.state.config
        for name, rate in rates.model_dump(exclude_none=True).items():
            setattr(config, name, rate)
        return JSONResponse({name: getattr(config, name) for name in FaultRates.model_fields})
