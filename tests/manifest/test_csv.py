"""CSV manifests: encodings, line endings, quoting, line numbers, sidecars and tag columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from jobs.catalog import Mode
from jobs.manifest import ManifestError, load_manifest
from tests.manifest.files import load, messages, write

HEADER = "id,prompt,model,duration\n"


def _write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_bom_and_line_endings(tmp_path: Path, bom: bytes, eol: bytes) -> None:
    lines = [b"id,prompt,model,duration", "a,Café au lait,kling-v3,5".encode(), b"b,Tea,kling-v3,6"]
    path = _write_bytes(tmp_path, "m.csv", bom + eol.join(lines) + eol)
    manifest = load(path)
    assert [j.row_id for j in manifest.jobs] == ["a", "b"]
    assert manifest.jobs[0].spec.prompt == "Café au lait"  # no BOM glued to anything
    assert manifest.jobs[1].spec.duration == 6
    assert [j.source for j in manifest.jobs] == [f"{path}:2", f"{path}:3"]


def test_bom_does_not_hide_the_first_header(tmp_path: Path) -> None:
    path = _write_bytes(tmp_path, "m.csv", b"\xef\xbb\xbfprompt,model\nA fox,kling-v3\n")
    assert load(path).jobs[0].spec.prompt == "A fox"


def test_quoting_commas_quotes_and_multiline(tmp_path: Path) -> None:
    text = (
        "id,prompt,model\r\n"
        'a,"A fox, in the ""deep"" snow",kling-v3\r\n'
        'b,"First line\r\nsecond line\r\n\r\nfourth, after a blank",kling-v3\r\n'
        'c,"She said ""hi""",kling-v3\r\n'
    )
    path = write(tmp_path, "m.csv", text)
    jobs = load(path).jobs
    assert jobs[0].spec.prompt == 'A fox, in the "deep" snow'
    # Line breaks inside a quoted value are kept exactly as the file has them.
    assert jobs[1].spec.prompt == "First line\r\nsecond line\r\n\r\nfourth, after a blank"
    assert jobs[2].spec.prompt == 'She said "hi"'
    # Each row reports the physical line its record starts on.
    assert [j.source.rsplit(":", 1)[1] for j in jobs] == ["2", "3", "7"]


def test_error_lines_count_physical_lines(tmp_path: Path) -> None:
    text = HEADER + 'a,"one\ntwo\nthree",kling-v3,5\n\nb,A fox,kling-v3,99\n'
    path = write(tmp_path, "m.csv", text)
    assert messages(path) == ["m.csv:6: duration: kling-v3 renders 3 to 15 seconds, not 99"]


def test_blank_lines_and_empty_rows_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "\n" + HEADER + "\n,,,\na,A fox,kling-v3,5\n\n")
    assert [j.source for j in load(path).jobs] == [f"{path}:5"]


def test_empty_cells_fall_back_to_defaults_and_short_rows_are_padded(tmp_path: Path) -> None:
    write(tmp_path, "m.yaml", "name: from-sidecar\ndefaults: {model: kling-v3, duration: 7}\n")
    path = write(tmp_path, "m.csv", "prompt,model,duration\nA fox,,\nA boat\n")
    manifest = load(path)
    assert manifest.name == "from-sidecar"
    assert [(j.spec.model, j.spec.duration) for j in manifest.jobs] == [("kling-v3", 7)] * 2


def test_sidecar_yml_and_rerender(tmp_path: Path) -> None:
    write(tmp_path, "night.yml", "rerender: yes\ndefaults:\n  model: kling-o3\n  audio: true\n")
    path = write(tmp_path, "night.csv", "prompt\nA chef explains a recipe\n")
    manifest = load(path)
    assert manifest.rerender is True
    assert manifest.name == "night"
    assert manifest.jobs[0].spec.mode is Mode.OMNI


