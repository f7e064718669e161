"""The client of the official `kling` dialect: envelopes with a `code`, JWT or API-key auth,
lookup by `external_task_id`.

Every answer is `{"code", "message", "request_id", "data"}`; a `code` other than 0 is classified by
`codes.kling_error`. A token refused for its timing (1003/1004) is re-signed and the request sent
once more before the error reaches the caller: the refusal means nothing was created.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, overload
from urllib.parse import quote

import httpx

from jobs.spec import JobSpec
from worker.providers.base import Listing, ProviderState, ResultKind, TaskStatus
from worker.providers.bodies import kling_body, kling_route
from worker.providers.client import HttpClient
from worker.providers.codes import (
    KLING_KEY_HINTS,
    TOKEN_TIMING_CODES,
    by_status,
    kling_error,
    unreadable,
)
from worker.providers.errors import (
    AuthError,
    ProtocolError,
    RateLimited,
    TaskNotFound,
)
from worker.providers.session import NOT_JSON, read_json, safe_text

logger = logging.getLogger(__name__)

KLING_STATES = {
    "submitted": ProviderState.QUEUED,
    "processing": ProviderState.RUNNING,
    "succeed": ProviderState.SUCCEEDED,
    "failed": ProviderState.FAILED,
}


class KlingClient(HttpClient):
    """One process's client of the `kling` dialect."""

    dialect = "kling"
    supports_external_id = True
    supports_listing = True

    def create(
        self, spec: JobSpec, external_id: str, *, callback_url: str | None = None
    ) -> TaskStatus:
        route = kling_route(spec)
        body = kling_body(spec, external_id, callback_url=callback_url)
        with self._scrubbed():
            data = self._call("POST", route.path, body, is_create=True)
            try:
                status = parse_task(data, route.result_kind)
            except ProtocolError as exc:
                # The create was accepted, but its task id cannot be read.
                exc.outcome_unknown = True
                raise
        return status if status.external_id else replace(status, external_id=external_id)

    def query(self, task_id: str, spec: JobSpec) -> TaskStatus:
        route = kling_route(spec)
        with self._scrubbed():
            data = self._call("GET", f"{route.path}/{quote(task_id, safe='')}", None)
            return parse_task(data, route.result_kind)

    def list_recent(
        self,
        spec: JobSpec,
        *,
        page: int = 1,
        size: int = 500,
        wanted: Container[str] | None = None,
    ) -> Listing:
        """One page of the account's tasks of `spec`'s product (the vendor's list endpoint),
        newest first: one request reports every task in flight, where a query reports one."""
        route = kling_route(spec)
        path = f"{route.path}?pageNum={page}&pageSize={size}"
        with self._scrubbed():
            data = self._call("GET", path, None, want_list=True)
            if not isinstance(data, list):
                raise ProtocolError(f"GET {route.path}: list answer without a list of tasks")
            items = [item for item in data if isinstance(item, dict)]
            statuses = [
                parse_task(item, route.result_kind)
                for item in items
                if wanted is None or str(item.get("task_id")) in wanted
            ]
            oldest = _timestamp(items[-1].get("created_at"), "last listed") if items else None
            return Listing(statuses, len(items), oldest)

    def listing_key(self, spec: JobSpec) -> str:
        return kling_route(spec).path

    def find(self, external_id: str, spec: JobSpec) -> TaskStatus | None:
        # The query path takes a task id or an external id alike; ours never look like task ids.
        try:
            status = self.query(external_id, spec)
        except TaskNotFound:
            return None
        return status if status.external_id else replace(status, external_id=external_id)

    @overload
    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, *, is_create: bool = False
    ) -> dict[str, Any]: ...

    @overload
    def _call(
        self, method: str, path: str, body: None, *, want_list: Literal[True]
    ) -> dict[str, Any] | list[Any]: ...

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        is_create: bool = False,
        want_list: bool = False,
    ) -> dict[str, Any] | list[Any]:
        """The `data` of a successful envelope; retries once after a token timing refusal."""
        for attempt in (1, 2):
            response = self._session.send(
                method,
                path,
                authorization=self._credentials.authorization(),
                json_body=body,
                is_create=is_create,
            )
            try:
                return self._envelope(
                    response, f"{method} {path}", is_create=is_create, want_list=want_list
                )
            except AuthError as exc:
                if attempt == 2 or exc.code not in TOKEN_TIMING_CODES:
                    raise
                if not self._credentials.renewable:
                    raise
                logger.warning(
                    "provider refused the token (code %s, request_id %s); re-signing once",
                    exc.code,
                    exc.request_id,
                )
                self._credentials.renew()
        raise AssertionError("unreachable")  # pragma: no cover

    def _envelope(
        self, response: httpx.Response, what: str, *, is_create: bool, want_list: bool = False
    ) -> dict[str, Any] | list[Any]:
        now = self._clock()
        payload = read_json(response)
        if payload is NOT_JSON or not isinstance(payload, dict):
            raise unreadable(
                response,
                what,
                is_create=is_create,
                now=now,
                auth_hint=KLING_KEY_HINTS.get(self._credentials.kind),
                throttle_cls=RateLimited,
            )
        request_id = safe_text(payload.get("request_id"), limit=80)
        code = _int_or_none(payload.get("code"))
        message = safe_text(payload.get("message"))
        if code is None and "code" in payload:
            raise ProtocolError(
                f"{what}: envelope code {payload['code']!r} is not an integer",
                outcome_unknown=is_create and response.is_success,
                http_status=response.status_code,
                request_id=request_id,
            )
        if code:
            raise kling_error(
                response,
                code=code,
                message=message,
                request_id=request_id,
                is_create=is_create,
                auth_kind=self._credentials.kind,
                now=now,
            )
        if not response.is_success:
            raise by_status(
                response,
                message or f"{what} answered HTTP {response.status_code}",
                is_create=is_create,
                now=now,
                request_id=request_id,
                auth_hint=KLING_KEY_HINTS.get(self._credentials.kind),
            )
        data = payload.get("data")
        if want_list and code is not None and isinstance(data, list):
            return data
        if code is None or not isinstance(data, dict):
            missing = "code" if code is None else "data"
            raise ProtocolError(
                f"{what}: envelope without {missing}",
                outcome_unknown=is_create,
                http_status=response.status_code,
                request_id=request_id,
            )
        return data


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def parse_task(data: dict[str, Any], kind: ResultKind) -> TaskStatus:
    """A `TaskStatus` from a `kling` task object (create, query or callback body)."""
    task_id = data.get("task_id")
    raw_state = data.get("task_status")
    if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or task_id == "":
        raise ProtocolError("task object without task_id")
    if not isinstance(raw_state, str):
        raise ProtocolError(f"task {task_id} without task_status")
    state = KLING_STATES.get(raw_state)
    if state is None:
        raise ProtocolError(f"task {task_id} has unknown status {safe_text(raw_state, 40)!r}")
    info = data.get("task_info")
    external_id = info.get("external_task_id") if isinstance(info, dict) else None
    url, seconds = None, None
    if state is ProviderState.SUCCEEDED:
        url, seconds = _result(data.get("task_result"), kind, str(task_id))
    return TaskStatus(
        task_id=str(task_id),
        state=state,
        message=safe_text(data.get("task_status_msg")),
        result_url=url,
        result_kind=kind if url else None,
        units=_decimal(data.get("final_unit_deduction"), str(task_id)),
        result_seconds=seconds,
        external_id=str(external_id) if external_id else None,
        created_at=_timestamp(data.get("created_at"), str(task_id)),
        updated_at=_timestamp(data.get("updated_at"), str(task_id)),
    )


def _result(result: object, kind: ResultKind, task_id: str) -> tuple[str, float | None]:
    items = result.get(f"{kind}s") if isinstance(result, dict) else None
    first = items[0] if isinstance(items, list) and items else None
    url = first.get("url") if isinstance(first, dict) else None
    if not isinstance(url, str) or not url:
        raise ProtocolError(f"task {task_id} succeeded without a {kind} url")
    seconds = None
    if kind == "video" and isinstance(first, dict) and first.get("duration") is not None:
        try:
            seconds = float(first["duration"])
        except (TypeError, ValueError):
            raise ProtocolError(f"task {task_id} has an unreadable video duration") from None
    return url, seconds


def _decimal(value: object, task_id: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ProtocolError(f"task {task_id} has an unreadable final_unit_deduction")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ProtocolError(f"task {task_id} has an unreadable final_unit_deduction") from None


def _timestamp(value: object, task_id: str) -> datetime | None:
    """Unix milliseconds, as the `kling` dialect sends them, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"task {task_id} has an unreadable timestamp")
    return datetime.fromtimestamp(value / 1000, tz=UTC)
