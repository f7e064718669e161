"""Why the simulator refuses a request, independent of how each dialect words the answer.

    SimError
     ├── AuthError   (a bad, missing, early or expired credential; carries the official code)
     └── Refusal     (a reason from `Reason`, a message, and optionally a Retry-After)

Each dialect's routes turn these into their own status codes and bodies (`kling_api`, `guide_api`).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    MALFORMED = "malformed"  # the body is not a JSON object
    INVALID = "invalid"  # a parameter has a bad value
    UNKNOWN_MODEL = "unknown_model"
    NOT_ON_PLAN = "not_on_plan"
    DUPLICATE = "duplicate"  # external_task_id already used by this account
    CONTENT = "content"  # refused by the content-security check
    BALANCE = "balance"
    CONCURRENCY = "concurrency"
    RATE_LIMIT = "rate_limit"
    NOT_FOUND = "not_found"


class SimError(Exception):
    """Root of the simulator's refusals."""


class AuthError(SimError):
    """Authentication failed; `code` is the official one (1000-1004)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Refusal(SimError):
    """A request the simulated service declines."""

    def __init__(self, reason: Reason, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
