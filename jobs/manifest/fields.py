"""The row fields a manifest may set, and how each raw value becomes a typed one.

A raw value is either what YAML produced (int, bool, list, ...) or text (a CSV cell, a `--set`
value, a quoted YAML scalar); text is parsed the way YAML parses a plain scalar, except for
JSON-valued fields (`shots`, `tags`). `coerce` returns the typed value or raises `FieldError`
with a message meant for the person who wrote the manifest. `None` means "unset".
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

import yaml
import yaml.constructor
import yaml.resolver

from jobs.catalog import ASPECT_RATIOS, MAX_PROMPT_CHARS, MAX_SHOTS, MODELS, RESOLUTIONS, Mode
from jobs.spec import Shot


class Kind(Enum):
    """How a field's raw value is read and checked."""

    ID = "id"
    TEXT = "text"
    MODEL = "model"
    MODE = "mode"
    DURATION = "duration"
    RESOLUTION = "resolution"
    ASPECT_RATIO = "aspect_ratio"
    CFG_SCALE = "cfg_scale"
    MEDIA = "media"
    BOOL = "bool"
    SHOTS = "shots"
    TAKES = "takes"
    TAGS = "tags"


FIELDS: dict[str, Kind] = {
    "id": Kind.ID,
    "prompt": Kind.TEXT,
    "negative_prompt": Kind.TEXT,
    "model": Kind.MODEL,
    "mode": Kind.MODE,
    "duration": Kind.DURATION,
    "resolution": Kind.RESOLUTION,
    "aspect_ratio": Kind.ASPECT_RATIO,
    "cfg_scale": Kind.CFG_SCALE,
    "image_url": Kind.MEDIA,
    "end_image_url": Kind.MEDIA,
    "video_url": Kind.MEDIA,
    "audio": Kind.BOOL,
    "voice_description": Kind.TEXT,
    "shots": Kind.SHOTS,
    "takes": Kind.TAKES,
    "tags": Kind.TAGS,
}

# Fields whose YAML plain scalars are kept exactly as written: YAML 1.1 would otherwise read
# `aspect_ratio: 16:9` as the base-60 integer 969 and `prompt: yes` as a boolean.
AS_WRITTEN: frozenset[Kind] = frozenset(
    {
        Kind.ID,
        Kind.TEXT,
        Kind.MODEL,
        Kind.MODE,
        Kind.RESOLUTION,
        Kind.ASPECT_RATIO,
        Kind.MEDIA,
    }
)

TAG_COLUMN_PREFIX = "tag."
MAX_ID_CHARS = 200
MAX_MEDIA_CHARS = 4096
MAX_TAG_DEPTH = 64
_SHOT_FIELDS = ("prompt", "duration")
_STR_TAG = "tag:yaml.org,2002:str"

_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class FieldError(ValueError):
    """A value that does not fit its field; the message names the problem, not the field."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` is most likely a misspelling of, if any is close enough."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choice, or an empty string."""
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


def unknown_field(name: str, choices: Iterable[str] = FIELDS) -> str:
    return f"unknown field{did_you_mean(name, choices)}"


def show(value: object, limit: int = 60) -> str:
    """A short rendering of a user's value for messages (text quoted, long text cut)."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[: limit - 1] + "…")
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_scalar(text: str) -> Any:
    """`text` read as a YAML plain scalar: `5` → 5, `true` → True, `~` → None, else the text."""
    return _short_scalar(text) if len(text) <= 32 else _scalar(text)


def _scalar(text: str) -> Any:
    # types-PyYAML leaves Resolver.resolve unannotated.
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag == _STR_TAG:
        return text
    # The per-tag safe constructor is called directly: SafeConstructor.construct_object would
    # keep every node it ever saw in its cache.
    return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))


# Durations, flags and the like repeat on every row of a large CSV.
_short_scalar = functools.lru_cache(maxsize=4096)(_scalar)


def coerce(field: str, value: Any) -> Any:
    """The typed value of `field`, None when unset; raises FieldError when it does not fit."""
    if value is None:
        return None
    verbatim, convert, json_text = _PLANS[field]
    if verbatim:
        text = _text(value)
        if not text.strip():
            if field == "prompt":
                raise FieldError("is empty")
            return None
        return convert(field, text)
    if isinstance(value, str):
        if not value.strip():
            return None
        value = _parse_json(value) if json_text else parse_scalar(value.strip())
        if value is None:
            return None
    return convert(value)


def _text(value: Any) -> str:
    # Numbers are accepted where text is expected (an `id: 7` in YAML, a JSON shot prompt 7);
    # structures and booleans are not, as they are almost certainly a mistake.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise FieldError(f"must be text, not {_type_name(value)}")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FieldError(f"is not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
    except RecursionError:
        raise FieldError(f"is nested more than {MAX_TAG_DEPTH} levels deep") from None


def _id(field: str, text: str) -> str:
    text = text.strip()
    if len(text) > MAX_ID_CHARS:
        raise FieldError(f"is {len(text)} characters; the limit is {MAX_ID_CHARS}")
    # An id ends up in file names, object keys and reports: it names a row, never a path.
    if "/" in text or "\\" in text:
        raise FieldError(f"{show(text)} holds a path separator; an id names a row, not a file")
    return text


def _prompt_text(field: str, text: str) -> str:
    # Prompts are kept exactly as written (no stripping): what the user wrote is what renders.
    if len(text) > MAX_PROMPT_CHARS:
        raise FieldError(f"is {len(text)} characters; the limit is {MAX_PROMPT_CHARS}")
    return text


def _model(field: str, text: str) -> str:
    name = text.strip()
    info = MODELS.get(name) or MODELS.get(name.lower())
    if info is None:
        hint = did_you_mean(name, MODELS) or f"; known: {', '.join(MODELS)}"
        raise FieldError(f"unknown model {show(name)}{hint}")
    return info.id  # the catalog's own string, shared by every job that uses it


_MODES = {m.value: m for m in Mode}


def _mode(field: str, text: str) -> Mode:
    name = text.strip().lower()
    if name not in _MODES:
        hint = did_you_mean(name, _MODES) or f"; known: {', '.join(_MODES)}"
        raise FieldError(f"unknown mode {show(text)}{hint}")
    return _MODES[name]


def _choice(choices: tuple[str, ...]) -> Any:
    by_lower = {c.lower(): c for c in choices}

    def pick(field: str, text: str) -> str:
        found = by_lower.get(text.strip().lower())
        if found is None:
            raise FieldError(f"{show(text)} is not one of {', '.join(choices)}")
        return found

    return pick


def _media(field: str, text: str) -> str:
    text = text.strip()
    if len(text) > MAX_MEDIA_CHARS:
        raise FieldError(f"is {len(text)} characters; the limit is {MAX_MEDIA_CHARS}")
    return text


_AS_WRITTEN_COERCERS = {
    Kind.ID: _id,
    Kind.TEXT: _prompt_text,
    Kind.MODEL: _model,
    Kind.MODE: _mode,
    Kind.RESOLUTION: _choice(RESOLUTIONS),
    Kind.ASPECT_RATIO: _choice(ASPECT_RATIOS),
    Kind.MEDIA: _media,
}


def whole_seconds(value: Any) -> int:
    """A positive whole number of seconds (5 or 5.0, not 5.5, not true)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"must be a whole number of seconds, not {show(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise FieldError(f"must be a whole number of seconds, not {show(value)}")
    seconds = int(value)
    if seconds < 1:
        raise FieldError(f"must be at least 1 second, not {seconds}")
    return seconds


