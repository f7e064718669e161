"""A 100-job batch while worker processes are SIGKILLed and restarted, against a faulty provider.

The simulator answers some creates and queries with 500s, drops some connections without an
answer, and loses the response of some creates it has made. Meanwhile a seeded controller kills
a random worker every one to two seconds and starts it again. A killed worker's message was
acknowledged late, so Redis holds it for the visibility timeout (hours); the operator's recovery
is `kbatch resume`, which rebuilds every unfinished job's next step from the ledger. After it:
every job is final, nothing was created twice, no slot is left taken, the ledger's charges are
the provider's, and every stored object hashes to what the ledger recorded.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.ledger import Ledger
from jobs.ledger.states import BatchState, JobState
from ops.chaos import WorkerKiller
from tests.reliability.runs import (
    ObjectReader,
    check_charges,
    check_ended,
    check_stored,
    errors_logged,
    kbatch,
    slots_in_use,
    submit,
    wait_final,
    wait_for,
    write_manifest,
)
from tests.services import new_bucket
from worker.names import Queue
from worker.stack import POLL_THREADS, WorkerGroup, local_stack

pytestmark = pytest.mark.slow

JOBS = 100
SEED = 20250
S3_KEYS = ("chaos-access", "chaos-secret")
FAULTS = (
    "--create-5xx-rate", "0.05",
    "--query-5xx-rate", "0.05",
    "--drop-rate", "0.03",
    # One create in ten: of the ~100 creates of a run, some are lost in every run (at 0.05 a run
    # met none about one time in 150, and the check below that they happened failed it).
    "--lost-response-rate", "0.1",
    "--fail-rate", "0.03",
    "--time-scale", "0.02",
    "--median-seconds", "60",
    "--concurrency", "10",
    "--seed", str(SEED),
)  # fmt: skip
GROUPS = (
    WorkerGroup((Queue.SUBMIT,), processes=2),
    WorkerGroup((Queue.POLL, Queue.CONTROL), processes=2, threads=POLL_THREADS),
    WorkerGroup((Queue.STORE,), processes=2),
)
CHAOS_S = 25.0


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return new_bucket(s3_endpoint, S3_KEYS, "kbatch-chaos")


def test_a_batch_survives_workers_killed_mid_task(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    env = {
        "KBATCH_STORAGE_URL": f"s3://{bucket}/chaos",
        "KBATCH_S3__ENDPOINT_URL": s3_endpoint,
        "KBATCH_S3__ACCESS_KEY_ID": S3_KEYS[0],
        "KBATCH_S3__SECRET_ACCESS_KEY": S3_KEYS[1],
        "KBATCH_PROVIDER__CONCURRENCY": "8",
        "KBATCH_POLL__DEFAULT_EXPECTED_S": "1.2",
        "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
        "KBATCH_RETRY__BASE_S": "0.2",
        "KBATCH_RETRY__CAP_S": "2",
        "KBATCH_TASK_EVENTS": "false",
    }
    with local_stack(tmp_path / "stack", sim_args=FAULTS, groups=GROUPS, extra_env=env) as stack:
        ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
        try:
            batch_id = submit(stack.env, write_manifest(tmp_path, JOBS, "chaos"))
            started = time.monotonic()
            with WorkerKiller(stack, GROUPS, seed=SEED, every=(1.0, 2.0)) as killer:
                wait_for(
                    lambda: (
                        time.monotonic() - started > CHAOS_S or ledger.unfinished(batch_id) == 0
                    ),
                    "the chaos period",
                    CHAOS_S + 10,
                )
            kills = killer.kills
            assert len(kills) >= 5, kills
            # Messages the killed workers held are in Redis's unacked set for hours: the ledger
            # knows where every job is, and resume sends each one its next step again.
            left = ledger.unfinished(batch_id)
            resumed = kbatch(stack.env, "resume", str(batch_id)).stdout.strip()
            wait_final(ledger, batch_id)

            counts = check_ended(ledger, batch_id, JOBS)
            assert ledger.batch(batch_id).state is BatchState.FINISHED
            stats = stack.sim.stats()
            assert stats["duplicate_creates"] == 0
            # The provider frees a slot when its task ends, kbatch when the job does.
            assert stats["in_flight"] == {"default": 0}
            wait_for(lambda: slots_in_use(stack.redis_url) == 0, "every slot's release", 100)
            check_charges(ledger, batch_id, stats)
            stored = check_stored(ledger, batch_id, ObjectReader(s3_endpoint, S3_KEYS))
            # The only failures are renders the simulator failed; no job was given up on.
            failed = ledger.jobs(batch_id, [JobState.FAILED])
            assert len(failed) == stats["tasks"].get("failed", 0), [j.error for j in failed]
            assert len(stored) + len(failed) == JOBS
            # A killed worker logs nothing; any error logged is a task that failed on its own.
            assert errors_logged(stack) == []
            assert [w.poll() for w in stack.workers] == [None] * len(stack.workers)
            faults = stats["faults"]
            assert faults.get("lost_response", 0) > 0, faults
            assert faults.get("dropped", 0) > 0
            print(
                f"\nchaos: {JOBS} jobs, {len(kills)} workers killed "
                f"({', '.join(k.worker for k in kills)}), faults {faults}, "
                f"duplicates {stats['duplicate_creates']}, stored {len(stored)}, "
                f"failed by the provider {len(failed)}, lost {JOBS - sum(counts.values())}, "
                f"{time.monotonic() - started:.0f}s; {left} unfinished when the chaos stopped, "
                f"resume: {resumed}"
            )
        finally:
            ledger.close()
