"""Input images: local files sent inline, and the preflight that checks an image URL is public.

A provider fetches `image_url` itself, without credentials; a URL behind authentication or on a
private network fails only minutes later, as a failed task. The preflight asks the same question
first, cheaply, with a small byte limit.
"""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from worker.providers.errors import ImageUnreachable, InvalidRequest
from worker.providers.session import describe_url, safe_text

if TYPE_CHECKING:
    from worker.providers.base import ProviderClient

PREFLIGHT_MAX_BYTES = 64 * 1024

# File signatures of the image formats a provider accepts (and a few it may).
_MAGIC: tuple[tuple[bytes, int], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0),
    (b"\xff\xd8\xff", 0),
    (b"GIF87a", 0),
    (b"GIF89a", 0),
    (b"WEBP", 8),
    (b"BM", 0),
)


def is_remote(ref: str) -> bool:
    """Whether `ref` is an http(s) URL rather than a local file path."""
    return ref.lower().startswith(("http://", "https://"))


def local_path(ref: str) -> Path:
    return Path(ref.removeprefix("file://"))


def inline_base64(ref: str) -> str:
    """A local file as raw base64 (no `data:` prefix), the form the `kling` dialect accepts."""
    path = local_path(ref)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"cannot read local file {path}: {exc.strerror}") from None
    return base64.b64encode(data).decode("ascii")


def looks_like_image(head: bytes) -> bool:
    return any(head[offset : offset + len(magic)] == magic for magic, offset in _MAGIC)


def is_private_host(url: str) -> bool:
    """Whether `url` names this machine or a private network, which no provider can reach."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def preflight_image(url: str, client: ProviderClient | httpx.Client) -> None:
    """Raise `ImageUnreachable` unless `url` is publicly fetchable without credentials and is an
    image. With a `ProviderClient`, its pool is used and private hosts pass only when the provider
    itself is on a private network (a local simulator).
    """
    if isinstance(client, httpx.Client):
        check_image_url(url, client)
    else:
        client.preflight_image(url)


def check_image_url(
    url: str,
    client: httpx.Client,
    *,
    allow_private_hosts: bool = False,
    max_bytes: int = PREFLIGHT_MAX_BYTES,
) -> None:
    """The preflight itself: a GET of at most `max_bytes` bytes (by content type or magic bytes).

    `client` sends no credentials here (headers are built per request). `allow_private_hosts`
    admits loopback and private addresses, for a provider that runs on the same network.
    """
    where = describe_url(url)
    parts = urlsplit(url)
    failure: str | None = None
    if parts.scheme.lower() not in ("http", "https"):
        raise ImageUnreachable(f"image {where} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ImageUnreachable(f"image {where} carries credentials; providers fetch without any")
    if not allow_private_hosts and is_private_host(url):
        raise ImageUnreachable(f"image {where} is on a private network the provider cannot reach")
    try:
        status, content_type, head = _fetch_head(client, url, max_bytes)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        failure = safe_text(str(exc)) or type(exc).__name__
    if failure is not None:
        raise ImageUnreachable(f"image {where} could not be fetched ({failure})")
    if not 200 <= status < 300:
        raise ImageUnreachable(f"image {where} answered HTTP {status}", http_status=status)
    if content_type.startswith("image/") or looks_like_image(head):
        return
    raise ImageUnreachable(
        f"image {where} is not an image (content type {content_type or 'missing'})",
        http_status=status,
    )


def _fetch_head(client: httpx.Client, url: str, max_bytes: int) -> tuple[int, str, bytes]:
    """Status, content type and at most `max_bytes` first bytes of `url` (the rest unread)."""
    headers = {"Accept": "image/*", "Range": f"bytes=0-{max_bytes - 1}"}
    request = client.build_request("GET", url, headers=headers)
    response = client.send(request, stream=True, follow_redirects=True)
    try:
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        head = _read_head(response, max_bytes) if response.is_success else b""
        return response.status_code, content_type, head
    finally:
        response.close()


def _read_head(response: httpx.Response, max_bytes: int) -> bytes:
    head = b""
    for chunk in response.iter_bytes():
        head += chunk
        if len(head) >= max_bytes:
            break
    return head[:max_bytes]
