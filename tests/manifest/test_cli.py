"""`kbatch validate` and `kbatch estimate`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.manifest.files import write
from worker.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "manifests" / "examples" / "demo.yaml"
runner = CliRunner()

BAD = """\
defaults: {model: kling-v3}
rows:
  - {prompt: ok}
  - {prompt: "[red]not markup[/red]", duration: 99}
  - {promt: typo}
"""


def test_validate_prints_job_counts(tmp_path: Path) -> None:
    other = write(tmp_path, "two.csv", "prompt,model\nA fox,kling-v3\nA fox,kling-v3\n")
    result = runner.invoke(app, ["validate", str(DEMO), str(other)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{DEMO}: 8 jobs (demo)", f"{other}: 1 job (two)"]
    assert result.stderr == f"warning: {other}:3: renders the same as {other}:2; kept once " + (
        "(ask for several renders with takes)\n"
    )


def test_validate_lists_every_error_and_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    result = runner.invoke(app, ["validate", str(bad), str(DEMO)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{bad}:4: duration: kling-v3 renders 3 to 15 seconds, not 99",
        f"{bad}:5: promt: unknown field (did you mean 'prompt'?)",
    ]
    # The other manifest is still checked and reported.
    assert result.stdout.splitlines() == [f"{bad}: invalid, 2 errors", f"{DEMO}: 8 jobs (demo)"]
    assert "Traceback" not in result.output


def test_set_values_apply_and_bad_ones_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "prompt\nA fox\n")
    result = runner.invoke(app, ["validate", str(path), "--set", "model=kling-v3"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", str(path), "--set", "model", "--set", "x=1"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["--set: model: expected field=value"]


def test_estimate_prints_a_breakdown() -> None:
    result = runner.invoke(app, ["estimate", str(DEMO)])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert lines[0] == f"demo ({DEMO}): 8 jobs"
    assert "model kling-v3 5 30 200 $0.80" in lines
    assert "resolution 1080p 3 25 420 $1.68" in lines
    assert "total 8 45 548 $2.19" in lines
    assert lines[-1] == "priced by assumed rates (not stated by the product guide): kling-image"


def test_estimate_json_with_overrides_and_a_price_table(tmp_path: Path) -> None:
    table = write(
        tmp_path,
        "prices.yaml",
        "credit_usd: 0.01\nmodels:\n  kling-v3:\n    video: {720p: 1, 1080p: 2}\n",
    )
    manifest = write(tmp_path, "m.yaml", "rows:\n  - {prompt: a, model: kling-v3, duration: 10}\n")
    args = ["estimate", str(manifest), "--json", "--price-table", str(table)]
    result = runner.invoke(app, [*args, "--set", "resolution=720p"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["jobs"], data["credits"], data["usd"]) == (1, 10, 0.1)
    assert data["by_model"] == {"kling-v3": {"jobs": 1, "seconds": 10, "credits": 10, "usd": 0.1}}
    assert data["price_table"] == str(table)
    assert data["assumptions"] == []


def test_estimate_price_table_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = write(
        tmp_path, "p.yaml", "credit_usd: 1\nmodels:\n  kling-o3:\n    video: {1080p: 3}\n"
    )
    monkeypatch.setenv("KBATCH_PRICE_TABLE", str(table))
    manifest = write(tmp_path, "m.yaml", "rows:\n  - {prompt: a, model: kling-v3}\n")
    result = runner.invoke(app, ["estimate", str(manifest)])
    # kling-v3 has no rate in that table: an error, not a silent zero.
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{table}: no price for model kling-v3"


def test_estimate_of_an_invalid_manifest_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    result = runner.invoke(app, ["estimate", str(bad), "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 2


def test_real_process_exit_status_and_streams(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "worker.cli.main", "validate", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.splitlines()[0]
        == f"{bad}:4: duration: kling-v3 renders 3 to 15 seconds, not 99"
    )
    assert "Traceback" not in proc.stderr
    assert "\x1b[" not in proc.stdout + proc.stderr  # plain text when not on a terminal
