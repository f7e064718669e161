"""A full run with known secrets, then a search of everything it left behind: 0 hits.

The run uses a password-protected Redis, a PostgreSQL ledger reached with a password, S3 keys,
a Flower password in the environment, and the provider's credentials: a static API key, or an
access key with the secret key that signs its JWTs. Workers log at DEBUG. Searched afterwards:
every log line of every worker, the output of every command run, every command Redis received
(task messages decoded), what Redis still holds, every row of the ledger, every sidecar and
object's metadata in the bucket, and the reports in every format. The S3 access key id may only
appear where S3 itself puts it: in the `X-Amz-Credential` of a presigned link.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from jobs.ledger import Ledger
from jobs.ledger.states import JobState
from tests.reliability.redis_server import RedisServer
from tests.reliability.runs import kbatch, wait_final
from tests.renders import write_renders
from tests.security.capture import RedisMonitor, bucket_dump, database_dump, redis_dump
from tests.services import s3_client
from worker.stack import local_stack

pytestmark = pytest.mark.slow

SECRETS = {
    "provider API key": "kbk-live-3b9f0c7d1e2a4f6081d5c2b7e9a4f013",
    "provider secret key": "kbs-live-9d8c7b6a5f4e3d2c1b0a99887766554433",
    "provider access key": "kbak-live-51aa0c3e77d2",
    "S3 secret access key": "s3sk/Kq7+Zr2mWx9PdL4vTn8YbHc6JfGe0aB",
    "Flower password": "flowerpw51c2a9e07d3b",
    "Redis password": "redispw7f3e9a1c5d2b",
    "database password": "dbpw9e1f2c3a4b5d",
}
S3_KEY_ID = "KBAKIAS3EXAMPLE7Q2W"
PRESIGNED_KEY_ID = re.compile(r"X-Amz-Credential=" + S3_KEY_ID + r"(?:%2F|/)")
PROMPTS = ["a harbour at dawn", "a pine forest in rain", "a night market", "refused [[refuse]]"]
PROMPTS += ["fails while rendering [[fail]]", "a lighthouse, long exposure"]
SIM = ("--time-scale", "0.01", "--median-seconds", "60", "--seed", "81")


@dataclass
class Evidence:
    """Where to search, by source, and what the run did (to know the search was not empty)."""

    sources: dict[str, str] = field(default_factory=dict)
    task_messages: int = 0
    log_lines: int = 0
    sidecars: int = 0
    stored: int = 0

    def add(self, source: str, text: str) -> None:
        self.sources[source] = self.sources.get(source, "") + "\n" + text


def _forms(secret: str) -> set[str]:
    """The secret as written, URL-encoded, and base64-encoded (as in an auth header or a body)."""
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def _manifest(folder: Path) -> Path:
    ids = [f"row-{i}" for i in range(len(PROMPTS))]
    return write_renders(folder / "secrets.yaml", "secrets", list(PROMPTS), ids)


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"kbatch-secrets-{time.monotonic_ns() % 10**9}"
    _s3(s3_endpoint).create_bucket(Bucket=name)
    return name


def _s3(endpoint: str) -> Any:
    return s3_client(endpoint, (S3_KEY_ID, SECRETS["S3 secret access key"]))


def _run(tmp_path: Path, pg_url: str, s3_endpoint: str, bucket: str, creds: str) -> Evidence:
    evidence = Evidence()
    database = make_url(pg_url).set(password=SECRETS["database password"])
    database_url = database.render_as_string(hide_password=False)
    provider = {
        "KBATCH_PROVIDER__API_KEY": SECRETS["provider API key"] if creds == "api key" else "",
        "KBATCH_PROVIDER__ACCESS_KEY": SECRETS["provider access key"],
        "KBATCH_PROVIDER__SECRET_KEY": SECRETS["provider secret key"],
    }
    env = {
        **provider,
        "KBATCH_DATABASE_URL": database_url,
        "KBATCH_STORAGE_URL": f"s3://{bucket}/secrets",
        "KBATCH_S3__ENDPOINT_URL": s3_endpoint,
        "KBATCH_S3__ACCESS_KEY_ID": S3_KEY_ID,
        "KBATCH_S3__SECRET_ACCESS_KEY": SECRETS["S3 secret access key"],
        "KBATCH_FLOWER__USER": "admin",
        "KBATCH_FLOWER__PASSWORD": SECRETS["Flower password"],
        "KBATCH_LOG_LEVEL": "DEBUG",
        "KBATCH_POLL__DEFAULT_EXPECTED_S": "0.6",
        "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
        "KBATCH_RETRY__BASE_S": "0.2",
        "KBATCH_RETRY__CAP_S": "1",
    }
    sim_keys = ["--access-key", SECRETS["provider access key"]]
    sim_keys += ["--secret-key", SECRETS["provider secret key"]]
    with RedisServer(tmp_path, password=SECRETS["Redis password"]) as redis_server:
        client = redis_server.client()
        monitor = RedisMonitor(client)
        try:
            with local_stack(
                tmp_path / "stack",
                sim_args=(*SIM, *sim_keys),
                api_key=SECRETS["provider API key"],
                redis_url=redis_server.url,
                extra_env=env,
            ) as stack:
                _render(stack.env, tmp_path, evidence, database_url)
                assert stack.logs is not None
                for log in sorted(stack.logs.glob("*.log")):
                    text = log.read_text(errors="replace")
                    evidence.log_lines += text.count("\n")
                    evidence.add(f"log {log.name}", text)
        finally:
            monitor.stop()
        evidence.add("redis commands", monitor.text())
        evidence.task_messages = len(monitor.task_messages())
        evidence.add("redis contents", redis_dump(client))
        client.close()
    evidence.add("ledger", database_dump(database_url))
    text, evidence.sidecars = bucket_dump(_s3(s3_endpoint), bucket)
    evidence.add("bucket", text)
    return evidence


def _render(env: dict[str, str], tmp_path: Path, evidence: Evidence, database_url: str) -> None:
    def run(*args: str) -> None:
        out = kbatch(env, *args)
        evidence.add(f"kbatch {args[0]}", out.stdout + out.stderr)

    submitted = kbatch(env, "submit", str(_manifest(tmp_path)), "--json")
    evidence.add("kbatch submit", submitted.stdout + submitted.stderr)
    batch = str(json.loads(submitted.stdout)["id"])
    with Ledger.open(database_url) as ledger:
        wait_final(ledger, int(batch))
        evidence.stored = ledger.counts(int(batch))[JobState.STORED]
    run("status", batch, "--json")
    run("status", batch)
    run("batches")
    run("jobs", batch)
    run("jobs", batch, "--format", "json")
    run("credits")
    run("config")
    run("config", "--json")
    run("resume", batch)
    for fmt in ("table", "csv", "json", "html"):
        report = tmp_path / f"report.{fmt}"
        run("report", batch, "--format", fmt, "--output", str(report))
        evidence.add(f"report {fmt}", report.read_text(encoding="utf-8"))


@pytest.fixture(params=["api key", "key pair"])
def evidence(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, s3_endpoint: str, bucket: str
) -> Evidence:
    return _run(tmp_path, pg_url, s3_endpoint, bucket, request.param)


def test_no_secret_is_anywhere_a_run_leaves_something(evidence: Evidence) -> None:
    # The search covered real material.
    assert evidence.stored == len(PROMPTS) - 2
    assert evidence.task_messages >= 3 * evidence.stored
    assert evidence.log_lines > 200
    assert evidence.sidecars == evidence.stored
    assert "<html" in evidence.sources["report html"]
    hits = [
        (name, source)
        for name, secret in SECRETS.items()
        for source, text in evidence.sources.items()
        if any(form in text for form in _forms(secret))
    ]
    assert hits == []
    key_id_hits = [
        source
        for source, text in evidence.sources.items()
        if S3_KEY_ID in PRESIGNED_KEY_ID.sub("X-Amz-Credential=<id>/", text)
    ]
    assert key_id_hits == []
