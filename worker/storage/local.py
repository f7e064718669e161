"""Storage in a local folder: atomic writes (temp file in the same folder, then rename).

A video is written to a hidden temp file beside its final name, flushed to disk, and renamed
over the final name, so a reader sees the old object or the new one, never a partial one. There
is no separate metadata file: the JSON sidecar holds the job's details, and `stat` hashes the
content itself.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import os
import secrets
import stat as stat_mode
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from worker.storage.base import (
    JSON_CONTENT_TYPE,
    ObjectNotFound,
    PermanentStorageError,
    StorageError,
    StoredObject,
    TransientStorageError,
    UnsafeKey,
    check_metadata,
    json_document,
)
from worker.storage.keys import check_key
from worker.storage.meter import StreamMeter

_READ_BLOCK = 1024 * 1024
# Errors that describe the folder or its permissions, which no retry will change; anything else
# (a full disk, an I/O error, an interrupted call) may pass.
_PERMANENT_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.EINVAL,
    }
)


def translate_os_error(exc: OSError, action: str, key: str) -> StorageError:
    """The storage error that stands for `exc`, raised while doing `action` on `key`."""
    reason = exc.strerror or type(exc).__name__
    message = f"{action} {key}: {reason}"
    if exc.errno in _PERMANENT_ERRNOS:
        return PermanentStorageError(message)
    return TransientStorageError(message)


@contextmanager
def _os_errors(action: str, key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise translate_os_error(exc, action, key) from exc


class LocalStorage:
    """Objects as files under `root`; keys are relative paths below it."""

    def __init__(self, root: Path | str) -> None:
        try:
            self.root = Path(root).expanduser().resolve()
        except (OSError, RuntimeError) as exc:
            raise PermanentStorageError(f"cannot resolve the storage folder {root}") from exc

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def describe(self) -> str:
        return self.root.as_uri()

    def path_of(self, key: str) -> Path:
        """The file that holds `key`, after checking it lies strictly under the root.

        Symlinks are resolved first, so a link inside the root pointing elsewhere is refused.
        """
        check_key(key)
        try:
            path = (self.root / key).resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise UnsafeKey(f"key {key!r} does not resolve to a file under the root") from exc
        if path == self.root or not path.is_relative_to(self.root):
            raise UnsafeKey(f"key {key!r} resolves outside {self.root}")
        return path

    def put_stream(
        self,
        key: str,
        chunks: Iterable[bytes],
        *,
        expected_size: int | None,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> StoredObject:
        # Metadata is only checked: the sidecar document beside the file carries it.
        check_metadata(metadata)
        path = self.path_of(key)
        meter = StreamMeter(key, expected_size)
        with _os_errors("creating the folder for", key):
            path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        with _os_errors("creating a temp file for", key):
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        out = os.fdopen(fd, "wb")
        try:
            for chunk in chunks:
                meter.update(chunk)
                with _os_errors("writing", key):
                    out.write(chunk)
            sha256 = meter.finish()
            with _os_errors("writing", key):
                out.flush()
                os.fsync(out.fileno())
                out.close()
                os.replace(temp, path)
        except BaseException:
            with suppress(OSError):
                out.close()
            with suppress(OSError):
                temp.unlink(missing_ok=True)
            raise
        _fsync_folder(path.parent)
        return StoredObject(path.as_uri(), key, sha256, meter.size, content_type)

    def put_json(self, key: str, data: Mapping[str, Any]) -> str:
        body = json_document(data)
        stored = self.put_stream(
            key, [body], expected_size=len(body), content_type=JSON_CONTENT_TYPE, metadata={}
        )
        return stored.url

    def stat(self, key: str) -> StoredObject | None:
        path = self.path_of(key)
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as f:
                if not stat_mode.S_ISREG(os.fstat(f.fileno()).st_mode):
                    return None
                while block := f.read(_READ_BLOCK):
                    digest.update(block)
                    size += len(block)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise translate_os_error(exc, "reading", key) from exc
        return StoredObject(path.as_uri(), key, digest.hexdigest(), size, _guess_type(key))

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        path = self.path_of(key)
        try:
            f = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key} in {self.describe()}") from exc
        except OSError as exc:
            raise translate_os_error(exc, "opening", key) from exc
        with f:
            yield f

    def playable_url(self, key: str, *, expires_s: int | None = None) -> str:
        # A local file does not expire; the argument exists for S3's presigned URLs.
        del expires_s
        return self.path_of(key).as_uri()


def _guess_type(key: str) -> str:
    return mimetypes.guess_type(key, strict=False)[0] or "application/octet-stream"


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; a filesystem that cannot sync a folder is left as it is."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
