"""A step may be told to wait many times; the task carrying it must never give up on its own.

With a provider request rate shared by every job, each submit that finds the rate used up is
retried when the next request may go, and all but one of the waiting submits find it used up
again: the last of N jobs waits N-1 times. Celery's own retry limit (3 unless a task says
otherwise) would fail that task on its fourth retry and leave the job stuck in `submitting`.
Steps bound their error retries themselves (`retry.max_attempts`), so the tasks have no limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.ledger import Ledger
from jobs.ledger.states import JobState
from tests.reliability.runs import check_ended, submit, wait_final, write_manifest
from worker.stack import local_stack

pytestmark = pytest.mark.slow

JOBS = 8
SIM = ("--time-scale", "0.01", "--median-seconds", "60", "--concurrency", "8", "--seed", "61")
ENV = {
    "KBATCH_PROVIDER__CONCURRENCY": "8",
    "KBATCH_PROVIDER__REQUESTS_PER_SECOND": "4",
    "KBATCH_POLL__DEFAULT_EXPECTED_S": "0.6",
    "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
    "KBATCH_TASK_EVENTS": "false",
}


def test_a_job_told_to_wait_many_times_is_not_given_up(tmp_path: Path) -> None:
    with local_stack(tmp_path / "stack", sim_args=SIM, extra_env=ENV) as stack:
        ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
        try:
            batch_id = submit(stack.env, write_manifest(tmp_path, JOBS, "waiting"))
            wait_final(ledger, batch_id, timeout=30)
            assert check_ended(ledger, batch_id, JOBS) == {JobState.STORED: JOBS}
            stats = stack.sim.stats()
            assert stats["creates_accepted"] == JOBS
            assert stats["duplicate_creates"] == 0
        finally:
            ledger.close()
