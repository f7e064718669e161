"""Fixtures for the deployment tests: nightly contexts on real Redis and PostgreSQL, manifests.

A nightly context is the one the Celery task builds, with a recording `enqueue` instead of the
broker: what the nightly run queued is visible without a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jobs.ledger import JobRecord, Ledger
from jobs.ledger.states import JobState
from worker.context import Context, JobIdentity, build_context
from worker.names import Task
from worker.settings import NightlySettings, ProviderSettings, Settings

API_KEY = "nightly-test-key-0123456789"
# Creates never happen in these tests; nothing listens here.
UNUSED_BASE_URL = "http://127.0.0.1:9"


@dataclass
class Recorder:
    """An `Enqueue` that keeps the messages instead of sending them."""

    sent: list[tuple[Task, int | None, float]] = field(default_factory=list)

    def __call__(self, task: Task, job: JobIdentity | None, countdown: float = 0.0) -> None:
        self.sent.append((task, None if job is None else job.id, countdown))

    def job_ids(self, task: Task) -> set[int]:
        return {job_id for t, job_id, _ in self.sent if t is task and job_id is not None}


@dataclass
class Nightly:
    """A nightly context and what it needs: the folder of nightly manifests, the recorder."""

    ctx: Context
    folder: Path
    recorder: Recorder

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    def queued(self, batch_id: int) -> set[int]:
        """The batch's jobs that were queued: in the wait list, or sent to submit by dispatch."""
        waiting = {int(j) for j in self.ctx.waitlist.peek(100_000)}
        return (waiting | self.recorder.job_ids(Task.SUBMIT)) & set(self.ledger.job_ids(batch_id))


MakeNightly = Callable[..., Nightly]


@pytest.fixture
def make_nightly(
    tmp_path: Path, redis_url: str, key_prefix: str, pg_url: str
) -> Iterator[MakeNightly]:
    """Contexts on one ledger and one Redis prefix; each call may set other nightly settings."""
    folder = tmp_path / "nightly"
    folder.mkdir()
    made: list[Context] = []

    def make(**nightly: str) -> Nightly:
        settings = Settings(
            redis_url=redis_url,
            database_url=pg_url,
            storage_url=f"file://{tmp_path / 'videos'}",
            provider=ProviderSettings(base_url=UNUSED_BASE_URL, api_key=API_KEY, concurrency=2),
            nightly=NightlySettings.model_validate(
                {"manifests": str(folder / "*.yaml"), **nightly}
            ),
        )
        recorder = Recorder()
        ctx = build_context(settings, recorder, prefix=key_prefix)
        made.append(ctx)
        return Nightly(ctx, folder, recorder)

    yield make
    for ctx in made:
        ctx.close()


def write_manifest(
    folder: Path, file: str, rows: list[str], *, name: str | None = None, rerender: bool = False
) -> Path:
    """A YAML manifest of kling-v3 720p 5-second rows, one per id (the prompt names the id)."""
    body = "".join(f"  - id: {r}\n    prompt: a lighthouse at dusk, shot {r}\n" for r in rows)
    head = f"name: {name}\n" if name else ""
    path = folder / file
    path.write_text(
        f"{head}rerender: {'true' if rerender else 'false'}\n"
        "defaults:\n  model: kling-v3\n  resolution: 720p\n  duration: 5\n"
        f"rows:\n{body}",
        encoding="utf-8",
    )
    return path


def store(ledger: Ledger, job: JobRecord) -> None:
    """Take a pending job through the states a real render goes through, to stored."""
    steps: list[tuple[JobState, JobState, dict[str, Any]]] = [
        (JobState.PENDING, JobState.SUBMITTING, {}),
        (JobState.SUBMITTING, JobState.SUBMITTED, {"provider_task_id": f"t-{job.id}"}),
        (JobState.SUBMITTED, JobState.DOWNLOADING, {}),
        (
            JobState.DOWNLOADING,
            JobState.STORED,
            {"object_url": f"file:///videos/{job.key}.mp4", "sha256": "0" * 64, "size_bytes": 1},
        ),
    ]
    for current, target, fields in steps:
        assert ledger.transition(job.id, current, target, **fields)


def fail(ledger: Ledger, job: JobRecord) -> None:
    assert ledger.transition(job.id, JobState.PENDING, JobState.FAILED, error="refused")
