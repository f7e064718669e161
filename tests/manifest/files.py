"""Small files the manifest tests write: manifests in a temp folder, images by their bytes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from jobs.manifest import Manifest, ManifestError, load_manifest


def png(width: int = 320, height: int = 320) -> bytes:
    """A valid PNG, by default just large enough for the provider."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_head(width: int = 640, height: int = 480) -> bytes:
    """The first segments of a baseline JPEG: JFIF, a quantisation table, the frame header."""
    jfif = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb\x00\x43\x00" + bytes(64)
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03" + bytes(9)
    return b"\xff\xd8" + jfif + dqt + sof


MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def messages(path: Path, **kw: object) -> list[str]:
    """The manifest's error lines, with the folder left out of file names."""
    try:
        load_manifest(path, **kw)  # type: ignore[arg-type]
    except ManifestError as exc:
        return [str(i).replace(f"{path.parent}/", "") for i in exc.issues]
    raise AssertionError(f"{path} loaded without errors")


def load(path: Path, **kw: object) -> Manifest:
    return load_manifest(path, **kw)  # type: ignore[arg-type]
