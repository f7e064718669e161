"""Property: any prompt text survives being written by the standard CSV and YAML writers.

Any unicode except NUL and lone surrogates (which no UTF-8 file can hold), up to the prompt
limit, with at least one non-blank character (a blank prompt is an error by design).

One exception belongs to PyYAML's writer, not to reading: with `allow_unicode=True` it writes
U+0085 (NEL) raw inside a quoted scalar, where YAML reads it as a line break and folds it to a
space; PyYAML's own loader gets the same folded text back. There the manifest must read
exactly what PyYAML's safe loader reads.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.catalog import MAX_PROMPT_CHARS
from jobs.manifest import load_manifest
from jobs.spec import JobSpec

prompts = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=MAX_PROMPT_CHARS,
).filter(lambda s: s.strip() != "")

EDGE_CASES = [
    'a "quoted", comma\r\nand CRLF',
    "lone \r carriage return and \n newline",
    "\ufeffstarts with a BOM",
    "line\u2028separator\u2029and\x85next line",
    "  leading and trailing spaces  ",
    "tab\tand\x0bvertical tab and \x1b escape",
    "yes",
    "16:9",
    "- not a list",
    "#not a comment",
    "x" * MAX_PROMPT_CHARS,
]

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _csv_round_trip(folder: Path, prompt: str) -> str:
    path = folder / "rt.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "prompt", "model"])
        writer.writerow(["r1", prompt, "kling-v3"])
    [job] = load_manifest(path).jobs
    assert JobSpec.model_validate(job.spec.model_dump()) == job.spec
    return job.spec.prompt


def _yaml_round_trip(folder: Path, prompt: str, allow_unicode: bool) -> str:
    path = folder / "rt.yaml"
    document = {"name": "rt", "rows": [{"id": "r1", "prompt": prompt, "model": "kling-v3"}]}
    text = yaml.safe_dump(document, allow_unicode=allow_unicode)
    path.write_text(text, encoding="utf-8")
    [job] = load_manifest(path).jobs
    # Whatever the writer did, the manifest reads what YAML's own safe loader reads.
    assert job.spec.prompt == yaml.safe_load(text)["rows"][0]["prompt"]
    return str(job.spec.prompt)


def _writer_keeps(prompt: str, allow_unicode: bool) -> bool:
    """False where PyYAML's writer itself loses the text (see the module docstring)."""
    return not (allow_unicode and "\x85" in prompt)


@pytest.mark.parametrize("prompt", EDGE_CASES)
def test_edge_cases_round_trip(tmp_path: Path, prompt: str) -> None:
    assert _csv_round_trip(tmp_path, prompt) == prompt
    for allow_unicode in (False, True):
        got = _yaml_round_trip(tmp_path, prompt, allow_unicode)
        if _writer_keeps(prompt, allow_unicode):
            assert got == prompt


@PROPERTY
@given(prompt=prompts)
def test_any_prompt_survives_csv(tmp_path: Path, prompt: str) -> None:
    assert _csv_round_trip(tmp_path, prompt) == prompt


@PROPERTY
@given(prompt=prompts, allow_unicode=st.booleans())
def test_any_prompt_survives_yaml(tmp_path: Path, prompt: str, allow_unicode: bool) -> None:
    got = _yaml_round_trip(tmp_path, prompt, allow_unicode)
    if _writer_keeps(prompt, allow_unicode):
        assert got == prompt
