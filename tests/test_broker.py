"""kbatch's Redis transport for Celery: kombu's, with one client per connection pool."""

from __future__ import annotations

import uuid

from kombu import Connection

from worker.broker import Channel


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
