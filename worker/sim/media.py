"""Result bytes: a real H.264/yuv420p MP4 and real PNGs, different for every task.

The MP4 is one small clip made once with ffmpeg and shipped in `assets/`; each task's copy ends
with a top-level `free` box naming the task, which players skip but which changes every checksum,
so the runtime needs no ffmpeg. PNGs are assembled here from their three chunks with zlib: a
flat-colour image needs no imaging library, and the colour and a text chunk come from the task id.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache
from importlib import resources

PNG_SIZE = 64


@lru_cache(maxsize=1)
def base_clip() -> bytes:
    return resources.files("worker.sim").joinpath("assets/clip.mp4").read_bytes()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def video_bytes(task_id: str, index: int = 0) -> bytes:
    """The task's MP4: the shipped clip plus a `free` box carrying the task id."""
    return base_clip() + _box(b"free", f"kbatch-sim task {task_id} video {index}".encode())


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@lru_cache(maxsize=256)
def png_bytes(task_id: str, index: int = 0) -> bytes:
    """A PNG_SIZE² RGB image whose colour and text chunk come from the task id."""
    r, g, b = hashlib.sha256(f"{task_id}:{index}".encode()).digest()[:3]
    row = b"\x00" + bytes((r, g, b)) * PNG_SIZE  # filter byte 0 (None), then the pixels
    header = struct.pack(">IIBBBBB", PNG_SIZE, PNG_SIZE, 8, 2, 0, 0, 0)  # 8-bit RGB
    text = b"Comment\x00" + f"kbatch-sim task {task_id} image {index}".encode()
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"tEXt", text),
            _chunk(b"IDAT", zlib.compress(row * PNG_SIZE, 9)),
            _chunk(b"IEND", b""),
        )
    )
