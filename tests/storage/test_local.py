"""What only the local backend does: temp files beside the target, symlinks, OS errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.storage.streams import generated
from worker.storage import (
    LocalStorage,
    PermanentStorageError,
    TransientStorageError,
    UnsafeKey,
)
from worker.storage.local import translate_os_error


def test_the_stream_goes_to_a_hidden_temp_file_in_the_target_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "videos")
    folder = tmp_path / "videos" / "b"
    during: list[str] = []
    chunks = generated(3000, after_last=lambda: during.extend(p.name for p in folder.iterdir()))

    storage.put_stream("b/x.mp4", chunks, expected_size=3000, content_type="video/mp4", metadata={})

    assert len(during) == 1
    assert during[0].startswith(".x.mp4.")
    assert during[0].endswith(".part")
    assert sorted(p.name for p in folder.iterdir()) == ["x.mp4"]


def test_files_get_the_usual_permissions(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        LocalStorage(tmp_path).put_json("b/x.json", {"a": 1})
    finally:
        os.umask(previous)
    assert (tmp_path / "b" / "x.json").stat().st_mode & 0o777 == 0o644


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "evil").symlink_to(outside)
    storage = LocalStorage(root)

    with pytest.raises(UnsafeKey):
        storage.put_stream(
            "evil/x.mp4", [b"a"], expected_size=1, content_type="video/mp4", metadata={}
        )
    with pytest.raises(UnsafeKey):
        storage.put_json("evil/sub/x.json", {"a": 1})
    with pytest.raises(UnsafeKey):
        storage.stat("evil/x.mp4")
    assert list(outside.iterdir()) == []


def test_a_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real")
    storage = LocalStorage(root)
    storage.put_stream(
        "alias/x.mp4", [b"abc"], expected_size=3, content_type="video/mp4", metadata={}
    )
    assert (root / "real" / "x.mp4").read_bytes() == b"abc"


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(UnsafeKey):
        LocalStorage(tmp_path).stat("loop/x.mp4")


def test_a_root_that_is_a_file_is_a_permanent_error(tmp_path: Path) -> None:
    root = tmp_path / "not-a-folder"
    root.write_bytes(b"")
    storage = LocalStorage(root)
    with pytest.raises(PermanentStorageError) as caught:
        storage.put_stream(
            "b/x.mp4", [b"a"], expected_size=1, content_type="video/mp4", metadata={}
        )
    assert isinstance(caught.value.__cause__, OSError)
    assert storage.stat("b/x.mp4") is None


def test_a_folder_in_place_of_the_object_is_a_permanent_error(tmp_path: Path) -> None:
    (tmp_path / "b" / "x.mp4").mkdir(parents=True)
    storage = LocalStorage(tmp_path)
    with pytest.raises(PermanentStorageError):
        storage.put_stream(
            "b/x.mp4", [b"a"], expected_size=1, content_type="video/mp4", metadata={}
        )
    assert storage.stat("b/x.mp4") is None
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["x.mp4"]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (errno.ENOSPC, TransientStorageError),
        (errno.EIO, TransientStorageError),
        (errno.EAGAIN, TransientStorageError),
        (errno.EACCES, PermanentStorageError),
        (errno.EROFS, PermanentStorageError),
        (errno.ENOTDIR, PermanentStorageError),
    ],
)
def test_os_errors_are_sorted_by_whether_a_retry_can_help(code: int, kind: type[Exception]) -> None:
    error = translate_os_error(OSError(code, os.strerror(code)), "writing", "b/x.mp4")
    assert type(error) is kind
    assert str(error) == f"writing b/x.mp4: {os.strerror(code)}"


def test_root_is_absolute_and_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert LocalStorage("var/../videos").root == tmp_path / "videos"
    assert repr(LocalStorage("videos")) == f"LocalStorage({str(tmp_path / 'videos')!r})"
