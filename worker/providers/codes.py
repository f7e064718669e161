"""The error tables: which provider answer becomes which error of the tree.

The `kling` dialect says what went wrong in its envelope's `code` (the vendor's error-code page);
the `guide` dialect only has HTTP statuses and free text (the product guide's troubleshooting
table). Both fall back on the HTTP status when the body says nothing usable.
"""

from __future__ import annotations

from typing import TypeVar

import httpx

from worker.providers.errors import (
    AccountBlocked,
    AuthError,
    ConcurrencyLimited,
    ContentRefused,
    DuplicateExternalId,
    ImageUnreachable,
    InsufficientCredits,
    InvalidRequest,
    JobError,
    ModelNotFound,
    PermissionDenied,
    ProtocolError,
    ProviderError,
    RateLimited,
    ServerError,
    TaskNotFound,
    ThrottledError,
)
from worker.providers.session import body_kind, throttled

KLING_KEY_HINTS = {
    "jwt": "the access key or secret key is wrong, or belongs to the other region's endpoint",
    "api_key": "the API key is wrong, revoked or expired, or belongs to the other region",
}
EMPTY_HEADER_HINT = "no token reached the provider: check that credentials are configured"
NOT_YET_VALID_HINT = "clock skew: this host's clock runs ahead of the provider's (check NTP)"
EXPIRED_HINT = "clock skew: this host's clock runs behind the provider's (check NTP)"
GUIDE_AUTH_HINT = (
    "the key must be sent with the `Bearer ` prefix, be the developer console's API key "
    "(not the account password) and not be expired; regenerate it if in doubt"
)

# The only auth failures a freshly signed token can cure: the JWT's timing.
TOKEN_TIMING_CODES = frozenset({1003, 1004})

_CREDIT_WORDS = ("credit", "balance", "quota", "arrear", "payment", "funds")
_PLAN_WORDS = ("plan", "model", "permission", "not allowed", "not available", "subscription")
_CONTENT_WORDS = ("policy", "content", "safety", "moderation", "sensitive", "nsfw")
_FETCH_WORDS = ("access", "fetch", "download", "reach", "load", "url")

E = TypeVar("E", bound=ProviderError)


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)


def kling_error(
    response: httpx.Response,
    *,
    code: int,
    message: str | None,
    request_id: str | None,
    is_create: bool,
    auth_kind: str,
    now: float,
) -> ProviderError:
    """The error for a `kling` envelope whose `code` is not 0."""
    text = message or f"the provider refused the request with code {code}"
    lowered = text.lower()

    def err(cls: type[E]) -> E:
        return cls(text, http_status=response.status_code, code=code, request_id=request_id)

    if 1000 <= code <= 1004:
        hints = {1001: EMPTY_HEADER_HINT, 1003: NOT_YET_VALID_HINT, 1004: EXPIRED_HINT}
        auth = err(AuthError)
        auth.hint = hints.get(code, KLING_KEY_HINTS.get(auth_kind))
        return auth
    simple: dict[int, type[ProviderError]] = {
        1100: AccountBlocked,
        1101: AccountBlocked,
        1102: InsufficientCredits,
        1103: PermissionDenied,
        1200: InvalidRequest,
        1202: InvalidRequest,
        1203: ModelNotFound,
        1300: ContentRefused,
        1301: ContentRefused,
        1304: AccountBlocked,
    }
    if code in simple:
        return err(simple[code])
    if code == 1201:
        if "already exist" in lowered:
            return err(DuplicateExternalId)
        if "not found" in lowered:
            return err(TaskNotFound)
        return err(InvalidRequest)
    if code in (1302, 1303):
        cls: type[ThrottledError] = RateLimited if code == 1302 else ConcurrencyLimited
        return throttled(text, response, now=now, cls=cls, code=code, request_id=request_id)
    if 5000 <= code <= 5099:
        server = err(ServerError)
        server.outcome_unknown = is_create
        return server
    return by_status(
        response,
        text,
        is_create=is_create,
        now=now,
        code=code,
        request_id=request_id,
        auth_hint=KLING_KEY_HINTS.get(auth_kind),
    )


def guide_error(
    response: httpx.Response,
    *,
    message: str | None,
    is_create: bool,
    now: float,
) -> ProviderError:
    """The error for a `guide` answer with a non-2xx status, read from its status and text."""
    status = response.status_code
    text = message or f"the provider answered HTTP {status}"
    lowered = text.lower()
    if status == 403:
        # The guide's 403 is either "insufficient credits" or "model not on your plan". When the
        # text names neither, pausing the batch (credits) is the safe reading: failing every job
        # one by one would empty the batch if the credits are what ran out.
        if _has(lowered, _CREDIT_WORDS) or not _has(lowered, _PLAN_WORDS):
            return InsufficientCredits(text, http_status=status)
        return PermissionDenied(text, http_status=status)
    if status == 404:
        return (ModelNotFound if is_create else TaskNotFound)(text, http_status=status)
    if status in (400, 422):
        cls: type[JobError] = InvalidRequest
        if _has(lowered, _CONTENT_WORDS):
            cls = ContentRefused
        elif "image" in lowered and _has(lowered, _FETCH_WORDS):
            cls = ImageUnreachable
        return cls(text, http_status=status)
    return by_status(
        response,
        text,
        is_create=is_create,
        now=now,
        auth_hint=GUIDE_AUTH_HINT,
        # The guide cannot tell a rate limit from a concurrency limit; waiting for a slot
        # covers both.
        throttle_cls=ConcurrencyLimited,
    )


def by_status(
    response: httpx.Response,
    text: str,
    *,
    is_create: bool,
    now: float,
    code: int | None = None,
    request_id: str | None = None,
    auth_hint: str | None = None,
    throttle_cls: type[ThrottledError] = RateLimited,
) -> ProviderError:
    """The error an HTTP status alone implies, for answers whose body names nothing better."""
    status = response.status_code
    if status == 401:
        return AuthError(text, hint=auth_hint, http_status=status, code=code, request_id=request_id)
    if status == 429:
        return throttled(
            text, response, now=now, cls=throttle_cls, code=code, request_id=request_id
        )
    if status >= 500:
        return ServerError(
            text,
            outcome_unknown=is_create,
            http_status=status,
            code=code,
            request_id=request_id,
        )
    if status == 403:
        return PermissionDenied(text, http_status=status, code=code, request_id=request_id)
    if 400 <= status < 500:
        return InvalidRequest(text, http_status=status, code=code, request_id=request_id)
    return ProtocolError(
        text,
        # A 2xx that cannot be read may be a create that happened; a 1xx/3xx is not.
        outcome_unknown=is_create and response.is_success,
        http_status=status,
        code=code,
        request_id=request_id,
    )


def unreadable(
    response: httpx.Response,
    what: str,
    *,
    is_create: bool,
    now: float,
    auth_hint: str | None,
    throttle_cls: type[ThrottledError],
) -> ProviderError:
    """The error for an answer that is not the dialect's JSON (an HTML error page, say)."""
    status = response.status_code
    text = f"{what} answered HTTP {status} with {body_kind(response)}"
    if status in (401, 429) or status >= 500:
        return by_status(
            response,
            text,
            is_create=is_create,
            now=now,
            auth_hint=auth_hint,
            throttle_cls=throttle_cls,
        )
    return ProtocolError(
        text,
        outcome_unknown=is_create and response.is_success,
        http_status=status,
    )
