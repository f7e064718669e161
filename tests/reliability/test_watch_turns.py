"""Watch turns in a real threads-pool worker: one message stays for many looks, and a worker
stopped in the middle of a turn stops at once and leaves the next look waiting in Redis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from jobs.ledger import Ledger
from jobs.ledger.states import JobState
from ops.bench.figures import status_requests
from tests.reliability.runs import FAST_ENV, submit, wait_final, wait_for, write_manifest
from tests.services import queued_tasks
from worker.names import Queue, Task
from worker.stack import (
    POLL_THREADS,
    Stack,
    WorkerGroup,
    local_stack,
    start_worker,
    worker_stats,
)

pytestmark = pytest.mark.slow

# Renders of about 20 s of wall time (100 simulated seconds at 0.2), looked at every 0.4 s.
SIM = (
    "--time-scale", "0.2",
    "--median-seconds", "100",
    "--spread", "0.1",
    "--concurrency", "5",
    "--seed", "7",
)  # fmt: skip
ENV = {**FAST_ENV, "KBATCH_POLL__DEFAULT_EXPECTED_S": "5", "KBATCH_POLL__MIN_INTERVAL_S": "0.2"}
POLL_GROUP = WorkerGroup((Queue.POLL, Queue.CONTROL), threads=POLL_THREADS)
GROUPS = (WorkerGroup((Queue.SUBMIT,)), POLL_GROUP, WorkerGroup((Queue.STORE,)))


def _watch_executions(stack: Stack) -> int:
    """Watch tasks the poll worker has started, by its own count (`celery inspect stats`)."""
    stats = worker_stats(stack.redis_url)
    poll = [s for name, s in stats.items() if name.startswith(POLL_GROUP.label())]
    assert len(poll) == 1, f"the poll worker did not answer: {sorted(stats)}"
    return int(poll[0]["total"].get(Task.WATCH.value, 0))


def _queued(stack: Stack, queue: Queue) -> list[str]:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        return queued_tasks(client, queue.value)
    finally:
        client.close()


def test_a_turn_stays_for_many_looks_and_hands_over_when_its_worker_stops(
    tmp_path: Path,
) -> None:
    with local_stack(tmp_path / "stack", sim_args=SIM, groups=GROUPS, extra_env=ENV) as stack:
        ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
        try:
            batch_id = submit(stack.env, write_manifest(tmp_path, 3, "turns"))
            wait_for(lambda: status_requests(stack.sim.stats()) >= 8, "eight looks", 30)
            # One message (two at most, if a submit scheduled the first look while another
            # turn was starting) made every one of those looks.
            assert _watch_executions(stack) <= 2
            assert set(j.state for j in ledger.jobs(batch_id)) <= {
                JobState.SUBMITTED,
                JobState.PROCESSING,
            }

            # A warm shutdown mid-turn: the turn hears it within a look's interval and hands
            # the next look to a message, far sooner than its renders (20 s) or turn (60 s) end.
            poll_worker = stack.workers[1]
            asked = time.monotonic()
            poll_worker.terminate()
            poll_worker.wait(timeout=15)
            assert time.monotonic() - asked < 8
            assert Task.WATCH.value in _queued(stack, Queue.POLL)

            # The next poll worker takes that message and the batch ends without help.
            stack.workers[1] = start_worker(POLL_GROUP, 1, stack.env, stack.logs or tmp_path)
            wait_final(ledger, batch_id)
            assert {j.state for j in ledger.jobs(batch_id)} == {JobState.STORED}
            assert stack.sim.stats()["duplicate_creates"] == 0
        finally:
            ledger.close()
