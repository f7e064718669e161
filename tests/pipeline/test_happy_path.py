"""A batch goes from manifest to stored, verified files, with the ledger matching the provider."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

from jobs.ledger.states import BatchState, JobState
from tests.pipeline.conftest import MakeHarness, write_manifest
from worker.names import Task
from worker.storage import sidecar_key
from worker.throttle_status import RefusalKind


def _file(url: str) -> Path:
    assert url.startswith("file://")
    return Path(url.removeprefix("file://"))


def test_every_job_is_stored_with_the_ledger_matching_the_provider(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness()
    manifest = write_manifest(tmp_path, [f"a lighthouse at dusk, take {i}" for i in range(6)])
    batch = h.submit(manifest)
    h.run(batch.id)

    jobs = h.ctx.ledger.jobs(batch.id)
    assert {j.state for j in jobs} == {JobState.STORED}
    assert h.ctx.ledger.batch(batch.id).state is BatchState.FINISHED
    for job in jobs:
        assert job.object_url is not None
        assert job.sha256 is not None
        data = _file(job.object_url).read_bytes()
        assert hashlib.sha256(data).hexdigest() == job.sha256
        assert len(data) == job.size_bytes
        assert data[4:8] == b"ftyp"  # an MP4, not an error page
        side = json.loads(_file(job.object_url).with_suffix(".json").read_text())
        assert side["job_key"] == job.key
        assert side["sha256"] == job.sha256
        assert sidecar_key("x/y.mp4") == "x/y.json"

    stats = h.sim.stats()
    totals = h.ctx.ledger.totals(batch.id)
    assert stats["duplicate_creates"] == 0
    assert stats["creates_accepted"] == 6
    assert totals.charged_units == Decimal(str(stats["units_charged"]))
    # kling-v3 720p, 5 s at 6 credits/s (the product guide's table)
    assert totals.charged_credits == Decimal(6 * 5 * 6)
    # the slots all came back
    assert h.ctx.pool.in_use() == 0
    assert len(h.ctx.waitlist) == 0


def test_the_limit_holds_and_waiting_jobs_cost_no_task(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness("--concurrency", "10", concurrency=3)
    manifest = write_manifest(tmp_path, [f"a red kite over hills, number {i}" for i in range(12)])
    batch = h.submit(manifest)
    # Right after submit only the jobs holding a slot have a submit message; the rest wait in Redis.
    assert sum(1 for m in h.queue if m.task is Task.SUBMIT) == 3
    assert len(h.ctx.waitlist) == 9
    h.run(batch.id)

    assert max(h.sim.stats()["max_in_flight"].values()) <= 3
    assert h.executed[Task.SUBMIT] == 12
    assert h.executed[Task.STORE] == 12
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}


def test_a_shared_account_is_used_through_1303_refusals_without_failing_jobs(
    make_harness: MakeHarness, tmp_path: Path
) -> None:
    h = make_harness("--concurrency", "2", concurrency=5)
    manifest = write_manifest(tmp_path, [f"rain on a tin roof, variant {i}" for i in range(10)])
    batch = h.submit(manifest)
    h.drain(Task.SUBMIT)
    # Every 1303 is counted for `kbatch watch`, cluster-wide, as the provider saw it.
    refused = h.sim.stats()["creates_refused"]
    assert refused > 0
    assert h.ctx.refusals is not None
    assert h.ctx.refusals.recent()[RefusalKind.CONCURRENCY] == refused
    h.run(batch.id)

    stats = h.sim.stats()
    assert stats["creates_refused"] > 0  # the provider did refuse...
    assert max(stats["max_in_flight"].values()) <= 2
    assert {j.state for j in h.ctx.ledger.jobs(batch.id)} == {JobState.STORED}  # ...and none failed
    assert h.ctx.pool.limit() < 5  # the effective limit adapted down
    assert stats["duplicate_creates"] == 0
