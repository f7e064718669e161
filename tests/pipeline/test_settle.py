"""Settling renders seen finished, several at once, as a list look does; one chain of looks."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from jobs.ledger import JobRecord
from jobs.ledger.states import JobState
from tests.pipeline.conftest import MakeHarness, write_manifest
from worker.names import Task
from worker.pipeline.dispatch import claim_scheduled, schedule_once
from worker.pipeline.settle import settle_succeeded
from worker.providers import ProviderState, TaskStatus


def test_renders_settled_together_each_move_on_once(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(concurrency=3)
    batch = h.submit(write_manifest(tmp_path, ["a", "b", "c", "d"]))
    h.drain(Task.SUBMIT)
    jobs = h.ctx.ledger.jobs(batch.id, [JobState.SUBMITTED])
    assert len(jobs) == 3
    assert h.ctx.pool.in_use() == 3
    url = f"{h.sim.base_url}/results/whatever.mp4"

    def done(job: JobRecord, result_url: str | None) -> tuple[JobRecord, TaskStatus]:
        task_id = job.provider_task_id or ""
        status = TaskStatus(
            task_id, ProviderState.SUCCEEDED, result_url=result_url, units=Decimal(3)
        )
        return job, status

    seen = [done(jobs[0], url), done(jobs[1], None), done(jobs[2], url)]
    h.queue.clear()

    assert settle_succeeded(h.ctx, seen) == [True, False, True]
    after = {j.id: j for j in h.ctx.ledger.jobs(batch.id)}
    assert after[jobs[0].id].state is after[jobs[2].id].state is JobState.DOWNLOADING
    assert after[jobs[0].id].result_url == url
    assert after[jobs[0].id].charged_units == Decimal(3)
    assert after[jobs[1].id].state is JobState.FAILED
    assert "without a result URL" in (after[jobs[1].id].error or "")
    queued = sorted((m.task, m.job_id) for m in h.queue if m.task is not Task.SWEEP)
    # One store each for the two that moved on; the freed slots went to the waiting fourth job.
    (fourth,) = [j.id for j in after.values() if j.id not in {x.id for x in jobs}]
    assert queued == sorted(
        [(Task.STORE, jobs[0].id), (Task.STORE, jobs[2].id), (Task.SUBMIT, fourth)]
    )
    assert h.ctx.pool.in_use() == 1

    # Seen again (another look, a redelivered message): nothing moves, nothing is queued twice.
    h.queue.clear()
    assert settle_succeeded(h.ctx, [seen[0], seen[2]]) == [False, False]
    assert [m for m in h.queue if m.task is not Task.SWEEP] == []


def test_a_second_chain_of_looks_ends_at_its_first_look(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(concurrency=4)
    batch = h.submit(write_manifest(tmp_path, [f"a lantern, {i}" for i in range(8)]))
    h.drain(Task.SUBMIT)
    watches = [m for m in h.queue if m.task is Task.WATCH]
    assert len(watches) == 1, "four submits scheduled more than one look"
    # A stray look message (a redelivery, or one scheduled while the mark had expired), due
    # before the scheduled look: it finds a later look announced and ends without looking.
    h.enqueue(Task.WATCH, None, 0.0)
    requests_before = sum(sum(v.values()) for v in h.sim.stats()["requests"].values())
    stray = h.step()
    assert stray is not None
    assert stray.task is Task.WATCH
    assert sum(sum(v.values()) for v in h.sim.stats()["requests"].values()) == requests_before
    assert [m.task for m in h.queue].count(Task.WATCH) == 1

    h.run(batch.id)
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}
    assert [m.task for m in h.queue].count(Task.WATCH) <= 1


def test_claiming_a_scheduled_message(make_harness: MakeHarness) -> None:
    h = make_harness()
    assert claim_scheduled(h.ctx, "probe", tolerance=0.5)  # nothing scheduled: go on
    assert schedule_once(h.ctx, "probe", Task.SWEEP, 10.0, grace=5.0)
    assert not schedule_once(h.ctx, "probe", Task.SWEEP, 1.0)  # one is announced already
    assert not claim_scheduled(h.ctx, "probe", tolerance=0.5)  # too early: a duplicate
    h.advance(9.6)
    assert claim_scheduled(h.ctx, "probe", tolerance=0.5)  # the announced one, give or take
    assert schedule_once(h.ctx, "probe", Task.SWEEP, 10.0)  # its mark was cleared for the next
