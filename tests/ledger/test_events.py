"""The event log: ordered, append-only (enforced by the database), with JSON details."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
import sqlalchemy as sa

from jobs.ledger import JobState, Ledger
from tests.ledger.conftest import FakeClock, new_batch

S = JobState


def test_events_are_appended_in_order(ledger: Ledger, clock: FakeClock) -> None:
    batch = new_batch(ledger, 2)
    job_id, other = ledger.job_ids(batch.id)
    steps = [(S.PENDING, S.SUBMITTING), (S.SUBMITTING, S.SUBMITTED), (S.SUBMITTED, S.PROCESSING)]
    seen = []
    for a, b in steps:
        clock.advance(seconds=1)
        assert ledger.transition(job_id, a, b)
        ledger.record_event(other, "poll", {"status": "processing"})
        seen.append(ledger.events(job_id))
    events = seen[-1]
    assert [(e.from_state, e.to_state) for e in events] == steps
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    # Each read is a prefix of the next: nothing is ever rewritten or dropped.
    for shorter, longer in itertools.pairwise(seen):
        assert longer[: len(shorter)] == shorter
    assert all(e.job_id == job_id for e in events)
    assert len(ledger.events(other)) == 3


def test_notes_carry_their_detail_and_the_current_attempt(ledger: Ledger, clock: FakeClock) -> None:
    batch = new_batch(ledger, 1)
    [job_id] = ledger.job_ids(batch.id)
    ledger.record_event(job_id, "lookup", "found by external id")
    ledger.record_event(
        job_id, "poll", {"status": "processing", "units": Decimal("3.6"), "at": clock()}
    )
    ledger.record_event(job_id, "callback")
    assert ledger.transition(job_id, S.PENDING, S.FAILED)
    assert ledger.new_attempt(job_id)
    ledger.record_event(job_id, "poll", {"n": 1})
    events = ledger.events(job_id)
    notes = [(e.kind, e.from_state, e.to_state, e.attempt, e.detail) for e in events]
    assert notes == [
        ("lookup", None, None, 1, {"message": "found by external id"}),
        (
            "poll",
            None,
            None,
            1,
            {"status": "processing", "units": "3.6", "at": "2026-03-01T23:00:00Z"},
        ),
        ("callback", None, None, 1, None),
        ("transition", S.PENDING, S.FAILED, 1, None),
        ("retry", S.FAILED, S.PENDING, 2, {"external_id": ledger.job(job_id).external_id}),
        ("poll", None, None, 2, {"n": 1}),
    ]


def test_an_event_kind_is_short_text(ledger: Ledger) -> None:
    batch = new_batch(ledger, 1)
    [job_id] = ledger.job_ids(batch.id)
    for bad in ("", "k" * 33):
        with pytest.raises(ValueError, match="kind"):
            ledger.record_event(job_id, bad)
    assert ledger.events(job_id) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE job_events SET kind = 'forged'",
        "DELETE FROM job_events",
    ],
)
def test_the_database_refuses_to_rewrite_events(ledger: Ledger, statement: str) -> None:
    batch = new_batch(ledger, 1)
    [job_id] = ledger.job_ids(batch.id)
    assert ledger.transition(job_id, S.PENDING, S.SUBMITTING)
    before = ledger.events(job_id)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), ledger.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert ledger.events(job_id) == before
