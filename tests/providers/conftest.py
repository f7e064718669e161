"""Fixtures of the provider tests: a settable clock and client factories over a fake transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from tests.providers.wire import ACCESS_KEY, API_KEY, SECRET_KEY
from worker.providers import GuideClient, KlingClient
from worker.providers.auth import JwtSigner, StaticKey

START = 1_790_000_000.0


class FakeClock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


KlingFactory = Callable[..., KlingClient]


@pytest.fixture
def kling(clock: FakeClock) -> Iterator[KlingFactory]:
    """Build `KlingClient`s over a transport (JWT auth unless `api_key=True`); closed afterwards."""
    made: list[KlingClient] = []

    def factory(transport: httpx.BaseTransport, *, api_key: bool = False) -> KlingClient:
        credentials = (
            StaticKey(SecretStr(API_KEY))
            if api_key
            else JwtSigner(SecretStr(ACCESS_KEY), SecretStr(SECRET_KEY), clock=clock)
        )
        client = KlingClient(
            "https://api-singapore.klingai.com", credentials, transport=transport, clock=clock
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


GuideFactory = Callable[[httpx.BaseTransport], GuideClient]


@pytest.fixture
def guide(clock: FakeClock) -> Iterator[GuideFactory]:
    made: list[GuideClient] = []

    def factory(transport: httpx.BaseTransport) -> GuideClient:
        client = GuideClient(
            "https://gateway.example.com",
            StaticKey(SecretStr(API_KEY)),
            transport=transport,
            clock=clock,
        )
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()
