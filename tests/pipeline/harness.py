"""Drives the pipeline steps in-process against the real simulator, Redis and a SQLite ledger.

Messages go to a heap ordered by due time instead of a broker. Time is virtual: when the next
message is due later, the harness advances both kbatch's clock and the simulator's by the
difference, so a 60-second render "passes" without anyone sleeping, and the order of events is the
one real workers would see.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jobs.ledger import BatchRecord
from jobs.manifest import Manifest, load_manifest
from worker.batches import submit_manifest
from worker.context import Context, JobIdentity, build_context
from worker.names import Task
from worker.pipeline.dispatch import dispatch
from worker.pipeline.outcome import Next, Outcome, Retry
from worker.pipeline.poll import poll_job
from worker.pipeline.store import store_job
from worker.pipeline.submit import submit_job
from worker.pipeline.sweep import sweep
from worker.pipeline.watch import watch_turn
from worker.settings import Settings
from worker.sim.process import SimHandle


@dataclass(order=True)
class Message:
    due: float
    seq: int
    task: Task = field(compare=False)
    job_id: int | None = field(compare=False)
    retries: int = field(default=0, compare=False)


class VirtualClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


STEPS: dict[Task, Callable[..., Outcome]] = {
    Task.SUBMIT: submit_job,
    Task.POLL: poll_job,
    Task.STORE: store_job,
}


class Harness:
    def __init__(self, settings: Settings, sim: SimHandle, prefix: str) -> None:
        self.sim = sim
        self.clock = VirtualClock()
        self.queue: list[Message] = []
        self.seq = itertools.count()
        self.executed: Counter[Task] = Counter()
        self.ctx: Context = build_context(settings, self.enqueue, prefix=prefix, now=self.clock)

    def enqueue(self, task: Task, job: JobIdentity | None, countdown: float = 0.0) -> None:
        due = self.clock() + max(0.0, countdown)
        heapq.heappush(
            self.queue, Message(due, next(self.seq), task, None if job is None else job.id)
        )

    def submit(self, manifest: Path | Manifest, name: str | None = None) -> BatchRecord:
        loaded = manifest if isinstance(manifest, Manifest) else load_manifest(manifest)
        return submit_manifest(self.ctx, loaded, name=name)

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.clock.offset += seconds
            self.sim.advance(seconds)

    def step(self) -> Message | None:
        if not self.queue:
            return None
        msg = heapq.heappop(self.queue)
        self.advance(msg.due - self.clock())
        self.executed[msg.task] += 1
        if msg.task is Task.DISPATCH:
            dispatch(self.ctx)
            return msg
        if msg.task is Task.SWEEP:
            sweep(self.ctx)
            return msg
        if msg.task is Task.WATCH:
            watch_turn(self.ctx)  # a look per message, as on a single-slot worker
            return msg
        assert msg.job_id is not None
        outcome = STEPS[msg.task](self.ctx, msg.job_id, attempt=msg.retries)
        if isinstance(outcome, Next):
            heapq.heappush(
                self.queue,
                Message(self.clock() + outcome.countdown, next(self.seq), outcome.task, msg.job_id),
            )
        elif isinstance(outcome, Retry):
            heapq.heappush(
                self.queue,
                Message(
                    self.clock() + outcome.countdown,
                    next(self.seq),
                    msg.task,
                    msg.job_id,
                    msg.retries + 1,
                ),
            )
        return msg

    def drain(self, *tasks: Task, max_steps: int = 10_000) -> None:
        """Run messages until none of `tasks` is left in the queue."""
        for _ in range(max_steps):
            if not any(m.task in tasks for m in self.queue):
                return
            self.step()
        raise AssertionError(f"{tasks} still queued after {max_steps} steps")

    def run(self, batch_id: int, max_steps: int = 20_000, *, until_settled: bool = False) -> None:
        """Run messages until the batch has no unfinished job; with `until_settled`, until no
        message but sweeps is left (jobs may stay unfinished, in review say)."""
        for _ in range(max_steps):
            if self.ctx.ledger.unfinished(batch_id) == 0:
                return
            if until_settled and all(m.task is Task.SWEEP for m in self.queue):
                return
            if self.step() is None:
                raise AssertionError(
                    f"no message left but {self.ctx.ledger.unfinished(batch_id)} jobs unfinished"
                )
        raise AssertionError(f"batch {batch_id} did not finish in {max_steps} steps")

    def close(self) -> None:
        self.ctx.close()
