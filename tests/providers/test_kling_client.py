"""The `kling` client's reading of answers: task objects, lookups, and broken or lost answers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from jobs.spec import JobSpec
from tests.providers.conftest import KlingFactory
from tests.providers.wire import (
    CREATED_MS,
    EXTERNAL_ID,
    IMAGE_URL,
    TASK_ID,
    UPDATED_MS,
    VIDEO_URL,
    FakeProvider,
    envelope,
    ok,
    refusal,
    task,
)
from worker.providers import ProviderClient, ProviderState, make_client
from worker.providers import errors as e
from worker.settings import ProviderSettings

T2V = JobSpec(mode="text2video", model="kling-v3", prompt="a lighthouse", duration=5)
OMNI = JobSpec(mode="omni", model="kling-o3", prompt="a chef", duration=5, audio=True)
IMAGE = JobSpec(mode="image", model="kling-image", prompt="a bicycle")
I2V = JobSpec(
    mode="image2video", model="kling-v3", prompt="p", duration=5, image_url="https://x.io/a.png"
)


def test_the_client_is_a_provider_client(kling: KlingFactory) -> None:
    client = kling(FakeProvider(ok(task())).transport)
    assert isinstance(client, ProviderClient)
    assert (client.dialect, client.supports_external_id) == ("kling", True)


def test_create_returns_the_queued_task(kling: KlingFactory) -> None:
    client = kling(FakeProvider(ok(task())).transport)
    status = client.create(T2V, EXTERNAL_ID)
    assert status.task_id == TASK_ID
    assert status.state is ProviderState.QUEUED
    assert status.external_id == EXTERNAL_ID
    assert status.created_at == datetime.fromtimestamp(CREATED_MS / 1000, tz=UTC)
    assert status.updated_at is not None
    assert status.updated_at.tzinfo is UTC
    assert (status.result_url, status.units, status.is_final) == (None, None, False)


def test_create_without_task_info_still_knows_its_external_id(kling: KlingFactory) -> None:
    data = task()
    del data["task_info"]
    status = kling(FakeProvider(ok(data)).transport).create(T2V, EXTERNAL_ID)
    assert status.external_id == EXTERNAL_ID


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (T2V, "/v1/videos/text2video"),
        (I2V, "/v1/videos/image2video"),
        (OMNI, "/v1/videos/omni-video"),
        (IMAGE, "/v1/images/generations"),
    ],
)
def test_query_asks_the_product_path_of_the_spec(
    kling: KlingFactory, spec: JobSpec, path: str
) -> None:
    provider = FakeProvider(ok(task("processing")))
    status = kling(provider.transport).query(TASK_ID, spec)
    assert (provider.last.method, provider.last.url.path) == ("GET", f"{path}/{TASK_ID}")
    assert provider.last.headers["authorization"].startswith("Bearer ey")
    assert status.state is ProviderState.RUNNING


def test_query_of_a_finished_video(kling: KlingFactory) -> None:
    data = task(
        "succeed",
        task_result={"videos": [{"id": "v-1", "url": VIDEO_URL, "duration": "5.1"}]},
        final_unit_deduction="3.6",
    )
    status = kling(FakeProvider(ok(data)).transport).query(TASK_ID, T2V)
    assert status.state is ProviderState.SUCCEEDED
    assert status.is_final
    assert (status.result_url, status.result_kind) == (VIDEO_URL, "video")
    assert status.result_seconds == 5.1
    assert status.units == Decimal("3.6")
    assert status.updated_at == datetime.fromtimestamp(UPDATED_MS / 1000, tz=UTC)
    assert status.message is None


def test_query_of_a_finished_image(kling: KlingFactory) -> None:
    data = task("succeed", task_result={"images": [{"index": 0, "url": IMAGE_URL}]})
    status = kling(FakeProvider(ok(data)).transport).query(TASK_ID, IMAGE)
    assert (status.result_url, status.result_kind, status.result_seconds) == (
        IMAGE_URL,
        "image",
        None,
    )


def test_query_of_a_failed_task_carries_the_reason(kling: KlingFactory) -> None:
    data = task("failed", task_status_msg="Failure to pass the risk control system")
    status = kling(FakeProvider(ok(data)).transport).query(TASK_ID, T2V)
    assert status.state is ProviderState.FAILED
    assert status.is_final
    assert status.message == "Failure to pass the risk control system"
    assert status.result_url is None


def test_find_looks_up_by_external_id(kling: KlingFactory) -> None:
    provider = FakeProvider(ok(task("processing")))
    status = kling(provider.transport).find(EXTERNAL_ID, OMNI)
    assert provider.last.url.path == f"/v1/videos/omni-video/{EXTERNAL_ID}"
    assert status is not None
    assert (status.task_id, status.external_id) == (TASK_ID, EXTERNAL_ID)


def test_find_returns_none_when_the_provider_knows_no_such_task(kling: KlingFactory) -> None:
    answer = refusal(400, 1201, f"Task not found by id/external id: {EXTERNAL_ID}")
    assert kling(FakeProvider(answer).transport).find(EXTERNAL_ID, T2V) is None


def test_query_of_an_unknown_task_is_task_not_found(kling: KlingFactory) -> None:
    answer = refusal(400, 1201, "Task not found by id/external id: 1")
    with pytest.raises(e.TaskNotFound):
        kling(FakeProvider(answer).transport).query("1", T2V)


HTML = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text=HTML, headers={"content-type": "text/html"}),
        httpx.Response(200, content=b""),
        httpx.Response(200, json=["not", "an", "envelope"]),
        httpx.Response(200, json={"message": "SUCCEED", "data": task()}),
        httpx.Response(200, json=envelope(None)),
        httpx.Response(200, json={"code": "zero", "message": "?", "data": task()}),
        ok({"task_status": "submitted"}),
        ok(task("queued_somewhere")),
        ok(task("succeed", task_result={"videos": []})),
        ok(task("succeed", task_result={"videos": [{"url": VIDEO_URL, "duration": "five"}]})),
        ok(task("failed", final_unit_deduction="lots")),
        ok(task("failed", created_at="yesterday")),
    ],
    ids=[
        "html",
        "empty",
        "json-list",
        "no-code",
        "no-data",
        "code-not-int",
        "no-task-id",
        "unknown-status",
        "succeed-without-video",
        "bad-duration",
        "bad-units",
        "bad-timestamp",
    ],
)
def test_unreadable_answers_are_protocol_errors(
    kling: KlingFactory, answer: httpx.Response
) -> None:
    with pytest.raises(e.ProtocolError) as on_query:
        kling(FakeProvider(answer).transport).query(TASK_ID, T2V)
    assert on_query.value.outcome_unknown is False
    assert HTML not in str(on_query.value)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text=HTML, headers={"content-type": "text/html"}),
        ok({"task_status": "submitted"}),
        httpx.Response(200, json=envelope(None)),
    ],
    ids=["html", "no-task-id", "no-data"],
)
def test_an_unreadable_create_may_have_happened(
    kling: KlingFactory, answer: httpx.Response
) -> None:
    with pytest.raises(e.ProtocolError) as caught:
        kling(FakeProvider(answer).transport).create(T2V, EXTERNAL_ID)
    assert caught.value.outcome_unknown is True


def test_html_error_pages_are_classified_by_status(kling: KlingFactory) -> None:
    page = httpx.Response(502, text=HTML, headers={"content-type": "text/html"})
    with pytest.raises(e.ServerError) as caught:
        kling(FakeProvider(page).transport).create(T2V, EXTERNAL_ID)
    assert caught.value.outcome_unknown is True
    assert "text/html" in str(caught.value)
    not_found = httpx.Response(404, text=HTML, headers={"content-type": "text/html"})
    with pytest.raises(e.ProtocolError) as missing:
        kling(FakeProvider(not_found).transport).create(T2V, EXTERNAL_ID)
    assert missing.value.outcome_unknown is False


def lost(exc_type: type[httpx.TransportError]) -> httpx.TransportError:
    return exc_type("boom", request=httpx.Request("GET", "https://api-singapore.klingai.com/"))


@pytest.mark.parametrize(
    ("exc_type", "unknown_on_create"),
    [
        (httpx.ReadTimeout, True),
        (httpx.WriteTimeout, True),
        (httpx.RemoteProtocolError, True),
        (httpx.ReadError, True),
        (httpx.ConnectTimeout, False),
        (httpx.ConnectError, False),
        (httpx.PoolTimeout, False),
    ],
)
def test_transport_failures_and_whether_a_create_may_have_happened(
    kling: KlingFactory, exc_type: type[httpx.TransportError], unknown_on_create: bool
) -> None:
    client = kling(FakeProvider(lost(exc_type)).transport)
    with pytest.raises(e.TransportError) as on_create:
        client.create(T2V, EXTERNAL_ID)
    assert on_create.value.outcome_unknown is unknown_on_create
    with pytest.raises(e.TransportError) as on_query:
        client.query(TASK_ID, T2V)
    assert on_query.value.outcome_unknown is False


def test_a_task_id_is_quoted_into_the_path(kling: KlingFactory) -> None:
    provider = FakeProvider(ok(task("processing")))
    kling(provider.transport).query("a/b?c", T2V)
    assert provider.last.url.raw_path == b"/v1/videos/text2video/a%2Fb%3Fc"


def test_timeouts_come_from_the_settings() -> None:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return ok(task())

    settings = ProviderSettings(api_key="k" * 40, connect_timeout_s=2.5, read_timeout_s=45.0)
    client = make_client(settings, transport=httpx.MockTransport(handler))
    try:
        client.create(T2V, EXTERNAL_ID)
    finally:
        client.close()
    assert seen[0]["connect"] == 2.5
    assert seen[0]["read"] == 45.0


def test_a_listed_page_reads_only_the_tasks_asked_for(kling: KlingFactory) -> None:
    page = [
        task("succeed", task_id="103", created_at=CREATED_MS + 2000),
        task("processing", task_id="102", created_at=CREATED_MS + 1000),
        task("no-such-status", task_id="101", created_at=CREATED_MS),  # not ours: never read
    ]
    page[0]["task_result"] = {"videos": [{"url": VIDEO_URL, "duration": "5.0"}]}
    body = {"code": 0, "message": "SUCCEED", "request_id": "r-1", "data": page}
    provider = FakeProvider(httpx.Response(200, json=body))
    client = kling(provider.transport)
    listing = client.list_recent(T2V, page=2, size=3, wanted={"102", "103"})
    assert provider.last.url.path == "/v1/videos/text2video"
    assert dict(provider.last.url.params) == {"pageNum": "2", "pageSize": "3"}
    assert [(s.task_id, s.state) for s in listing.statuses] == [
        ("103", ProviderState.SUCCEEDED),
        ("102", ProviderState.RUNNING),
    ]
    assert listing.statuses[0].result_url == VIDEO_URL
    assert listing.count == 3
    assert listing.oldest == datetime.fromtimestamp(CREATED_MS / 1000, tz=UTC)
    # Asked for every task, the client reads them all, and the broken one is an error.
    with pytest.raises(e.ProtocolError, match="unknown status"):
        kling(FakeProvider(httpx.Response(200, json=body)).transport).list_recent(T2V)
