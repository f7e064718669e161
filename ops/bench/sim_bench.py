"""How many status queries per second the simulator answers on one core.

The simulator runs as its own process (pinned to one CPU when the machine has two or more); this
process is the load generator: keep-alive HTTP/1.1 connections on asyncio streams, each asking
for one of the tasks created beforehand, authenticated with a JWT as kbatch's client does.

    .venv/bin/python -m ops.bench.sim_bench [--seconds 5] [--connections 32] [--tasks 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field

import httpx
import jwt

from worker.sim.process import SimHandle, running_simulator

ACCESS_KEY = "bench-access"
SECRET_KEY = "bench-secret-key-0123456789abcdef"  # noqa: S105 - a throwaway local key
QUERY_PATH = "/v1/videos/text2video/{}"


@dataclass
class Tally:
    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


def bearer() -> str:
    now = time.time()
    token = jwt.encode(
        {"iss": ACCESS_KEY, "exp": now + 1800, "nbf": now - 5}, SECRET_KEY, algorithm="HS256"
    )
    return f"Bearer {token}"


def create_tasks(sim: SimHandle, count: int, auth: str) -> list[str]:
    ids = []
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": auth}) as client:
        for i in range(count):
            ext = f"kb-bench-{i:06d}"
            resp = client.post(
                "/v1/videos/text2video",
                json={"prompt": "bench", "duration": "5", "external_task_id": ext},
            )
            resp.raise_for_status()
            ids.append(resp.json()["data"]["task_id"] if i % 2 else ext)
    return ids


async def _one_connection(
    host: str, port: int, requests: list[bytes], stop_at: float, tally: Tally
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                tally.ok += 1
                tally.latencies.append(time.perf_counter() - started)
            else:
                tally.errors += 1
    finally:
        writer.close()


async def load(base_url: str, ids: list[str], auth: str, seconds: float, conns: int) -> Tally:
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    requests = [
        (
            f"GET {QUERY_PATH.format(i)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: {auth}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        for i in ids
    ]
    tally = Tally()
    stop_at = time.perf_counter() + seconds
    shares = [requests[k::conns] or requests for k in range(conns)]
    await asyncio.gather(*(_one_connection(host, port, s, stop_at, tally) for s in shares))
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()

    sim_args = ("--seed", "1", "--concurrency", str(args.tasks), "--access-key", ACCESS_KEY)
    with running_simulator(*sim_args, "--secret-key", SECRET_KEY) as sim:
        cpus = sorted(os.sched_getaffinity(0))
        pinned = len(cpus) >= 2
        if pinned:
            # the server gets one core to itself; the load generator the rest
            os.sched_setaffinity(sim.pid, {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]))
        auth = bearer()
        ids = create_tasks(sim, args.tasks, auth)
        asyncio.run(load(sim.base_url, ids, auth, 1.0, args.connections))  # warm-up
        before = sim.stats()["requests"].get("GET /v1/videos/text2video/{ident}", {}).get("200", 0)
        started = time.perf_counter()
        tally = asyncio.run(load(sim.base_url, ids, auth, args.seconds, args.connections))
        elapsed = time.perf_counter() - started
        after = sim.stats()["requests"]["GET /v1/videos/text2video/{ident}"]["200"]

    rate = tally.ok / elapsed
    lat = sorted(tally.latencies)
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else float("nan")
    print(
        f"status queries: {rate:,.0f}/s over {elapsed:.1f} s "
        f"({tally.ok} ok, {tally.errors} errors; server counted {after - before}); "
        f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms; {args.connections} connections, "
        f"{args.tasks} tasks, JWT auth; server {'pinned to one CPU' if pinned else 'unpinned'}"
    )
    if rate < 1000:
        raise SystemExit(f"below the 1,000 queries/s target: {rate:,.0f}/s")


if __name__ == "__main__":
    main()
