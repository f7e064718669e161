"""Everything a run leaves behind, as text to search: Redis traffic, the ledger, the bucket.

`RedisMonitor` records every command any client sends to a Redis server (its MONITOR stream),
so every task message is seen even if a worker takes it a millisecond later; Celery's messages
carry their arguments base64-encoded, so their bodies are decoded too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from typing import Any

import redis
import sqlalchemy as sa

# One argument of a MONITOR line: a double-quoted string with C-like escapes.
_ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)


def _unescape(raw: bytes) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code.startswith(b"x") and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return _ESCAPES.get(code, code)

    return _ESCAPE.sub(one, raw)


class RedisMonitor:
    """Records the arguments of every command the server receives until `stop()`."""

    def __init__(self, client: redis.Redis) -> None:
        self._conn = client.connection_pool.make_connection()
        self._conn.send_command("MONITOR")  # type: ignore[no-untyped-call]  # redis-py untyped
        if self._conn.read_response() not in (b"OK", "OK"):
            raise RuntimeError("MONITOR was refused")
        self.commands: list[list[bytes]] = []
        self._thread = threading.Thread(target=self._read, name="redis-monitor", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                line = self._conn.read_response()
            except (redis.ConnectionError, OSError, ValueError, AttributeError):
                return  # stopped: the connection was closed under the read
            if isinstance(line, str):
                line = line.encode()
            if isinstance(line, bytes):
                self.commands.append([_unescape(a) for a in _ARG.findall(line)])

    def stop(self) -> None:
        self._conn.disconnect()  # type: ignore[no-untyped-call]  # redis-py untyped
        self._thread.join(10.0)

    def task_messages(self) -> list[dict[str, Any]]:
        """Every Celery message pushed onto a queue: its envelope with the body decoded."""
        found = []
        for args in self.commands:
            if not args or args[0].upper() not in (b"LPUSH", b"RPUSH", b"HSET"):
                continue
            for arg in args[2:]:
                message = _celery_message(arg)
                if message is not None:
                    found.append(message)
        return found

    def text(self) -> str:
        """Every argument of every command, and every decoded message body, as one text."""
        parts = [b" ".join(args).decode("utf-8", "replace") for args in self.commands]
        parts += [json.dumps(m) for m in self.task_messages()]
        return "\n".join(parts)


def _celery_message(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    # The unacked hash holds [message, exchange, routing key].
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict) or "body" not in data or "headers" not in data:
        return None
    try:
        data["decoded_body"] = json.loads(base64.b64decode(data["body"]))
    except (ValueError, binascii.Error):
        data["decoded_body"] = None
    return data


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_dump(client: redis.Redis) -> str:
    """Every key and value the server holds now."""
    parts = []
    for key in client.scan_iter(count=1000):
        kind = _text(client.type(key))
        value: object
        if kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = kind
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


def database_dump(url: str) -> str:
    """Every row of every table, as text."""
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        parts = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    parts.append(f"{table.name}: {tuple(row)!r}")
        return "\n".join(parts)
    finally:
        engine.dispose()


def bucket_dump(s3: Any, bucket: str) -> tuple[str, int]:
    """Every JSON document in the bucket, and every object's metadata; and how many sidecars."""
    parts = []
    sidecars = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            head = s3.head_object(Bucket=bucket, Key=key)
            parts.append(f"{key} {head.get('Metadata')!r}")
            if key.endswith(".json"):
                sidecars += 1
                parts.append(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
    return "\n".join(parts), sidecars
