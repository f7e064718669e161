"""The ledger failing at the worst moment of a step: right after the write that moved the job on.

A step that meets an outage is run again from its message (as `worker.tasks` does). When the
outage comes after the step's decisive write, the rerun finds the job past that step and does
nothing, so whatever the step had still to do must already be safe: the next step queued, the
jobs handed a slot already sent their submit, the batch finished by the sweep. These tests stop
the ledger at exactly those moments, in the in-process pipeline harness against the simulator.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from jobs.ledger import JobName, JobRecord, Ledger, LedgerUnavailable
from jobs.ledger.states import BatchState, JobState
from tests.pipeline.harness import Harness, Message
from tests.reliability.runs import write_manifest
from worker.pipeline.sweep import sweep
from worker.settings import PollSettings, ProviderSettings, RetrySettings, Settings
from worker.sim.process import running_simulator

API_KEY = "outage-windows-key-0123456789"


class FailingLedger(Ledger):
    """The real ledger, except that chosen calls fail once as if the database had gone away."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        super().__init__(engine, clock=clock)
        self.fail_settle = 0
        self.fail_job: set[int] = set()
        self.failures = 0

    def settle_credits(self, job_id: int) -> Decimal:
        if self.fail_settle > 0:
            self.fail_settle -= 1
            self.failures += 1
            raise LedgerUnavailable("the ledger database is unavailable (a test outage)")
        return super().settle_credits(job_id)

    def job(self, job_id: int) -> JobRecord:
        if job_id in self.fail_job:
            self.fail_job.discard(job_id)
            self.failures += 1
            raise LedgerUnavailable("the ledger database is unavailable (a test outage)")
        return super().job(job_id)

    def names(self, job_ids: Collection[int]) -> list[JobName]:
        failing = self.fail_job.intersection(job_ids)
        if failing:
            self.fail_job -= failing
            self.failures += 1
            raise LedgerUnavailable("the ledger database is unavailable (a test outage)")
        return super().names(job_ids)


@pytest.fixture
def harness(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[Harness]:
    with ExitStack() as stack:
        sim = stack.enter_context(
            running_simulator("--time-scale", "1", "--seed", "71", "--api-key", API_KEY)
        )
        settings = Settings(
            redis_url=redis_url,
            database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
            storage_url=f"file://{tmp_path / 'videos'}",
            provider=ProviderSettings(base_url=sim.base_url, api_key=API_KEY, concurrency=1),
            poll=PollSettings(default_expected_s=60.0),
            retry=RetrySettings(max_attempts=6, base_s=1.0, cap_s=10.0),
        )
        h = Harness(settings, sim, key_prefix)
        stack.callback(h.close)
        h.ctx.ledger = FailingLedger(
            h.ctx.ledger.engine, lambda: datetime.fromtimestamp(h.clock(), UTC)
        )
        yield h


def _run_retrying(h: Harness, batch_id: int, max_steps: int = 2_000) -> int:
    """Run the batch's messages; a step that meets the outage runs again a second later, as the
    Celery task would. Returns how many steps were retried."""
    retried = 0
    for _ in range(max_steps):
        if h.ctx.ledger.unfinished(batch_id) == 0:
            return retried
        if not h.queue:
            raise AssertionError(f"no message left: {h.ctx.ledger.counts(batch_id)}")
        due = h.queue[0]
        try:
            h.step()
        except LedgerUnavailable:
            retried += 1
            again = Message(h.clock() + 1.0, next(h.seq), due.task, due.job_id, due.retries + 1)
            heapq.heappush(h.queue, again)
    raise AssertionError(f"batch {batch_id} did not finish: {h.ctx.ledger.counts(batch_id)}")


def _ledger(h: Harness) -> FailingLedger:
    assert isinstance(h.ctx.ledger, FailingLedger)
    return h.ctx.ledger


def test_a_result_seen_just_before_an_outage_is_still_stored(
    harness: Harness, tmp_path: Path
) -> None:
    # A daily cap makes every job reserve its credits, which the look settles once it is charged.
    harness.ctx.settings.budget.daily_credits = 10_000
    batch = harness.submit(write_manifest(tmp_path, 2, "seen-then-outage"))
    # The look that sees the first render finished moves its job to `downloading`, then the
    # ledger goes away before the look has settled the job's credits.
    _ledger(harness).fail_settle = 1
    assert _run_retrying(harness, batch.id) >= 1
    assert _ledger(harness).failures == 1
    assert harness.ctx.ledger.counts(batch.id)[JobState.STORED] == 2
    stats = harness.sim.stats()
    assert stats["creates_accepted"] == 2
    assert stats["duplicate_creates"] == 0


def test_a_job_handed_a_slot_during_an_outage_is_still_submitted(
    harness: Harness, tmp_path: Path
) -> None:
    batch = harness.submit(write_manifest(tmp_path, 2, "slot-then-outage"))
    # One slot: the second job is handed it when the first ends, and the ledger is gone just
    # when the hand-on reads the jobs to name them in their submit messages.
    second = max(harness.ctx.ledger.job_ids(batch.id))
    _ledger(harness).fail_job = {second}
    _run_retrying(harness, batch.id)
    assert _ledger(harness).failures == 1
    assert harness.ctx.ledger.counts(batch.id)[JobState.STORED] == 2
    assert harness.sim.stats()["creates_accepted"] == 2


def test_the_sweep_finishes_a_batch_whose_last_step_met_an_outage(
    harness: Harness, tmp_path: Path
) -> None:
    batch = harness.submit(write_manifest(tmp_path, 2, "ended-then-outage"))
    # Each job ended, but the step that ended the last one lost the ledger before it could mark
    # the batch finished; rerun, it finds its job final and does nothing.
    for job_id in harness.ctx.ledger.job_ids(batch.id):
        harness.ctx.ledger.transition(job_id, JobState.PENDING, JobState.CANCELLED)
    assert harness.ctx.ledger.batch(batch.id).state is BatchState.RUNNING
    sweep(harness.ctx)
    assert harness.ctx.ledger.batch(batch.id).state is BatchState.FINISHED
