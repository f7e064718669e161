"""End to end with real processes: Redis, moto's S3 server, the simulator with faults, two submit
workers, one poll worker and one store worker, driven through the `kbatch` command line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from jobs.ledger import Ledger
from jobs.ledger.states import FINAL_STATES, BatchState, JobState
from tests.renders import write_renders
from tests.services import BIN, new_bucket
from worker.names import Queue
from worker.stack import POLL_THREADS, Stack, WorkerGroup, local_stack

pytestmark = pytest.mark.slow

FAULTS = (
    "--fail-rate", "0.1",
    "--create-5xx-rate", "0.1",
    "--query-5xx-rate", "0.1",
    "--lost-response-rate", "0.05",
    "--time-scale", "0.01",
    "--median-seconds", "60",
    "--seed", "4",
)  # fmt: skip

GROUPS = (
    WorkerGroup((Queue.SUBMIT,), processes=2),
    WorkerGroup((Queue.POLL, Queue.CONTROL), threads=POLL_THREADS),
    WorkerGroup((Queue.STORE,)),
)


def _manifest(folder: Path, n: int) -> Path:
    prompts = [f"a harbour at dawn, frame {i}" for i in range(n)]
    return write_renders(
        folder / "forty.yaml", "forty", prompts, [f"shot-{i:02d}" for i in range(n)]
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return new_bucket(s3_endpoint, ("e2e-access", "e2e-secret"), "kbatch-e2e")


@contextmanager
def _running(tmp: Path, s3_endpoint: str, bucket: str, sim_slots: int) -> Iterator[Stack]:
    env = {
        "KBATCH_STORAGE_URL": f"s3://{bucket}/renders",
        "KBATCH_S3__ENDPOINT_URL": s3_endpoint,
        "KBATCH_S3__ACCESS_KEY_ID": "e2e-access",
        "KBATCH_S3__SECRET_ACCESS_KEY": "e2e-secret",
        "KBATCH_PROVIDER__CONCURRENCY": "5",
        "KBATCH_POLL__DEFAULT_EXPECTED_S": "0.6",
        "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
        "KBATCH_RETRY__BASE_S": "0.2",
        "KBATCH_RETRY__CAP_S": "2",
        "KBATCH_TASK_EVENTS": "false",
    }
    with local_stack(
        tmp / "stack",
        sim_args=[*FAULTS, "--concurrency", str(sim_slots)],
        groups=GROUPS,
        extra_env=env,
    ) as stack:
        yield stack


def _submit(stack: Stack, manifest: Path) -> int:
    out = subprocess.run(
        [str(BIN / "kbatch"), "submit", str(manifest), "--json"],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(json.loads(out.stdout)["id"])


def _wait_final(ledger: Ledger, batch_id: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.batch(batch_id).state in (BatchState.FINISHED, BatchState.PAUSED):
            return
        time.sleep(0.2)  # polling the ledger for the outcome, bounded by the deadline
    raise AssertionError(f"batch not finished within {timeout}s: {ledger.counts(batch_id)}")


def _peak(stats: dict[str, Any]) -> int:
    """The most tasks the simulator ever had in flight for one account."""
    return max(int(n) for n in stats["max_in_flight"].values())


def _check(stack: Stack, s3_endpoint: str, bucket: str, batch_id: int) -> dict[str, Any]:
    ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
    try:
        _wait_final(ledger, batch_id)
        jobs = ledger.jobs(batch_id)
        assert len(jobs) == 40
        assert all(j.state in FINAL_STATES for j in jobs), ledger.counts(batch_id)
        assert ledger.batch(batch_id).state is BatchState.FINISHED
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="e2e-access",
            aws_secret_access_key="e2e-secret",
        )
        stored = [j for j in jobs if j.state is JobState.STORED]
        failed = [j for j in jobs if j.state is JobState.FAILED]
        assert len(stored) + len(failed) == 40
        for job in stored:
            assert job.object_url
            assert job.object_url.startswith(f"s3://{bucket}/renders/")
            key = job.object_url.removeprefix(f"s3://{bucket}/")
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == job.sha256
        # Failures are the simulator's generation failures, never kbatch giving up on a 1303.
        for job in failed:
            assert job.provider_task_id is not None, job.error
        stats = stack.sim.stats()
        assert stats["duplicate_creates"] == 0
        assert ledger.totals(batch_id).charged_units == Decimal(str(stats["units_charged"]))
        return stats
    finally:
        ledger.close()


def test_kbatch_limit_holds_below_the_providers(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    with _running(tmp_path, s3_endpoint, bucket, sim_slots=10) as stack:
        batch_id = _submit(stack, _manifest(tmp_path, 40))
        stats = _check(stack, s3_endpoint, bucket, batch_id)
        assert _peak(stats) <= 5
        assert stats["creates_refused"] == 0


def test_a_provider_limit_below_kbatchs_is_met_by_adapting(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    with _running(tmp_path, s3_endpoint, bucket, sim_slots=3) as stack:
        batch_id = _submit(stack, _manifest(tmp_path, 40))
        stats = _check(stack, s3_endpoint, bucket, batch_id)
        assert stats["creates_refused"] > 0  # the account really was shared
        assert _peak(stats) <= 3
