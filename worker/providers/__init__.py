"""Provider clients: one per worker process, speaking the `kling` or the `guide` dialect.

`make_client(settings)` builds the right one from `ProviderSettings`. Callers see only
`ProviderClient`, `TaskStatus` and the error tree of `worker.providers.errors`.
"""

from __future__ import annotations

import time

import httpx
from pydantic import SecretStr

from worker.providers.auth import Clock, Credentials, JwtSigner, StaticKey
from worker.providers.base import Listing, ProviderClient, ProviderState, ResultKind, TaskStatus
from worker.providers.downloads import Download
from worker.providers.errors import AuthError
from worker.providers.guide import GuideClient
from worker.providers.kling import KlingClient
from worker.settings import ProviderSettings

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


def _given(secret: SecretStr | None) -> SecretStr | None:
    return secret if secret is not None and secret.get_secret_value().strip() else None


def credentials_for(settings: ProviderSettings, *, clock: Clock = time.time) -> Credentials:
    """The static API key when one is set, else (kling only) a JWT signer from the key pair."""
    api_key = _given(settings.api_key)
    if api_key is not None:
        return StaticKey(api_key)
    access, secret = _given(settings.access_key), _given(settings.secret_key)
    if settings.dialect == "kling" and access is not None and secret is not None:
        return JwtSigner(access, secret, clock=clock)
    wanted = (
        "KBATCH_PROVIDER__API_KEY, or KBATCH_PROVIDER__ACCESS_KEY with KBATCH_PROVIDER__SECRET_KEY"
        if settings.dialect == "kling"
        else "KBATCH_PROVIDER__API_KEY"
    )
    raise AuthError(f"no credentials for the {settings.dialect} dialect", hint=f"set {wanted}")


def make_client(
    settings: ProviderSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock = time.time,
) -> ProviderClient:
    """The client for `settings.dialect`, with its timeouts, base URL and credentials."""
    credentials = credentials_for(settings, clock=clock)
    cls = KlingClient if settings.dialect == "kling" else GuideClient
    return cls(
        settings.base_url,
        credentials,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        transport=transport,
        clock=clock,
    )
