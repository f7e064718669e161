"""The official dialect over real HTTP, pinned to kling-api.md: envelopes, lifecycle, limits."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.sim.conftest import LONG_ENOUGH_S
from worker.sim.process import SimHandle

T2V = "/v1/videos/text2video"


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model_name": "kling-v3",
        "prompt": "a lighthouse at dusk",
        "mode": "std",
        "duration": "5",
        "external_task_id": f"kb{uuid.uuid4().hex[:24]}",
    }
    data.update(overrides)
    return data


def create(client: httpx.Client, path: str = T2V, **overrides: Any) -> dict[str, Any]:
    resp = client.post(path, json=body(**overrides))
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


def query(client: httpx.Client, ident: str, path: str = T2V) -> dict[str, Any]:
    resp = client.get(f"{path}/{ident}")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


def test_create_answers_the_reference_envelope(client: httpx.Client) -> None:
    resp = client.post(T2V, json=body(external_task_id="kb-envelope"))
    assert resp.status_code == 200
    env = resp.json()
    assert env["code"] == 0
    assert env["message"] == "SUCCEED"
    uuid.UUID(env["request_id"])
    data = env["data"]
    assert re.fullmatch(r"\d{18}", data["task_id"])
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": "kb-envelope"}
    assert isinstance(data["created_at"], int)
    assert data["created_at"] > 1_700_000_000_000
    assert data["updated_at"] == data["created_at"]


def test_lifecycle_submitted_processing_succeed(sim: SimHandle, client: httpx.Client) -> None:
    created = create(client, mode="pro", duration="10")
    first = query(client, created["task_id"])
    assert first["task_status"] == "submitted"
    assert first["task_result"] == {}
    assert first["task_status_msg"] == ""
    assert "final_unit_deduction" not in first

    sim.advance(30)  # past 10% of a ~minute render, before its end
    assert query(client, created["task_id"])["task_status"] == "processing"

    sim.advance(LONG_ENOUGH_S)
    done = query(client, created["task_info"]["external_task_id"])
    assert done["task_status"] == "succeed"
    assert done["final_unit_deduction"] == "8.0"  # kling-v3 pro, no audio: 0.8 u/s x 10 s
    (video,) = done["task_result"]["videos"]
    assert video["url"].startswith(sim.base_url + "/results/")
    assert isinstance(video["duration"], str)
    assert float(video["duration"]) > 0
    assert re.fullmatch(r"\d+", video["id"])
    assert done["updated_at"] > done["created_at"]


def test_query_by_external_task_id_returns_the_original_task(client: httpx.Client) -> None:
    created = create(client, external_task_id="kb-by-external")
    assert query(client, "kb-by-external")["task_id"] == created["task_id"]


def test_duplicate_external_id_is_refused_and_creates_nothing(
    sim: SimHandle, client: httpx.Client
) -> None:
    create(client, external_task_id="kb-dup")
    again = client.post(T2V, json=body(external_task_id="kb-dup"))
    assert again.status_code == 400
    assert again.json()["code"] == 1201
    assert "already exists" in again.json()["message"]
    stats = sim.stats()
    assert stats["creates_accepted"] == 1
    assert stats["duplicate_creates"] == 0
    assert len(sim.tasks()) == 1


def test_unknown_id_is_400_1201_task_not_found(client: httpx.Client) -> None:
    resp = client.get(f"{T2V}/no-such-task")
    assert resp.status_code == 400
    assert resp.json()["code"] == 1201
    assert resp.json()["message"] == "Task not found by id/external id: no-such-task"
    assert "data" not in resp.json()


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"duration": 5}, 400, 1201),  # a number, not a string
        ({"duration": "7"}, 400, 1201),  # not a kling-v2-6 duration
        ({"mode": "standard"}, 400, 1201),
        ({"model_name": "kling-v2-0"}, 404, 1203),
        ({"aspect_ratio": "4:5"}, 400, 1201),
        ({"prompt": "x" * 2501}, 400, 1201),
    ],
)
def test_invalid_parameters(
    client: httpx.Client, overrides: dict[str, Any], status: int, code: int
) -> None:
    if overrides.get("duration") == "7":
        overrides["model_name"] = "kling-v2-6"
    resp = client.post(T2V, json=body(**overrides))
    assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text


def test_body_that_is_not_json_is_400_1200(client: httpx.Client) -> None:
    resp = client.post(T2V, content=b"{not json", headers={"content-type": "application/json"})
    assert (resp.status_code, resp.json()["code"]) == (400, 1200)


def test_refuse_marker_is_400_1301_and_costs_nothing(sim: SimHandle, client: httpx.Client) -> None:
    resp = client.post(T2V, json=body(prompt="a cat [[refuse]]"))
    assert (resp.status_code, resp.json()["code"]) == (400, 1301)
    stats = sim.stats()
    assert stats["creates_refused"] == 1
    assert stats["creates_accepted"] == 0
    assert sim.tasks() == []


def test_fail_marker_fails_with_a_message_and_no_charge(
    sim: SimHandle, client: httpx.Client
) -> None:
    created = create(client, prompt="a storm [[fail]]")
    sim.advance(LONG_ENOUGH_S)
    done = query(client, created["task_id"])
    assert done["task_status"] == "failed"
    assert done["task_status_msg"]
    assert done["task_result"] == {}
    assert done["final_unit_deduction"] == "0"
    assert sim.stats()["units_charged"] == 0


def test_concurrency_limit_answers_the_exact_1303_body(
    sim: SimHandle, client: httpx.Client
) -> None:
    create(client)
    create(client)
    resp = client.post(T2V, json=body())
    assert resp.status_code == 429
    data = resp.json()
    assert set(data) == {"code", "message", "request_id"}
    assert data["code"] == 1303
    assert data["message"] == "parallel task over resource pack limit"
    stats = sim.stats()
    assert stats["max_in_flight"] == {"default": 2}
    assert stats["refused_by_reason"] == {"concurrency": 1}


def test_a_failed_task_holds_its_slot_until_it_ends(sim: SimHandle, client: httpx.Client) -> None:
    create(client, prompt="doomed [[fail]]")
    create(client)
    assert client.post(T2V, json=body()).status_code == 429
    sim.advance(LONG_ENOUGH_S)  # both end; nobody queried them
    assert client.post(T2V, json=body()).status_code == 200


def test_images_have_their_own_resource_pack(client: httpx.Client) -> None:
    create(client)
    create(client)
    resp = client.post("/v1/images/generations", json={"prompt": "a fox", "n": 1})
    assert resp.status_code == 200, resp.text


def test_balance_is_charged_on_success_and_exhaustion_is_429_1102(
    sim: SimHandle, client: httpx.Client
) -> None:
    sim.set_account("default", balance="6.0")
    first = create(client, duration="5")  # 0.6 u/s x 5 s = 3.0
    failing = create(client, duration="5", prompt="x [[fail]]")
    sim.advance(LONG_ENOUGH_S)
    assert query(client, first["task_id"])["final_unit_deduction"] == "3.0"
    assert query(client, failing["task_id"])["task_status"] == "failed"
    assert sim.stats()["balance"]["default"] == "3.0"
    create(client, duration="5")  # exactly the 3.0 left, held while in flight
    resp = client.post(T2V, json=body(duration="5"))
    assert (resp.status_code, resp.json()["code"]) == (429, 1102)
    stats = sim.stats()
    assert stats["units_charged"] == pytest.approx(3.0)
    assert stats["refused_by_reason"]["balance"] == 1


@pytest.mark.parametrize(
    ("path", "extra", "units"),
    [
        (T2V, {"mode": "std", "duration": "10"}, "6.0"),
        (T2V, {"mode": "pro", "duration": "5", "sound": "on"}, "6.0"),
        (T2V, {"model_name": "kling-v2-6", "mode": "pro", "duration": "10"}, "5.0"),
        (T2V, {"model_name": "kling-v2-5-turbo", "mode": "std", "duration": "5"}, "1.5"),
        (
            "/v1/videos/omni-video",
            {"model_name": "kling-v3-omni", "mode": "pro", "duration": "10", "sound": "on"},
            "20.0",
        ),
    ],
)
def test_units_follow_the_price_table(
    sim: SimHandle, client: httpx.Client, path: str, extra: dict[str, Any], units: str
) -> None:
    created = create(client, path, **extra)
    sim.advance(10 * LONG_ENOUGH_S)
    assert query(client, created["task_id"], path)["final_unit_deduction"] == units


def test_multi_shot_sums_shot_durations(sim: SimHandle, client: httpx.Client) -> None:
    shots = [
        {"index": 1, "prompt": "wide", "duration": "3"},
        {"index": 2, "prompt": "close [[fail]]", "duration": "4"},
    ]
    resp = client.post(
        "/v1/videos/omni-video",
        json=body(model_name="kling-v3-omni", multi_shot=True, multi_prompt=shots, duration="7"),
    )
    assert resp.status_code == 200, resp.text
    sim.advance(10 * LONG_ENOUGH_S)
    # the marker inside a shot prompt counts too
    done = query(client, resp.json()["data"]["task_id"], "/v1/videos/omni-video")
    assert done["task_status"] == "failed"


def test_list_pages_newest_first(client: httpx.Client) -> None:
    ids = []
    for _ in range(2):
        ids.append(create(client)["task_id"])
    first = client.get(T2V, params={"pageNum": 1, "pageSize": 1}).json()
    second = client.get(T2V, params={"pageNum": 2, "pageSize": 1}).json()
    assert first["code"] == 0
    assert [t["task_id"] for t in first["data"]] == [ids[1]]
    assert [t["task_id"] for t in second["data"]] == [ids[0]]
    assert client.get(T2V, params={"pageNum": 0}).json()["code"] == 1201


def test_a_task_is_found_only_through_its_own_product(client: httpx.Client) -> None:
    created = create(client)
    assert client.get(f"/v1/videos/omni-video/{created['task_id']}").status_code == 400


def test_other_accounts_do_not_see_the_task(sim: SimHandle, client: httpx.Client) -> None:
    created = create(client)
    sim.set_account("other", api_keys=["other-key"])
    resp = client.get(f"{T2V}/{created['task_id']}", headers={"Authorization": "Bearer other-key"})
    assert (resp.status_code, resp.json()["code"]) == (400, 1201)


def test_changing_concurrency_at_run_time(sim: SimHandle, client: httpx.Client) -> None:
    sim.set_account("default", concurrency=3)
    for _ in range(3):
        create(client)
    assert client.post(T2V, json=body()).status_code == 429
