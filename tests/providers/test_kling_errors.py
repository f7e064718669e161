"""The `kling` dialect's error table, row by row, and the one re-sign after a token refusal."""

from __future__ import annotations

import email.utils

import httpx
import jwt
import pytest

from jobs.spec import JobSpec
from tests.providers.conftest import FakeClock, KlingFactory
from tests.providers.wire import (
    EXTERNAL_ID,
    SECRET_KEY,
    TASK_ID,
    FakeProvider,
    envelope,
    ok,
    refusal,
    task,
)
from worker.providers import errors as e

SPEC = JobSpec(mode="text2video", model="kling-v3", prompt="a lighthouse at dusk", duration=5)


def create_error(kling: KlingFactory, answer: httpx.Response) -> e.ProviderError:
    client = kling(FakeProvider(answer).transport)
    with pytest.raises(e.ProviderError) as caught:
        client.create(SPEC, EXTERNAL_ID)
    return caught.value


ROWS = [
    (401, 1000, "Authentication failed", e.AuthError),
    (401, 1001, "Authorization is empty", e.AuthError),
    (401, 1002, "Authorization is invalid", e.AuthError),
    (429, 1100, "Account exception", e.AccountBlocked),
    (429, 1101, "Account in arrears", e.AccountBlocked),
    (429, 1102, "Account balance not enough", e.InsufficientCredits),
    (403, 1103, "No permission to access the requested resource", e.PermissionDenied),
    (400, 1200, "Invalid request parameters", e.InvalidRequest),
    (400, 1201, "duration must be one of 5, 10", e.InvalidRequest),
    (400, 1201, "Task not found by id/external id: kb0123", e.TaskNotFound),
    (400, 1201, "external_task_id already exists", e.DuplicateExternalId),
    (404, 1202, "Invalid request method", e.InvalidRequest),
    (404, 1203, "Requested model does not exist", e.ModelNotFound),
    (400, 1300, "Trigger platform strategy", e.ContentRefused),
    (400, 1301, "Trigger the content security policy", e.ContentRefused),
    (429, 1302, "Request rate limit exceeded", e.RateLimited),
    (429, 1303, "parallel task over resource pack limit", e.ConcurrencyLimited),
    (429, 1304, "IP whitelisting policy triggered", e.AccountBlocked),
    (500, 5000, "Server internal error", e.ServerError),
    (503, 5001, "Server temporarily unavailable, maintenance", e.ServerError),
    (504, 5002, "Server internal timeout", e.ServerError),
]


@pytest.mark.parametrize(("http_status", "code", "message", "cls"), ROWS)
def test_each_row_of_the_error_table_maps_to_its_class(
    kling: KlingFactory, http_status: int, code: int, message: str, cls: type[e.ProviderError]
) -> None:
    exc = create_error(kling, refusal(http_status, code, message, request_id="req-77"))
    assert type(exc) is cls
    assert (exc.http_status, exc.code, exc.request_id) == (http_status, code, "req-77")
    assert exc.message == message


@pytest.mark.parametrize("code", [5000, 5001, 5002])
def test_server_errors_leave_a_create_unknown_but_not_a_query(
    kling: KlingFactory, code: int
) -> None:
    provider = FakeProvider(refusal(503, code, "maintenance"))
    client = kling(provider.transport)
    with pytest.raises(e.ServerError) as on_create:
        client.create(SPEC, EXTERNAL_ID)
    with pytest.raises(e.ServerError) as on_query:
        client.query(TASK_ID, SPEC)
    assert on_create.value.outcome_unknown is True
    assert on_query.value.outcome_unknown is False


def test_the_concurrency_refusal_exactly_as_observed(kling: KlingFactory) -> None:
    raw = b'{"code":1303,"message":"parallel task over resource pack limit","request_id":"abc"}'
    exc = create_error(kling, httpx.Response(429, content=raw))
    assert isinstance(exc, e.ConcurrencyLimited)
    assert exc.retry_after is None
    assert exc.request_id == "abc"


def test_retry_after_in_seconds_and_as_a_date(kling: KlingFactory, clock: FakeClock) -> None:
    seconds = create_error(kling, refusal(429, 1302, "slow", headers={"Retry-After": "7"}))
    assert isinstance(seconds, e.RateLimited)
    assert seconds.retry_after == 7.0
    date = email.utils.formatdate(clock.now + 42, usegmt=True)
    dated = create_error(kling, refusal(429, 1303, "full", headers={"Retry-After": date}))
    assert isinstance(dated, e.ConcurrencyLimited)
    assert dated.retry_after == 42.0


