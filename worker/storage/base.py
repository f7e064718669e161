"""What every storage backend offers: the `Storage` protocol, `StoredObject`, and the error tree.

Errors are translated at each backend's boundary, so callers never see `OSError` or botocore::

    StorageError
     ├── TransientStorageError    5xx, throttling, timeouts, lost connections, a full disk:
     │    │                       the same call may succeed later
     │    └── SizeMismatch        the stream carried more or fewer bytes than expected and
     │                            nothing was stored: a truncated download, worth fetching again
     └── PermanentStorageError    access denied, no such bucket, a bad URL or key:
          │                       retrying will not help
          ├── ObjectNotFound
          ├── UnsafeKey           a key that could leave the backend's root or prefix
          └── StorageConfigError  a storage URL or credentials that cannot work

No message, `repr` or log line of this package contains an access key, secret key or password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any, BinaryIO, Protocol

# Names of the metadata a stored video carries (S3 user metadata; the sidecar for local files).
META_SHA256 = "sha256"
META_JOB_KEY = "job-key"
META_BATCH = "batch"
META_PROVIDER_TASK_ID = "provider-task-id"
JSON_CONTENT_TYPE = "application/json"
# S3 lowercases user metadata names and carries them in header names.
_METADATA_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class StorageError(Exception):
    """Root of every error a storage backend raises."""


class TransientStorageError(StorageError):
    """The storage service or disk failed in a way that may pass: retry with backoff."""


class PermanentStorageError(StorageError):
    """The storage refused in a way that retrying will not change."""


class ObjectNotFound(PermanentStorageError):
    """No object is stored under the key."""


class UnsafeKey(PermanentStorageError):
    """A key outside the safe alphabet, or one that would resolve outside the root or prefix."""


class StorageConfigError(PermanentStorageError):
    """A storage URL or credentials setting that cannot work."""


class SizeMismatch(TransientStorageError):
    """The stream ended short of, or ran past, the expected size; nothing was stored."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        relation = "more than" if actual > expected else "only"
        super().__init__(
            f"{key}: expected {expected} bytes, the stream carried {relation} {actual}; "
            "nothing was stored"
        )


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One stored object: where it lives, and what was written."""

    url: str  # a stable location (`file://...` or `s3://bucket/key`), not a signed link
    key: str  # the key under the backend's root or prefix
    sha256: str  # lowercase hex digest of the content
    size: int  # bytes
    content_type: str


class Storage(Protocol):
    """Where finished videos and their JSON sidecars are kept."""

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        expected_size: int | None,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> StoredObject:
        """Stream `chunks` into the object `key`, hashing and counting as it goes.

        The object appears whole or not at all; if `expected_size` is given and the stream
        carries a different number of bytes, `SizeMismatch` is raised and nothing is stored.
        An exception raised by `chunks` itself propagates unchanged, also storing nothing.
        """
        ...

    def put_json(self, key: str, data: Mapping[str, Any]) -> str:
        """Store `data` as a JSON document under `key`; return its URL."""
        ...

    def stat(self, key: str) -> StoredObject | None:
        """The stored object under `key`, or None when there is no complete one."""
        ...

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A binary stream of the object's content; `ObjectNotFound` when there is none."""
        ...

    def playable_url(self, key: str, *, expires_s: int | None = None) -> str:
        """A URL a browser or player can open: a `file://` URL or a presigned GET URL."""
        ...

    def describe(self) -> str:
        """Where this storage writes, for messages (e.g. `s3://bucket/prefix`); no secrets."""
        ...


def check_metadata(metadata: Mapping[str, str]) -> None:
    """`ValueError` unless every name is lowercase letters, digits and `-`, and values are text.

    Every backend applies it, so a caller writing to a local folder learns about a name S3 would
    refuse before the day it writes to S3.
    """
    for name, value in metadata.items():
        if _METADATA_NAME.fullmatch(name) is None:
            raise ValueError(f"metadata name {name!r} is not lowercase letters, digits and '-'")
        if not isinstance(value, str):
            raise ValueError(f"metadata {name!r} must be text, not {type(value).__name__}")


def json_document(data: Mapping[str, Any]) -> bytes:
    """`data` as the UTF-8 JSON a sidecar holds: keys in the caller's order, indented."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_json_value)
    return (text + "\n").encode("utf-8")


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"a sidecar cannot hold a value of type {type(value).__name__}")
