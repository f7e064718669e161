"""The simulator as a real subprocess on a free port, for tests, the demo and benchmarks.

with running_simulator("--time-scale", "0.01", "--seed", "7") as sim:
    httpx.post(f"{sim.base_url}/v1/videos/text2video", ...)
    assert sim.stats()["duplicate_creates"] == 0
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import httpx

from worker.processes import free_port as free_port  # re-exported: the tests import it from here
from worker.processes import stop_process

READY_TIMEOUT_S = 30.0
_PORT_ATTEMPTS = 3


@dataclass
class SimHandle:
    """A running simulator: its URL, its pid, and the `/_sim/` controls."""

    base_url: str
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        resp = httpx.request(method, f"{self.base_url}/_sim/{path}", timeout=10.0, **kw)
        resp.raise_for_status()
        return resp.json()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def tasks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "tasks")
        return result

    def reset(self) -> None:
        self._call("POST", "reset")

    def advance(self, seconds: float) -> None:
        self._call("POST", "advance", params={"seconds": seconds})

    def set_faults(self, **rates: float) -> dict[str, Any]:
        """Change fault rates (create_5xx_rate, query_5xx_rate, drop_rate, ...) from now on."""
        result: dict[str, Any] = self._call("POST", "faults", json=rates)
        return result

    def set_account(self, name: str, **fields: Any) -> dict[str, Any]:
        """Create or change an account (balance, concurrency, api_keys, key_pairs, models)."""
        result: dict[str, Any] = self._call("POST", f"accounts/{name}", json=fields)
        return result


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"simulator exited with {proc.returncode}: {tail}")
        try:
            httpx.get(f"{url}/_sim/health", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)  # readiness poll interval, not a stand-in for synchronisation
    raise RuntimeError(f"simulator at {url} not ready within {READY_TIMEOUT_S}s")


@contextmanager
def running_simulator(*args: str, env: Mapping[str, str] | None = None) -> Iterator[SimHandle]:
    """Start `python -m worker.sim` with `args` on a free port; stop it on exit."""
    full_env = {**os.environ, **(env or {})}
    last: Exception | None = None
    for _ in range(_PORT_ATTEMPTS):
        port = free_port()
        with tempfile.TemporaryFile() as log:
            cmd = [sys.executable, "-m", "worker.sim", "--host", "127.0.0.1", "--port", str(port)]
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*cmd, *args], stdout=log, stderr=subprocess.STDOUT, env=full_env
            )
            url = f"http://127.0.0.1:{port}"
            try:
                try:
                    _wait_ready(url, proc, log)
                except RuntimeError as exc:
                    # another process may have taken the port between probe and bind
                    last = exc
                    continue
                yield SimHandle(base_url=url, proc=proc)
                return
            finally:
                stop_process(proc)
    raise RuntimeError(f"could not start the simulator: {last}")
