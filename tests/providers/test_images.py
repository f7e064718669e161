"""The image preflight: public, credential-free, and really an image; local files inline."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.providers.conftest import KlingFactory
from tests.providers.wire import API_KEY, FakeProvider
from worker.providers import KlingClient
from worker.providers.auth import StaticKey
from worker.providers.errors import ImageUnreachable, InvalidRequest
from worker.providers.images import check_image_url, inline_base64, preflight_image

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 100
URL = "https://images.example.com/start.png"


def check(answer: httpx.Response | Exception, url: str = URL, **kw: bool) -> FakeProvider:
    provider = FakeProvider(answer)
    with httpx.Client(transport=provider.transport) as client:
        check_image_url(url, client, **kw)
    return provider


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, content=PNG, headers={"content-type": "image/png"}),
        httpx.Response(206, content=JPEG, headers={"content-type": "image/jpeg"}),
        httpx.Response(200, content=PNG, headers={"content-type": "application/octet-stream"}),
        httpx.Response(200, content=WEBP, headers={"content-type": "binary/octet-stream"}),
    ],
    ids=["png", "partial-jpeg", "png-by-magic", "webp-by-magic"],
)
def test_public_images_pass(answer: httpx.Response) -> None:
    provider = check(answer)
    assert provider.last.headers["range"] == "bytes=0-65535"
    assert "authorization" not in provider.last.headers


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (httpx.Response(403, text="AccessDenied"), "HTTP 403"),
        (httpx.Response(404), "HTTP 404"),
        (
            httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
            "text/html",
        ),
        (httpx.ConnectError("Name or service not known"), "could not be fetched"),
    ],
)
def test_unreachable_images_say_why(answer: httpx.Response | Exception, words: str) -> None:
    with pytest.raises(ImageUnreachable) as caught:
        check(answer)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://localhost:8000/a.png", "private network"),
        ("http://127.0.0.1/a.png", "private network"),
        ("http://10.1.2.3/a.png", "private network"),
        ("http://user:pw@images.example.com/a.png", "credentials"),
        ("ftp://images.example.com/a.png", "http(s)"),
    ],
)
def test_urls_no_provider_could_fetch_fail_without_a_request(url: str, words: str) -> None:
    provider = FakeProvider(httpx.Response(200, content=PNG))
    with (
        pytest.raises(ImageUnreachable) as caught,
        httpx.Client(transport=provider.transport) as client,
    ):
        preflight_image(url, client)
    assert words in str(caught.value)
    assert "pw" not in str(caught.value)
    assert provider.requests == []


def test_private_hosts_pass_when_allowed() -> None:
    answer = httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    check(answer, "http://127.0.0.1:9000/a.png", allow_private_hosts=True)


def test_signed_query_strings_stay_out_of_messages() -> None:
    with pytest.raises(ImageUnreachable) as caught:
        check(httpx.Response(403), URL + "?X-Amz-Signature=deadbeef")
    assert "deadbeef" not in str(caught.value)


def test_client_preflight_sends_no_credentials(kling: KlingFactory) -> None:
    provider = FakeProvider(httpx.Response(200, content=PNG, headers={"content-type": "image/png"}))
    client = kling(provider.transport, api_key=True)
    preflight_image(URL, client)
    assert "authorization" not in provider.last.headers
    with pytest.raises(ImageUnreachable, match="private network"):
        preflight_image("http://192.168.1.5/a.png", client)  # the provider is public
    assert len(provider.requests) == 1


def test_client_on_a_local_provider_admits_local_images() -> None:
    provider = FakeProvider(httpx.Response(200, content=PNG, headers={"content-type": "image/png"}))
    with KlingClient(
        "http://127.0.0.1:8765", StaticKey(SecretStr(API_KEY)), transport=provider.transport
    ) as client:
        client.preflight_image("http://127.0.0.1:8766/a.png")
    assert len(provider.requests) == 1


def test_local_files_become_raw_base64(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    assert base64.b64decode(inline_base64(str(path))) == PNG
    assert base64.b64decode(inline_base64(f"file://{path}")) == PNG
    with pytest.raises(InvalidRequest):
        inline_base64(str(tmp_path / "missing.png"))
