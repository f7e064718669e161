"""Manifests written carelessly or maliciously, beyond tests/manifest/bad/: each is built in its
own folder by a function, with the line and field its first error must name.

The shapes: files and values far too large, NUL bytes, text in the wrong encoding, row ids and
media paths that try to reach outside the manifest's folder (by `..`, an absolute path or a
symlink), URLs with schemes other than http(s), and structures nested deeper than any parser's
stack.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HEAD = "name: hostile\ndefaults:\n  model: kling-v3\n  duration: 5\nrows:\n"
CSV_HEAD = "id,prompt,model,duration\n"


@dataclass(frozen=True)
class Case:
    """A manifest `file` made by `make(folder)`; its error names `line` (None: the whole file)
    and `field`."""

    name: str
    file: str
    make: Callable[[Path], None]
    line: int | None
    field: str

    def build(self, folder: Path) -> Path:
        folder.mkdir(parents=True)
        self.make(folder)
        return folder / self.file


def _text(file: str, content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / file).write_bytes(content.encode(encoding))

    return make


def _bytes(file: str, content: bytes) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / file).write_bytes(content)

    return make


def _sparse(file: str, size: int) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        with (folder / file).open("wb") as fh:
            fh.write(HEAD.encode())
            fh.truncate(size)  # a hole: the size is real, the disk blocks are not

    return make


def _with_symlink(file: str, content: str, link: str, target: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        os.symlink(target, folder / link)
        (folder / file).write_text(content, encoding="utf-8")

    return make


def _row(**fields: str) -> str:
    lines = [
        f"  - {k}: {v}" if i == 0 else f"    {k}: {v}" for i, (k, v) in enumerate(fields.items())
    ]
    return "\n".join(lines) + "\n"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


CASES = (
    Case("huge file", "huge.yaml", _sparse("huge.yaml", 60 * 1024 * 1024), None, "file"),
    Case(
        "huge field",
        "huge_field.yaml",
        _text("huge_field.yaml", HEAD + _row(prompt="x" * 1_000_000, id="a")),
        6,
        "prompt",
    ),
    Case(
        "huge cell",
        "huge_cell.csv",
        _text("huge_cell.csv", CSV_HEAD + "a," + "y" * 1_000_000 + ",kling-v3,5\n"),
        2,
        "prompt",
    ),
    Case(
        "NUL byte in YAML",
        "nul.yaml",
        _bytes("nul.yaml", (HEAD + _row(prompt="dawn\0dusk", id="a")).encode()),
        6,
        "file",
    ),
    Case(
        "NUL byte in CSV",
        "nul.csv",
        _bytes("nul.csv", (CSV_HEAD + "a,fine,kling-v3,5\nb,da\0wn,kling-v3,5\n").encode()),
        3,
        "file",
    ),
    Case(
        "Latin-1 YAML",
        "latin1.yaml",
        _text("latin1.yaml", HEAD + _row(prompt="un café au port", id="a"), "latin-1"),
        6,
        "file",
    ),
    Case(
        "UTF-16 YAML",
        "utf16.yaml",
        _text("utf16.yaml", HEAD + _row(id="a", prompt="harbour"), "utf-16"),
        1,
        "file",
    ),
    Case(
        "Latin-1 CSV",
        "latin1.csv",
        _text("latin1.csv", CSV_HEAD + "a,un café,kling-v3,5\n", "latin-1"),
        2,
        "file",
    ),
    Case(
        "id climbing out",
        "id_dotdot.yaml",
        _text("id_dotdot.yaml", HEAD + _row(id="../../etc/passwd", prompt="harbour")),
        6,
        "id",
    ),
    Case(
        "absolute id",
        "id_absolute.yaml",
        _text("id_absolute.yaml", HEAD + _row(id="/etc/passwd", prompt="harbour")),
        6,
        "id",
    ),
    Case(
        "id climbing out in CSV",
        "id_dotdot.csv",
        _text("id_dotdot.csv", CSV_HEAD + "..\\..\\windows,harbour,kling-v3,5\n"),
        2,
        "id",
    ),
    Case(
        "image climbing out",
        "image_dotdot.yaml",
        _text(
            "image_dotdot.yaml",
            HEAD + _row(image_url="../../../../etc/passwd", id="a", prompt="harbour"),
        ),
        6,
        "image_url",
    ),
    Case(
        "absolute image path",
        "image_absolute.yaml",
        _text("image_absolute.yaml", HEAD + _row(image_url="/etc/hosts", id="a", prompt="harbour")),
        6,
        "image_url",
    ),
    Case(
        "image through a symlink",
        "image_link.yaml",
        _with_symlink(
            "image_link.yaml",
            HEAD + _row(image_url="start.png", id="a", prompt="harbour"),
            "start.png",
            "/etc/hosts",
        ),
        6,
        "image_url",
    ),
    Case(
        "file URL",
        "url_file.yaml",
        _text("url_file.yaml", HEAD + _row(image_url="file:///etc/passwd", prompt="p")),
        6,
        "image_url",
    ),
    Case(
        "data URL",
        "url_data.yaml",
        _text(
            "url_data.yaml",
            HEAD + _row(image_url="'data:image/png;base64,iVBORw0KGgo='", prompt="p"),
        ),
        6,
        "image_url",
    ),
    Case(
        "gopher video",
        "url_gopher.yaml",
        _text(
            "url_gopher.yaml",
            HEAD.replace("kling-v3", "kling-motion-control")
            + _row(video_url="gopher://x/1", prompt="p", image_url="https://i.example/a.png"),
        ),
        6,
        "video_url",
    ),
    Case(
        "deep flow nesting",
        "deep.yaml",
        _text("deep.yaml", HEAD + _row(tags=_nested(100_000), prompt="p")),
        6,
        "yaml",
    ),
    Case(
        "deep JSON in CSV",
        "deep.csv",
        _text(
            "deep.csv", "id,prompt,model,duration,shots\na,p,kling-v3,5," + _nested(20_000) + "\n"
        ),
        2,
        "shots",
    ),
    Case(
        "prompt over the limit in CSV",
        "long_prompt.csv",
        _text("long_prompt.csv", CSV_HEAD + "a," + "z" * 2501 + ",kling-v3,5\n"),
        2,
        "prompt",
    ),
    Case(
        "unknown model in CSV",
        "model.csv",
        _text("model.csv", CSV_HEAD + "a,harbour,kling-v99,5\n"),
        2,
        "model",
    ),
    Case(
        "unknown column in CSV",
        "column.csv",
        _text("column.csv", "id,prompt,model,duration,colour\na,harbour,kling-v3,5,red\n"),
        1,
        "colour",
    ),
)
