"""Beat: the nightly entry from settings, read by Celery's own crontab engine; and real `celery
beat` processes against a private Redis, sending the nightly task that a real worker then runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import ValidationError

from jobs.ledger import Ledger
from jobs.ledger.states import BatchState, JobState
from jobs.manifest import load_manifest
from tests.deploy.conftest import API_KEY, UNUSED_BASE_URL, write_manifest
from tests.services import queued_tasks
from worker.beat import (
    LOCK_KEY,
    NIGHTLY_ENTRY,
    NIGHTLY_RELEASE_TASK,
    NIGHTLY_TASK,
    ScheduleError,
    beat_status,
    parse_cron,
)
from worker.celery_app import celery_config, create_app
from worker.names import Queue
from worker.nightly import batch_name, night_of
from worker.processes import stop_process, wait_for
from worker.settings import NightlySettings, Settings
from worker.stack import WorkerGroup, private_redis, start_worker, wait_for_workers

ROOT = Path(__file__).resolve().parents[2]


def nightly_settings(**nightly: str) -> Settings:
    return Settings(nightly=NightlySettings.model_validate(nightly))


def test_the_nightly_entry_runs_at_the_cron_time_in_the_time_zone() -> None:
    settings = nightly_settings(cron="30 3 * * 1-5", timezone="Europe/Paris")
    app = create_app(settings)
    entry = app.conf.beat_schedule[NIGHTLY_ENTRY]
    schedule = entry["schedule"]
    schedule.app = app
    # Monday 2 March 2026, 02:00 in Paris (01:00 UTC).
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    schedule.nowfun = lambda: now

    assert (entry["task"], entry["options"]["queue"]) == (NIGHTLY_TASK, "control")
    assert str(app.timezone) == "Europe/Paris"
    assert schedule.remaining_estimate(now) == timedelta(hours=1, minutes=30)  # 03:30 Paris
    # After Friday's run, the next is Monday's: days 1-5 only.
    friday_run = datetime(2026, 3, 6, 2, 30, tzinfo=UTC)
    schedule.nowfun = lambda: friday_run
    assert friday_run + schedule.remaining_estimate(friday_run) == datetime(
        2026, 3, 9, 2, 30, tzinfo=UTC
    )


def test_a_bad_cron_or_time_zone_is_refused_naming_the_setting() -> None:
    with pytest.raises(ScheduleError, match=r"KBATCH_NIGHTLY__CRON '0 2 \* \*' needs 5 fields"):
        parse_cron("0 2 * *")
    with pytest.raises(ScheduleError, match="KBATCH_NIGHTLY__CRON '61 2 \\* \\* \\*': "):
        parse_cron("61 2 * * *")
    assert parse_cron("0  2 * * *") == parse_cron("0 2 * * *")  # any whitespace between fields
    # The settings themselves refuse what beat could not read, so `kbatch config` says so too.
    with pytest.raises(ValidationError, match="not a known time zone"):
        nightly_settings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="5 fields"):
        nightly_settings(cron="0 2 * *")


def test_cron_off_leaves_the_nights_to_system_cron_and_keeps_the_sweep() -> None:
    schedule = celery_config(nightly_settings(cron="off"))["beat_schedule"]
    assert set(schedule) == {"sweep"}
    assert NIGHTLY_ENTRY in celery_config(nightly_settings())["beat_schedule"]


def test_beat_runs_redbeat_with_its_own_redis_url_and_lock() -> None:
    config = celery_config(Settings(redis_url="redis://:pw@10.0.0.5:6379/0"))

    assert config["beat_scheduler"] == "redbeat.RedBeatScheduler"
    assert config["redbeat_redis_url"] == "redis://:pw@10.0.0.5:6379/0"
    assert config["redbeat_key_prefix"] == "kbatch:redbeat:"
    # A dead beat's lock lapses after the timeout; a live one renews it every loop.
    assert config["beat_max_loop_interval"] * 5 <= config["redbeat_lock_timeout"]
    app = create_app(Settings())
    app.loader.import_default_modules()
    assert {NIGHTLY_TASK, NIGHTLY_RELEASE_TASK} <= set(app.tasks)


# Real processes


def log_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def log_records(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in log_text(path).splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        stop_process(proc, 15)


def beat_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.beat", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


BEAT = [sys.executable, "-m", "celery", "-A", "tests.deploy.beat_app", "beat", "-l", "INFO"]


@pytest.mark.slow
def test_one_beat_sends_the_nightly_task_a_second_waits_and_a_worker_runs_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "nightly"
    folder.mkdir()
    write_manifest(folder, "clips.yaml", ["a", "b"])
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with ExitStack() as stack:
        url = stack.enter_context(private_redis(tmp_path))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KBATCH_REDIS_URL": url,
            "KBATCH_DATABASE_URL": ledger_url,
            "KBATCH_STORAGE_URL": f"file://{tmp_path / 'videos'}",
            "KBATCH_PROVIDER__BASE_URL": UNUSED_BASE_URL,
            "KBATCH_PROVIDER__API_KEY": API_KEY,
            "KBATCH_NIGHTLY__MANIFESTS": str(folder / "*.yaml"),
            "KBATCH_NIGHTLY__TIMEZONE": "UTC",
            "KBATCH_NIGHTLY__ON_OVERLAP": "queue",
            "KBATCH_LOG_FORMAT": "json",
            "KBATCH_LOG_LEVEL": "INFO",
        }
        client = stack.enter_context(redis.Redis.from_url(url))
        logs = [tmp_path / "beat-1.log", tmp_path / "beat-2.log"]
        first = stack.enter_context(running(BEAT, env, logs[0]))
        wait_for(lambda: "beat: Acquired lock" in log_text(logs[0]), "the first beat's lock", first)
        second = stack.enter_context(running(BEAT, env, logs[1]))
        wait_for(lambda: "beat: Starting" in log_text(logs[1]), "the second beat's start", second)

        def nightly_sent() -> int:
            return queued_tasks(client, Queue.CONTROL.value).count(NIGHTLY_TASK)

        start, sent = time.monotonic(), nightly_sent()
        wait_for(lambda: nightly_sent() >= sent + 4, "four nightly messages", first)
        # One entry every second, from one beat: four take three seconds at least.
        assert time.monotonic() - start > 2.5
        assert second.poll() is None
        assert "Acquired lock" not in log_text(logs[1])
        assert "Sending due task" not in log_text(logs[1])
        assert beat_check(env).returncode == 0

        stop_process(first, 15)
        assert "beat: Releasing lock" in log_text(logs[0])
        wait_for(
            lambda: "beat: Acquired lock" in log_text(logs[1]), "the lock passing over", second
        )
        handed_over = nightly_sent()
        wait_for(lambda: nightly_sent() >= handed_over + 2, "messages from the second beat", second)

        # Last night's batch of the manifest still runs: tonight's is held behind it.
        nights = {night_of(datetime.now(UTC), "UTC")}
        last_night = batch_name("clips", min(nights) - timedelta(days=1))
        ledger = stack.enter_context(Ledger.open(ledger_url))
        manifest = load_manifest(folder / "clips.yaml")
        info = {"manifest": "clips", "night": last_night.removeprefix("clips-")}
        before = ledger.create_batch(
            last_night, manifest.jobs[:1], [Decimal(1)], manifest=None, options={"nightly": info}
        )
        worker_env = {k: v for k, v in env.items() if k.startswith(("KBATCH_", "PYTHONPATH"))}
        stack.enter_context(control_worker(worker_env, tmp_path))
        worker_log = tmp_path / "worker-control-0.log"

        def actions() -> list[str]:
            return [r["action"] for r in log_records(worker_log) if "action" in r]

        wait_for(lambda: "skipped" in actions() or "held" in actions(), "the worker's first run")
        assert actions()[0] == "held"
        wait_for(
            lambda: f"Task {NIGHTLY_RELEASE_TASK}[" in log_text(worker_log),
            "the release check sent while a batch is held",
        )
        (job,) = ledger.jobs(before.id)
        assert ledger.transition(job.id, JobState.PENDING, JobState.CANCELLED)
        assert ledger.set_batch_state(before.id, BatchState.RUNNING, BatchState.CANCELLED)
        wait_for(lambda: "released" in actions(), "the held batch released by the next run")
        released = actions().index("released")
        wait_for(lambda: actions()[released:].count("exists") >= 2, "later runs: nothing new")
        assert set(actions()) == {"held", "released", "exists"}
        assert (actions().count("held"), actions().count("released")) == (1, 1)
        stop_process(second, 15)
        wait_for(lambda: client.exists(LOCK_KEY) == 0, "the lock released")
        assert beat_check(env).returncode == 1
        for log in [*logs, worker_log]:
            assert API_KEY not in log_text(log)
        nights.add(night_of(datetime.now(UTC), "UTC"))  # a run across midnight UTC

    with Ledger.open(ledger_url) as ledger:
        tonight, last = ledger.batches()
    assert last.name == last_night
    assert tonight.name in {batch_name("clips", night) for night in nights}
    assert (tonight.state, tonight.job_count) == (BatchState.RUNNING, 2)


@contextmanager
def control_worker(env: dict[str, str], workdir: Path) -> Iterator[None]:
    proc = start_worker(WorkerGroup((Queue.CONTROL,)), 0, env, workdir)
    try:
        wait_for_workers(env["KBATCH_REDIS_URL"], 1)
        yield
    finally:
        stop_process(proc, 15)


def test_beat_check_says_when_no_beat_runs(tmp_path: Path) -> None:
    with private_redis(tmp_path) as url, redis.Redis.from_url(url) as client:
        status = beat_status(client)
        result = beat_check({**os.environ, "KBATCH_REDIS_URL": url})
    assert not status.healthy
    assert result.returncode == 1
    assert "no beat holds the lock" in result.stderr
