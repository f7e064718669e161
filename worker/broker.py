"""kombu's Redis transport, with one defect of kombu 5.7 worked around and one cost removed.

When the broker connection drops while a worker holds an unacknowledged message (every running
task, with `acks_late`), kombu 5.7's Redis channel rebuilds its connection parameters from a
connection already detached, and the worker dies of an `AttributeError` ("Unrecoverable error").
Raising the connection error Redis clients expect instead lets Celery's own reconnection loop take
over, and the worker keeps running once Redis is back.

kombu's channel also builds a new `redis.Redis` around its connection pool for every command it
sends outside the consumer's own connection: publishing a message, recording it as unacknowledged
on delivery, removing it on acknowledgement. With redis-py 8 a client costs a copy of its table
of some 300 response callbacks, which made up about a sixth of a worker's CPU per task
(`ops/bench/RESULTS.md`). The channel here keeps one client per pool: a client holds no
connection of its own (each command borrows one from the pool), so sharing it changes nothing
but the cost.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client: redis.Redis | None = None

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # detached after the broker connection was lost
            raise redis.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous)  # type: ignore[misc]

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool = self.pool  # a new pool after a fork or a reconnection: then a new client too
        client = self._shared_client
        if client is None or client.connection_pool is not pool:
            client = self._shared_client = super()._create_client()  # type: ignore[misc]
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
