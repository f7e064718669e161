"""Side by side: the product guide's loop, a plain Celery version and kbatch, on one workload.

    python -m ops.bench.compare [--jobs 200] [--slots 10] [--median 60] [--spread 0.5]
                                [--time-scale 0.045] [--seed 1] [--cap 120]
                                [--contenders kbatch,plain-celery,guide-loop] [--workdir DIR]

Each contender gets a fresh simulator with the same seed, so all render the same durations. A
table and kbatch's targets are printed first; the output ends with one JSON line per contender
(`make bench` runs this with its defaults). Durations are simulated seconds; a contender that
cannot finish within `--cap` wall seconds is stopped and reports what it did and its throughput.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ops.bench.contenders import guide_loop, kbatch_stack, plain_celery
from ops.bench.contenders.workload import Workload
from ops.bench.figures import Figures, Measured, bound, compute, kbatch_targets

Runner = Callable[[Workload, Path], Measured]
CONTENDERS: dict[str, Runner] = {
    kbatch_stack.NAME: kbatch_stack.run,
    plain_celery.NAME: plain_celery.run,
    guide_loop.NAME: guide_loop.run,
}
DEFAULT_WORKDIR = Path("var/bench/compare")


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(figures: Sequence[Figures]) -> str:
    header = (
        f"{'contender':14} {'done':>9} {'makespan':>9} {'bound':>7} {'ratio':>6} "
        f"{'jobs/h':>7} {'status/job':>10} {'429':>6} {'lag p50':>8} {'lag p95':>8} "
        f"{'CPU ms/job':>10} {'peak MB':>8} {'tasks/job':>9}"
    )
    rows = [header]
    for f in figures:
        makespan = _num(f.makespan_s, ".0f") if f.finished else f"~{f.projected_makespan_s:.0f}"
        rows.append(
            f"{f.contender:14} {f'{f.done}/{f.jobs}':>9} {makespan:>9} {f.bound_s:>7.0f} "
            f"{f.ratio:>6.3f} {f.throughput_per_hour:>7.0f} {f.status_per_job:>10.2f} "
            f"{f.refused_share:>6.1%} {_num(f.lag_p50_share, '.1%'):>8} "
            f"{_num(f.lag_p95_share, '.1%'):>8} {_num(f.cpu_ms_per_job, '.1f'):>10} "
            f"{f.peak_rss_mb:>8.0f} {_num(f.tasks_per_job, '.2f'):>9}"
        )
    return "\n".join(rows)


def targets_report(fig: Figures) -> str:
    lines = [f"{fig.contender} against its targets:"]
    for t in kbatch_targets(fig):
        value = "-" if t.value is None else f"{t.value:.3f}"
        lines.append(f"  {'met   ' if t.met else 'MISSED'} {t.name}: {value} (target <= {t.limit})")
    return "\n".join(lines)


def cpu_report(m: Measured) -> str:
    """CPU milliseconds per job of each process, and of the services the contender ran on."""
    done = max(1, len(m.record.done_at))

    def parts(values: Mapping[str, float]) -> str:
        return ", ".join(f"{k} {v * 1000 / done:.1f}" for k, v in values.items())

    line = f"{m.record.contender} CPU ms per job by process: {parts(m.record.cpu_by_process)}"
    if m.record.infra_cpu:
        line += f"; services, not counted: {parts(m.record.infra_cpu)}"
    return line


def measure_all(workload: Workload, names: Sequence[str], workdir: Path) -> dict[str, Measured]:
    """Run the named contenders one after another, each in a fresh folder under `workdir`."""
    measured: dict[str, Measured] = {}
    for name in names:
        folder = workdir / name
        if folder.exists():
            shutil.rmtree(folder)
        print(f"running {name} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        measured[name] = CONTENDERS[name](workload, folder)
        print(f"  {name} took {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    return measured


def figures_for(measured: dict[str, Measured], workload: Workload) -> list[Figures]:
    """The figures of every run, in the order they ran."""
    # The same seed draws the same durations in create order, so a contender that created every
    # task gives the whole batch's bound to one that was stopped early.
    complete = [m for m in measured.values() if m.record.finished and len(m.tasks) == workload.jobs]
    full = None
    if complete:
        full = bound((float(t["sim_seconds"]) for t in complete[0].tasks), workload.slots)
    return [
        compute(m.record, workload, m.tasks, m.stats, full_bound_s=full) for m in measured.values()
    ]


def main(argv: Sequence[str] | None = None) -> None:
    defaults = Workload()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=defaults.jobs)
    parser.add_argument("--slots", type=int, default=defaults.slots, help="K")
    parser.add_argument("--median", type=float, default=defaults.median_s, help="simulated s")
    parser.add_argument("--spread", type=float, default=defaults.spread)
    parser.add_argument("--time-scale", type=float, default=defaults.time_scale)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--cap", type=float, default=defaults.cap_s, help="wall seconds each")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender(s) {unknown}; known: {', '.join(CONTENDERS)}")
    workload = Workload.from_args(args)
    measured = measure_all(workload, names, args.workdir.resolve())
    figures = figures_for(measured, workload)
    print(
        f"N={workload.jobs} K={workload.slots} median={workload.median_s:g} s "
        f"spread={workload.spread:g} time scale={workload.time_scale:g} seed={workload.seed} "
        f"cap={workload.cap_s:g} s wall (durations in simulated seconds)"
    )
    print(table(figures))
    for fig in figures:
        if fig.slot_time:
            parts = ", ".join(f"{k} {v:.1%}" for k, v in fig.slot_time.items())
            print(f"{fig.contender} slot time (K x makespan): {parts}")
    for m in measured.values():
        if m.record.cpu_by_process:
            print(cpu_report(m))
        if m.record.notes:
            print(f"{m.record.contender}: {m.record.notes}")
    for fig in figures:
        if fig.contender == kbatch_stack.NAME:
            print(targets_report(fig))
    for fig in figures:
        print(json.dumps(fig.as_json()))


if __name__ == "__main__":
    main()
