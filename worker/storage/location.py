"""Reading `KBATCH_STORAGE_URL`: a local folder or an S3 bucket and prefix.

Accepted forms: `file:///abs/path`, `file://./relative` (or `file://../relative`), a bare path
(`./var/videos`, `/data/videos`, `~/videos`), and `s3://bucket/prefix`. Credentials never belong
in the URL: they come from the `s3` settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from worker.storage.base import StorageConfigError, UnsafeKey
from worker.storage.keys import check_key

# S3's bucket naming rules, which MinIO and R2 share.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True, slots=True)
class LocalLocation:
    root: Path


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing `/`; empty for the bucket's root


def parse_storage_url(url: str) -> LocalLocation | S3Location:
    """Where `url` says objects are stored; `StorageConfigError` for anything else."""
    text = url.strip()
    if not text:
        raise StorageConfigError("the storage URL is empty")
    if text.startswith("s3://"):
        return _s3_location(text)
    if text.startswith("file:"):
        return LocalLocation(_file_path(text))
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StorageConfigError(
            f"storage URL scheme {scheme!r} is not supported: use file://, s3:// or a path"
        )
    return LocalLocation(Path(text).expanduser())


def _s3_location(url: str) -> S3Location:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # Never echo this URL: it holds credentials.
        raise StorageConfigError(
            "the storage URL must not hold credentials: set KBATCH_S3__ACCESS_KEY_ID and "
            "KBATCH_S3__SECRET_ACCESS_KEY instead"
        )
    if parts.query or parts.fragment:
        raise StorageConfigError(f"storage URL {url!r} must not have a query or fragment")
    if _BUCKET.fullmatch(parts.netloc) is None or ".." in parts.netloc:
        raise StorageConfigError(f"storage URL {url!r} does not name a valid bucket")
    prefix = parts.path.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except UnsafeKey:
            raise StorageConfigError(
                f"storage URL {url!r} has a prefix outside the safe alphabet "
                "(letters, digits, '.', '_', '-' and '/')"
            ) from None
    return S3Location(parts.netloc, prefix)


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.netloc in ("", "localhost"):
        if not path:
            raise StorageConfigError(f"storage URL {url!r} names no folder")
        return Path(path).expanduser()
    if parts.netloc in (".", ".."):
        return Path(parts.netloc + path)
    raise StorageConfigError(
        f"storage URL {url!r} names a host; use file:///absolute/path or file://./relative/path"
    )
