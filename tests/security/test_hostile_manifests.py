"""Hostile and careless manifests given to `kbatch submit`: refused with every problem named,
in bounded time and memory, with nothing recorded and nothing enqueued.

Every manifest of tests/manifest/bad/ and of `tests.security.hostile` is submitted as a separate
command, as a user would, against a private Redis and a ledger file of their own. Each must exit
with status 2 and print only `file[:line]: field: message` lines (no traceback), the first naming
the expected line and field; within 20 s and 400 MB. Afterwards the ledger file does not exist
and Redis holds no key; a valid manifest submitted last proves both would have shown a batch.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs.ledger import Ledger
from ops.bench.contenders.processes import Finished, run_measured
from tests.reliability.redis_server import RedisServer
from tests.security.hostile import CASES, Case
from tests.services import BIN

pytestmark = pytest.mark.slow

BAD = Path(__file__).parents[1] / "manifest" / "bad"
MAX_SECONDS = 20.0
MAX_RSS_MIB = 400
ISSUE = re.compile(r"^(?P<file>[^:]+?)(?::(?P<line>\d+))?: (?P<field>[^:]+): (?P<message>.+)$")


@dataclass(frozen=True)
class Submitted:
    name: str
    file: str
    finished: Finished


@dataclass(frozen=True)
class Run:
    results: list[Submitted]
    env: dict[str, str]
    database: Path
    redis: RedisServer


def _submit(env: dict[str, str], folder: Path, file: str, name: str) -> Submitted:
    finished = run_measured(
        [str(BIN / "kbatch"), "submit", file], env=env, cwd=folder, timeout=MAX_SECONDS * 3
    )
    return Submitted(name, file, finished)


def _bad_corpus() -> list[tuple[str, Path]]:
    cases = []
    for expected in sorted(BAD.glob("*.expected")):
        csv = expected.with_suffix(".csv")
        cases.append((expected.stem, csv if csv.exists() else expected.with_suffix(".yaml")))
    return cases


@pytest.fixture(scope="module")
def submitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("hostile")
    database = root / "ledger" / "kbatch.db"
    with RedisServer(root) as redis:
        env = {
            "PATH": str(BIN),
            "HOME": str(root),
            "KBATCH_REDIS_URL": redis.url,
            "KBATCH_DATABASE_URL": f"sqlite:///{database}",
            "KBATCH_STORAGE_URL": f"file://{root / 'videos'}",
            "KBATCH_PROVIDER__API_KEY": "hostile-test-key",
            "KBATCH_PROVIDER__BASE_URL": "http://127.0.0.1:9",
            "KBATCH_LOG_FORMAT": "json",
        }
        corpus = root / "bad"
        shutil.copytree(BAD, corpus, symlinks=True)
        jobs: list[tuple[Path, str, str]] = [(corpus, p.name, n) for n, p in _bad_corpus()]
        for case in CASES:
            path = case.build(root / case.file.replace(".", "_"))
            jobs.append((path.parent, path.name, case.name))
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda j: _submit(env, *j), jobs))
        yield Run(results, env, database, redis)


def _issues(result: Submitted) -> list[re.Match[str]]:
    lines = result.finished.stderr.splitlines()
    assert lines, f"{result.name}: no message"
    matches = [ISSUE.match(line) for line in lines]
    bad = [line for line, m in zip(lines, matches, strict=True) if m is None]
    assert not bad, f"{result.name}: not file:line: field: message: {bad}"
    return [m for m in matches if m is not None]


def test_every_manifest_is_refused_with_status_2_and_only_issue_lines(submitted: Run) -> None:
    assert len(submitted.results) == len(_bad_corpus()) + len(CASES)
    for result in submitted.results:
        assert result.finished.returncode == 2, (result.name, result.finished.stderr[-500:])
        assert "Traceback" not in result.finished.stderr, result.name
        # A CSV manifest's problems may be in its YAML sidecar, named as such.
        files = {result.file, str(Path(result.file).with_suffix(".yaml"))}
        for issue in _issues(result):
            assert issue["file"] in files, (result.name, issue.group(0))
        assert result.finished.stdout == "", result.name


def test_the_corpus_gives_its_expected_messages(submitted: Run) -> None:
    by_name = {r.name: r for r in submitted.results}
    for name, path in _bad_corpus():
        want = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
        assert by_name[name].finished.stderr.splitlines() == want, name


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_hostile_manifest_names_its_line_and_field(submitted: Run, case: Case) -> None:
    result = next(r for r in submitted.results if r.name == case.name)
    first = _issues(result)[0]
    assert (first["line"], first["field"]) == (
        None if case.line is None else str(case.line),
        case.field,
    ), first.group(0)


def test_time_and_memory_are_bounded(submitted: Run) -> None:
    slowest = max(submitted.results, key=lambda r: r.finished.usage.cpu_s)
    largest = max(submitted.results, key=lambda r: r.finished.usage.peak_rss_kib)
    assert slowest.finished.usage.cpu_s < MAX_SECONDS, slowest.name
    assert largest.finished.usage.peak_rss_kib < MAX_RSS_MIB * 1024, largest.name
    print(
        f"\n{len(submitted.results)} hostile manifests: slowest {slowest.name} "
        f"{slowest.finished.usage.cpu_s:.1f} s CPU, largest {largest.name} "
        f"{largest.finished.usage.peak_rss_kib // 1024} MiB"
    )


def test_nothing_is_recorded_or_enqueued(submitted: Run, tmp_path: Path) -> None:
    assert not submitted.database.exists()
    client = submitted.redis.client()
    try:
        assert client.dbsize() == 0
        # The same setup does record and enqueue a valid manifest: the checks above could fail.
        valid = tmp_path / "valid.yaml"
        valid.write_text(
            "name: valid\nrows:\n  - prompt: a harbour at dawn\n    model: kling-v3\n",
            encoding="utf-8",
        )
        result = _submit(submitted.env, tmp_path, valid.name, "valid")
        assert result.finished.returncode == 0, result.finished.stderr
        assert client.dbsize() > 0
    finally:
        client.close()
    with Ledger.open(f"sqlite:///{submitted.database}") as ledger:
        assert [b.name.split("-")[0] for b in ledger.batches()] == ["valid"]
