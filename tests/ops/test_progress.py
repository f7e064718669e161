"""Following a batch: the numbers (throughput, ETA), the live frame as Rich renders it, the plain
lines, and `kbatch watch` as a real process reading a real ledger and Redis."""

from __future__ import annotations

import io
import os
import queue
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from rich.console import Console

from jobs.catalog import Mode
from jobs.ledger import BatchRecord, Ledger
from jobs.ledger.states import BatchState, JobState
from jobs.spec import Job, JobSpec
from tests.services import BIN
from worker.cli.progress import Throughput, duration, follow, frame, plain_line, snapshot
from worker.names import REDIS_PREFIX
from worker.throttle import SlotPool
from worker.throttle_status import RefusalLog, ThrottleProbe, ThrottleView

S = JobState
PATH = (S.PENDING, S.SUBMITTING, S.SUBMITTED, S.PROCESSING, S.DOWNLOADING, S.STORED)


def make_batch(ledger: Ledger, n: int = 3, name: str = "night-run") -> BatchRecord:
    jobs = [
        Job.of(
            JobSpec.model_validate(
                {"mode": Mode.TEXT2VIDEO, "model": "kling-v3", "prompt": f"a bay, take {i}"}
            ),
            row_id=f"row-{i}",
        )
        for i in range(n)
    ]
    return ledger.create_batch(name, jobs, [Decimal("40")] * n, manifest="m.yaml")


def advance(ledger: Ledger, job_id: int, to: JobState) -> None:
    """Walk a job along the happy path up to `to`, as the workers would."""
    state = ledger.job(job_id).state
    for target in PATH[PATH.index(state) + 1 : PATH.index(to) + 1]:
        fields: dict[str, Any] = {}
        if target is S.SUBMITTED:
            fields["provider_task_id"] = f"task-{job_id}"
        if target is S.STORED:
            fields["charged_credits"] = Decimal("40")
        assert ledger.transition(job_id, state, target, **fields)
        state = target


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path}/kbatch.db") as opened:
        yield opened


def view(**changes: object) -> ThrottleView:
    values: dict[str, object] = {
        "account": "acct",
        "configured_limit": 5,
        "limit": 5,
        "in_use": 5,
        "waiting": 12,
        "cooldown_s": 0.0,
    }
    values.update(changes)
    return ThrottleView(**values)  # type: ignore[arg-type]


# -- the numbers ------------------------------------------------------------------------------


def test_throughput_follows_a_sliding_window() -> None:
    rate = Throughput(window_s=60)
    assert rate.per_minute() is None
    rate.add(0, 100)  # attached to a batch that had already done 100 jobs
    assert rate.per_minute() is None
    rate.add(30, 110)
    assert rate.per_minute() == pytest.approx(20.0)
    assert rate.eta_s(40) == pytest.approx(120.0)
    for t, done in ((60, 120), (90, 120), (120, 120)):
        rate.add(t, done)
    assert rate.per_minute() == 0.0  # nothing finished in the last minute
    assert rate.eta_s(40) is None
    assert rate.eta_s(0) == 0.0


def test_durations_read_well() -> None:
    assert [duration(s) for s in (None, 4.4, 65, 3599, 7380)] == [
        "?",
        "4s",
        "1m05s",
        "59m59s",
        "2h03m",
    ]


def test_a_snapshot_reads_counts_credits_and_the_throttle(ledger: Ledger) -> None:
    batch = make_batch(ledger)
    ids = ledger.job_ids(batch.id)
    advance(ledger, ids[0], S.STORED)
    advance(ledger, ids[1], S.SUBMITTED)
    snap = snapshot(ledger, batch.id, throttle=lambda: view(), clock=lambda: 5.0)
    assert (snap.final, snap.total, snap.at) == (1, 3, 5.0)
    assert (snap.charged, snap.estimated) == (Decimal("40"), Decimal("120"))
    assert snap.counts_text() == "pending 1, submitted 1, stored 1"
    assert snap.throttle == view()
    assert snap.name == "night-run"


# -- what is shown ----------------------------------------------------------------------------


