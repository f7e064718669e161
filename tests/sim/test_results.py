"""Result files: signed simulator URLs, real playable MP4s and PNGs, expiry after retention."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.sim.conftest import LONG_ENOUGH_S
from worker.sim.process import SimHandle

T2V = "/v1/videos/text2video"
RETENTION_S = 30 * 86400


def finished_video_url(sim: SimHandle, client: httpx.Client, external_id: str) -> str:
    resp = client.post(
        T2V, json={"prompt": "waves", "duration": "5", "external_task_id": external_id}
    )
    assert resp.status_code == 200
    sim.advance(LONG_ENOUGH_S)
    data = client.get(f"{T2V}/{external_id}").json()["data"]
    assert data["task_status"] == "succeed"
    url: str = data["task_result"]["videos"][0]["url"]
    return url


def ffprobe(path: Path) -> dict[str, object]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,pix_fmt,width,height",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    (stream,) = json.loads(out)["streams"]
    result: dict[str, object] = stream
    return result


def test_videos_are_real_h264_yuv420p_and_differ_per_task(
    sim: SimHandle, client: httpx.Client, tmp_path: Path
) -> None:
    digests = set()
    for name in ("kb-video-a", "kb-video-b"):
        url = finished_video_url(sim, client, name)
        resp = httpx.get(url)  # no bearer token: the signature is the credential
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "video/mp4"
        assert int(resp.headers["content-length"]) == len(resp.content)
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(resp.content)
        stream = ffprobe(path)
        assert stream["codec_name"] == "h264"
        assert stream["pix_fmt"] == "yuv420p"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], check=True)
        digests.add(hashlib.sha256(resp.content).hexdigest())
    assert len(digests) == 2


def test_images_are_real_pngs(sim: SimHandle, client: httpx.Client, tmp_path: Path) -> None:
    resp = client.post("/v1/images/generations", json={"prompt": "a fox", "resolution": "1k"})
    assert resp.status_code == 200, resp.text
    task_id = resp.json()["data"]["task_id"]
    sim.advance(LONG_ENOUGH_S)
    data = client.get(f"/v1/images/generations/{task_id}").json()["data"]
    assert data["task_status"] == "succeed"
    assert data["final_unit_deduction"] == "0.2"
    (image,) = data["task_result"]["images"]
    assert image["index"] == 0
    png = httpx.get(image["url"])
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    path = tmp_path / "image.png"
    path.write_bytes(png.content)
    assert ffprobe(path)["codec_name"] == "png"


def test_url_expires_retention_after_updated_at(sim: SimHandle, client: httpx.Client) -> None:
    url = finished_video_url(sim, client, "kb-expiry")
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    updated_ms = client.get(f"{T2V}/kb-expiry").json()["data"]["updated_at"]
    assert abs(expires - (updated_ms / 1000 + RETENTION_S)) <= 1
    assert httpx.get(url).status_code == 200
    sim.advance(RETENTION_S)
    assert httpx.get(url).status_code == 403


def test_a_tampered_url_is_refused(sim: SimHandle, client: httpx.Client) -> None:
    url = finished_video_url(sim, client, "kb-tamper")
    parts = urlsplit(url)
    expires = int(parse_qs(parts.query)["expires"][0])
    longer = url.replace(f"expires={expires}", f"expires={expires + 86400}")
    assert httpx.get(longer).status_code == 403
    assert httpx.get(url.replace("signature=", "signature=0")).status_code == 403
