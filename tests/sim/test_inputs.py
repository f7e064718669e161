"""Image-to-video and motion control fetch their inputs; unusable inputs fail the task."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from tests.sim.conftest import LONG_ENOUGH_S
from worker.sim.media import png_bytes
from worker.sim.process import SimHandle, free_port

I2V = "/v1/videos/image2video"


def final_state(sim: SimHandle, client: httpx.Client, path: str, task_id: str) -> dict[str, Any]:
    """Advance past the render, then wait (bounded) for the background fetch to report."""
    sim.advance(LONG_ENOUGH_S)
    deadline = time.monotonic() + 15
    while True:
        data: dict[str, Any] = client.get(f"{path}/{task_id}").json()["data"]
        if data["task_status"] in ("succeed", "failed"):
            return data
        assert time.monotonic() < deadline, data


def image_url(sim: SimHandle, client: httpx.Client) -> str:
    """A public PNG: the simulator's own image result."""
    task_id = client.post("/v1/images/generations", json={"prompt": "ref"}).json()["data"][
        "task_id"
    ]
    sim.advance(LONG_ENOUGH_S)
    url: str = client.get(f"/v1/images/generations/{task_id}").json()["data"]["task_result"][
        "images"
    ][0]["url"]
    return url


def test_image_from_a_reachable_url_renders(sim: SimHandle, client: httpx.Client) -> None:
    url = image_url(sim, client)
    resp = client.post(I2V, json={"image": url, "prompt": "it moves", "duration": "5"})
    assert resp.status_code == 200, resp.text
    assert final_state(sim, client, I2V, resp.json()["data"]["task_id"])["task_status"] == "succeed"


def test_raw_base64_image_renders(sim: SimHandle, client: httpx.Client) -> None:
    raw = base64.b64encode(png_bytes("input")).decode()
    resp = client.post(I2V, json={"image": raw, "duration": "5"})
    assert resp.status_code == 200, resp.text
    assert final_state(sim, client, I2V, resp.json()["data"]["task_id"])["task_status"] == "succeed"


def test_data_uri_prefix_is_refused_at_create(client: httpx.Client) -> None:
    raw = "data:image/png;base64," + base64.b64encode(png_bytes("x")).decode()
    resp = client.post(I2V, json={"image": raw, "duration": "5"})
    assert (resp.status_code, resp.json()["code"]) == (400, 1201)


def test_unreachable_image_fails_the_task_with_a_clear_message(
    sim: SimHandle, client: httpx.Client
) -> None:
    url = f"http://127.0.0.1:{free_port()}/private.png?X-Amz-Signature=secret-sig"
    resp = client.post(I2V, json={"image": url, "duration": "5"})
    assert resp.status_code == 200
    data = final_state(sim, client, I2V, resp.json()["data"]["task_id"])
    assert data["task_status"] == "failed"
    assert "Failed to fetch image" in data["task_status_msg"]
    assert "secret-sig" not in data["task_status_msg"]
    assert data["final_unit_deduction"] == "0"


def test_an_image_url_answering_404_fails_the_task(sim: SimHandle, client: httpx.Client) -> None:
    url = f"{sim.base_url}/results/1/0.png?expires=1&signature=x"  # answers 403
    resp = client.post(I2V, json={"image": url, "duration": "5"})
    data = final_state(sim, client, I2V, resp.json()["data"]["task_id"])
    assert data["task_status"] == "failed"
    assert "HTTP 403" in data["task_status_msg"]


def test_motion_control_fetches_image_and_video(sim: SimHandle, client: httpx.Client) -> None:
    image = image_url(sim, client)
    t2v = client.post(
        "/v1/videos/text2video", json={"prompt": "dance", "external_task_id": "kb-mc-ref"}
    )
    assert t2v.status_code == 200
    sim.advance(LONG_ENOUGH_S)
    video = client.get("/v1/videos/text2video/kb-mc-ref").json()["data"]["task_result"]["videos"][
        0
    ]["url"]
    resp = client.post(
        "/v1/videos/motion-control",
        json={"image": image, "video_url": video, "mode": "pro", "duration": "5"},
    )
    assert resp.status_code == 200, resp.text
    path = "/v1/videos/motion-control"
    assert (
        final_state(sim, client, path, resp.json()["data"]["task_id"])["task_status"] == "succeed"
    )
    missing = client.post(path, json={"image": image, "duration": "5"})
    assert (missing.status_code, missing.json()["code"]) == (400, 1201)