def _takes(value: Any) -> int:
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise FieldError(f"must be a whole number, not {show(value)}")
    takes = int(value)
    if takes < 1:
        raise FieldError(f"must be at least 1, not {takes}")
    return takes


def _cfg_scale(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"must be a number between 0 and 1, not {show(value)}")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise FieldError(f"must be between 0 and 1, not {show(value)}")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise FieldError(f"must be true or false, not {show(value)}")


def flag(value: Any) -> bool:
    """A yes/no setting: a YAML boolean, or text read as one (`true`, `no`, `on`, ...)."""
    if isinstance(value, str):
        value = parse_scalar(value.strip())
    return _bool(value)


def _shots(value: Any) -> tuple[Shot, ...] | None:
    if not isinstance(value, list | tuple):
        raise FieldError(f"must be a list of {{prompt, duration}} shots, not {_type_name(value)}")
    if not value:
        return None
    if len(value) > MAX_SHOTS:
        raise FieldError(f"has {len(value)} shots; the limit is {MAX_SHOTS}")
    shots = []
    for n, item in enumerate(value, 1):
        if not isinstance(item, Mapping):
            raise FieldError(f"shot {n} must be a mapping with prompt and duration")
        extra = [k for k in item if k not in _SHOT_FIELDS]
        if extra:
            name = str(extra[0])
            raise FieldError(f"shot {n}: {name}: {unknown_field(name, _SHOT_FIELDS)}")
        for key in _SHOT_FIELDS:
            if item.get(key) is None:
                raise FieldError(f"shot {n}: {key} is required")
        try:
            prompt = _prompt_text("prompt", _text(item["prompt"]))
            if not prompt.strip():
                raise FieldError("is empty")
            raw = item["duration"]
            seconds = whole_seconds(parse_scalar(raw.strip()) if isinstance(raw, str) else raw)
        except FieldError as exc:
            raise FieldError(f"shot {n}: {exc}") from None
        shots.append(Shot(prompt=prompt, duration=seconds))
    return tuple(shots)


def _tags(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(f"must be a mapping of names to values, not {_type_name(value)}")
    return {_tag_name(k): tag_value(v) for k, v in value.items()}


def _tag_name(key: object) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int | float) and not isinstance(key, bool):
        return str(key)
    raise FieldError(f"tag names must be text, not {show(key)}")


def tag_value(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON data (dates become ISO text); raises FieldError for anything else."""
    if depth > MAX_TAG_DEPTH:
        raise FieldError(f"is nested more than {MAX_TAG_DEPTH} levels deep")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(f"tag values must be finite numbers, not {value}")
        return value
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [tag_value(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {_tag_name(k): tag_value(v, depth + 1) for k, v in value.items()}
    raise FieldError(f"tag values must be text, numbers, lists or mappings, not {show(value)}")


_NATIVE_COERCERS = {
    Kind.DURATION: whole_seconds,
    Kind.CFG_SCALE: _cfg_scale,
    Kind.BOOL: _bool,
    Kind.SHOTS: _shots,
    Kind.TAKES: _takes,
    Kind.TAGS: _tags,
}

# Per field: kept as written?, its converter, and whether text holds JSON. Looked up once per
# value, so resolved here rather than through the Kind enum each time.
_PLANS: dict[str, tuple[bool, Callable[..., Any], bool]] = {
    name: (
        kind in AS_WRITTEN,
        _AS_WRITTEN_COERCERS[kind] if kind in AS_WRITTEN else _NATIVE_COERCERS[kind],
        kind in (Kind.SHOTS, Kind.TAGS),
    )
    for name, kind in FIELDS.items()
}
