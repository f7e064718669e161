"""Counting and hashing bytes while they stream, and holding the count to the expected size."""

from __future__ import annotations

import hashlib

from worker.storage.base import SizeMismatch


class StreamMeter:
    """The sha256 and byte count of a stream, checked against `expected_size` when known.

    `update` refuses as soon as the stream runs past the expected size, so an over-long
    download is not read to its end; `finish` refuses a stream that ended short.
    """

    def __init__(self, key: str, expected_size: int | None) -> None:
        if expected_size is not None and expected_size < 0:
            raise ValueError(f"expected_size must be >= 0, got {expected_size}")
        self.key = key
        self.expected_size = expected_size
        self.size = 0
        self._hash = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.expected_size is not None and self.size > self.expected_size:
            raise SizeMismatch(self.key, self.expected_size, self.size)
        self._hash.update(chunk)

    def finish(self) -> str:
        """The hex sha256 of everything seen; `SizeMismatch` if the stream ended short."""
        if self.expected_size is not None and self.size != self.expected_size:
            raise SizeMismatch(self.key, self.expected_size, self.size)
        return self._hash.hexdigest()
