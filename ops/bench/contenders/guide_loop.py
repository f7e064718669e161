"""Contender 1, the product guide's loop: one job at a time, create, then query every 2 seconds.

It is the guide's code with httpx in place of requests: create with `POST /v1/video/generate`,
query `GET /v1/video/status/{id}` until it reports completed or failed, sleeping between queries,
then save the video. Its 2-second sleep is in simulated seconds, scaled like everything else.

The loop runs as its own process (`python -m ops.bench.contenders.guide_loop`), so its CPU and
memory are its own; `run` starts the simulator and that process and collects what happened.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

from ops.bench.contenders.processes import run_measured
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

NAME = "guide-loop"
KEY_ENV = "BENCH_GUIDE_API_KEY"  # the key travels in the environment, never on a command line


def wait_for_completion(
    client: httpx.Client, task_id: str, poll_s: float, deadline: float
) -> dict[str, str] | None:
    """The guide's `wait_for_completion`: query, return when final, else sleep and query again."""
    while time.time() < deadline:
        data = client.get(f"/v1/video/status/{task_id}").json()
        if data["status"] in ("completed", "failed"):
            return dict(data)
        time.sleep(poll_s)
    return None


def render_all(
    base_url: str, api_key: str, jobs: int, poll_s: float, deadline: float, videos: Path
) -> dict[str, object]:
    done_at: list[float] = []
    failed = 0
    videos.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        for i in range(jobs):
            if time.time() >= deadline:
                break
            payload = {
                "model": MODEL,
                "prompt": prompt(i),
                "duration": DURATION,
                "resolution": RESOLUTION,
            }
            response = client.post("/v1/video/generate", json=payload)
            response.raise_for_status()
            data = wait_for_completion(client, response.json()["task_id"], poll_s, deadline)
            if data is None:
                break
            if data["status"] == "completed":
                with client.stream("GET", data["output"]) as video:
                    video.raise_for_status()
                    with (videos / f"job-{i:06d}.mp4").open("wb") as f:
                        for chunk in video.iter_bytes():
                            f.write(chunk)
            else:
                failed += 1
            done_at.append(time.time())
    return {
        "done_at": done_at,
        "failed": failed,
        "finished": len(done_at) == jobs,
        "stopped_at": time.time(),
    }


def run(workload: Workload, workdir: Path) -> Measured:
    """Start the simulator and the loop's process; return what they saw."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "guide-loop.json"
    with running_simulator("--api-key", SIM_API_KEY, *workload.sim_args()) as sim:
        started = time.time()
        cmd = [
            sys.executable, "-m", __name__,
            "--base-url", sim.base_url,
            "--jobs", str(workload.jobs),
            "--poll-s", repr(workload.wall(GUIDE_POLL_SIM_S)),
            "--deadline", repr(started + workload.cap_s),
            "--videos", str(workdir / "videos"),
            "--out", str(out),
        ]  # fmt: skip
        finished = run_measured(
            cmd, {**os.environ, KEY_ENV: SIM_API_KEY}, cwd=REPO, timeout=workload.cap_s + 60
        )
        if finished.returncode != 0:
            raise RuntimeError(f"the guide loop failed: {finished.stderr[-2000:]}")
        result = json.loads(out.read_text(encoding="utf-8"))
        tasks, stats = sim.tasks(), sim.stats()
    record = RunRecord.of_result(
        NAME,
        started,
        result,
        usage=finished.usage,
        cpu_by_process={"loop": finished.usage.cpu_s},
    )
    return Measured(record, tasks, stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--poll-s", type=float, required=True, help="wall seconds between queries")
    parser.add_argument("--deadline", type=float, required=True, help="Unix time to stop at")
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = render_all(
        args.base_url, os.environ[KEY_ENV], args.jobs, args.poll_s, args.deadline, args.videos
    )
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
