"""Manifest benchmark: validate and estimate a generated 100,000-row CSV manifest.

    .venv/bin/python -m ops.bench.manifest_bench [--rows N] [--yaml]

Writes the manifest to a temporary folder (varied models, durations and resolutions; prompts
with commas, doubled quotes, unicode and line breaks; tag columns; a shared local image), then
times, each in a fresh process so that peak memory (ru_maxrss) is the command's own:

- the library alone: `load_manifest` + `estimate`;
- `kbatch validate FILE` and `kbatch estimate FILE --json`, as a user runs them.

Targets on the project's 2-core machines: under 10 s and under 300 MB each. Exits 1 when one is
missed. With `--yaml`, the same rows are also written as YAML and loaded, for comparison only
(YAML is read whole, so it has no target).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_SECONDS = 10.0
TARGET_MB = 300.0
ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "manifests" / "examples" / "lighthouse.png"

_SUBJECTS = (
    "a red fox",
    "an old lighthouse keeper",
    'a neon sign reading "OPEN"',
    "a paper boat",
    "a street dancer",
    "a steaming bowl of ramen",
    "a glass skyscraper",
    "café terrace in Montmartre",
    "a koi pond, 錦鯉",
)
_ACTIONS = (
    "drifts slowly through the frame",
    "turns towards the camera, smiling",
    "is lit by a single warm lamp, shadows long",
    "appears through morning fog, then fades",
)
_STYLES = (
    "cinematic, 35mm, shallow depth of field",
    "soft pastel palette, dreamy",
    "documentary style, handheld, natural light",
    'shot on "vintage" film stock, grain, light leaks',
)
HEADER = (
    "id",
    "prompt",
    "model",
    "duration",
    "resolution",
    "aspect_ratio",
    "audio",
    "image_url",
    "takes",
    "tag.batch",
    "tag.index",
)


def _row(n: int, rnd: random.Random) -> list[str]:
    prompt = f"{rnd.choice(_SUBJECTS).capitalize()} {rnd.choice(_ACTIONS)}, {rnd.choice(_STYLES)}"
    prompt += f"; variation {n}"
    if n % 50 == 0:
        prompt += "\nSecond line of the prompt, describing the ending."
    pick = rnd.random()
    model, duration, audio, image = "kling-v3", str(rnd.randint(3, 15)), "", ""
    if pick < 0.2:
        model, audio = "kling-o3", "true"
    elif pick < 0.3:
        model, duration = "kling-v2-6", rnd.choice(("5", "10"))
    elif pick < 0.4:
        model, duration = "kling-image", ""
    elif pick < 0.5:
        image = "lighthouse.png"
    return [
        f"row-{n}",
        prompt,
        model,
        duration,
        rnd.choice(("720p", "1080p")),
        rnd.choice(("16:9", "9:16", "1:1")),
        audio,
        image,
        "2" if n % 100 == 0 else "",
        "bench",
        str(n),
    ]


def write_manifest(folder: Path, rows: int, seed: int = 7) -> Path:
    """A CSV manifest of `rows` valid rows (CRLF, as the csv module writes) and its image."""
    shutil.copy(IMAGE, folder / IMAGE.name)
    path = folder / "bench.csv"
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            writer.writerow(_row(n, rnd))
    return path


@dataclass
class Run:
    label: str
    seconds: float
    peak_mb: float
    detail: str


def _run(label: str, argv: list[str]) -> tuple[Run, str]:
    """Run `argv`, returning its wall time, its own peak RSS and its stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    # wait4 gives the rusage of this one child, not of every child so far.
    stdout = proc.stdout.read() if proc.stdout else b""
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{label} exited with {proc.returncode}: {stderr.decode()[-2000:]}")
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    return Run(label, seconds, peak_mb, ""), stdout.decode()


def write_yaml_manifest(folder: Path, rows: int, seed: int = 7) -> Path:
    """The same rows as `write_manifest`, as a YAML manifest."""
    import yaml

    rnd = random.Random(seed)
    out = []
    for n in range(1, rows + 1):
        cells = dict(zip(HEADER, _row(n, rnd), strict=True))
        row: dict[str, object] = {k: v for k, v in cells.items() if v and "." not in k}
        row["tags"] = {k.removeprefix("tag."): v for k, v in cells.items() if k.startswith("tag.")}
        out.append(row)
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump({"name": "bench", "rows": out}, sort_keys=False), "utf-8")
    return path


def child(path: Path) -> None:
    """Time the library calls in this process and print them as JSON."""
    import resource

    from jobs.manifest import load_manifest
    from jobs.pricing import estimate, load_price_table

    started = time.perf_counter()
    manifest = load_manifest(path)
    loaded = time.perf_counter()
    result = estimate(manifest.jobs, load_price_table())
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "jobs": len(manifest.jobs),
                "load_s": loaded - started,
                "estimate_s": done - loaded,
                "credits": str(result.credits),
                "usd": str(result.usd),
                "peak_mb": peak,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--yaml", action="store_true", help="Also time the rows as YAML.")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0

    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="kbatch-bench-") as tmp:
        started = time.perf_counter()
        path = write_manifest(Path(tmp), args.rows)
        size_mb = path.stat().st_size / (1024 * 1024)
        print(
            f"wrote {args.rows:,} rows ({size_mb:.1f} MB) in {time.perf_counter() - started:.1f} s"
        )

        child_cmd = [py, "-m", __spec__.name, "--child", str(path)]
        lib, out = _run("library: load_manifest + estimate", child_cmd)
        stats = json.loads(out)
        lib.detail = (
            f"{stats['jobs']:,} jobs; load {stats['load_s']:.2f} s, "
            f"estimate {stats['estimate_s']:.2f} s; {stats['credits']} credits"
        )
        kbatch = [py, "-m", "worker.cli.main"]
        val, out = _run("kbatch validate", [*kbatch, "validate", str(path)])
        val.detail = out.strip().rsplit(": ", 1)[-1]
        est, out = _run("kbatch estimate --json", [*kbatch, "estimate", str(path), "--json"])
        data = json.loads(out)
        est.detail = f"{data['jobs']:,} jobs, {data['credits']} credits, ${data['usd']:,.2f}"
        extra: list[Run] = []
        if args.yaml:
            yaml_path = write_yaml_manifest(Path(tmp), args.rows)
            run, out = _run("library, same rows as YAML", [*child_cmd[:-1], str(yaml_path)])
            run.detail = f"{json.loads(out)['jobs']:,} jobs (for comparison; no target)"
            extra.append(run)

    missed = False
    print(f"{'':36} {'wall':>8} {'peak RSS':>10}")
    for run in (lib, val, est):
        ok = run.seconds < TARGET_SECONDS and run.peak_mb < TARGET_MB
        missed |= not ok
        mark = "ok" if ok else "MISSED"
        print(f"{run.label:36} {run.seconds:7.2f}s {run.peak_mb:8.0f} MB  {mark}  {run.detail}")
    for run in extra:
        print(f"{run.label:36} {run.seconds:7.2f}s {run.peak_mb:8.0f} MB  --  {run.detail}")
    print(f"targets: under {TARGET_SECONDS:.0f} s and under {TARGET_MB:.0f} MB each")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
