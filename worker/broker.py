"""kombu's Redis transport, with one defect of kombu 5.7 worked around and two costs removed.

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

An idle worker sends its BRPOP again every 10 s, not every second as kombu does: each empty reply
wakes the worker, and these wake-ups were most of an idle worker's CPU (about 1.3 ms a second
each here, 0.8 with this; `python -m ops.bench.idle`). With renders of minutes, workers idle most
of the time. A message still arrives at once, as BRPOP returns as soon as one is pushed; what
waits longer is kombu's detection of a half-open broker socket (BRPOP timeout plus its 25 s
health check interval). Only a worker's event loop is affected: short-lived clients (`celery
inspect`, a submit) keep kombu's timeout. A worker that stops asks Redis to end its BRPOP
(`Channel.close`), so that stopping does not wait for it.
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

    def close(self) -> None:
        # kombu's close reads the reply of a BRPOP in flight (a message it popped must not be
        # lost), which with a long BRPOP held every worker's stop for up to its timeout. Redis
        # ends the wait at once when asked: the reply is then empty, and nothing was popped.
        waiting = self._in_poll  # type: ignore[attr-defined]
        if waiting and not self.closed:
            _unblock(self._create_client(), waiting)
        super().close()


def _unblock(client: redis.Redis, connection: Any) -> None:
    """End the blocking command `connection` waits in (`CLIENT UNBLOCK`, from another
    connection). Best effort: a server that refuses CLIENT commands (some hosted Redis do) or
    sees the connection under another address (a proxy between) lets the wait run out."""
    sock = getattr(connection, "_sock", None)
    if sock is None:
        return
    try:
        host, port = sock.getsockname()[:2]
        address = f"{host}:{port}"
        for entry in client.client_list():
            if entry.get("addr") == address:
                client.client_unblock(int(entry["id"]))
    except (OSError, ValueError, TypeError, redis.RedisError):
        return


WORKER_BRPOP_TIMEOUT_S = 10


class Transport(kombu_redis.Transport):
    Channel = Channel

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        # Only a worker's consumer runs an event loop. Its channels exist by now; later ones
        # copy the transport's timeout when they are created.
        self.brpop_timeout = WORKER_BRPOP_TIMEOUT_S
        for channel in self.channels or ():
            channel.brpop_timeout = WORKER_BRPOP_TIMEOUT_S  # type: ignore[attr-defined]
        super().register_with_event_loop(connection, loop)
