"""Where finished videos and their sidecars are stored: a local folder or an S3-compatible bucket.

`open_storage(settings)` reads `KBATCH_STORAGE_URL` and returns the backend; both offer the same
`Storage` protocol, raise only the errors of `worker.storage.base`, and build their keys with
`worker.storage.keys.object_key`.

The S3 backend, and boto3 with it, is imported when it is asked for: boto3 takes about 0.15 s of
CPU to import, which every `kbatch` command and every worker would pay for nothing when the
videos go to a local folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.settings import Settings
from worker.storage.base import (
    META_BATCH,
    META_JOB_KEY,
    META_PROVIDER_TASK_ID,
    META_SHA256,
    ObjectNotFound,
    PermanentStorageError,
    SizeMismatch,
    Storage,
    StorageConfigError,
    StorageError,
    StoredObject,
    TransientStorageError,
    UnsafeKey,
)
from worker.storage.keys import check_key, object_key, sidecar_key
from worker.storage.local import LocalStorage
from worker.storage.location import LocalLocation, S3Location, parse_storage_url

if TYPE_CHECKING:
    from worker.storage.s3 import S3Storage

__all__ = [
    "META_BATCH",
    "META_JOB_KEY",
    "META_PROVIDER_TASK_ID",
    "META_SHA256",
    "LocalStorage",
    "ObjectNotFound",
    "PermanentStorageError",
    "S3Storage",
    "SizeMismatch",
    "Storage",
    "StorageConfigError",
    "StorageError",
    "StoredObject",
    "TransientStorageError",
    "UnsafeKey",
    "check_key",
    "object_key",
    "open_storage",
    "sidecar_key",
]


def open_storage(settings: Settings) -> Storage:
    """The storage `settings.storage_url` names, configured from `settings.s3` for `s3://`.

    Nothing is contacted here; a local folder is created on the first write. An S3 storage holds
    one boto3 client, so open it once per process after forking.
    """
    location = parse_storage_url(settings.storage_url)
    if isinstance(location, S3Location):
        from worker.storage.s3 import S3Storage

        return S3Storage(location.bucket, location.prefix, settings=settings.s3)
    assert isinstance(location, LocalLocation)
    return LocalStorage(location.root)


def __getattr__(name: str) -> Any:
    if name == "S3Storage":
        from worker.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
