"""The `kbatch` console script: imports with the collector paused, runs with it on."""

from __future__ import annotations

import gc
import subprocess

import pytest

import worker.cli.main
from tests.services import BIN
from worker.cli import entry


def test_the_command_runs_with_the_collector_on_and_its_imports_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[bool, int]] = []
    monkeypatch.setattr(
        worker.cli.main, "main", lambda: seen.append((gc.isenabled(), gc.get_freeze_count()))
    )
    try:
        entry.main()
    finally:
        gc.unfreeze()
    assert len(seen) == 1
    enabled, frozen = seen[0]
    assert enabled
    assert frozen > 0


def test_the_console_script_is_the_entry() -> None:
    done = subprocess.run(
        [str(BIN / "kbatch"), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "submit" in done.stdout
    script = (BIN / "kbatch").read_text(encoding="utf-8")
    assert "from worker.cli.entry import main" in script, script
