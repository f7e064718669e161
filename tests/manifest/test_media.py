"""Reference images and videos: URLs, local files, folders they may come from, formats, sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.manifest.fields import FieldError
from jobs.manifest.media import IMAGE, VIDEO, MediaChecker, image_size
from tests.manifest.files import MP4_HEAD, jpeg_head, load, messages, png, write


def _row(image: str) -> str:
    return f"rows:\n  - {{prompt: p, model: kling-v3, image_url: '{image}'}}\n"


def test_local_images_resolve_against_the_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png())
    (tmp_path / "b.jpg").write_bytes(jpeg_head() + b"\x00" * 100)
    text = "rows:\n  - {prompt: p, model: kling-v3, image_url: img/a.png}\n"
    text += f"  - {{prompt: p, model: kling-v3, image_url: '{tmp_path}/b.jpg'}}\n"
    jobs = load(write(tmp_path / "sub" / "..", "m.yaml", text)).jobs
    assert [j.spec.image_url for j in jobs] == [
        str(tmp_path / "img" / "a.png"),
        str(tmp_path / "b.jpg"),
    ]


def test_urls_pass_through_and_other_schemes_fail(tmp_path: Path) -> None:
    [job] = load(write(tmp_path, "m.yaml", _row("https://cdn.example.com/a.png?x=1"))).jobs
    assert job.spec.image_url == "https://cdn.example.com/a.png?x=1"
    for bad, message in [
        ("file:///etc/passwd", "only http and https URLs are allowed, not file:"),
        ("data:image/png;base64,AAAA", "only http and https URLs are allowed, not data:"),
        ("http:///nohost.png", "'http:///nohost.png' has no host"),
    ]:
        assert messages(write(tmp_path, "m.yaml", _row(bad))) == [f"m.yaml:2: image_url: {message}"]


def test_paths_may_not_escape_the_manifest_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.png").write_bytes(png())
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "link.png").symlink_to(outside / "a.png")
    for value in ("../outside/a.png", str(outside / "a.png"), "link.png"):
        [message] = messages(write(folder, "m.yaml", _row(value)))
        assert message.endswith(f"{value[-40:]}' is outside the manifest's folder")
    # Unless the folder is one of the configured image roots.
    path = write(folder, "m.yaml", _row("../outside/a.png"))
    [job] = load(path, image_roots=[outside]).jobs
    assert job.spec.image_url == str(outside / "a.png")
    assert messages(write(folder, "m.yaml", _row("/etc/hostname")), image_roots=[outside]) == [
        "m.yaml:2: image_url: '/etc/hostname' is outside the manifest's folder or the image roots"
    ]


def test_image_format_and_size(tmp_path: Path) -> None:
    (tmp_path / "gif.png").write_bytes(b"GIF89a" + b"\x00" * 10)
    (tmp_path / "big.png").write_bytes(png() + b"\x00" * (10 * 1024 * 1024))
    (tmp_path / "dir.png").mkdir()
    text = "".join(
        f"  - {{prompt: {n}, model: kling-v3, image_url: {name}}}\n"
        for n, name in enumerate(["gif.png", "big.png", "dir.png", "none.png"])
    )
    assert messages(write(tmp_path, "m.yaml", "rows:\n" + text)) == [
        "m.yaml:2: image_url: 'gif.png' is not a JPEG or PNG image",
        "m.yaml:3: image_url: 'big.png' is 10.0 MB; the limit is 10.0 MB",
        "m.yaml:4: image_url: 'dir.png' is not a file",
        "m.yaml:5: image_url: no such file 'none.png'",
    ]


def test_images_must_be_300_pixels_on_each_side(tmp_path: Path) -> None:
    (tmp_path / "wide.png").write_bytes(png(1000, 299))
    (tmp_path / "small.jpg").write_bytes(jpeg_head(200, 400))
    (tmp_path / "ok.jpg").write_bytes(jpeg_head(300, 300))
    text = "rows:\n" + "".join(
        f"  - {{prompt: {n}, model: kling-v3, image_url: {name}}}\n"
        for n, name in enumerate(["wide.png", "small.jpg", "ok.jpg"])
    )
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:2: image_url: 'wide.png' is 1000x299 pixels; the provider needs at least 300 "
        "on each side",
        "m.yaml:3: image_url: 'small.jpg' is 200x400 pixels; the provider needs at least 300 "
        "on each side",
    ]


def test_image_size_reading() -> None:
    assert image_size(png(321, 654)) == (321, 654)
    assert image_size(jpeg_head(1920, 1080)) == (1920, 1080)
    # Fill bytes and restart markers before the frame header are skipped.
    head = jpeg_head(800, 600)
    assert image_size(head[:2] + b"\xff\xff" + head[2:]) == (800, 600)
    # A header cut short, or not a JPEG: no size, the check is left to the provider.
    assert image_size(head[:30]) is None
    assert image_size(b"GIF89a" + bytes(30)) is None


def test_reference_videos_for_motion_control(tmp_path: Path) -> None:
    (tmp_path / "move.mp4").write_bytes(MP4_HEAD + b"\x00" * 100)
    (tmp_path / "move.png").write_bytes(png())
    text = """\
rows:
  - {model: kling-motion-control, video_url: move.mp4, image_url: move.png}
  - {model: kling-motion-control, video_url: move.png, image_url: move.png}
"""
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:3: video_url: 'move.png' is not an MP4 or MOV video"
    ]
    [job] = load(write(tmp_path, "ok.yaml", text.rsplit("  - ", 1)[0])).jobs
    assert job.spec.video_url == str(tmp_path / "move.mp4")
    assert job.spec.image_url == str(tmp_path / "move.png")


def test_checker_reads_each_file_once(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(png())
    checker = MediaChecker(tmp_path)
    assert checker.check("a.png", IMAGE) == str(image)
    # Later rows get the remembered answer, even if the file has changed meanwhile.
    image.write_bytes(b"not an image")
    assert checker.check("a.png", IMAGE) == str(image)
    with pytest.raises(FieldError, match="is not an MP4"):
        checker.check("a.png", VIDEO)
