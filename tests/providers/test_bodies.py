"""Request bodies on the wire: every mode, in both dialects, as the client actually sends them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.spec import JobSpec, Shot
from tests.providers.conftest import GuideFactory, KlingFactory
from tests.providers.wire import API_KEY, EXTERNAL_ID, FakeProvider, ok, task
from worker.providers.errors import InvalidRequest, ModelNotFound

START_URL = "https://images.example.com/start.png"
END_URL = "https://images.example.com/end.png"
MOVE_URL = "https://videos.example.com/dance.mp4"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def start_file(tmp_path: Path) -> Path:
    path = tmp_path / "start.png"
    path.write_bytes(PNG)
    return path


@pytest.fixture
def end_file(tmp_path: Path) -> Path:
    path = tmp_path / "end.png"
    path.write_bytes(PNG + b"end")
    return path


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def sent_by_kling(
    kling: KlingFactory, spec: JobSpec, callback_url: str | None = None
) -> tuple[str, dict[str, Any]]:
    provider = FakeProvider(ok(task()))
    kling(provider.transport).create(spec, EXTERNAL_ID, callback_url=callback_url)
    request = provider.last
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    return request.url.path, provider.body()


def test_text2video(kling: KlingFactory) -> None:
    spec = JobSpec(
        mode="text2video",
        model="kling-v3",
        prompt="a lighthouse at dusk",
        negative_prompt="blur",
        cfg_scale=0.5,
        duration=5,
        aspect_ratio="9:16",
    )
    assert sent_by_kling(kling, spec) == (
        "/v1/videos/text2video",
        {
            "model_name": "kling-v3",
            "prompt": "a lighthouse at dusk",
            "mode": "pro",
            "duration": "5",
            "aspect_ratio": "9:16",
            "sound": "off",
            "negative_prompt": "blur",
            "cfg_scale": 0.5,
            "external_task_id": EXTERNAL_ID,
        },
    )


def test_720p_is_std_mode_and_the_callback_is_sent(kling: KlingFactory) -> None:
    spec = JobSpec(
        mode="text2video", model="kling-v3", prompt="rain", duration=3, resolution="720p"
    )
    path, body = sent_by_kling(kling, spec, callback_url="https://hooks.example.com/kling")
    assert path == "/v1/videos/text2video"
    assert (body["mode"], body["duration"]) == ("std", "3")
    assert body["callback_url"] == "https://hooks.example.com/kling"


def test_image2video_with_a_url(kling: KlingFactory) -> None:
    spec = JobSpec(
        mode="image2video", model="kling-v3", prompt="she waves", duration=5, image_url=START_URL
    )
    assert sent_by_kling(kling, spec) == (
        "/v1/videos/image2video",
        {
            "model_name": "kling-v3",
            "prompt": "she waves",
            "mode": "pro",
            "duration": "5",
            "image": START_URL,
            "sound": "off",
            "external_task_id": EXTERNAL_ID,
        },
    )


def test_image2video_with_local_files_sends_raw_base64_and_the_end_frame(
    kling: KlingFactory, start_file: Path, end_file: Path
) -> None:
    spec = JobSpec(
        mode="image2video",
        model="kling-v2-5-turbo",
        prompt="the door opens",
        duration=10,
        image_url=str(start_file),
        end_image_url=str(end_file),
    )
    path, body = sent_by_kling(kling, spec)
    assert path == "/v1/videos/image2video"
    assert body == {
        "model_name": "kling-v2-5-turbo",
        "prompt": "the door opens",
        "mode": "pro",
        "duration": "10",
        "image": b64(start_file),
        "image_tail": b64(end_file),
        "external_task_id": EXTERNAL_ID,
    }
    assert not body["image"].startswith("data:")


def test_end_frame_by_url(kling: KlingFactory) -> None:
    spec = JobSpec(
        mode="image2video",
        model="kling-v3",
        prompt="p",
        duration=5,
        image_url=START_URL,
        end_image_url=END_URL,
    )
    _, body = sent_by_kling(kling, spec)
    assert (body["image"], body["image_tail"]) == (START_URL, END_URL)


def test_omni_with_audio_and_voice(kling: KlingFactory) -> None:
    spec = JobSpec(
        mode="omni",
        model="kling-o3",
        prompt="a chef explains a recipe",
        duration=10,
        audio=True,
        voice_description="friendly male voice, moderate pace",
    )
    assert sent_by_kling(kling, spec) == (
        "/v1/videos/omni-video",
        {
            "model_name": "kling-v3-omni",
            "prompt": "a chef explains a recipe",
            "mode": "pro",
            "duration": "10",
            "aspect_ratio": "16:9",
            "sound": "on",
            "voice_description": "friendly male voice, moderate pace",
            "external_task_id": EXTERNAL_ID,
        },
    )


def test_omni_frames_are_a_typed_image_list(kling: KlingFactory, end_file: Path) -> None:
    spec = JobSpec(
        mode="image2video",
        model="kling-o3",
        prompt="the door opens",
        duration=5,
        image_url=START_URL,
        end_image_url=str(end_file),
    )
    path, body = sent_by_kling(kling, spec)
    assert path == "/v1/videos/omni-video"
    assert body["image_list"] == [
        {"image_url": START_URL, "type": "first_frame"},
        {"image_url": b64(end_file), "type": "end_frame"},
    ]
    assert "image" not in body
    assert "image_tail" not in body


def test_multi_shot(kling: KlingFactory) -> None:
    spec = JobSpec(
        mode="omni",
        model="kling-o3",
        prompt="a chase",
        shots=(
            Shot(prompt="wide street", duration=3),
            Shot(prompt="close on her face", duration=4),
        ),
    )
    path, body = sent_by_kling(kling, spec)
    assert path == "/v1/videos/omni-video"
    assert body["duration"] == "7"
    assert body["multi_shot"] is True
    assert body["shot_type"] == "customize"
    assert body["multi_prompt"] == [
        {"index": 1, "prompt": "wide street", "duration": "3"},
        {"index": 2, "prompt": "close on her face", "duration": "4"},
    ]


def test_motion_control(kling: KlingFactory, start_file: Path) -> None:
    spec = JobSpec(
        mode="motion_control",
        model="kling-motion-control",
        prompt="dance like the reference",
        duration=5,
        resolution="720p",
        image_url=str(start_file),
        video_url=MOVE_URL,
    )
    assert sent_by_kling(kling, spec) == (
        "/v1/videos/motion-control",
        {
            "model_name": "kling-v3",
            "prompt": "dance like the reference",
            "image": b64(start_file),
            "video_url": MOVE_URL,
            "mode": "std",
            "duration": "5",
            "external_task_id": EXTERNAL_ID,
        },
    )


def test_image_generation(kling: KlingFactory) -> None:
    spec = JobSpec(
        mode="image",
        model="kling-image",
        prompt="a red bicycle",
        negative_prompt="people",
        aspect_ratio="1:1",
    )
    assert sent_by_kling(kling, spec) == (
        "/v1/images/generations",
        {
            "model_name": "kling-v3",
            "prompt": "a red bicycle",
            "aspect_ratio": "1:1",
            "resolution": "2k",
            "n": 1,
            "negative_prompt": "people",
            "external_task_id": EXTERNAL_ID,
        },
    )


def test_official_ids_are_sent_as_the_model_name(kling: KlingFactory) -> None:
    spec = JobSpec(mode="text2video", model="kling-v2-1-master", prompt="p", duration=10)
    path, body = sent_by_kling(kling, spec)
    assert path == "/v1/videos/text2video"
    assert body["model_name"] == "kling-v2-1-master"
    assert "sound" not in body  # 2.1 has no audio


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (
            JobSpec(
                mode="text2video", model="kling-v3", prompt="p", duration=5, voice_description="x"
            ),
            "voice_description",
        ),
        (
            JobSpec(
                mode="motion_control",
                model="kling-motion-control",
                prompt="p",
                duration=5,
                image_url=START_URL,
                video_url="/data/moves/dance.mp4",
            ),
            "http(s) URL",
        ),
        (
            JobSpec(
                mode="image2video", model="kling-v3", prompt="p", duration=5, end_image_url=END_URL
            ),
            "start image",
        ),
        (
            JobSpec(
                mode="image", model="kling-image", prompt="p", shots=(Shot(prompt="a", duration=3),)
            ),
            "shots",
        ),
        (JobSpec(mode="text2video", model="kling-v3", prompt="p"), "duration"),
        (
            JobSpec(mode="text2video", model="kling-v3", prompt="p", duration=5, resolution="4k"),
            "resolution",
        ),
        (
            JobSpec(
                mode="image2video",
                model="kling-v3",
                prompt="p",
                duration=5,
                image_url="/nope/a.png",
            ),
            "cannot read local file",
        ),
    ],
)
def test_specs_the_kling_dialect_cannot_carry_fail_before_sending(
    kling: KlingFactory, spec: JobSpec, words: str
) -> None:
    provider = FakeProvider(ok(task()))
    with pytest.raises(InvalidRequest) as caught:
        kling(provider.transport).create(spec, EXTERNAL_ID)
    assert words in str(caught.value)
    assert provider.requests == []


def test_unknown_model_is_model_not_found(kling: KlingFactory) -> None:
    spec = JobSpec(mode="text2video", model="kling-v9", prompt="p", duration=5)
    with pytest.raises(ModelNotFound):
        kling(FakeProvider(ok(task())).transport).create(spec, EXTERNAL_ID)


def sent_by_guide(guide: GuideFactory, spec: JobSpec) -> dict[str, Any]:
    provider = FakeProvider(httpx.Response(200, json={"task_id": "gd-41"}))
    status = guide(provider.transport).create(spec, EXTERNAL_ID, callback_url="https://h.example")
    assert status.task_id == "gd-41"
    request = provider.last
    assert (request.method, request.url.path) == ("POST", "/v1/video/generate")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    return dict(provider.body())


@pytest.mark.parametrize(
    ("spec", "body"),
    [
        (
            JobSpec(mode="text2video", model="kling-v3", prompt="p", duration=5),
            {
                "model": "kling-v3",
                "prompt": "p",
                "resolution": "1080p",
                "aspect_ratio": "16:9",
                "duration": 5,
                "audio": False,
            },
        ),
        (
            JobSpec(
                mode="image2video",
                model="kling-v3",
                prompt="p",
                duration=5,
                resolution="720p",
                image_url=START_URL,
            ),
            {
                "model": "kling-v3",
                "prompt": "p",
                "resolution": "720p",
                "aspect_ratio": "16:9",
                "duration": 5,
                "audio": False,
                "image_url": START_URL,
            },
        ),
        (
            JobSpec(
                mode="omni",
                model="kling-o3",
                prompt="p",
                duration=10,
                audio=True,
                voice_description="warm voice",
                negative_prompt="noise",
            ),
            {
                "model": "kling-o3",
                "prompt": "p",
                "resolution": "1080p",
                "aspect_ratio": "16:9",
                "duration": 10,
                "audio": True,
                "voice_description": "warm voice",
                "negative_prompt": "noise",
            },
        ),
        (
            JobSpec(
                mode="motion_control",
                model="kling-motion-control",
                prompt="p",
                duration=5,
                image_url=START_URL,
                video_url=MOVE_URL,
            ),
            {
                "model": "kling-motion-control",
                "prompt": "p",
                "resolution": "1080p",
                "aspect_ratio": "16:9",
                "duration": 5,
                "audio": False,
                "image_url": START_URL,
                "video_url": MOVE_URL,
            },
        ),
        (
            JobSpec(mode="image", model="kling-image", prompt="p", aspect_ratio="1:1"),
            {"model": "kling-image", "prompt": "p", "resolution": "1080p", "aspect_ratio": "1:1"},
        ),
        (
            JobSpec(mode="text2video", model="kling-v2-6", prompt="p", duration=10),
            {
                "model": "kling-v2-6",
                "prompt": "p",
                "resolution": "1080p",
                "aspect_ratio": "16:9",
                "duration": 10,
                "audio": False,
            },
        ),
    ],
)
def test_guide_bodies(guide: GuideFactory, spec: JobSpec, body: dict[str, Any]) -> None:
    assert sent_by_guide(guide, spec) == body


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"image_url": "/data/start.png"}, "local file"),
        ({"image_url": START_URL, "end_image_url": END_URL}, "end_image_url"),
        ({"shots": (Shot(prompt="a", duration=3),)}, "shots"),
        ({"video_url": "/data/moves/dance.mp4"}, "public video_url"),
        ({"cfg_scale": 0.5}, "cfg_scale"),
    ],
)
def test_specs_the_guide_dialect_cannot_carry_fail_before_sending(
    guide: GuideFactory, fields: dict[str, Any], words: str
) -> None:
    spec = JobSpec(mode="omni", model="kling-o3", prompt="p", duration=5, **fields)
    provider = FakeProvider(httpx.Response(200, json={"task_id": "gd-41"}))
    with pytest.raises(InvalidRequest) as caught:
        guide(provider.transport).create(spec, EXTERNAL_ID)
    assert words in str(caught.value)
    assert provider.requests == []
