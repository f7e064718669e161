"""A real worker's log while it renders a batch: every line JSON, every line of a job's step
carrying the batch and job key, no secret and no signed URL anywhere.

The worker runs the solo pool, so a task's execution is exactly the stretch of its log between
Celery handing it to the pool ("TaskPool: Apply ... <task id>") and its end ("Task ...[<task id>]
succeeded"): every line in that stretch belongs to that task's step, whoever logged it.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from jobs.ledger import Ledger
from tests.ops.conftest import JOB_TASKS, Rendered

pytestmark = pytest.mark.slow

# The pool starts running a task: "TaskPool: Apply <fn> (args:('kbatch.poll', '<id>', ...".
APPLY = re.compile(r"^TaskPool: Apply .*?\('kbatch\.\w+', '(?P<id>[\w-]+)'")
# Celery's lines about one task: "Task kbatch.poll[<id>] received / succeeded in / retry: ...".
TASK_LINE = re.compile(r"^Task kbatch\.\w+\[(?P<id>[\w-]+)\] (?P<end>succeeded|retry|raised)?")


def _lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if raw.strip():
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError:
                pytest.fail(f"line {n} of the worker's log is not JSON: {raw[:200]}")
    return rows


def _job_tasks(rendered: Rendered) -> dict[str, tuple[str, int, str]]:
    """Task id -> (step, batch, job key), as Flower saw the tasks."""
    found = {}
    for task_id, task in rendered.tasks().items():
        if task["name"] in JOB_TASKS:
            kwargs = ast.literal_eval(task["kwargs"])
            found[task_id] = (task["name"].removeprefix("kbatch."), kwargs["batch"], kwargs["key"])
    return found


def test_every_line_the_worker_logs_is_json(rendered: Rendered) -> None:
    rows = _lines(rendered.worker_log)
    assert len(rows) > 50
    for row in rows:
        assert {"ts", "level", "logger", "msg"} <= row.keys()
    if os.geteuid() == 0:
        # Celery warns about root before it sets logging up; that line is JSON too.
        assert any("superuser privileges" in row["msg"] for row in rows)


def test_every_line_of_a_jobs_step_carries_its_batch_and_job_key(rendered: Rendered) -> None:
    rows = _lines(rendered.worker_log)
    tasks = _job_tasks(rendered)
    checked: set[str] = set()
    current: str | None = None  # the job task the solo pool is running
    for row in rows:
        msg = row["msg"]
        applied = APPLY.search(msg)
        about = TASK_LINE.search(msg)
        if applied:
            current = applied["id"] if applied["id"] in tasks else None
        subject = applied["id"] if applied else about["id"] if about else current
        if subject in tasks:
            step, batch, key = tasks[subject]
            where = f"{row['logger']}: {msg[:160]}"
            assert row.get("batch") == batch, where
            assert row.get("job") == key, where
            assert row.get("step") == step, where
            assert row.get("task_id") == subject, where
            checked.add(subject)
        if about and about["id"] == current and about["end"]:
            current = None
    assert checked == set(tasks)  # every job task Flower saw had its lines checked
    inside = [r for r in rows if r["logger"].startswith("worker.") and r.get("task_id") in tasks]
    assert inside, "no line from kbatch's own code inside a step"


def test_each_job_has_lines_for_submit_poll_and_store(rendered: Rendered) -> None:
    rows = _lines(rendered.worker_log)
    for key in rendered.keys.values():
        steps = {r.get("step") for r in rows if r.get("job") == key and r["level"] == "info"}
        assert {"submit", "poll", "store"} <= steps, key
    assert all(r.get("batch") for r in rows if r.get("job"))


def test_no_secret_or_signed_url_in_any_log_line(rendered: Rendered) -> None:
    with Ledger.open(rendered.stack.env["KBATCH_DATABASE_URL"]) as ledger:
        result_urls = [j.result_url for j in ledger.jobs(rendered.batch_id) if j.result_url]
    signatures = [urlsplit(url).query for url in result_urls]
    assert len(signatures) == len(rendered.keys)
    assert all("signature=" in query for query in signatures)  # the downloads were signed
    text = "\n".join(
        p.read_text() for p in (rendered.worker_log, rendered.worker_out, rendered.flower_log)
    )
    for secret in rendered.secrets.values():
        assert secret not in text
    for query in signatures:
        assert query not in text
    rows = _lines(rendered.worker_log)
    assert not [r for r in rows if r["logger"] == "httpx" and r["level"] == "info"]
