"""The error tree: its branches, its messages, and its survival through Celery's serializers."""

from __future__ import annotations

import pickle

import pytest

from worker.providers import errors as e


@pytest.mark.parametrize(
    ("cls", "branch"),
    [
        (e.ServerError, e.TransientError),
        (e.TransportError, e.TransientError),
        (e.ProtocolError, e.TransientError),
        (e.RateLimited, e.ThrottledError),
        (e.ConcurrencyLimited, e.ThrottledError),
        (e.AuthError, e.AccountError),
        (e.InsufficientCredits, e.AccountError),
        (e.AccountBlocked, e.AccountError),
        (e.InvalidRequest, e.JobError),
        (e.ModelNotFound, e.JobError),
        (e.PermissionDenied, e.JobError),
        (e.ContentRefused, e.JobError),
        (e.ImageUnreachable, e.JobError),
        (e.TaskNotFound, e.JobError),
        (e.ResultGone, e.JobError),
    ],
)
def test_each_error_sits_on_exactly_one_branch(
    cls: type[e.ProviderError], branch: type[e.ProviderError]
) -> None:
    branches = (e.TransientError, e.ThrottledError, e.AccountError, e.JobError)
    assert [b for b in branches if issubclass(cls, b)] == [branch]


def test_duplicate_external_id_is_on_no_failure_branch() -> None:
    branches = (e.TransientError, e.ThrottledError, e.AccountError, e.JobError)
    assert issubclass(e.DuplicateExternalId, e.ProviderError)
    assert not issubclass(e.DuplicateExternalId, branches)


def test_unsupported_operation_is_also_not_implemented() -> None:
    assert issubclass(e.UnsupportedOperation, NotImplementedError)
    assert issubclass(e.UnsupportedOperation, e.ProviderError)


def test_str_carries_status_code_request_id_and_branch_details() -> None:
    exc = e.ConcurrencyLimited(
        "parallel task over resource pack limit",
        retry_after=2.5,
        http_status=429,
        code=1303,
        request_id="r-9",
    )
    assert str(exc) == (
        "parallel task over resource pack limit "
        "(HTTP 429; code 1303; request_id r-9; retry after 2.5s)"
    )
    assert repr(exc).startswith("ConcurrencyLimited('parallel task")
    lost = e.TransportError("POST /v1/videos/text2video timed out", outcome_unknown=True)
    assert "the create may have happened" in str(lost)
    auth = e.AuthError("token expired", hint="clock skew", http_status=401, code=1004)
    assert str(auth) == "token expired (HTTP 401; code 1004; likely cause: clock skew)"


@pytest.mark.parametrize(
    "exc",
    [
        e.ServerError("boom", outcome_unknown=True, http_status=503, code=5001, request_id="r"),
        e.RateLimited("slow down", retry_after=3.0, http_status=429, code=1302),
        e.AuthError("bad key", hint="wrong key", http_status=401, code=1000),
        e.DuplicateExternalId("already exists", http_status=400, code=1201),
        e.ResultGone("gone", http_status=404),
    ],
)
def test_errors_survive_pickling_with_their_attributes(exc: e.ProviderError) -> None:
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own bytes)
    assert type(copy) is type(exc)
    assert copy.__dict__ == exc.__dict__
    assert str(copy) == str(exc)


def test_errors_rebuild_from_their_message_alone() -> None:
    # Celery's JSON result serializer rebuilds an exception as `cls(*exc.args)`.
    exc = e.TransportError("read timed out", outcome_unknown=True)
    rebuilt = type(exc)(*exc.args)
    assert rebuilt.message == "read timed out"
    assert rebuilt.outcome_unknown is False
