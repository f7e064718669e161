"""Validating official-dialect create bodies into engine `TaskRequest`s.

Bad values answer 400/1201 naming the field (1200 for a body that is not a JSON object), an
unknown `model_name` 404/1203, as the vendor's error page says. Strictness is deliberate: a
duration sent as a number, or `mode: "standard"`, is a client bug the simulator should expose.
"""

from __future__ import annotations

import json
from typing import Any

from worker.sim.engine import InputRef, TaskRequest
from worker.sim.errors import Reason, Refusal
from worker.sim.models import DEFAULT_MODEL, WIRE_MODELS, Product, units_for

MAX_PROMPT = 2500
MAX_SHOTS = 6
VIDEO_RATIOS = ("16:9", "9:16", "1:1")
IMAGE_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")


def _bad(message: str) -> Refusal:
    return Refusal(Reason.INVALID, message)


def _str(body: dict[str, Any], name: str, *, required: bool = False, limit: int = 0) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise _bad(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise _bad(f"{name} must be a string")
    if limit and len(value) > limit:
        raise _bad(f"{name} must be at most {limit} characters")
    return value


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise _bad(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _seconds(value: Any, allowed: tuple[int, ...], name: str) -> int:
    if not isinstance(value, str) or not value.isdigit():
        raise _bad(f'{name} must be a string of whole seconds such as "5", not {value!r}')
    seconds = int(value)
    if seconds not in allowed:
        raise _bad(f"{name} {value} is not supported: allowed {allowed[0]}..{allowed[-1]}")
    return seconds


def _url(body: dict[str, Any], name: str) -> str | None:
    value = _str(body, name)
    if value is not None and not value.startswith(("http://", "https://")):
        raise _bad(f"{name} must be an http(s) URL")
    return value


def _image(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = _str(body, name, required=required)
    if value is not None and value.startswith("data:"):
        raise _bad(f"{name} must be a URL or raw base64 without a data: prefix")
    return value


def parse_create(product: Product, body: Any) -> TaskRequest:
    """The engine request for an official create body, or `Refusal`."""
    if not isinstance(body, dict):
        raise Refusal(Reason.MALFORMED, "request body must be a JSON object")
    model_name = body.get("model_name") or DEFAULT_MODEL[product]
    model = WIRE_MODELS.get(model_name) if isinstance(model_name, str) else None
    if model is None:
        raise Refusal(Reason.UNKNOWN_MODEL, f"model_name {model_name!r} does not exist")
    if product not in model.products:
        raise _bad(f"model_name {model.name} does not support {product.value}")
    external = _str(body, "external_task_id", limit=256)
    callback = _url(body, "callback_url")
    _str(body, "negative_prompt", limit=MAX_PROMPT)
    cfg_scale = body.get("cfg_scale")
    if cfg_scale is not None and (
        isinstance(cfg_scale, bool)
        or not isinstance(cfg_scale, int | float)
        or not 0 <= cfg_scale <= 1
    ):
        raise _bad("cfg_scale must be a number from 0 to 1")

    if product is Product.IMAGE:
        prompt = _str(body, "prompt", required=True, limit=MAX_PROMPT) or ""
        _choice(body, "aspect_ratio", IMAGE_RATIOS, "16:9")
        _choice(body, "resolution", ("1k", "2k"), "1k")
        n = body.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 9:
            raise _bad("n must be a whole number from 1 to 9")
        ref = _image(body, "image", required=False)
        return TaskRequest(
            dialect="kling",
            product=product,
            model=model.name,
            identity=external or _identity(product, body),
            images=n,
            prompt_text=prompt,
            external_task_id=external,
            callback_url=callback,
            inputs=(InputRef("image", ref, "image"),) if ref else (),
            units=units_for(model.name, product, pro=False, audio=False, seconds=0, images=n),
        )

    mode = _choice(body, "mode", ("std", "pro"), "std")
    sound = _choice(body, "sound", ("on", "off"), "off") == "on"
    if sound and not model.audio:
        raise _bad(f"sound is not supported by {model.name}")
    if product in (Product.TEXT2VIDEO, Product.OMNI):
        _choice(body, "aspect_ratio", VIDEO_RATIOS, "16:9")
    multi_shot = body.get("multi_shot", False)
    if not isinstance(multi_shot, bool):
        raise _bad("multi_shot must be true or false")
    prompts: list[str] = []
    if multi_shot:
        if not model.shots or product not in (Product.TEXT2VIDEO, Product.OMNI):
            raise _bad(f"multi_shot is not supported by {model.name} {product.value}")
        seconds = _shots(body, model.durations, prompts)
        if (
            body.get("duration") is not None
            and _seconds(body["duration"], model.durations, "duration") != seconds
        ):
            raise _bad("duration must equal the sum of the multi_prompt durations")
    else:
        seconds = _seconds(body.get("duration", "5"), model.durations, "duration")
    prompt_required = product in (Product.TEXT2VIDEO, Product.OMNI) and not multi_shot
    main_prompt = _str(body, "prompt", required=prompt_required, limit=MAX_PROMPT)
    if main_prompt:
        prompts.insert(0, main_prompt)

    inputs: list[InputRef] = []
    if product is Product.IMAGE2VIDEO:
        inputs.append(InputRef("image", _image(body, "image", required=True) or "", "image"))
        tail = _image(body, "image_tail", required=False)
        if tail:
            inputs.append(InputRef("image_tail", tail, "image"))
    elif product is Product.MOTION_CONTROL:
        inputs.append(InputRef("image", _image(body, "image", required=True) or "", "image"))
        video = _url(body, "video_url")
        if video is None:
            raise _bad("video_url is required")
        inputs.append(InputRef("video_url", video, "video"))
    elif product is Product.OMNI:
        _str(body, "voice_description", limit=MAX_PROMPT)
        image = _image(body, "image", required=False)
        if image:
            inputs.append(InputRef("image", image, "image"))
        inputs.extend(_image_list(body))

    return TaskRequest(
        dialect="kling",
        product=product,
        model=model.name,
        identity=external or _identity(product, body),
        seconds=seconds,
        pro=mode == "pro",
        audio=sound,
        multi_shot=multi_shot,
        prompt_text="\n".join(prompts),
        external_task_id=external,
        callback_url=callback,
        inputs=tuple(inputs),
        units=units_for(
            model.name,
            product,
            pro=mode == "pro",
            audio=sound,
            seconds=seconds,
            multi_shot=multi_shot,
        ),
    )


def _shots(body: dict[str, Any], allowed: tuple[int, ...], prompts: list[str]) -> int:
    shots = body.get("multi_prompt")
    if not isinstance(shots, list) or not 1 <= len(shots) <= MAX_SHOTS:
        raise _bad(f"multi_prompt must list 1 to {MAX_SHOTS} shots when multi_shot is true")
    total = 0
    for i, shot in enumerate(shots):
        if not isinstance(shot, dict):
            raise _bad(f"multi_prompt[{i}] must be an object")
        if shot.get("index") != i + 1 and shot.get("index") != i:
            raise _bad(f"multi_prompt[{i}].index must be {i + 1}")
        prompts.append(_str(shot, "prompt", required=True, limit=MAX_PROMPT) or "")
        total += _seconds(shot.get("duration"), tuple(range(1, allowed[-1] + 1)), "shot duration")
    if total not in allowed:
        raise _bad(f"the shots last {total} s: allowed {allowed[0]}..{allowed[-1]}")
    return total


def _image_list(body: dict[str, Any]) -> list[InputRef]:
    items = body.get("image_list")
    if items is None:
        return []
    if not isinstance(items, list):
        raise _bad("image_list must be a list")
    refs = []
    for i, item in enumerate(items):
        value = item.get("image_url") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value:
            raise _bad(f"image_list[{i}].image_url is required")
        refs.append(InputRef(f"image_list[{i}]", value, "image"))
    return refs


def _identity(product: Product, body: dict[str, Any]) -> str:
    return product.value + " " + json.dumps(body, sort_keys=True, separators=(",", ":"))
