"""The guide dialect (a gateway in the product guide's shape): polled per job, no external ids."""

from __future__ import annotations

from pathlib import Path

from jobs.ledger.states import JobState
from tests.pipeline.conftest import MakeHarness, write_manifest
from worker.batches import retry_batch
from worker.names import Task


def test_a_batch_renders_through_the_guide_dialect(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(dialect="guide")
    batch = h.submit(write_manifest(tmp_path, [f"a tram at night, {i}" for i in range(5)]))
    h.run(batch.id)
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}
    assert h.executed[Task.POLL] >= 5  # no list endpoint: every job is polled on its own
    assert h.executed[Task.WATCH] == 0
    stats = h.sim.stats()
    assert stats["duplicate_creates"] == 0
    assert any(ep.startswith("POST /v1/video/generate") for ep in stats["requests"])


def test_a_lost_create_goes_to_review_instead_of_being_repeated(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    # Every create makes a task and then loses its response: without an external id the job
    # cannot be looked up, and creating it again could pay for it twice.
    h = make_harness("--lost-response-rate", "1", dialect="guide")
    batch = h.submit(write_manifest(tmp_path, ["a lighthouse keeper", "a ferry in fog"]))
    h.run(batch.id, until_settled=True)
    jobs = h.ctx.ledger.jobs(batch.id)
    assert {j.state for j in jobs} == {JobState.REVIEW}
    stats = h.sim.stats()
    assert stats["creates_accepted"] == 2  # one each, never repeated
    assert stats["duplicate_creates"] == 0
    assert h.ctx.pool.in_use() == 0


def test_an_operator_can_send_a_job_in_review_back_to_be_created(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness("--lost-response-rate", "1", dialect="guide")
    batch = h.submit(write_manifest(tmp_path, ["a tugboat"]))
    h.run(batch.id, until_settled=True)
    assert retry_batch(h.ctx, h.ctx.ledger.batch(batch.id), states=(JobState.REVIEW,)) == 1
    assert h.ctx.ledger.jobs(batch.id)[0].state is JobState.PENDING
