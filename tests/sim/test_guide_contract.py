"""The product guide's dialect over real HTTP, on the same engine."""

from __future__ import annotations

import statistics
from typing import Any

import httpx
import pytest

from tests.sim.conftest import API_KEY, LONG_ENOUGH_S, make_jwt
from worker.sim.process import SimHandle

GENERATE = "/v1/video/generate"


def generate(client: httpx.Client, **overrides: Any) -> str:
    payload: dict[str, Any] = {"model": "kling-v3", "prompt": "a kite", "duration": 5}
    payload.update(overrides)
    resp = client.post(GENERATE, json=payload)
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"task_id"}
    task_id: str = resp.json()["task_id"]
    return task_id


def status(client: httpx.Client, task_id: str) -> dict[str, Any]:
    resp = client.get(f"/v1/video/status/{task_id}")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def test_queued_processing_completed(sim: SimHandle, client: httpx.Client) -> None:
    task_id = generate(client, resolution="1080p")
    assert status(client, task_id) == {
        "task_id": task_id,
        "status": "queued",
        "output": None,
        "error": None,
    }
    sim.advance(20)
    assert status(client, task_id)["status"] == "processing"
    sim.advance(LONG_ENOUGH_S)
    done = status(client, task_id)
    assert done["status"] == "completed"
    assert done["error"] is None
    video = httpx.get(done["output"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"


def test_failed_has_an_error(sim: SimHandle, client: httpx.Client) -> None:
    task_id = generate(client, prompt="x [[fail]]")
    sim.advance(LONG_ENOUGH_S)
    done = status(client, task_id)
    assert done["status"] == "failed"
    assert done["output"] is None
    assert done["error"]


def test_omni_with_audio_and_image_models(sim: SimHandle, client: httpx.Client) -> None:
    omni = generate(client, model="kling-o3", audio=True, voice_description="calm voice")
    image = generate(client, model="kling-image", duration=None)
    sim.advance(10 * LONG_ENOUGH_S)
    assert status(client, omni)["status"] == "completed"
    assert status(client, image)["output"].split("?")[0].endswith(".png")
    units = {t["model"]: t["units_charged"] for t in sim.tasks()}
    assert units == {"kling-v3-omni": "10.0", "kling-v3": "0.2"}  # 2.0 u/s x 5 s; one image


def test_omni_audio_renders_take_longer(sim: SimHandle, client: httpx.Client) -> None:
    sim.set_account("default", concurrency=40)
    for i in range(15):
        generate(client, model="kling-o3", resolution="720p", prompt=f"silent {i}")
        generate(client, model="kling-o3", resolution="720p", prompt=f"voiced {i}", audio=True)
    times: dict[str, list[float]] = {"silent": [], "voiced": []}
    for task, audio in zip(sim.tasks(), [False, True] * 15, strict=True):
        times["voiced" if audio else "silent"].append(task["sim_seconds"])
    ratio = statistics.median(times["voiced"]) / statistics.median(times["silent"])
    assert 2.2 < ratio < 2.8  # the guide: Omni with audio takes 2-3x longer


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": API_KEY},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {make_jwt()}"},  # the guide takes static keys only
    ],
)
def test_unauthorised_is_401(sim: SimHandle, headers: dict[str, str]) -> None:
    resp = httpx.post(sim.base_url + GENERATE, json={"model": "kling-v3"}, headers=headers)
    assert resp.status_code == 401
    assert "error" in resp.json()


def test_insufficient_credits_is_403(sim: SimHandle, client: httpx.Client) -> None:
    sim.set_account("default", balance="1")
    resp = client.post(GENERATE, json={"model": "kling-v3", "prompt": "p", "duration": 5})
    assert resp.status_code == 403
    assert resp.json()["error"] == "insufficient credits"


def test_model_not_on_the_plan_is_403(sim: SimHandle, client: httpx.Client) -> None:
    sim.set_account("default", models=["kling-v3"])
    for model in ("kling-o3", "kling-image"):  # kling-image runs on kling-v3, yet is its own plan
        resp = client.post(GENERATE, json={"model": model, "prompt": "p", "duration": 5})
        assert resp.status_code == 403
    generate(client)


def test_concurrency_is_429_with_retry_after(sim: SimHandle, client: httpx.Client) -> None:
    generate(client)
    generate(client)
    resp = client.post(GENERATE, json={"model": "kling-v3", "prompt": "p", "duration": 5})
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "payload",
    [
        {"model": "kling-v3", "prompt": "p", "duration": "5"},
        {"model": "kling-v3", "prompt": "p", "duration": 7.5},
        {"model": "kling-v2-6", "prompt": "p", "duration": 7},
        {"model": "kling-v3", "prompt": "p", "resolution": "4k"},
        {"model": "kling-nope", "prompt": "p"},
        {"model": "kling-v2-5-turbo", "prompt": "p", "audio": True},
        {"model": "kling-motion-control", "prompt": "p"},
    ],
)
def test_bad_requests_are_400(client: httpx.Client, payload: dict[str, Any]) -> None:
    resp = client.post(GENERATE, json=payload)
    assert resp.status_code == 400
    assert resp.json()["error"]


def test_unknown_task_is_404(client: httpx.Client) -> None:
    assert client.get("/v1/video/status/123").status_code == 404


def test_blind_re_create_shows_as_a_duplicate(sim: SimHandle, client: httpx.Client) -> None:
    generate(client, prompt="same body")
    generate(client, prompt="same body")
    sim.advance(LONG_ENOUGH_S)
    generate(client, prompt="another body")
    assert sim.stats()["duplicate_creates"] == 1


def test_a_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    resp = client.post(GENERATE, content=b"not json", headers={"content-type": "application/json"})
    assert resp.status_code == 400
