"""Signed result URLs pointing at the simulator, and the route that serves the files.

Like the vendor's CDN links, a URL carries its expiry and an HMAC signature and needs no bearer
token; it stops working `retention` after the task's `updated_at`, when the file counts as
deleted (HTTP 403, as the CDN answers).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from worker.sim.engine import FINAL, Engine, Status, Task
from worker.sim.media import png_bytes, video_bytes
from worker.sim.models import Product

_TYPES = {"mp4": "video/mp4", "png": "image/png"}


class Results:
    """Signs result URLs and serves their bytes."""

    def __init__(self, engine: Engine, key: bytes | None = None) -> None:
        self.engine = engine
        self.key = key or secrets.token_bytes(32)

    @property
    def retention_s(self) -> float:
        return self.engine.config.retention_s

    def _sign(self, name: str, expires: int) -> str:
        return hmac.new(self.key, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()[:40]

    def expires_at(self, task: Task) -> int:
        return int(task.end_at + self.retention_s)

    def urls(self, task: Task) -> list[str]:
        """The task's result URLs (one per video or image) under its base URL."""
        ext = "png" if task.product is Product.IMAGE else "mp4"
        count = task.request.images if task.product is Product.IMAGE else 1
        expires = self.expires_at(task)
        out = []
        for index in range(count):
            name = f"{task.task_id}/{index}.{ext}"
            sig = self._sign(name, expires)
            out.append(f"{task.base_url}/results/{name}?expires={expires}&signature={sig}")
        return out

    async def serve(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        file = request.path_params["file"]
        stem, _, ext = file.partition(".")
        try:
            expires = int(request.query_params.get("expires", ""))
        except ValueError:
            return PlainTextResponse("Forbidden: missing or bad expiry", status_code=403)
        sig = request.query_params.get("signature", "")
        if not hmac.compare_digest(sig, self._sign(f"{task_id}/{file}", expires)):
            return PlainTextResponse("Forbidden: bad signature", status_code=403)
        task = self.engine.tasks.get(task_id)
        if task is None or not stem.isdigit() or ext not in _TYPES:
            return PlainTextResponse("Not found", status_code=404)
        now = self.engine.clock.now()
        if now >= expires or now >= self.expires_at(task):
            return PlainTextResponse("Forbidden: the link has expired", status_code=403)
        status = self.engine.status(task)
        if status not in FINAL or status is not Status.SUCCEED:
            return PlainTextResponse("Not found", status_code=404)
        index = int(stem)
        body = png_bytes(task_id, index) if ext == "png" else video_bytes(task_id, index)
        return Response(body, media_type=_TYPES[ext], headers={"Cache-Control": "private"})
