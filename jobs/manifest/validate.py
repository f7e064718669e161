"""From raw rows to `JobSpec`s: defaults applied, mode inferred, checked against the catalog.

Every problem is logged and checking goes on, so one run lists everything to fix. A check that
needs a value which is itself in error is skipped rather than reported twice. Values a row
inherits from `defaults` that do not apply to it (a duration on an image model) are dropped
quietly; the same value written in the row itself is an error.

Mode, when not given: an image model renders images; a single-mode model (motion control) its
mode; on a model with omni, `shots`, `audio` or `voice_description` mean omni; an `image_url`
means image2video; otherwise text2video.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.catalog import MODELS, Mode, ModelInfo
from jobs.manifest.errors import IssueLog
from jobs.manifest.fields import TAG_COLUMN_PREFIX, FieldError, coerce
from jobs.manifest.limits import Limits
from jobs.manifest.media import IMAGE, VIDEO, MediaChecker
from jobs.manifest.source import UNREADABLE, Located, RawRow
from jobs.spec import JobSpec, Shot

DEFAULT_DURATION = 5
_ALL_SET: set[str] = set(JobSpec.model_fields)  # shared by every spec built here; never mutated
_SPEC_DEFAULTS: dict[str, Any] = {
    name: info.default for name, info in JobSpec.model_fields.items() if not info.is_required()
}
# Fields an image generation has no use for.
_NOT_FOR_IMAGES = ("duration", "audio", "shots", "voice_description", "end_image_url", "video_url")


@dataclass(slots=True)
class Defaults:
    """Batch-level values, already typed; `unreadable` names those that were in error."""

    values: dict[str, Any] = field(default_factory=dict)
    unreadable: frozenset[str] = frozenset()
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BuiltRow:
    spec: JobSpec
    takes: int
    row_id: str | None
    tags: dict[str, Any]


def _durations(info: ModelInfo) -> str:
    d = info.durations
    if len(d) > 2 and d == tuple(range(d[0], d[-1] + 1)):
        return f"{d[0]} to {d[-1]} seconds"
    return " or ".join(str(s) for s in d) + " seconds"


class RowBuilder:
    """Builds the specs of one manifest's rows, logging every problem to `log`."""

    def __init__(
        self,
        file: str,
        base_dir: Path,
        log: IssueLog,
        *,
        image_roots: Sequence[Path] = (),
        limits: Limits | None = None,
    ) -> None:
        self.file = file
        self.log = log
        self.limits = limits or Limits()
        self.media = MediaChecker(base_dir, image_roots)
        self._strings: dict[str, str] = {}

    def _shared(self, text: str) -> str:
        """One string object per distinct short text: tag names and values such as a client
        or a season repeat on every row, and 100,000 copies of each add up."""
        if len(text) > 64:
            return text
        return self._strings.setdefault(text, text)

    def defaults(self, raw: Mapping[str, Located]) -> Defaults:
        values: dict[str, Any] = {}
        unreadable: set[str] = set()
        tag_columns: dict[str, Any] = {}
        for name, located in raw.items():
            if name.startswith(TAG_COLUMN_PREFIX):
                tag_columns[name[len(TAG_COLUMN_PREFIX) :]] = located.value
                continue
            if located.value is UNREADABLE:
                unreadable.add(name)
                continue
            if name == "id":
                self.log.add(located.file, located.line, name, "names one row; it has no default")
                continue
            try:
                values[name] = coerce(name, located.value)
            except FieldError as exc:
                self.log.add(located.file, located.line, name, str(exc))
                unreadable.add(name)
        tags = {**(values.pop("tags", None) or {}), **tag_columns}
        return Defaults(values, frozenset(unreadable), tags)

    def build(self, row: RawRow, defaults: Defaults) -> BuiltRow | None:
        """The row's spec, takes, id and tags; None (with issues logged) when it is in error."""
        values = dict(defaults.values)
        unreadable = set(defaults.unreadable)
        own: set[str] = set()
        tag_columns: dict[str, Any] = {}
        for name, raw in row.values.items():
            if raw is UNREADABLE:
                unreadable.add(name)
                continue
            if name.startswith(TAG_COLUMN_PREFIX):
                tag_columns[self._shared(name[len(TAG_COLUMN_PREFIX) :])] = self._shared(raw)
                continue
            own.add(name)
            try:
                values[name] = coerce(name, raw)
            except FieldError as exc:
                self.log.add(self.file, row.line_of(name), name, str(exc))
                unreadable.add(name)
                continue
            unreadable.discard(name)
        check = _RowCheck(self, row, values, own, unreadable)
        spec_fields = check.run()
        if spec_fields is None or unreadable:
            return None
        takes = int(values.get("takes") or 1)
        tags = {**defaults.tags, **(values.get("tags") or {}), **tag_columns}
        # Every value is already typed and checked, so the spec is not validated a second
        # time, and all specs share one fields-set: that halves a spec's memory (1.4 KB to
        # 0.7 KB), which keeps a 100,000-row manifest well under 300 MB. The tests check that
        # validating any spec built here gives the same spec back.
        spec = JobSpec.model_construct(_ALL_SET, **spec_fields)
        return BuiltRow(spec, takes, values.get("id"), tags)


