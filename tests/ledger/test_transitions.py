"""Transitions: every allowed one, illegal ones refused up front, fields, retries, bookkeeping."""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from jobs.ledger import (
    IllegalTransition,
    JobRecord,
    JobState,
    Ledger,
    LedgerNotFound,
    Move,
    external_id,
)
from jobs.ledger.database import create_ledger_engine
from jobs.ledger.states import FINAL_STATES, TRANSITIONS
from tests import services
from tests.ledger.conftest import FakeClock, new_batch

S = JobState
ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a in S for b in S if b not in TRANSITIONS[a]]


def path_to(state: JobState) -> list[JobState]:
    """The shortest walk from PENDING to `state` that never retries (BFS over TRANSITIONS)."""
    came: dict[JobState, JobState | None] = {S.PENDING: None}
    todo = deque([S.PENDING])
    while todo:
        current = todo.popleft()
        for nxt in sorted(TRANSITIONS[current]):
            if nxt not in came:
                came[nxt] = current
                todo.append(nxt)
    walk = [state]
    while (prev := came[walk[-1]]) is not None:
        walk.append(prev)
    return walk[::-1]


def job_in(ledger: Ledger, state: JobState) -> JobRecord:
    batch = new_batch(ledger, 1, name=f"to-{state.value}-{uuid.uuid4().hex[:8]}")
    [job_id] = ledger.job_ids(batch.id)
    walk = path_to(state)
    for a, b in itertools.pairwise(walk):
        assert ledger.transition(job_id, a, b)
    job = ledger.job(job_id)
    assert job.state is state
    return job


def test_every_state_is_reachable_without_a_retry() -> None:
    assert {path_to(s)[-1] for s in S} == set(S)


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=lambda s: s.value)
def test_every_allowed_transition(
    shared_ledger: Ledger, module_clock: FakeClock, source: JobState, target: JobState
) -> None:
    ledger, clock = shared_ledger, module_clock
    job = job_in(ledger, source)
    before = ledger.events(job.id)
    clock.advance(seconds=30)

    assert ledger.transition(job.id, source, target, detail="why not")

    after = ledger.job(job.id)
    assert after.state is target
    assert after.previous_state is source
    assert after.updated_at == clock()
    events = ledger.events(job.id)
    assert events[: len(before)] == before  # nothing rewritten
    [event] = events[len(before) :]
    assert (event.from_state, event.to_state, event.at) == (source, target, clock())
    assert event.detail is not None
    assert event.detail["message"] == "why not"
    if target is S.PENDING and source in FINAL_STATES:
        assert event.kind == "retry"
        assert after.attempt == event.attempt == 2
        assert (
            after.external_id
            == external_id(job.key, ledger.batch(job.batch_id).token, 2)
            != job.external_id
        )
        assert after.finished_at is None
    else:
        assert event.kind == "transition"
        assert after.attempt == event.attempt == 1
        assert after.external_id == job.external_id
        assert (after.finished_at == clock()) is (target in FINAL_STATES)
    if target is S.SUBMITTED:
        assert after.submitted_at == clock()


def test_illegal_transitions_are_refused_before_the_database_is_touched() -> None:
    # Nothing listens on this port: any query would raise OperationalError instead.
    unreachable = Ledger(create_ledger_engine(f"postgresql://u@127.0.0.1:{services.free_port()}/x"))
    try:
        for source, target in ILLEGAL:
            with pytest.raises(IllegalTransition, match=f"{source.value} cannot become"):
                unreachable.transition(1, source, target)
        with pytest.raises(IllegalTransition):  # one illegal state among the expected is enough
            unreachable.transition(1, {S.PENDING, S.STORED}, S.SUBMITTING)
    finally:
        unreachable.close()
    assert len(ILLEGAL) == len(S) ** 2 - len(ALLOWED)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.PENDING, S.STORED),
        (S.PENDING, S.PENDING),
        (S.SUBMITTED, S.PENDING),
        (S.DOWNLOADING, S.PROCESSING),
        (S.STORED, S.PENDING),
        (S.CANCELLED, S.PENDING),
        (S.REVIEW, S.DOWNLOADING),
    ],
    ids=lambda s: s.value,
)
def test_an_illegal_transition_changes_nothing(
    shared_ledger: Ledger, source: JobState, target: JobState
) -> None:
    ledger = shared_ledger
    job = job_in(ledger, source)
    events = ledger.events(job.id)
    with pytest.raises(IllegalTransition):
        ledger.transition(job.id, source, target)
    assert ledger.job(job.id) == job
    assert ledger.events(job.id) == events


