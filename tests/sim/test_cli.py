"""`kbatch sim`: the flags scripts rely on, and settings errors that keep secrets out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from worker.cli.main import app
from worker.sim.process import running_simulator


def test_help_lists_the_script_flags() -> None:
    result = CliRunner().invoke(app, ["sim", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for flag in (
        "--port",
        "--concurrency",
        "--median-seconds",
        "--time-scale",
        "--seed",
        "--api-key",
        "--access-key",
        "--secret-key",
        "--fail-rate",
        "--create-5xx-rate",
        "--query-5xx-rate",
        "--lost-response-rate",
        "--drop-rate",
        "--refuse-marker",
        "--fail-marker",
        "--rps",
        "--balance",
        "--retention-days",
    ):
        assert flag in result.output


def test_a_settings_error_does_not_echo_the_secret() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "worker.sim", "--secret-key", "very-secret-value-123"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "secret" in proc.stderr.lower()
    assert "very-secret-value-123" not in proc.stderr + proc.stdout


def test_accounts_file_and_environment_settings(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "- name: studio\n"
        "  api_keys: [studio-key]\n"
        "  key_pairs: [{access_key: studio-ak, secret_key: studio-secret-0123456789abcdef01}]\n"
        "  balance: 10\n",
        encoding="utf-8",
    )
    env = {"KBATCH_SIM_CONCURRENCY": "7", "KBATCH_SIM_API_KEYS": '["main-key"]'}
    with running_simulator("--accounts-file", str(accounts), env=env) as sim:
        by_name = {a["name"]: a for a in httpx.get(f"{sim.base_url}/_sim/accounts").json()}
        assert by_name["default"]["concurrency"] == 7
        assert by_name["studio"]["concurrency"] == 7
        assert by_name["studio"]["balance"] == "10"
        assert by_name["studio"]["key_pairs"] == 1
        for key in ("main-key", "studio-key"):
            resp = httpx.get(
                f"{sim.base_url}/v1/videos/text2video/none",
                headers={"Authorization": f"Bearer {key}"},
            )
            assert resp.json()["code"] == 1201  # authenticated, then not found
