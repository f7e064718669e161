"""A provider that answers garbage, HTML, half a task or half a video, late or not at all.

Real worker processes render a batch through `MisbehavingProvider`, a proxy in front of the
simulator that spoils the exchanges of cued jobs. Each misbehaviour is classified: transient ones
(a gateway's HTML page, a body that is not JSON, a task without its fields or with an unknown
status, a read timeout, a truncated download) are retried until the job is stored, without a
second create; permanent ones (a content refusal, an expired result URL) fail the job at once.
No worker crashes, no task fails unexpectedly, and no truncated file is ever recorded as stored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from jobs.ledger import JobRecord, Ledger
from jobs.ledger.states import BatchState, JobState
from tests.reliability.misbehaving import CUES, MisbehavingProvider
from tests.reliability.runs import (
    ObjectReader,
    check_charges,
    check_ended,
    check_stored,
    errors_logged,
    submit,
    wait_final,
)
from tests.renders import write_renders
from worker.stack import Stack, local_stack

pytestmark = pytest.mark.slow

CLEAN = 4
TRANSIENT = (
    "create-html",
    "create-garbage",
    "create-timeout",
    "query-missing",
    "query-unknown",
    "query-html",
    "download-truncated",
)
ATTEMPTS = 4
SIM = ("--time-scale", "0.02", "--median-seconds", "60", "--concurrency", "8", "--seed", "51")
ENV = {
    "KBATCH_PROVIDER__CONCURRENCY": "8",
    "KBATCH_PROVIDER__READ_TIMEOUT_S": "1",
    "KBATCH_POLL__DEFAULT_EXPECTED_S": "1.2",
    "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
    "KBATCH_POLL__MAX_INTERVAL_S": "1",
    "KBATCH_RETRY__MAX_ATTEMPTS": str(ATTEMPTS),
    "KBATCH_RETRY__BASE_S": "0.2",
    "KBATCH_RETRY__CAP_S": "1",
    "KBATCH_TASK_EVENTS": "false",
}


def _manifest(folder: Path) -> Path:
    prompts = [f"a quiet bay, take {i}" for i in range(CLEAN)]
    prompts += [f"a quiet bay, spoiled by {cue} [[{cue}]]" for cue in CUES]
    prompts.append("a quiet bay the provider refuses [[refuse]]")
    ids = [f"row-{i:02d}" for i in range(len(prompts))]
    return write_renders(folder / "misbehaving.yaml", "misbehaving", prompts, ids)


def _by_cue(jobs: list[JobRecord]) -> dict[str, JobRecord]:
    found: dict[str, JobRecord] = {}
    for job in jobs:
        for cue in (*CUES, "refuse"):
            if f"[[{cue}]]" in job.spec.prompt:
                found[cue] = job
    return found


def _original(stack: Stack, job: JobRecord) -> bytes:
    """The video as the simulator serves it, not through the proxy."""
    assert job.result_url is not None
    parts = urlsplit(job.result_url)
    resp = httpx.get(f"{stack.sim.base_url}{parts.path}?{parts.query}", timeout=10)
    resp.raise_for_status()
    return resp.content


def test_every_misbehaviour_is_classified_and_no_truncated_video_is_stored(
    tmp_path: Path,
) -> None:
    provider = MisbehavingProvider(delay_s=2.0)
    sim_args = (*SIM, "--public-url", provider.url)
    env = {**ENV, "KBATCH_PROVIDER__BASE_URL": provider.url}
    with (
        provider.running(),
        local_stack(tmp_path / "stack", sim_args=sim_args, extra_env=env) as stack,
    ):
        provider.upstream = stack.sim.base_url
        ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
        try:
            batch_id = submit(stack.env, _manifest(tmp_path))
            wait_final(ledger, batch_id)
            total = CLEAN + len(CUES) + 1
            counts = check_ended(ledger, batch_id, total)
            assert ledger.batch(batch_id).state is BatchState.FINISHED
            jobs = _by_cue(ledger.jobs(batch_id))

            # Every misbehaviour really happened.
            assert set(provider.spoiled) == set(CUES), provider.spoiled
            # Transient: retried until stored, bytes identical to the provider's own.
            for cue in TRANSIENT:
                job = jobs[cue]
                assert job.state is JobState.STORED, (cue, job.error)
                assert job.sha256 == hashlib.sha256(_original(stack, job)).hexdigest(), cue
            # Permanent: failed at once, and what the provider charged is kept.
            expired = jobs["download-expired"]
            assert expired.state is JobState.FAILED
            assert expired.error is not None
            assert expired.error.startswith("result expired before download"), expired.error
            assert provider.spoiled["download-expired"] == 1
            assert expired.charged_units
            refused = jobs["refuse"]
            assert refused.state is JobState.FAILED
            assert refused.provider_task_id is None
            assert not refused.charged_units
            # A download that never completes is retried to the limit, then failed: never stored.
            broken = jobs["download-always-truncated"]
            assert broken.state is JobState.FAILED
            assert broken.error is not None
            assert broken.error.startswith(f"download failed after {ATTEMPTS} tries"), broken.error
            assert provider.spoiled["download-always-truncated"] == ATTEMPTS
            assert broken.object_url is None
            assert broken.sha256 is None
            videos = stack.workdir / "videos"
            assert not [p for p in videos.rglob("*") if broken.key in p.name]
            assert not list(videos.rglob("*.part"))  # no half-written file left behind

            stored = check_stored(ledger, batch_id, ObjectReader())
            assert len(stored) == total - 3
            assert counts == {JobState.STORED: total - 3, JobState.FAILED: 3}
            stats = stack.sim.stats()
            assert stats["duplicate_creates"] == 0
            assert stats["creates_accepted"] == total - 1
            check_charges(ledger, batch_id, stats)
            # No worker died and no task failed with an error nobody classified.
            assert [w.poll() for w in stack.workers] == [None] * len(stack.workers)
            assert errors_logged(stack) == []
            print(
                f"\nprovider misbehaviour: {total} jobs, spoiled exchanges {dict(provider.spoiled)}"
            )
        finally:
            ledger.close()
