"""py-spy on running processes, and a summary of where their samples went.

Each process is sampled into py-spy's raw (collapsed stack) format. The summary gives, per
process: what the innermost frame was doing (waiting on PostgreSQL, Redis, HTTP, S3, or running
Python), the hottest innermost frames, and the time spent inside each of kbatch's own functions
(`worker/`, `jobs/`), which names the pipeline step that holds a process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

RATE_HZ = 100
# What the innermost frame's file says a sample was doing.
_KINDS = (
    ("psycopg/", "PostgreSQL"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("redis/", "Redis"),
    ("kombu/", "Celery messaging"),
    ("celery/", "Celery"),
    ("billiard/", "Celery"),
    ("httpcore/", "HTTP"),
    ("httpx/", "HTTP"),
    ("h11/", "HTTP"),
    ("urllib3/", "S3 client"),
    ("botocore/", "S3 client"),
    ("s3transfer/", "S3 client"),
    ("boto3/", "S3 client"),
    ("json/", "JSON"),
    ("logging/", "logging"),
)
# Innermost frames of a thread that is parked, not working (py-spy may still report them).
_PARKED = ("select (", "poll (", "epoll", "_wait (", "sleep (", "accept (", "Condition.wait (")


@dataclass
class Profile:
    """Collapsed stacks summed up: samples, self time by frame, time inside kbatch's functions,
    and samples by what the innermost frame was doing."""

    samples: int = 0
    own: Counter[str] = field(default_factory=Counter)
    inner: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, raw: str) -> Profile:
        prof = cls()
        for line in raw.splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            leaf = frames[-1]
            if leaf.startswith(_PARKED):
                continue
            n = int(count)
            prof.samples += n
            prof.own[leaf] += n
            where = leaf.partition(" (")[2]
            prof.kinds[next((k for p, k in _KINDS if where.startswith(p)), "Python")] += n
            mine = set()
            for frame in frames:
                name, _, rest = frame.partition(" (")
                if rest.startswith(("worker/", "jobs/")):
                    mine.add(f"{name} ({rest.split(':')[0]})")
            for key in mine:
                prof.inner[key] += n
        return prof

    def lines(self, label: str, seconds: float, top: int = 6) -> list[str]:
        if not self.samples:
            return [f"{label}: no active samples"]
        active = self.samples / (seconds * RATE_HZ)
        kinds = ", ".join(f"{k} {n / self.samples:.0%}" for k, n in self.kinds.most_common())
        out = [f"{label}: active in {active:.0%} of samples; innermost frame: {kinds}"]
        out += [f"    self {n / self.samples:5.1%}  {f}" for f, n in self.own.most_common(top)]
        out += [
            f"    incl {n / self.samples:5.1%}  {f}" for f, n in self.inner.most_common(top + 4)
        ]
        return out


@dataclass
class Profiler:
    """py-spy recording the named processes for `seconds`, each into `folder/LABEL.txt`."""

    seconds: float
    folder: Path
    procs: dict[str, subprocess.Popen[bytes]]

    @classmethod
    def start(
        cls, pids: Mapping[str, int], seconds: float, folder: Path, *, gil_only: bool = False
    ) -> Profiler:
        """Start sampling; `gil_only` keeps only samples holding the GIL (CPU, not waits)."""
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if exe is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy")
        folder.mkdir(parents=True, exist_ok=True)
        procs = {}
        for label, pid in pids.items():
            cmd = [
                exe, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                "--rate", str(RATE_HZ), "--format", "raw", "--nonblocking",
                "--output", str(folder / f"{label}.txt"),
                *(["--gil"] if gil_only else []),
            ]  # fmt: skip
            procs[label] = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        return cls(seconds, folder, procs)

    def wait(self) -> None:
        for proc in self.procs.values():
            proc.wait(self.seconds + 60)

    def report(self) -> list[str]:
        lines = []
        for label in self.procs:
            path = self.folder / f"{label}.txt"
            if path.exists():
                lines += Profile.of(path.read_text(encoding="utf-8")).lines(label, self.seconds)
            else:
                lines.append(f"{label}: no profile")
        return lines
