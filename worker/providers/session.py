"""The HTTP boundary shared by every dialect: one pooled `httpx.Client`, explicit timeouts, and the
translation of httpx's failures into the provider error tree.

Nothing above this module sees an `httpx` exception. Translated errors are raised outside the
`except` block, so they carry no `__context__`: httpx exceptions hold the request, and with it the
`Authorization` header, which must not travel on into tracebacks or error trackers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx

from worker.providers.errors import (
    ProtocolError,
    ProviderError,
    RateLimited,
    ThrottledError,
    TransientError,
    TransportError,
)

logger = logging.getLogger(__name__)

USER_AGENT = "kbatch/0.1"
MAX_MESSAGE_CHARS = 300

# Failures that happen before the request leaves: the provider cannot have acted on it.
_NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
)


def describe_url(url: str) -> str:
    """Scheme, host and path of `url`: signed query strings and user info stay out of messages."""
    parts = urlsplit(url)
    if not parts.scheme:
        return parts.path
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def safe_text(value: object, limit: int = MAX_MESSAGE_CHARS) -> str | None:
    """Provider-supplied text fit for a message: a string, printable, bounded in length."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def http_failure(exc: Exception, method: str, where: str, *, is_create: bool) -> TransientError:
    """The provider error for an httpx failure of `method where`."""
    reason = safe_text(str(exc)) or type(exc).__name__
    sent = not isinstance(exc, _NEVER_SENT)
    unknown = is_create and sent
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)):
        return ProtocolError(f"{method} {where}: request refused locally ({reason})")
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(f"{method} {where} timed out ({reason})", outcome_unknown=unknown)
    if isinstance(exc, httpx.TransportError):
        what = "lost the connection" if sent else "could not connect"
        return TransportError(f"{method} {where} {what} ({reason})", outcome_unknown=unknown)
    # Decoding errors, redirect loops: an answer came back but could not be read.
    return ProtocolError(
        f"{method} {where}: unreadable response ({reason})", outcome_unknown=unknown
    )


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def throttled(
    message: str,
    response: httpx.Response,
    *,
    now: float,
    cls: type[ThrottledError] = RateLimited,
    code: int | None = None,
    request_id: str | None = None,
) -> ThrottledError:
    """A throttling error carrying the response's `Retry-After`, when it sent one."""
    return cls(
        message,
        retry_after=parse_retry_after(response.headers.get("retry-after"), now=now),
        http_status=response.status_code,
        code=code,
        request_id=request_id,
    )


NOT_JSON = object()


def read_json(response: httpx.Response) -> Any:
    """The decoded JSON body, or `NOT_JSON` for an empty, HTML or otherwise undecodable body."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


def body_kind(response: httpx.Response) -> str:
    """A safe description of a body that is not the expected JSON (never the body itself)."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip() or "untyped"
    if not response.content:
        return "an empty body"
    return f"a {content_type} body of {len(response.content)} bytes"


_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
}
_STREAM_HEADERS = {"User-Agent": USER_AGENT, "Connection": "keep-alive"}


def _environment_proxy() -> bool:
    """Whether the environment names a proxy (`HTTPS_PROXY` and the like), which httpx honours."""
    return any(scheme in getproxies() for scheme in ("http", "https", "all"))


@lru_cache(maxsize=256)
def _absolute_url(base_url: str, path: str) -> httpx.URL:
    # An API call goes to one of a few URLs (the create and list endpoints) again and again;
    # httpx parses a URL string afresh for every request.
    return httpx.URL(base_url + path)


class HttpSession:
    """One connection pool with timeouts from settings and a base URL.

    API calls (small JSON requests to the provider) are built here and handed straight to the
    pool's transport. `httpx.Client.request` would do the same and then some, at every call:
    merge the base URL into the path by parsing both again, run the authentication and redirect
    machinery, and feed the response to a cookie jar; a third of the CPU of a request on a warm
    connection, none of which an API call uses (it authenticates with a header, is never
    redirected and sets no cookies). A download (`open_stream`) goes the same way unless it is
    redirected; the `httpx.Client` (`http`) then follows the redirect, as it does for image
    checks. Where the environment names a proxy, every request goes through the client, which
    routes it there.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        if transport is None and not _environment_proxy():
            # The transport httpx.Client would make itself (the client then owns and closes it).
            transport = httpx.HTTPTransport()
        self._transport = transport
        self._extensions = {"timeout": timeout.as_dict()}
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        authorization: str,
        json_body: dict[str, Any] | None = None,
        is_create: bool = False,
    ) -> httpx.Response:
        """Send one API request and read its whole (small) answer, whatever its status."""
        started = time.monotonic()
        failure: TransientError | None = None
        try:
            response = self._exchange(method, path, authorization, json_body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            failure = http_failure(exc, method, path, is_create=is_create)
        if failure is not None:
            logger.info("provider %s %s failed: %s", method, path, failure.message)
            raise failure
        logger.debug(
            "provider %s %s -> %s in %.3fs",
            method,
            path,
            response.status_code,
            time.monotonic() - started,
        )
        return response

    def _exchange(
        self, method: str, path: str, authorization: str, json_body: dict[str, Any] | None
    ) -> httpx.Response:
        request = httpx.Request(
            method,
            _absolute_url(self.base_url, path),
            headers={**_HEADERS, "Authorization": authorization},
            json=json_body,
            extensions=self._extensions,
        )
        if self._transport is None:
            return self.http.send(request)
        response = _direct(self._transport, request)
        try:
            response.read()
        finally:
            response.close()
        return response

    def open_stream(self, url: str, headers: Mapping[str, str]) -> httpx.Response:
        """GET `url` (on any host) for streaming its body, following redirects; the caller
        closes the response."""
        if self._transport is not None:
            request = httpx.Request(
                "GET", url, headers={**_STREAM_HEADERS, **headers}, extensions=self._extensions
            )
            response = _direct(self._transport, request)
            if not response.has_redirect_location:
                return response
            # Handed on (a CDN's redirect): the client follows it from there.
            response.close()
            url = str(request.url.join(response.headers["location"]))
        request = self.http.build_request("GET", url, headers=headers)
        return self.http.send(request, stream=True, follow_redirects=True)

    def close(self) -> None:
        self.http.close()


def _direct(transport: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
    """`request` sent through `transport` itself, without the client (see `HttpSession`)."""
    response = transport.handle_request(request)
    response.request = request  # as the client sets it: raise_for_status and errors read it
    return response


def scrub(exc: ProviderError, redact: Callable[[str], str]) -> None:
    """Replace any secret in `exc`'s message (provider text may echo what it was sent).

    `args` is rewritten too: it is what pickling and Celery's serializers carry on.
    """
    exc.message = redact(exc.message)
    exc.args = (exc.message,)
