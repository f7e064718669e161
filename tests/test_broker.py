"""kbatch's Redis transport for Celery: kombu's, with one client per connection pool and long
BRPOPs in idle workers."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import redis
from kombu import Connection

from tests.services import queued_tasks
from worker.broker import WORKER_BRPOP_TIMEOUT_S, Channel
from worker.celery_app import create_app
from worker.names import Queue, Task
from worker.processes import stop_process, wait_for
from worker.settings import Settings
from worker.stack import WorkerGroup, private_redis, start_worker, wait_for_workers


def test_the_channel_shares_one_client_and_messages_still_flow(redis_url: str) -> None:
    queue_name = f"kbatch-test-broker-{uuid.uuid4().hex[:8]}"
    with Connection(redis_url, transport="worker.broker:Transport") as conn:
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        first = channel._create_client()
        assert channel._create_client() is first
        with channel.conn_or_acquire() as acquired:
            assert acquired is first
        queue = conn.SimpleQueue(queue_name)
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        assert message.payload == {"n": 1}
        message.ack()  # recorded as unacknowledged on delivery, removed here: the shared client
        # A new pool (after a fork or a lost connection) gets a client of its own.
        channel._disconnect_pools()  # type: ignore[attr-defined]
        second = channel._create_client()
        assert second is not first
        assert second.connection_pool is channel.pool
        queue.put({"n": 2})
        assert queue.get(timeout=5).payload == {"n": 2}
        queue.clear()
        queue.close()


def _blocked_brpop_idle_s(client: redis.Redis) -> list[int]:
    """How long each connection blocked in BRPOP right now has waited, in whole seconds."""
    return [
        int(c["idle"])
        for c in client.client_list()
        if c.get("cmd") == "brpop" and "b" in c.get("flags", "")
    ]


def test_an_idle_worker_waits_for_messages_in_long_brpops_and_still_gets_them_at_once(
    tmp_path: Path,
) -> None:
    with private_redis(tmp_path) as url, redis.Redis.from_url(url) as client:
        env = {
            "KBATCH_REDIS_URL": url,
            "KBATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "KBATCH_PROVIDER__API_KEY": "sk-unused",
            "KBATCH_PROVIDER__BASE_URL": "http://127.0.0.1:9",
        }
        proc = start_worker(WorkerGroup((Queue.CONTROL,)), 0, env, tmp_path)
        try:
            wait_for_workers(url, 1)
            # kombu sends BRPOP with a one-second timeout: no wait would pass 1 s. The worker's
            # lasts WORKER_BRPOP_TIMEOUT_S.
            wait_for(
                lambda: max(_blocked_brpop_idle_s(client), default=0) >= 3,
                "a BRPOP blocked for 3 s",
                proc,
                timeout=WORKER_BRPOP_TIMEOUT_S + 5,
            )
            # A message pushed now is taken at once, not at the end of the wait.
            app = create_app(Settings(redis_url=url))
            app.send_task(Task.SWEEP.value, queue=Queue.CONTROL.value)
            wait_for(lambda: not queued_tasks(client, Queue.CONTROL.value), "the message taken")
            app.close()
        finally:
            stop_process(proc, 15)


def test_closing_a_channel_ends_its_brpop_in_flight_and_pops_nothing(redis_url: str) -> None:
    queue_name = f"kbatch-test-unblock-{uuid.uuid4().hex[:8]}"
    with (
        Connection(redis_url, transport="worker.broker:Transport") as conn,
        redis.Redis.from_url(redis_url) as client,
    ):
        queue = conn.SimpleQueue(queue_name)
        queue.consumer.consume()
        channel = queue.channel
        assert isinstance(channel, Channel)
        channel.brpop_timeout = 120
        # What a worker's event loop does while it waits for messages: a BRPOP left in flight.
        poller = conn.transport.cycle  # type: ignore[attr-defined]
        assert poller is not None
        poller._register_BRPOP(channel)
        host, port = channel.client.connection._sock.getsockname()[:2]

        def ours_blocked() -> bool:
            return any(
                c.get("addr") == f"{host}:{port}" and c.get("cmd") == "brpop"
                for c in client.client_list()
            )

        wait_for(ours_blocked, "the BRPOP blocked at the server")
        closer = threading.Thread(target=channel.close)
        closer.start()
        # Without the unblock, close reads the BRPOP's reply: two minutes from now.
        closer.join(30)
        assert not closer.is_alive()
        assert not ours_blocked()
        # Nothing was popped by the cut-short wait: a message sent now waits in the queue.
        with Connection(redis_url, transport="worker.broker:Transport") as other:
            other.SimpleQueue(queue_name).put({"n": 3})
        assert client.llen(queue_name) == 1
        client.delete(queue_name)
