"""What kbatch's workers cost while nothing happens: CPU per second and wake-ups per second.

    python -m ops.bench.idle [--seconds 60]

Starts the stack as `compare` does (its worker groups, a private Redis, the simulator), lets it
settle, and measures each worker process, all its threads, over `--seconds` with nothing queued:
CPU from the scheduler's own accounting (`/proc/PID/task/*/schedstat`, nanoseconds, where the
`/proc/PID/stat` ticks of `compare` are 10 ms) and wake-ups as voluntary context switches. Prints
one JSON line. With renders of minutes a worker idles most of the time, so this cost, paid per
second, weighs more per job in production than in `compare`, whose time scale packs 24 minutes of
waiting into one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from ops.bench.contenders import kbatch_stack
from ops.bench.contenders.workload import SIM_API_KEY, Workload
from worker.stack import DEFAULT_GROUPS, local_stack

SETTLE_S = 5.0  # after the workers answer: their first timers and the context warm-up
_PROC = Path("/proc")


def thread_counters(pid: int) -> tuple[int, int]:
    """CPU nanoseconds and voluntary context switches of all the process's threads so far."""
    cpu_ns = switches = 0
    for task in (_PROC / str(pid) / "task").iterdir():
        try:
            cpu_ns += int((task / "schedstat").read_text().split()[0])
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    switches += int(line.split()[1])
        except (OSError, ValueError):
            continue  # a thread that ended between the listing and the read
    return cpu_ns, switches


def measure(seconds: float, workdir: Path) -> dict[str, object]:
    if workdir.exists():
        shutil.rmtree(workdir)
    workload = Workload()
    with local_stack(
        workdir,
        sim_args=workload.sim_args(),
        api_key=SIM_API_KEY,
        groups=DEFAULT_GROUPS,
        extra_env=kbatch_stack.scaled_settings(workload),
    ) as stack:
        labels = kbatch_stack.worker_labels(DEFAULT_GROUPS)
        pids = dict(zip(labels, (p.pid for p in stack.workers), strict=True))
        time.sleep(SETTLE_S)  # the quiet state is what is measured, not a condition to wait for
        before = {label: thread_counters(pid) for label, pid in pids.items()}
        time.sleep(seconds)  # the measurement window itself
        after = {label: thread_counters(pid) for label, pid in pids.items()}
    cpu = {k: round((after[k][0] - before[k][0]) / 1e6 / seconds, 3) for k in pids}
    wakeups = {k: round((after[k][1] - before[k][1]) / seconds, 2) for k in pids}
    total = sum(cpu.values())
    return {
        "seconds": seconds,
        "idle_cpu_ms_per_s": cpu,
        "wakeups_per_s": wakeups,
        "total_cpu_ms_per_s": round(total, 3),
        "total_cpu_s_per_hour": round(total * 3.6, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench/idle").resolve())
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.seconds, args.workdir)), flush=True)


if __name__ == "__main__":
    main()
