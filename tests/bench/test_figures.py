"""The benchmark's arithmetic on timelines and counters whose right answers are worked out here."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ops.bench.contenders.processes import Usage
from ops.bench.contenders.workload import Workload
from ops.bench.figures import (
    RunRecord,
    bound,
    compute,
    detection_lags,
    kbatch_targets,
    percentile,
    refused_share,
    requests_by_kind,
)

T0 = 1_780_000_000.0
SCALE = 0.01
WORKLOAD = Workload(jobs=4, slots=2, median_s=60.0, time_scale=SCALE)


def _task(created: float, sim_s: float, seen_after_sim_s: float | None) -> dict[str, Any]:
    """A finished task as `/_sim/tasks` reports it: wall times, duration in simulated seconds."""
    finished = created + sim_s * SCALE
    seen = None if seen_after_sim_s is None else finished + seen_after_sim_s * SCALE
    return {
        "created_at": created,
        "finished_at": finished,
        "first_final_seen_at": seen,
        "sim_seconds": sim_s,
        "status": "succeed",
    }


STATS: dict[str, Any] = {
    "creates_accepted": 4,
    "max_in_flight": {"default": 2},
    "requests": {
        "POST /v1/videos/text2video": {"200": 4, "429": 1},
        "GET /v1/videos/text2video/{ident}": {"200": 9, "500": 1},
        "GET /v1/videos/text2video": {"200": 2},
        "GET /results/{task_id}/{file}": {"200": 4},
    },
}


def test_bound_is_the_longest_task_or_the_work_spread_over_the_slots() -> None:
    assert bound([10, 20, 30, 40], 2) == 50  # sum 100 over 2 slots
    assert bound([10, 20, 30, 400], 2) == 400  # one task longer than the rest together
    assert bound([60], 10) == 60
    assert bound([], 3) == 0.0


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_detection_lag_counts_only_tasks_seen_final() -> None:
    tasks = [_task(T0, 60, 3.0), _task(T0, 90, None), {"finished_at": None}]
    assert detection_lags(tasks) == [pytest.approx(3.0 * SCALE)]


def test_requests_are_grouped_as_creates_status_queries_and_downloads() -> None:
    kinds = requests_by_kind(STATS)
    assert kinds["create"] == {"200": 4, "429": 1}
    assert kinds["status"] == {"200": 11, "500": 1}  # queries by id and list pages alike
    assert kinds["download"] == {"200": 4}
    assert refused_share(STATS) == pytest.approx(1 / 5)
    assert refused_share({"requests": {}}) == 0.0


def test_a_finished_run() -> None:
    # Two slots: tasks 0 and 1 start at once, 2 and 3 when those end (60 and 80 simulated s).
    tasks = [
        _task(T0 + 1.0 * SCALE, 60, 1.0),
        _task(T0 + 1.0 * SCALE, 80, 2.0),
        _task(T0 + 62.0 * SCALE, 40, 3.0),
        _task(T0 + 83.0 * SCALE, 100, 4.0),
    ]
    done_at = [float(t["first_final_seen_at"]) + 1.0 * SCALE for t in tasks]
    record = RunRecord(
        contender="c",
        started_at=T0,
        done_at=done_at,
        stopped_at=max(done_at),
        finished=True,
        usage=Usage(cpu_s=0.2, peak_rss_kib=2048, processes=3),
        task_executions=22,
    )
    fig = compute(record, WORKLOAD, tasks, STATS)
    assert fig.done == 4
    assert fig.makespan_s == pytest.approx(83 + 100 + 4 + 1)  # last task seen, then saved
    assert fig.projected_makespan_s == fig.makespan_s
    assert fig.bound_s == pytest.approx(max(100, (60 + 80 + 40 + 100) / 2))
    assert fig.ratio == pytest.approx(188 / 140)
    assert fig.throughput_per_hour == pytest.approx(4 / (188 / 3600))
    assert fig.status_per_job == pytest.approx(12 / 4)
    assert fig.refused_share == pytest.approx(0.2)
    assert fig.lag_p50_share == pytest.approx(2.5 / 60)
    assert fig.lag_p95_share == pytest.approx((3.0 + 0.85 * 1.0) / 60)
    assert fig.cpu_ms_per_job == pytest.approx(50.0)
    assert fig.peak_rss_mb == 2.0
    assert fig.tasks_per_job == pytest.approx(5.5)
    assert fig.peak_in_flight == 2
    assert fig.first_create_s == pytest.approx(1.0)
    # 2 slots x 188 s: 280 rendering, 1 + 1 before the first creates, 10 of lag, no refill gap
    # (each create came as the previous task was seen), 83 + 1 after the last two were seen
    assert fig.slot_time is not None
    assert fig.slot_time == pytest.approx(
        {"render": 280 / 376, "start": 2 / 376, "lag": 10 / 376, "refill": 0.0, "tail": 84 / 376}
    )


def test_a_capped_run_is_projected_against_the_whole_batchs_bound() -> None:
    tasks = [_task(T0, 60, 1.0), _task(T0 + 62 * SCALE, 80, None)]  # the second never seen
    record = RunRecord(
        contender="slow",
        started_at=T0,
        done_at=[T0 + 62 * SCALE],
        stopped_at=T0 + 120 * SCALE,
        finished=False,
        usage=Usage(cpu_s=0.01, peak_rss_kib=1024, processes=1),
    )
    fig = compute(record, WORKLOAD, tasks, STATS, full_bound_s=150.0)
    assert fig.makespan_s is None
    assert fig.projected_makespan_s == pytest.approx(120 * 4 / 1)
    assert fig.bound_s == 150.0
    assert fig.ratio == pytest.approx(480 / 150)
    assert fig.throughput_per_hour == pytest.approx(1 / (120 / 3600))
    assert fig.lag_p95_share == pytest.approx(1.0 / 60)
    assert fig.tasks_per_job is None
    assert fig.slot_time is None
    # without the whole batch's bound, the batch is estimated from the tasks that exist
    alone = compute(record, WORKLOAD, tasks, STATS)
    assert alone.bound_s == pytest.approx(max(80, 70 * 4 / 2))


def test_a_run_that_did_nothing_reports_no_rates() -> None:
    record = RunRecord("idle", T0, [], T0 + 1.0, False, Usage())
    fig = compute(record, WORKLOAD, [], {"requests": {}})
    assert fig.done == 0
    assert math.isinf(fig.projected_makespan_s)
    assert fig.cpu_ms_per_job is None
    assert fig.lag_p50_share is None
    assert fig.first_create_s is None


def test_kbatch_targets_compare_each_figure_with_its_limit() -> None:
    tasks = [_task(T0, 60, 1.0)]
    record = RunRecord("kbatch", T0, [T0 + 61 * SCALE], T0 + 61 * SCALE, True, Usage(0.001), 5)
    one = Workload(jobs=1, slots=1, time_scale=SCALE)
    stats = {"requests": {"GET /v1/videos/text2video/{ident}": {"200": 4}}}
    met = {t.name: t.met for t in kbatch_targets(compute(record, one, tasks, stats))}
    assert met == {
        "makespan / bound": True,  # 61 / 60
        "status requests per job": False,  # 4 > 3
        "creates refused with 429": True,
        "detection lag p95 / median": True,
        "CPU ms per job": True,
        "task executions per job": True,
    }
