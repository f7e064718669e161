"""`kbatch report`: the per-job ledger and totals by model and resolution, in every format."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.ledger.states import JobState
from jobs.pricing import load_price_table
from tests.reports.conftest import STORED_IMAGES, STORED_VIDEOS, XSS_PROMPT, Kbatch, Rendered
from worker.reports import JOB_COLUMNS

CREDIT_USD = load_price_table().credit_usd


def _charged(rendered: Rendered) -> Decimal:
    return sum((j.charged_credits or Decimal(0) for j in rendered.jobs), Decimal(0))


def test_json_has_totals_by_model_and_resolution_that_add_up(
    local_batch: Rendered, kbatch: Kbatch
) -> None:
    result = kbatch("report", "reports-batch", "--format", "json", env=local_batch.env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["batch"] == "reports-batch"
    assert data["state"] == "finished"
    assert data["counts"]["stored"] == STORED_VIDEOS + STORED_IMAGES
    assert data["counts"]["failed"] == 1
    charged = _charged(local_batch)
    totals = data["totals"]
    assert totals["jobs"] == len(local_batch.jobs)
    assert Decimal(str(totals["charged_credits"])) == charged
    assert Decimal(str(totals["charged_usd"])) == charged * CREDIT_USD
    assert Decimal(str(data["credit_usd"])) == CREDIT_USD

    models = {g["group"]: g for g in data["by_model"]}
    assert set(models) == {"kling-v3", "kling-image"}
    assert models["kling-image"]["jobs"] == 1
    assert models["kling-v3"]["jobs"] == 4
    assert [g["group"] for g in data["by_resolution"]] == ["720p", "1080p"]  # catalog order
    for groups in (data["by_model"], data["by_resolution"]):
        assert sum(g["jobs"] for g in groups) == totals["jobs"]
        assert sum(Decimal(str(g["charged_credits"])) for g in groups) == charged
        estimated = sum(Decimal(str(g["estimated_credits"])) for g in groups)
        assert estimated == Decimal(str(totals["estimated_credits"]))
    # kling-v3 1080p for 10 s at 8 credits/s (the product guide's table), and nothing else there
    assert data["by_resolution"][1] == {
        "group": "1080p",
        "jobs": 1,
        "seconds": 10,
        "estimated_credits": 80,
        "charged_credits": 80,
        "charged_usd": float(80 * CREDIT_USD),
    }
    assert [tuple(j) for j in data["jobs"]] == [JOB_COLUMNS] * len(local_batch.jobs)


def test_csv_is_the_per_job_ledger(local_batch: Rendered, kbatch: Kbatch) -> None:
    result = kbatch("report", "reports-batch", "-f", "csv", env=local_batch.env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["key"] for r in rows] == [j.key for j in local_batch.jobs]
    assert sum(Decimal(r["charged_credits"]) for r in rows) == _charged(local_batch)
    by_row = {r["row_id"]: r for r in rows}
    assert by_row["xss"]["prompt"] == XSS_PROMPT  # CSV is data: written as given
    assert by_row["poster"]["media"] == "image"
    assert by_row["poster"]["object_url"].endswith(".png")
    assert by_row["broken"]["object_url"] == ""


def test_the_table_is_plain_and_prints_user_text_as_written(
    local_batch: Rendered, kbatch: Kbatch
) -> None:
    result = kbatch("report", "reports-batch", env=local_batch.env)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "\x1b[" not in text
    assert text.startswith("batch reports-batch (id ")
    assert "5 jobs: stored 4, failed 1" in text
    assert f"credits: {_charged(local_batch).normalize():f} charged" in text
    # Rich markup in a prompt ("[[fail]]") is not interpreted
    assert "A scene the provider refuses to finish [[fail]]" in text
    assert XSS_PROMPT in text
    for section in ("model ", "resolution ", "job "):
        assert any(line.startswith(section) for line in text.splitlines()), section


def test_output_goes_to_a_file(local_batch: Rendered, kbatch: Kbatch, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = kbatch("report", "reports-batch", "-f", "json", "-o", str(target), env=local_batch.env)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote {target}" in result.stderr
    assert json.loads(target.read_text("utf-8"))["totals"]["jobs"] == len(local_batch.jobs)

    table = tmp_path / "report.txt"
    result = kbatch("report", "1", "-o", str(table), env=local_batch.env)  # by id
    assert result.exit_code == 0, result.output
    assert table.read_text("utf-8").startswith("batch reports-batch (id 1)")


def test_html_escapes_prompts_and_tags(
    local_batch: Rendered, kbatch: Kbatch, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    result = kbatch("report", "reports-batch", "-f", "html", "-o", str(page), env=local_batch.env)
    assert result.exit_code == 0, result.output
    html = page.read_text("utf-8")
    assert XSS_PROMPT not in html
    assert "&lt;script&gt;document.title=&#x27;owned&#x27;&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; friends" in html
    assert "<b>reports</b>" not in html
    assert "project: &lt;b&gt;reports&lt;/b&gt;" in html
    assert html.count("<script") == 1  # the page's own, and no other
    # Self-contained: nothing is loaded from the network but the stored files themselves.
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert html.count("<video ") == STORED_VIDEOS
    assert html.count("<img ") == STORED_IMAGES
    assert 'id="videos-total">3<' in html


def test_the_gallery_can_be_limited(local_batch: Rendered, kbatch: Kbatch) -> None:
    result = kbatch(
        "report", "reports-batch", "-f", "html", "--gallery-limit", "2", env=local_batch.env
    )
    assert result.exit_code == 0, result.output
    html = result.stdout
    assert html.count("<figure ") == 2
    assert "Showing the first 2 of 4 stored files" in html
    # every job is still in the jobs table
    for job in local_batch.jobs:
        assert job.key in html


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "html"])
def test_an_unknown_batch_exits_2(local_batch: Rendered, kbatch: Kbatch, fmt: str) -> None:
    result = kbatch("report", "missing-batch", "-f", fmt, env=local_batch.env)
    assert result.exit_code == 2
    assert "no batch named 'missing-batch'" in result.stderr
    assert result.stdout == ""


def test_a_failed_job_is_reported_with_its_error(local_batch: Rendered, kbatch: Kbatch) -> None:
    failed = local_batch.job("broken")
    assert failed.state is JobState.FAILED
    result = kbatch("report", "reports-batch", "-f", "json", env=local_batch.env)
    job = next(j for j in json.loads(result.stdout)["jobs"] if j["row_id"] == "broken")
    assert job["error"] == failed.error
    assert job["charged_credits"] == 0


def test_files_outside_the_configured_storage_get_no_link(
    s3_batch: Rendered, local_batch: Rendered, kbatch: Kbatch, tmp_path: Path
) -> None:
    elsewhere = s3_batch.env | {"KBATCH_STORAGE_URL": "s3://another-bucket/renders"}
    result = kbatch("report", "reports-batch", "-f", "html", env=elsewhere)
    assert result.exit_code == 0, result.output
    html = result.stdout
    assert html.count("no link: the file is not in the configured storage") == 4
    assert "<video " not in html
    assert 'id="videos-total">0<' in html
    # A local file still opens where it was stored, whatever the storage URL says today.
    moved = local_batch.env | {"KBATCH_STORAGE_URL": str(tmp_path / "new-videos")}
    result = kbatch("report", "reports-batch", "-f", "html", env=moved)
    assert result.exit_code == 0, result.output
    stored = local_batch.job("harbour").object_url
    assert stored is not None
    assert f'src="{stored}"' in result.stdout