def test_a_lost_compare_and_set_returns_false_and_changes_nothing(ledger: Ledger) -> None:
    job = job_in(ledger, S.SUBMITTED)
    events = ledger.events(job.id)
    assert not ledger.transition(job.id, S.PROCESSING, S.DOWNLOADING, error="stale")
    assert not ledger.transition(job.id, [S.PENDING, S.SUBMITTING], S.FAILED)
    assert ledger.job(job.id) == job
    assert ledger.events(job.id) == events


def test_several_expected_states_record_the_one_left(ledger: Ledger) -> None:
    job = job_in(ledger, S.PROCESSING)
    assert ledger.transition(job.id, {S.SUBMITTED, S.PROCESSING}, S.DOWNLOADING)
    assert ledger.events(job.id)[-1].from_state is S.PROCESSING
    assert ledger.job(job.id).previous_state is S.PROCESSING


def test_a_retry_cannot_share_a_transition_with_live_states(ledger: Ledger) -> None:
    job = job_in(ledger, S.FAILED)
    with pytest.raises(IllegalTransition, match="retry"):
        ledger.transition(job.id, {S.FAILED, S.SUBMITTING}, S.PENDING)
    assert ledger.job(job.id) == job


def test_a_transition_sets_its_fields_and_notes_them(ledger: Ledger, clock: FakeClock) -> None:
    job = job_in(ledger, S.SUBMITTING)
    assert ledger.transition(job.id, S.SUBMITTING, S.SUBMITTED, provider_task_id="86023")
    assert ledger.transition(job.id, S.SUBMITTED, S.PROCESSING)
    assert ledger.transition(
        job.id,
        S.PROCESSING,
        S.DOWNLOADING,
        result_url="https://cdn.example.com/v.mp4",
        charged_units=Decimal("3.6"),
        charged_credits=Decimal("80"),
    )
    stored_at = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=UTC)
    assert ledger.transition(
        job.id,
        S.DOWNLOADING,
        S.STORED,
        object_url="s3://videos/b/k.mp4",
        sha256="ab" * 32,
        size_bytes=5_000_000_000,
        finished_at=stored_at,
    )
    done = ledger.job(job.id)
    assert done.provider_task_id == "86023"
    assert done.result_url == "https://cdn.example.com/v.mp4"
    assert (done.charged_units, done.charged_credits) == (Decimal("3.6"), Decimal(80))
    assert (done.object_url, done.sha256, done.size_bytes) == (
        "s3://videos/b/k.mp4",
        "ab" * 32,
        5_000_000_000,
    )
    assert done.finished_at == stored_at  # given explicitly, so not the clock's
    assert done.submitted_at == clock()
    details = [e.detail for e in ledger.events(job.id)]
    assert {"provider_task_id": "86023"} in details
    assert {"charged_units": "3.6", "charged_credits": "80"} in details


def test_unknown_fields_are_refused(ledger: Ledger) -> None:
    job = job_in(ledger, S.PENDING)
    with pytest.raises(TypeError, match="state"):
        ledger.transition(job.id, S.PENDING, S.SUBMITTING, state=S.STORED)
    with pytest.raises(TypeError, match="attempt"):
        ledger.update(job.id, attempt=5)
    with pytest.raises(TypeError, match="external_id"):
        ledger.update(job.id, external_id="x")
    assert ledger.job(job.id) == job


