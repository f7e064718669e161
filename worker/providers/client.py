"""What every dialect's client shares: one HTTP session, credentials, downloads, scrubbing.

A dialect's client subclasses `HttpClient` and adds only what differs: request bodies, envelopes
and how errors are read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

import httpx

from worker.providers.auth import Clock, Credentials
from worker.providers.downloads import Download, open_download
from worker.providers.errors import ProviderError
from worker.providers.images import check_image_url, is_private_host
from worker.providers.session import HttpSession, scrub


class HttpClient:
    """One process's connection pool to one provider, with its credentials."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._session = HttpSession(
            base_url,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            transport=transport,
        )

    @contextmanager
    def download(self, url: str) -> Iterator[Download]:
        with open_download(self._session, url, now=self._clock()) as download:
            yield download

    def preflight_image(self, url: str) -> None:
        # A provider on this machine's network (a local simulator) can fetch local images.
        local = is_private_host(self._session.base_url)
        check_image_url(url, self._session.http, allow_private_hosts=local)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(base_url={self._session.base_url!r}, auth={self._credentials.kind!r})"

    @contextmanager
    def _scrubbed(self) -> Iterator[None]:
        """Remove any secret that provider text echoed into an error before it leaves."""
        try:
            yield
        except ProviderError as exc:
            scrub(exc, self._credentials.redact)
            raise
