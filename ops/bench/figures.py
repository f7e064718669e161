"""The benchmark's figures, computed from what the simulator saw and what the contender recorded.

The simulator's `/_sim/tasks` gives each task's drawn duration (simulated seconds) and its wall
times: created, finished, and first seen final by a client. `/_sim/stats` counts requests by
endpoint and HTTP status. From those, and the contender's own start and per-job completion
times, come the figures; every duration is reported in simulated seconds.

- makespan: from launching the contender's submit step to its last job done (stored or saved).
- bound: max(longest task, sum of task durations / K), the physical limit for K slots.
- detection lag: first_final_seen_at - finished_at, as a share of the median generation time.
- slot time: K x makespan split into rendering, the start (launch to the first K creates),
  detection lag, refill (a task seen final to the next create) and the tail (the last K tasks
  seen final to the end); the parts add up to exactly K x makespan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ops.bench.contenders.processes import Usage
from ops.bench.contenders.workload import Workload

SIM_HOUR_S = 3600.0


@dataclass(frozen=True)
class RunRecord:
    """What one contender did, as measured around it (no figure is derived yet)."""

    contender: str
    started_at: float  # wall clock (Unix seconds) when the submit step was launched
    done_at: Sequence[float]  # wall clock when each job was done at the client
    stopped_at: float  # when the run ended: last job done, or the cap
    finished: bool  # every job done before the cap
    usage: Usage  # CPU and peak memory of the contender's own processes
    task_executions: int | None = None  # Celery task executions (kbatch only)
    notes: str = ""
    cpu_by_process: Mapping[str, float] = field(default_factory=dict)  # seconds, per role
    infra_cpu: Mapping[str, float] = field(default_factory=dict)  # simulator, Redis: not counted

    @classmethod
    def of_result(
        cls, contender: str, started_at: float, result: Mapping[str, Any], **measured: Any
    ) -> RunRecord:
        """The record of a contender whose own process wrote what it did as JSON (`done_at`,
        `stopped_at`, `finished`, `failed`); `measured` adds usage and CPU figures."""
        return cls(
            contender=contender,
            started_at=started_at,
            done_at=[float(t) for t in result["done_at"]],
            stopped_at=float(result["stopped_at"]),
            finished=bool(result["finished"]),
            notes=f"{result['failed']} failed at the provider" if result["failed"] else "",
            **measured,
        )


@dataclass(frozen=True)
class Measured:
    """A finished run: the contender's record and what the simulator saw."""

    record: RunRecord
    tasks: list[dict[str, Any]]
    stats: dict[str, Any]


@dataclass(frozen=True)
class Figures:
    """One contender's line of the comparison (simulated seconds unless named `wall`)."""

    contender: str
    jobs: int
    done: int
    finished: bool
    makespan_s: float | None  # None when the run hit the cap
    projected_makespan_s: float  # makespan, or done-rate extrapolated to every job
    bound_s: float
    ratio: float  # (projected) makespan / bound
    throughput_per_hour: float  # jobs per simulated hour
    status_per_job: float
    refused_share: float
    lag_p50_share: float | None
    lag_p95_share: float | None
    cpu_ms_per_job: float | None
    peak_rss_mb: float
    processes: int
    tasks_per_job: float | None
    peak_in_flight: int
    first_create_s: float | None
    wall_s: float
    slots: int
    time_scale: float
    slot_time: dict[str, float] | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: _rounded(v) for k, v in asdict(self).items()}


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if abs(value) < 10 else round(value, 1)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def bound(durations: Iterable[float], slots: int) -> float:
    """The shortest possible makespan of these tasks on `slots` slots."""
    values = list(durations)
    if not values:
        return 0.0
    return max(max(values), math.fsum(values) / slots)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100), linearly interpolated between the nearest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def detection_lags(tasks: Iterable[Mapping[str, Any]]) -> list[float]:
    """Wall seconds from each task's end at the provider to a client first seeing it final."""
    return [
        float(t["first_final_seen_at"]) - float(t["finished_at"])
        for t in tasks
        if t.get("finished_at") is not None and t.get("first_final_seen_at") is not None
    ]


