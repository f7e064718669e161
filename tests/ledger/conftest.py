"""Fixtures for the ledger tests: one ledger per backend (SQLite file, fresh PostgreSQL database),
a clock moved by hand, and a few ready-made job specs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.catalog import Mode
from jobs.ledger import BatchRecord, Ledger
from jobs.spec import Job, JobSpec, Shot
from tests import services


class FakeClock:
    """Aware UTC datetimes that only move when a test says so."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **delta: float) -> None:
        self.t += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger/kbatch.db"
        return
    with services.postgres_database() as url:
        yield url


@pytest.fixture
def ledger(ledger_url: str, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(ledger_url, clock=clock) as opened:
        yield opened


@pytest.fixture(scope="module")
def module_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_ledger(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    module_clock: FakeClock,
) -> Iterator[Ledger]:
    """One ledger per backend for a whole module, for the many small tests that only look at
    batches of their own (a fresh PostgreSQL database per test costs more than the test)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('ledger')}/kbatch.db"
        else:
            url = stack.enter_context(services.postgres_database())
        yield stack.enter_context(Ledger.open(url, clock=module_clock))


def spec(n: int = 0, **fields: object) -> JobSpec:
    """A valid text-to-video spec; `n` makes the prompt (so the key) differ."""
    values: dict[str, object] = {
        "mode": Mode.TEXT2VIDEO,
        "model": "kling-v3",
        "prompt": f"a lighthouse at dusk, take {n}",
        "duration": 5,
    }
    values.update(fields)
    return JobSpec.model_validate(values)


SPECS = [
    spec(),
    spec(
        1,
        negative_prompt="blur",
        resolution="720p",
        aspect_ratio="9:16",
        cfg_scale=0.3,
        audio=True,
        voice_description="calm, low",
    ),
    spec(
        2, mode=Mode.IMAGE2VIDEO, image_url="https://example.com/a.png", end_image_url="/abs/b.png"
    ),
    spec(
        3,
        mode=Mode.OMNI,
        model="kling-o3",
        prompt='ein Leuchtturm — 灯塔 🌊 "quoted" \\ back',
        duration=None,
        shots=(Shot(prompt="wide", duration=3), Shot(prompt="close", duration=4)),
    ),
    spec(
        4, mode=Mode.MOTION_CONTROL, model="kling-motion-control", video_url="https://e.com/m.mp4"
    ),
    spec(5, mode=Mode.IMAGE, model="kling-image", duration=None),
]


def make_jobs(n: int, *, first: int = 0, model: str = "kling-v3") -> list[Job]:
    return [
        Job.of(spec(i, model=model), row_id=f"row-{i}", source=f"m.yaml:{i + 2}")
        for i in range(first, first + n)
    ]


def new_batch(
    ledger: Ledger,
    n: int = 3,
    *,
    name: str = "batch",
    estimate: Decimal = Decimal("40"),
    dialect: str = "kling",
    first: int = 0,
    model: str = "kling-v3",
) -> BatchRecord:
    jobs = make_jobs(n, first=first, model=model)
    return ledger.create_batch(name, jobs, [estimate] * n, manifest="m.yaml", dialect=dialect)
