"""The `guide` client: statuses, its troubleshooting table of errors, and what it cannot do."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest

from jobs.spec import JobSpec
from tests.providers.conftest import GuideFactory
from tests.providers.wire import API_KEY, EXTERNAL_ID, VIDEO_URL, FakeProvider
from worker.providers import ProviderClient, ProviderState, TaskStatus
from worker.providers import errors as e

SPEC = JobSpec(mode="text2video", model="kling-v3", prompt="a lighthouse", duration=5)
IMAGE = JobSpec(mode="image", model="kling-image", prompt="a bicycle")


def status(
    guide: GuideFactory, body: dict[str, Any], spec: JobSpec = SPEC
) -> tuple[TaskStatus, FakeProvider]:
    provider = FakeProvider(httpx.Response(200, json=body))
    return guide(provider.transport).query("gd-7", spec), provider


def test_the_client_is_a_provider_client(guide: GuideFactory) -> None:
    client = guide(FakeProvider(httpx.Response(200, json={})).transport)
    assert isinstance(client, ProviderClient)
    assert (client.dialect, client.supports_external_id) == ("guide", False)


@pytest.mark.parametrize(
    ("raw", "state"),
    [("queued", ProviderState.QUEUED), ("processing", ProviderState.RUNNING)],
)
def test_running_statuses(guide: GuideFactory, raw: str, state: ProviderState) -> None:
    body = {"task_id": "gd-7", "status": raw, "output": None, "error": None}
    result, provider = status(guide, body)
    assert (provider.last.method, provider.last.url.path) == ("GET", "/v1/video/status/gd-7")
    assert provider.last.headers["authorization"] == f"Bearer {API_KEY}"
    assert (result.task_id, result.state, result.result_url) == ("gd-7", state, None)


def test_completed_video_and_image(guide: GuideFactory) -> None:
    body = {"task_id": "gd-7", "status": "completed", "output": VIDEO_URL, "error": None}
    video, _ = status(guide, body)
    assert (video.state, video.result_url, video.result_kind) == (
        ProviderState.SUCCEEDED,
        VIDEO_URL,
        "video",
    )
    image, _ = status(guide, body, IMAGE)
    assert image.result_kind == "image"


def test_failed_carries_the_error(guide: GuideFactory) -> None:
    body = {"task_id": "gd-7", "status": "failed", "output": None, "error": "content policy"}
    result, _ = status(guide, body)
    assert (result.state, result.message) == (ProviderState.FAILED, "content policy")


@pytest.mark.parametrize(
    "body",
    [
        {"task_id": "gd-7", "status": "succeed", "output": VIDEO_URL},
        {"task_id": "gd-7", "output": VIDEO_URL},
        {"task_id": "gd-7", "status": "completed", "output": None},
    ],
    ids=["unknown-status", "no-status", "completed-without-output"],
)
def test_unreadable_statuses_are_protocol_errors(guide: GuideFactory, body: dict[str, Any]) -> None:
    with pytest.raises(e.ProtocolError):
        status(guide, body)


def test_create_without_task_id_may_have_happened(guide: GuideFactory) -> None:
    provider = FakeProvider(httpx.Response(200, json={"id": "gd-7"}))
    with pytest.raises(e.ProtocolError) as caught:
        guide(provider.transport).create(SPEC, EXTERNAL_ID)
    assert caught.value.outcome_unknown is True


def test_find_is_unsupported(guide: GuideFactory) -> None:
    provider = FakeProvider(httpx.Response(200, json={}))
    with pytest.raises(e.UnsupportedOperation):
        guide(provider.transport).find(EXTERNAL_ID, SPEC)
    assert provider.requests == []


ROWS = [
    (401, {"error": "Unauthorized"}, True, e.AuthError),
    (403, {"error": "Insufficient credits"}, True, e.InsufficientCredits),
    (403, {"error": "Model not available on your plan"}, True, e.PermissionDenied),
    (403, {"error": "Forbidden"}, True, e.InsufficientCredits),
    (404, {"error": "Unknown model kling-v9"}, True, e.ModelNotFound),
    (404, {"error": "No such task"}, False, e.TaskNotFound),
    (429, {"error": "Too Many Requests"}, True, e.ConcurrencyLimited),
    (400, {"error": "Prompt violates content policy"}, True, e.ContentRefused),
    (400, {"error": "Image URL could not be fetched"}, True, e.ImageUnreachable),
    (422, {"detail": "duration must be an integer"}, True, e.InvalidRequest),
    (500, {"error": "Internal Server Error"}, True, e.ServerError),
    (503, {"message": "Service under maintenance"}, False, e.ServerError),
]


@pytest.mark.parametrize(("http_status", "body", "on_create", "cls"), ROWS)
def test_troubleshooting_table(
    guide: GuideFactory,
    http_status: int,
    body: dict[str, Any],
    on_create: bool,
    cls: type[e.ProviderError],
) -> None:
    client = guide(FakeProvider(httpx.Response(http_status, json=body)).transport)
    call: Callable[[], TaskStatus] = (
        partial(client.create, SPEC, EXTERNAL_ID)
        if on_create
        else partial(client.query, "gd-7", SPEC)
    )
    with pytest.raises(e.ProviderError) as caught:
        call()
    assert type(caught.value) is cls
    assert caught.value.http_status == http_status
    assert caught.value.message == next(iter(body.values()))
    if isinstance(caught.value, e.ServerError):
        assert caught.value.outcome_unknown is on_create


def test_auth_hint_names_the_bearer_prefix(guide: GuideFactory) -> None:
    client = guide(FakeProvider(httpx.Response(401, json={"error": "Unauthorized"})).transport)
    with pytest.raises(e.AuthError) as caught:
        client.query("gd-7", SPEC)
    assert caught.value.hint is not None
    assert "Bearer" in caught.value.hint


def test_any_429_is_a_concurrency_limit_with_its_retry_after(guide: GuideFactory) -> None:
    answer = httpx.Response(429, text="slow down", headers={"Retry-After": "12"})
    with pytest.raises(e.ConcurrencyLimited) as caught:
        guide(FakeProvider(answer).transport).create(SPEC, EXTERNAL_ID)
    assert caught.value.retry_after == 12.0


def test_html_pages_are_protocol_or_server_errors(guide: GuideFactory) -> None:
    page = "<html><body>oops</body></html>"
    ok_html = httpx.Response(200, text=page, headers={"content-type": "text/html"})
    with pytest.raises(e.ProtocolError) as caught:
        guide(FakeProvider(ok_html).transport).query("gd-7", SPEC)
    assert page not in str(caught.value)
    bad_gateway = httpx.Response(502, text=page, headers={"content-type": "text/html"})
    with pytest.raises(e.ServerError) as server:
        guide(FakeProvider(bad_gateway).transport).create(SPEC, EXTERNAL_ID)
    assert server.value.outcome_unknown is True
