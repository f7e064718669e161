"""The store step: stream the result from the provider into storage, verified, with a sidecar."""

from __future__ import annotations

from typing import Any

from jobs.ledger import BatchRecord, JobRecord
from jobs.ledger.states import JobState
from worker.context import Context
from worker.pipeline.finish import fail_job, finish_if_done
from worker.pipeline.outcome import Done, Outcome, retry_within_budget
from worker.providers.errors import ProviderError, ResultGone, TransientError
from worker.storage import (
    PermanentStorageError,
    StoredObject,
    TransientStorageError,
    object_key,
    sidecar_key,
)


def store_job(ctx: Context, job_id: int, *, attempt: int = 0) -> Outcome:
    job, batch = ctx.ledger.job_and_batch(job_id)
    if job.state is not JobState.DOWNLOADING or job.result_url is None:
        return Done(f"job is {job.state.value}")
    image = not job.spec.is_video
    key = object_key(batch.name, job.key, "png" if image else "mp4", row_id=job.row_id)
    try:
        with ctx.provider.download(job.result_url) as download:
            stored = ctx.storage.put_stream(
                key,
                download.iter_bytes(),
                expected_size=download.content_length,
                content_type="image/png" if image else "video/mp4",
                metadata=_metadata(job, batch),
            )
    except ResultGone as exc:
        _fail_paid(ctx, job, f"result expired before download: {exc.message}")
        return Done("result gone")
    except (TransientError, TransientStorageError) as exc:
        return _retry_or_fail(ctx, job, attempt, str(exc))
    except PermanentStorageError as exc:
        # Storage refuses (no bucket, access denied): retrying cannot help this job.
        _fail_paid(ctx, job, f"storage refused the video: {exc}")
        return Done("storage refused")
    except ProviderError as exc:
        return _retry_or_fail(ctx, job, attempt, exc.message)
    ctx.storage.put_json(sidecar_key(key), sidecar(job, batch, stored))
    if ctx.ledger.transition(
        job.id,
        JobState.DOWNLOADING,
        JobState.STORED,
        object_url=stored.url,
        sha256=stored.sha256,
        size_bytes=stored.size,
    ):
        if job.reserved_credits > 0:  # reserved by the submit, before this step: budgets only
            ctx.ledger.settle_credits(job.id)  # a no-op unless the poll that saw it could not
        finish_if_done(ctx, job.batch_id)
    return Done("stored")


def _metadata(job: JobRecord, batch: BatchRecord) -> dict[str, str]:
    return {
        "job-key": job.key,
        "batch": batch.name,
        "provider-task-id": job.provider_task_id or "",
    }


def sidecar(job: JobRecord, batch: BatchRecord, stored: StoredObject) -> dict[str, Any]:
    """Provenance stored beside the video: enough to know what it is without the ledger."""
    return {
        "job_key": job.key,
        "batch": batch.name,
        "row_id": job.row_id,
        "take": job.take,
        "source": job.source,
        "provider_task_id": job.provider_task_id,
        "external_id": job.external_id,
        "spec": job.spec.model_dump(mode="json"),
        "tags": job.tags,
        "estimated_credits": str(job.estimated_credits),
        "charged_credits": None if job.charged_credits is None else str(job.charged_credits),
        "charged_units": None if job.charged_units is None else str(job.charged_units),
        "sha256": stored.sha256,
        "size_bytes": stored.size,
        "object": stored.url,
    }


def _retry_or_fail(ctx: Context, job: JobRecord, attempt: int, reason: str) -> Outcome:
    later = retry_within_budget(ctx.settings.retry, attempt, reason)
    if later is not None:
        return later
    _fail_paid(ctx, job, f"download failed after {attempt + 1} tries: {reason}")
    return Done(reason)


def _fail_paid(ctx: Context, job: JobRecord, message: str) -> None:
    """The render succeeded and was paid for; only storing it failed. Keep what was charged."""
    fail_job(
        ctx,
        job,
        JobState.DOWNLOADING,
        message,
        charged_units=job.charged_units,
        charged_credits=job.charged_credits,
    )
