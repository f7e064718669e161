"""Fetching a task's input image or video, as the real service does after accepting a create.

A URL it cannot fetch, or bytes that are not a JPG/PNG image, fail the task with a clear message
(the real service fails tasks whose image sits behind a private URL). Messages show a URL without
its query string, which may hold a signature.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from urllib.parse import urlsplit, urlunsplit

import httpx

from worker.sim.engine import Engine, InputRef, Task

MAX_IMAGE_BYTES = 10 * 1024 * 1024
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="", fragment=""))


def _image_problem(data: bytes) -> str | None:
    if len(data) > MAX_IMAGE_BYTES:
        return "is larger than 10 MB"
    if not data.startswith(_IMAGE_MAGIC):
        return "is not a JPG or PNG image"
    return None


class InputFetcher:
    """Checks inputs in the background and reports each outcome to the engine."""

    def __init__(self, engine: Engine, timeout_s: float) -> None:
        self.engine = engine
        self.client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=True)
        self.running: set[asyncio.Task[None]] = set()

    def start(self, task: Task) -> None:
        for ref in task.request.inputs:
            job = asyncio.get_running_loop().create_task(self._check(task, ref))
            self.running.add(job)
            job.add_done_callback(self.running.discard)

    async def _check(self, task: Task, ref: InputRef) -> None:
        self.engine.input_checked(task, await self.problem(ref))

    async def problem(self, ref: InputRef) -> str | None:
        """Why the input cannot be used, or None when it can."""
        value = ref.value
        if value.startswith(("http://", "https://")):
            return await self._fetch_problem(ref)
        if ref.kind != "image":
            return f"Failed to fetch {ref.field}: not an http(s) URL"
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"Invalid {ref.field}: neither an http(s) URL nor valid base64"
        problem = _image_problem(data)
        return None if problem is None else f"Invalid {ref.field}: the decoded data {problem}"

    async def _fetch_problem(self, ref: InputRef) -> str | None:
        shown = _shown(ref.value)
        try:
            async with self.client.stream("GET", ref.value) as resp:
                if resp.status_code != 200:
                    return f"Failed to fetch {ref.field} from {shown}: HTTP {resp.status_code}"
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if ref.kind != "image" or len(data) > MAX_IMAGE_BYTES:
                        break
        except httpx.HTTPError as exc:
            return f"Failed to fetch {ref.field} from {shown}: {type(exc).__name__}"
        if ref.kind != "image":
            return None if data else f"Failed to fetch {ref.field} from {shown}: empty body"
        problem = _image_problem(bytes(data))
        return None if problem is None else f"Invalid {ref.field} at {shown}: the file {problem}"

    def cancel_all(self) -> None:
        for job in list(self.running):
            job.cancel()

    async def aclose(self) -> None:
        self.cancel_all()
        await self.client.aclose()
