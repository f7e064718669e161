"""The Dockerfile and .dockerignore, read statically (no Docker engine here): a builder stage and a
slim, non-root final stage without build tools, whose inputs exist and reach the build context."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|apt-get|apk|pip install|cc)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def read_stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            stages.append(Stage(base, parts[2] if len(parts) == 3 else None))
        else:
            stages[-1].instructions.append((keyword, rest))
    return stages


def test_a_builder_stage_and_a_slim_final_stage_on_python_3_11() -> None:
    stages = read_stages()
    assert [s.name for s in stages] == ["build", "runtime"]
    for stage in stages:
        assert stage.base.startswith("python:3.11-slim"), stage.base
    build = stages[0]
    assert any("pip wheel" in r for r in build.args("RUN"))
    assert any("/opt/kbatch/bin/pip install /wheels/kbatch-" in r for r in build.args("RUN"))


def test_the_final_stage_runs_as_a_user_it_creates_and_holds_no_build_tool() -> None:
    final = read_stages()[-1]
    users = final.args("USER")
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert [kw for kw, _ in final.instructions][-2:] == ["USER", "CMD"]
    assert any(re.search(rf"\buseradd\b.*\b{user}\b", run) for run in final.args("RUN"))
    for run in final.args("RUN"):
        assert not BUILD_TOOLS.search(run), run
    assert any("pip uninstall --yes pip setuptools wheel" in run for run in final.args("RUN"))
    assert "--from=build /opt/kbatch /opt/kbatch" in " ".join(final.args("COPY"))
    assert any(env.startswith("PATH=/opt/kbatch/bin:") for env in final.args("ENV"))
    assert shlex.split(final.args("CMD")[-1].strip("[]").replace(",", " ")) == [
        "kbatch",
        "--help",
    ]


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            excluded = not negate
    return excluded


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("pyproject.toml", True),
        ("README.md", True),
        ("jobs/ledger/migrations/versions/0001_initial_schema.py", True),
        ("worker/sim/assets/clip.mp4", True),
        ("manifests/nightly/example.yaml", True),
        (".env", False),
        (".env.example", False),
        (".venv/bin/python", False),
        ("var/demo/kbatch.db", False),
        (".git/HEAD", False),
        ("tests/conftest.py", False),
        ("worker/__pycache__/tasks.cpython-311.pyc", False),
    ],
)
def test_the_build_context_holds_the_sources_and_never_secrets(path: str, sent: bool) -> None:
    assert dockerignore_excludes(path, ignore_patterns()) is not sent


def test_everything_the_dockerfile_copies_exists_and_reaches_the_context() -> None:
    sources = []
    for stage in read_stages():
        for copy in stage.args("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if "--from=" in copy:
                continue
            sources += words[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not dockerignore_excludes(source, ignore_patterns()), f"{source} is ignored"
