"""Matrix expansion: order, determinism, excludes, rows times combinations, bounds."""

from __future__ import annotations

from pathlib import Path

from jobs.manifest import Limits
from tests.manifest.files import load, messages, write

MATRIX = """\
name: grid
defaults: {resolution: 720p}
matrix:
  prompt: [a fox, a boat]
  model: [kling-v3, kling-o3]
  duration: [5, 10]
  exclude:
    - {model: kling-o3, duration: 10}
"""


def _coords(path: Path) -> list[tuple[str, str, int | None]]:
    return [(j.spec.prompt, j.spec.model, j.spec.duration) for j in load(path).jobs]


def test_order_is_nested_loops_in_written_order(tmp_path: Path) -> None:
    assert _coords(write(tmp_path, "m.yaml", MATRIX)) == [
        ("a fox", "kling-v3", 5),
        ("a fox", "kling-v3", 10),
        ("a fox", "kling-o3", 5),
        ("a boat", "kling-v3", 5),
        ("a boat", "kling-v3", 10),
        ("a boat", "kling-o3", 5),
    ]


def test_expansion_is_deterministic(tmp_path: Path) -> None:
    first = load(write(tmp_path, "a.yaml", MATRIX)).jobs
    second = load(write(tmp_path, "b.yaml", MATRIX)).jobs
    assert [j.key for j in first] == [j.key for j in second]
    assert len({j.key for j in first}) == 6
    # Writing the fields in another order changes the order, not the set of jobs.
    swapped = MATRIX.replace("  prompt: [a fox, a boat]\n", "") + "  prompt: [a fox, a boat]\n"
    third = load(write(tmp_path, "c.yaml", swapped)).jobs
    assert [j.spec.prompt for j in third][:2] == ["a fox", "a boat"]
    assert [j.key for j in third] != [j.key for j in first]
    assert {j.key for j in third} == {j.key for j in first}


def test_rows_times_matrix(tmp_path: Path) -> None:
    text = """\
defaults: {model: kling-v3}
rows:
  - {id: mug, prompt: a mug, tags: {sku: 1}}
  - {id: shoe, prompt: a shoe}
matrix:
  aspect_ratio: ["16:9", "9:16"]
"""
    jobs = load(write(tmp_path, "m.yaml", text)).jobs
    assert [(j.row_id, j.spec.aspect_ratio, j.tags) for j in jobs] == [
        ("mug", "16:9", {"sku": 1}),
        ("mug", "9:16", {"sku": 1}),
        ("shoe", "16:9", {}),
        ("shoe", "9:16", {}),
    ]
    # Matrix copies of a row keep the row's line (and may share its id).
    assert [j.source.rsplit(":", 1)[1] for j in jobs] == ["3", "3", "4", "4"]


def test_errors_point_at_the_matrix_value(tmp_path: Path) -> None:
    text = """\
defaults: {model: kling-v3}
rows:
  - {prompt: a, aspect_ratio: "1:1"}
matrix:
  duration:
    - 5
    - 20
  aspect_ratio: ["16:9"]
"""
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:3: aspect_ratio: is also a matrix field; set it in one place only",
    ]
    text = text.replace(', aspect_ratio: "1:1"', "")
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:7: duration: kling-v3 renders 3 to 15 seconds, not 20",
    ]


def test_matrix_shape_errors(tmp_path: Path) -> None:
    text = "matrix:\n  prompt: a fox\n  model: []\n"
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:1: matrix: lists no fields to vary",
        "m.yaml:2: prompt: a matrix field must list one or more values",
        "m.yaml:3: model: a matrix field must list one or more values",
    ]


def test_size_is_checked_before_expanding(tmp_path: Path) -> None:
    values = ", ".join(str(n) for n in range(100))
    text = (
        f"defaults: {{model: kling-v3}}\nmatrix:\n  prompt: [{values}]\n  cfg_scale: [{values}]\n"
    )
    assert messages(write(tmp_path, "m.yaml", text), limits=Limits(max_jobs=5000)) == [
        "m.yaml:2: matrix: makes 10,000 rows; the limit is 5,000"
    ]
