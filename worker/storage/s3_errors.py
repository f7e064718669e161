"""botocore's errors translated into the storage error tree, with any secret scrubbed out.

Throttling, 5xx answers and connection trouble become `TransientStorageError`; access denied,
missing buckets, bad credentials and other 4xx answers become `PermanentStorageError`. Messages are
rebuilt from the error code, HTTP status and the service's message, and the original exception is
not chained, because a service may echo request details (an access key id in
`SignatureDoesNotMatch`, for one) that must not reach a log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import SecretStr

from worker.storage.base import (
    ObjectNotFound,
    PermanentStorageError,
    StorageConfigError,
    StorageError,
    TransientStorageError,
)

TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_MAX_SERVICE_MESSAGE = 300


def translate_boto_error(
    exc: Exception, *, operation: str, where: str, secrets: Sequence[SecretStr | None] = ()
) -> StorageError:
    """The storage error that stands for `exc`, raised by `operation` on `where`."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "") or "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        detail = scrub(str(error.get("Message", "") or ""), secrets)[:_MAX_SERVICE_MESSAGE]
        message = f"S3 {operation} on {where} failed: {code or 'error'} (HTTP {status})"
        if detail:
            message = f"{message}: {detail}"
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientStorageError(message)
        if code in NOT_FOUND_CODES:
            return ObjectNotFound(message)
        return PermanentStorageError(message)
    reason = scrub(str(exc), secrets)[:_MAX_SERVICE_MESSAGE]
    message = f"S3 {operation} on {where} failed: {type(exc).__name__}: {reason}"
    if isinstance(exc, HTTPClientError | BotoConnectionError | IncompleteReadError):
        return TransientStorageError(message)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageConfigError(message)
    return PermanentStorageError(message)


@contextmanager
def boto_errors(
    operation: str, where: str, secrets: Sequence[SecretStr | None] = ()
) -> Iterator[None]:
    """Translate botocore errors raised inside the block (see `translate_boto_error`)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate_boto_error(exc, operation=operation, where=where, secrets=secrets) from None


def is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in NOT_FOUND_CODES


def scrub(text: str, secrets: Sequence[SecretStr | None]) -> str:
    """`text` with every occurrence of a secret's value replaced by `***`."""
    for secret in secrets:
        value = secret.get_secret_value() if secret is not None else ""
        if value:
            text = text.replace(value, "***")
    return text
