"""Result bytes straight from `worker.sim.media`, checked with ffprobe and zlib."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

from worker.sim.media import PNG_SIZE, base_clip, png_bytes, video_bytes


def probe(path: Path) -> str:
    return subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,pix_fmt",
            "-of",
            "csv=p=0",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_each_task_video_is_the_clip_plus_its_own_free_box(tmp_path: Path) -> None:
    a, b = video_bytes("111"), video_bytes("222")
    assert a != b
    assert a.startswith(base_clip())
    assert b.startswith(base_clip())
    for name, data in (("a", a), ("b", b)):
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(data)
        assert probe(path) == "h264,yuv420p"


def test_png_chunks_and_pixels_are_valid() -> None:
    data = png_bytes("123456")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        chunks[kind] = body
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"tEXt", b"IDAT", b"IEND"]
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = zlib.decompress(chunks[b"IDAT"])
    assert (width, height) == (PNG_SIZE, PNG_SIZE)
    assert len(raw) == height * (1 + 3 * width)
    assert png_bytes("123456") != png_bytes("654321")
