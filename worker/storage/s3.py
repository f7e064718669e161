"""Storage in an S3-compatible bucket (AWS S3, MinIO, R2): streamed multipart uploads, verified.

A stream is buffered one part at a time (8 MiB by default). A stream that ends within its first
part is sent with one PutObject; a longer one goes up as a multipart upload, which is aborted if
the stream fails or its size is not the expected one, so nothing partial is ever visible.

The sha256 is only known once the last byte has passed, after a multipart upload was created with
its metadata, so a multipart object is copied onto itself with the sha256 added (a server-side
copy, no bytes through this process). `stat` treats an object without a sha256 as absent: it is
one whose upload was interrupted before that copy, and storing it again is the remedy.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from worker.settings import S3Settings
from worker.storage.base import (
    JSON_CONTENT_TYPE,
    META_SHA256,
    ObjectNotFound,
    StorageConfigError,
    StorageError,
    StoredObject,
    UnsafeKey,
    check_metadata,
    json_document,
)
from worker.storage.keys import check_key
from worker.storage.meter import StreamMeter
from worker.storage.s3_errors import boto_errors, is_not_found, translate_boto_error

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's floor for every part but the last
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit for presigned URLs
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Printable ASCII stays readable in metadata values; `%` and everything else is percent-encoded
# (UTF-8), because S3 carries metadata in HTTP headers. `urllib.parse.unquote` reverses it.
_METADATA_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class S3Storage:
    """Objects under `prefix` in `bucket`; keys are appended to the prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        settings: S3Settings,
        part_size: int = DEFAULT_PART_SIZE,
        max_attempts: int = 3,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.part_size = part_size
        self.endpoint_url = settings.endpoint_url
        self.presign_seconds = settings.presign_seconds
        # Kept as SecretStr: only the client and the scrubber ever see the values.
        self._secrets = (settings.access_key_id, settings.secret_access_key)
        self._client = _make_client(settings, max_attempts)

    def __repr__(self) -> str:
        return f"S3Storage({self.describe()!r}, endpoint_url={self.endpoint_url!r})"

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def full_key(self, key: str) -> str:
        """The object key in the bucket: the prefix, then `key`, checked to stay under it."""
        check_key(key)
        full = f"{self.prefix}/{key}" if self.prefix else key
        if posixpath.normpath(full) != full or (
            self.prefix and not full.startswith(f"{self.prefix}/")
        ):
            raise UnsafeKey(f"key {key!r} does not stay under {self.describe()}")
        return full

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        expected_size: int | None,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> StoredObject:
        full = self.full_key(key)
        meta = encode_metadata(metadata)
        meter = StreamMeter(key, expected_size)
        buffer = bytearray()
        upload: _MultipartUpload | None = None
        try:
            for chunk in chunks:
                meter.update(chunk)
                buffer += chunk
                if len(buffer) >= self.part_size:
                    if upload is None:
                        upload = self._start_upload(full, content_type, meta)
                    upload.send(buffer)
                    buffer = bytearray()
            meta[META_SHA256] = meter.finish()
            if upload is None:
                with self._errors("PutObject", full):
                    self._client.put_object(
                        Bucket=self.bucket,
                        Key=full,
                        Body=_body(buffer),
                        ContentType=content_type,
                        Metadata=meta,
                    )
            else:
                if buffer:
                    upload.send(buffer)
                upload.complete()
                self._add_metadata(full, content_type, meta)
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        url = self._url(full)
        parts = upload.part_count if upload else 1
        logger.debug("stored %s: %d bytes in %d part(s)", url, meter.size, parts)
        return StoredObject(url, key, meta[META_SHA256], meter.size, content_type)

    def put_json(self, key: str, data: Mapping[str, Any]) -> str:
        body = json_document(data)
        stored = self.put_stream(
            key, [body], expected_size=len(body), content_type=JSON_CONTENT_TYPE, metadata={}
        )
        return stored.url

    def stat(self, key: str) -> StoredObject | None:
        full = self.full_key(key)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise self._translate(exc, "HeadObject", full) from None
        except BotoCoreError as exc:
            raise self._translate(exc, "HeadObject", full) from None
        sha256 = head.get("Metadata", {}).get(META_SHA256, "")
        if _SHA256_HEX.fullmatch(sha256) is None:
            return None
        content_type = head.get("ContentType") or "application/octet-stream"
        return StoredObject(self._url(full), key, sha256, head["ContentLength"], content_type)

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        full = self.full_key(key)
        with self._errors("GetObject", full):
            try:
                body = self._client.get_object(Bucket=self.bucket, Key=full)["Body"]
            except ClientError as exc:
                if is_not_found(exc):
                    raise ObjectNotFound(f"no object {self._url(full)}") from None
                raise
        raw = _BodyReader(body, lambda: self._errors("GetObject", full))
        reader = io.BufferedReader(raw, buffer_size=MiB)
        with reader:
            yield reader

    def playable_url(self, key: str, *, expires_s: int | None = None) -> str:
        full = self.full_key(key)
        seconds = self.presign_seconds if expires_s is None else expires_s
        if seconds < 1:
            raise ValueError(f"expires_s must be positive, got {seconds}")
        with self._errors("presigning GetObject", full):
            return self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": full},
                ExpiresIn=min(seconds, MAX_PRESIGN_SECONDS),
            )

    def _start_upload(
        self, full: str, content_type: str, meta: Mapping[str, str]
    ) -> _MultipartUpload:
        with self._errors("CreateMultipartUpload", full):
            created = self._client.create_multipart_upload(
                Bucket=self.bucket, Key=full, ContentType=content_type, Metadata=dict(meta)
            )
        return _MultipartUpload(self._client, self.bucket, full, created["UploadId"], self._errors)

    def _add_metadata(self, full: str, content_type: str, meta: Mapping[str, str]) -> None:
        """Copy the completed object onto itself with the full metadata, or remove it."""
        try:
            with self._errors("CopyObject", full):
                self._client.copy_object(
                    Bucket=self.bucket,
                    Key=full,
                    CopySource={"Bucket": self.bucket, "Key": full},
                    MetadataDirective="REPLACE",
                    ContentType=content_type,
                    Metadata=dict(meta),
                )
        except BaseException:
            with suppress(StorageError), self._errors("DeleteObject", full):
                self._client.delete_object(Bucket=self.bucket, Key=full)
            raise

    def _url(self, full: str) -> str:
        return f"s3://{self.bucket}/{full}"

    def _errors(self, operation: str, full: str) -> AbstractContextManager[None]:
        return boto_errors(operation, self._url(full), self._secrets)

    def _translate(self, exc: Exception, operation: str, full: str) -> StorageError:
        return translate_boto_error(
            exc, operation=operation, where=self._url(full), secrets=self._secrets
        )


