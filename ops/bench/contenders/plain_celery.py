"""Contender 2, the plain Celery version: one task per job that creates, then sleeps and queries
in a loop, run by K prefork worker processes, retrying a 429 with Celery's own `autoretry_for`.

This is how the guide's loop is usually scaled out: the same create and 2-second query loop, now
inside a task, with Celery's defaults everywhere else (early acknowledgement, prefetch, a Redis
broker and result backend). The submitting side sends a group of N tasks and waits for their
results. Its waits (the query interval, the retry delay) are in simulated seconds, scaled.

    celery -A ops.bench.contenders.plain_celery worker --pool prefork --concurrency K
    python -m ops.bench.contenders.plain_celery --jobs N --deadline UNIX_TIME --out FILE

`run` starts a private Redis, the simulator, the worker and the submitter, and collects the
figures. Configuration reaches the worker through `BENCH_PLAIN_*` environment variables.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import httpx
from celery import Celery, group
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import GroupResult

from ops.bench.contenders.processes import (
    children_named,
    cpu_between,
    cpu_by_label,
    run_measured,
    tree_usage,
)
from ops.bench.contenders.workload import (
    DURATION,
    GUIDE_POLL_SIM_S,
    MODEL,
    REPO,
    RESOLUTION,
    SIM_API_KEY,
    Workload,
    prompt,
)
from ops.bench.figures import Measured, RunRecord
from worker.sim.process import running_simulator
from worker.stack import private_redis, wait_for_workers

NAME = "plain-celery"
BROKER_ENV = "BENCH_PLAIN_BROKER_URL"
BASE_URL_ENV = "BENCH_PLAIN_BASE_URL"
KEY_ENV = "BENCH_PLAIN_API_KEY"
POLL_ENV = "BENCH_PLAIN_POLL_S"
RETRY_ENV = "BENCH_PLAIN_RETRY_S"
VIDEOS_ENV = "BENCH_PLAIN_VIDEOS"
RETRY_SIM_S = 2.0  # a 429 waits as long as one query interval before the create is retried

_broker = os.environ.get(BROKER_ENV)
app = Celery(
    "plain",
    broker=_broker or "memory://",
    backend=_broker or "cache+memory://",
)
app.conf.update(broker_connection_retry_on_startup=True, result_expires=3600)


class TooManyRequests(Exception):
    """The provider answered a create with 429."""


_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One HTTP client per worker process, made on first use (after the fork)."""
    global _client
    if _client is None:
        _client = httpx.Client(
            base_url=os.environ[BASE_URL_ENV],
            headers={"Authorization": f"Bearer {os.environ[KEY_ENV]}"},
            timeout=30.0,
        )
    return _client


@app.task(
    name="plain.render",
    autoretry_for=(TooManyRequests,),
    max_retries=None,
    retry_kwargs={"countdown": float(os.environ.get(RETRY_ENV, "2.0"))},
)
def render(index: int) -> dict[str, Any]:
    http = client()
    payload = {"model": MODEL, "prompt": prompt(index), "duration": DURATION}
    response = http.post("/v1/video/generate", json={**payload, "resolution": RESOLUTION})
    if response.status_code == 429:
        raise TooManyRequests(response.text)
    response.raise_for_status()
    task_id = response.json()["task_id"]
    poll_s = float(os.environ[POLL_ENV])
    while True:
        data = http.get(f"/v1/video/status/{task_id}").json()
        if data["status"] in ("completed", "failed"):
            break
        time.sleep(poll_s)
    if data["status"] == "completed":
        folder = Path(os.environ[VIDEOS_ENV])
        with http.stream("GET", data["output"]) as video:
            video.raise_for_status()
            with (folder / f"job-{index:06d}.mp4").open("wb") as f:
                for chunk in video.iter_bytes():
                    f.write(chunk)
    return {"index": index, "status": data["status"], "done_at": time.time()}


def submit_and_wait(jobs: int, deadline: float) -> dict[str, Any]:
    """Send one task per job and wait for every result, or until `deadline`."""
    result = cast(GroupResult, group(render.s(i) for i in range(jobs)).apply_async())
    try:
        values = result.get(timeout=max(0.1, deadline - time.time()))
        finished = True
    except CeleryTimeout:
        values = [r.result for r in result.results or [] if r.successful()]
        finished = False
    return {
        "done_at": [v["done_at"] for v in values],
        "failed": sum(1 for v in values if v["status"] != "completed"),
        "finished": finished,
        "stopped_at": time.time(),
    }


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """Warm shutdown; a worker still inside a capped task's loop is killed with its pool."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def run(workload: Workload, workdir: Path) -> Measured:
    """Start Redis, the simulator, K prefork workers and the submitter; return what happened."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "videos").mkdir(exist_ok=True)
    out = workdir / "plain-celery.json"
    with ExitStack() as stack:
        url = stack.enter_context(private_redis(workdir))
        sim = stack.enter_context(running_simulator("--api-key", SIM_API_KEY, *workload.sim_args()))
        env = {
            **os.environ,
            BROKER_ENV: url,
            BASE_URL_ENV: sim.base_url,
            KEY_ENV: SIM_API_KEY,
            POLL_ENV: repr(workload.wall(GUIDE_POLL_SIM_S)),
            RETRY_ENV: repr(workload.wall(RETRY_SIM_S)),
            VIDEOS_ENV: str(workdir / "videos"),
        }
        log = stack.enter_context((workdir / "worker.log").open("ab"))
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", __name__, "worker",
                "--pool", "prefork", "--concurrency", str(workload.slots),
                "-n", "plain@%h", "--loglevel", "WARNING",
                "--without-gossip", "--without-mingle",
            ],
            env=env, cwd=REPO, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        stack.callback(_stop_worker, worker)
        wait_for_workers(url, 1)
        services = {"simulator": sim.pid, "redis": children_named("redis-server")[0]}
        before, before_services = tree_usage([worker.pid]), tree_usage(services.values())
        started = time.time()
        cmd = [
            sys.executable, "-m", __name__,
            "--jobs", str(workload.jobs),
            "--deadline", repr(started + workload.cap_s),
            "--out", str(out),
        ]  # fmt: skip
        submitter = run_measured(cmd, env, cwd=REPO, timeout=workload.cap_s + 60)
        after, after_services = tree_usage([worker.pid]), tree_usage(services.values())
        if submitter.returncode != 0:
            raise RuntimeError(f"the plain Celery submitter failed: {submitter.stderr[-2000:]}")
        result = json.loads(out.read_text(encoding="utf-8"))
        tasks, stats = sim.tasks(), sim.stats()
    workers = cpu_between(before, after)
    record = RunRecord.of_result(
        NAME,
        started,
        result,
        usage=workers + submitter.usage,
        cpu_by_process={"worker and pool": workers.cpu_s, "submitter": submitter.usage.cpu_s},
        infra_cpu=cpu_by_label(before_services, after_services, services),
    )
    return Measured(record, tasks, stats)


def main() -> None:
    parser = argparse.ArgumentParser(description="Submit N plain Celery render tasks and wait.")
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--deadline", type=float, required=True, help="Unix time to stop at")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = submit_and_wait(args.jobs, args.deadline)
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
