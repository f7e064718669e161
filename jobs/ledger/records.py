"""Frozen snapshots of ledger rows, the only thing the ledger hands out.

A record is a copy taken when it was read: it never changes and never touches the database
again, so it can cross threads, be logged or be kept while other workers move the job on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from jobs.catalog import Mode
from jobs.ledger.states import BatchState, JobState
from jobs.spec import JobSpec


def external_id(key: str, batch_token: str, attempt: int) -> str:
    """The provider's `external_task_id` for one attempt of one job.

    Unique in the ledger (one per job, batch and attempt) and, through the batch's random token,
    across ledgers. `store.Ledger.new_attempt` builds the same string in SQL; the tests hold the
    two together.
    """
    return f"{key}-{batch_token}-{attempt}"


@dataclass(frozen=True, slots=True)
class BatchRecord:
    id: int
    name: str
    token: str
    state: BatchState
    manifest: str | None
    dialect: str
    budget_credits: Decimal | None
    committed_credits: Decimal
    job_count: int
    options: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Mapping[Any, Any], prefix: str = "") -> BatchRecord:
        """From a row of the batches table, or a join's row whose batch columns carry `prefix`."""
        return cls(**{name: row[prefix + name] for name in _BATCH_FIELDS})


@dataclass(frozen=True, slots=True)
class JobName:
    """A job as a task message names it: its id, plus batch and key for people reading it."""

    id: int
    batch_id: int
    key: str


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    batch_id: int
    key: str
    external_id: str
    take: int
    row_id: str | None
    source: str
    spec: JobSpec
    model: str
    mode: Mode
    resolution: str
    seconds: int
    tags: dict[str, Any]
    state: JobState
    previous_state: JobState | None
    attempt: int
    provider_task_id: str | None
    result_url: str | None  # where the provider offers the finished video (expires)
    estimated_credits: Decimal
    reserved_credits: Decimal
    charged_credits: Decimal | None
    charged_units: Decimal | None  # the provider's own final_unit_deduction
    error: str | None
    object_url: str | None  # where kbatch stored the video
    sha256: str | None
    size_bytes: int | None
    poll_count: int
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> JobRecord:
        values = {name: row[name] for name in _JOB_FIELDS}
        values["spec"] = JobSpec.model_validate(values["spec"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class WatchedJob:
    """A job whose render the provider has, as a look reads it: the columns a look acts on, not
    the whole row (a look reads every job in flight every few seconds)."""

    id: int
    batch_id: int
    key: str
    state: JobState
    spec: JobSpec
    provider_task_id: str
    submitted_at: datetime | None
    reserved_credits: Decimal

    @classmethod
    def of(cls, row: Any) -> WatchedJob:
        return cls(
            row.id,
            row.batch_id,
            row.key,
            row.state,
            JobSpec.model_validate(row.spec),
            row.provider_task_id,
            row.submitted_at,
            row.reserved_credits,
        )


# A job as the steps that settle renders take it: read whole, or as a look reads it.
SettledJob = JobRecord | WatchedJob


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    job_id: int
    at: datetime
    kind: str  # "transition", "retry", or what `Ledger.record_event` was given
    from_state: JobState | None
    to_state: JobState | None
    attempt: int
    detail: dict[str, Any] | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> EventRecord:
        return cls(**{name: row[name] for name in _EVENT_FIELDS})


@dataclass(frozen=True, slots=True)
class Totals:
    """Credit sums over one batch; charged sums count only jobs the provider charged."""

    estimated_credits: Decimal
    charged_credits: Decimal
    charged_units: Decimal
    jobs: int


@dataclass(frozen=True, slots=True)
class CreditRow:
    """One line of the spend report: a model, a UTC day (YYYY-MM-DD) or a batch name."""

    group: str
    jobs: int
    estimated_credits: Decimal
    charged_credits: Decimal
    charged_units: Decimal


_BATCH_FIELDS = tuple(f.name for f in fields(BatchRecord))
_JOB_FIELDS = tuple(f.name for f in fields(JobRecord))
_EVENT_FIELDS = tuple(f.name for f in fields(EventRecord))
