"""Injected faults over real HTTP: 5xx, lost responses, dropped connections, rate limit, seeds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sim.conftest import API_KEY, AUTH
from worker.sim.process import SimHandle, running_simulator

T2V = "/v1/videos/text2video"


@pytest.fixture
def faulty(request: pytest.FixtureRequest) -> Iterator[tuple[SimHandle, httpx.Client]]:
    args: tuple[str, ...] = request.param
    with (
        running_simulator("--seed", "3", "--api-key", API_KEY, *args) as sim,
        httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=10.0) as client,
    ):
        yield sim, client


def create_body(ext: str) -> dict[str, Any]:
    return {"prompt": "rain", "duration": "5", "external_task_id": ext}


@pytest.mark.parametrize("faulty", [("--create-5xx-rate", "1")], indirect=True)
def test_create_5xx_creates_nothing(faulty: tuple[SimHandle, httpx.Client]) -> None:
    sim, client = faulty
    resp = client.post(T2V, json=create_body("kb-5xx"))
    assert (resp.status_code, resp.json()["code"]) == (500, 5000)
    guide = client.post("/v1/video/generate", json={"model": "kling-v3", "prompt": "p"})
    assert guide.status_code == 500
    assert guide.json()["error"]
    assert sim.tasks() == []
    assert client.get(f"{T2V}/kb-5xx").json()["code"] == 1201


@pytest.mark.parametrize("faulty", [("--query-5xx-rate", "1")], indirect=True)
def test_query_5xx(faulty: tuple[SimHandle, httpx.Client]) -> None:
    sim, client = faulty
    assert client.post(T2V, json=create_body("kb-q")).status_code == 200
    resp = client.get(f"{T2V}/kb-q")
    assert (resp.status_code, resp.json()["code"]) == (500, 5000)
    assert sim.stats()["faults"] == {"query_5xx": 1}


@pytest.mark.parametrize("faulty", [("--lost-response-rate", "1")], indirect=True)
def test_lost_response_creates_the_task_but_the_client_cannot_tell(
    faulty: tuple[SimHandle, httpx.Client],
) -> None:
    sim, client = faulty
    outcomes = set()
    for i in range(4):
        try:
            resp = client.post(T2V, json=create_body(f"kb-lost-{i}"))
        except httpx.TransportError:
            outcomes.add("dropped")
        else:
            assert (resp.status_code, resp.json()["code"]) == (500, 5000)
            outcomes.add("500")
        # recovery by external id finds the task that was created
        found = client.get(f"{T2V}/kb-lost-{i}")
        assert found.status_code == 200
        assert found.json()["data"]["task_status"] == "submitted"
    assert outcomes == {"dropped", "500"}  # seed 3 draws both kinds
    stats = sim.stats()
    assert stats["creates_accepted"] == 4
    assert stats["faults"]["lost_response"] == 4
    assert client.post(T2V, json=create_body("kb-lost-0")).json()["code"] == 1201


@pytest.mark.parametrize("faulty", [("--drop-rate", "1")], indirect=True)
def test_dropped_connection_is_a_transport_error_not_a_500(
    faulty: tuple[SimHandle, httpx.Client],
) -> None:
    sim, client = faulty
    # Closed without a response: httpx sees either the close or a reset, never an HTTP answer.
    dropped = (httpx.RemoteProtocolError, httpx.ReadError)
    with pytest.raises(dropped):
        client.get(f"{T2V}/anything")
    with pytest.raises(dropped):
        client.post(T2V, json=create_body("kb-drop"))
    stats = sim.stats()
    assert stats["faults"]["dropped"] == 2
    assert stats["requests"]["GET /v1/videos/text2video/{ident}"] == {"dropped": 1}
    assert sim.tasks() == []


@pytest.mark.parametrize("faulty", [("--rps", "0.2")], indirect=True)
def test_request_rate_limit(faulty: tuple[SimHandle, httpx.Client]) -> None:
    _sim, client = faulty
    assert client.get(f"{T2V}/x").json()["code"] == 1201
    resp = client.get(f"{T2V}/x")  # the next token is 5 s away
    assert (resp.status_code, resp.json()["code"]) == (429, 1302)
    guide = client.post("/v1/video/generate", json={"model": "kling-v3", "prompt": "p"})
    assert guide.status_code == 429
    assert int(guide.headers["retry-after"]) >= 1


@pytest.mark.parametrize("faulty", [("--fail-rate", "0.5", "--median-seconds", "1")], indirect=True)
def test_fail_rate_fails_some_renders(faulty: tuple[SimHandle, httpx.Client]) -> None:
    sim, client = faulty
    sim.set_account("default", concurrency=50)
    for i in range(20):
        assert client.post(T2V, json=create_body(f"kb-f{i}")).status_code == 200
    sim.advance(600)
    statuses = [t["status"] for t in sim.tasks()]
    assert 3 <= statuses.count("failed") <= 17
    assert statuses.count("failed") + statuses.count("succeed") == 20


def run_sequence(seed: str) -> list[tuple[str, float]]:
    with (
        running_simulator("--seed", seed, "--api-key", API_KEY, "--fail-rate", "0.3") as sim,
        httpx.Client(base_url=sim.base_url, headers=AUTH) as client,
    ):
        for i in range(3):
            assert client.post(T2V, json=create_body(f"kb-seq-{i}")).status_code == 200
        return [(t["task_id"], t["sim_seconds"]) for t in sim.tasks()]


def test_a_seed_reproduces_a_run_exactly() -> None:
    first, again, other = run_sequence("42"), run_sequence("42"), run_sequence("43")
    assert first == again
    assert first != other


@pytest.mark.parametrize("faulty", [("--query-5xx-rate", "1")], indirect=True)
def test_fault_rates_change_at_run_time_and_bad_rates_are_refused(
    faulty: tuple[SimHandle, httpx.Client],
) -> None:
    sim, client = faulty
    assert client.post(T2V, json=create_body("kb-outage")).status_code == 200
    assert client.get(f"{T2V}/kb-outage").status_code == 500

    rates = sim.set_faults(query_5xx_rate=0.0, create_5xx_rate=1.0)
    assert (rates["query_5xx_rate"], rates["create_5xx_rate"]) == (0.0, 1.0)
    assert rates["drop_rate"] == 0.0  # untouched
    assert client.get(f"{T2V}/kb-outage").status_code == 200
    assert client.post(T2V, json=create_body("kb-after")).status_code == 500

    for bad in ({"query_5xx_rate": 1.5}, {"no_such_rate": 0.1}, [0.1]):
        resp = httpx.post(f"{sim.base_url}/_sim/faults", json=bad)
        assert resp.status_code == 400, bad
    assert sim.set_faults()["create_5xx_rate"] == 1.0
