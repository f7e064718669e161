"""Budgets: reservations never take a batch or a day past its cap, even with racing workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from jobs.ledger import JobState, Ledger
from tests.ledger.conftest import FakeClock, make_jobs


def _batch(ledger: Ledger, n: int, budget: Decimal | None, name: str = "b") -> list[int]:
    batch = ledger.create_batch(
        name, make_jobs(n), [Decimal(7)] * n, manifest=None, budget_credits=budget
    )
    return ledger.job_ids(batch.id)


def test_racing_reservations_never_exceed_the_batch_budget(ledger: Ledger) -> None:
    ids = _batch(ledger, 40, Decimal(100))
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda j: ledger.reserve_credits(j, Decimal(7)), ids))
    assert sum(won) == 14  # 14 * 7 = 98 <= 100 < 105
    batch = ledger.batch(ledger.job(ids[0]).batch_id)
    assert batch.committed_credits == Decimal(98)
    reserved = [ledger.job(j).reserved_credits for j in ids]
    assert sum(reserved) == Decimal(98)


def test_a_reservation_is_idempotent_and_settles_exactly_once(ledger: Ledger) -> None:
    (job_id,) = _batch(ledger, 1, Decimal(10))
    assert ledger.reserve_credits(job_id, Decimal(7))
    assert ledger.reserve_credits(job_id, Decimal(7))  # a redelivered submit
    assert ledger.batch(ledger.job(job_id).batch_id).committed_credits == Decimal(7)
    # The render failed: nothing charged, so the reservation goes back.
    assert ledger.transition(job_id, JobState.PENDING, JobState.FAILED, charged_credits=Decimal(0))
    assert ledger.settle_credits(job_id) == Decimal(-7)
    assert ledger.settle_credits(job_id) == Decimal(0)
    assert ledger.batch(ledger.job(job_id).batch_id).committed_credits == Decimal(0)


def test_a_charge_replaces_the_reservation(ledger: Ledger) -> None:
    (job_id,) = _batch(ledger, 1, None)
    assert ledger.reserve_credits(job_id, Decimal(7))
    assert ledger.transition(job_id, JobState.PENDING, JobState.SUBMITTING)
    assert ledger.transition(job_id, JobState.SUBMITTING, JobState.SUBMITTED, provider_task_id="t")
    assert ledger.transition(
        job_id, JobState.SUBMITTED, JobState.DOWNLOADING, charged_credits=Decimal("6.5")
    )
    assert ledger.settle_credits(job_id) == Decimal("-0.5")
    assert ledger.batch(ledger.job(job_id).batch_id).committed_credits == Decimal("6.5")


def test_the_daily_cap_spans_batches_and_resets_the_next_day(
    ledger: Ledger, clock: FakeClock
) -> None:
    first = _batch(ledger, 3, None, name="a")
    second = _batch(ledger, 3, None, name="b")
    cap = Decimal(20)
    assert [ledger.reserve_credits(j, Decimal(7), daily_cap=cap) for j in first] == [
        True,
        True,
        False,
    ]
    assert not ledger.reserve_credits(second[0], Decimal(7), daily_cap=cap)
    assert ledger.committed_today() == Decimal(14)
    # A refused reservation changed nothing, not even the batch's own total.
    assert ledger.batch(ledger.job(second[0]).batch_id).committed_credits == Decimal(0)
    clock.advance(days=1)
    assert ledger.reserve_credits(second[0], Decimal(7), daily_cap=cap)
    assert ledger.committed_today() == Decimal(7)
