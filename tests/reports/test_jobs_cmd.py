"""`kbatch jobs`: the jobs of a batch as a plain table, CSV or JSON, filtered by state."""

from __future__ import annotations

import csv
import io
import json

from jobs.ledger.states import JobState
from tests.reports.conftest import Kbatch, Rendered
from worker.reports import JOB_COLUMNS


def test_the_table_shows_key_row_state_provider_id_error_and_location(
    local_batch: Rendered, kbatch: Kbatch
) -> None:
    result = kbatch("jobs", "reports-batch", env=local_batch.env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["key", "row", "state", "provider", "id", "error", "object"]
    # Plain when not on a terminal: no colour codes, no box drawing, one line per job.
    assert "\x1b[" not in result.stdout
    assert not set("─│┃━┏┡") & set(result.stdout)
    assert len(lines) == 1 + len(local_batch.jobs)
    for job, line in zip(local_batch.jobs, lines[1:], strict=True):
        assert line.split()[:4] == [job.key, job.row_id, job.state.value, job.provider_task_id]
        if job.state is JobState.STORED:
            assert job.object_url is not None
            assert line.endswith(job.object_url)
        else:
            assert job.error is not None
            assert line.endswith(job.error)


def test_state_filters_and_can_be_repeated(local_batch: Rendered, kbatch: Kbatch) -> None:
    failed = kbatch("jobs", "reports-batch", "--state", "failed", "-f", "json", env=local_batch.env)
    assert failed.exit_code == 0, failed.output
    rows = json.loads(failed.stdout)
    assert [r["row_id"] for r in rows] == ["broken"]
    assert rows[0]["state"] == "failed"
    assert "risk control" in rows[0]["error"]
    assert rows[0]["object_url"] is None

    both = kbatch(
        "jobs", "reports-batch", "-s", "failed", "-s", "stored", "-f", "csv", env=local_batch.env
    )
    assert both.exit_code == 0, both.output
    assert len(list(csv.DictReader(io.StringIO(both.stdout)))) == len(local_batch.jobs)

    none = kbatch("jobs", "reports-batch", "--state", "paused", "-f", "json", env=local_batch.env)
    assert none.exit_code == 0
    assert json.loads(none.stdout) == []


def test_csv_and_json_carry_the_stable_columns(local_batch: Rendered, kbatch: Kbatch) -> None:
    as_csv = kbatch("jobs", "reports-batch", "--format", "csv", env=local_batch.env)
    as_json = kbatch("jobs", "reports-batch", "--format", "json", env=local_batch.env)
    assert as_csv.exit_code == 0
    assert as_json.exit_code == 0
    reader = csv.DictReader(io.StringIO(as_csv.stdout))
    assert tuple(reader.fieldnames or ()) == JOB_COLUMNS
    from_csv = list(reader)
    from_json = json.loads(as_json.stdout)
    assert [tuple(obj) for obj in from_json] == [JOB_COLUMNS] * len(local_batch.jobs)
    for job, line, obj in zip(local_batch.jobs, from_csv, from_json, strict=True):
        assert line["key"] == obj["key"] == job.key
        assert line["state"] == obj["state"] == job.state.value
        assert line["sha256"] == (job.sha256 or "")
        assert obj["size_bytes"] == job.size_bytes
        assert json.loads(line["tags"]) == obj["tags"] == {"project": "<b>reports</b>"}
        assert line["prompt"] == obj["prompt"] == job.spec.prompt


def test_an_unknown_batch_exits_2_with_a_clear_message(
    local_batch: Rendered, kbatch: Kbatch
) -> None:
    result = kbatch("jobs", "no-such-batch", env=local_batch.env)
    assert result.exit_code == 2
    assert "no batch named 'no-such-batch'" in result.stderr
    assert result.stdout == ""


def test_an_unknown_state_is_a_usage_error(local_batch: Rendered, kbatch: Kbatch) -> None:
    result = kbatch("jobs", "reports-batch", "--state", "exploded", env=local_batch.env)
    assert result.exit_code == 2
    assert "exploded" in result.stderr
    assert "stored" in result.stderr  # the valid choices are listed
