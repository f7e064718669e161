"""Links a browser can open for stored videos and images: `file://` paths or presigned S3 URLs.

The ledger records where each object was stored (`file:///root/key` or `s3://bucket/prefix/key`);
the key is what follows the configured storage's own location. A presigned URL carries the access
key id and a signature, never the secret key, and stops working when it expires.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from worker.reports.rows import JobRow
from worker.storage import Storage, StorageError

# Nothing else may reach an `src` attribute, whatever a storage backend returns.
PLAYABLE_SCHEMES = frozenset({"file", "http", "https"})


def object_key(storage: Storage, object_url: str) -> str | None:
    """The key of `object_url` in `storage`, or None when the object was stored elsewhere."""
    base = storage.describe().rstrip("/") + "/"
    if not object_url.startswith(base):
        return None
    key = object_url.removeprefix(base)
    return key or None


def playable_url(storage: Storage, row: JobRow, *, expires_s: int | None = None) -> str | None:
    """A URL that opens the job's stored file, or None if it has none the storage can serve."""
    if row.object_url is None:
        return None
    key = object_key(storage, row.object_url)
    url: str | None
    if key is None:
        # Stored under another storage URL than today's; a local file still opens where it is.
        url = row.object_url if urlsplit(row.object_url).scheme == "file" else None
    else:
        try:
            url = storage.playable_url(key, expires_s=expires_s)
        except StorageError:
            url = None
    if url is None or urlsplit(url).scheme not in PLAYABLE_SCHEMES:
        return None
    return url


def playable_urls(
    storage: Storage, rows: Iterable[JobRow], *, expires_s: int | None = None
) -> dict[str, str]:
    """Playable URLs by job key, for the rows that have one."""
    found: dict[str, str] = {}
    for row in rows:
        url = playable_url(storage, row, expires_s=expires_s)
        if url is not None:
            found[row.key] = url
    return found
