"""Injected faults: seeded coin flips, and closing a connection without sending any response.

A dropped connection must reach the client as a transport error, not a 500. The server's
protocol (`server.SimHttpProtocol`) puts the connection's `abort` into the ASGI scope under
`ABORT_EXTENSION`; `DroppedConnection` aborts and then waits for the server to notice, so that
uvicorn does not answer on the app's behalf.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from worker.sim.engine import Engine, seeded

ABORT_EXTENSION = "kbatch.sim.abort"


class Faults:
    """Seeded decisions for every configured fault rate."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reseed()

    def reseed(self) -> None:
        self.rng = seeded(self.engine.seed, "faults")

    def hit(self, rate: float, name: str) -> bool:
        """True (and counted under `name`) with probability `rate`."""
        if rate <= 0.0 or self.rng.random() >= rate:
            return False
        self.engine.metrics.faults[name] += 1
        return True

    def coin(self) -> bool:
        return self.rng.random() < 0.5


class DroppedConnection(Response):
    """A 'response' that closes the connection instead of answering."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ext: dict[str, Any] = scope.get("extensions", {}).get(ABORT_EXTENSION, {})
        abort = ext.get("abort")
        if abort is None:
            raise RuntimeError("dropping a connection needs the simulator's own HTTP server")
        abort()
        async with asyncio.timeout(5.0):
            while (await receive())["type"] != "http.disconnect":
                pass
