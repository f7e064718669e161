"""Compare-and-set under real concurrency: racers on one job, exactly one wins, one event."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jobs.ledger import JobState, Ledger
from tests.ledger import racers
from tests.ledger.conftest import new_batch

S = JobState
JOBS = 15


def test_threads_racing_on_each_job_have_exactly_one_winner(
    ledger: Ledger, ledger_url: str
) -> None:
    batch = new_batch(ledger, JOBS)
    ids = ledger.job_ids(batch.id)
    n = 8
    barrier = threading.Barrier(n, timeout=60)
    lock = threading.Lock()
    wins: Counter[int] = Counter()
    own = [Ledger.open(ledger_url, upgrade=False) for _ in range(n // 2)]

    def racer(i: int) -> None:
        # Half the racers share the test's ledger (one pool), half have an engine of their own.
        mine = own[i // 2] if i % 2 else ledger
        for job_id in ids:
            barrier.wait()
            if mine.transition(job_id, S.PENDING, S.SUBMITTING, detail=f"racer {i}"):
                with lock:
                    wins[job_id] += 1

    try:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(racer, range(n)))
    finally:
        for extra in own:
            extra.close()
    assert wins == dict.fromkeys(ids, 1)
    for job_id in ids:
        [event] = ledger.events(job_id)
        assert (event.from_state, event.to_state) == (S.PENDING, S.SUBMITTING)
        assert ledger.job(job_id).state is S.SUBMITTING


def test_racers_wanting_different_outcomes_leave_exactly_one(ledger: Ledger) -> None:
    batch = new_batch(ledger, JOBS)
    ids = ledger.job_ids(batch.id)
    for job_id in ids:
        assert ledger.transition(job_id, S.PENDING, S.SUBMITTING)
    targets = [S.SUBMITTED, S.PENDING, S.PAUSED, S.FAILED, S.REVIEW]
    barrier = threading.Barrier(len(targets), timeout=60)
    lock = threading.Lock()
    winners: dict[int, list[JobState]] = {job_id: [] for job_id in ids}

    def racer(target: JobState) -> None:
        for job_id in ids:
            barrier.wait()
            if ledger.transition(job_id, S.SUBMITTING, target, provider_task_id=target.value):
                with lock:
                    winners[job_id].append(target)

    with ThreadPoolExecutor(len(targets)) as pool:
        list(pool.map(racer, targets))
    for job_id, won in winners.items():
        assert len(won) == 1, won
        job = ledger.job(job_id)
        assert job.state is won[0]
        assert job.provider_task_id == won[0].value  # the winner's fields, nobody else's
        events = ledger.events(job_id)
        assert [e.to_state for e in events] == [S.SUBMITTING, won[0]]


def test_processes_racing_on_each_job_have_exactly_one_winner(
    ledger: Ledger, ledger_url: str
) -> None:
    batch = new_batch(ledger, JOBS)
    ids = ledger.job_ids(batch.id)
    n = 4
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n, timeout=120)
    results: Any = ctx.Queue()
    procs = [
        ctx.Process(target=racers.race_transitions, args=(ledger_url, ids, barrier, results))
        for _ in range(n)
    ]
    for proc in procs:
        proc.start()
    try:
        outcomes = [results.get(timeout=180) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        results.close()
        results.join_thread()
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert not errors, errors[0]
    wins = Counter(job_id for _status, won in outcomes for job_id in won)
    assert wins == dict.fromkeys(ids, 1)
    for job_id in ids:
        assert len(ledger.events(job_id)) == 1
    assert all(proc.exitcode == 0 for proc in procs)
