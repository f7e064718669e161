"""The one exception tree of the provider clients: every failure is classified once, here.

    ProviderError                    .message .http_status .code .request_id
     ├── TransientError              retry with backoff; .outcome_unknown
     │    ├── ServerError            HTTP 5xx, codes 5000-5002 (503: maintenance)
     │    ├── TransportError         connect/read timeouts, dropped connections
     │    └── ProtocolError          non-JSON or HTML body, missing fields, unknown status
     ├── ThrottledError              wait, then retry; .retry_after
     │    ├── RateLimited            1302
     │    └── ConcurrencyLimited     1303; any 429 of the guide dialect
     ├── AccountError                pause the batch: no retry helps
     │    ├── AuthError              HTTP 401, 1000-1004, missing credentials; .hint
     │    ├── InsufficientCredits    1102; guide 403 "insufficient credits"
     │    └── AccountBlocked         1100, 1101, 1304
     ├── JobError                    fail this job; the batch goes on
     │    ├── InvalidRequest         1200, 1201, 1202; a spec the dialect cannot carry
     │    ├── ModelNotFound          1203; guide 404 on create
     │    ├── PermissionDenied       1103; guide 403 "model not on plan"
     │    ├── ContentRefused         1300, 1301
     │    ├── ImageUnreachable       the image URL is not publicly fetchable
     │    ├── TaskNotFound           1201 "Task not found by id/external id"
     │    └── ResultGone             the result URL answered 403/404/410 (expired)
     ├── DuplicateExternalId         1201 "already exists": adopt the existing task
     └── UnsupportedOperation        the dialect cannot do this (also a NotImplementedError)

`DuplicateExternalId` has a branch of its own because it is not a failure: it says a task with this
external id already exists, which is what the create wanted. As a `JobError` it would fail a job
whose task is running and will be billed; as a `TransientError` a retry would get the same answer.
On its own branch no `except JobError` can swallow it, and the caller adopts the task with `find()`.

`ResultGone` is a `JobError`: the signed URL of a finished task has expired and the file is deleted,
so this job can never be stored, while the rest of the batch is unaffected.

Messages hold only safe text: no header, key or token ever reaches them. The exceptions survive
pickling and Celery's JSON exception round trip (`cls(message)` rebuilds one).
"""

from __future__ import annotations


class ProviderError(Exception):
    """Root of every error a provider client raises."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.request_id = request_id

    def _details(self) -> list[str]:
        parts: list[str] = []
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.request_id:
            parts.append(f"request_id {self.request_id}")
        return parts

    def __str__(self) -> str:
        details = self._details()
        return f"{self.message} ({'; '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class TransientError(ProviderError):
    """Worth retrying with backoff.

    `outcome_unknown` is True when a create may have happened although no answer says so (its
    response was lost, or the server failed after receiving it): only a lookup by external id
    can tell before creating again.
    """

    def __init__(
        self,
        message: str,
        *,
        outcome_unknown: bool = False,
        http_status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code, request_id=request_id)
        self.outcome_unknown = outcome_unknown

    def _details(self) -> list[str]:
        parts = super()._details()
        if self.outcome_unknown:
            parts.append("the create may have happened")
        return parts


class ServerError(TransientError):
    """The provider failed (5xx, codes 5000-5002); 503 is maintenance."""


class TransportError(TransientError):
    """No usable answer arrived: connect or read timeout, refused or dropped connection."""


class ProtocolError(TransientError):
    """An answer that breaks the protocol: not JSON, fields missing, an unknown status."""


class ThrottledError(ProviderError):
    """The provider refused for now; `retry_after` (seconds) when it said how long to wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        http_status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code, request_id=request_id)
        self.retry_after = retry_after

    def _details(self) -> list[str]:
        parts = super()._details()
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g}s")
        return parts


class RateLimited(ThrottledError):
    """Too many requests (1302)."""


class ConcurrencyLimited(ThrottledError):
    """Too many tasks in flight for the account (1303); nothing was created."""


class AccountError(ProviderError):
    """A problem of the account or its credentials: pause the batch, no retry helps."""


class AuthError(AccountError):
    """Credentials refused or missing; `hint` names the likely cause."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        http_status: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code, request_id=request_id)
        self.hint = hint

    def _details(self) -> list[str]:
        parts = super()._details()
        if self.hint:
            parts.append(f"likely cause: {self.hint}")
        return parts


class InsufficientCredits(AccountError):
    """The account's balance or resource pack is used up (1102)."""


class AccountBlocked(AccountError):
    """The account is abnormal or in arrears (1100, 1101), or this IP is not whitelisted (1304)."""


class JobError(ProviderError):
    """This job cannot succeed as asked; the rest of the batch goes on."""


class InvalidRequest(JobError):
    """Parameters refused (1200-1202), or a spec this dialect cannot express."""


class ModelNotFound(JobError):
    """The model (or resource) does not exist (1203)."""


class PermissionDenied(JobError):
    """The account may not use this model or API (1103)."""


class ContentRefused(JobError):
    """Blocked by the platform's content policy (1300, 1301)."""


class ImageUnreachable(JobError):
    """An input image URL cannot be fetched publicly, or is not an image."""


class TaskNotFound(JobError):
    """No task with this id or external id (1201 "Task not found")."""


class ResultGone(JobError):
    """The result's signed URL expired (403/404/410): the file is deleted at the provider."""


class DuplicateExternalId(ProviderError):
    """A task with this external id already exists (1201 "already exists"); nothing was created."""


class UnsupportedOperation(ProviderError, NotImplementedError):
    """The dialect cannot do this (the guide dialect has no lookup by external id)."""
