"""What each model can do: the capability table that manifest validation checks rows against.

Names are the product guide's (`kling-v3`, `kling-o3`, `kling-motion-control`, `kling-image`)
plus the official ids. Translating them into a provider's own request fields is the provider
client's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """What a job renders; each maps to one create endpoint at the provider."""

    TEXT2VIDEO = "text2video"
    IMAGE2VIDEO = "image2video"
    OMNI = "omni"
    MOTION_CONTROL = "motion_control"
    IMAGE = "image"


RESOLUTIONS = ("720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MAX_PROMPT_CHARS = 2500
MAX_SHOTS = 6


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Capabilities of one model id."""

    id: str
    modes: frozenset[Mode]
    durations: tuple[int, ...]  # allowed seconds; empty for image models
    resolutions: tuple[str, ...] = RESOLUTIONS
    audio: bool = False
    shots: bool = False
    end_frame: bool = False

    @property
    def is_image(self) -> bool:
        return self.modes == frozenset({Mode.IMAGE})


_V3_DURATIONS = tuple(range(3, 16))
_LEGACY_DURATIONS = (5, 10)

MODELS: dict[str, ModelInfo] = {
    m.id: m
    for m in (
        ModelInfo(
            "kling-v3",
            frozenset({Mode.TEXT2VIDEO, Mode.IMAGE2VIDEO}),
            _V3_DURATIONS,
            audio=True,
            end_frame=True,
        ),
        ModelInfo(
            "kling-o3",
            frozenset({Mode.OMNI, Mode.TEXT2VIDEO, Mode.IMAGE2VIDEO}),
            _V3_DURATIONS,
            audio=True,
            shots=True,
            end_frame=True,
        ),
        ModelInfo("kling-motion-control", frozenset({Mode.MOTION_CONTROL}), _V3_DURATIONS),
        ModelInfo("kling-image", frozenset({Mode.IMAGE}), ()),
        ModelInfo(
            "kling-v2-6",
            frozenset({Mode.TEXT2VIDEO, Mode.IMAGE2VIDEO}),
            _LEGACY_DURATIONS,
            audio=True,
            end_frame=True,
        ),
        ModelInfo(
            "kling-v2-5-turbo",
            frozenset({Mode.TEXT2VIDEO, Mode.IMAGE2VIDEO}),
            _LEGACY_DURATIONS,
            end_frame=True,
        ),
        ModelInfo(
            "kling-v2-1-master",
            frozenset({Mode.TEXT2VIDEO, Mode.IMAGE2VIDEO}),
            _LEGACY_DURATIONS,
        ),
        ModelInfo("kling-v2-1", frozenset({Mode.IMAGE2VIDEO}), _LEGACY_DURATIONS, end_frame=True),
    )
}
