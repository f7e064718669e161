"""Translating a provider-neutral `JobSpec` into each dialect's create request.

The manifest speaks the catalog's names; the wire names live here only:

    manifest model           kling dialect endpoint                  model_name
    kling-v3                 /v1/videos/text2video | image2video     kling-v3
    kling-o3                 /v1/videos/omni-video                   kling-v3-omni
    kling-motion-control     /v1/videos/motion-control               kling-v3
    kling-image              /v1/images/generations                  kling-v3
    official ids (v2-*)      /v1/videos/text2video | image2video     the id itself

Omni takes start and end frames as `image_list` entries typed `first_frame`/`end_frame`. The
`guide` dialect posts every spec to `/v1/video/generate` with `model` = the manifest name and
only URLs for its inputs (`image_url`, and `video_url` for motion control).
A spec a dialect cannot carry raises `InvalidRequest` before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.catalog import MODELS, Mode
from jobs.spec import JobSpec
from worker.providers.base import ResultKind
from worker.providers.errors import InvalidRequest, ModelNotFound
from worker.providers.images import inline_base64, is_remote

KLING_MODEL_NAMES = {
    "kling-v3": "kling-v3",
    "kling-o3": "kling-v3-omni",
    "kling-motion-control": "kling-v3",
    "kling-image": "kling-v3",
}
KLING_VIDEO_MODES = {"720p": "std", "1080p": "pro"}
KLING_IMAGE_RESOLUTIONS = {"720p": "1k", "1080p": "2k"}

GUIDE_CREATE_PATH = "/v1/video/generate"
GUIDE_STATUS_PATH = "/v1/video/status"


@dataclass(frozen=True, slots=True)
class KlingRoute:
    """Where a spec goes in the `kling` dialect: create is `POST path`, query `GET path/{id}`."""

    path: str
    model_name: str
    result_kind: ResultKind


def kling_route(spec: JobSpec) -> KlingRoute:
    if spec.model not in MODELS:
        raise ModelNotFound(f"model {spec.model!r} is not in the catalog")
    model_name = KLING_MODEL_NAMES.get(spec.model, spec.model)
    if spec.mode is Mode.IMAGE:
        return KlingRoute("/v1/images/generations", model_name, "image")
    if spec.mode is Mode.MOTION_CONTROL:
        return KlingRoute("/v1/videos/motion-control", model_name, "video")
    if spec.mode is Mode.OMNI or spec.model == "kling-o3":
        return KlingRoute("/v1/videos/omni-video", model_name, "video")
    if spec.image_url:
        return KlingRoute("/v1/videos/image2video", model_name, "video")
    return KlingRoute("/v1/videos/text2video", model_name, "video")


def kling_body(
    spec: JobSpec, external_id: str, *, callback_url: str | None = None
) -> dict[str, Any]:
    """The JSON body of a `kling` create for `spec`."""
    route = kling_route(spec)
    body: dict[str, Any] = {"model_name": route.model_name, "prompt": spec.prompt}
    if route.result_kind == "image":
        _refuse(
            spec,
            "image generation",
            "end_image_url",
            "video_url",
            "shots",
            "voice_description",
            "audio",
            "cfg_scale",
        )
        body["aspect_ratio"] = spec.aspect_ratio
        body["resolution"] = _lookup(KLING_IMAGE_RESOLUTIONS, spec.resolution, "resolution")
        body["n"] = 1
        if spec.image_url:
            body["image"] = _image(spec.image_url)
    elif route.path.endswith("/motion-control"):
        _refuse(spec, "motion control", "end_image_url", "shots", "voice_description", "audio")
        if not spec.image_url or not spec.video_url:
            raise InvalidRequest("motion control needs both an image and a reference video")
        if not is_remote(spec.video_url):
            raise InvalidRequest(
                "motion control's reference video must be an http(s) URL in the kling dialect"
            )
        body["image"] = _image(spec.image_url)
        body["video_url"] = spec.video_url
        body.update(_video_timing(spec))
    else:
        _video_fields(spec, route, body)
    if spec.negative_prompt:
        body["negative_prompt"] = spec.negative_prompt
    if spec.cfg_scale is not None:
        body["cfg_scale"] = spec.cfg_scale
    body["external_task_id"] = external_id
    if callback_url:
        body["callback_url"] = callback_url
    return body


def _video_fields(spec: JobSpec, route: KlingRoute, body: dict[str, Any]) -> None:
    omni = route.path.endswith("/omni-video")
    if spec.video_url:
        raise InvalidRequest("a reference video is only used by kling-motion-control")
    if spec.voice_description and not omni:
        raise InvalidRequest("voice_description is only sent with kling-o3 in the kling dialect")
    body.update(_video_timing(spec))
    # Image-to-video takes its framing from the image.
    if not route.path.endswith("/image2video"):
        body["aspect_ratio"] = spec.aspect_ratio
    if spec.end_image_url and not spec.image_url:
        raise InvalidRequest("an end frame needs a start image")
    if omni and spec.image_url:
        # Omni takes its frames as a typed list rather than `image`/`image_tail`.
        frames = [{"image_url": _image(spec.image_url), "type": "first_frame"}]
        if spec.end_image_url:
            frames.append({"image_url": _image(spec.end_image_url), "type": "end_frame"})
        body["image_list"] = frames
    elif spec.image_url:
        body["image"] = _image(spec.image_url)
        if spec.end_image_url:
            body["image_tail"] = _image(spec.end_image_url)
    if MODELS[spec.model].audio:
        body["sound"] = "on" if spec.audio else "off"
    elif spec.audio:
        raise InvalidRequest(f"{spec.model} cannot generate audio")
    if omni and spec.voice_description:
        body["voice_description"] = spec.voice_description
    if spec.shots:
        body["multi_shot"] = True
        body["shot_type"] = "customize"
        body["multi_prompt"] = [
            {"index": i, "prompt": shot.prompt, "duration": str(shot.duration)}
            for i, shot in enumerate(spec.shots, start=1)
        ]


def _video_timing(spec: JobSpec) -> dict[str, str]:
    if spec.seconds <= 0:
        raise InvalidRequest("a video needs a duration")
    return {
        "mode": _lookup(KLING_VIDEO_MODES, spec.resolution, "resolution"),
        "duration": str(spec.seconds),
    }


def _image(ref: str) -> str:
    return ref if is_remote(ref) else inline_base64(ref)


def _lookup(table: dict[str, str], value: str, what: str) -> str:
    try:
        return table[value]
    except KeyError:
        raise InvalidRequest(f"{what} {value!r} is not one of {', '.join(table)}") from None


def _refuse(spec: JobSpec, what: str, *fields: str) -> None:
    """Raise `InvalidRequest` when `spec` sets any of `fields`, which `what` cannot carry."""
    present = [name for name in fields if getattr(spec, name) not in (None, False, ())]
    if present:
        raise InvalidRequest(f"{what} cannot use {', '.join(present)}")


def guide_body(spec: JobSpec) -> dict[str, Any]:
    """The JSON body of a `guide` create for `spec`."""
    if spec.model not in MODELS:
        raise ModelNotFound(f"model {spec.model!r} is not in the catalog")
    _refuse(spec, "the guide dialect", "end_image_url", "shots", "cfg_scale")
    body: dict[str, Any] = {
        "model": spec.model,
        "prompt": spec.prompt,
        "resolution": spec.resolution,
        "aspect_ratio": spec.aspect_ratio,
    }
    if spec.is_video:
        if spec.seconds <= 0:
            raise InvalidRequest("a video needs a duration")
        body["duration"] = spec.seconds
        body["audio"] = spec.audio
    if spec.image_url:
        if not is_remote(spec.image_url):
            raise InvalidRequest(
                "the guide dialect takes only a public image_url; "
                f"local file {spec.image_url} must be uploaded first"
            )
        body["image_url"] = spec.image_url
    if spec.video_url:
        if not is_remote(spec.video_url):
            raise InvalidRequest("the guide dialect takes only a public video_url")
        body["video_url"] = spec.video_url
    if spec.voice_description:
        body["voice_description"] = spec.voice_description
    if spec.negative_prompt:
        body["negative_prompt"] = spec.negative_prompt
    return body
