"""kombu's Redis transport, with one defect of kombu 5.7 worked around.

When the broker connection drops while a worker holds an unacknowledged message (every running
task, with `acks_late`), kombu 5.7's Redis channel rebuilds its connection parameters from a
connection already detached, and the worker dies of an `AttributeError` ("Unrecoverable error").
Raising the connection error Redis clients expect instead lets Celery's own reconnection loop take
over, and the worker keeps running once Redis is back.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:  # detached after the broker connection was lost
            raise redis.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous)  # type: ignore[misc]


class Transport(kombu_redis.Transport):
    Channel = Channel
