"""What the providers send, as the reference documents it: envelopes, task objects, refusals.

`FakeProvider` is an `httpx.MockTransport` handler that answers from a script and records every
request, so tests assert on the exact wire traffic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

ACCESS_KEY = "AKfd8e1c0b7a6954321f0e9d8c7b6a5f4e"
SECRET_KEY = "SKq7R2wZ9xL4mN8vB1cT6yH3jK5pD0fG2sA7eU"
API_KEY = "kling-api-5f0c2e9b8a7d6c5b4a39281706f5e4d3"
ALL_SECRETS = (ACCESS_KEY, SECRET_KEY, API_KEY)

TASK_ID = "860175521536184356"
EXTERNAL_ID = "kb0123456789abcdef01234567"
CREATED_MS = 1_790_000_000_000
UPDATED_MS = 1_790_000_083_500
VIDEO_URL = "https://cdn.klingai.com/bs2/upload-kling-api/860175521536184356.mp4?x-sign=abc"
IMAGE_URL = "https://cdn.klingai.com/bs2/upload-kling-api/860175521536184356.png?x-sign=def"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def envelope(
    data: dict[str, Any] | None = None,
    *,
    code: int = 0,
    message: str = "SUCCEED",
    request_id: str = "5b1c6e4e-9a1f-4b7e-8c7d-2a3b4c5d6e7f",
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if data is not None:
        body["data"] = data
    return body


def task(status: str = "submitted", **extra: Any) -> dict[str, Any]:
    """A `kling` task object as create and query return it."""
    data: dict[str, Any] = {
        "task_id": TASK_ID,
        "task_status": status,
        "task_info": {"external_task_id": EXTERNAL_ID},
        "created_at": CREATED_MS,
        "updated_at": UPDATED_MS,
    }
    if status != "submitted":
        data["task_status_msg"] = ""
        data["task_result"] = {}
    data.update(extra)
    return data


def ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=envelope(data))


def refusal(
    http_status: int,
    code: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    request_id: str = "req-refused-1",
) -> httpx.Response:
    """A `kling` error envelope: no `data`, as the vendor sends it."""
    return httpx.Response(
        http_status,
        json=envelope(None, code=code, message=message, request_id=request_id),
        headers=headers,
    )


class FakeProvider:
    """Answers each request with the next scripted answer; the last one repeats."""

    def __init__(self, *answers: Answer) -> None:
        if not answers:
            raise ValueError("a script needs at least one answer")
        self._answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)
