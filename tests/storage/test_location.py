"""`KBATCH_STORAGE_URL` forms, and the backend `open_storage` builds from each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, s3_settings, settings_for
from worker.settings import Settings
from worker.storage import LocalStorage, S3Storage, StorageConfigError, open_storage
from worker.storage.location import LocalLocation, S3Location, parse_storage_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///srv/videos", LocalLocation(Path("/srv/videos"))),
        ("file://localhost/srv/videos", LocalLocation(Path("/srv/videos"))),
        ("file:///srv/my%20videos", LocalLocation(Path("/srv/my videos"))),
        ("file://./var/videos", LocalLocation(Path("var/videos"))),
        ("file://../videos", LocalLocation(Path("../videos"))),
        ("./var/videos", LocalLocation(Path("var/videos"))),
        ("/data/videos", LocalLocation(Path("/data/videos"))),
        ("s3://bucket-1/renders/2025", S3Location("bucket-1", "renders/2025")),
        ("s3://bucket-1/renders/", S3Location("bucket-1", "renders")),
        ("s3://bucket-1", S3Location("bucket-1", "")),
    ],
)
def test_accepted_forms(url: str, expected: LocalLocation | S3Location) -> None:
    assert parse_storage_url(url) == expected


def test_home_is_expanded() -> None:
    location = parse_storage_url("~/videos")
    assert isinstance(location, LocalLocation)
    assert location.root == Path.home() / "videos"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "gs://bucket/x",
        "https://example.com/videos",
        "file://somehost/videos",
        "file://",
        "s3://",
        "s3://Bad_Bucket/x",
        "s3://a/x",
        "s3://bucket-1/../x",
        "s3://bucket-1/a/%2e%2e/x",
        "s3://bucket-1/x?versionId=1",
    ],
)
def test_refused_forms(url: str) -> None:
    with pytest.raises(StorageConfigError):
        parse_storage_url(url)


def test_credentials_in_the_url_are_refused_without_being_echoed() -> None:
    url = f"s3://{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}@bucket-1/videos"
    with pytest.raises(StorageConfigError) as caught:
        parse_storage_url(url)
    assert SECRET_ACCESS_KEY not in str(caught.value)
    assert ACCESS_KEY_ID not in str(caught.value)


def test_open_storage_builds_a_local_folder_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = open_storage(settings_for("file://./var/videos"))
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "var" / "videos"
    assert storage.describe() == (tmp_path / "var" / "videos").as_uri()
    assert not (tmp_path / "var").exists()  # nothing is created before the first write
    storage.put_json("b/x.json", {"a": 1})
    assert (tmp_path / "var" / "videos" / "b" / "x.json").is_file()


def test_the_default_setting_is_a_local_folder() -> None:
    default = Settings.model_fields["storage_url"].default
    storage = open_storage(settings_for(default))
    assert isinstance(storage, LocalStorage)
    assert storage.root == Path.cwd() / "var" / "videos"


def test_open_storage_builds_s3_without_contacting_it() -> None:
    # Nothing listens on this endpoint: building the storage must not connect anywhere.
    storage = open_storage(
        settings_for("s3://renders/nightly/2025", s3_settings("http://127.0.0.1:9"))
    )
    assert isinstance(storage, S3Storage)
    assert storage.describe() == "s3://renders/nightly/2025"
    shown = f"{storage!r} {storage.describe()} {vars(storage)}"
    assert SECRET_ACCESS_KEY not in shown
    assert ACCESS_KEY_ID not in shown
