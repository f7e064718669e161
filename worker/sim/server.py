"""Serving the app with uvicorn (httptools, uvloop, no access log), one process.

`SimHttpProtocol` is uvicorn's httptools protocol plus one thing: it hands each request's
connection `abort` to the app through the ASGI scope, so a fault can close a connection without
any response (see `faults.DroppedConnection`).
"""

from __future__ import annotations

import logging

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from worker.sim.app import build_app
from worker.sim.config import SimConfig
from worker.sim.faults import ABORT_EXTENSION

log = logging.getLogger("kbatch.sim")


class SimHttpProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {ABORT_EXTENSION: {"abort": self.transport.abort}}


def serve(config: SimConfig, log_level: str = "warning") -> None:
    """Run the simulator until interrupted."""
    app = build_app(config)
    state = app.state.sim
    accounts = ", ".join(
        f"{a.name} (concurrency {a.concurrency}, {len(a.api_keys)} api keys, "
        f"{len(a.secrets)} key pairs)"
        for a in state.engine.accounts.values()
    )
    print(
        f"kbatch sim on http://{config.host}:{config.port} seed={state.engine.seed} "
        f"time_scale={config.time_scale} accounts: {accounts}",
        flush=True,
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        http=SimHttpProtocol,
        loop="uvloop",
        access_log=False,
        log_level=log_level,
        lifespan="on",
    )