def test_the_live_frame_shows_every_part(ledger: Ledger) -> None:
    batch = make_batch(ledger)
    ids = ledger.job_ids(batch.id)
    advance(ledger, ids[0], S.STORED)
    rate = Throughput()
    rate.add(0, 0)
    rate.add(30, 1)
    snap = snapshot(ledger, batch.id, throttle=lambda: view(in_use=2, limit=3), clock=lambda: 30)
    console = Console(record=True, force_terminal=True, width=110, color_system="truecolor")
    console.print(frame(snap, rate, elapsed=95))
    styled = console.export_text(clear=False, styles=True)
    text = console.export_text()
    assert "batch night-run (id 1) running" in text
    assert "1/3 final" in text
    assert "33%" in text
    assert "elapsed 1m35s" in text
    assert "pending" in text
    assert "stored" in text
    assert "2.0 jobs/min, ETA 1m00s" in text
    assert "40 charged of 120 estimated" in text
    assert "slots 2/3 (lowered from 5), 12 waiting, 429s in 5 min: 0" in text
    assert "\x1b[" in styled  # a real terminal rendering, with colour


def test_the_plain_line_has_the_same_facts(ledger: Ledger) -> None:
    batch = make_batch(ledger)
    snap = snapshot(ledger, batch.id, throttle=lambda: None, clock=lambda: 0)
    line = plain_line(snap, Throughput(), wall=datetime(2026, 5, 1, 9, 30, 5))
    assert line == (
        "09:30:05 batch night-run: 0/3 final (pending 3) | ? jobs/min, ETA ? | "
        "credits 0 charged of 120 estimated | throttle unavailable (Redis) | running"
    )


# -- following --------------------------------------------------------------------------------


@dataclass
class Script:
    """Moves the batch on each time `follow` waits: the workers, played by the test."""

    ledger: Ledger
    batch_id: int
    steps: list[tuple[int, JobState]]
    t: float = 0.0
    waits: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds
        if self.steps:
            job_id, to = self.steps.pop(0)
            if job_id:
                advance(self.ledger, job_id, to)
        elif self.ledger.batch(self.batch_id).state is BatchState.RUNNING:
            self.ledger.set_batch_state(self.batch_id, BatchState.RUNNING, BatchState.FINISHED)


def test_follow_prints_a_plain_line_when_something_changes(ledger: Ledger) -> None:
    batch = make_batch(ledger)
    a, b, c = ledger.job_ids(batch.id)
    # (0, ...) is a look at which nothing changed: no line for it.
    steps = [(a, S.SUBMITTED), (0, S.PENDING), (a, S.STORED), (b, S.STORED), (c, S.STORED)]
    script = Script(ledger, batch.id, steps)
    buffer = io.StringIO()
    last = follow(
        ledger,
        batch.id,
        interval=2.0,
        sleep=script.sleep,
        throttle=lambda: view(in_use=1),
        console=Console(file=buffer, width=300),
        clock=script.clock,
    )
    assert last.state is BatchState.FINISHED
    assert last.final == 3
    out = buffer.getvalue().splitlines()
    assert [line.split(" | ")[0][9:] for line in out] == [
        "batch night-run: 0/3 final (pending 3)",
        "batch night-run: 0/3 final (pending 2, submitted 1)",
        "batch night-run: 1/3 final (pending 2, stored 1)",
        "batch night-run: 2/3 final (pending 1, stored 2)",
        "batch night-run: 3/3 final (stored 3)",
        "batch night-run: 3/3 final (stored 3)",
    ]
    assert out[-1].endswith("| finished")
    assert "credits 120 charged of 120 estimated" in out[-1]
    assert "\x1b[" not in buffer.getvalue()
    assert set(script.waits) == {2.0}


def test_follow_repeats_an_unchanged_line_after_the_heartbeat(ledger: Ledger) -> None:
    batch = make_batch(ledger, n=1)
    steps = [(0, S.PENDING)] * 20  # 20 looks, 2 s apart, at which nothing happens
    script = Script(ledger, batch.id, steps)
    buffer = io.StringIO()
    follow(
        ledger,
        batch.id,
        interval=2.0,
        timeout=39.0,
        sleep=script.sleep,
        throttle=lambda: None,
        console=Console(file=buffer, width=300),
        clock=script.clock,
    )
    # At 0 s, again at 30 s (heartbeat), and at 40 s when the timeout ends the watch.
    assert len(buffer.getvalue().splitlines()) == 3


def test_follow_draws_the_live_display_on_a_terminal(ledger: Ledger) -> None:
    batch = make_batch(ledger, n=2)
    a, b = ledger.job_ids(batch.id)
    script = Script(ledger, batch.id, [(a, S.STORED), (b, S.STORED)])
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    last = follow(
        ledger,
        batch.id,
        interval=1.0,
        sleep=script.sleep,
        throttle=lambda: view(),
        console=console,
        clock=script.clock,
    )
    assert last.state is BatchState.FINISHED
    drawn = buffer.getvalue()
    assert "\x1b[2K" in drawn or "\x1b[1A" in drawn  # frames redrawn in place
    assert "2/2 final" in drawn
    assert "finished" in drawn


