"""Batch names, manifest names and row ids chosen to escape: every object stays under the root.

Batches with hostile names (`..`, absolute paths, encoded and look-alike separators) and rows
with hostile ids render through the real pipeline steps (the in-process harness, against the
simulator) into a local folder and into an S3 prefix. Every video and sidecar lands under the
configured folder or prefix, and nothing is written anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from jobs.ledger.states import JobState
from tests.pipeline.harness import Harness
from tests.services import new_bucket, s3_client
from worker.settings import PollSettings, ProviderSettings, S3Settings, Settings
from worker.sim.process import running_simulator

API_KEY = "confinement-key-0123456789abcdef"
S3_KEYS = ("confine-access", "confine-secret")
BATCH_NAMES = (
    "../../../../tmp/escaped",
    "/etc/cron.d",
    "..",
    "%2e%2e%2f%2e%2e%2fescaped",
    "..\\..\\windows",
    "a/../../b",
    "\u2025\uff0e\u2215escaped",
    "~",
)
ROW_IDS = ("..", "...", "%2e%2e", "~root", "..\u2215etc", "CON", " .hidden", "\u2025")


def _manifest(folder: Path) -> Path:
    rows = "\n".join(
        f"  - id: {row_id!r}\n    prompt: 'confined, row {i}'" for i, row_id in enumerate(ROW_IDS)
    )
    path = folder / "confined.yaml"
    path.write_text(
        "name: '../../manifest-name'\ndefaults:\n  model: kling-v3\n  duration: 5\n"
        f"rows:\n{rows}\n",
        encoding="utf-8",
    )
    return path


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture(params=["folder", "s3"])
def target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    s3_endpoint: str,
) -> Iterator[tuple[Harness, str, Any]]:
    """A harness storing into a folder or an S3 prefix; its storage URL; an S3 client or None."""
    s3: Any = None
    if request.param == "folder":
        storage_url = f"file://{tmp_path / 'root' / 'videos'}"
    else:
        bucket = new_bucket(s3_endpoint, S3_KEYS, "kbatch-confine")
        s3 = s3_client(s3_endpoint, S3_KEYS)
        storage_url = f"s3://{bucket}/tenant/videos"
    with ExitStack() as stack:
        sim = stack.enter_context(
            running_simulator("--time-scale", "1", "--seed", "101", "--api-key", API_KEY)
        )
        settings = Settings(
            redis_url=redis_url,
            database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
            storage_url=storage_url,
            provider=ProviderSettings(base_url=sim.base_url, api_key=API_KEY, concurrency=5),
            s3=S3Settings(
                endpoint_url=s3_endpoint,
                access_key_id=S3_KEYS[0],
                secret_access_key=S3_KEYS[1],
            ),
            poll=PollSettings(default_expected_s=60.0),
        )
        h = Harness(settings, sim, key_prefix)
        stack.callback(h.close)
        yield h, storage_url, s3


def test_no_object_leaves_the_configured_folder_or_prefix(
    target: tuple[Harness, str, Any], tmp_path: Path
) -> None:
    h, storage_url, s3 = target
    manifest = _manifest(tmp_path)
    before = _files(tmp_path)
    batches = [h.submit(manifest, name=name) for name in BATCH_NAMES]
    batches.append(h.submit(manifest))  # named after the manifest's own hostile name
    for batch in batches:
        h.run(batch.id)
        assert h.ctx.ledger.counts(batch.id)[JobState.STORED] == len(ROW_IDS)

    jobs = [j for b in batches for j in h.ctx.ledger.jobs(b.id)]
    for job in jobs:
        assert job.object_url is not None
        assert job.object_url.startswith(storage_url.rstrip("/") + "/"), job.object_url
        assert ".." not in job.object_url.removeprefix(storage_url)
    if s3 is None:
        root = Path(storage_url.removeprefix("file://"))
        written = _files(tmp_path) - before
        outside = {p for p in written if not p.is_relative_to(root)}
        # The ledger file (and its journal) is the only thing written outside the folder.
        assert {p.name for p in outside} <= {"ledger.db", "ledger.db-wal", "ledger.db-shm"}
        inside = {p for p in written if p.is_relative_to(root)}
        assert len(inside) == 2 * len(jobs)  # a video and a sidecar each
    else:
        bucket, _, prefix = storage_url.removeprefix("s3://").partition("/")
        keys = [
            obj["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
        ]
        assert len(keys) == 2 * len(jobs)
        assert all(key.startswith(prefix + "/") for key in keys), keys
        assert not [key for key in keys if ".." in key.split("/")]
