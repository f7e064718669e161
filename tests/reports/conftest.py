"""Fixtures for the report tests: batches really rendered by the pipeline, and the CLI on them.

The in-process pipeline harness renders the batches once per test session against the simulator,
into a SQLite ledger and either a local folder or moto's S3, so the reports read real ledger rows
and real stored MP4s and PNGs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import redis
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from jobs.ledger import BatchRecord, JobRecord
from jobs.ledger.states import JobState
from tests.pipeline.harness import Harness
from worker.cli.main import app
from worker.settings import PollSettings, ProviderSettings, RetrySettings, S3Settings, Settings
from worker.sim.process import running_simulator

API_KEY = "reports-test-key-0123456789abcdef"
S3_ACCESS_KEY_ID = "AKIAKBATCHREPORTS001"
S3_SECRET = "kbatch-reports-secret-never-shown-0987654321"
XSS_PROMPT = "<script>document.title='owned'</script><img src=x onerror=alert(1)> & friends"

MANIFEST = f"""\
name: reports
defaults:
  model: kling-v3
  resolution: 720p
  duration: 5
  tags:
    project: "<b>reports</b>"
rows:
  - id: harbour
    prompt: "A harbour at dawn, gulls circling"
  - id: xss
    prompt: "{XSS_PROMPT}"
  - id: desert
    prompt: "A wide shot of a desert road at noon"
    resolution: 1080p
    duration: 10
  - id: poster
    model: kling-image
    prompt: "A poster of a mountain lake, flat colours"
    aspect_ratio: "9:16"
  - id: broken
    prompt: "A scene the provider refuses to finish [[fail]]"
"""
# What MANIFEST renders: four stored files (three videos, one image) and one failed job.
STORED_VIDEOS = 3
STORED_IMAGES = 1
# A second batch in the same ledger, so that spend can be told apart by batch.
OTHER_MANIFEST = """\
name: other
defaults:
  model: kling-v3
  resolution: 720p
  duration: 5
rows:
  - prompt: "A paper boat on a puddle"
  - prompt: "A kite over a beach"
"""


@dataclass(frozen=True)
class Rendered:
    """A finished batch and the environment under which `kbatch` reads its ledger and storage."""

    batch: BatchRecord
    jobs: list[JobRecord]
    other: BatchRecord
    other_jobs: list[JobRecord]
    env: dict[str, str]
    folder: Path

    def job(self, row_id: str) -> JobRecord:
        return next(j for j in self.jobs if j.row_id == row_id)


def _settings(
    folder: Path, redis_url: str, base_url: str, storage_url: str, s3: S3Settings
) -> Settings:
    return Settings(
        redis_url=redis_url,
        database_url=f"sqlite:///{folder / 'ledger.db'}",
        storage_url=storage_url,
        s3=s3,
        provider=ProviderSettings(
            dialect="kling", base_url=base_url, api_key=SecretStr(API_KEY), concurrency=5
        ),
        poll=PollSettings(default_expected_s=60.0),
        retry=RetrySettings(max_attempts=3, base_s=1.0, cap_s=5.0),
        _env_file=None,
    )


@contextmanager
def rendered_batch(
    folder: Path, redis_url: str, storage_url: str, s3: S3Settings | None = None
) -> Iterator[Rendered]:
    """Render MANIFEST through the pipeline; yields the finished batch."""
    s3 = s3 or S3Settings()
    prefix = f"kbtest:{uuid.uuid4().hex[:10]}:"
    manifest = folder / "reports.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    other_manifest = folder / "other.yaml"
    other_manifest.write_text(OTHER_MANIFEST, encoding="utf-8")
    with running_simulator("--time-scale", "1", "--seed", "5", "--api-key", API_KEY) as sim:
        settings = _settings(folder, redis_url, sim.base_url, storage_url, s3)
        harness = Harness(settings, sim, prefix)
        try:
            batch = harness.submit(manifest, name="reports-batch")
            other = harness.submit(other_manifest, name="other-batch")
            harness.run(batch.id)
            harness.run(other.id)
            ledger = harness.ctx.ledger
            jobs, other_jobs = ledger.jobs(batch.id), ledger.jobs(other.id)
            batch, other = ledger.batch(batch.id), ledger.batch(other.id)
        finally:
            harness.close()
            _forget(redis_url, prefix)
    env = {
        "KBATCH_DATABASE_URL": settings.database_url.get_secret_value(),
        "KBATCH_STORAGE_URL": storage_url,
    }
    if s3.endpoint_url is not None:
        assert s3.access_key_id is not None
        assert s3.secret_access_key is not None
        env |= {
            "KBATCH_S3__ENDPOINT_URL": s3.endpoint_url,
            "KBATCH_S3__ACCESS_KEY_ID": s3.access_key_id.get_secret_value(),
            "KBATCH_S3__SECRET_ACCESS_KEY": s3.secret_access_key.get_secret_value(),
        }
    stored = sum(1 for j in jobs if j.state is JobState.STORED)
    assert stored == STORED_VIDEOS + STORED_IMAGES, [(j.row_id, j.state, j.error) for j in jobs]
    assert {j.state for j in other_jobs} == {JobState.STORED}
    yield Rendered(
        batch=batch, jobs=jobs, other=other, other_jobs=other_jobs, env=env, folder=folder
    )


def _forget(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def local_batch(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Rendered]:
    folder = tmp_path_factory.mktemp("local")
    with rendered_batch(folder, redis_url, f"file://{folder / 'videos'}") as rendered:
        yield rendered


@pytest.fixture(scope="session")
def s3_batch(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, s3_endpoint: str
) -> Iterator[Rendered]:
    folder = tmp_path_factory.mktemp("s3")
    bucket = f"kbr-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ACCESS_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )
    client.create_bucket(Bucket=bucket)
    s3 = S3Settings(
        endpoint_url=s3_endpoint,
        access_key_id=SecretStr(S3_ACCESS_KEY_ID),
        secret_access_key=SecretStr(S3_SECRET),
        presign_seconds=3600,
    )
    try:
        with rendered_batch(folder, redis_url, f"s3://{bucket}/renders", s3) as rendered:
            yield rendered
    finally:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        for item in listed:
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
        client.close()


class Kbatch:
    """`kbatch` run in-process with a given environment (and no `.env` from the checkout)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
        self._monkeypatch = monkeypatch
        self._runner = CliRunner()
        monkeypatch.chdir(cwd)

    def __call__(self, *args: str, env: dict[str, str]) -> Result:
        from worker.settings import get_settings

        for name, value in env.items():
            self._monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            return self._runner.invoke(app, list(args))
        finally:
            get_settings.cache_clear()


@pytest.fixture
def kbatch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Kbatch:
    return Kbatch(monkeypatch, tmp_path)
