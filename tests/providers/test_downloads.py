"""Downloading results: streamed in chunks, never whole in memory; expired URLs are ResultGone."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.providers.conftest import KlingFactory
from tests.providers.wire import VIDEO_URL, FakeProvider
from worker.providers import errors as e

CHUNK = 64 * 1024


class CountingBody(httpx.SyncByteStream):
    """A body produced chunk by chunk, counting how many chunks were pulled so far."""

    def __init__(self, chunks: int) -> None:
        self.total = chunks
        self.produced = 0

    def __iter__(self) -> Iterator[bytes]:
        for i in range(self.total):
            self.produced += 1
            yield bytes([i % 256]) * CHUNK


def test_download_streams_with_length_and_type(kling: KlingFactory) -> None:
    body = CountingBody(32)
    answer = httpx.Response(
        200,
        stream=body,
        headers={"content-type": "video/mp4", "content-length": str(32 * CHUNK)},
    )
    provider = FakeProvider(answer)
    client = kling(provider.transport)
    with client.download(VIDEO_URL) as download:
        assert (download.content_length, download.content_type) == (32 * CHUNK, "video/mp4")
        chunks = download.iter_bytes(CHUNK)
        first = next(chunks)
        # Only what was asked for has been pulled from the network: nothing is buffered whole.
        assert body.produced <= 2
        rest = list(chunks)
    assert len(first) == CHUNK
    assert [c[0] for c in [first, *rest]] == [i % 256 for i in range(32)]
    request = provider.last
    assert str(request.url) == VIDEO_URL
    assert "authorization" not in request.headers
    assert request.headers["accept-encoding"] == "identity"


def test_download_follows_redirects(kling: KlingFactory) -> None:
    moved = httpx.Response(302, headers={"location": "https://cdn2.example.com/v.mp4"})
    provider = FakeProvider(moved, httpx.Response(200, content=b"video-bytes"))
    with kling(provider.transport).download(VIDEO_URL) as download:
        assert b"".join(download.iter_bytes(4)) == b"video-bytes"
    assert str(provider.last.url) == "https://cdn2.example.com/v.mp4"


def test_a_relative_redirect_is_followed_from_the_url_that_gave_it(kling: KlingFactory) -> None:
    moved = httpx.Response(307, headers={"location": "/moved/v.mp4"})
    provider = FakeProvider(moved, httpx.Response(200, content=b"video-bytes"))
    with kling(provider.transport).download(VIDEO_URL) as download:
        assert b"".join(download.iter_bytes()) == b"video-bytes"
    assert str(provider.last.url) == "https://cdn.klingai.com/moved/v.mp4"


@pytest.mark.parametrize("http_status", [403, 404, 410])
def test_expired_urls_are_result_gone(kling: KlingFactory, http_status: int) -> None:
    answer = httpx.Response(http_status, text="<Error><Code>AccessDenied</Code></Error>")
    with (
        pytest.raises(e.ResultGone) as caught,
        kling(FakeProvider(answer).transport).download(VIDEO_URL),
    ):
        pass
    assert caught.value.http_status == http_status
    assert "x-sign" not in str(caught.value)  # the signed query string stays out of messages


@pytest.mark.parametrize(
    ("answer", "cls"),
    [
        (httpx.Response(503), e.ServerError),
        (httpx.Response(429, headers={"retry-after": "3"}), e.RateLimited),
        (httpx.Response(400), e.ProtocolError),
    ],
)
def test_other_download_failures_are_classified(
    kling: KlingFactory, answer: httpx.Response, cls: type[e.ProviderError]
) -> None:
    with pytest.raises(cls), kling(FakeProvider(answer).transport).download(VIDEO_URL):
        pass


def test_a_body_shorter_than_its_length_is_a_transport_error(kling: KlingFactory) -> None:
    answer = httpx.Response(200, content=b"x" * 10, headers={"content-length": "1000"})
    client = kling(FakeProvider(answer).transport)
    with client.download(VIDEO_URL) as download, pytest.raises(e.TransportError) as caught:
        list(download.iter_bytes())
    assert "10 of 1000 bytes" in str(caught.value)


def test_a_connection_lost_mid_body_is_a_transport_error(kling: KlingFactory) -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"first"
            raise httpx.ReadError("connection reset")

    answer = httpx.Response(200, stream=Broken())
    with kling(FakeProvider(answer).transport).download(VIDEO_URL) as download:
        chunks = download.iter_bytes(5)
        assert next(chunks) == b"first"
        with pytest.raises(e.TransportError) as caught:
            next(chunks)
    assert caught.value.__context__ is None
    assert caught.value.outcome_unknown is False
