"""Redis restarted empty, or flushed, in the middle of a batch: `kbatch resume` finishes it.

Everything Redis held is gone at once: queued and unacknowledged task messages, the slot pool,
the wait list, the schedule marks and timing hints. The ledger still knows every job's state, so
resume rebuilds the work from it: waiting jobs go back to the wait list, jobs whose create may
have been sent are looked up by external id, created ones are watched again, and downloads are
redone. Nothing is created twice and nothing is lost.

With Celery 5.7.0 a worker that holds an unacknowledged message (any countdown, any task running)
when the broker connection drops dies with "Unrecoverable error" while closing that connection.
Deployments restart such a worker (compose: `restart: unless-stopped`), and so does the
supervisor here; `test_no_worker_dies_when_redis_restarts` holds the defect itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from celery import Celery

from jobs.ledger import Ledger
from jobs.ledger.states import IN_FLIGHT_STATES, BatchState, JobState
from ops.chaos import Supervisor
from tests.reliability.redis_server import RedisServer
from tests.reliability.runs import (
    FAST_ENV,
    ObjectReader,
    check_charges,
    check_ended,
    check_stored,
    kbatch,
    slots_in_use,
    submit,
    wait_final,
    wait_for,
    write_manifest,
)
from worker.stack import DEFAULT_GROUPS, Stack, local_stack

pytestmark = pytest.mark.slow

JOBS = 30
SIM = ("--time-scale", "0.02", "--median-seconds", "60", "--concurrency", "5", "--seed", "31")
ENV = FAST_ENV


def _lose_everything(server: RedisServer, loss: str) -> None:
    if loss == "restart":
        server.restart()
    else:
        client = server.client()
        client.flushall()  # this test's own private server
        client.close()


@pytest.mark.parametrize("loss", ["restart", "flush"])
def test_resume_finishes_a_batch_after_redis_lost_everything(tmp_path: Path, loss: str) -> None:
    with (
        RedisServer(tmp_path) as server,
        local_stack(tmp_path / "stack", sim_args=SIM, redis_url=server.url, extra_env=ENV) as stack,
        Supervisor(stack, DEFAULT_GROUPS) as supervisor,
    ):
        ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
        try:
            _lose_redis_midway(tmp_path, stack, server, ledger, loss)
        finally:
            ledger.close()
    print(f"workers that exited by themselves: {supervisor.exits}")


def _lose_redis_midway(
    tmp_path: Path, stack: Stack, server: RedisServer, ledger: Ledger, loss: str
) -> None:
    batch_id = submit(stack.env, write_manifest(tmp_path, JOBS, f"redis-{loss}"))

    def midway() -> bool:
        counts = ledger.counts(batch_id)
        return counts[JobState.STORED] >= 5 and counts[JobState.PENDING] >= 5

    wait_for(midway, "a batch half done", 60)
    _lose_everything(server, loss)
    before = ledger.counts(batch_id)
    # Jobs were waiting in a wait list that no longer exists.
    assert before[JobState.PENDING] > 0
    kbatch(stack.env, "resume", str(batch_id))
    wait_final(ledger, batch_id)

    assert check_ended(ledger, batch_id, JOBS) == {JobState.STORED: JOBS}
    assert ledger.batch(batch_id).state is BatchState.FINISHED
    stats = stack.sim.stats()
    assert stats["creates_accepted"] == JOBS
    assert stats["duplicate_creates"] == 0
    assert stats["in_flight"] == {"default": 0}
    assert max(stats["max_in_flight"].values()) <= 5
    wait_for(lambda: slots_in_use(stack.redis_url) == 0, "every slot's release", 100)
    check_charges(ledger, batch_id, stats)
    check_stored(ledger, batch_id, ObjectReader())
    lost_at = {s.value: n for s, n in before.items() if n}
    in_flight = sum(before[s] for s in IN_FLIGHT_STATES)
    print(f"\nredis {loss}: {JOBS} jobs, lost at {lost_at} ({in_flight} in flight), stored {JOBS}")


def test_no_worker_dies_when_redis_restarts(tmp_path: Path) -> None:
    with (
        RedisServer(tmp_path) as server,
        local_stack(tmp_path / "stack", sim_args=SIM, redis_url=server.url, extra_env=ENV) as stack,
    ):
        ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
        try:
            batch_id = submit(stack.env, write_manifest(tmp_path, 10, "redis-survivors"))
            wait_for(lambda: ledger.counts(batch_id)[JobState.STORED] > 0, "a stored job", 60)
        finally:
            ledger.close()
        # The control worker now holds the sweep, due in 30 s, unacknowledged.
        server.restart()
        workers = len(stack.workers)

        def settled() -> bool:
            exited = any(w.poll() is not None for w in stack.workers)
            return exited or _answering(server.url) == workers

        wait_for(settled, "every worker reconnected, or one exited", 30)
        assert [w.poll() for w in stack.workers] == [None] * workers


def _answering(broker: str) -> int:
    """How many workers answer a ping through `broker` (0 while it cannot be reached)."""
    probe = Celery("kbatch-probe", broker=broker)
    try:
        return len(probe.control.ping(timeout=0.5) or [])
    except redis.RedisError:
        return 0
    finally:
        probe.close()
