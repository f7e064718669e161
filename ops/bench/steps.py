"""CPU of kbatch's pipeline steps alone, without Celery: the in-process harness of the tests.

`python -m ops.bench.steps [--jobs 200 --slots 10]` renders a batch against the simulator (over
HTTP, at time scale 1 with a virtual clock), Redis and a SQLite ledger, running each message
in this one process, and prints the CPU per job each kind of step spent, as one JSON line. Set
beside `compare` (the same code in Celery workers) and `celery_floor` (Celery alone), it tells
how much of kbatch's CPU per job is the steps' own work.

The harness moves the simulator's clock with a request of its own; that request's CPU is not
counted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from tests.pipeline.conftest import API_KEY, write_manifest
from tests.pipeline.harness import Harness, Message
from worker.settings import ProviderSettings, Settings
from worker.sim.process import SimHandle, running_simulator


class TimedHarness(Harness):
    """The harness, with the CPU of each step summed by task name and the clock's requests
    (test plumbing, one per message) left out."""

    def __init__(self, settings: Settings, sim: SimHandle, prefix: str) -> None:
        super().__init__(settings, sim, prefix)
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self._sim_client = httpx.Client(base_url=f"{sim.base_url}/_sim/", timeout=10.0)
        self._advance_cpu = 0.0

    def advance(self, seconds: float) -> None:
        if seconds <= 0:
            return
        start = time.process_time()
        self.clock.offset += seconds
        self._sim_client.post("advance", params={"seconds": seconds}).raise_for_status()
        self._advance_cpu += time.process_time() - start

    def step(self) -> Message | None:
        if not self.queue:
            return None
        task = self.queue[0].task.value
        start, advanced = time.process_time(), self._advance_cpu
        msg = super().step()
        self.cpu[task] += time.process_time() - start - (self._advance_cpu - advanced)
        return msg

    def close(self) -> None:
        self._sim_client.close()
        super().close()


def measure(jobs: int, slots: int, redis_url: str, seed: int = 1) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="kbatch-steps-"))
    sim_args = ("--time-scale", "1", "--seed", str(seed), "--api-key", API_KEY)
    shape = ("--concurrency", str(slots), "--median-seconds", "60", "--spread", "0.5")
    with running_simulator(*sim_args, *shape) as sim:
        settings = Settings(
            redis_url=redis_url,
            database_url=f"sqlite:///{folder / 'ledger.db'}",
            storage_url=f"file://{folder / 'videos'}",
            provider=ProviderSettings(base_url=sim.base_url, api_key=API_KEY, concurrency=slots),
        )
        harness = TimedHarness(settings, sim, f"kbatch-steps:{folder.name}:")
        try:
            rows = [f"a field of wheat, {i}" for i in range(jobs)]
            batch = harness.submit(write_manifest(folder, rows))
            harness.run(batch.id, max_steps=50 * jobs + 1000)
        finally:
            harness.close()
    per_job = {task: round(1000 * cpu / jobs, 2) for task, cpu in sorted(harness.cpu.items())}
    return {
        "jobs": jobs,
        "slots": slots,
        "steps_cpu_ms_per_job": round(sum(per_job.values()), 2),
        "by_step_ms_per_job": per_job,
        "executions": {task.value: n for task, n in sorted(harness.executed.items())},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--slots", type=int, default=10)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.jobs, args.slots, args.redis_url)), flush=True)


if __name__ == "__main__":
    main()
