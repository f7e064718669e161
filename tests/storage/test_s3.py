"""What only the S3 backend does: real multipart uploads, object metadata, error translation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from mypy_boto3_s3 import S3Client

from tests.services import free_port
from tests.storage.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, s3_settings
from tests.storage.fault_server import failing_s3
from tests.storage.streams import MiB, generated, generated_sha256
from worker.settings import S3Settings
from worker.storage import (
    META_SHA256,
    ObjectNotFound,
    PermanentStorageError,
    S3Storage,
    StorageConfigError,
    StorageError,
    TransientStorageError,
)

META = {
    "job-key": "kb0123456789abcdef01234567",
    "batch": "Été 2025 — 100%",
    "provider-task-id": "t-9",
}


@pytest.fixture
def storage(s3_endpoint: str, bucket: str) -> S3Storage:
    return S3Storage(bucket, "videos", settings=s3_settings(s3_endpoint))


def test_a_large_stream_is_a_real_multipart_upload(
    storage: S3Storage, s3_client: S3Client, bucket: str
) -> None:
    seen: dict[str, list[int]] = {}

    def look_before_completion() -> None:
        # Runs when the stream is exhausted, before the upload is completed.
        uploads = s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        for upload in uploads:
            parts = s3_client.list_parts(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            ).get("Parts", [])
            seen[upload["Key"]] = [part["Size"] for part in parts]

    size = 40 * MiB
    stored = storage.put_stream(
        "big/x.mp4",
        generated(size, after_last=look_before_completion),
        expected_size=size,
        content_type="video/mp4",
        metadata=META,
    )

    assert seen == {"videos/big/x.mp4": [8 * MiB] * 5}
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert stored.sha256 == generated_sha256(size)
    body = s3_client.get_object(Bucket=bucket, Key="videos/big/x.mp4")["Body"]
    assert body.read(16) == next(generated(16))


@pytest.mark.parametrize("size", [100, 12 * MiB], ids=["single-put", "multipart"])
def test_the_object_carries_its_metadata(
    storage: S3Storage, s3_client: S3Client, bucket: str, size: int
) -> None:
    stored = storage.put_stream(
        "b/x.mp4", generated(size), expected_size=size, content_type="video/mp4", metadata=META
    )

    head = s3_client.head_object(Bucket=bucket, Key="videos/b/x.mp4")
    decoded = {name: unquote(value) for name, value in head["Metadata"].items()}
    assert decoded == {**META, META_SHA256: stored.sha256}
    assert head["Metadata"]["batch"].isascii()
    assert head["ContentType"] == "video/mp4"
    assert head["ContentLength"] == size


def test_an_object_without_a_sha256_counts_as_absent(
    storage: S3Storage, s3_client: S3Client, bucket: str
) -> None:
    # What an upload interrupted between completion and its metadata copy leaves behind.
    s3_client.put_object(Bucket=bucket, Key="videos/b/x.mp4", Body=b"data")
    assert storage.stat("b/x.mp4") is None


def test_bucket_root_without_prefix(s3_endpoint: str, bucket: str, s3_client: S3Client) -> None:
    storage = S3Storage(bucket, "", settings=s3_settings(s3_endpoint))
    stored = storage.put_stream(
        "b/x.mp4", [b"abc"], expected_size=3, content_type="video/mp4", metadata={}
    )
    assert stored.url == f"s3://{bucket}/b/x.mp4"
    assert s3_client.get_object(Bucket=bucket, Key="b/x.mp4")["Body"].read() == b"abc"
    assert storage.describe() == f"s3://{bucket}"


def test_presigned_urls_last_at_most_seven_days(storage: S3Storage) -> None:
    query = parse_qs(urlsplit(storage.playable_url("b/x.mp4", expires_s=10**8)).query)
    assert query["X-Amz-Expires"] == ["604800"]
    query = parse_qs(urlsplit(storage.playable_url("b/x.mp4")).query)
    assert query["X-Amz-Expires"] == [str(S3Settings().presign_seconds)]
    with pytest.raises(ValueError, match="positive"):
        storage.playable_url("b/x.mp4", expires_s=0)


def test_parts_below_the_s3_minimum_are_refused(s3_endpoint: str) -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3Storage("bucket-1", settings=s3_settings(s3_endpoint), part_size=MiB)


def test_half_configured_credentials_are_refused() -> None:
    from pydantic import SecretStr

    half = S3Settings(access_key_id=SecretStr(ACCESS_KEY_ID))
    with pytest.raises(StorageConfigError) as caught:
        S3Storage("bucket-1", settings=half)
    assert ACCESS_KEY_ID not in str(caught.value)


def test_a_missing_bucket_is_permanent(s3_endpoint: str) -> None:
    storage = S3Storage("kbt-no-such-bucket", settings=s3_settings(s3_endpoint), max_attempts=1)
    with pytest.raises(PermanentStorageError) as caught:
        storage.put_json("b/x.json", {"a": 1})
    assert "NoSuchBucket" in str(caught.value)
    assert not isinstance(caught.value, ObjectNotFound)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (503, "SlowDown", TransientStorageError),
        (500, "InternalError", TransientStorageError),
        (429, "TooManyRequests", TransientStorageError),
        (403, "AccessDenied", PermanentStorageError),
        (403, "SignatureDoesNotMatch", PermanentStorageError),
        (400, "InvalidArgument", PermanentStorageError),
    ],
)
def test_service_errors_are_translated_without_secrets(
    status: int, code: str, kind: type[StorageError]
) -> None:
    # The service echoes the credentials back, as some do in signature errors.
    echoed = f"key {ACCESS_KEY_ID} secret {SECRET_ACCESS_KEY} refused"
    with failing_s3(status, code, echoed) as endpoint:
        storage = S3Storage("bucket-1", "v", settings=s3_settings(endpoint), max_attempts=1)

        def small_put() -> object:
            return storage.put_stream(
                "b/x.mp4", [b"abc"], expected_size=3, content_type="video/mp4", metadata={}
            )

        def multipart_put() -> object:
            return storage.put_stream(
                "b/y.mp4",
                generated(9 * MiB),
                expected_size=None,
                content_type="video/mp4",
                metadata={},
            )

        def read() -> object:
            with storage.open_read("b/x.mp4") as f:
                return f.read()

        calls: list[Callable[[], object]] = [small_put, multipart_put, read]
        for call in calls:
            with pytest.raises(kind) as caught:
                call()
            text = str(caught.value)
            assert code in text
            assert f"HTTP {status}" in text
            assert SECRET_ACCESS_KEY not in text
            assert ACCESS_KEY_ID not in text
            assert "***" in text
            assert type(caught.value) is kind


def test_head_errors_other_than_404_are_raised() -> None:
    with failing_s3(403, "AccessDenied", "no") as endpoint:
        storage = S3Storage("bucket-1", settings=s3_settings(endpoint), max_attempts=1)
        with pytest.raises(PermanentStorageError, match="HTTP 403"):
            storage.stat("b/x.mp4")


def test_an_unreachable_endpoint_is_transient() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    storage = S3Storage("bucket-1", settings=s3_settings(endpoint), max_attempts=1)
    for call in (
        lambda: storage.stat("b/x.mp4"),
        lambda: storage.put_json("b/x.json", {"a": 1}),
    ):
        with pytest.raises(TransientStorageError) as caught:
            call()
        assert SECRET_ACCESS_KEY not in str(caught.value)


def test_one_storage_serves_threads(storage: S3Storage) -> None:
    errors: list[BaseException] = []

    def put(n: int) -> None:
        try:
            data = bytes([n]) * 1000
            stored = storage.put_stream(
                f"t/{n}.mp4", [data], expected_size=1000, content_type="video/mp4", metadata={}
            )
            assert storage.stat(f"t/{n}.mp4") == stored
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
