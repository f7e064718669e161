"""Provider clients: one per worker process, speaking the `kling` or the `guide` dialect.

`make_client(settings)` builds the right one from `ProviderSettings`. Callers see only
`ProviderClient`, `TaskStatus` and the error tree of `worker.providers.errors`.

The clients, the factory and `Download` are imported on first use (PEP 562): they bring httpx,
which a process that never talks to the provider, such as `kbatch submit`, need not import.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from worker.providers.base import Listing, ProviderClient, ProviderState, ResultKind, TaskStatus

if TYPE_CHECKING:
    from worker.providers.downloads import Download
    from worker.providers.factory import credentials_for, make_client
    from worker.providers.guide import GuideClient
    from worker.providers.kling import KlingClient

__all__ = [
    "Download",
    "GuideClient",
    "KlingClient",
    "Listing",
    "ProviderClient",
    "ProviderState",
    "ResultKind",
    "TaskStatus",
    "credentials_for",
    "make_client",
]

_LAZY = {
    "Download": "worker.providers.downloads",
    "GuideClient": "worker.providers.guide",
    "KlingClient": "worker.providers.kling",
    "credentials_for": "worker.providers.factory",
    "make_client": "worker.providers.factory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
