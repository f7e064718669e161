"""The in-process step benchmark on a few jobs: every job runs each step once, and costs CPU."""

from __future__ import annotations

from ops.bench.steps import measure


def test_the_step_benchmark_runs_each_job_through_every_step(redis_url: str) -> None:
    figures = measure(4, 2, redis_url)
    assert (figures["jobs"], figures["slots"]) == (4, 2)
    assert figures["executions"]["kbatch.submit"] == 4
    assert figures["executions"]["kbatch.store"] == 4
    assert figures["executions"]["kbatch.watch"] >= 1
    by_step = figures["by_step_ms_per_job"]
    assert all(by_step[step] > 0 for step in ("kbatch.submit", "kbatch.watch", "kbatch.store"))
    assert figures["steps_cpu_ms_per_job"] == round(sum(by_step.values()), 2)
