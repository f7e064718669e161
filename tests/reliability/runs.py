"""Driving a batch through a real stack and checking what it left behind.

Every batch is submitted and resumed through the `kbatch` command, as an operator would; the
checks read the ledger, the simulator's own counters, Redis's slot pool and the stored bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import redis

from jobs.ledger import JobRecord, Ledger
from jobs.ledger.states import FINAL_STATES, BatchState, JobState
from tests.renders import write_renders
from tests.services import BIN
from worker.stack import Stack
from worker.throttle import SlotPool

# Jobs a run may take to end on this 2-core machine, with every wait on a condition bounded.
FINAL_TIMEOUT_S = 90.0

# kbatch's waits scaled to a simulator at time scale 0.02 (a 60 s render takes 1.2 s of wall time).
FAST_ENV = {
    "KBATCH_PROVIDER__CONCURRENCY": "5",
    "KBATCH_POLL__DEFAULT_EXPECTED_S": "1.2",
    "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
    "KBATCH_RETRY__BASE_S": "0.2",
    "KBATCH_RETRY__CAP_S": "2",
    "KBATCH_TASK_EVENTS": "false",
}


def write_manifest(folder: Path, rows: int, name: str) -> Path:
    """A YAML manifest of `rows` distinct kling-v3 720p 5-second renders, ids `shot-NNN`."""
    prompts = [f"{name}, frame {i}" for i in range(rows)]
    ids = [f"shot-{i:03d}" for i in range(rows)]
    return write_renders(folder / f"{name}.yaml", name, prompts, ids)


def kbatch(
    env: Mapping[str, str], *args: str, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the `kbatch` command with the stack's settings."""
    return subprocess.run(
        [str(BIN / "kbatch"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def submit(env: Mapping[str, str], manifest: Path) -> int:
    out = kbatch(env, "submit", str(manifest), "--json")
    return int(json.loads(out.stdout)["id"])


def wait_for(check: Callable[[], bool], what: str, timeout: float) -> None:
    """Return once `check()` holds; fail the test naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)  # polling a real condition, bounded by the deadline
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


def wait_final(ledger: Ledger, batch_id: int, timeout: float = FINAL_TIMEOUT_S) -> None:
    def ended() -> bool:
        return ledger.batch(batch_id).state in (BatchState.FINISHED, BatchState.CANCELLED)

    try:
        wait_for(ended, f"the end of batch {batch_id}", timeout)
    except AssertionError as exc:
        counts = {s.value: n for s, n in ledger.counts(batch_id).items() if n}
        raise AssertionError(f"{exc}: {counts}") from None


def log_records(stack: Stack) -> list[dict[str, Any]]:
    """Every JSON line the stack's workers logged (Celery's start-up banner is not JSON)."""
    assert stack.logs is not None
    return [
        json.loads(line)
        for log in sorted(stack.logs.glob("worker-*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]


def errors_logged(stack: Stack) -> list[str]:
    """What the workers logged as errors: a task that failed unexpectedly, a worker crashing."""
    return [r["msg"] for r in log_records(stack) if r["level"] in ("error", "critical")]


def slots_in_use(redis_url: str, account: str = "default") -> int:
    """kbatch's own count of the account's slots in flight (the pool's live holders)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return SlotPool(client, account, limit=1).in_use()
    finally:
        client.close()


class ObjectReader:
    """Reads a stored object back by the URL the ledger recorded (file:// or s3://)."""

    def __init__(self, s3_endpoint: str | None = None, s3_keys: tuple[str, str] = ("", "")):
        self._s3: Any = None
        if s3_endpoint is not None:
            self._s3 = boto3.client(
                "s3",
                endpoint_url=s3_endpoint,
                region_name="us-east-1",
                aws_access_key_id=s3_keys[0],
                aws_secret_access_key=s3_keys[1],
            )

    def read(self, url: str) -> bytes:
        parts = urlsplit(url)
        if parts.scheme == "file":
            return Path(parts.path).read_bytes()
        if parts.scheme == "s3" and self._s3 is not None:
            body = self._s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"]
            data: bytes = body.read()
            return data
        raise AssertionError(f"cannot read back {url}")


def check_stored(ledger: Ledger, batch_id: int, reader: ObjectReader) -> list[JobRecord]:
    """Every stored job's bytes hash to the sha256 and size the ledger recorded; returns them."""
    stored = ledger.jobs(batch_id, [JobState.STORED])
    for job in stored:
        assert job.object_url, job.key
        assert job.sha256, job.key
        body = reader.read(job.object_url)
        assert hashlib.sha256(body).hexdigest() == job.sha256, job.key
        assert len(body) == job.size_bytes, job.key
    return stored


def check_ended(ledger: Ledger, batch_id: int, expected_jobs: int) -> dict[JobState, int]:
    """Every job of the batch is in a final state and none is missing; returns the counts."""
    jobs = ledger.jobs(batch_id)
    assert len(jobs) == expected_jobs
    assert all(j.state in FINAL_STATES for j in jobs), ledger.counts(batch_id)
    return {s: n for s, n in ledger.counts(batch_id).items() if n}


def check_charges(ledger: Ledger, batch_id: int, sim_stats: Mapping[str, Any]) -> Decimal:
    """The ledger's charged units equal what the simulator charged; returns them."""
    charged = ledger.totals(batch_id).charged_units or Decimal(0)
    assert charged == Decimal(str(sim_stats["units_charged"])), (charged, sim_stats)
    return charged
