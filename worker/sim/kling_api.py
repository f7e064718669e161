"""Routes of the official (`kling`) dialect: create, query by id or external id, and list.

Each product has its own routes, so request counters name the endpoint. Faults are applied in
the order a real request meets them: rate limit, then a 5xx before anything happens, then the
create itself, then a response that may be lost after the task exists.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from worker.sim.accounts import Account
from worker.sim.errors import AuthError, Reason, Refusal
from worker.sim.faults import DroppedConnection
from worker.sim.kling_params import parse_create
from worker.sim.kling_wire import (
    INTERNAL_ERROR,
    RATE_LIMITED,
    created_object,
    error,
    ok,
    refusal,
    task_object,
)
from worker.sim.models import Product
from worker.sim.state import SimState

MAX_PAGE_SIZE = 500
_PATHS = {
    Product.TEXT2VIDEO: "/v1/videos/text2video",
    Product.IMAGE2VIDEO: "/v1/videos/image2video",
    Product.OMNI: "/v1/videos/omni-video",
    Product.MOTION_CONTROL: "/v1/videos/motion-control",
    Product.IMAGE: "/v1/images/generations",
}

Endpoint = Callable[[Request], Awaitable[Response]]


class KlingApi:
    """The official dialect over one `SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        routes = []
        for product, path in _PATHS.items():
            routes += [
                Route(path, self._bind(self.create, product), methods=["POST"]),
                Route(path, self._bind(self.list, product), methods=["GET"]),
                Route(path + "/{ident}", self._bind(self.query, product), methods=["GET"]),
            ]
        return routes

    @staticmethod
    def _bind(
        handler: Callable[[Request, Product], Awaitable[Response]], product: Product
    ) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            return await handler(request, product)

        return endpoint

    def _account(self, request: Request) -> Account | Response:
        try:
            account = self.state.auth.authenticate(request.headers.get("authorization"))
        except AuthError as exc:
            return error(401, exc.code, exc.message)
        if self.state.rate_limited(account):
            return error(429, 1302, RATE_LIMITED)
        return account

    async def create(self, request: Request, product: Product) -> Response:
        st = self.state
        account = self._account(request)
        if isinstance(account, Response):
            if account.status_code == 429:
                st.engine.metrics.refused(Reason.RATE_LIMIT)
            return account
        if st.faults.hit(st.config.create_5xx_rate, "create_5xx"):
            return error(*INTERNAL_ERROR)
        try:
            try:
                body = json.loads(await request.body())
            except ValueError as exc:
                raise Refusal(Reason.MALFORMED, "request body is not valid JSON") from exc
            task = st.engine.create(account, parse_create(product, body), st.base_url(request))
        except Refusal as exc:
            st.engine.metrics.refused(exc.reason)
            return refusal(exc)
        if task.request.inputs:
            st.fetcher.start(task)
        if st.faults.hit(st.config.lost_response_rate, "lost_response"):
            return DroppedConnection() if st.faults.coin() else error(*INTERNAL_ERROR)
        return ok(created_object(task))

    async def query(self, request: Request, product: Product) -> Response:
        st = self.state
        account = self._account(request)
        if isinstance(account, Response):
            return account
        if st.faults.hit(st.config.query_5xx_rate, "query_5xx"):
            return error(*INTERNAL_ERROR)
        ident = request.path_params["ident"]
        task = st.engine.find(account, product, ident)
        if task is None:
            return refusal(Refusal(Reason.NOT_FOUND, f"Task not found by id/external id: {ident}"))
        return ok(task_object(task, st.engine.observe(task), st.results))

    async def list(self, request: Request, product: Product) -> Response:
        st = self.state
        account = self._account(request)
        if isinstance(account, Response):
            return account
        if st.faults.hit(st.config.query_5xx_rate, "query_5xx"):
            return error(*INTERNAL_ERROR)
        try:
            number = int(request.query_params.get("pageNum", "1"))
            size = int(request.query_params.get("pageSize", "30"))
        except ValueError:
            number = size = 0
        if number < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            return refusal(
                Refusal(Reason.INVALID, f"pageNum must be >= 1 and pageSize 1..{MAX_PAGE_SIZE}")
            )
        tasks = st.engine.page(account, product, number, size)
        return ok([task_object(t, st.engine.observe(t), st.results) for t in tasks])
