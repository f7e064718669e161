"""The storage contract, run against both backends: a tmp folder and moto's S3 over HTTP."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.storage.conftest import OUTSIDE, SECRET_ACCESS_KEY, Backend
from tests.storage.streams import Counted, MiB, failing_after, generated, generated_sha256
from worker.storage import (
    ObjectNotFound,
    SizeMismatch,
    StorageError,
    TransientStorageError,
    UnsafeKey,
    object_key,
    sidecar_key,
)

VIDEO = "video/mp4"
META = {"job-key": "kb0123456789abcdef01234567", "batch": "spring", "provider-task-id": "t-1"}


def read_all(backend: Backend, key: str) -> bytes:
    with backend.storage.open_read(key) as f:
        return f.read()


@pytest.mark.parametrize(
    "chunks",
    [
        [b"hello ", b"", b"world"],
        [b""],
        [],
        [bytes(range(256)) * 40],
    ],
    ids=["several", "one-empty", "none", "binary"],
)
def test_round_trip_reports_sha256_and_size(backend: Backend, chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    key = "spring/kb0123456789abcdef01234567.mp4"

    stored = backend.storage.put_stream(
        key, iter(chunks), expected_size=len(data), content_type=VIDEO, metadata=META
    )

    assert stored.key == key
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert stored.content_type == VIDEO
    assert backend.storage.stat(key) == stored
    assert read_all(backend, key) == data
    assert backend.inventory() == {key}


def test_unknown_size_is_accepted(backend: Backend) -> None:
    stored = backend.storage.put_stream(
        "b/x.mp4", generated(3000), expected_size=None, content_type=VIDEO, metadata={}
    )
    assert stored.size == 3000
    assert stored.sha256 == generated_sha256(3000)


def test_stat_and_read_of_a_missing_object(backend: Backend) -> None:
    assert backend.storage.stat("b/missing.mp4") is None
    with pytest.raises(ObjectNotFound), backend.storage.open_read("b/missing.mp4"):
        pass


def test_a_second_put_replaces_the_object(backend: Backend) -> None:
    put = backend.storage.put_stream
    put("b/x.mp4", [b"first"], expected_size=5, content_type=VIDEO, metadata={})
    second = put("b/x.mp4", [b"second!"], expected_size=7, content_type=VIDEO, metadata={})
    assert read_all(backend, "b/x.mp4") == b"second!"
    assert backend.storage.stat("b/x.mp4") == second


def test_large_stream_uses_bounded_memory(backend: Backend) -> None:
    size = 40 * MiB
    tracemalloc.start()
    try:
        stored = backend.storage.put_stream(
            "big/kb0123456789abcdef01234567.mp4",
            generated(size),
            expected_size=size,
            content_type=VIDEO,
            metadata=META,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored.size == size
    assert stored.sha256 == generated_sha256(size)
    # One 8 MiB part at a time for S3, one chunk at a time for a file: far below 40 MiB.
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert backend.storage.stat(stored.key) == stored
    digest = hashlib.sha256()
    with backend.storage.open_read(stored.key) as f:
        while block := f.read(MiB):
            digest.update(block)
    assert digest.hexdigest() == stored.sha256


@pytest.mark.parametrize("size", [1000, 20 * MiB], ids=["small", "multipart"])
def test_short_stream_stores_nothing(backend: Backend, size: int) -> None:
    with pytest.raises(SizeMismatch) as caught:
        backend.storage.put_stream(
            "b/short.mp4", generated(size), expected_size=size + 1, content_type=VIDEO, metadata={}
        )
    assert (caught.value.expected, caught.value.actual) == (size + 1, size)
    assert isinstance(caught.value, TransientStorageError)
    assert backend.storage.stat("b/short.mp4") is None
    assert backend.inventory() == set()


def test_long_stream_is_refused_without_reading_it_all(backend: Backend) -> None:
    endless = Counted()
    with pytest.raises(SizeMismatch) as caught:
        backend.storage.put_stream(
            "b/long.mp4", endless, expected_size=9 * MiB, content_type=VIDEO, metadata={}
        )
    assert caught.value.actual > caught.value.expected == 9 * MiB
    assert endless.taken == 9 * 4 + 1  # 256 KiB chunks: the first one past 9 MiB stops it
    assert backend.inventory() == set()


@pytest.mark.parametrize("size", [1000, 20 * MiB], ids=["small", "multipart"])
def test_failing_stream_propagates_and_stores_nothing(backend: Backend, size: int) -> None:
    broken = ConnectionResetError("download interrupted")
    with pytest.raises(ConnectionResetError) as caught:
        backend.storage.put_stream(
            "b/broken.mp4",
            failing_after(size, broken),
            expected_size=None,
            content_type=VIDEO,
            metadata={},
        )
    assert caught.value is broken  # the caller's error, not dressed up as a storage one
    assert backend.inventory() == set()


def test_a_failed_put_keeps_the_previous_object(backend: Backend) -> None:
    put = backend.storage.put_stream
    good = put("b/x.mp4", [b"good"], expected_size=4, content_type=VIDEO, metadata={})
    with pytest.raises(SizeMismatch):
        put("b/x.mp4", [b"ba"], expected_size=4, content_type=VIDEO, metadata={})
    assert backend.storage.stat("b/x.mp4") == good
    assert backend.inventory() == {"b/x.mp4"}


def test_sidecar_json_sits_beside_the_video(backend: Backend) -> None:
    video = object_key("Spring Promo", "kb0123456789abcdef01234567", "mp4", row_id="hero 1")
    stored = backend.storage.put_stream(
        video, [b"frames"], expected_size=6, content_type=VIDEO, metadata=META
    )
    data = {
        "job_key": "kb0123456789abcdef01234567",
        "batch": "Spring Promo",
        "prompt": "a fox at dawn, 狐",
        "finished_at": datetime(2025, 5, 1, 12, 30, tzinfo=UTC),
        "sha256": stored.sha256,
    }

    url = backend.storage.put_json(sidecar_key(video), data)

    assert url.rsplit("/", 1)[0] == stored.url.rsplit("/", 1)[0]
    assert url.endswith(".json")
    with backend.storage.open_read(sidecar_key(video)) as f:
        assert json.load(f) == {**data, "finished_at": "2025-05-01T12:30:00+00:00"}
    sidecar = backend.storage.stat(sidecar_key(video))
    assert sidecar is not None
    assert sidecar.content_type == "application/json"
    assert backend.inventory() == {video, sidecar_key(video)}


def test_playable_url_serves_the_same_bytes(backend: Backend) -> None:
    data = bytes(range(256)) * 100
    key = "b/play.mp4"
    backend.storage.put_stream(
        key, [data], expected_size=len(data), content_type=VIDEO, metadata={}
    )

    url = backend.storage.playable_url(key, expires_s=600)

    assert SECRET_ACCESS_KEY not in url
    if backend.name == "s3":
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == VIDEO
    else:
        parts = urlsplit(url)
        assert parts.scheme == "file"
        assert Path(url2pathname(parts.path)).read_bytes() == data


@pytest.mark.parametrize("metadata", [{"Job Key": "x"}, {"job_key": "x"}, {"": "x"}, {"a": 1}])
def test_metadata_names_are_checked(backend: Backend, metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="metadata"):
        backend.storage.put_stream(
            "b/x.mp4", [b"a"], expected_size=1, content_type=VIDEO, metadata=metadata
        )
    assert backend.inventory() == set()


HOSTILE_KEYS = [
    "",
    ".",
    "..",
    "../escape.mp4",
    "a/../../escape.mp4",
    "a/./b.mp4",
    "a/..",
    "/etc/passwd",
    "//host/share",
    "a//b.mp4",
    "a/",
    "a\\..\\..\\escape.mp4",
    "..\\escape.mp4",
    "C:\\escape.mp4",
    "a\x00b.mp4",
    "a\nb.mp4",
    "a\rb.mp4",
    "a\x7fb.mp4",
    "%2e%2e/escape.mp4",
    "%2e%2e%2fescape.mp4",
    "..%2fescape.mp4",
    "%252e%252e%252fescape.mp4",
    "~/escape.mp4",
    ".hidden.mp4",
    "a/.hidden.mp4",
    "a..b/c.mp4",
    "\u2025/escape.mp4",  # two dot leader
    "\uff0e\uff0e/escape.mp4",  # fullwidth full stops
    "a\u202eb.mp4",  # right-to-left override
    "a b.mp4",
    "x" * 600,
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_are_refused_everywhere(backend: Backend, key: str) -> None:
    s = backend.storage
    with pytest.raises(UnsafeKey):
        s.put_stream(key, [b"x"], expected_size=1, content_type=VIDEO, metadata={})
    with pytest.raises(UnsafeKey):
        s.put_json(key, {"a": 1})
    with pytest.raises(UnsafeKey):
        s.stat(key)
    with pytest.raises(UnsafeKey), s.open_read(key):
        pass
    with pytest.raises(UnsafeKey):
        s.playable_url(key)
    assert backend.inventory() == set()


def test_unsafe_key_is_a_storage_error(backend: Backend) -> None:
    with pytest.raises(StorageError):
        backend.storage.stat("../x")


def test_describe_names_the_location_without_secrets(backend: Backend) -> None:
    text = backend.storage.describe() + repr(backend.storage)
    assert SECRET_ACCESS_KEY not in text
    if backend.name == "s3":
        assert backend.storage.describe().startswith("s3://kbt-")
        assert backend.storage.describe().endswith("/videos")
    else:
        assert backend.storage.describe().startswith("file:///")
        assert backend.storage.describe().endswith("/videos")


# Keys from a small alphabet that mixes safe characters with traversal material, so that both
# accepted and refused keys come up often.
mixed_keys = st.text(alphabet="ab.-_/%\\~ \x00\n", min_size=0, max_size=12)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=mixed_keys)
def test_any_key_is_refused_or_stored_under_the_root(backend: Backend, key: str) -> None:
    try:
        backend.storage.put_json(key, {"key": key})
    except UnsafeKey:
        assert key not in backend.inventory()
        assert not any(name.startswith(OUTSIDE) for name in backend.inventory())
        return
    assert key in backend.inventory()
    assert not any(name.startswith(OUTSIDE) for name in backend.inventory())
    with backend.storage.open_read(key) as f:
        assert json.load(f) == {"key": key}
