"""The simulator's Starlette app: both dialects, result files, `/_sim/`, and the ticker.

The ticker is one background task that sleeps until the next due event (a task starting to
process or ending) and applies it, so slots are freed and callbacks sent even when nobody asks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from worker.sim.clock import Clock
from worker.sim.config import SimConfig
from worker.sim.guide_api import GuideApi
from worker.sim.kling_api import KlingApi
from worker.sim.middleware import CountingMiddleware
from worker.sim.state import SimState
from worker.sim.stats import StatsApi

MAX_TICK_S = 0.5


async def _tick(state: SimState, wake: asyncio.Event) -> None:
    engine = state.engine
    while True:
        due = engine.process_due()
        delay = MAX_TICK_S if due is None else min(MAX_TICK_S, max(0.0, due - engine.clock.now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)
        wake.clear()


def build_app(config: SimConfig, clock: Clock | None = None) -> Starlette:
    """The ASGI app for one simulator run; its state is `app.state.sim`."""
    state = SimState.build(config, clock)
    wake = asyncio.Event()
    state.engine.wake = wake.set
    routes: list[BaseRoute] = [
        *KlingApi(state).routes(),
        *GuideApi(state).routes(),
        Route("/results/{task_id}/{file}", state.results.serve, methods=["GET"]),
        *StatsApi(state, wake.set).routes(),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ticker = asyncio.get_running_loop().create_task(_tick(state, wake))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await state.aclose()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(CountingMiddleware, state=state, routes=routes)],
        lifespan=lifespan,
    )
    app.state.sim = state
    return app
