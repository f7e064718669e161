"""A whole kbatch on one machine, as real processes: Redis, the simulator and the workers.

`kbatch demo`, the end-to-end tests and the benchmarks all start the same stack, so what they
exercise is what a user runs: separate worker processes per queue talking through Redis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from worker.names import Queue
from worker.processes import free_port, stop_process, wait_for
from worker.sim.process import SimHandle, running_simulator


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port (keeps nothing on disk); yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - the redis-server found on PATH, fixed arguments
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def ready() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(ready, "redis-server", proc)
        yield url
    finally:
        client.close()
        stop_process(proc)


@dataclass(frozen=True)
class WorkerGroup:
    """Worker processes consuming some queues: a solo pool each, or a pool of `threads`."""

    queues: Sequence[Queue]
    processes: int = 1
    name: str = ""
    threads: int = 1

    def pool_args(self) -> list[str]:
        if self.threads > 1:
            return ["--pool", "threads", "--concurrency", str(self.threads)]
        return ["--pool", "solo"]

    def label(self) -> str:
        return self.name or "-".join(q.value for q in self.queues)


# Two threads for the looks: one stays with the account's watch between looks, the other takes
# dispatch wake-ups, sweeps and single polls meanwhile (worker.pipeline.watch).
POLL_THREADS = 2
DEFAULT_GROUPS = (
    WorkerGroup((Queue.SUBMIT,)),
    WorkerGroup((Queue.POLL, Queue.CONTROL), threads=POLL_THREADS),
    WorkerGroup((Queue.STORE,)),
)


@dataclass
class Stack:
    """What a running stack offers its user."""

    workdir: Path
    env: dict[str, str]
    sim: SimHandle
    redis_url: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path | None = None

    def apply_env(self) -> dict[str, str]:
        """Put the stack's settings into this process's environment; returns the previous values."""
        old = {k: os.environ.get(k, "") for k in self.env}
        os.environ.update(self.env)
        return old


def stack_env(
    workdir: Path, redis_url: str, sim_url: str, api_key: str, extra: Mapping[str, str]
) -> dict[str, str]:
    env = {
        "KBATCH_REDIS_URL": redis_url,
        "KBATCH_DATABASE_URL": f"sqlite:///{workdir / 'kbatch.db'}",
        "KBATCH_STORAGE_URL": f"file://{workdir / 'videos'}",
        "KBATCH_PROVIDER__DIALECT": "kling",
        "KBATCH_PROVIDER__BASE_URL": sim_url,
        "KBATCH_PROVIDER__API_KEY": api_key,
        "KBATCH_LOG_FORMAT": "json",
    }
    env.update(extra)
    return env


def start_worker(
    group: WorkerGroup, index: int, env: Mapping[str, str], log_dir: Path
) -> subprocess.Popen[bytes]:
    name = f"{group.label()}{index}@%h"
    log = (log_dir / f"worker-{group.label()}-{index}.log").open("ab")
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-Q",
        ",".join(q.value for q in group.queues),
        "-n",
        name,
        *group.pool_args(),
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        env.get("KBATCH_LOG_LEVEL", "WARNING"),
    ]
    return subprocess.Popen(  # noqa: S603 - our own interpreter running Celery
        cmd, env={**os.environ, **env}, stdout=log, stderr=log
    )


@contextmanager
def _probe(broker_url: str) -> Iterator[Any]:
    """A bare Celery app on the broker, for remote control commands to the workers."""
    from celery import Celery

    probe = Celery("kbatch-probe", broker=broker_url)
    try:
        yield probe
    finally:
        probe.close()


def wait_for_workers(app_broker: str, expected: int, timeout: float = 60.0) -> None:
    """Block until `expected` workers answer a ping through the broker."""
    deadline = time.monotonic() + timeout
    with _probe(app_broker) as probe:
        while time.monotonic() < deadline:
            replies = probe.control.ping(timeout=0.5) or []
            if len(replies) >= expected:
                return
    raise RuntimeError(f"only some of {expected} workers answered within {timeout:.0f}s")


def worker_stats(broker_url: str, timeout: float = 2.0) -> dict[str, dict[str, Any]]:
    """What every live worker reports about itself (`celery inspect stats`), by node name."""
    with _probe(broker_url) as probe:
        replies: Any = probe.control.inspect(timeout=timeout).stats()
    return dict(replies or {})


@contextmanager
def local_stack(
    workdir: Path,
    *,
    sim_args: Sequence[str] = (),
    api_key: str = "demo-key",
    redis_url: str | None = None,
    groups: Sequence[WorkerGroup] = DEFAULT_GROUPS,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Stack]:
    """Start Redis (private unless `redis_url`), the simulator and the worker groups."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_dir = workdir / "logs"
    log_dir.mkdir(exist_ok=True)
    with ExitStack() as stack:
        url = redis_url or stack.enter_context(private_redis(workdir))
        sim = stack.enter_context(running_simulator("--api-key", api_key, *sim_args))
        env = stack_env(workdir, url, sim.base_url, api_key, extra_env or {})
        running = Stack(workdir=workdir, env=env, sim=sim, redis_url=url, logs=log_dir)
        try:
            for group in groups:
                for i in range(group.processes):
                    running.workers.append(start_worker(group, i, env, log_dir))
            wait_for_workers(url, len(running.workers))
            yield running
        finally:
            for proc in running.workers:
                stop_process(proc)
