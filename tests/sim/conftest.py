"""Fixtures: one long-lived simulator whose time only moves when a test advances it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from worker.sim.process import SimHandle, running_simulator

API_KEY = "test-api-key"
ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret-0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

# Renders take about a simulated minute at time scale 1: nothing ends unless a test advances
# the clock, so every timing below is decided by the test, not by the machine's speed.
SLOW_ARGS = (
    "--seed",
    "11",
    "--time-scale",
    "1",
    "--median-seconds",
    "60",
    "--spread",
    "0.1",
    "--concurrency",
    "2",
    "--api-key",
    API_KEY,
    "--access-key",
    ACCESS_KEY,
    "--secret-key",
    SECRET_KEY,
)
LONG_ENOUGH_S = 3600.0  # more than any render's simulated time at these settings


def make_jwt(*, iss: str = ACCESS_KEY, secret: str = SECRET_KEY, **claims: float) -> str:
    now = time.time()
    payload = {"iss": iss, "exp": now + 1800, "nbf": now - 5, **claims}
    return jwt.encode(payload, secret, algorithm="HS256", headers={"typ": "JWT"})


@pytest.fixture(scope="session")
def slow_sim_process() -> Iterator[SimHandle]:
    with running_simulator(*SLOW_ARGS) as handle:
        yield handle


@pytest.fixture
def sim(slow_sim_process: SimHandle) -> SimHandle:
    """The shared slow simulator, reset: no tasks, zero counters, clock offset 0."""
    slow_sim_process.reset()
    return slow_sim_process


@pytest.fixture
def client(sim: SimHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=10.0) as c:
        yield c
