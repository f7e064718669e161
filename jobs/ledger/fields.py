"""What goes into a job row and an event: the fields each call may set, the values of a new
job, what a retry resets, and the JSON detail an event carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic_core import to_jsonable_python

from jobs.ledger.errors import LedgerConflict
from jobs.ledger.records import external_id
from jobs.ledger.states import JobState
from jobs.spec import Job

# What a transition may set besides the state; `update` may also count polls.
TRANSITION_FIELDS = frozenset(
    {
        "provider_task_id",
        "result_url",
        "error",
        "object_url",
        "sha256",
        "size_bytes",
        "charged_credits",
        "charged_units",
        "reserved_credits",
        "submitted_at",
        "finished_at",
    }
)
UPDATE_FIELDS = TRANSITION_FIELDS | {"poll_count"}

# A retry leaves a final state; it is a new attempt with a new external id (see `new_attempt`).
RETRY_FROM = frozenset({JobState.FAILED, JobState.SKIPPED_BUDGET})
ATTEMPT_RESET: dict[str, Any] = {
    "provider_task_id": None,
    "result_url": None,
    "error": None,
    "object_url": None,
    "sha256": None,
    "size_bytes": None,
    "charged_credits": None,
    "charged_units": None,
    "reserved_credits": Decimal(0),
    "reserved_on": None,
    "poll_count": 0,
    "submitted_at": None,
    "finished_at": None,
}
# Fields worth repeating in a transition's event: what happened, not where files went.
EVENT_FIELDS = ("provider_task_id", "error", "charged_credits", "charged_units")


def new_job_values(
    batch_id: int, token: str, job: Job, estimate: Decimal, now: datetime
) -> dict[str, Any]:
    spec = job.spec
    return {
        "batch_id": batch_id,
        "key": job.key,
        "external_id": external_id(job.key, token, 1),
        "take": job.take,
        "row_id": job.row_id,
        "source": job.source,
        "spec": spec.model_dump(mode="json"),
        "model": spec.model,
        "mode": spec.mode,
        "resolution": spec.resolution,
        "seconds": spec.seconds,
        "tags": to_jsonable_python(job.tags),
        "state": JobState.PENDING,
        "previous_state": None,
        "attempt": 1,
        "provider_task_id": None,
        "result_url": None,
        "estimated_credits": estimate,
        "reserved_credits": Decimal(0),
        "reserved_on": None,
        "charged_credits": None,
        "charged_units": None,
        "error": None,
        "object_url": None,
        "sha256": None,
        "size_bytes": None,
        "poll_count": 0,
        "created_at": now,
        "submitted_at": None,
        "finished_at": None,
        "updated_at": now,
    }


def refuse_duplicate_keys(jobs: Sequence[Job]) -> None:
    seen: dict[str, Job] = {}
    for job in jobs:
        first = seen.get(job.key)
        if first is None:
            seen[job.key] = job
        else:
            raise LedgerConflict(
                f"job key {job.key} appears twice in one batch "
                f"({first.source or '?'} and {job.source or '?'}): give one row another take"
            )


def check_fields(fields: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"not a job field that can be set here: {', '.join(unknown)}")
    for name, value in fields.items():
        require_aware(name, value)


def require_aware(name: str, value: object) -> None:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime (the ledger keeps UTC), not naive")


def event_detail(
    detail: Mapping[str, Any] | str | None, fields: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """An event's JSON detail: a message, a mapping, and the notable fields a transition set."""
    out: dict[str, Any] = {}
    if isinstance(detail, str):
        out["message"] = detail
    elif detail is not None:
        out.update(to_jsonable_python(dict(detail)))
    for name in EVENT_FIELDS:
        value = (fields or {}).get(name)
        if value is not None:
            out[name] = to_jsonable_python(value)
    return out or None
