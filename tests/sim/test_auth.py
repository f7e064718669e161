"""Authentication codes of the vendor's error page: JWTs and static keys, over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.sim.conftest import API_KEY, make_jwt
from worker.sim.process import SimHandle

T2V = "/v1/videos/text2video/anything"


def code_of(sim: SimHandle, headers: dict[str, str]) -> tuple[int, int]:
    resp = httpx.get(sim.base_url + T2V, headers=headers)
    return resp.status_code, resp.json()["code"]


def test_a_valid_jwt_is_accepted(sim: SimHandle) -> None:
    # an unknown task, so a 400/1201 proves authentication passed
    assert code_of(sim, {"Authorization": f"Bearer {make_jwt()}"}) == (400, 1201)


def test_a_static_key_is_accepted(sim: SimHandle) -> None:
    assert code_of(sim, {"Authorization": f"Bearer {API_KEY}"}) == (400, 1201)


def _bearer_jwt(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_jwt(**claims)}"}


# Headers are built when the test runs, not when it is collected: a token's times are relative
# to now, and a long session reaches these tests many minutes after collecting them.
@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (lambda: {}, 1001),
        (lambda: {"Authorization": API_KEY}, 1000),  # no "Bearer " prefix
        (lambda: {"Authorization": "Bearer wrong-key"}, 1002),
        (lambda: _bearer_jwt(secret="not-the-secret-0123456789abcdef-0123"), 1002),
        (lambda: _bearer_jwt(iss="unknown-access-key"), 1002),
        (lambda: _bearer_jwt(nbf=time.time() + 600), 1003),
        (lambda: _bearer_jwt(exp=time.time() - 1), 1004),
    ],
)
def test_bad_credentials_are_401_with_the_official_code(
    sim: SimHandle, headers: Callable[[], dict[str, str]], code: int
) -> None:
    assert code_of(sim, headers()) == (401, code)


def test_a_cached_jwt_still_expires(sim: SimHandle) -> None:
    token = make_jwt(exp=time.time() + 1.0)
    headers = {"Authorization": f"Bearer {token}"}
    assert code_of(sim, headers) == (400, 1201)
    deadline = time.monotonic() + 10
    while code_of(sim, headers) != (401, 1004):
        assert time.monotonic() < deadline, "the cached token never expired"
