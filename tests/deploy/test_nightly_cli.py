"""`kbatch nightly` and the cron wrapper in ops/cron/, run as processes against a private Redis
and a PostgreSQL database: the same rules as beat's task, and a clear refusal when a service is
down."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs.ledger import Ledger
from tests.deploy.conftest import API_KEY, UNUSED_BASE_URL, write_manifest
from tests.services import BIN
from worker.processes import free_port
from worker.stack import private_redis

pytestmark = pytest.mark.slow  # a private Redis and a kbatch process per call

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "ops" / "cron" / "kbatch-nightly"
KBATCH = str(BIN / "kbatch")
NIGHT = "2026-03-02"


@dataclass
class Site:
    """A kbatch installation as cron sees it: a home folder with manifests, and its settings."""

    home: Path
    env: dict[str, str]

    def kbatch(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self._run([KBATCH, "nightly", *args], env)

    def wrapper(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return self._run([str(WRAPPER), *args], {"KBATCH": KBATCH, **env})

    def _run(self, cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd,
            cwd=self.home,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def site(tmp_path: Path, pg_url: str) -> Iterator[Site]:
    home = tmp_path / "home"
    (home / "manifests" / "nightly").mkdir(parents=True)
    write_manifest(home / "manifests" / "nightly", "clips.yaml", ["a", "b"])
    with private_redis(tmp_path) as redis_url:
        env = {
            "PATH": os.environ["PATH"],
            "KBATCH_HOME": str(home),
            "KBATCH_REDIS_URL": redis_url,
            "KBATCH_DATABASE_URL": pg_url,
            "KBATCH_STORAGE_URL": f"file://{tmp_path / 'videos'}",
            "KBATCH_PROVIDER__BASE_URL": UNUSED_BASE_URL,
            "KBATCH_PROVIDER__API_KEY": API_KEY,
            "KBATCH_NIGHTLY__TIMEZONE": "Europe/Paris",
            "KBATCH_LOG_LEVEL": "WARNING",
        }
        yield Site(home, env)


def batch_names(site: Site) -> list[str]:
    with Ledger.open(site.env["KBATCH_DATABASE_URL"]) as ledger:
        return [b.name for b in ledger.batches()]


def test_the_command_creates_the_nights_batch_once(site: Site) -> None:
    first = site.kbatch("--date", NIGHT)
    again = site.kbatch("--date", NIGHT, "--json")

    assert first.returncode == 0, first.stderr
    assert f"night {NIGHT} (Europe/Paris)" in first.stdout
    assert f"created   clips-{NIGHT}: 2 jobs" in first.stdout
    assert again.returncode == 0, again.stderr
    runs = json.loads(again.stdout)["runs"]
    assert [(r["action"], r["batch"]) for r in runs] == [("exists", f"clips-{NIGHT}")]
    assert batch_names(site) == [f"clips-{NIGHT}"]


def test_a_dry_run_and_a_bad_manifest(site: Site) -> None:
    (site.home / "manifests" / "nightly" / "broken.yaml").write_text("rows: []\n")

    dry = site.kbatch("--date", NIGHT, "--dry-run")
    real = site.kbatch("--date", NIGHT)
    bad_date = site.kbatch("--date", "2 March")

    assert dry.returncode == 2  # the broken manifest; the good one is still planned
    assert f"planned   clips-{NIGHT}: 2 jobs" in dry.stdout
    assert "invalid   manifests/nightly/broken.yaml" in dry.stdout
    assert real.returncode == 2
    assert batch_names(site) == [f"clips-{NIGHT}"]
    assert bad_date.returncode == 2
    assert "--date '2 March' is not a date (YYYY-MM-DD)" in bad_date.stderr


def test_unreachable_redis_or_database_stop_everything_with_status_4(site: Site) -> None:
    port = free_port()
    no_redis = site.kbatch(KBATCH_REDIS_URL=f"redis://:hunter2-redis@127.0.0.1:{port}/0")
    db = f"postgresql+psycopg://kbatch:hunter2-pg@127.0.0.1:{port}/kbatch"
    no_db = site.kbatch(KBATCH_DATABASE_URL=db)

    assert no_redis.returncode == 4
    assert f"Redis at redis://:***@127.0.0.1:{port}/0 is unreachable" in no_redis.stderr
    assert no_db.returncode == 4
    assert f"the database postgresql+psycopg://kbatch:***@127.0.0.1:{port}/kbatch" in no_db.stderr
    assert "is unreachable" in no_db.stderr
    assert "nothing was done" in no_db.stderr
    for result in (no_redis, no_db):
        assert "hunter2" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    assert batch_names(site) == []


def test_the_cron_wrapper_runs_the_command_from_its_home(site: Site) -> None:
    done = site.wrapper("--date", NIGHT)
    again = site.wrapper("--date", NIGHT)

    assert done.returncode == 0, done.stderr
    assert f"created   clips-{NIGHT}" in done.stdout
    assert "kbatch-nightly: done" in done.stderr
    assert f"exists    clips-{NIGHT}" in again.stdout
    assert batch_names(site) == [f"clips-{NIGHT}"]


def test_the_cron_wrapper_fails_clearly(site: Site) -> None:
    down = site.wrapper(KBATCH_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    missing = site.wrapper(KBATCH="/nonexistent/kbatch")
    lock = site.home / "var" / "kbatch-nightly.lock"
    lock.parent.mkdir(exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a run still going on this host
        busy = site.wrapper()

    assert down.returncode == 4
    assert "Redis at redis://127.0.0.1:" in down.stderr
    assert "Redis or the database is unreachable" in down.stderr
    assert missing.returncode == 127
    assert "set KBATCH to the kbatch executable" in missing.stderr
    assert busy.returncode == 75
    assert f"another run holds {lock}" in busy.stderr
    assert batch_names(site) == []
