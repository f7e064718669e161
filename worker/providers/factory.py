"""Building a provider client from settings: its credentials, and the client of its dialect."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pydantic import SecretStr

from worker.providers.auth import Clock, Credentials, JwtSigner, StaticKey
from worker.providers.base import ProviderClient
from worker.providers.errors import AuthError
from worker.settings import ProviderSettings

if TYPE_CHECKING:
    import httpx


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
    # The clients, and httpx with them, are imported here: a process that never talks to the
    # provider (`kbatch submit`) does not pay for them.
    from worker.providers.guide import GuideClient
    from worker.providers.kling import KlingClient

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
