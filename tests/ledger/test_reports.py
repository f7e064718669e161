"""Counts, credit totals, unfinished and in-flight jobs, stored keys and the spend report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from jobs.ledger import CreditRow, JobState, Ledger, Totals
from jobs.ledger.states import FINAL_STATES, IN_FLIGHT_STATES
from tests.ledger.conftest import FakeClock, make_jobs, new_batch

S = JobState


def drive(ledger: Ledger, job_id: int, *states: JobState, **last: Any) -> None:
    current = ledger.job(job_id).state
    for i, state in enumerate(states):
        fields = last if i == len(states) - 1 else {}
        assert ledger.transition(job_id, current, state, **fields)
        current = state


def store(ledger: Ledger, job_id: int, credits: str, units: str) -> None:
    drive(ledger, job_id, S.SUBMITTING, S.SUBMITTED, S.DOWNLOADING)
    ledger.update(job_id, charged_credits=Decimal(credits), charged_units=Decimal(units))
    drive(ledger, job_id, S.STORED)


def test_counts_have_every_state(ledger: Ledger) -> None:
    batch = new_batch(ledger, 5)
    other = new_batch(ledger, 2, name="other", first=50)
    ids = ledger.job_ids(batch.id)
    drive(ledger, ids[0], S.SUBMITTING)
    drive(ledger, ids[1], S.CANCELLED)
    drive(ledger, ids[2], S.SUBMITTING, S.REVIEW)
    counts = ledger.counts(batch.id)
    assert set(counts) == set(S)
    assert counts == {
        **dict.fromkeys(S, 0),
        S.PENDING: 2,
        S.SUBMITTING: 1,
        S.CANCELLED: 1,
        S.REVIEW: 1,
    }
    assert ledger.counts(other.id)[S.PENDING] == 2
    assert ledger.unfinished(batch.id) == 4
    assert ledger.unfinished(other.id) == 2


def test_unfinished_counts_everything_not_final(ledger: Ledger) -> None:
    batch = new_batch(ledger, 4)
    a, b, c, d = ledger.job_ids(batch.id)
    drive(ledger, a, S.SKIPPED_BUDGET)
    drive(ledger, b, S.FAILED)
    drive(ledger, c, S.PAUSED)
    assert ledger.unfinished(batch.id) == 2
    drive(ledger, c, S.CANCELLED)
    store(ledger, d, "1", "0.1")
    assert ledger.unfinished(batch.id) == 0
    assert set(ledger.counts(batch.id)) >= FINAL_STATES


def test_totals_are_exact_decimal_sums(ledger: Ledger) -> None:
    n = 1000
    batch = ledger.create_batch("sums", make_jobs(n), [Decimal("0.1")] * n, manifest=None)
    ids = ledger.job_ids(batch.id)
    for job_id in ids[:7]:
        store(ledger, job_id, "0.3", "0.6")
    assert ledger.totals(batch.id) == Totals(
        estimated_credits=Decimal("100.0000"),
        charged_credits=Decimal("2.1000"),
        charged_units=Decimal("4.2000"),
        jobs=n,
    )
    empty = ledger.create_batch("none", [], [], manifest=None)
    assert ledger.totals(empty.id) == Totals(Decimal(0), Decimal(0), Decimal(0), 0)


def test_totals_keep_four_places_on_large_sums(ledger: Ledger) -> None:
    estimates = [Decimal("12345678.1234"), Decimal("0.0001"), Decimal("9999999999.9999")]
    batch = ledger.create_batch("big", make_jobs(3), estimates, manifest=None)
    total = ledger.totals(batch.id).estimated_credits
    assert total == sum(estimates)
    assert str(total) == "10012345678.1234"


def test_in_flight_spans_batches_and_filters_by_dialect(ledger: Ledger) -> None:
    kling = new_batch(ledger, 4, dialect="kling")
    guide = new_batch(ledger, 2, name="guide", dialect="guide", first=10)
    k = ledger.job_ids(kling.id)
    g = ledger.job_ids(guide.id)
    drive(ledger, k[0], S.SUBMITTING)
    drive(ledger, k[1], S.SUBMITTING, S.SUBMITTED, S.PROCESSING)
    drive(ledger, k[2], S.SUBMITTING, S.SUBMITTED, S.DOWNLOADING)  # the provider's slot is free
    drive(ledger, g[0], S.SUBMITTING, S.SUBMITTED)
    assert [j.id for j in ledger.in_flight()] == [k[0], k[1], g[0]]
    assert [j.id for j in ledger.in_flight("kling")] == [k[0], k[1]]
    assert [j.id for j in ledger.in_flight("guide")] == [g[0]]
    assert ledger.in_flight("other") == []
    assert {j.state for j in ledger.in_flight()} <= IN_FLIGHT_STATES


def test_stored_keys_in_any_batch(ledger: Ledger) -> None:
    monday = new_batch(ledger, 600, name="monday", estimate=Decimal(1))
    tuesday = new_batch(ledger, 3, name="tuesday", first=1000)
    stored = ledger.jobs(monday.id)[:2] + ledger.jobs(monday.id)[-1:] + ledger.jobs(tuesday.id)[:1]
    for job in stored:
        store(ledger, job.id, "1", "0.1")
    failed = ledger.jobs(monday.id)[5]
    drive(ledger, failed.id, S.FAILED)
    every_key = [j.key for j in ledger.jobs(monday.id) + ledger.jobs(tuesday.id)]
    # More keys than one IN list holds, and one that was never seen.
    assert ledger.stored_keys([*every_key, "kbunknown"]) == {j.key for j in stored}
    assert ledger.stored_keys([]) == set()


def test_credits_by_model_day_and_batch(ledger: Ledger, clock: FakeClock) -> None:
    first = new_batch(ledger, 3, name="first", estimate=Decimal(40))
    second = new_batch(ledger, 2, name="second", estimate=Decimal(160), model="kling-o3", first=20)
    a, b, c = ledger.job_ids(first.id)
    d, e = ledger.job_ids(second.id)
    # 2026-03-01 23:00 UTC: day one.
    store(ledger, a, "40", "0.4")
    drive(ledger, b, S.FAILED, charged_credits=Decimal(0))
    clock.advance(hours=2)  # 2026-03-02 01:00 UTC: day two
    store(ledger, d, "160", "1.6")
    store(ledger, e, "150.5", "1.5")
    drive(ledger, c, S.CANCELLED)  # never ran: not spend

    assert ledger.credits(by="model") == [
        CreditRow("kling-o3", 2, Decimal(320), Decimal("310.5"), Decimal("3.1")),
        CreditRow("kling-v3", 2, Decimal(80), Decimal(40), Decimal("0.4")),
    ]
    assert ledger.credits(by="day") == [
        CreditRow("2026-03-01", 2, Decimal(80), Decimal(40), Decimal("0.4")),
        CreditRow("2026-03-02", 2, Decimal(320), Decimal("310.5"), Decimal("3.1")),
    ]
    assert ledger.credits(by="batch") == [
        CreditRow("first", 2, Decimal(80), Decimal(40), Decimal("0.4")),
        CreditRow("second", 2, Decimal(320), Decimal("310.5"), Decimal("3.1")),
    ]
    since = datetime(2026, 3, 2, tzinfo=UTC)
    assert ledger.credits(since=since, by="batch") == [
        CreditRow("second", 2, Decimal(320), Decimal("310.5"), Decimal("3.1")),
    ]
    assert ledger.credits(since=clock().replace(hour=5)) == []


def test_watched_jobs_are_those_the_provider_renders_with_the_columns_a_look_uses(
    ledger: Ledger,
) -> None:
    kling = new_batch(ledger, 5, dialect="kling")
    guide = new_batch(ledger, 1, name="guide", dialect="guide", first=10)
    k = ledger.job_ids(kling.id)
    (g,) = ledger.job_ids(guide.id)
    drive(ledger, k[0], S.SUBMITTING)  # no task at the provider yet
    drive(ledger, k[1], S.SUBMITTING, S.SUBMITTED, provider_task_id="t-1")
    drive(ledger, k[2], S.SUBMITTING, S.SUBMITTED, provider_task_id="t-2")
    drive(ledger, k[2], S.PROCESSING)
    drive(ledger, k[3], S.SUBMITTING, S.SUBMITTED, provider_task_id="t-3")
    drive(ledger, k[3], S.DOWNLOADING)  # the render is over
    drive(ledger, g, S.SUBMITTING, S.SUBMITTED, provider_task_id="t-g")

    watched = ledger.watched()

    assert [w.id for w in watched] == [k[1], k[2], g]
    for w in watched:
        whole = ledger.job(w.id)
        assert (w.batch_id, w.key, w.state, w.spec, w.provider_task_id) == (
            whole.batch_id,
            whole.key,
            whole.state,
            whole.spec,
            whole.provider_task_id,
        )
        assert (w.submitted_at, w.reserved_credits) == (whole.submitted_at, whole.reserved_credits)
        assert w.submitted_at is not None
