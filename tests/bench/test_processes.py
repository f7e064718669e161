"""CPU and memory of real processes, as the benchmark reads them from /proc and `wait4`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.bench.contenders.processes import (
    Usage,
    cpu_between,
    descendants,
    run_measured,
    tree_usage,
)

# Burns `cpu` CPU seconds, touches `mb` MiB, then (for the tree tests) waits for stdin to close.
BURN = """
import sys, time
cpu, mb, wait = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "wait"
block = bytearray(mb * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
while time.process_time() < cpu:
    pass
print("burned", flush=True)
if wait:
    sys.stdin.read()
"""


@pytest.fixture
def parent_with_child(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that starts a CPU-burning child and waits for it; both end with the fixture."""
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    launcher = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, {str(script)!r}, '0.3', '40', 'wait'])\n"
        "child.wait()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"burned\n"  # the child shares the pipe: it has burned
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)


def test_a_tree_is_found_and_its_cpu_and_memory_are_read(
    parent_with_child: subprocess.Popen[bytes],
) -> None:
    tree = descendants(parent_with_child.pid)
    assert tree[0] == parent_with_child.pid
    assert len(tree) == 2
    usage = tree_usage([parent_with_child.pid])
    child = usage[tree[1]]
    assert child.cpu_s >= 0.3 - 0.02  # /proc counts whole clock ticks
    assert child.peak_rss_kib >= 40 * 1024
    total = cpu_between({}, usage)
    assert total.processes == 2
    assert total.cpu_s >= 0.3 - 0.02


def test_cpu_between_two_samples_leaves_out_what_came_before() -> None:
    before = {1: Usage(1.0, 100, 1), 2: Usage(0.5, 50, 1)}
    after = {1: Usage(1.25, 120, 1), 2: Usage(0.5, 60, 1), 3: Usage(0.1, 10, 1)}
    spent = cpu_between(before, after)
    assert spent.cpu_s == pytest.approx(0.35)
    assert spent.peak_rss_kib == 190
    assert spent.processes == 3


def test_run_measured_reports_a_finished_process_whole(tmp_path: Path) -> None:
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    done = run_measured([sys.executable, str(script), "0.25", "30", "no"], dict(os.environ))
    assert done.returncode == 0
    assert done.stdout == "burned\n"
    assert done.usage.cpu_s >= 0.25 - 0.02
    assert done.usage.peak_rss_kib >= 30 * 1024


def test_run_measured_kills_a_process_past_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_measured(
            [sys.executable, "-c", "import time; time.sleep(30)"], dict(os.environ), timeout=0.5
        )
    assert time.monotonic() - started < 10
