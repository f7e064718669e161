"""Webhook delivery: the bare task object POSTed to `callback_url` on every status change.

With a `whsec_` secret configured, each request carries Standard Webhooks headers (`webhook-id`,
`webhook-timestamp`, `webhook-signature`). Loss and duplication are drawn from a seeded RNG; a
duplicate repeats the same `webhook-id`, as a redelivery would. Deliveries of one task go out in
order; nothing is retried, as nothing is documented.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from worker.sim.engine import Engine, Status, Task, seeded

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value: `v1,<base64 HMAC-SHA256>`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


Render = Callable[[Task, Status], dict[str, Any]]


class CallbackDispatcher:
    """An engine listener that posts task objects to their callback URLs."""

    def __init__(self, engine: Engine, render: Render, wall: Callable[[], float] = time.time):
        self.engine = engine
        self.render = render
        self.wall = wall
        cfg = engine.config
        self.secret = None if cfg.webhook_secret is None else cfg.webhook_secret.get_secret_value()
        self.client = httpx.AsyncClient(timeout=cfg.callback_timeout_s)
        self.reseed()
        self._tails: dict[str, asyncio.Task[None]] = {}

    def reseed(self) -> None:
        self.rng = seeded(self.engine.seed, "callbacks")

    def __call__(self, task: Task, status: Status) -> None:
        url = task.request.callback_url
        if not url:
            return
        cfg, counts = self.engine.config, self.engine.metrics.callbacks
        if cfg.callback_loss_rate and self.rng.random() < cfg.callback_loss_rate:
            counts["lost"] += 1
            return
        copies = 1
        if cfg.callback_dup_rate and self.rng.random() < cfg.callback_dup_rate:
            copies, counts["duplicated"] = 2, counts["duplicated"] + 1
        body = json.dumps(self.render(task, status), separators=(",", ":")).encode()
        msg_id = f"msg_{task.task_id}_{status.value}"
        for _ in range(copies):
            previous = self._tails.get(task.task_id)
            job = asyncio.get_running_loop().create_task(self._send(previous, url, msg_id, body))
            self._tails[task.task_id] = job
            job.add_done_callback(functools.partial(self._forget, task.task_id))

    def _forget(self, task_id: str, job: asyncio.Task[None]) -> None:
        if self._tails.get(task_id) is job:
            del self._tails[task_id]

    async def _send(
        self, previous: asyncio.Task[None] | None, url: str, msg_id: str, body: bytes
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        headers = {"content-type": "application/json"}
        if self.secret:
            headers.update(webhook_headers(self.secret, msg_id, int(self.wall()), body))
        counts = self.engine.metrics.callbacks
        counts["sent"] += 1
        try:
            resp = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError:
            counts["failed"] += 1
            return
        counts["delivered" if resp.is_success else "rejected"] += 1

    def cancel_all(self) -> None:
        for job in list(self._tails.values()):
            job.cancel()
        self._tails.clear()

    async def aclose(self) -> None:
        self.cancel_all()
        await self.client.aclose()
