"""A small run of the whole harness (six jobs, two slots) with real processes, its figures checked
against what can be counted independently: files on disk, the ledger's poll counts, the
simulator's timelines. Nothing here asserts a timing target: that is the benchmark's business."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs.ledger import Ledger
from jobs.ledger.states import JobState
from ops.bench.compare import figures_for, measure_all
from ops.bench.contenders import guide_loop, kbatch_stack, plain_celery
from ops.bench.contenders.workload import GUIDE_POLL_SIM_S, Workload
from ops.bench.figures import Figures, Measured, bound

pytestmark = pytest.mark.slow

WORKLOAD = Workload(jobs=6, slots=2, median_s=60.0, spread=0.5, time_scale=0.02, seed=3, cap_s=90)
NAMES = (kbatch_stack.NAME, plain_celery.NAME, guide_loop.NAME)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Smoke:
    workdir: Path
    measured: dict[str, Measured]
    figures: dict[str, Figures]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Smoke:
    workdir = tmp_path_factory.mktemp("bench")
    measured = measure_all(WORKLOAD, NAMES, workdir)
    figures = {f.contender: f for f in figures_for(measured, WORKLOAD)}
    return Smoke(workdir, measured, figures)


def _durations(m: Measured) -> list[float]:
    return [float(t["sim_seconds"]) for t in m.tasks]


def test_every_contender_renders_every_job_once(smoke: Smoke) -> None:
    for name in NAMES:
        fig = smoke.figures[name]
        assert fig.finished, name
        assert fig.done == WORKLOAD.jobs
        assert len(smoke.measured[name].tasks) == WORKLOAD.jobs
        assert smoke.measured[name].stats["duplicate_creates"] == 0
    for name in (plain_celery.NAME, guide_loop.NAME):
        assert len(list((smoke.workdir / name / "videos").glob("*.mp4"))) == WORKLOAD.jobs
    stored = list((smoke.workdir / kbatch_stack.NAME / "stack" / "videos").rglob("*.mp4"))
    assert len(stored) == WORKLOAD.jobs


def test_the_same_seed_gives_every_contender_the_same_work(smoke: Smoke) -> None:
    sets = {name: sorted(_durations(m)) for name, m in smoke.measured.items()}
    assert sets[kbatch_stack.NAME] == sets[plain_celery.NAME] == sets[guide_loop.NAME]
    expected = bound(sets[kbatch_stack.NAME], WORKLOAD.slots)
    for fig in smoke.figures.values():
        assert fig.bound_s == pytest.approx(expected)


def test_no_contender_beats_the_bound_or_the_providers_limit(smoke: Smoke) -> None:
    for fig in smoke.figures.values():
        assert fig.makespan_s is not None
        assert fig.ratio >= 1.0, fig
        assert fig.makespan_s == pytest.approx(fig.ratio * fig.bound_s)
        assert fig.peak_in_flight <= WORKLOAD.slots
        assert fig.refused_share == 0.0
        assert fig.cpu_ms_per_job is not None
        assert fig.cpu_ms_per_job > 0
        assert fig.peak_rss_mb > 0
        assert fig.throughput_per_hour == pytest.approx(fig.done * 3600 / fig.makespan_s)
        # no slot is refilled before the task holding it was seen final, none seen after the end
        assert fig.slot_time is not None
        assert min(fig.slot_time.values()) >= 0.0, fig.slot_time
        assert math.fsum(fig.slot_time.values()) == pytest.approx(1.0)


def test_the_guide_loop_is_sequential_and_polls_every_two_seconds(smoke: Smoke) -> None:
    fig = smoke.figures[guide_loop.NAME]
    tasks = smoke.measured[guide_loop.NAME].tasks
    assert fig.peak_in_flight == 1
    assert fig.makespan_s is not None
    assert fig.makespan_s >= math.fsum(float(t["sim_seconds"]) for t in tasks)
    assert fig.processes == 1
    # one query right after the create, then at most one per interval until it sees the end
    interval = WORKLOAD.wall(GUIDE_POLL_SIM_S)
    at_most = sum(
        1 + (float(t["first_final_seen_at"]) - float(t["created_at"])) / interval for t in tasks
    )
    assert 1.0 <= fig.status_per_job <= at_most / WORKLOAD.jobs
    assert fig.lag_p50_share is not None
    # it sees the end within one interval, give or take scheduling on a busy machine
    assert fig.lag_p50_share <= 2 * GUIDE_POLL_SIM_S / WORKLOAD.median_s


def test_plain_celery_runs_k_pool_processes(smoke: Smoke) -> None:
    fig = smoke.figures[plain_celery.NAME]
    assert fig.processes == 1 + WORKLOAD.slots + 1  # main, pool children, submitter
    assert fig.peak_in_flight == WORKLOAD.slots
    assert fig.tasks_per_job is None


def test_kbatch_counts_its_task_executions_and_its_processes(smoke: Smoke) -> None:
    fig = smoke.figures[kbatch_stack.NAME]
    record = smoke.measured[kbatch_stack.NAME].record
    db = smoke.workdir / kbatch_stack.NAME / "stack" / "kbatch.db"
    with Ledger.open(f"sqlite:///{db}") as ledger:
        jobs = [j for b in ledger.batches() for j in ledger.jobs(b.id)]
    assert len(jobs) == WORKLOAD.jobs
    assert all(j.state is JobState.STORED for j in jobs)
    assert sorted(record.done_at) == sorted(
        j.finished_at.timestamp() for j in jobs if j.finished_at
    )
    # every job took at least a submit and a store, each a task execution of its own
    assert fig.tasks_per_job is not None
    assert fig.tasks_per_job >= 2
    assert fig.status_per_job > 0
    assert fig.processes == 3 + 1  # the default worker groups and `kbatch submit`
    assert set(record.cpu_by_process) == {"submit0", "poll-control0", "store0", "kbatch submit"}
    assert math.fsum(record.cpu_by_process.values()) == pytest.approx(record.usage.cpu_s)
    assert {"simulator", "redis0"} <= set(record.infra_cpu)


def test_the_entry_point_ends_with_one_json_line_per_contender(tmp_path: Path) -> None:
    """A capped run through `python -m ops.bench.compare`: the loop cannot finish in 3 s."""
    out = subprocess.run(
        [
            sys.executable, "-m", "ops.bench.compare",
            "--jobs", "6", "--slots", "2", "--time-scale", "0.02", "--seed", "3",
            "--cap", "3", "--contenders", guide_loop.NAME, "--workdir", str(tmp_path),
        ],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    last = json.loads(out.stdout.strip().splitlines()[-1])
    for key in (
        "contender", "jobs", "makespan_s", "bound_s", "ratio", "status_per_job",
        "refused_share", "lag_p95_share", "cpu_ms_per_job",
    ):  # fmt: skip
        assert key in last
    assert last["contender"] == guide_loop.NAME
    assert last["finished"] is False
    assert last["makespan_s"] is None
    assert 0 < last["done"] < 6
    assert last["throughput_per_hour"] > 0
    assert last["ratio"] > 1.0
