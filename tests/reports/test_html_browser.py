"""The HTML report opened in headless Chromium: its videos play, its images show, prompts stay text.

The page counts, with its own script, the `<video>` elements whose first frame loaded and the
`<img>` elements that decoded; the tests read those counts back from the DOM Chromium leaves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.ledger import Ledger
from jobs.pricing import load_price_table
from tests.reports.browser import counter, dump_dom, parse
from tests.reports.conftest import (
    S3_ACCESS_KEY_ID,
    S3_SECRET,
    STORED_IMAGES,
    STORED_VIDEOS,
    Kbatch,
    Rendered,
)
from worker.reports import batch_report
from worker.reports.html import render_html

KBATCH = Path(sys.executable).parent / "kbatch"

pytestmark = pytest.mark.slow  # Chromium runs as several processes


def _kbatch_process(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`kbatch` as its own process, as an operator runs it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KBATCH_")} | env
    return subprocess.run(
        [str(KBATCH), *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _assert_all_media_loaded(dom_html: str) -> None:
    dom = parse(dom_html)
    videos = dom.all("video")
    images = dom.all("img")
    assert len(videos) == STORED_VIDEOS
    assert len(images) == STORED_IMAGES
    assert counter(dom_html, "videos-total") == STORED_VIDEOS
    assert counter(dom_html, "videos-loaded") == STORED_VIDEOS
    assert counter(dom_html, "images-total") == STORED_IMAGES
    assert counter(dom_html, "images-loaded") == STORED_IMAGES
    figures = dom.all("figure")
    assert [f.attrs.get("class") for f in figures] == ["loaded"] * (STORED_VIDEOS + STORED_IMAGES)


def test_a_local_report_plays_every_video_and_keeps_prompts_as_text(
    local_batch: Rendered, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    done = _kbatch_process(
        "report",
        "reports-batch",
        "--format",
        "html",
        "-o",
        str(page),
        env=local_batch.env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    html = dump_dom(page, tmp_path / "profile")
    _assert_all_media_loaded(html)
    dom = parse(html)
    # The prompt's <script> neither ran (the title is the page's own) nor became an element.
    assert dom.title == "kbatch report: reports-batch"
    assert len(dom.all("script")) == 1
    assert dom.all("img", src="x") == []
    srcs = [v.attrs["src"] for v in dom.all("video")]
    assert all(s.startswith("file:///") for s in srcs)


def test_an_s3_report_plays_every_video_through_presigned_urls(
    s3_batch: Rendered, kbatch: Kbatch, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    env = s3_batch.env | {"KBATCH_S3__PRESIGN_SECONDS": "3600"}
    result = kbatch("report", "reports-batch", "-f", "html", "-o", str(page), env=env)
    assert result.exit_code == 0, result.output
    written = page.read_text("utf-8")
    assert S3_SECRET not in written
    assert f"X-Amz-Credential={S3_ACCESS_KEY_ID}" in written  # the key id, as documented
    assert "X-Amz-Expires=3600" in written
    assert "stop working 1 hour after this page was made" in written
    html = dump_dom(page, tmp_path / "profile")
    _assert_all_media_loaded(html)
    endpoint = s3_batch.env["KBATCH_S3__ENDPOINT_URL"]
    srcs = [e.attrs["src"] for e in parse(html).all("video") + parse(html).all("img")]
    assert all(s.startswith(f"{endpoint}/") and "X-Amz-Signature=" in s for s in srcs)


def test_a_file_that_cannot_be_loaded_is_not_counted(local_batch: Rendered, tmp_path: Path) -> None:
    # The page is only as good as its count: one video pointing at a file that is not there.
    with Ledger.open(local_batch.env["KBATCH_DATABASE_URL"], upgrade=False) as ledger:
        report = batch_report(ledger, local_batch.batch, load_price_table().credit_usd)
    urls = {row.key: row.object_url for row in report.jobs if row.object_url}
    gone = local_batch.job("desert")
    urls[gone.key] = (tmp_path / "deleted.mp4").as_uri()
    page = tmp_path / "report.html"
    page.write_text(render_html(report, urls), encoding="utf-8")
    html = dump_dom(page, tmp_path / "profile")
    assert counter(html, "videos-total") == STORED_VIDEOS
    assert counter(html, "videos-loaded") == STORED_VIDEOS - 1
    assert counter(html, "images-loaded") == STORED_IMAGES
    classes = {f.attrs["id"]: f.attrs.get("class") for f in parse(html).all("figure")}
    assert classes[f"job-{gone.key}"] == "unavailable"
    assert list(classes.values()).count("loaded") == STORED_VIDEOS + STORED_IMAGES - 1
