"""`kbatch credits`: spend from the ledger by model, UTC day or batch, in credits and USD."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import timedelta, timezone
from decimal import Decimal

import pytest

from jobs.ledger import JobRecord
from jobs.ledger.states import JobState
from jobs.pricing import load_price_table
from tests.reports.conftest import Kbatch, Rendered

CREDIT_USD = load_price_table().credit_usd


def _ran(rendered: Rendered) -> list[JobRecord]:
    """The jobs a spend report counts: those the provider ran to the end."""
    every = rendered.jobs + rendered.other_jobs
    return [j for j in every if j.state in (JobState.STORED, JobState.FAILED)]


def _charged(jobs: list[JobRecord]) -> Decimal:
    return sum((j.charged_credits or Decimal(0) for j in jobs), Decimal(0))


def _expected(rendered: Rendered, by: str) -> Counter[str]:
    jobs = _ran(rendered)
    if by == "model":
        return Counter(j.model for j in jobs)
    if by == "batch":
        names = {rendered.batch.id: rendered.batch.name, rendered.other.id: rendered.other.name}
        return Counter(names[j.batch_id] for j in jobs)
    return Counter(j.finished_at.date().isoformat() for j in jobs if j.finished_at)


@pytest.mark.parametrize("by", ["model", "day", "batch"])
def test_each_grouping_adds_up_to_the_ledger(
    local_batch: Rendered, kbatch: Kbatch, by: str
) -> None:
    result = kbatch("credits", "--by", by, "--format", "json", env=local_batch.env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["by"] == by
    assert data["since"] is None
    assert Counter({row[by]: row["jobs"] for row in data["rows"]}) == _expected(local_batch, by)
    charged = _charged(_ran(local_batch))
    assert Decimal(str(data["total"]["charged_credits"])) == charged
    assert Decimal(str(data["total"]["charged_usd"])) == charged * CREDIT_USD
    for row in data["rows"]:
        usd = Decimal(str(row["charged_credits"])) * CREDIT_USD
        assert Decimal(str(row["charged_usd"])) == usd


def test_by_batch_tells_the_batches_apart(local_batch: Rendered, kbatch: Kbatch) -> None:
    result = kbatch("credits", "--by", "batch", "-f", "csv", env=local_batch.env)
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == [
        "batch",
        "jobs",
        "estimated_credits",
        "charged_credits",
        "charged_units",
        "charged_usd",
    ]
    rows = {r["batch"]: r for r in reader}
    assert set(rows) == {"reports-batch", "other-batch"}
    # two kling-v3 720p 5 s renders at 6 credits a second
    assert rows["other-batch"]["charged_credits"] == "60"
    assert Decimal(rows["other-batch"]["charged_usd"]) == 60 * CREDIT_USD
    assert Decimal(rows["reports-batch"]["charged_credits"]) == _charged(local_batch.jobs)


def test_the_table_has_a_total_line(local_batch: Rendered, kbatch: Kbatch) -> None:
    result = kbatch("credits", env=local_batch.env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "jobs", "estimated", "charged", "units", "USD"]
    assert [line.split()[0] for line in lines[1:]] == ["kling-image", "kling-v3", "total"]
    total = lines[-1].split()
    assert total[1] == str(len(_ran(local_batch)))
    assert Decimal(total[3].replace(",", "")) == _charged(_ran(local_batch))
    assert total[5] == f"${(_charged(_ran(local_batch)) * CREDIT_USD).quantize(Decimal('0.01'))}"


def test_since_keeps_only_jobs_finished_from_then(local_batch: Rendered, kbatch: Kbatch) -> None:
    jobs = sorted(_ran(local_batch), key=lambda j: j.finished_at or 0)
    middle = jobs[len(jobs) // 2].finished_at
    assert middle is not None
    later = [j for j in jobs if j.finished_at is not None and j.finished_at >= middle]
    assert 0 < len(later) < len(jobs)

    def total(since: str) -> dict[str, object]:
        result = kbatch("credits", "--since", since, "-f", "json", env=local_batch.env)
        assert result.exit_code == 0, result.output
        data: dict[str, object] = json.loads(result.stdout)["total"]
        return data

    assert total(middle.isoformat())["jobs"] == len(later)
    # A naive time is UTC.
    assert total(middle.replace(tzinfo=None).isoformat())["jobs"] == len(later)
    # The same instant written in another offset.
    shifted = middle.astimezone(timezone(timedelta(hours=2)))
    assert shifted.isoformat() != middle.isoformat()
    assert total(shifted.isoformat())["jobs"] == len(later)
    assert total("2000-01-01")["jobs"] == len(jobs)
    assert total("2999-01-01") == {
        "jobs": 0,
        "estimated_credits": 0,
        "charged_credits": 0,
        "charged_units": 0,
        "charged_usd": 0,
    }


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01", "2024-01-01T25:00"])
def test_a_bad_since_exits_2(local_batch: Rendered, kbatch: Kbatch, bad: str) -> None:
    result = kbatch("credits", "--since", bad, env=local_batch.env)
    assert result.exit_code == 2
    assert f"--since {bad!r} is not a date (YYYY-MM-DD) or an ISO 8601 time" in result.stderr


def test_an_unknown_grouping_is_a_usage_error(local_batch: Rendered, kbatch: Kbatch) -> None:
    result = kbatch("credits", "--by", "week", env=local_batch.env)
    assert result.exit_code == 2
    assert "week" in result.stderr
