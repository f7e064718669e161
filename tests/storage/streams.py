"""Byte streams for the storage tests: deterministic, generated chunk by chunk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

MiB = 1024 * 1024
CHUNK = 256 * 1024
_PATTERN = bytes(range(256)) * (CHUNK // 256)


def chunk_at(index: int) -> bytes:
    """The `index`-th chunk: a fixed pattern stamped with its index, so order matters."""
    return index.to_bytes(8, "big") + _PATTERN[8:]


def generated(size: int, *, after_last: Callable[[], None] | None = None) -> Iterator[bytes]:
    """`size` bytes in chunks made on demand (never held together); `after_last` runs at the end."""
    index = 0
    sent = 0
    while sent < size:
        chunk = chunk_at(index)[: size - sent]
        sent += len(chunk)
        index += 1
        yield chunk
    if after_last is not None:
        after_last()


def generated_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for chunk in generated(size):
        digest.update(chunk)
    return digest.hexdigest()


def failing_after(size: int, error: Exception) -> Iterator[bytes]:
    """`size` bytes, then `error`, as a download that breaks mid-way does."""
    yield from generated(size)
    raise error


class Counted:
    """An endless stream that counts how many chunks were taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        while True:
            self.taken += 1
            yield chunk_at(self.taken)
