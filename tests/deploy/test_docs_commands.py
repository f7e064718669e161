"""Every command in ops/RUNBOOK.md and docs/deploy.md exists: kbatch subcommands and options,
celery subcommands, actions and options, docker compose subcommands, options and services, and
the programs run inside the third-party containers. Variables set in them are real ones."""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from celery.app.control import Control, Inspect
from celery.bin.celery import celery as celery_cli
from typer.testing import CliRunner

from worker.beat import parse_cron
from worker.cli.main import app as kbatch_app
from worker.settings import NightlySettings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "ops" / "RUNBOOK.md", ROOT / "docs" / "deploy.md"]
# Programs the official images of these services ship.
IMAGE_PROGRAMS = {"postgres": {"psql", "pg_dump", "pg_restore"}, "redis": {"redis-cli"}}
SHELL = {"cd", "cp"}
# docker compose options that take a value (the next word).
COMPOSE_VALUED = {"--index", "-t", "--timeout", "--tail", "--scale", "-e", "-w", "-u"}
OPERATORS = re.compile(r"\s(?:&&|\|\||;|\|)\s")
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(\S*)$")


def code_lines(path: Path) -> list[str]:
    """The lines of the ```sh blocks, continuations joined, comments and blanks dropped."""
    lines: list[str] = []
    inside = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.strip()
        if text.startswith("```"):
            inside = text == "```sh"
            continue
        if inside and text and not text.startswith("#"):
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + " " + text
            else:
                lines.append(text)
    return lines


@cache
def compose_services() -> set[str]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return set(loaded["services"])


@cache
def compose_help(sub: str) -> str:
    done = subprocess.run(
        ["docker-compose", sub, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, f"docker compose has no subcommand {sub!r}"
    return done.stdout


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^(\w+)=", text, re.MULTILINE)}


def check_line(line: str) -> None:
    if assignment := ASSIGNMENT.match(line):  # an .env line
        name = assignment.group(1)
        assert name in env_example_names(), f"{name} is not a variable of .env.example"
        return
    fields = line.split()
    if len(fields) > 5 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]):
        parse_cron(" ".join(fields[:5]))  # a crontab line
        line = " ".join(fields[5:])
    line = re.split(r"\s[<>]\s", line)[0]  # redirections come last
    for command in OPERATORS.split(line):
        check_command(shlex.split(command, comments=True))


def check_command(argv: list[str], service: str | None = None) -> None:
    program, *args = argv
    if service in IMAGE_PROGRAMS:
        assert program in IMAGE_PROGRAMS[service], f"{program} in the {service} container"
    elif program == "docker":
        check_compose(args)
    elif program == "kbatch":
        result = CliRunner().invoke(kbatch_app, [*args, "--help"])
        assert result.exit_code == 0, f"kbatch {' '.join(args)}: {result.output[-400:]}"
    elif program == "celery":
        check_celery(args)
    elif program == "python":
        assert args == ["-m", "worker.beat", "check"], argv
    elif program == "sh":
        assert args[0] == "-c"
        check_line(args[1])
    else:
        assert program in SHELL, f"unknown program {program!r}"


def check_compose(args: list[str]) -> None:
    assert args[0] == "compose", args
    sub, rest = args[1], args[2:]
    options = re.findall(r"(?<![\w-])(-{1,2}[\w-]+)", compose_help(sub))
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        option = rest[i].split("=")[0]
        assert option in options, f"docker compose {sub} has no option {option}"
        if option == "--scale":
            assert rest[i + 1].split("=")[0] in compose_services(), rest[i + 1]
        i += 2 if option in COMPOSE_VALUED and "=" not in rest[i] else 1
    names = rest[i:]
    if sub in ("exec", "run"):
        assert names[0] in compose_services(), names[0]
        check_command(names[1:], service=names[0])
    else:
        unknown = set(names) - compose_services()
        assert not unknown, f"docker compose {sub}: no service {unknown}"


def check_celery(args: list[str]) -> None:
    assert args[:2] == ["-A", "worker.celery_app"], args
    command = celery_cli.commands[args[2]]
    known = {opt for param in command.params for opt in param.opts}
    words = [a for a in args[3:] if not a.startswith("-")]
    for option in (a for a in args[3:] if a.startswith("-")):
        assert option in known, f"celery {args[2]} has no option {option}"
    if args[2] in ("inspect", "control"):
        cls = Inspect if args[2] == "inspect" else Control
        assert callable(getattr(cls, words[0], None)), f"celery {args[2]} {words[0]}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_in_the_doc_exists(doc: Path) -> None:
    lines = code_lines(doc)
    assert len(lines) > 5
    for line in lines:
        check_line(line)


def test_the_checker_refuses_what_does_not_exist() -> None:
    wrong = [
        "docker compose exec control-worker kbatch resum NAME",
        "docker compose exec control-worker kbatch status NAME --everything",
        "docker compose up -d --scale beet=2",
        "docker compose stop --gently submit-worker",
        "docker compose exec -T postgres mysqldump kbatch",
        "docker compose exec store-worker celery -A worker.celery_app inspect actve",
        "KBATCH_NIGHTLY__WHEN=2am",
    ]
    for line in wrong:
        with pytest.raises(AssertionError):
            check_line(line)


def test_the_crontab_line_runs_the_wrapper_at_the_default_nightly_time() -> None:
    crontab = ROOT / "ops" / "cron" / "kbatch-nightly.crontab"
    entries = [ln for ln in crontab.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(entries) == 1
    fields = entries[0].split()
    assert " ".join(fields[:5]) == NightlySettings().cron
    assert parse_cron(" ".join(fields[:5])) == parse_cron(NightlySettings().cron)
    assert fields[5] == "kbatch"  # /etc/cron.d lines name the user
    assert fields[-3].endswith("/ops/cron/kbatch-nightly")
    wrapper = ROOT / "ops" / "cron" / "kbatch-nightly"
    assert wrapper.stat().st_mode & 0o111
