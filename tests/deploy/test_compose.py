"""docker-compose.yml and .env.example, checked without a Docker engine: Debian's docker-compose
validates and resolves the file, every command is run with `--help` to prove it exists, every
variable is listed, no secret is written in the file and no port is open without a password."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery.app.control import Inspect
from typer.testing import CliRunner

from tests.services import BIN
from worker.celery_app import celery_config
from worker.cli.main import app as kbatch_app
from worker.names import Queue
from worker.settings import Settings
from worker.sim.config import SimConfig

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# ${VAR}, ${VAR:-default}, ${VAR:?message}; `$${...}` is a literal dollar for the container's shell.
VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(?:[:?-][^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|ACCESS_KEY|_AUTH", re.IGNORECASE)
# What a published port without an address binds to.
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - compared with, never bound
# Variables docker compose reads itself.
COMPOSE_OWN = {"COMPOSE_PROFILES"}
KBATCH_WORKER = ["kbatch", "worker"]
KBATCH_SERVICES = {
    "migrate",
    "submit-worker",
    "poll-worker",
    "store-worker",
    "control-worker",
    "beat",
    "flower",
    "sim",
}


def compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        # Only the env file decides: no variable of the test's own environment leaks in.
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )


@cache
def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


@cache
def resolved() -> dict[str, Any]:
    """The file as docker-compose resolves it with .env.example: anchors merged, variables set."""
    result = compose("config")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def service_env(name: str) -> dict[str, str]:
    env = resolved()["services"][name].get("environment") or {}
    return {k: "" if v is None else str(v) for k, v in env.items()}


def test_docker_compose_validates_the_file() -> None:
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_a_missing_secret_stops_compose_with_its_name(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    kept = [ln for ln in ENV_EXAMPLE.read_text().splitlines() if "REDIS_PASSWORD=" not in ln]
    env_file.write_text("\n".join(kept) + "\n")

    result = compose("config", "-q", env_file=env_file)

    assert result.returncode != 0
    assert "set REDIS_PASSWORD in .env" in result.stderr


def test_every_variable_the_file_uses_is_in_env_example_and_every_listed_one_is_used() -> None:
    used = set(VARIABLE.findall(COMPOSE.read_text(encoding="utf-8")))
    listed = set(env_example())

    assert used - listed == set()
    assert listed - used <= COMPOSE_OWN


def test_the_services_environment_is_valid_kbatch_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for service in KBATCH_SERVICES - {"sim"}:
        for name in service_env(service):
            assert name.startswith("KBATCH_"), f"{service}: {name}"
            model: Any = Settings
            for part in name.removeprefix("KBATCH_").lower().split("__"):
                assert part in model.model_fields, f"{service}: {name} is not a kbatch setting"
                model = model.model_fields[part].annotation
    for name in service_env("sim"):
        assert name.removeprefix("KBATCH_SIM_").lower() in SimConfig.model_fields, name
    env = service_env("control-worker")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    settings = Settings(_env_file=None)

    assert settings.redis_url.get_secret_value() == "redis://:change-me-redis@redis:6379/0"
    assert settings.database_url.get_secret_value().startswith("postgresql+psycopg://kbatch:")
    assert settings.provider.base_url == "http://sim:8765"
    assert settings.storage_url == "s3://kbatch/videos"
    assert celery_config(settings)["beat_scheduler"] == "redbeat.RedBeatScheduler"
    # The one bucket the one-shot service creates is the one the workers store into.
    assert settings.storage_url.startswith(f"s3://{service_env('create-bucket')['S3_BUCKET']}/")


def test_no_secret_is_written_in_the_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for name, value in env_example().items():
        if SECRET_NAME.search(name) and value:
            assert value not in text, f"the value of {name} is written in the file"
    for name, service in raw()["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if SECRET_NAME.search(key) or "://" in str(value):
                assert VARIABLE.search(str(value)), f"{name}: {key} is written in the file"
                credentials = str(value).split("@")[0]
                assert ":" not in credentials or "${" in credentials, f"{name}: {key}"


def test_only_flower_is_published_beyond_this_host_and_it_needs_a_password() -> None:
    published: dict[str, set[str]] = {}
    for name, service in resolved()["services"].items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host = port.get("host_ip", EVERY_INTERFACE)
            else:
                parts = str(port).split(":")
                host = parts[0] if len(parts) == 3 else EVERY_INTERFACE
            published.setdefault(name, set()).add(host)

    assert {n for n, hosts in published.items() if hosts - {"127.0.0.1"}} == {"flower"}
    assert set(published) == {"redis", "postgres", "minio", "flower"}
    flower = resolved()["services"]["flower"]
    assert flower["command"] == ["kbatch", "flower"]
    assert {"KBATCH_FLOWER__USER", "KBATCH_FLOWER__PASSWORD"} <= set(service_env("flower"))
    flower_raw = raw()["services"]["flower"]["environment"]
    assert ":?" in flower_raw["KBATCH_FLOWER__PASSWORD"]  # compose refuses to start without one


def test_the_stack_has_every_part_each_with_restarts_health_and_volumes() -> None:
    services = resolved()["services"]
    assert set(services) == KBATCH_SERVICES | {"redis", "postgres", "minio", "create-bucket"}
    one_shots = {"migrate", "create-bucket"}
    for name, service in services.items():
        if name in one_shots:
            assert service.get("restart") == "no", name
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    for name, path in (("redis", "/data"), ("postgres", "/var/lib/postgresql/data")):
        volume = services[name]["volumes"][0]
        assert volume.startswith(f"{name}-data:{path}"), volume
    assert set(resolved()["volumes"]) == {"redis-data", "postgres-data", "minio-data"}
    assert services["sim"]["profiles"] == ["offline"]
    assert [n for n, s in services.items() if s.get("profiles")] == ["sim"]
    for name in KBATCH_SERVICES:
        assert services[name]["image"] == "kbatch:0.1.0"
        assert services[name]["build"]["context"] == str(ROOT)


def test_workers_scale_and_together_consume_every_queue() -> None:
    services = resolved()["services"]
    workers = {n: s for n, s in services.items() if s.get("command", [])[:2] == KBATCH_WORKER}
    consumed: set[str] = set()
    for name, service in workers.items():
        # --scale makes copies: a fixed container name or host port would collide.
        assert "container_name" not in service, name
        assert "ports" not in service, name
        command = service["command"]
        queues = command[command.index("--queues") + 1].split(",")
        consumed.update(queues)
        node = command[command.index("--name") + 1]
        assert node.endswith("@%h")  # one node name per container
        # docker-compose config keeps `$$` (a literal `$` for the container's shell).
        assert f'"{node.replace("%h", "$$HOSTNAME")}"' in service["healthcheck"]["test"][1]
    assert consumed == {q.value for q in Queue}
    assert "beat" not in workers
    assert "deploy" not in services["beat"]


def _entry_point_checks() -> list[tuple[str, list[str]]]:
    """(where, argv) for every command and health check run in the kbatch image."""
    checks = []
    for name, service in resolved()["services"].items():
        if name not in KBATCH_SERVICES:
            continue
        checks.append((f"{name} command", list(service["command"])))
        if "healthcheck" in service:  # all but the one-shot migration
            test = service["healthcheck"]["test"]
            argv = shlex.split(test[1]) if test[0] == "CMD-SHELL" else list(test[1:])
            checks.append((f"{name} health check", argv))
    return checks


def _run_help(argv: list[str]) -> tuple[int, str]:
    """Prove `argv` names a real entry point, subcommand and options, without running it.

    `--help` is eager: the options before it are parsed (an unknown one fails), then it exits.
    """
    program, *args = argv
    if program == "kbatch":
        # The `kbatch` script runs this Typer app (pyproject's [project.scripts]).
        result = CliRunner().invoke(kbatch_app, [*args, "--help"])
        return result.exit_code, result.output
    if program == "python" and args[0] == "-c":
        compile(args[1], "<healthcheck>", "exec")
        return 0, ""
    cmd = [sys.executable, *args[:2], "--help"] if program == "python" else [str(BIN / program)]
    if program != "python":
        cmd += [*args, "--help"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr


def _shape(argv: list[str]) -> tuple[str, ...]:
    if "--destination" in argv:
        at = argv.index("--destination") + 1
        argv = [*argv[:at], "node@host", *argv[at + 1 :]]
    return tuple(argv)


def test_every_command_and_health_check_names_a_real_entry_point() -> None:
    checks = _entry_point_checks()
    programs = {argv[0] for _, argv in checks}
    assert programs == {"kbatch", "celery", "python"}
    for _, argv in checks:
        if argv[0] == "celery":
            assert argv[1:3] == ["-A", "worker.celery_app"]
            if argv[3] == "inspect":  # the action is an argument: --help cannot vouch for it
                assert callable(getattr(Inspect, argv[4], None)), argv
    assert (BIN / "kbatch").is_file()
    # The worker health checks differ only in the node they ping: one run answers for all.
    shapes = {_shape(argv) for _, argv in checks if argv[0] != "kbatch"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        ran = dict(zip(shapes, pool.map(lambda a: _run_help(list(a)), shapes), strict=True))
    failed = []
    for where, argv in checks:
        status, output = ran[_shape(argv)] if argv[0] != "kbatch" else _run_help(argv)
        if status != 0:
            failed.append(f"{where}: {' '.join(argv)}: {output.strip()[-300:]}")
    assert failed == []
