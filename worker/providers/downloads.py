"""Streaming a result file from its signed URL, with failures translated like every other call.

The body is never held in memory: `iter_bytes` yields it chunk by chunk while the caller writes
it to storage. No `Authorization` header is sent: result URLs are signed CDN URLs on another host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from worker.providers.errors import (
    ProtocolError,
    ResultGone,
    ServerError,
    TransientError,
    TransportError,
)
from worker.providers.session import HttpSession, describe_url, http_failure, throttled

DEFAULT_CHUNK_SIZE = 1 << 20
_GONE = frozenset({403, 404, 410})


class Download:
    """An open result: its size and type as announced, and its body as a stream."""

    def __init__(self, response: httpx.Response, url: str) -> None:
        self._response = response
        self._where = describe_url(url)
        self.content_type: str | None = response.headers.get("content-type")
        self.content_length: int | None = _content_length(response)

    def iter_bytes(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The body in chunks of at most `chunk_size` bytes; a short body raises TransportError."""
        received = 0
        failure: TransientError | None = None
        try:
            for chunk in self._response.iter_bytes(chunk_size):
                received += len(chunk)
                yield chunk
        except httpx.HTTPError as exc:
            failure = http_failure(exc, "GET", self._where, is_create=False)
        if failure is not None:
            raise failure
        if self.content_length is not None and received != self.content_length:
            raise TransportError(
                f"download of {self._where} ended after {received} of {self.content_length} bytes"
            )

    def __repr__(self) -> str:
        return f"Download({self._where}, length={self.content_length}, type={self.content_type})"


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


@contextmanager
def open_download(session: HttpSession, url: str, *, now: float) -> Iterator[Download]:
    """Open `url` for streaming with `session`'s pool and timeouts; close it on exit."""
    where = describe_url(url)
    # Identity encoding keeps Content-Length equal to the bytes iter_bytes yields.
    headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
    response: httpx.Response | None = None
    failure: TransientError | None = None
    try:
        response = session.open_stream(url, headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        failure = http_failure(exc, "GET", where, is_create=False)
    if failure is not None:
        raise failure
    assert response is not None
    try:
        status = response.status_code
        if status in _GONE:
            raise ResultGone(
                f"result {where} is gone (its signed URL expired or the file was deleted)",
                http_status=status,
            )
        if status == 429:
            raise throttled(f"download of {where} was throttled", response, now=now)
        if status >= 500:
            raise ServerError(f"download of {where} failed at the server", http_status=status)
        if not response.is_success:
            raise ProtocolError(f"download of {where} answered unexpectedly", http_status=status)
        yield Download(response, url)
    finally:
        response.close()
