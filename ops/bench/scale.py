"""kbatch at scale, on this machine with the simulator, Redis, S3 and the ledger beside it.

    python -m ops.bench.scale throughput [--jobs 10000] [--slots 500] [--submit 2 --poll 1
                                         --store 2] [--profile 30]
        sustained end-to-end jobs per second (create, polls, download, upload to S3, ledger);
        with --profile, py-spy (pip install py-spy) samples every process for that many
        seconds mid-run and prints where each one's time went
    python -m ops.bench.scale waiting [--jobs 10000] [--slots 10] [--time-scale 0.006]
        task executions per job with thousands of jobs waiting behind a small K
    python -m ops.bench.scale groups [--jobs 400] [--slots 20]
        two worker groups with their own node names (as two hosts would run them) against one
        Redis, kbatch set to K slots and the simulator allowing 2K: peak in flight and throughput,
        beside one group alone

S3 is moto's server on a free port; the ledger is a scratch PostgreSQL database (dropped at the
end) unless `--sqlite` (`KBATCH_BENCH_PG_URL` names the server). Every run prints a summary
and ends with one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from ops.bench.contenders import kbatch_stack
from ops.bench.contenders.profiler import Profiler
from ops.bench.contenders.services import PG_ADMIN_URL, s3_server, scratch_postgres
from ops.bench.contenders.workload import Workload
from ops.bench.figures import Figures, Measured, compute, percentile
from worker.names import Queue
from worker.stack import POLL_THREADS, Stack, WorkerGroup

DEFAULT_WORKDIR = Path("var/bench/scale")


# Runs


def sustained_rate(done_at: Sequence[float], middle: float = 0.8) -> float:
    """Jobs per wall second over the middle `middle` share of completions (no ramp-up or tail)."""
    if len(done_at) < 10:
        return math.nan
    ordered = sorted(done_at)
    cut = (1 - middle) / 2
    first, last = percentile(ordered, cut * 100), percentile(ordered, (1 - cut) * 100)
    inside = sum(1 for t in ordered if first <= t <= last)
    return inside / (last - first) if last > first else math.nan


def groups_for(submit: int, poll: int, store: int, host: str = "") -> tuple[WorkerGroup, ...]:
    prefix = f"{host}-" if host else ""
    return (
        WorkerGroup((Queue.SUBMIT,), processes=submit, name=f"{prefix}submit"),
        WorkerGroup(
            (Queue.POLL, Queue.CONTROL),
            processes=poll,
            name=f"{prefix}poll-control",
            threads=POLL_THREADS,
        ),
        WorkerGroup((Queue.STORE,), processes=store, name=f"{prefix}store"),
    )


def summary(title: str, m: Measured, fig: Figures, workload: Workload) -> dict[str, Any]:
    rate = sustained_rate(m.record.done_at)
    wall = fig.wall_s
    print(f"== {title}")
    print(
        f"{fig.done}/{fig.jobs} jobs in {wall:.1f} s wall; sustained {rate:.1f} jobs/s "
        f"(middle 80% of completions), overall {fig.done / wall:.1f} jobs/s; "
        f"peak in flight {fig.peak_in_flight} (K={workload.slots}); "
        f"{fig.status_per_job:.2f} status requests, {fig.tasks_per_job or 0:.2f} task "
        f"executions and {fig.cpu_ms_per_job or 0:.1f} ms of kbatch CPU per job; "
        f"429 share {fig.refused_share:.1%}"
    )
    done = max(1, fig.done)
    for what, values in (("kbatch", m.record.cpu_by_process), ("services", m.record.infra_cpu)):
        cores = ", ".join(
            f"{k} {v / wall:.0%} ({v * 1000 / done:.1f} ms/job)" for k, v in values.items()
        )
        print(f"  CPU of {what} (share of one core over the run): {cores}")
    if m.record.notes:
        print(f"  {m.record.notes}")
    return {
        "run": title,
        "sustained_jobs_per_s": round(rate, 1),
        **fig.as_json(),
        "cpu_s_by_process": {k: round(v, 2) for k, v in m.record.cpu_by_process.items()},
        "service_cpu_s": {k: round(v, 2) for k, v in m.record.infra_cpu.items()},
    }


def run_kbatch(
    workload: Workload,
    workdir: Path,
    groups: Sequence[WorkerGroup],
    *,
    sqlite: bool,
    s3: bool,
    profile_s: float = 0.0,
    name: str = "kbatch",
) -> tuple[Measured, Figures, Profiler | None]:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    profiler: Profiler | None = None
    with ExitStack() as stack:
        env: dict[str, str] = {}
        infra: dict[str, int] = {}
        if s3:
            storage, moto_pid = stack.enter_context(s3_server(workdir))
            env.update(storage)
            infra["s3 (moto)"] = moto_pid
        if not sqlite:
            env["KBATCH_DATABASE_URL"] = stack.enter_context(scratch_postgres(PG_ADMIN_URL))

        def start_profiler(running: Stack) -> None:
            nonlocal profiler
            if profile_s <= 0:
                return
            time.sleep(min(10.0, workload.cap_s / 10))  # past the ramp-up, into the steady state
            labels = kbatch_stack.worker_labels(groups)
            pids = dict(zip(labels, (p.pid for p in running.workers), strict=True))
            pids["simulator"] = running.sim.pid
            if "s3 (moto)" in infra:
                pids["s3 (moto)"] = infra["s3 (moto)"]
            profiler = Profiler.start(pids, profile_s, workdir / "profile")

        measured = kbatch_stack.run(
            workload,
            workdir,
            groups=groups,
            env=env,
            name=name,
            infra=infra,
            on_submitted=start_profiler,
        )
    if profiler is not None:
        profiler.wait()
    return measured, compute(measured.record, workload, measured.tasks, measured.stats), profiler


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    workload = Workload.from_args(args)
    groups = groups_for(args.submit, args.poll, args.store)
    m, fig, profiler = run_kbatch(
        workload, args.workdir / "throughput", groups, sqlite=args.sqlite, s3=True,
        profile_s=args.profile,
    )  # fmt: skip
    result = summary(
        f"throughput: {workload.jobs} jobs, K={workload.slots}, median {workload.median_s:g} "
        f"simulated s at time scale {workload.time_scale:g}, S3 (moto), "
        f"{'SQLite' if args.sqlite else 'PostgreSQL'} ledger, workers "
        f"submit x{args.submit}, poll-control x{args.poll}, store x{args.store}",
        m,
        fig,
        workload,
    )
    if profiler is not None:
        print(f"  py-spy, {profiler.seconds:g} s mid-run (raw stacks in {profiler.folder}):")
        for line in profiler.report():
            print(f"  {line}")
    return [result]


def waiting(args: argparse.Namespace) -> list[dict[str, Any]]:
    workload = Workload.from_args(args)
    m, fig, _ = run_kbatch(
        workload, args.workdir / "waiting", groups_for(1, 1, 1), sqlite=args.sqlite, s3=False
    )
    title = (
        f"waiting: {workload.jobs} jobs behind K={workload.slots}, median "
        f"{workload.median_s:g} simulated s at time scale {workload.time_scale:g}"
    )
    return [summary(title, m, fig, workload)]


def two_groups(args: argparse.Namespace) -> list[dict[str, Any]]:
    workload = Workload.from_args(args, provider_slots=2 * args.slots)
    results = []
    for hosts in (("hostA",), ("hostA", "hostB")):
        groups = [g for host in hosts for g in groups_for(1, 1, 1, host)]
        m, fig, _ = run_kbatch(
            workload, args.workdir / f"groups-{len(hosts)}", groups, sqlite=args.sqlite, s3=False
        )
        title = (
            f"{len(hosts)} worker group(s) {'+'.join(hosts)}: {workload.jobs} jobs, kbatch K="
            f"{workload.slots}, simulator allows {workload.provider_slots}"
        )
        results.append(summary(title, m, fig, replace(workload)))
        if fig.peak_in_flight > workload.slots:
            print(f"  LIMIT BROKEN: {fig.peak_in_flight} in flight with K={workload.slots}")
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="run", required=True)
    presets = {
        "throughput": (throughput, 10_000, 500, 0.05, 900.0),
        "waiting": (waiting, 10_000, 10, 0.006, 1200.0),
        "groups": (two_groups, 400, 20, 0.05, 300.0),
    }
    for name, (_, jobs, slots, scale, cap) in presets.items():
        p = sub.add_parser(name)
        p.add_argument("--jobs", type=int, default=jobs)
        p.add_argument("--slots", type=int, default=slots, help="K")
        p.add_argument("--median", type=float, default=60.0, help="simulated seconds")
        p.add_argument("--spread", type=float, default=0.5)
        p.add_argument("--time-scale", type=float, default=scale)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--cap", type=float, default=cap, help="wall seconds")
        p.add_argument("--sqlite", action="store_true", help="SQLite ledger, not PostgreSQL")
        p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
        if name == "throughput":
            p.add_argument("--submit", type=int, default=2, help="submit worker processes")
            p.add_argument("--poll", type=int, default=1, help="poll+control worker processes")
            p.add_argument("--store", type=int, default=2, help="store worker processes")
            p.add_argument("--profile", type=float, default=0.0, help="py-spy seconds mid-run")
    args = parser.parse_args(argv)
    args.workdir = args.workdir.resolve()
    results = presets[args.run][0](args)
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
