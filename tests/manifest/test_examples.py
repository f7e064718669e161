"""Every manifest shipped in manifests/ parses, and the demo is what the README promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.catalog import Mode
from jobs.manifest import load_manifest
from jobs.manifest.csv_source import sidecar_of
from jobs.spec import JobSpec

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def _manifest_files() -> list[Path]:
    found = []
    for path in sorted(MANIFESTS.rglob("*")):
        if path.suffix == ".csv" or (
            path.suffix in (".yaml", ".yml") and not path.with_suffix(".csv").exists()
        ):
            found.append(path)
    return found


FILES = _manifest_files()


def test_examples_exist() -> None:
    names = {p.relative_to(MANIFESTS).as_posix() for p in FILES}
    assert {"examples/demo.yaml", "examples/matrix.yaml", "examples/catalog.csv"} <= names
    assert "nightly/example.yaml" in names
    assert sidecar_of(MANIFESTS / "examples" / "catalog.csv") is not None


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(MANIFESTS).as_posix() for p in FILES])
def test_every_shipped_manifest_parses(path: Path) -> None:
    manifest = load_manifest(path)
    assert manifest.jobs
    assert manifest.warnings == []
    for job in manifest.jobs:
        # Specs are built without a second validation: validating one must change nothing.
        assert JobSpec.model_validate(job.spec.model_dump()) == job.spec
        assert job.source.startswith(f"{path}:")


def test_demo_is_small_and_varied() -> None:
    demo = load_manifest(MANIFESTS / "examples" / "demo.yaml")
    specs = [j.spec for j in demo.jobs]
    assert demo.name == "demo"
    assert 6 <= len(demo.jobs) <= 10
    assert {s.mode for s in specs} == {Mode.TEXT2VIDEO, Mode.IMAGE2VIDEO, Mode.OMNI, Mode.IMAGE}
    assert {s.resolution for s in specs} == {"720p", "1080p"}
    assert any(s.model == "kling-o3" and s.audio and not s.shots for s in specs)
    assert any(s.shots for s in specs)
    local = [s.image_url for s in specs if s.mode is Mode.IMAGE2VIDEO]
    image = MANIFESTS / "examples" / "lighthouse.png"
    assert local == [str(image)]
    assert image.read_bytes().startswith(b"\x89PNG")


def test_nightly_example_rerenders() -> None:
    assert load_manifest(MANIFESTS / "nightly" / "example.yaml").rerender is True
    assert load_manifest(MANIFESTS / "examples" / "demo.yaml").rerender is False
