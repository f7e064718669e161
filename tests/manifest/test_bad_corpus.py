"""Every manifest in tests/manifest/bad/ fails with exactly the messages in its .expected file."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.manifest import ManifestError, load_manifest

BAD = Path(__file__).parent / "bad"
CASES = sorted(BAD.glob("*.expected"))


def _manifest(expected: Path) -> Path:
    # A CSV case may have a YAML sidecar of the same stem: the CSV is the manifest then.
    csv = expected.with_suffix(".csv")
    return csv if csv.exists() else expected.with_suffix(".yaml")


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("expected", CASES, ids=[c.stem for c in CASES])
def test_bad_manifest_gives_its_expected_messages(
    expected: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BAD)
    name = _manifest(expected).name
    with pytest.raises(ManifestError) as caught:
        load_manifest(Path(name))
    want = expected.read_text(encoding="utf-8").splitlines()
    assert str(caught.value).splitlines() == want
    # Every issue carries its parts, not only the formatted line.
    for issue, line in zip(caught.value.issues, want, strict=True):
        assert line.startswith(f"{issue.file}:{issue.line}: " if issue.line else f"{issue.file}: ")
        assert f": {issue.field}: {issue.message}" in line
