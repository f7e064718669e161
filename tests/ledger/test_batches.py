"""Creating batches and reading them and their jobs back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jobs.ledger import BatchState, JobState, Ledger, LedgerConflict, LedgerNotFound, external_id
from jobs.spec import Job
from tests.ledger.conftest import SPECS, FakeClock, make_jobs, new_batch


def test_a_batch_and_its_jobs_round_trip_exactly(ledger: Ledger, clock: FakeClock) -> None:
    jobs = [
        Job.of(
            s, take=1 + i % 2, row_id=f"r{i}", tags={"scene": i, "who": ["a", "b"]}, source=f"m:{i}"
        )
        for i, s in enumerate(SPECS)
    ]
    estimates = [
        Decimal("40"),
        Decimal("0.6"),
        Decimal("3.3333"),
        Decimal(0),
        Decimal("1e3"),
        Decimal(7),
    ]
    created = ledger.create_batch(
        "nightly",
        jobs,
        estimates,
        manifest="/srv/manifests/nightly.yaml",
        dialect="guide",
        budget_credits=Decimal("1234.5"),
        options={"priority": 2, "notify": None},
    )
    assert created == ledger.batch(created.id) == ledger.batch("nightly")
    assert created.state is BatchState.RUNNING
    assert (created.job_count, created.dialect, created.manifest) == (
        6,
        "guide",
        "/srv/manifests/nightly.yaml",
    )
    assert created.budget_credits == Decimal("1234.5")
    assert created.options == {"priority": 2, "notify": None}
    assert created.created_at == clock()
    assert created.finished_at is None

    records = ledger.jobs(created.id)
    assert [r.spec for r in records] == SPECS  # every field, shots and unicode included
    for job, estimate, record in zip(jobs, estimates, records, strict=True):
        assert record.key == job.key
        assert record.take == job.take
        assert (record.row_id, record.tags, record.source) == (job.row_id, job.tags, job.source)
        assert record.spec.canonical_json() == job.spec.canonical_json()
        assert (record.model, record.mode, record.resolution) == (
            job.spec.model,
            job.spec.mode,
            job.spec.resolution,
        )
        assert record.seconds == job.spec.seconds
        assert record.estimated_credits == estimate
        assert record.state is JobState.PENDING
        assert record.attempt == 1
        assert record.external_id == external_id(job.key, created.token, 1)
        assert record.reserved_credits == 0
        assert record.poll_count == 0
        assert record.charged_credits is None
        assert record.charged_units is None
        assert record.created_at == record.updated_at == clock()
        assert record.created_at.tzinfo is not None
    assert SPECS[3].seconds == 7  # the multi-shot spec's seconds are its shots'


def test_external_ids_are_unique_across_batches_for_the_same_rows(ledger: Ledger) -> None:
    a = new_batch(ledger, 3, name="monday")
    b = new_batch(ledger, 3, name="tuesday")
    ids_a = [j.external_id for j in ledger.jobs(a.id)]
    ids_b = [j.external_id for j in ledger.jobs(b.id)]
    assert [j.key for j in ledger.jobs(a.id)] == [j.key for j in ledger.jobs(b.id)]
    assert not set(ids_a) & set(ids_b)
    assert ledger.job_by_external_id(ids_b[1]) == ledger.jobs(b.id)[1]
    assert ledger.job_by_external_id("kb-nope-1-1") is None


def test_a_batch_name_is_unique(ledger: Ledger) -> None:
    new_batch(ledger, 2, name="same")
    with pytest.raises(LedgerConflict, match="same"):
        new_batch(ledger, 2, name="same", first=10)
    assert ledger.batch("same").job_count == 2
    assert len(ledger.batches()) == 1


def test_the_same_key_twice_in_one_batch_is_refused_before_writing(ledger: Ledger) -> None:
    jobs = make_jobs(2)
    with pytest.raises(LedgerConflict, match=r"m\.yaml:2"):
        ledger.create_batch("dup", [*jobs, jobs[0]], [Decimal(1)] * 3, manifest=None)
    with pytest.raises(LedgerNotFound):
        ledger.batch("dup")


def test_one_estimate_per_job(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="2 jobs but 1"):
        ledger.create_batch("x", make_jobs(2), [Decimal(1)], manifest=None)


def test_an_empty_batch_is_allowed(ledger: Ledger) -> None:
    batch = ledger.create_batch("empty", [], [], manifest=None)
    assert batch.job_count == 0
    assert ledger.jobs(batch.id) == []
    assert ledger.unfinished(batch.id) == 0


def test_missing_batches_and_jobs_raise_not_found(ledger: Ledger) -> None:
    with pytest.raises(LedgerNotFound):
        ledger.batch(999)
    with pytest.raises(LedgerNotFound):
        ledger.batch("nope")
    with pytest.raises(LedgerNotFound):
        ledger.job(999)
    with pytest.raises(LookupError):  # callers may catch the builtin
        ledger.job(998)


def test_batches_newest_first_with_limit_and_state(ledger: Ledger) -> None:
    ids = [new_batch(ledger, 1, name=f"b{i}", first=i).id for i in range(4)]
    assert ledger.set_batch_state(ids[1], BatchState.RUNNING, BatchState.PAUSED)
    assert [b.id for b in ledger.batches()] == ids[::-1]
    assert [b.id for b in ledger.batches(limit=2)] == ids[:1:-1]
    assert [b.id for b in ledger.batches(states=[BatchState.PAUSED])] == [ids[1]]


def test_batch_state_is_compare_and_set(ledger: Ledger, clock: FakeClock) -> None:
    batch = new_batch(ledger, 1)
    assert not ledger.set_batch_state(batch.id, BatchState.PAUSED, BatchState.RUNNING)
    assert ledger.set_batch_state(batch.id, BatchState.RUNNING, BatchState.CANCELLING)
    assert not ledger.set_batch_state(batch.id, BatchState.RUNNING, BatchState.PAUSED)
    clock.advance(minutes=5)
    assert ledger.set_batch_state(
        batch.id, {BatchState.RUNNING, BatchState.CANCELLING}, BatchState.CANCELLED
    )
    done = ledger.batch(batch.id)
    assert done.state is BatchState.CANCELLED
    assert done.finished_at == done.updated_at == clock()
    # Resumed: no longer finished.
    assert ledger.set_batch_state(batch.id, BatchState.CANCELLED, BatchState.RUNNING)
    assert ledger.batch(batch.id).finished_at is None
    with pytest.raises(LedgerNotFound):
        ledger.set_batch_state(999, BatchState.RUNNING, BatchState.PAUSED)


def test_jobs_filter_by_state_and_page_by_id(ledger: Ledger) -> None:
    batch = new_batch(ledger, 7)
    other = new_batch(ledger, 2, name="other", first=100)
    ids = ledger.job_ids(batch.id)
    assert len(ids) == 7
    assert ids == sorted(ids)
    for job_id in ids[:3]:
        assert ledger.transition(job_id, JobState.PENDING, JobState.SUBMITTING)
    assert ledger.job_ids(batch.id, [JobState.SUBMITTING]) == ids[:3]
    assert [j.id for j in ledger.jobs(batch.id, [JobState.PENDING])] == ids[3:]
    assert ledger.jobs(batch.id, []) == []
    pages: list[list[int]] = []
    after = None
    while page := ledger.jobs(batch.id, limit=3, after_id=after):
        pages.append([j.id for j in page])
        after = page[-1].id
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    assert not set(ledger.job_ids(other.id)) & set(ids)


def test_a_large_batch_is_inserted_in_chunks_in_order(ledger: Ledger) -> None:
    n = 5_003  # crosses one insert chunk
    batch = ledger.create_batch("large", make_jobs(n), [Decimal("0.1")] * n, manifest="big.csv")
    ids = ledger.job_ids(batch.id)
    assert len(ids) == n == batch.job_count
    assert ledger.job(ids[-1]).row_id == f"row-{n - 1}"
    assert ledger.totals(batch.id).estimated_credits == Decimal("500.3")


def test_job_by_provider_task_id(ledger: Ledger) -> None:
    batch = new_batch(ledger, 2)
    first, _second = ledger.job_ids(batch.id)
    assert ledger.transition(first, JobState.PENDING, JobState.SUBMITTING)
    assert ledger.transition(
        first, JobState.SUBMITTING, JobState.SUBMITTED, provider_task_id="8123"
    )
    found = ledger.job_by_task_id("8123")
    assert found is not None
    assert found.id == first
    assert ledger.job_by_task_id("999") is None


def test_a_job_is_read_with_its_batch_in_one_go(ledger: Ledger) -> None:
    first = new_batch(ledger, 2)
    second = new_batch(ledger, 1, name="second", first=50)
    assert ledger.set_batch_state(second.id, BatchState.RUNNING, BatchState.PAUSED)
    [job_id] = ledger.job_ids(second.id)
    job, batch = ledger.job_and_batch(job_id)
    assert job == ledger.job(job_id)
    assert batch == ledger.batch(second.id) != ledger.batch(first.id)
    assert batch.state is BatchState.PAUSED
    with pytest.raises(LedgerNotFound, match="no job 999"):
        ledger.job_and_batch(999)


def test_names_read_id_batch_and_key_of_the_jobs_asked_for(ledger: Ledger) -> None:
    batch = new_batch(ledger, 4)
    jobs = ledger.jobs(batch.id)
    wanted = [jobs[3].id, jobs[0].id, 10_000]  # an unknown id is simply not named
    names = ledger.names(wanted)
    assert [(n.id, n.batch_id, n.key) for n in names] == [
        (j.id, batch.id, j.key) for j in (jobs[0], jobs[3])
    ]
    assert ledger.names([]) == []
