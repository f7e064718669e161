"""The client of the `guide` dialect: the product guide's simple shape behind a bearer key.

`POST /v1/video/generate` answers `{"task_id"}`; `GET /v1/video/status/{id}` answers
`{"task_id", "status", "output", "error"}`. Errors are HTTP statuses with free text. The dialect has
no external ids, so a create whose answer was lost cannot be looked up: `find` is unsupported
and callers send such jobs to review instead.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any
from urllib.parse import quote

from jobs.spec import JobSpec
from worker.providers.base import Listing, ProviderState, TaskStatus
from worker.providers.bodies import GUIDE_CREATE_PATH, GUIDE_STATUS_PATH, guide_body
from worker.providers.client import HttpClient
from worker.providers.codes import GUIDE_AUTH_HINT, guide_error, unreadable
from worker.providers.errors import (
    ConcurrencyLimited,
    ProtocolError,
    UnsupportedOperation,
)
from worker.providers.session import NOT_JSON, read_json, safe_text

GUIDE_STATES = {
    "queued": ProviderState.QUEUED,
    "processing": ProviderState.RUNNING,
    "completed": ProviderState.SUCCEEDED,
    "failed": ProviderState.FAILED,
}
_ERROR_KEYS = ("error", "message", "detail")


class GuideClient(HttpClient):
    """One process's client of the `guide` dialect."""

    dialect = "guide"
    supports_external_id = False
    supports_listing = False

    def create(
        self, spec: JobSpec, external_id: str, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Create a task; the dialect carries neither `external_id` nor `callback_url`."""
        body = guide_body(spec)
        with self._scrubbed():
            payload = self._call("POST", GUIDE_CREATE_PATH, body, is_create=True)
            task_id = payload.get("task_id")
            if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or task_id == "":
                raise ProtocolError(
                    f"POST {GUIDE_CREATE_PATH}: answer without task_id", outcome_unknown=True
                )
        return TaskStatus(task_id=str(task_id), state=ProviderState.QUEUED)

    def query(self, task_id: str, spec: JobSpec) -> TaskStatus:
        path = f"{GUIDE_STATUS_PATH}/{quote(task_id, safe='')}"
        with self._scrubbed():
            payload = self._call("GET", path, None)
            return parse_status(payload, task_id, "image" if not spec.is_video else "video")

    def list_recent(
        self,
        spec: JobSpec,
        *,
        page: int = 1,
        size: int = 500,
        wanted: Container[str] | None = None,
    ) -> Listing:
        raise UnsupportedOperation("the guide dialect has no list endpoint: tasks are polled")

    def listing_key(self, spec: JobSpec) -> str:
        return "/v1/video/status"

    def find(self, external_id: str, spec: JobSpec) -> TaskStatus | None:
        raise UnsupportedOperation("the guide dialect cannot look a task up by external id")

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, *, is_create: bool = False
    ) -> dict[str, Any]:
        response = self._session.send(
            method,
            path,
            authorization=self._credentials.authorization(),
            json_body=body,
            is_create=is_create,
        )
        now = self._clock()
        payload = read_json(response)
        if payload is NOT_JSON or not isinstance(payload, dict):
            raise unreadable(
                response,
                f"{method} {path}",
                is_create=is_create,
                now=now,
                auth_hint=GUIDE_AUTH_HINT,
                throttle_cls=ConcurrencyLimited,
            )
        if not response.is_success:
            message = next(
                (safe_text(payload[k]) for k in _ERROR_KEYS if safe_text(payload.get(k))), None
            )
            raise guide_error(response, message=message, is_create=is_create, now=now)
        return payload


def parse_status(payload: dict[str, Any], task_id: str, kind: str) -> TaskStatus:
    """A `TaskStatus` from a `guide` status answer."""
    raw_state = payload.get("status")
    if not isinstance(raw_state, str):
        raise ProtocolError(f"status of task {task_id} without status")
    state = GUIDE_STATES.get(raw_state)
    if state is None:
        raise ProtocolError(f"task {task_id} has unknown status {safe_text(raw_state, 40)!r}")
    answered_id = payload.get("task_id")
    output = payload.get("output")
    if state is ProviderState.SUCCEEDED and (not isinstance(output, str) or not output):
        raise ProtocolError(f"task {task_id} completed without output")
    url = output if state is ProviderState.SUCCEEDED else None
    return TaskStatus(
        task_id=str(answered_id) if answered_id else task_id,
        state=state,
        message=safe_text(payload.get("error")),
        result_url=url,
        result_kind=("image" if kind == "image" else "video") if url else None,
    )
