"""`kbatch submit` refuses to start a batch no worker could create, and records nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jobs.ledger import Ledger
from tests.reliability.runs import write_manifest
from tests.services import BIN


def _env(tmp_path: Path, redis_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without its KBATCH_ settings, plus a ledger and `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBATCH_")}
    return env | {
        "KBATCH_REDIS_URL": redis_url,
        "KBATCH_DATABASE_URL": f"sqlite:///{tmp_path}/kbatch.db",
        "KBATCH_STORAGE_URL": f"file://{tmp_path}/videos",
        **settings,
    }


def _submit(env: dict[str, str], manifest: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kbatch"), "submit", str(manifest), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_submit_without_credentials_is_refused_before_anything_is_recorded(
    tmp_path: Path, redis_url: str
) -> None:
    env = _env(tmp_path, redis_url)
    manifest = write_manifest(tmp_path, 2, "no-credentials")
    done = _submit(env, manifest)
    assert done.returncode == 2, done.stderr
    assert "cannot start: no credentials for the kling dialect" in done.stderr
    assert "KBATCH_PROVIDER__API_KEY" in done.stderr  # the hint names what to set
    with Ledger.open(env["KBATCH_DATABASE_URL"]) as ledger:
        assert ledger.batches() == []


def test_a_taken_batch_name_is_refused_with_a_message_not_a_traceback(
    tmp_path: Path, redis_url: str
) -> None:
    env = _env(
        tmp_path,
        redis_url,
        KBATCH_PROVIDER__API_KEY="sk-unused",
        KBATCH_PROVIDER__BASE_URL="http://127.0.0.1:9",  # submit contacts no provider
        KBATCH_PROVIDER__CONCURRENCY="1",
    )
    manifest = write_manifest(tmp_path, 1, "names")
    assert _submit(env, manifest, "--name", "mine").returncode == 0

    taken = _submit(env, manifest, "--name", "mine")
    assert taken.returncode == 2
    assert "a batch named 'mine' already exists; choose another with --name" in taken.stderr
    assert "Traceback" not in taken.stderr