def test_follow_reads_the_throttle_from_redis(
    ledger: Ledger, redis_client: redis.Redis, key_prefix: str
) -> None:
    batch = make_batch(ledger, n=1)
    (a,) = ledger.job_ids(batch.id)
    pool = SlotPool(redis_client, "acct", limit=5, prefix=key_prefix)
    assert pool.try_acquire(str(a))
    RefusalLog(redis_client, "acct", prefix=key_prefix).record()
    script = Script(ledger, batch.id, [(a, S.STORED)])
    buffer = io.StringIO()
    follow(
        ledger,
        batch.id,
        sleep=script.sleep,
        throttle=ThrottleProbe(redis_client, "acct", limit=5, prefix=key_prefix),
        console=Console(file=buffer, width=300),
        clock=script.clock,
    )
    first = buffer.getvalue().splitlines()[0]
    assert "throttle slots 1/5, 0 waiting, 429s in 5 min: 1 (concurrency 1)" in first


# -- kbatch watch -----------------------------------------------------------------------------


@pytest.fixture
def account(redis_client: redis.Redis) -> Iterator[str]:
    """An account name of this test's own under the real key prefix; its keys go afterwards."""
    name = f"watch-{uuid.uuid4().hex[:8]}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{REDIS_PREFIX}throttle:{{{name}}}*"))
    if keys:
        redis_client.delete(*keys)


def watch_env(tmp_path: Path, redis_url: str, account: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KBATCH_") and k not in ("FORCE_COLOR", "TTY_COMPATIBLE")
    }
    return {
        **env,
        "KBATCH_DATABASE_URL": f"sqlite:///{tmp_path}/kbatch.db",
        "KBATCH_REDIS_URL": redis_url,
        "KBATCH_PROVIDER__ACCOUNT": account,
        "KBATCH_PROVIDER__CONCURRENCY": "4",
    }


def _reader(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_kbatch_watch_prints_plain_lines_until_the_batch_finishes(
    ledger: Ledger, tmp_path: Path, redis_client: redis.Redis, redis_url: str, account: str
) -> None:
    batch = make_batch(ledger)
    ids = ledger.job_ids(batch.id)
    pool = SlotPool(redis_client, account, limit=4, prefix=REDIS_PREFIX)
    assert pool.try_acquire(str(ids[0]))
    RefusalLog(redis_client, account, prefix=REDIS_PREFIX).record()
    proc = subprocess.Popen(
        [str(BIN / "kbatch"), "watch", "night-run", "--interval", "0.1", "--timeout", "60"],
        env=watch_env(tmp_path, redis_url, account),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _reader(proc)
        first = lines.get(timeout=30)
        assert "batch night-run: 0/3 final (pending 3)" in first
        assert "throttle slots 1/4, 0 waiting, 429s in 5 min: 1 (concurrency 1)" in first
        for job_id in ids:
            advance(ledger, job_id, S.STORED)
        ledger.set_batch_state(batch.id, BatchState.RUNNING, BatchState.FINISHED)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest, "no line after the batch moved"
    assert "3/3 final (stored 3)" in rest[-1]
    assert "credits 120 charged of 120 estimated" in rest[-1]
    assert rest[-1].endswith("| finished")
    assert "\x1b[" not in first + "".join(rest)


@pytest.mark.parametrize(("ending", "code"), [(BatchState.PAUSED, 3), (BatchState.CANCELLED, 0)])
def test_kbatch_watch_exit_code_says_how_the_batch_ended(
    ledger: Ledger,
    tmp_path: Path,
    redis_url: str,
    account: str,
    ending: BatchState,
    code: int,
) -> None:
    batch = make_batch(ledger)
    ledger.set_batch_state(batch.id, BatchState.RUNNING, ending)
    run = subprocess.run(
        [str(BIN / "kbatch"), "watch", str(batch.id)],
        env=watch_env(tmp_path, redis_url, account),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == code, run.stderr
    assert run.stdout.count("\n") == 1
    assert run.stdout.rstrip().endswith(f"| {ending.value}")


def test_kbatch_watch_names_an_unknown_batch(
    ledger: Ledger, tmp_path: Path, redis_url: str, account: str
) -> None:
    run = subprocess.run(
        [str(BIN / "kbatch"), "watch", "no-such-batch"],
        env=watch_env(tmp_path, redis_url, account),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "no batch named 'no-such-batch'" in run.stderr
