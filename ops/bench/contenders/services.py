"""Services kbatch runs on at scale, started for one run: moto's S3 server with a bucket, and a
scratch PostgreSQL database for the ledger (created on the local server, dropped afterwards)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError

from worker.processes import free_port

BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get(
    "KBATCH_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# moto accepts any keys; these open nothing but the server started here
S3_KEYS = {"KBATCH_S3__ACCESS_KEY_ID": "bench-access", "KBATCH_S3__SECRET_ACCESS_KEY": "bench-s3"}


@contextmanager
def s3_server(workdir: Path) -> Iterator[tuple[dict[str, str], int]]:
    """moto's S3 server with a bucket; yields kbatch's storage settings and the server's pid."""
    exe = shutil.which("moto_server", path=str(BIN)) or shutil.which("moto_server")
    if exe is None:
        raise RuntimeError("moto_server is not installed: pip install 'moto[server]'")
    port = free_port()
    log = (workdir / "moto.log").open("ab")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=S3_KEYS["KBATCH_S3__ACCESS_KEY_ID"],
            aws_secret_access_key=S3_KEYS["KBATCH_S3__SECRET_ACCESS_KEY"],
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.create_bucket(Bucket="renders")
                break
            except (BotoCoreError, ClientError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # the server is still starting
        yield (
            {
                "KBATCH_STORAGE_URL": "s3://renders/bench",
                "KBATCH_S3__ENDPOINT_URL": url,
                **S3_KEYS,
            },
            proc.pid,
        )
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@contextmanager
def scratch_postgres(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the ledger; dropped afterwards."""
    name = f"kbatch_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        raise RuntimeError(f"PostgreSQL is not reachable at {admin_url}: {exc}") from exc
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
