"""What every contender renders: N jobs behind K provider slots, timed in simulated seconds.

The simulator draws each render's duration from a log-normal around `median_s` and plays it at
`time_scale` wall seconds per simulated second. Every wait a contender makes on its own (a fixed
poll interval, a retry delay, kbatch's poll settings) is scaled by the same factor, so shrinking
the run to minutes changes no contender's behaviour relative to the renders.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

# Where `python -m ops.bench...` runs from: the contenders' own processes import `ops` from here.
REPO = Path(__file__).resolve().parents[3]
# The simulator's throwaway local key: it opens nothing but the simulator started for one run.
SIM_API_KEY = "bench-local-key"
MODEL = "kling-v3"
RESOLUTION = "720p"
DURATION = 5
GUIDE_POLL_SIM_S = 2.0  # the product guide's loop: `time.sleep(2)` between status queries


@dataclass(frozen=True)
class Workload:
    """One benchmark configuration, shared by every contender of a run."""

    jobs: int = 200
    slots: int = 10  # K: tasks in flight the provider allows per account
    median_s: float = 60.0  # simulated seconds
    spread: float = 0.5  # sigma of the log-normal
    time_scale: float = 0.045  # wall seconds per simulated second
    seed: int = 1
    cap_s: float = 120.0  # wall seconds a contender may run before it is stopped
    provider_slots: int | None = None  # what the simulator allows, when not `slots`

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, provider_slots: int | None = None) -> Workload:
        """The workload a command line asked for (`--jobs --slots --median --spread
        --time-scale --seed --cap`)."""
        return cls(
            jobs=args.jobs,
            slots=args.slots,
            median_s=args.median,
            spread=args.spread,
            time_scale=args.time_scale,
            seed=args.seed,
            cap_s=args.cap,
            provider_slots=provider_slots,
        )

    def wall(self, sim_seconds: float) -> float:
        """Wall seconds for `sim_seconds` of provider time."""
        return sim_seconds * self.time_scale

    def sim(self, wall_seconds: float) -> float:
        """Simulated seconds for `wall_seconds` of wall time."""
        return wall_seconds / self.time_scale

    def sim_args(self) -> list[str]:
        """Flags of `python -m worker.sim` for this workload (no faults: a clean comparison)."""
        allowed = self.provider_slots if self.provider_slots is not None else self.slots
        return [
            "--concurrency", str(allowed),
            "--median-seconds", repr(self.median_s),
            "--spread", repr(self.spread),
            "--time-scale", repr(self.time_scale),
            "--seed", str(self.seed),
        ]  # fmt: skip


def prompt(index: int) -> str:
    """The prompt of job `index`: every job a distinct request of the same kind of render."""
    return f"A paper boat drifting down a rain gutter, take {index:06d}"


def write_csv_manifest(workload: Workload, folder: Path, name: str = "bench") -> Path:
    """A CSV manifest of `workload.jobs` rows, all the same kind of render."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    lines = ["id,prompt,model,duration,resolution"]
    lines += [
        f'job-{i:06d},"{prompt(i)}",{MODEL},{DURATION},{RESOLUTION}' for i in range(workload.jobs)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
