"""Celery's own CPU per task execution, with kbatch's configuration, on this machine.

`python -m ops.bench.celery_floor [--tasks 2000] [--gap-ms 20]` starts one solo worker (as
`worker.stack` does) on a queue of its own, sends it tasks that do nothing but count themselves,
and prints the worker's CPU per task (receive, decode, events, acknowledgement) and the sender's
CPU per message (`send_task`): with kbatch's defaults (task events on, `task-sent` events off),
with task events off, and with `task-sent` events on as well; then with kbatch's defaults again,
the messages sent one every `--gap-ms` instead of all at once, plain and with a countdown. This
is the floor under kbatch's CPU per job: every job costs a few task executions (see `tasks/job`
in RESULTS.md), whatever the steps themselves do. In a real run messages arrive one at a time,
each waking an idle worker, which is what the spaced figures measure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from celery import Celery

from ops.bench.contenders.processes import process_usage
from worker.celery_app import create_app
from worker.settings import Settings

TASK = "kbatch.bench.noop"
READY_TIMEOUT_S = 60.0


def queue_of(run: str) -> str:
    return f"kbatch-bench-floor-{run}"


def counter_of(run: str) -> str:
    return f"kbatch-bench-floor:{run}:done"


def make_app(redis_url: str, events: bool, run: str, sent: bool = False) -> Celery:
    """kbatch's app configuration, plus one task that counts itself and nothing else."""
    app = create_app(Settings(redis_url=redis_url, task_events=events))
    app.conf.task_send_sent_event = sent
    counter = redis.Redis.from_url(redis_url)

    # Not shared: Celery would otherwise add this task to every app created after it.
    @app.task(name=TASK, shared=False)
    def noop() -> None:
        counter.incr(counter_of(run))

    return app


# The worker imports this module and finds `app` here, built from the environment.
if os.environ.get("KBATCH_FLOOR_URL"):
    app = make_app(
        os.environ["KBATCH_FLOOR_URL"],
        os.environ.get("KBATCH_FLOOR_EVENTS") == "1",
        os.environ["KBATCH_FLOOR_RUN"],
    )


def _wait(client: redis.Redis, key: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while int(client.get(key) or 0) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker ran {int(client.get(key) or 0)} of {count} tasks")
        time.sleep(0.05)  # polling a counter the worker moves; nothing is timed by this


def measure(
    redis_url: str,
    tasks: int,
    events: bool,
    workdir: Path,
    *,
    sent: bool = False,
    gap_s: float = 0.0,
    countdown: float | None = None,
) -> dict[str, float | bool]:
    run = uuid.uuid4().hex[:12]
    queue, counter = queue_of(run), counter_of(run)
    client = redis.Redis.from_url(redis_url)
    env = {
        **os.environ,
        "KBATCH_FLOOR_URL": redis_url,
        "KBATCH_FLOOR_EVENTS": str(int(events)),
        "KBATCH_FLOOR_RUN": run,
    }
    label = f"events-{int(events)}-sent-{int(sent)}-gap-{gap_s:g}-countdown-{countdown or 0:g}"
    log = (workdir / f"worker-{label}.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ops.bench.celery_floor", "worker", "-Q", queue,
         "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
         "-n", f"floor-{label}@%h"],
        env=env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        sender = make_app(redis_url, events, run, sent)
        # Warm-up: the worker is ready once it has run one task; its start-up is not counted.
        sender.send_task(TASK, queue=queue)
        _wait(client, counter, 1, READY_TIMEOUT_S)
        before = process_usage(worker.pid).cpu_s
        start = time.process_time()
        for _ in range(tasks):
            sender.send_task(TASK, queue=queue, countdown=countdown)
            if gap_s:
                time.sleep(gap_s)  # the workload: one message at a time, as a real run sends them
        sent_cpu = time.process_time() - start
        _wait(client, counter, tasks + 1, 30.0 + tasks * (0.05 + gap_s) + (countdown or 0))
        worker_cpu = process_usage(worker.pid).cpu_s - before
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
        client.delete(counter, queue)
        client.close()
    return {
        "events": events,
        "sent_events": sent,
        "tasks": tasks,
        "gap_ms": gap_s * 1000,
        "countdown_s": countdown or 0.0,
        "worker_ms_per_task": round(1000 * worker_cpu / tasks, 3),
        "sender_ms_per_message": round(1000 * sent_cpu / tasks, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench/celery-floor"))
    parser.add_argument("--gap-ms", type=float, default=20.0, help="between spaced messages")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for events, sent in ((True, False), (False, False), (True, True)):
        figures = measure(args.redis_url, args.tasks, events, args.workdir, sent=sent)
        print(json.dumps(figures), flush=True)
    gap = args.gap_ms / 1000
    for countdown in (None, 0.05):
        figures = measure(
            args.redis_url, args.tasks // 2, True, args.workdir, gap_s=gap, countdown=countdown
        )
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