@pytest.mark.parametrize(
    ("code", "words"),
    [(1000, "secret key"), (1001, "credentials"), (1003, "clock"), (1004, "clock")],
)
def test_auth_errors_name_the_likely_cause(kling: KlingFactory, code: int, words: str) -> None:
    # Static keys are never re-signed, so 1003/1004 reach the caller at once.
    client = kling(FakeProvider(refusal(401, code, "auth failed")).transport, api_key=code > 1002)
    with pytest.raises(e.AuthError) as caught:
        client.create(SPEC, EXTERNAL_ID)
    assert caught.value.hint is not None
    assert words in caught.value.hint


def test_static_key_auth_error_hints_at_the_api_key(kling: KlingFactory) -> None:
    client = kling(
        FakeProvider(refusal(401, 1000, "Authentication failed")).transport, api_key=True
    )
    with pytest.raises(e.AuthError) as caught:
        client.query(TASK_ID, SPEC)
    assert caught.value.hint is not None
    assert "API key" in caught.value.hint


@pytest.mark.parametrize(
    ("http_status", "cls"),
    [
        (400, e.InvalidRequest),
        (403, e.PermissionDenied),
        (429, e.RateLimited),
        (502, e.ServerError),
    ],
)
def test_unknown_codes_fall_back_on_the_http_status(
    kling: KlingFactory, http_status: int, cls: type[e.ProviderError]
) -> None:
    exc = create_error(kling, refusal(http_status, 1999, "something new"))
    assert type(exc) is cls
    assert exc.code == 1999


def test_http_error_with_code_zero_is_classified_by_status(kling: KlingFactory) -> None:
    exc = create_error(kling, httpx.Response(503, json=envelope(None, message="busy")))
    assert isinstance(exc, e.ServerError)
    assert exc.outcome_unknown is True


class TokenCheckingServer:
    """Accepts a JWT only while it is valid by the server's own clock, as the vendor does."""

    def __init__(self, server_now: float) -> None:
        self.server_now = server_now
        self.tokens: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.tokens.append(token)
        claims = jwt.decode(
            token,
            SECRET_KEY,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_nbf": False},
        )
        if claims["exp"] <= self.server_now:
            return refusal(401, 1004, "Authorization expired")
        if claims["nbf"] > self.server_now:
            return refusal(401, 1003, "Authorization is not active yet")
        return ok(task())


def test_expired_token_is_re_signed_once_and_the_request_succeeds(
    kling: KlingFactory, clock: FakeClock
) -> None:
    server = TokenCheckingServer(server_now=clock.now)
    client = kling(httpx.MockTransport(server))
    client.query(TASK_ID, SPEC)
    clock.advance(1000)
    # By its own clock the client's token has 800 s left; the server's clock runs 800 s ahead.
    server.server_now = clock.now + 800
    status = client.create(SPEC, EXTERNAL_ID)
    assert status.task_id == TASK_ID
    assert len(server.tokens) == 3
    assert server.tokens[1] == server.tokens[0]  # reused, then refused with 1004
    assert server.tokens[2] != server.tokens[1]  # re-signed once, accepted


def test_a_second_timing_refusal_reaches_the_caller(kling: KlingFactory) -> None:
    provider = FakeProvider(refusal(401, 1004, "Authorization expired"))
    client = kling(provider.transport)
    with pytest.raises(e.AuthError) as caught:
        client.create(SPEC, EXTERNAL_ID)
    assert caught.value.code == 1004
    assert len(provider.requests) == 2


@pytest.mark.parametrize("code", [1000, 1002])
def test_wrong_credentials_are_not_retried(kling: KlingFactory, code: int) -> None:
    provider = FakeProvider(refusal(401, code, "Authentication failed"))
    with pytest.raises(e.AuthError):
        kling(provider.transport).create(SPEC, EXTERNAL_ID)
    assert len(provider.requests) == 1


def test_nothing_escapes_as_an_httpx_exception(kling: KlingFactory) -> None:
    request = httpx.Request("POST", "https://api-singapore.klingai.com/v1/videos/text2video")
    provider = FakeProvider(httpx.ReadTimeout("timed out", request=request))
    with pytest.raises(e.TransportError) as caught:
        kling(provider.transport).create(SPEC, EXTERNAL_ID)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
