"""`/_sim/`: counters, timelines, reset, advance and accounts, as tests and benchmarks use them."""

from __future__ import annotations

import httpx

from tests.sim.conftest import LONG_ENOUGH_S
from worker.sim.process import SimHandle

T2V = "/v1/videos/text2video"


def test_stats_has_the_required_keys_and_counts_requests(
    sim: SimHandle, client: httpx.Client
) -> None:
    client.post(T2V, json={"prompt": "p", "external_task_id": "kb-s1"})
    client.post(T2V, json={"prompt": "p", "external_task_id": "kb-s1"})
    client.get(f"{T2V}/kb-s1")
    stats = sim.stats()
    for key in (
        "creates_accepted",
        "creates_refused",
        "duplicate_creates",
        "max_in_flight",
        "units_charged",
        "requests",
    ):
        assert key in stats
    assert stats["requests"] == {
        "POST /v1/videos/text2video": {"200": 1, "400": 1},
        "GET /v1/videos/text2video/{ident}": {"200": 1},
    }
    assert (stats["creates_accepted"], stats["creates_refused"]) == (1, 1)


def test_task_timelines_give_detection_lag(sim: SimHandle, client: httpx.Client) -> None:
    client.post(T2V, json={"prompt": "p", "external_task_id": "kb-t1"})
    (row,) = sim.tasks()
    assert row["status"] == "submitted"
    assert row["finished_at"] is None
    sim.advance(LONG_ENOUGH_S)
    (row,) = sim.tasks()
    assert row["status"] == "succeed"
    assert row["first_final_seen_at"] is None
    client.get(f"{T2V}/kb-t1")
    (row,) = sim.tasks()
    assert row["account"] == "default"
    assert row["external_task_id"] == "kb-t1"
    assert row["created_at"] < row["finished_at"] < row["first_final_seen_at"]
    # created + simulated time (scale 1) = finished
    assert abs(row["created_at"] + row["sim_seconds"] - row["finished_at"]) < 0.01
    assert row["units"] == row["units_charged"] == "3.0"


def test_reset_forgets_tasks_counters_and_the_clock(sim: SimHandle, client: httpx.Client) -> None:
    client.post(T2V, json={"prompt": "p"})
    sim.advance(1000)
    before = sim.stats()
    sim.reset()
    after = sim.stats()
    assert after["creates_accepted"] == 0
    assert after["requests"] == {}
    assert sim.tasks() == []
    assert after["now"] < before["now"] - 900


def test_advance_rejects_going_back(sim: SimHandle) -> None:
    resp = httpx.post(f"{sim.base_url}/_sim/advance", params={"seconds": -1})
    assert resp.status_code == 400


def test_accounts_can_be_added_and_changed(sim: SimHandle) -> None:
    summary = sim.set_account("team-b", api_keys=["team-b-key"], concurrency=1, balance="2.5")
    assert summary == {
        "name": "team-b",
        "concurrency": 1,
        "balance": "2.5",
        "reserved": "0",
        "in_flight": {},
        "models": None,
        "api_keys": 1,
        "key_pairs": 0,
    }
    headers = {"Authorization": "Bearer team-b-key"}
    ok = httpx.post(f"{sim.base_url}{T2V}", json={"prompt": "p", "duration": "3"}, headers=headers)
    assert ok.status_code == 200  # 0.6 u/s x 3 s = 1.8 of 2.5
    names = [a["name"] for a in httpx.get(f"{sim.base_url}/_sim/accounts").json()]
    assert names == ["default", "team-b"]
    bad = httpx.post(f"{sim.base_url}/_sim/accounts/x", json={"concurrency": -1})
    assert bad.status_code == 400
