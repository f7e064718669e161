"""The normalized, provider-neutral description of one render, and the job key derived from it.

A `JobSpec` says what to render; a `Job` is one take of a spec from one manifest row. The key is a
hash of the spec's canonical JSON and the take number, so the same row in tomorrow's manifest gets
the same key, and it is short and plain enough to be a provider's `external_task_id`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from jobs.catalog import Mode

KEY_PREFIX = "kb"
KEY_HEX_CHARS = 24


class Shot(BaseModel):
    """One shot of a multi-shot render."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    duration: int


class JobSpec(BaseModel):
    """What to render, already validated against the model catalog.

    `image_url`, `end_image_url` and `video_url` hold an http(s) URL or an absolute local path
    (local files are resolved against the manifest's folder when the manifest is read).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode
    model: str
    prompt: str
    negative_prompt: str | None = None
    duration: int | None = None  # seconds; None for image generation
    resolution: str = "1080p"
    aspect_ratio: str = "16:9"
    cfg_scale: float | None = None
    image_url: str | None = None
    end_image_url: str | None = None
    video_url: str | None = None  # motion control: the reference movement
    audio: bool = False
    voice_description: str | None = None
    shots: tuple[Shot, ...] = ()

    @property
    def is_video(self) -> bool:
        return self.mode is not Mode.IMAGE

    @property
    def seconds(self) -> int:
        """Seconds of video this spec asks for (sum of shots for multi-shot), 0 for images."""
        if self.shots:
            return sum(s.duration for s in self.shots)
        return self.duration or 0

    def canonical_json(self) -> str:
        """Stable JSON of the fields that change what is rendered (defaults included)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def job_key(spec: JobSpec, take: int = 1) -> str:
    """Deterministic key of one take of `spec`: `kb` followed by 24 hex characters."""
    digest = hashlib.sha256(f"{spec.canonical_json()}#take={take}".encode()).hexdigest()
    return f"{KEY_PREFIX}{digest[:KEY_HEX_CHARS]}"


@dataclass(frozen=True, slots=True)
class Job:
    """One take of one manifest row, ready to be recorded in the ledger."""

    key: str
    spec: JobSpec
    take: int = 1
    row_id: str | None = None  # the row's `id` field, when the manifest gives one
    tags: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # "file:line" of the row, for messages

    @classmethod
    def of(cls, spec: JobSpec, take: int = 1, **kw: Any) -> Job:
        return cls(key=job_key(spec, take), spec=spec, take=take, **kw)
