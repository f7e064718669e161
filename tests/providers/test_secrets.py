"""No key, secret or token in any error message, repr or log record, on every error path."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from jobs.spec import JobSpec
from tests.providers.conftest import GuideFactory, KlingFactory
from tests.providers.test_guide_client import ROWS as GUIDE_ROWS
from tests.providers.test_kling_errors import ROWS as KLING_ROWS
from tests.providers.wire import (
    ALL_SECRETS,
    EXTERNAL_ID,
    TASK_ID,
    VIDEO_URL,
    FakeProvider,
    ok,
    refusal,
    task,
)
from worker.providers import GuideClient, KlingClient, credentials_for
from worker.providers.errors import ProviderError
from worker.settings import ProviderSettings

SPEC = JobSpec(mode="text2video", model="kling-v3", prompt="a lighthouse", duration=5)
REQUEST = httpx.Request("GET", "https://api-singapore.klingai.com/")

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]

COMMON: list[Answer] = [
    httpx.ReadTimeout("timed out", request=REQUEST),
    httpx.ConnectError("refused", request=REQUEST),
    httpx.RemoteProtocolError("Server disconnected", request=REQUEST),
    httpx.Response(200, text="<html>oops</html>", headers={"content-type": "text/html"}),
    httpx.Response(502, text="<html>bad gateway</html>"),
    httpx.Response(200, json={"unexpected": True}),
    ok(task("strange")),
]
KLING: list[Answer] = [
    *COMMON,
    *(refusal(status, code, message) for status, code, message, _ in KLING_ROWS),
    lambda r: refusal(401, 1002, f"invalid Authorization: {r.headers.get('authorization', '-')}"),
    lambda r: refusal(400, 1200, f"bad header {r.headers.get('authorization', '-').split()[-1]}"),
]
GUIDE: list[Answer] = [
    *COMMON,
    *(httpx.Response(status, json=body) for status, body, _, _ in GUIDE_ROWS),
    lambda r: httpx.Response(401, json={"error": f"bad key {r.headers.get('authorization', '-')}"}),
]


def exercise(client: KlingClient | GuideClient) -> list[ProviderError]:
    """Every call of the client; the errors they raised."""
    raised: list[ProviderError] = []
    calls: list[Callable[[], object]] = [
        lambda: client.create(SPEC, EXTERNAL_ID),
        lambda: client.query(TASK_ID, SPEC),
        lambda: client.find(EXTERNAL_ID, SPEC),
    ]
    for call in calls:
        try:
            call()
        except ProviderError as exc:
            raised.append(exc)
    try:
        with client.download(VIDEO_URL) as download:
            list(download.iter_bytes())
    except ProviderError as exc:
        raised.append(exc)
    return raised


def assert_clean(texts: list[str], tokens: set[str]) -> None:
    for text in texts:
        for secret in (*ALL_SECRETS, *tokens):
            assert secret not in text, text


def tokens_sent(provider: FakeProvider) -> set[str]:
    return {
        r.headers["authorization"].split()[-1]
        for r in provider.requests
        if "authorization" in r.headers
    }


def texts_of(errors: list[ProviderError]) -> list[str]:
    return [t for exc in errors for t in (str(exc), repr(exc), exc.message, *exc.args)]


@pytest.mark.parametrize("api_key", [False, True], ids=["jwt", "api-key"])
@pytest.mark.parametrize("answer", KLING)
def test_kling_errors_hold_no_secret(
    kling: KlingFactory, caplog: pytest.LogCaptureFixture, answer: Answer, api_key: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = FakeProvider(answer)
    client = kling(provider.transport, api_key=api_key)
    errors = exercise(client)
    assert errors, "every scripted answer is an error on some call"
    logged = [r.getMessage() for r in caplog.records]
    assert_clean([*texts_of(errors), repr(client), *logged], tokens_sent(provider))


@pytest.mark.parametrize("answer", GUIDE)
def test_guide_errors_hold_no_secret(
    guide: GuideFactory, caplog: pytest.LogCaptureFixture, answer: Answer
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = FakeProvider(answer)
    client = guide(provider.transport)
    errors = exercise(client)
    assert errors
    logged = [r.getMessage() for r in caplog.records]
    assert_clean([*texts_of(errors), repr(client), *logged], tokens_sent(provider))


def test_echoed_credentials_are_replaced(kling: KlingFactory) -> None:
    answer = lambda r: refusal(401, 1002, f"invalid: {r.headers.get('authorization', '-')}")  # noqa: E731
    with pytest.raises(ProviderError) as caught:
        kling(FakeProvider(answer).transport, api_key=True).query(TASK_ID, SPEC)
    assert caught.value.message == "invalid: Bearer ***"


def test_settings_and_missing_credentials_hold_no_secret() -> None:
    settings = ProviderSettings(access_key=ALL_SECRETS[0])
    with pytest.raises(ProviderError) as caught:
        credentials_for(settings)
    assert_clean([str(caught.value), repr(caught.value), repr(settings)], set())
