"""Routes of the product guide's dialect: `POST /v1/video/generate`, `GET /v1/video/status/{id}`.

Same engine as the official dialect, a simpler face: static bearer keys only, manifest model
names, `queued`/`processing`/`completed`/`failed`, errors as `{"error": ...}`, 403 for credits or
a model not on the plan, 429 with `Retry-After` for rate and concurrency limits. There is no
external id, so a create whose response was lost cannot be found again: that is the point of
counting duplicate creates by request body.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobs.catalog import MODELS
from worker.sim.engine import InputRef, Status, TaskRequest
from worker.sim.errors import AuthError, Reason, Refusal
from worker.sim.faults import DroppedConnection
from worker.sim.models import Product, units_for
from worker.sim.state import SimState

GENERATE_PATH = "/v1/video/generate"
STATUS_PATH = "/v1/video/status/{task_id}"

_STATUS = {
    Status.SUBMITTED: "queued",
    Status.PROCESSING: "processing",
    Status.SUCCEED: "completed",
    Status.FAILED: "failed",
}
_HTTP = {
    Reason.MALFORMED: 400,
    Reason.INVALID: 400,
    Reason.UNKNOWN_MODEL: 400,
    Reason.CONTENT: 400,
    Reason.DUPLICATE: 409,
    Reason.NOT_ON_PLAN: 403,
    Reason.BALANCE: 403,
    Reason.CONCURRENCY: 429,
    Reason.RATE_LIMIT: 429,
    Reason.NOT_FOUND: 404,
}
_MESSAGES = {
    Reason.BALANCE: "insufficient credits",
    Reason.CONCURRENCY: "too many concurrent tasks",
}
# manifest model -> (product without an image, product with one, wire model)
_ROUTING: dict[str, tuple[Product | None, Product, str]] = {
    "kling-v3": (Product.TEXT2VIDEO, Product.IMAGE2VIDEO, "kling-v3"),
    "kling-o3": (Product.OMNI, Product.OMNI, "kling-v3-omni"),
    "kling-motion-control": (None, Product.MOTION_CONTROL, "kling-v3"),
    "kling-image": (Product.IMAGE, Product.IMAGE, "kling-v3"),
    "kling-v2-6": (Product.TEXT2VIDEO, Product.IMAGE2VIDEO, "kling-v2-6"),
    "kling-v2-5-turbo": (Product.TEXT2VIDEO, Product.IMAGE2VIDEO, "kling-v2-5-turbo"),
    "kling-v2-1-master": (Product.TEXT2VIDEO, Product.IMAGE2VIDEO, "kling-v2-1-master"),
    "kling-v2-1": (None, Product.IMAGE2VIDEO, "kling-v2-1"),
}


def _bad(message: str) -> Refusal:
    return Refusal(Reason.INVALID, message)


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(f"{name} must be a string")
    return value or None


def parse_generate(body: Any) -> TaskRequest:
    """The engine request for a guide create body, or `Refusal`."""
    if not isinstance(body, dict):
        raise Refusal(Reason.MALFORMED, "request body must be a JSON object")
    name = body.get("model")
    if not isinstance(name, str) or name not in _ROUTING:
        raise Refusal(Reason.UNKNOWN_MODEL, f"unknown model: {name!r}")
    info = MODELS[name]
    plain, with_image, wire = _ROUTING[name]
    image = _opt_str(body, "image_url")
    product = with_image if image else plain
    if product is None:
        raise _bad(f"{name} needs image_url")
    prompt = _opt_str(body, "prompt")
    if prompt is None and product in (Product.TEXT2VIDEO, Product.OMNI, Product.IMAGE):
        raise _bad("prompt is required")
    if prompt is not None and len(prompt) > 2500:
        raise _bad("prompt must be at most 2500 characters")
    _opt_str(body, "negative_prompt")
    _opt_str(body, "voice_description")
    resolution = body.get("resolution", "1080p")
    if resolution not in info.resolutions:
        raise _bad(f"resolution must be one of {', '.join(info.resolutions)}")
    aspect = body.get("aspect_ratio", "16:9")
    if aspect not in ("16:9", "9:16", "1:1"):
        raise _bad("aspect_ratio must be 16:9, 9:16 or 1:1")
    audio = body.get("audio", False)
    if not isinstance(audio, bool):
        raise _bad("audio must be true or false")
    if audio and not info.audio:
        raise _bad(f"{name} does not generate audio")
    seconds = 0
    if product is not Product.IMAGE:
        duration = body.get("duration", 5)
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise _bad("duration must be a whole number of seconds")
        if duration not in info.durations:
            raise _bad(f"duration {duration} is not supported by {name}")
        seconds = duration
    inputs = [InputRef("image_url", image, "image")] if image else []
    if product is Product.MOTION_CONTROL:
        video = _opt_str(body, "video_url")
        if video is None:
            raise _bad(f"{name} needs video_url")
        inputs.append(InputRef("video_url", video, "video"))
    pro = resolution == "1080p"
    return TaskRequest(
        dialect="guide",
        product=product,
        model=wire,
        identity=json.dumps(body, sort_keys=True, separators=(",", ":")),
        seconds=seconds,
        pro=pro,
        audio=audio,
        prompt_text=prompt or "",
        inputs=tuple(inputs),
        units=units_for(wire, product, pro=pro, audio=audio, seconds=seconds),
        plan_names=(name,),
    )


def _error(status: int, message: str, retry_after: float | None = None) -> JSONResponse:
    headers = None
    if retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class GuideApi:
    """The guide dialect over one `SimState`."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route(GENERATE_PATH, self.generate, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["GET"]),
        ]

    def _refusal(self, exc: Refusal) -> JSONResponse:
        retry = exc.retry_after if exc.reason is Reason.CONCURRENCY else None
        return _error(_HTTP[exc.reason], _MESSAGES.get(exc.reason, exc.message), retry)

    def _rate_limited(self) -> JSONResponse:
        rps = self.state.config.rps or 1.0
        return _error(429, "rate limit exceeded", 1.0 / rps)

    async def generate(self, request: Request) -> Response:
        st = self.state
        try:
            account = st.auth.authenticate(request.headers.get("authorization"), allow_jwt=False)
        except AuthError as exc:
            return _error(401, f"unauthorized: {exc.message}")
        if st.rate_limited(account):
            st.engine.metrics.refused(Reason.RATE_LIMIT)
            return self._rate_limited()
        if st.faults.hit(st.config.create_5xx_rate, "create_5xx"):
            return _error(500, "internal server error")
        try:
            try:
                body = json.loads(await request.body())
            except ValueError as exc:
                raise Refusal(Reason.MALFORMED, "request body is not valid JSON") from exc
            task = st.engine.create(account, parse_generate(body), st.base_url(request))
        except Refusal as exc:
            st.engine.metrics.refused(exc.reason)
            return self._refusal(exc)
        if task.request.inputs:
            st.fetcher.start(task)
        if st.faults.hit(st.config.lost_response_rate, "lost_response"):
            return DroppedConnection() if st.faults.coin() else _error(500, "internal server error")
        return JSONResponse({"task_id": task.task_id})

    async def status(self, request: Request) -> Response:
        st = self.state
        try:
            account = st.auth.authenticate(request.headers.get("authorization"), allow_jwt=False)
        except AuthError as exc:
            return _error(401, f"unauthorized: {exc.message}")
        if st.rate_limited(account):
            return self._rate_limited()
        if st.faults.hit(st.config.query_5xx_rate, "query_5xx"):
            return _error(500, "internal server error")
        task_id = request.path_params["task_id"]
        task = st.engine.tasks.get(task_id)
        if task is None or task.account != account.name:
            return _error(404, f"task not found: {task_id}")
        status = st.engine.observe(task)
        output = st.results.urls(task)[0] if status is Status.SUCCEED else None
        return JSONResponse(
            {
                "task_id": task.task_id,
                "status": _STATUS[status],
                "output": output,
                "error": task.fail_reason if status is Status.FAILED else None,
            }
        )
