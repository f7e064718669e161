"""What a pipeline step asks for next: another step, a retry after an error, or nothing."""

from __future__ import annotations

from dataclasses import dataclass

from worker.names import Task
from worker.settings import RetrySettings
from worker.throttle import backoff


@dataclass(frozen=True, slots=True)
class Next:
    """Run `task` for the same job after `countdown` seconds (a wait, not an error)."""

    task: Task
    countdown: float = 0.0


@dataclass(frozen=True, slots=True)
class Retry:
    """Run the same step again after `countdown` seconds; spends one of the step's error retries."""

    countdown: float
    reason: str


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing more for this message: the job moved on, ended, or is waiting in the wait list."""

    reason: str = ""


Outcome = Next | Retry | Done


def retry_within_budget(retry: RetrySettings, attempt: int, reason: str) -> Retry | None:
    """The step's next error retry, or None once its budget of attempts is spent."""
    if attempt + 1 >= retry.max_attempts:
        return None
    return Retry(backoff(attempt, base=retry.base_s, cap=retry.cap_s), reason)