class _RowCheck:
    """The checks of one row: capabilities of its model and the fields each mode needs."""

    def __init__(
        self,
        builder: RowBuilder,
        row: RawRow,
        values: dict[str, Any],
        own: set[str],
        unreadable: set[str],
    ) -> None:
        self.b = builder
        self.row = row
        self.v = values
        self.own = own
        self.bad = unreadable
        self.ok = True

    def fail(self, name: str, message: str) -> None:
        self.b.log.add(self.b.file, self.row.line_of(name), name, message)
        self.ok = False

    def run(self) -> dict[str, Any] | None:
        v = self.v
        takes = v.get("takes")
        if takes is not None and takes > self.b.limits.max_takes:
            self.fail("takes", f"is {takes}; the limit is {self.b.limits.max_takes}")
        model = v.get("model")
        if model is None and "model" not in self.bad:
            self.fail("model", "is required (in the row or in defaults)")
        info = MODELS[model] if model is not None else None
        prompt = self._prompt(info)
        mode = self._mode(info) if info is not None else None
        if info is None or mode is None:
            self._check_media()
            return None
        if mode is Mode.IMAGE:
            self._drop_for_images()
        duration = self._duration(info, mode)
        self._check_mode_fields(info, mode)
        if v.get("resolution") and v["resolution"] not in info.resolutions:
            self.fail("resolution", f"{info.id} renders {', '.join(info.resolutions)}")
        media = self._check_media()
        if not self.ok or self.bad:
            return None
        spec: dict[str, Any] = {**v, **media, "mode": mode, "prompt": prompt, "duration": duration}
        for name in ("id", "takes", "tags"):
            spec.pop(name, None)
        # Every field is given, defaults included, so that construction need not look them up.
        return {**_SPEC_DEFAULTS, **{k: x for k, x in spec.items() if x is not None}}

    def _prompt(self, info: ModelInfo | None) -> str | None:
        """The prompt; multi-shot rows (prompts per shot) and motion control may go without."""
        prompt: str | None = self.v.get("prompt")
        if prompt is not None or "prompt" in self.bad:
            return prompt
        if self.v.get("shots") or "shots" in self.bad:
            return ""
        if info is not None and info.modes == {Mode.MOTION_CONTROL}:
            return ""
        self.fail("prompt", "is required (in the row or in defaults)")
        return None

    def _mode(self, info: ModelInfo) -> Mode | None:
        v = self.v
        mode: Mode | None = v.get("mode")
        if mode is not None:
            if mode not in info.modes:
                can = ", ".join(sorted(m.value for m in info.modes))
                self.fail("mode", f"{info.id} cannot render {mode.value}; it renders {can}")
                return None
            return mode
        if "mode" in self.bad:
            return None
        if len(info.modes) == 1:
            return next(iter(info.modes))
        if Mode.OMNI in info.modes and (
            v.get("shots") or v.get("audio") or v.get("voice_description")
        ):
            return Mode.OMNI
        if v.get("image_url") and Mode.IMAGE2VIDEO in info.modes:
            return Mode.IMAGE2VIDEO
        return Mode.TEXT2VIDEO if Mode.TEXT2VIDEO in info.modes else Mode.IMAGE2VIDEO

    def _drop_for_images(self) -> None:
        for name in _NOT_FOR_IMAGES:
            if not self.v.get(name):
                self.v.pop(name, None)
            elif name in self.own:
                self.fail(name, "does not apply to image generation")
            else:
                del self.v[name]

    def _duration(self, info: ModelInfo, mode: Mode) -> int | None:
        v = self.v
        if mode is Mode.IMAGE:
            return None
        shots: tuple[Shot, ...] | None = v.get("shots")
        if shots:
            total = sum(s.duration for s in shots)
            if not info.shots:
                self.fail("shots", f"{info.id} cannot render multi-shot (kling-o3 can)")
            elif mode is not Mode.OMNI:
                self.fail("shots", f"multi-shot renders in omni mode, not {mode.value}")
            elif total not in info.durations:
                self.fail(
                    "shots", f"add up to {total} seconds; {info.id} renders {_durations(info)}"
                )
            if "duration" in self.own and v.get("duration") not in (None, total):
                self.fail("duration", f"is {v['duration']} but the shots add up to {total}")
            return total
        if "duration" in self.bad:
            return None
        duration = int(v.get("duration") or DEFAULT_DURATION)
        if duration not in info.durations:
            self.fail("duration", f"{info.id} renders {_durations(info)}, not {duration}")
        return duration

    def _check_mode_fields(self, info: ModelInfo, mode: Mode) -> None:
        v = self.v
        if v.get("audio") and not info.audio:
            self.fail("audio", f"{info.id} cannot generate audio")
        if v.get("voice_description"):
            if mode is not Mode.OMNI:
                self.fail(
                    "voice_description", f"is only used in omni mode (kling-o3), not {mode.value}"
                )
            elif not v.get("audio") and "audio" not in self.bad:
                self.fail("voice_description", "needs audio: true")
        if v.get("end_image_url"):
            if not info.end_frame:
                self.fail("end_image_url", f"{info.id} does not take an end frame")
            elif not v.get("image_url") and "image_url" not in self.bad:
                self.fail("end_image_url", "needs image_url (the start frame) as well")
        if mode is Mode.MOTION_CONTROL:
            if not v.get("video_url") and "video_url" not in self.bad:
                self.fail("video_url", "is required for motion control (the movement to copy)")
            if not v.get("image_url") and "image_url" not in self.bad:
                self.fail("image_url", "is required for motion control (the subject to move)")
        elif v.get("video_url"):
            self.fail("video_url", "is only used by motion control")
        if mode is Mode.IMAGE2VIDEO and not v.get("image_url") and "image_url" not in self.bad:
            self.fail("image_url", "is required for image2video")
        if mode is Mode.TEXT2VIDEO and v.get("image_url"):
            self.fail("image_url", "is not used by text2video (use image2video)")

    def _check_media(self) -> dict[str, str]:
        checked: dict[str, str] = {}
        for name, kind in (("image_url", IMAGE), ("end_image_url", IMAGE), ("video_url", VIDEO)):
            value = self.v.get(name)
            if value is None or name in self.bad:
                continue
            try:
                checked[name] = self.b.media.check(value, kind)
            except FieldError as exc:
                self.fail(name, str(exc))
        return checked
