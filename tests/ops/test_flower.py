"""`kbatch flower`: what Flower shows of a rendered batch, behind basic auth, and when it refuses
to start. The rendered batch is in conftest.py (real worker, simulator, Redis and Flower)."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.ops.conftest import JOB_TASKS, WORKER, Rendered
from tests.services import BIN, free_port, stop, wait_until_http
from worker.cli.flower_cmd import AUTH_ENV, FlowerRefused, flower_launch
from worker.settings import FlowerSettings
from worker.stack import private_redis


@pytest.mark.slow
def test_flower_shows_each_step_of_each_job_with_its_batch_and_key(rendered: Rendered) -> None:
    tasks = rendered.tasks()
    seen: dict[tuple[str, str], int] = {}
    for task in tasks.values():
        if task["name"] not in JOB_TASKS:
            continue
        kwargs = ast.literal_eval(task["kwargs"])
        assert kwargs["batch"] == rendered.batch_id
        assert kwargs["key"] in rendered.keys.values()
        assert len(ast.literal_eval(task["args"])) == 1  # the job id, nothing else
        assert task["worker"] == WORKER
        seen[task["name"], kwargs["key"]] = seen.get((task["name"], kwargs["key"]), 0) + 1
    for key in rendered.keys.values():
        for name in JOB_TASKS:
            assert seen.get((name, key), 0) >= 1, f"no {name} task for job {key} in Flower"


@pytest.mark.slow
def test_flower_lists_the_worker_and_its_queues(rendered: Rendered) -> None:
    resp = httpx.get(
        f"{rendered.flower_url}/api/workers",
        params={"refresh": "1"},
        auth=rendered.flower_auth,
        timeout=15,
    )
    assert resp.status_code == 200
    worker = resp.json()[WORKER]
    queues = {q["name"] for q in worker["active_queues"]}
    assert queues == {"submit", "poll", "store", "control"}
    assert set(JOB_TASKS) <= set(worker["registered"])


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/api/tasks", "/api/workers", "/", "/tasks"])
def test_flower_refuses_requests_without_the_right_credentials(
    rendered: Rendered, path: str
) -> None:
    url = f"{rendered.flower_url}{path}"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, auth=("ops", "wrong"), timeout=10).status_code == 401
    assert httpx.get(url, auth=rendered.flower_auth, timeout=10).status_code == 200


@pytest.mark.slow
def test_no_secret_on_flowers_command_line_in_its_tasks_or_its_log(rendered: Rendered) -> None:
    cmdline = Path(f"/proc/{rendered.flower.pid}/cmdline").read_bytes().decode()
    assert "flower" in cmdline
    tasks_json = httpx.get(
        f"{rendered.flower_url}/api/tasks", auth=rendered.flower_auth, timeout=10
    ).text
    log = rendered.flower_log.read_text()
    assert "Visit me at" in log
    for secret in rendered.secrets.values():
        assert secret not in cmdline
        assert secret not in tasks_json
        assert secret not in log


def test_credentials_go_in_the_environment_not_the_arguments() -> None:
    launch = flower_launch(
        FlowerSettings(user="ops", password=SecretStr("pa:ss-word"), port=5601),
        address="0.0.0.0",  # noqa: S104 - a protected Flower may listen on every interface
    )
    assert launch.env == {AUTH_ENV: "ops:pa:ss-word"}
    assert not any("pa:ss-word" in arg for arg in launch.argv)
    assert "pa:ss-word" not in repr(launch)
    assert "--port=5601" in launch.argv
    assert "--address=0.0.0.0" in launch.argv
    assert launch.protected


@pytest.mark.parametrize(
    ("settings", "options", "message"),
    [
        (FlowerSettings(), {}, "Flower needs credentials"),
        (FlowerSettings(user="ops"), {}, "KBATCH_FLOWER__PASSWORD is not set"),
        (FlowerSettings(password=SecretStr("pw-1")), {}, "KBATCH_FLOWER__USER is not set"),
        (FlowerSettings(user="ops", password=SecretStr("a,b")), {}, "must not contain ','"),
        (FlowerSettings(user="o:ps", password=SecretStr("pw-1")), {}, "must not contain ':'"),
        (FlowerSettings(), {"insecure_local": True, "address": "0.0.0.0"}, "127.0.0.1 only"),  # noqa: S104
    ],
)
def test_flower_refuses_settings_it_cannot_protect(
    settings: FlowerSettings, options: dict[str, object], message: str
) -> None:
    with pytest.raises(FlowerRefused, match=message) as refused:
        flower_launch(settings, **options)  # type: ignore[arg-type]
    if settings.password is not None:
        assert settings.password.get_secret_value() not in str(refused.value)


def test_insecure_local_binds_loopback_and_drops_inherited_auth() -> None:
    launch = flower_launch(FlowerSettings(address="0.0.0.0"), insecure_local=True)  # noqa: S104
    assert "--address=127.0.0.1" in launch.argv
    assert launch.env == {}
    assert AUTH_ENV in launch.unset
    assert not launch.protected


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KBATCH_", "FLOWER_"))}
    return {**env, **extra}


def test_the_command_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(BIN / "kbatch"), "flower"],
        env=_clean_env(KBATCH_FLOWER__USER="ops"),
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "KBATCH_FLOWER__PASSWORD is not set" in run.stderr


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from the kernel's tables."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.slow
def test_insecure_local_flower_listens_on_loopback_only(tmp_path: Path) -> None:
    port = free_port()
    with private_redis(tmp_path) as redis_url:
        env = _clean_env(KBATCH_REDIS_URL=redis_url, KBATCH_FLOWER__ADDRESS="0.0.0.0")  # noqa: S104
        log = (tmp_path / "flower.log").open("wb")
        proc = subprocess.Popen(
            [str(BIN / "kbatch"), "flower", "--insecure-local", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
        log.close()
        try:
            wait_until_http(f"http://127.0.0.1:{port}/healthcheck", proc)
            assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
            # Pages open without a password; the API stays closed (Flower's own default).
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=10).status_code == 401
        finally:
            stop(proc)
