"""YAML manifests: lines of rows, scalars kept as written, safety against hostile documents."""

from __future__ import annotations

import time
from pathlib import Path

from jobs.catalog import Mode
from jobs.manifest import Limits
from tests.manifest.files import load, messages, write


def test_rows_report_their_own_line(tmp_path: Path) -> None:
    text = """\
name: lines
defaults:
  model: kling-v3
rows:
  - prompt: first
  - {prompt: second, duration: 99}

  - id: third
    prompt: >-
      folded
      text
    duration: 2
"""
    path = write(tmp_path, "m.yaml", text)
    assert messages(path) == [
        "m.yaml:6: duration: kling-v3 renders 3 to 15 seconds, not 99",
        "m.yaml:8: duration: kling-v3 renders 3 to 15 seconds, not 2",
    ]


def test_plain_scalars_stay_as_written_for_text_fields(tmp_path: Path) -> None:
    # YAML 1.1 would read 16:9 as the base-60 number 969 and `yes` as true.
    text = """\
rows:
  - {id: 007, prompt: yes, model: kling-v3, aspect_ratio: 16:9}
  - {id: b, prompt: 1e3, model: kling-v3, aspect_ratio: 9:16, duration: "10"}
"""
    jobs = load(write(tmp_path, "m.yaml", text)).jobs
    assert [(j.row_id, j.spec.prompt, j.spec.aspect_ratio) for j in jobs] == [
        ("007", "yes", "16:9"),
        ("b", "1e3", "9:16"),
    ]
    assert jobs[1].spec.duration == 10


def test_merge_keys_and_anchors(tmp_path: Path) -> None:
    text = """\
base: &base {model: kling-o3, resolution: 720p}
rows:
  - <<: *base
    prompt: A chef
    audio: on
  - <<: *base
    prompt: A boat
    resolution: 1080p
"""
    # `base` is not a manifest key: anchors must live inside known keys.
    assert messages(write(tmp_path, "bad.yaml", text)) == ["bad.yaml:1: base: unknown manifest key"]
    text = text.replace("base: &base", "defaults: &base")
    jobs = load(write(tmp_path, "m.yaml", text)).jobs
    assert [(j.spec.mode, j.spec.resolution, j.spec.audio) for j in jobs] == [
        (Mode.OMNI, "720p", True),
        (Mode.TEXT2VIDEO, "1080p", False),
    ]


def test_null_in_a_row_clears_a_default(tmp_path: Path) -> None:
    text = """\
defaults: {model: kling-v3, negative_prompt: blurry}
rows:
  - {prompt: a}
  - {prompt: b, negative_prompt: null}
"""
    jobs = load(write(tmp_path, "m.yaml", text)).jobs
    assert [j.spec.negative_prompt for j in jobs] == ["blurry", None]


def test_tags_keep_types_and_dates_become_text(tmp_path: Path) -> None:
    text = """\
defaults: {model: kling-v3, tags: {campaign: spring, week: 3}}
rows:
  - prompt: a
    tags: {week: 4, launch: 2026-03-01, people: [ana, bo], extra: {ok: true}}
"""
    [job] = load(write(tmp_path, "m.yaml", text)).jobs
    assert job.tags == {
        "campaign": "spring",
        "week": 4,
        "launch": "2026-03-01",
        "people": ["ana", "bo"],
        "extra": {"ok": True},
    }


def test_billion_laughs_is_refused_quickly() -> None:
    bomb = Path(__file__).parent / "bad" / "alias_bomb.yaml"
    started = time.perf_counter()
    [message] = messages(bomb)
    assert "expands to more than" in message
    assert time.perf_counter() - started < 1.0


def test_alias_budget_is_configurable(tmp_path: Path) -> None:
    text = """\
defaults: &d {model: kling-v3, tags: {a: 1, b: 2, c: 3}}
rows:
  - {<<: *d, prompt: one}
  - {<<: *d, prompt: two}
"""
    path = write(tmp_path, "m.yaml", text)
    assert len(load(path).jobs) == 2
    [message] = messages(path, limits=Limits(max_yaml_nodes=30))
    assert message.endswith("yaml: the document expands to more than 30 values (too many aliases?)")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    nested = "[" * 100 + "]" * 100
    path = write(
        tmp_path, "m.yaml", f"rows:\n  - {{prompt: a, model: kling-v3, tags: {{x: {nested}}}}}\n"
    )
    [message] = messages(path)
    assert message == "m.yaml:2: tags: is nested more than 64 levels deep"


def test_unsafe_tags_are_refused_not_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    text = f"""\
rows:
  - prompt: a
    model: kling-v3
    tags: !!python/object/apply:os.system ["touch {marker}"]
"""
    assert messages(write(tmp_path, "m.yaml", text)) == [
        "m.yaml:4: tags: uses the unsupported YAML tag !!python/object/apply:os.system"
    ]
    assert not marker.exists()


def test_multiple_documents_and_syntax_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "rows: []\n---\nrows: []\n")
    [message] = messages(path)
    assert message == (
        "m.yaml:2: yaml: but found another document (expected a single document in the stream)"
    )
    path = write(tmp_path, "tab.yaml", "rows:\n\t- prompt: a\n")
    [message] = messages(path)
    assert message.startswith("tab.yaml:2: yaml: ")


def test_nul_and_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "nul.yaml").write_bytes(b"rows:\n  - prompt: a\x00b\n")
    assert messages(tmp_path / "nul.yaml") == [
        "nul.yaml:2: file: contains a NUL byte (is this a text file?)"
    ]
    (tmp_path / "latin.yaml").write_bytes(b"name: x\nrows:\n  - prompt: caf\xe9\n")
    assert messages(tmp_path / "latin.yaml") == [
        "latin.yaml:3: file: is not valid UTF-8 (byte 0xe9 at offset 29); save it as UTF-8"
    ]


def test_bom_and_crlf_yaml(tmp_path: Path) -> None:
    data = "\ufeffrows:\r\n  - prompt: |\r\n      two\r\n      lines\r\n    model: kling-v3\r\n"
    (tmp_path / "m.yaml").write_bytes(data.encode())
    [job] = load(tmp_path / "m.yaml").jobs
    assert job.spec.prompt == "two\nlines\n"  # YAML normalises line breaks in scalars


def test_file_size_bound(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "rows:\n" + "  - {prompt: a, model: kling-v3}\n" * 50)
    assert messages(path, max_bytes=100) == ["m.yaml: file: is 0.0 MB; the limit is 0.0 MB"]


def test_settings_and_top_level_shape(tmp_path: Path) -> None:
    text = """\
name: "  spaced  "
description: What this batch is for.
rerender: on
rows: [{prompt: a, model: kling-v3}]
"""
    manifest = load(write(tmp_path, "m.yaml", text))
    assert (manifest.name, manifest.description, manifest.rerender) == (
        "spaced",
        "What this batch is for.",
        True,
    )
    assert messages(write(tmp_path, "n.yaml", "name: [x]\nrows: {a: 1}\n")) == [
        "n.yaml:1: name: must be text",
        "n.yaml:2: rows: must be a list of rows",
    ]
