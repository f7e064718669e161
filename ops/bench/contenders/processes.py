"""CPU time and peak memory of a contender's processes, read from /proc and from `wait4`.

Long-lived processes (workers) are sampled while they run: a baseline once they are ready and a
final sample before they are stopped, so start-up, which a deployment pays once and not per
batch, is left out. One-shot processes (a submit command, a loop script) are measured whole by
`wait4`, which reports the CPU and peak resident size of a process that has just exited.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user + system, own and reaped children) and peak resident KiB."""

    cpu_s: float = 0.0
    peak_rss_kib: int = 0
    processes: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.cpu_s + other.cpu_s,
            self.peak_rss_kib + other.peak_rss_kib,
            self.processes + other.processes,
        )


def _stat_fields(pid: int) -> list[str]:
    raw = (_PROC / str(pid) / "stat").read_text()
    # the command name is in parentheses and may hold spaces: split after the last `)`
    return raw[raw.rindex(")") + 2 :].split()


def process_usage(pid: int) -> Usage:
    """One live process: its CPU so far and its peak resident size (VmHWM)."""
    fields = _stat_fields(pid)
    # fields[0] is /proc/PID/stat field 3 (state): utime, stime, cutime, cstime are 14..17
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    peak = 0
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return Usage(ticks / _TICKS, peak, 1)


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def tree_usage(pids: Iterable[int]) -> dict[int, Usage]:
    """Usage of every process in the trees under `pids`, by pid."""
    result: dict[int, Usage] = {}
    for root in pids:
        for pid in descendants(root):
            try:
                result[pid] = process_usage(pid)
            except OSError:
                continue
    return result


def cpu_between(before: Mapping[int, Usage], after: Mapping[int, Usage]) -> Usage:
    """CPU spent between two samples of the same processes; peak memory from the later one.

    A process that appeared in between (a pool child replaced, say) counts from zero.
    """
    total = Usage()
    for pid, late in after.items():
        early = before.get(pid, Usage())
        total += Usage(late.cpu_s - early.cpu_s, late.peak_rss_kib, 1)
    return total


def cpu_by_label(
    before: Mapping[int, Usage], after: Mapping[int, Usage], roots: Mapping[str, int]
) -> dict[str, float]:
    """CPU seconds spent between two samples by each labelled process and its children."""
    spent: dict[str, float] = {}
    for label, root in roots.items():
        tree = [pid for pid in descendants(root) if pid in after] or [root]
        spent[label] = cpu_between(
            {pid: before[pid] for pid in tree if pid in before},
            {pid: after[pid] for pid in tree if pid in after},
        ).cpu_s
    return spent


def children_named(name: str, parent: int | None = None) -> list[int]:
    """Live processes below `parent` (default: this one) whose command name is `name`."""
    found = []
    for pid in descendants(parent if parent is not None else os.getpid()):
        try:
            if (_PROC / str(pid) / "comm").read_text().strip() == name:
                found.append(pid)
        except OSError:
            continue
    return found


@dataclass(frozen=True)
class Finished:
    """A one-shot process that has exited: its status, output and whole-life usage."""

    returncode: int
    stdout: str
    stderr: str
    usage: Usage


def run_measured(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 900.0
) -> Finished:
    """Run `cmd` to completion and report what it used (CPU and peak RSS from `wait4`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(cmd), env=dict(env), cwd=cwd, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while True:
            # wait4 rather than Popen.wait: it reaps the child and returns its resource usage
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise subprocess.TimeoutExpired(list(cmd), timeout)
            time.sleep(0.02)  # polls the child's exit, bounded by the deadline
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        usage = Usage(rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss, 1)
        return Finished(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage,
        )
