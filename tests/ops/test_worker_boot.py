"""What a worker opens as it starts, before any message: real worker processes, private Redis."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tests.services import BIN
from worker.names import Queue
from worker.processes import free_port, stop_process
from worker.stack import WorkerGroup, private_redis, start_worker, wait_for_workers

SECRET_KEY = "sk-boot-" + "7" * 24
DB_PASSWORD = "boot-db-password-9183"


def _env(redis_url: str, database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "KBATCH_REDIS_URL": redis_url,
        "KBATCH_DATABASE_URL": database_url,
        "KBATCH_STORAGE_URL": f"file://{tmp_path / 'videos'}",
        "KBATCH_PROVIDER__DIALECT": "kling",
        "KBATCH_PROVIDER__BASE_URL": "http://127.0.0.1:9",  # never contacted at start
        "KBATCH_PROVIDER__API_KEY": SECRET_KEY,
        "KBATCH_LOG_FORMAT": "json",
        "KBATCH_LOG_LEVEL": "INFO",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# A solo pool announces its process (`worker_process_init`); a threads pool only its readiness.
@pytest.mark.parametrize(
    "group",
    [WorkerGroup((Queue.STORE,)), WorkerGroup((Queue.POLL, Queue.CONTROL), threads=2)],
    ids=["solo", "threads"],
)
def test_a_worker_opens_its_ledger_as_it_starts_not_at_its_first_task(
    tmp_path: Path, group: WorkerGroup
) -> None:
    ledger = tmp_path / "ledger.db"
    with private_redis(tmp_path) as url:
        env = _env(url, f"sqlite:///{ledger}", tmp_path)
        proc = start_worker(group, 0, env, tmp_path)
        try:
            wait_for_workers(url, 1)
            # No message was sent: the ledger's schema exists because the worker opened it.
            assert {"batches", "jobs"} <= _tables(ledger)
        finally:
            stop_process(proc, 15)


def test_a_worker_whose_ledger_is_down_still_starts_and_says_so_without_secrets(
    tmp_path: Path,
) -> None:
    closed = free_port()
    database = f"postgresql://kbatch:{DB_PASSWORD}@127.0.0.1:{closed}/kbatch"
    with private_redis(tmp_path) as url:
        proc = start_worker(
            WorkerGroup((Queue.SUBMIT,)), 0, _env(url, database, tmp_path), tmp_path
        )
        try:
            wait_for_workers(url, 1)  # it serves its queue; the first task retries the ledger
        finally:
            stop_process(proc, 15)
    log = (tmp_path / "worker-submit-0.log").read_text(encoding="utf-8")
    assert "could not open the ledger, Redis or the provider at start (LedgerUnavailable)" in log
    assert DB_PASSWORD not in log
    assert SECRET_KEY not in log