def test_set_overrides_sidecar_defaults_but_not_rows(tmp_path: Path) -> None:
    write(tmp_path, "m.yaml", "defaults: {model: kling-v3, resolution: 1080p}\n")
    path = write(tmp_path, "m.csv", "prompt,resolution\nA fox,\nA boat,1080p\n")
    manifest = load(path, overrides={"resolution": "720p", "duration": "10", "name": "n"})
    assert [j.spec.resolution for j in manifest.jobs] == ["720p", "1080p"]
    assert {j.spec.duration for j in manifest.jobs} == {10}
    assert manifest.name == "n"


def test_tags_from_json_and_tag_columns(tmp_path: Path) -> None:
    write(tmp_path, "m.yaml", "defaults:\n  model: kling-v3\n  tags: {team: video, n: 1}\n")
    text = 'prompt,tags,tag.client,tag.n\nA fox,"{""shot"": 3, ""n"": 2}",acme,\nA boat,,,07\n'
    path = write(tmp_path, "m.csv", text)
    jobs = load(path).jobs
    assert jobs[0].tags == {"team": "video", "n": 2, "shot": 3, "client": "acme"}
    # Tag columns are text, kept as written.
    assert jobs[1].tags == {"team": "video", "n": "07"}


def test_shots_as_json(tmp_path: Path) -> None:
    shots = '[{"prompt": "Dawn, a fox wakes", "duration": 3}, {"prompt": "It runs", "duration": 4}]'
    buf = io.StringIO()
    csv.writer(buf).writerows([["model", "resolution", "shots"], ["kling-o3", "1080p", shots]])
    path = write(tmp_path, "m.csv", buf.getvalue())
    spec = load(path).jobs[0].spec
    assert spec.mode is Mode.OMNI
    assert [(s.prompt, s.duration) for s in spec.shots] == [
        ("Dawn, a fox wakes", 3),
        ("It runs", 4),
    ]
    assert spec.duration == 7


def test_nul_byte_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _write_bytes(tmp_path, "m.csv", b"prompt,model\nA fox,kling-v3\nA b\x00at,kling-v3\n")
    assert messages(path) == ["m.csv:3: file: contains a NUL byte (is this a text file?)"]


def test_invalid_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    data = b"prompt,model\nA fox,kling-v3\nCaf\xe9,kling-v3\n"
    path = _write_bytes(tmp_path, "m.csv", data)
    [message] = messages(path)
    assert message == "m.csv:3: file: is not valid UTF-8 (byte 0xe9); save it as UTF-8"


def test_errors_before_a_fatal_problem_are_kept(tmp_path: Path) -> None:
    path = _write_bytes(tmp_path, "m.csv", b"prompt,model\nA fox,kling-v9\nA \xff,kling-v3\n")
    assert messages(path) == [
        "m.csv:2: model: unknown model 'kling-v9' (did you mean 'kling-v3'?)",
        "m.csv:3: file: is not valid UTF-8 (byte 0xff); save it as UTF-8",
    ]


def test_size_limits(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "prompt,model,tags\n" + "A fox,kling-v3,{}\n" * 100)
    assert messages(path, max_bytes=1000) == ["m.csv: file: is 0.0 MB; the limit is 0.0 MB"]
    big = write(tmp_path, "big.csv", 'prompt,model,tags\nA fox,kling-v3,"' + "x" * 70_000 + '"\n')
    assert messages(big) == ["big.csv:2: tags: is 70,000 characters; the limit is 65,536"]


def test_header_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", "prompt,,model,prompt,Model\nA fox,,kling-v3,,\n")
    assert messages(path) == [
        "m.csv:1: column 2: has no name in the header",
        "m.csv:1: prompt: appears twice in the header",
        "m.csv:1: Model: unknown field (did you mean 'model'?)",
    ]


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    assert messages(tmp_path / "nope.csv") == ["nope.csv: file: no such file"]
    path = write(tmp_path, "m.txt", "prompt\n")
    with pytest.raises(ManifestError, match=r"a manifest is a \.yaml, \.yml or \.csv file"):
        load_manifest(path)
