"""Operating a batch: budgets, cancel, retry, and resume after Redis lost everything."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import redis

from jobs.ledger import BatchNameTaken
from jobs.ledger.states import BatchState, JobState
from jobs.manifest import load_manifest
from tests.pipeline.conftest import MakeHarness, write_manifest
from worker import batches
from worker.batches import OverBudget, cancel_batch, resume_batch, retry_batch, submit_manifest
from worker.names import Task

# kling-v3, 720p, 5 s: 30 credits per job at the product guide's 6 credits/s.
JOB_CREDITS = Decimal(30)


def test_a_batch_over_its_budget_is_refused_whole(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    manifest = load_manifest(write_manifest(tmp_path, [f"dunes {i}" for i in range(4)]))
    with pytest.raises(OverBudget, match="120"):
        submit_manifest(h.ctx, manifest, budget_credits=Decimal(100))
    assert h.ctx.ledger.batches() == []
    assert h.queue == []


def test_a_partial_batch_never_commits_past_its_budget(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    manifest = load_manifest(write_manifest(tmp_path, [f"reeds {i}" for i in range(6)]))
    batch = submit_manifest(h.ctx, manifest, budget_credits=Decimal(100), partial=True)
    h.run(batch.id)
    counts = h.ctx.ledger.counts(batch.id)
    assert counts[JobState.STORED] == 3
    assert counts[JobState.SKIPPED_BUDGET] == 3
    totals = h.ctx.ledger.totals(batch.id)
    assert totals.charged_credits == 3 * JOB_CREDITS <= Decimal(100)
    assert h.sim.stats()["creates_accepted"] == 3  # skipped jobs were never created
    assert h.ctx.ledger.batch(batch.id).committed_credits == 3 * JOB_CREDITS


def test_cancel_stops_creates_and_lets_tasks_in_flight_finish(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(concurrency=2)
    batch = h.submit(write_manifest(tmp_path, [f"pines {i}" for i in range(6)]))
    h.drain(Task.SUBMIT)  # two tasks created at the provider, four jobs waiting
    assert h.sim.stats()["creates_accepted"] == 2
    cancelled = cancel_batch(h.ctx, h.ctx.ledger.batch(batch.id))
    assert cancelled == 4
    assert h.ctx.ledger.batch(batch.id).state is BatchState.CANCELLING
    h.run(batch.id)
    counts = h.ctx.ledger.counts(batch.id)
    assert counts[JobState.STORED] == 2  # billed regardless, so still stored
    assert counts[JobState.CANCELLED] == 4
    assert h.ctx.ledger.batch(batch.id).state is BatchState.CANCELLED
    assert h.sim.stats()["creates_accepted"] == 2


def test_retry_gives_failed_jobs_a_new_attempt(make_harness: MakeHarness, tmp_path: Path) -> None:
    h = make_harness()
    batch = h.submit(write_manifest(tmp_path, ["a fine day", "a broken day [[fail]]"]))
    h.run(batch.id)
    failed = h.ctx.ledger.jobs(batch.id, [JobState.FAILED])
    assert len(failed) == 1
    assert h.ctx.ledger.batch(batch.id).state is BatchState.FINISHED
    # The marker fails every attempt; the retry is still a real, recorded new attempt.
    assert retry_batch(h.ctx, h.ctx.ledger.batch(batch.id), states=(JobState.FAILED,)) == 1
    again = h.ctx.ledger.job(failed[0].id)
    assert again.attempt == 2
    assert again.external_id != failed[0].external_id
    h.run(batch.id)
    assert h.sim.stats()["creates_accepted"] == 3
    assert [e.kind for e in h.ctx.ledger.events(failed[0].id)].count("retry") == 1


def test_resume_after_redis_lost_everything_creates_nothing_twice(
    make_harness: MakeHarness, tmp_path: Path, redis_client: redis.Redis, key_prefix: str
) -> None:
    h = make_harness(concurrency=3)
    batch = h.submit(write_manifest(tmp_path, [f"harbour {i}" for i in range(9)]))
    h.drain(Task.SUBMIT)
    for _ in range(4):
        h.step()
    # Redis is flushed and every queued message is gone with it.
    keys = list(redis_client.scan_iter(match=f"{key_prefix}*"))
    redis_client.delete(*keys)
    h.queue.clear()
    in_flight = len(h.ctx.ledger.in_flight())
    assert in_flight > 0
    resumed = resume_batch(h.ctx, h.ctx.ledger.batch(batch.id))
    assert resumed.polling + resumed.recovering == in_flight
    # The slots of tasks still running at the provider are counted again at once.
    assert h.ctx.pool.in_use() == in_flight
    h.run(batch.id)
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}
    stats = h.sim.stats()
    assert stats["creates_accepted"] == 9
    assert stats["duplicate_creates"] == 0
    assert max(stats["max_in_flight"].values()) <= 3


def test_a_default_batch_name_taken_within_the_same_second_gets_a_number(
    make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness()
    manifest = load_manifest(write_manifest(tmp_path, ["a field of wheat"], name="clips"))
    monkeypatch.setattr(batches, "default_batch_name", lambda _manifest: "clips-20261126-031500")

    names = [submit_manifest(h.ctx, manifest).name for _ in range(3)]

    assert names == ["clips-20261126-031500", "clips-20261126-031500-2", "clips-20261126-031500-3"]
    with pytest.raises(BatchNameTaken, match="a batch named 'clips-20261126-031500' already"):
        submit_manifest(h.ctx, manifest, name="clips-20261126-031500")
