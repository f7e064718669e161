"""Reference images and videos: an http(s) URL, or a local file that is checked here.

A local path is resolved against the manifest's folder (symlinks followed) and must stay inside
that folder or one of the configured image roots, so a manifest cannot make kbatch read and
upload an arbitrary file. Images must be JPEG or PNG by their first bytes, at most 10 MB and
at least 300 pixels on each side (the provider's limits); reference videos MP4 or MOV, at most
100 MB.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jobs.manifest.fields import FieldError

URL_SCHEMES = ("http", "https")
MIN_IMAGE_SIDE = 300
# A JPEG's frame header follows its EXIF data and colour profile, nearly always within this.
_HEAD_BYTES = 64 * 1024
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


@dataclass(frozen=True, slots=True)
class MediaKind:
    """What a field refers to: its size limit and the signatures its files start with."""

    noun: str
    max_bytes: int
    formats: str
    signatures: tuple[bytes, ...]
    offset: int = 0
    min_side: int = 0

    def matches(self, head: bytes) -> bool:
        return head[self.offset :].startswith(self.signatures)


IMAGE = MediaKind(
    "image", 10 * 1024 * 1024, "a JPEG or PNG image", (_PNG, _JPEG), min_side=MIN_IMAGE_SIDE
)
# MP4 and QuickTime files open with a box of type `ftyp`, after the box's 4-byte size.
VIDEO = MediaKind("video", 100 * 1024 * 1024, "an MP4 or MOV video", (b"ftyp",), offset=4)


def show(value: str, limit: int = 80) -> str:
    """A path or URL for messages; a long one keeps its end, where the file name is."""
    return repr(value if len(value) <= limit else "…" + value[-(limit - 1) :])


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


class MediaChecker:
    """Checks media references for one manifest, remembering each answer.

    A 100,000-row manifest often points every row at the same few files; each is read once.
    """

    def __init__(self, base_dir: Path, roots: Sequence[Path] = ()) -> None:
        self._base = base_dir.resolve()
        self._roots = [self._base, *(Path(r).expanduser().resolve() for r in roots)]
        self._extra_roots = bool(roots)
        self._seen: dict[tuple[str, str], str | FieldError] = {}

    def check(self, value: str, kind: MediaKind) -> str:
        """The URL unchanged, or the local file's absolute path; raises FieldError."""
        key = (kind.noun, value)
        found = self._seen.get(key)
        if found is None:
            try:
                found = self._check(value, kind)
            except FieldError as exc:
                found = exc
            self._seen[key] = found
        if isinstance(found, FieldError):
            raise found
        return found

    def _check(self, value: str, kind: MediaKind) -> str:
        if "://" in value or value.lower().startswith("data:"):
            return _check_url(value)
        return self._check_file(value, kind)

    def _check_file(self, value: str, kind: MediaKind) -> str:
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self._base / path
        resolved = path.resolve()
        if not any(resolved.is_relative_to(root) for root in self._roots):
            where = "the manifest's folder" + (" or the image roots" if self._extra_roots else "")
            raise FieldError(f"{show(value)} is outside {where}")
        if not resolved.exists():
            raise FieldError(f"no such file {show(value)}")
        if not resolved.is_file():
            raise FieldError(f"{show(value)} is not a file")
        try:
            size = resolved.stat().st_size
            with resolved.open("rb") as fh:
                head = fh.read(_HEAD_BYTES)
        except OSError as exc:
            raise FieldError(f"{show(value)} cannot be read ({exc.strerror})") from None
        if size > kind.max_bytes:
            raise FieldError(
                f"{show(value)} is {_megabytes(size)}; the limit is {_megabytes(kind.max_bytes)}"
            )
        if not kind.matches(head):
            raise FieldError(f"{show(value)} is not {kind.formats}")
        size_px = image_size(head) if kind.min_side else None
        if size_px is not None and min(size_px) < kind.min_side:
            width, height = size_px
            raise FieldError(
                f"{show(value)} is {width}x{height} pixels; the provider needs at least "
                f"{kind.min_side} on each side"
            )
        return str(resolved)


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        shown = scheme or value.split(":", 1)[0]
        raise FieldError(f"only http and https URLs are allowed, not {shown}:")
    if not parts.hostname:
        raise FieldError(f"{show(value)} has no host")
    return value


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header or a JPEG's frame header, when `head` holds it."""
    if head.startswith(_PNG) and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if not head.startswith(_JPEG):
        return None
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None  # not a marker where one must be: leave the file to the provider
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            at += 2
            continue
        # Start-of-frame markers, except DHT (C4), JPG (C8) and DAC (CC), hold the size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + int.from_bytes(head[at + 2 : at + 4], "big")
    return None
