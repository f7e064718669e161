"""Callbacks: bare task objects POSTed on each status change, Standard Webhooks signatures."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.sim.conftest import API_KEY, AUTH, LONG_ENOUGH_S
from worker.sim.callbacks import sign
from worker.sim.process import SimHandle, running_simulator

SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
T2V = "/v1/videos/text2video"


def test_the_published_standard_webhooks_vector() -> None:
    body = (
        b'{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,'
        b'"update_time":1781080794151}'
    )
    expected = "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="
    assert sign(SECRET, "9876543210", 1781080794, body) == expected


class Receiver:
    """A real HTTP endpoint that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["content-length"]))
                with receiver.cond:
                    receiver.received.append(
                        ({k.lower(): v for k, v in self.headers.items()}, data)
                    )
                    receiver.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[dict[str, str], bytes]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.received) >= count, timeout), self.received
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def signed_sim(*extra: str) -> Any:
    return running_simulator(
        "--seed", "5", "--api-key", API_KEY, "--webhook-secret", SECRET, *extra
    )


def test_each_status_change_is_posted_and_signed(receiver: Receiver) -> None:
    with signed_sim() as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as client:
        resp = client.post(
            T2V,
            json={"prompt": "p", "external_task_id": "kb-cb", "callback_url": receiver.url},
        )
        task_id = resp.json()["data"]["task_id"]
        receiver.wait_for(1)
        sim.advance(LONG_ENOUGH_S)
        got = receiver.wait_for(3)
    statuses = []
    for headers, body in got:
        obj = json.loads(body)
        assert "code" not in obj
        assert "data" not in obj
        assert obj["task_id"] == task_id
        assert obj["task_info"] == {"external_task_id": "kb-cb"}
        statuses.append(obj["task_status"])
        ts = int(headers["webhook-timestamp"])
        assert abs(ts - time.time()) < 300
        assert headers["webhook-signature"] == sign(SECRET, headers["webhook-id"], ts, body)
    assert statuses == ["submitted", "processing", "succeed"]
    final = json.loads(got[-1][1])
    assert final["task_result"]["videos"][0]["url"]
    assert final["final_unit_deduction"] == "3.0"
    assert len({h["webhook-id"] for h, _ in got}) == 3


def test_callbacks_fire_when_tasks_end_unqueried(receiver: Receiver) -> None:
    fast = ("--time-scale", "0.001")  # a minute renders in about 60 ms of wall time
    with signed_sim(*fast) as sim, httpx.Client(base_url=sim.base_url, headers=AUTH) as client:
        client.post(T2V, json={"prompt": "p", "callback_url": receiver.url})
        got = receiver.wait_for(3)  # nobody queries: the background ticker ends the task
        assert json.loads(got[-1][1])["task_status"] == "succeed"
        assert sim.stats()["in_flight"] == {"default": 0}


def test_duplicated_deliveries_repeat_the_webhook_id(receiver: Receiver) -> None:
    with (
        signed_sim("--callback-dup-rate", "1") as sim,
        httpx.Client(base_url=sim.base_url, headers=AUTH) as client,
    ):
        client.post(T2V, json={"prompt": "p", "callback_url": receiver.url})
        sim.advance(LONG_ENOUGH_S)
        got = receiver.wait_for(6)
        assert sim.stats()["callbacks"]["duplicated"] == 3
    ids = [h["webhook-id"] for h, _ in got]
    assert len(ids) == 6
    assert len(set(ids)) == 3


def test_lost_deliveries_are_counted_not_sent(receiver: Receiver) -> None:
    with (
        signed_sim("--callback-loss-rate", "1") as sim,
        httpx.Client(base_url=sim.base_url, headers=AUTH) as client,
    ):
        client.post(T2V, json={"prompt": "p", "callback_url": receiver.url})
        sim.advance(LONG_ENOUGH_S)
        assert sim.stats()["callbacks"] == {"lost": 3}


def test_without_a_secret_callbacks_are_unsigned(
    sim: SimHandle, client: httpx.Client, receiver: Receiver
) -> None:
    client.post(T2V, json={"prompt": "p", "callback_url": receiver.url})
    headers, body = receiver.wait_for(1)[0]
    assert "webhook-signature" not in headers
    assert json.loads(body)["task_status"] == "submitted"