def requests_by_kind(stats: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Request counts grouped as create, status or download, each by HTTP status."""
    kinds: dict[str, dict[str, int]] = {"create": {}, "status": {}, "download": {}}
    for endpoint, by_status in stats.get("requests", {}).items():
        method, _, path = endpoint.partition(" ")
        if path.startswith("/v1/"):
            kind = "create" if method == "POST" else "status"
        elif path.startswith("/results/"):
            kind = "download"
        else:
            continue
        for status, count in by_status.items():
            kinds[kind][status] = kinds[kind].get(status, 0) + int(count)
    return kinds


def status_requests(stats: Mapping[str, Any]) -> int:
    """Status requests the provider answered (queries by id and list pages), whatever the status."""
    return sum(requests_by_kind(stats)["status"].values())


def refused_share(stats: Mapping[str, Any]) -> float:
    """Share of create requests the provider answered with 429."""
    creates = requests_by_kind(stats)["create"]
    total = sum(creates.values())
    return creates.get("429", 0) / total if total else 0.0


def slot_time(
    tasks: Sequence[Mapping[str, Any]], slots: int, started_at: float, ended_at: float
) -> dict[str, float] | None:
    """Where K x makespan went, as shares: each create takes the slot of the earliest task seen
    final before it, so the parts add up to K x (end - start) whatever the pairing."""
    created = sorted(float(t["created_at"]) for t in tasks)
    seen = sorted(float(t["first_final_seen_at"]) for t in tasks if t.get("first_final_seen_at"))
    ends = [t.get("finished_at") for t in tasks]
    if len(seen) != len(tasks) or None in ends or len(tasks) < slots:
        return None
    total = slots * (ended_at - started_at)
    parts = {
        "render": math.fsum(float(t["finished_at"]) - float(t["created_at"]) for t in tasks),
        "start": math.fsum(c - started_at for c in created[:slots]),
        "lag": math.fsum(detection_lags(tasks)),
        "refill": math.fsum(c - s for c, s in zip(created[slots:], seen, strict=False)),
        "tail": math.fsum(ended_at - s for s in seen[len(seen) - slots :]),
    }
    return {k: v / total for k, v in parts.items()}


def compute(
    run: RunRecord,
    workload: Workload,
    tasks: Sequence[Mapping[str, Any]],
    stats: Mapping[str, Any],
    *,
    full_bound_s: float | None = None,
) -> Figures:
    """Every figure of one run. `full_bound_s` is the whole batch's bound when this run was
    capped before creating every task (the same seed draws the same durations for everyone)."""
    scale, n = workload.time_scale, workload.jobs
    durations = [float(t["sim_seconds"]) for t in tasks]
    done = len(run.done_at)
    if run.finished:
        limit = bound(durations, workload.slots)
    elif full_bound_s is not None:
        limit = full_bound_s
    else:
        # only some tasks exist: estimate the batch from their mean duration
        mean = math.fsum(durations) / len(durations) if durations else workload.median_s
        limit = max(max(durations, default=0.0), mean * n / workload.slots)
    end = max(run.done_at) if run.finished and run.done_at else run.stopped_at
    elapsed = (end - run.started_at) / scale
    makespan = elapsed if run.finished else None
    projected = elapsed if run.finished else (elapsed * n / done if done else math.inf)
    accepted = int(stats.get("creates_accepted", 0)) or len(tasks)
    statuses = status_requests(stats)
    lags = [lag / scale / workload.median_s for lag in detection_lags(tasks)]
    created = [float(t["created_at"]) for t in tasks]
    peaks = stats.get("max_in_flight", {})
    return Figures(
        contender=run.contender,
        jobs=n,
        done=done,
        finished=run.finished,
        makespan_s=makespan,
        projected_makespan_s=projected,
        bound_s=limit,
        ratio=projected / limit if limit else math.inf,
        throughput_per_hour=done / (elapsed / SIM_HOUR_S) if elapsed > 0 else 0.0,
        status_per_job=statuses / accepted if accepted else 0.0,
        refused_share=refused_share(stats),
        lag_p50_share=percentile(lags, 50) if lags else None,
        lag_p95_share=percentile(lags, 95) if lags else None,
        cpu_ms_per_job=run.usage.cpu_s * 1000 / done if done else None,
        peak_rss_mb=run.usage.peak_rss_kib / 1024,
        processes=run.usage.processes,
        tasks_per_job=run.task_executions / done if run.task_executions and done else None,
        peak_in_flight=max((int(v) for v in peaks.values()), default=0),
        first_create_s=(min(created) - run.started_at) / scale if created else None,
        wall_s=run.stopped_at - run.started_at,
        slots=workload.slots,
        time_scale=scale,
        slot_time=slot_time(tasks, workload.slots, run.started_at, end) if run.finished else None,
    )


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    limit: float
    met: bool


def kbatch_targets(fig: Figures) -> list[Target]:
    """The issue's targets for kbatch, each with the measured value and whether it is met."""

    def check(name: str, value: float | None, limit: float) -> Target:
        return Target(name, value, limit, value is not None and value <= limit)

    return [
        check("makespan / bound", fig.ratio if fig.finished else None, 1.10),
        check("status requests per job", fig.status_per_job, 3.0),
        check("creates refused with 429", fig.refused_share, 0.02),
        check("detection lag p95 / median", fig.lag_p95_share, 0.10),
        check("CPU ms per job", fig.cpu_ms_per_job, 20.0),
        check("task executions per job", fig.tasks_per_job, 6.0),
    ]
