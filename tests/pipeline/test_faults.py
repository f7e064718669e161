"""What goes wrong at the provider, and what kbatch does about it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from jobs.ledger.states import BatchState, JobState
from ops.bench.figures import status_requests
from tests.pipeline.conftest import API_KEY, MakeHarness, write_manifest
from worker.batches import resume_batch, retry_batch
from worker.names import Task
from worker.pipeline.outcome import Done
from worker.pipeline.submit import submit_job


def _states(h: object, batch_id: int) -> dict[str, JobState]:
    from tests.pipeline.harness import Harness

    assert isinstance(h, Harness)
    return {j.spec.prompt: j.state for j in h.ctx.ledger.jobs(batch_id)}


def test_lost_responses_and_5xx_never_create_twice(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(
        "--lost-response-rate", "0.3",
        "--create-5xx-rate", "0.2",
        "--query-5xx-rate", "0.2",
        "--drop-rate", "0.1",
        # About half of all attempts meet a fault here; with 30 of them, a job giving up (the
        # next tests) is a one-in-a-billion event and every job must end stored.
        max_attempts=30,
    )  # fmt: skip
    batch = h.submit(write_manifest(tmp_path, [f"a paper boat, fold {i}" for i in range(15)]))
    h.run(batch.id)

    stats = h.sim.stats()
    assert stats["faults"], "the simulator injected no fault: the test proves nothing"
    assert stats["duplicate_creates"] == 0
    assert stats["creates_accepted"] == 15  # one task per job, whatever was lost on the way
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}
    assert h.ctx.ledger.totals(batch.id).charged_units == Decimal(str(stats["units_charged"]))


def test_a_create_lost_then_never_found_goes_to_review_and_resume_adopts_it(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    # Every create reaches the provider but its answer is lost, and every lookup meets a 500.
    h = make_harness("--lost-response-rate", "1", "--query-5xx-rate", "1", max_attempts=4)
    batch = h.submit(write_manifest(tmp_path, ["a kite in a storm", "a kite at rest"]))
    h.run(batch.id, until_settled=True)

    jobs = h.ctx.ledger.jobs(batch.id)
    assert {j.state for j in jobs} == {JobState.REVIEW}  # not failed: `retry` would pay again
    assert all("a task may exist" in (j.error or "") for j in jobs), [j.error for j in jobs]
    assert h.sim.stats()["creates_accepted"] == 2
    assert h.ctx.ledger.batch(batch.id).state is BatchState.RUNNING
    assert h.ctx.pool.in_use() == 0

    h.sim.set_faults(lost_response_rate=0.0, query_5xx_rate=0.0)
    resumed = resume_batch(h.ctx, h.ctx.ledger.batch(batch.id))
    assert (resumed.recovering, resumed.waiting) == (2, 0)
    h.run(batch.id)
    stats = h.sim.stats()
    assert (stats["creates_accepted"], stats["duplicate_creates"]) == (2, 0)
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}
    assert h.ctx.ledger.batch(batch.id).state is BatchState.FINISHED


def test_a_create_answered_with_500_every_time_waits_in_review_not_failed(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    # A 500 on create does not say whether the task was made (the reference's error policy), so
    # after the retries the job waits in review, where `retry --failed` cannot pay for it again.
    h = make_harness("--create-5xx-rate", "1", max_attempts=3)
    batch = h.submit(write_manifest(tmp_path, ["a lighthouse"]))
    h.run(batch.id, until_settled=True)

    (job,) = h.ctx.ledger.jobs(batch.id)
    assert job.state is JobState.REVIEW
    assert "gave up after 3 attempts" in (job.error or "")
    assert retry_batch(h.ctx, h.ctx.ledger.batch(batch.id), states=(JobState.FAILED,)) == 0

    h.sim.set_faults(create_5xx_rate=0.0)
    resume_batch(h.ctx, h.ctx.ledger.batch(batch.id))
    h.run(batch.id)
    job = h.ctx.ledger.job(job.id)
    assert (job.state, job.error, job.attempt) == (JobState.STORED, None, 1)
    assert h.sim.stats()["creates_accepted"] == 1


@pytest.mark.parametrize("dialect", ["kling", "guide"])  # watched by lists; by polls alone
def test_an_outage_of_status_queries_fails_no_paid_render(
    make_harness: MakeHarness, tmp_path: Path, dialect: str
) -> None:
    h = make_harness("--median-seconds", "60", "--spread", "0.2", max_attempts=3, dialect=dialect)
    batch = h.submit(write_manifest(tmp_path, [f"a harbour at dawn, {i}" for i in range(4)]))
    h.drain(Task.SUBMIT)
    assert h.sim.stats()["creates_accepted"] == 4

    # Lists and queries all fail for ten virtual minutes: far past the error retries of every
    # poll (3 here), and every render ends at the provider meanwhile.
    h.sim.set_faults(query_5xx_rate=1.0)
    start = h.clock()
    while h.clock() - start < 600:
        assert h.step() is not None, "nothing left watching the jobs in flight"
    assert h.executed[Task.POLL] > 0
    states = _states(h, batch.id)
    assert set(states.values()) <= {JobState.SUBMITTED, JobState.PROCESSING}, states
    assert len(h.queue) <= 4 + 2, "polls pile up during the outage"

    h.sim.set_faults(query_5xx_rate=0.0)
    h.run(batch.id)
    assert set(_states(h, batch.id).values()) == {JobState.STORED}
    assert h.sim.stats()["creates_accepted"] == 4


def test_refused_and_failed_renders_fail_alone_and_cost_nothing(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    prompts = ["a calm lake", "a storm [[refuse]]", "a glitch [[fail]]", "a quiet street"]
    batch = h.submit(write_manifest(tmp_path, prompts))
    h.run(batch.id)

    jobs = {j.spec.prompt: j for j in h.ctx.ledger.jobs(batch.id)}
    assert jobs["a calm lake"].state is JobState.STORED
    assert jobs["a quiet street"].state is JobState.STORED
    refused, failed = jobs["a storm [[refuse]]"], jobs["a glitch [[fail]]"]
    assert refused.state is JobState.FAILED
    assert refused.provider_task_id is None
    assert failed.state is JobState.FAILED
    assert failed.provider_task_id is not None
    assert refused.error
    assert failed.error
    assert refused.charged_credits == 0
    assert failed.charged_credits == 0
    assert h.ctx.ledger.batch(batch.id).state is BatchState.FINISHED
    assert h.ctx.pool.in_use() == 0


def test_wrong_key_pauses_the_batch_and_resume_finishes_it(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness(api_key="not-the-simulators-key-0123456789")
    batch = h.submit(write_manifest(tmp_path, [f"a windmill, angle {i}" for i in range(8)]))
    h.drain(Task.SUBMIT)

    assert h.ctx.ledger.batch(batch.id).state is BatchState.PAUSED
    # Nothing failed: jobs not yet submitted stay pending for when the key is fixed.
    assert set(_states(h, batch.id).values()) == {JobState.PENDING}
    assert h.ctx.pool.in_use() == 0

    h.sim.set_account("default", api_keys=[API_KEY, "not-the-simulators-key-0123456789"])
    resumed = resume_batch(h.ctx, h.ctx.ledger.batch(batch.id))
    assert resumed.waiting == 8
    assert h.executed[Task.SUBMIT] <= 5, "a paused batch kept handing slots to its own jobs"
    h.run(batch.id)
    assert set(_states(h, batch.id).values()) == {JobState.STORED}
    assert h.sim.stats()["duplicate_creates"] == 0


def test_exhausted_credits_pause_and_a_top_up_resumes(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    # kling-v3 720p 5 s costs 3 units: the balance pays for one render.
    h = make_harness("--balance", "4")
    batch = h.submit(write_manifest(tmp_path, [f"a hot air balloon, {i}" for i in range(3)]))
    h.drain(Task.SUBMIT, Task.POLL, Task.STORE)
    assert h.ctx.ledger.batch(batch.id).state is BatchState.PAUSED
    assert JobState.FAILED not in _states(h, batch.id).values()

    h.sim.set_account("default", balance="100")
    resume_batch(h.ctx, h.ctx.ledger.batch(batch.id))
    h.run(batch.id)
    assert set(_states(h, batch.id).values()) == {JobState.STORED}
    assert h.sim.stats()["creates_accepted"] == 3


def test_a_redelivered_submit_creates_nothing_more(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    batch = h.submit(write_manifest(tmp_path, ["one lonely tree"]))
    (msg,) = [m for m in h.queue if m.task is Task.SUBMIT]
    assert msg.job_id is not None
    assert h.step() is msg
    again = submit_job(h.ctx, msg.job_id)  # the same message delivered twice (acks_late)
    assert isinstance(again, Done)
    assert h.sim.stats()["creates_accepted"] == 1
    h.run(batch.id)
    assert h.sim.stats()["creates_accepted"] == 1


def test_a_worker_killed_after_its_create_is_recovered_by_lookup(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    batch = h.submit(write_manifest(tmp_path, ["a bridge in fog"]))
    job = h.ctx.ledger.jobs(batch.id)[0]
    # The create reached the provider, then the worker died before recording the task id.
    assert h.ctx.ledger.transition(job.id, JobState.PENDING, JobState.SUBMITTING)
    h.ctx.provider.create(job.spec, job.external_id)
    h.run(batch.id)  # the redelivered submit finds the task by its external id
    stats = h.sim.stats()
    assert stats["creates_accepted"] == 1
    assert stats["duplicate_creates"] == 0
    assert h.ctx.ledger.job(job.id).state is JobState.STORED


def test_an_unreachable_image_fails_before_any_create(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    path = tmp_path / "img.yaml"
    path.write_text(
        "name: img\nrows:\n  - prompt: the statue turns its head\n    model: kling-v3\n"
        "    duration: 5\n    image_url: http://127.0.0.1:9/missing.png\n",
        encoding="utf-8",
    )
    batch = h.submit(path)
    h.run(batch.id)
    job = h.ctx.ledger.jobs(batch.id)[0]
    assert job.state is JobState.FAILED
    assert "image" in (job.error or "")
    assert h.sim.stats()["creates_accepted"] == 0


def test_a_render_past_its_deadline_fails_as_timed_out(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness("--median-seconds", "100000", "--spread", "0.01")
    h.ctx.settings.poll.deadline_s = 300.0
    batch = h.submit(write_manifest(tmp_path, ["a glacier, very slowly"]))
    h.run(batch.id)
    job = h.ctx.ledger.jobs(batch.id)[0]
    assert job.state is JobState.FAILED
    assert "timed out" in (job.error or "")
    assert h.ctx.pool.in_use() == 0


def test_completions_are_watched_with_few_requests_and_little_lag(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    # The benchmark's shape: 10 slots, log-normal renders with a 60 s median and 0.5 spread.
    h = make_harness(
        "--median-seconds", "60", "--spread", "0.5", "--concurrency", "10", concurrency=10
    )
    batch = h.submit(write_manifest(tmp_path, [f"clouds over a valley, {i}" for i in range(40)]))
    h.run(batch.id)
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}
    stats = h.sim.stats()
    # One list request covers every task in flight, so requests do not grow per job per look.
    assert status_requests(stats) / 40 <= 3
    assert h.executed[Task.POLL] == 0
    assert sum(h.executed.values()) / 40 <= 6
    lags = sorted(
        t["first_final_seen_at"] - t["finished_at"]
        for t in h.sim.tasks()
        if t.get("first_final_seen_at") is not None
    )
    assert len(lags) == 40
    # Learned from completions, looks come every ~5% of the render time (60 s here).
    assert lags[int(0.95 * len(lags)) - 1] <= 0.1 * 60 + 1.0


def test_many_completions_in_one_look_are_settled_together_without_more_requests(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    # Twenty renders of nearly equal length end within one look of each other.
    h = make_harness("--concurrency", "20", "--spread", "0.01", concurrency=20)
    batch = h.submit(write_manifest(tmp_path, [f"a kite festival, {i}" for i in range(20)]))
    h.drain(Task.SUBMIT)
    while not any(m.task is Task.STORE for m in h.queue):
        assert h.step() is not None
    # The one look that saw them end moved them all on and gave back all their slots.
    downloading = h.ctx.ledger.jobs(batch.id, [JobState.DOWNLOADING])
    assert len(downloading) >= 10
    assert sum(m.task is Task.STORE for m in h.queue) == len(downloading)
    assert h.ctx.pool.in_use() == 20 - len(downloading)

    h.run(batch.id)
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}
    assert h.executed[Task.POLL] == 0
    # No job was queried on its own: every status request was a list page.
    requests = h.sim.stats()["requests"]
    assert not any("{ident}" in ep and ep.startswith("GET") for ep in requests)
    assert h.sim.stats()["duplicate_creates"] == 0