def test_naive_times_are_refused(ledger: Ledger) -> None:
    job = job_in(ledger, S.SUBMITTING)
    with pytest.raises(ValueError, match="aware"):
        ledger.transition(job.id, S.SUBMITTING, S.SUBMITTED, submitted_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        ledger.credits(since=datetime(2026, 1, 1))
    assert ledger.job(job.id) == job


def test_new_attempt_starts_over_with_a_new_external_id(ledger: Ledger, clock: FakeClock) -> None:
    job = job_in(ledger, S.SUBMITTED)
    ledger.update(job.id, poll_count=7, reserved_credits=Decimal(40))
    assert ledger.transition(
        job.id, S.SUBMITTED, S.FAILED, error="content risk", charged_credits=Decimal(0)
    )
    clock.advance(hours=1)
    assert ledger.new_attempt(job.id, detail="operator retry")
    second = ledger.job(job.id)
    assert second.state is S.PENDING
    assert second.attempt == 2
    assert second.external_id == external_id(job.key, ledger.batch(job.batch_id).token, 2)
    for name in ("provider_task_id", "error", "charged_credits", "submitted_at", "finished_at"):
        assert getattr(second, name) is None, name
    assert (second.poll_count, second.reserved_credits) == (0, Decimal(0))
    retry = ledger.events(job.id)[-1]
    assert (retry.kind, retry.from_state, retry.to_state, retry.attempt) == (
        "retry",
        S.FAILED,
        S.PENDING,
        2,
    )
    assert retry.detail == {"message": "operator retry", "external_id": second.external_id}
    # The failed attempt stays in the log.
    assert any(
        e.detail == {"error": "content risk", "charged_credits": "0"} for e in ledger.events(job.id)
    )

    assert not ledger.new_attempt(job.id)  # pending: nothing to retry
    assert ledger.transition(job.id, S.PENDING, S.SKIPPED_BUDGET)
    assert ledger.new_attempt(job.id)
    third = ledger.job(job.id)
    assert third.attempt == 3
    assert len({job.external_id, second.external_id, third.external_id}) == 3
    assert ledger.job_by_external_id(job.external_id) is None
    assert ledger.job_by_external_id(third.external_id) == third


def test_update_sets_bookkeeping_without_an_event(ledger: Ledger, clock: FakeClock) -> None:
    job = job_in(ledger, S.PROCESSING)
    events = ledger.events(job.id)
    clock.advance(seconds=5)
    ledger.update(job.id, poll_count=3, reserved_credits=Decimal("40.5"))
    ledger.update(job.id)  # nothing to set
    after = ledger.job(job.id)
    assert (after.poll_count, after.reserved_credits, after.updated_at) == (
        3,
        Decimal("40.5"),
        clock(),
    )
    assert after.state is S.PROCESSING
    assert ledger.events(job.id) == events


def test_missing_jobs_raise_not_found(ledger: Ledger) -> None:
    with pytest.raises(LedgerNotFound):
        ledger.transition(12345, S.PENDING, S.SUBMITTING)
    with pytest.raises(LedgerNotFound):
        ledger.update(12345, poll_count=1)
    with pytest.raises(LedgerNotFound):
        ledger.new_attempt(12345)
    with pytest.raises(LedgerNotFound):
        ledger.record_event(12345, "poll", None)


def test_many_transitions_in_one_call_each_compare_and_set(ledger: Ledger) -> None:
    batch = new_batch(ledger, 3)
    a, b, c = ledger.jobs(batch.id)
    assert ledger.transition(b.id, S.PENDING, S.SUBMITTING)  # b is no longer pending

    moved = ledger.transition_many(
        [
            Move(a.id, S.PENDING, S.SUBMITTING, "first", {"error": "noted"}),
            Move(b.id, S.PENDING, S.SUBMITTING),  # loses: b moved on already
            Move(c.id, (S.PENDING, S.PAUSED), S.CANCELLED),
        ]
    )
    assert moved == [True, False, True]
    assert (ledger.job(a.id).state, ledger.job(a.id).error) == (S.SUBMITTING, "noted")
    assert ledger.job(c.id).state is S.CANCELLED
    assert ledger.job(c.id).finished_at is not None
    assert [e.to_state for e in ledger.events(a.id)][-1] is S.SUBMITTING
    assert len(ledger.events(b.id)) == len(ledger.events(a.id))  # no event for the lost move
    assert ledger.transition_many([]) == []


def test_many_transitions_refuse_an_illegal_one_before_writing_any(ledger: Ledger) -> None:
    batch = new_batch(ledger, 2)
    a, b = ledger.jobs(batch.id)
    with pytest.raises(IllegalTransition):
        ledger.transition_many(
            [Move(a.id, S.PENDING, S.SUBMITTING), Move(b.id, S.PENDING, S.STORED)]
        )
    assert ledger.job(a.id).state is S.PENDING
    with pytest.raises(LedgerNotFound):
        ledger.transition_many(
            [Move(a.id, S.PENDING, S.SUBMITTING), Move(10_000, S.PENDING, S.SUBMITTING)]
        )
