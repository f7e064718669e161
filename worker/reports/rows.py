"""One report line per job, taken from a ledger record, and the stable columns it is written with.

`JOB_COLUMNS` is the contract of the machine-readable outputs: the CSV header and the keys of every
JSON job object, in this order. New columns are only ever added at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from jobs.ledger import JobRecord
from jobs.ledger.states import JobState

Media = Literal["video", "image"]

JOB_COLUMNS: tuple[str, ...] = (
    "batch",
    "key",
    "row_id",
    "source",
    "take",
    "attempt",
    "state",
    "model",
    "mode",
    "resolution",
    "seconds",
    "media",
    "prompt",
    "tags",
    "provider_task_id",
    "estimated_credits",
    "charged_credits",
    "charged_units",
    "charged_usd",
    "error",
    "object_url",
    "sha256",
    "size_bytes",
    "created_at",
    "submitted_at",
    "finished_at",
)


@dataclass(frozen=True, slots=True)
class JobRow:
    """What a report shows of one job; money in Decimal, times in UTC."""

    batch: str
    key: str
    row_id: str | None
    source: str
    take: int
    attempt: int
    state: JobState
    model: str
    mode: str
    resolution: str
    seconds: int
    media: Media
    prompt: str
    tags: dict[str, Any]
    provider_task_id: str | None
    estimated_credits: Decimal
    charged_credits: Decimal | None
    charged_units: Decimal | None
    charged_usd: Decimal | None
    error: str | None
    object_url: str | None
    sha256: str | None
    size_bytes: int | None
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: JobRecord, batch: str, credit_usd: Decimal) -> JobRow:
        charged = job.charged_credits
        return cls(
            batch=batch,
            key=job.key,
            row_id=job.row_id,
            source=job.source,
            take=job.take,
            attempt=job.attempt,
            state=job.state,
            model=job.model,
            mode=job.mode.value,
            resolution=job.resolution,
            seconds=job.seconds,
            media="video" if job.spec.is_video else "image",
            prompt=prompt_of(job),
            tags=dict(job.tags),
            provider_task_id=job.provider_task_id,
            estimated_credits=job.estimated_credits,
            charged_credits=charged,
            charged_units=job.charged_units,
            charged_usd=None if charged is None else charged * credit_usd,
            error=job.error,
            object_url=job.object_url,
            sha256=job.sha256,
            size_bytes=job.size_bytes,
            created_at=job.created_at,
            submitted_at=job.submitted_at,
            finished_at=job.finished_at,
        )

    @property
    def label(self) -> str:
        """How people name the job: its manifest row id (with the take when there are several)."""
        if self.row_id is None:
            return self.key
        return self.row_id if self.take == 1 else f"{self.row_id} #{self.take}"

    def values(self) -> dict[str, Any]:
        """The row under `JOB_COLUMNS`, values still typed (Decimal, datetime, enum)."""
        return {name: getattr(self, name) for name in JOB_COLUMNS}


def prompt_of(job: JobRecord) -> str:
    """The text that was rendered: the prompt, or each shot's prompt for a multi-shot job."""
    spec = job.spec
    if spec.shots:
        shots = " | ".join(f"[{s.duration}s] {s.prompt}" for s in spec.shots)
        return f"{spec.prompt} | {shots}" if spec.prompt else shots
    return spec.prompt
