"""Contender 3, kbatch with its default settings, run as a user runs it: `worker.stack`'s real
Redis, simulator and Celery worker processes, and the batch sent with `kbatch submit`.

Settings differ from the defaults in two ways only, both stated in RESULTS.md: the account's
concurrency is set to the workload's K (`KBATCH_PROVIDER__CONCURRENCY`), and every duration in
the poll and retry settings (`KBATCH_POLL__*_S`, `KBATCH_RETRY__*_S`) is multiplied by the time
scale, because those are waits measured against the provider's clock.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel

from jobs.ledger import Ledger
from jobs.ledger.states import FINAL_STATES, BatchState
from ops.bench.contenders.processes import (
    Usage,
    children_named,
    cpu_between,
    cpu_by_label,
    run_measured,
    tree_usage,
)
from ops.bench.contenders.workload import SIM_API_KEY, Workload, write_csv_manifest
from ops.bench.figures import Measured, RunRecord
from worker.settings import PollSettings, RetrySettings
from worker.stack import DEFAULT_GROUPS, Stack, WorkerGroup, local_stack, worker_stats

NAME = "kbatch"
KBATCH = Path(sys.executable).parent / "kbatch"
ENDED = (BatchState.FINISHED, BatchState.CANCELLED, BatchState.PAUSED)
LEDGER_READ_INTERVAL_S = 0.25  # how often the harness looks for the end; it times nothing


def _scaled(prefix: str, settings: BaseModel, scale: float) -> dict[str, str]:
    return {
        f"{prefix}{name.upper()}": f"{getattr(settings, name) * scale:.6g}"
        for name in type(settings).model_fields
        if name.endswith("_s")
    }


def scaled_settings(workload: Workload) -> dict[str, str]:
    """Environment for kbatch's defaults with every provider-clock wait scaled, and K slots."""
    return {
        "KBATCH_PROVIDER__CONCURRENCY": str(workload.slots),
        **_scaled("KBATCH_POLL__", PollSettings(), workload.time_scale),
        **_scaled("KBATCH_RETRY__", RetrySettings(), workload.time_scale),
    }


def task_executions(broker_url: str) -> int:
    """Tasks every live worker has executed since it started (`celery inspect stats`)."""
    replies = worker_stats(broker_url)
    return sum(int(n) for reply in replies.values() for n in reply.get("total", {}).values())


def _wait_ended(ledger: Ledger, batch_id: int, deadline: float) -> bool:
    while time.time() < deadline:
        if ledger.batch(batch_id).state in ENDED:
            return True
        time.sleep(LEDGER_READ_INTERVAL_S)  # reads the ledger until the batch ends or the cap
    return False


def submit(stack: Stack, manifest: Path) -> tuple[int, Usage]:
    """`kbatch submit` as its own process; returns the batch id and what the command used."""
    done = run_measured(
        [str(KBATCH), "submit", str(manifest), "--json"], {**os.environ, **stack.env}
    )
    if done.returncode != 0:
        raise RuntimeError(f"kbatch submit failed: {done.stderr[-2000:]}")
    return int(json.loads(done.stdout)["id"]), done.usage


def worker_labels(groups: Sequence[WorkerGroup]) -> list[str]:
    """One label per worker process, in the order `local_stack` starts them."""
    return [f"{g.label()}{i}" for g in groups for i in range(g.processes)]


def run(
    workload: Workload,
    workdir: Path,
    *,
    groups: Sequence[WorkerGroup] = DEFAULT_GROUPS,
    env: Mapping[str, str] | None = None,
    name: str = NAME,
    infra: Mapping[str, int] | None = None,
    on_submitted: Callable[[Stack], None] | None = None,
) -> Measured:
    """Start the stack, submit the batch, wait for it to end (or the cap); return what happened.

    `env` adds settings (S3 storage, a PostgreSQL ledger) on top of `scaled_settings`; `infra`
    names more service processes whose CPU is reported beside kbatch's (an S3 server, say);
    `on_submitted` is called once the batch is in (to start a profiler, say).
    """
    manifest = write_csv_manifest(workload, workdir)
    extra = {**scaled_settings(workload), **(env or {})}
    with local_stack(
        workdir / "stack",
        sim_args=workload.sim_args(),
        api_key=SIM_API_KEY,
        groups=groups,
        extra_env=extra,
    ) as stack:
        workers = dict(zip(worker_labels(groups), (p.pid for p in stack.workers), strict=True))
        services = {"simulator": stack.sim.pid, **(infra or {})}
        services.update({f"redis{i}": pid for i, pid in enumerate(children_named("redis-server"))})
        before, before_services = tree_usage(workers.values()), tree_usage(services.values())
        started = time.time()
        batch_id, submit_usage = submit(stack, manifest)
        if on_submitted is not None:
            on_submitted(stack)
        ledger = Ledger.open(stack.env["KBATCH_DATABASE_URL"])
        try:
            finished = _wait_ended(ledger, batch_id, started + workload.cap_s)
            stopped = time.time()
            after, after_services = tree_usage(workers.values()), tree_usage(services.values())
            executions = task_executions(stack.redis_url)
            jobs = ledger.jobs(batch_id)
        finally:
            ledger.close()
        tasks, stats = stack.sim.tasks(), stack.sim.stats()
    done_at = [j.finished_at.timestamp() for j in jobs if j.state in FINAL_STATES and j.finished_at]
    failed = [j for j in jobs if j.error]
    by_worker = cpu_by_label(before, after, workers)
    record = RunRecord(
        contender=name,
        started_at=started,
        done_at=done_at,
        stopped_at=max(done_at) if finished and done_at else stopped,
        finished=finished and len(done_at) == workload.jobs,
        usage=cpu_between(before, after) + submit_usage,
        task_executions=executions,
        notes=f"{len(failed)} failed: {failed[0].error}" if failed else "",
        cpu_by_process={**by_worker, "kbatch submit": submit_usage.cpu_s},
        infra_cpu=cpu_by_label(before_services, after_services, services),
    )
    return Measured(record, tasks, stats)
