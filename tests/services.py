"""Real services for tests: Redis, PostgreSQL, and processes the tests start (moto's S3 server).

A missing service fails the test loudly; nothing here skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from worker.processes import free_port as free_port  # re-exported: the tests import it from here
from worker.processes import stop_process

stop = stop_process  # the name the tests use

REDIS_URL = os.environ.get("KBATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PG_ADMIN_URL = os.environ.get(
    "KBATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BIN = Path(sys.executable).parent


def queued_tasks(client: redis.Redis, queue: str) -> list[str]:
    """Task names of the messages waiting in a queue (kombu's Redis transport: one list)."""
    raw: list[bytes] = client.lrange(queue, 0, -1)  # type: ignore[assignment]
    return [json.loads(m)["headers"]["task"] for m in raw]


def wait_until_http(
    url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0
) -> None:
    """Block until `url` answers any HTTP response (readiness, not a sleep standing in for it)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process for {url} exited with {proc.returncode} before it was ready"
            )
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError as exc:
            last = exc
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's real HTTP S3 endpoint on a free port; yields its URL."""
    exe = shutil.which("moto_server", path=str(BIN)) or shutil.which("moto_server")
    if exe is None:
        raise RuntimeError("moto_server is not installed: pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_http(f"{url}/moto-api/", proc)
        yield url
    finally:
        stop(proc)


def s3_client(endpoint: str, keys: tuple[str, str]) -> Any:
    """A boto3 S3 client for moto's server at `endpoint`, with an (access key, secret) pair."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
    )


def new_bucket(endpoint: str, keys: tuple[str, str], prefix: str) -> str:
    """Create a bucket of a name no other test uses; returns the name."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint, keys).create_bucket(Bucket=name)
    return name


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server; yields its SQLAlchemy URL."""
    import sqlalchemy as sa

    name = f"kbatch_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        raise RuntimeError(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}") from exc
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