ErrorsFor = Callable[[str, str], AbstractContextManager[None]]


class _MultipartUpload:
    """One multipart upload in progress: its parts so far, then completed or aborted."""

    def __init__(
        self, client: S3Client, bucket: str, full: str, upload_id: str, errors: ErrorsFor
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._full = full
        self._upload_id = upload_id
        self._errors = errors
        self._parts: list[CompletedPartTypeDef] = []

    @property
    def part_count(self) -> int:
        return len(self._parts)

    def send(self, data: bytearray) -> None:
        number = len(self._parts) + 1
        with self._errors("UploadPart", self._full):
            answer = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._full,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=_body(data),
            )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def complete(self) -> None:
        with self._errors("CompleteMultipartUpload", self._full):
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._full,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )

    def abort(self) -> None:
        """Discard the parts sent so far; a failure to do so is logged, not raised."""
        try:
            with self._errors("AbortMultipartUpload", self._full):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._full, UploadId=self._upload_id
                )
        except StorageError as exc:
            logger.warning("multipart upload of %s left pending: %s", self._full, exc)


class _BodyReader(io.RawIOBase):
    """A GetObject body as a raw stream whose read errors are storage errors."""

    def __init__(
        self, body: StreamingBody, errors: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._body = body
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        with self._errors():
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with suppress(Exception):
            self._body.close()
        super().close()


def _body(data: bytearray) -> bytes:
    # botocore sends a bytearray as it is (its validator accepts one; the stubs say `bytes`),
    # which spares a copy of every part.
    return cast(bytes, data)


def encode_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """User metadata S3 can carry in headers: checked names, percent-encoded values."""
    check_metadata(metadata)
    return {name: quote(value, safe=_METADATA_SAFE) for name, value in metadata.items()}


def _make_client(settings: S3Settings, max_attempts: int) -> S3Client:
    custom_endpoint = settings.endpoint_url is not None
    key_id, secret = settings.access_key_id, settings.secret_access_key
    if (key_id is None) != (secret is None):
        raise StorageConfigError(
            "set both the S3 access key id and the secret access key, or neither"
        )
    config = Config(
        region_name=settings.region,
        signature_version="s3v4",
        # MinIO, R2 and test servers are addressed by path; AWS picks virtual hosts itself.
        s3={"addressing_style": "path" if custom_endpoint else "auto"},
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        # Several S3-compatible services reject the checksum headers botocore now adds by
        # default; the sha256 computed while streaming is the integrity check that counts.
        request_checksum_calculation="when_required" if custom_endpoint else "when_supported",
        response_checksum_validation="when_required" if custom_endpoint else "when_supported",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        aws_access_key_id=key_id.get_secret_value() if key_id else None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=config,
    )
