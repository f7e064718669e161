"""The throttle's exceptions, and the one place where Redis failures are translated into them.

    ThrottleError                 root: anything the throttle raises on purpose
     └── ThrottleUnavailable      Redis cannot be reached or refuses writes; nothing was decided,
                                  so callers fail closed (no slot is ever assumed) and retry later

Redis errors that mean "the server answered, but the script is wrong" (a `ResponseError`) are not
translated: they are programming errors and must surface as such.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as redis_errors

_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,  # includes BusyLoadingError and authentication failures
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica after failover: writes would be lost
    redis_errors.OutOfMemoryError,  # the slot could not be recorded
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
)


class ThrottleError(Exception):
    """Root of the throttle's exceptions."""


class ThrottleUnavailable(ThrottleError):
    """Redis is unreachable: no slot, wait-list or rate decision could be made.

    For a paid API the only safe reading is "not allowed now": callers must not create a task.
    """


@contextmanager
def fail_closed(what: str) -> Iterator[None]:
    """Turn Redis connectivity errors inside the block into `ThrottleUnavailable`.

    The message names the operation and the error type only: connection errors can carry host
    details, and the original stays available as `__cause__` for whoever reads the traceback.
    """
    try:
        yield
    except _UNAVAILABLE as exc:
        raise ThrottleUnavailable(
            f"Redis is unavailable, so {what} cannot be decided ({type(exc).__name__})"
        ) from exc
