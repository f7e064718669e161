"""Fixtures for pipeline tests: a simulator per test (with its own flags) and a harness over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.pipeline.harness import Harness
from tests.renders import write_renders
from worker.settings import PollSettings, ProviderSettings, RetrySettings, Settings
from worker.sim.process import running_simulator

API_KEY = "pipeline-test-key-0123456789abcdef"

MakeHarness = Callable[..., Harness]


@pytest.fixture
def make_harness(tmp_path: Path, redis_url: str, key_prefix: str) -> Iterator[MakeHarness]:
    """Start a simulator with `sim_args` (time scale 1: the harness moves its clock) and wrap it."""
    stack = ExitStack()

    def make(
        *sim_args: str,
        concurrency: int = 5,
        dialect: str = "kling",
        max_attempts: int = 6,
        **provider: object,
    ) -> Harness:
        sim = stack.enter_context(
            running_simulator("--time-scale", "1", "--seed", "11", "--api-key", API_KEY, *sim_args)
        )
        settings = Settings(
            redis_url=redis_url,
            database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
            storage_url=f"file://{tmp_path / 'videos'}",
            provider=ProviderSettings.model_validate(
                {
                    "dialect": dialect,
                    "base_url": sim.base_url,
                    "api_key": API_KEY,
                    "concurrency": concurrency,
                    **provider,
                }
            ),
            poll=PollSettings(default_expected_s=60.0),
            retry=RetrySettings(max_attempts=max_attempts, base_s=1.0, cap_s=10.0),
        )
        harness = Harness(settings, sim, key_prefix)
        stack.callback(harness.close)
        return harness

    with stack:
        yield make


def write_manifest(folder: Path, rows: list[str], name: str = "t") -> Path:
    """A YAML manifest with one kling-v3 720p 5-second row per prompt."""
    return write_renders(folder / f"{name}.yaml", name, rows)
