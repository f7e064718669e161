"""Plain ASGI middleware: counts requests by endpoint and status, and drops connections.

Counting happens after routing, so the endpoint is the route's template
(`GET /v1/videos/text2video/{ident}`), not the raw path. `/_sim/` requests are not counted, so a
test reading the counters does not change them. A dropped connection counts as status `dropped`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.sim.faults import DroppedConnection
from worker.sim.state import SimState

API_PREFIX = "/v1/"
SIM_PREFIX = "/_sim/"


class CountingMiddleware:
    """Counts every API request and applies the drop-rate fault to `/v1/` requests."""

    def __init__(self, app: ASGIApp, state: SimState, routes: list[BaseRoute]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    def _label(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            for candidate in self.routes:
                if candidate.matches(scope)[0] is Match.FULL:
                    route = candidate
                    break
        path = route.path if isinstance(route, Route) else "(unmatched)"
        return f"{scope['method']} {path}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SIM_PREFIX):
            await self.app(scope, receive, send)
            return
        st = self.state
        if scope["path"].startswith(API_PREFIX) and st.faults.hit(st.config.drop_rate, "dropped"):
            await DroppedConnection()(scope, receive, send)
            st.engine.metrics.request(self._label(scope), "dropped")
            return
        status = "dropped"

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            st.engine.metrics.request(self._label(scope), status)
