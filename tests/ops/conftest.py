"""One rendered batch watched by Flower, for the Flower and worker-log tests.

Real processes throughout: a private Redis, the simulator, Flower started with `kbatch flower`,
one worker started with `kbatch worker` (its log lines on stderr, its banner on stdout), and a
batch submitted with `kbatch submit`. Flower starts first and the batch is only submitted once
Flower has seen the worker, so it receives every task event of the batch.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.ledger import Ledger
from jobs.ledger.states import BatchState
from tests.services import BIN, free_port, stop, wait_until_http
from worker.stack import Stack, local_stack, wait_for_workers

JOB_TASKS = ("kbatch.submit", "kbatch.poll", "kbatch.store")
ROWS = ("harbour-dawn", "forest-rain", "desert-night")
WORKER = "ops@localhost"
# What a worker logs when Flower turns its task events on (Celery's `enable_events` command).
TASK_EVENTS_ON = "Events of group {task} enabled by remote"


@dataclass
class Rendered:
    stack: Stack
    batch_id: int
    keys: dict[str, str]  # row id -> job key
    flower_url: str
    flower_auth: tuple[str, str]
    flower: subprocess.Popen[bytes]
    flower_log: Path
    worker_log: Path  # the worker's stderr: its log lines
    worker_out: Path  # the worker's stdout: Celery's banner
    secrets: dict[str, str]

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Flower's view of every task it saw (uuid -> task)."""
        resp = httpx.get(f"{self.flower_url}/api/tasks", auth=self.flower_auth, timeout=10)
        resp.raise_for_status()
        tasks: dict[str, dict[str, Any]] = resp.json()
        return tasks


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)  # re-checking a real condition, bounded by the deadline
    raise AssertionError(f"{what} did not happen within {timeout:.0f}s")


def _manifest(folder: Path) -> Path:
    rows = "\n".join(f"  - id: {row}\n    prompt: a quiet shot of {row}" for row in ROWS)
    path = folder / "ops.yaml"
    path.write_text(
        "name: ops\ndefaults:\n  model: kling-v3\n  resolution: 720p\n  duration: 5\n"
        f"rows:\n{rows}\n",
        encoding="utf-8",
    )
    return path


def _flower_sees_worker(url: str, worker: str) -> bool:
    # /metrics needs no credentials and is fed by worker events: a worker listed there proves
    # Flower's event receiver is consuming.
    try:
        text = httpx.get(f"{url}/metrics", timeout=2).text
    except httpx.TransportError:
        return False
    return (
        re.search(rf'flower_worker_online\{{worker="{re.escape(worker)}"\}} 1\.0', text) is not None
    )


def _flower_has_all(rendered: Rendered) -> bool:
    done = {
        (t["name"], t["kwargs"])
        for t in rendered.tasks().values()
        if t["name"] in JOB_TASKS and t["state"] == "SUCCESS"
    }
    names = {name for name, _ in done}
    return set(JOB_TASKS) <= names and len(done) >= len(JOB_TASKS) * len(ROWS)


def _start(
    args: list[str], env: dict[str, str], stdout: Path, stderr: Path
) -> subprocess.Popen[bytes]:
    """`kbatch ARGS` in the background, its output in files (the child keeps its own handles)."""
    with stdout.open("ab") as out, stderr.open("ab") as err:
        return subprocess.Popen([str(BIN / "kbatch"), *args], env=env, stdout=out, stderr=err)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    tmp = tmp_path_factory.mktemp("ops")
    keys = {
        "api_key": f"sk-{secrets.token_hex(16)}",
        "flower_password": secrets.token_urlsafe(18).replace(",", "x"),
        "s3_secret": secrets.token_hex(20),
    }
    env = {
        # The guide dialect has no list endpoint, so every job is polled by a poll task of its own.
        "KBATCH_PROVIDER__DIALECT": "guide",
        "KBATCH_PROVIDER__CONCURRENCY": "2",
        "KBATCH_POLL__DEFAULT_EXPECTED_S": "0.5",
        "KBATCH_POLL__MIN_INTERVAL_S": "0.1",
        "KBATCH_S3__SECRET_ACCESS_KEY": keys["s3_secret"],
        "KBATCH_FLOWER__USER": "ops",
        "KBATCH_FLOWER__PASSWORD": keys["flower_password"],
        "KBATCH_LOG_LEVEL": "DEBUG",
        "KBATCH_LOG_FORMAT": "json",
    }
    sim_args = ["--time-scale", "0.01", "--seed", "3", "--concurrency", "5"]
    with local_stack(
        tmp / "stack", sim_args=sim_args, api_key=keys["api_key"], groups=(), extra_env=env
    ) as stack:
        run_env = {**os.environ, **stack.env}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        flower_log = tmp / "flower.log"
        worker_log, worker_out = tmp / "worker.err", tmp / "worker.out"
        flower = _start(["flower", "--port", str(port)], run_env, flower_log, flower_log)
        worker = _start(["worker", "--pool", "solo", "-n", WORKER], run_env, worker_out, worker_log)
        try:
            wait_until_http(f"{url}/healthcheck", flower)
            wait_for_workers(stack.redis_url, 1)
            wait_for(lambda: _flower_sees_worker(url, WORKER), "Flower seeing the worker")
            # Workers send no task events until Flower turns them on (Settings.task_events).
            wait_for(
                lambda: TASK_EVENTS_ON in worker_log.read_text(encoding="utf-8"),
                "Flower turning the worker's task events on",
            )
            submitted = subprocess.run(
                [str(BIN / "kbatch"), "submit", str(_manifest(tmp)), "--json"],
                env=run_env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            batch_id = int(json.loads(submitted.stdout)["id"])
            with Ledger.open(stack.env["KBATCH_DATABASE_URL"]) as ledger:
                wait_for(
                    lambda: ledger.batch(batch_id).state is BatchState.FINISHED,
                    "the batch finishing",
                )
                job_keys = {j.row_id or j.key: j.key for j in ledger.jobs(batch_id)}
            result = Rendered(
                stack=stack,
                batch_id=batch_id,
                keys=job_keys,
                flower_url=url,
                flower_auth=("ops", keys["flower_password"]),
                flower=flower,
                flower_log=flower_log,
                worker_log=worker_log,
                worker_out=worker_out,
                secrets=keys,
            )
            wait_for(lambda: _flower_has_all(result), "Flower listing every job task")
            yield result
        finally:
            stop(worker)
            stop(flower)
