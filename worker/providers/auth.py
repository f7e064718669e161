"""Credentials for the `Authorization` header: JWTs signed from an access/secret key pair, or a
static API key.

The header is built per request, so a long-lived client always sends a valid token: a JWT is
re-signed when fewer than 60 s of its life remain. A credential never shows its secret in a repr,
and `redact` scrubs it from any text that came back from the provider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from pydantic import SecretStr

Clock = Callable[[], float]
"""Seconds since the epoch; injected so token lifetimes can be tested without waiting."""

TOKEN_LIFETIME_S = 1800
NOT_BEFORE_LEEWAY_S = 5
RENEW_MARGIN_S = 60
REDACTED = "***"


class Credentials(Protocol):
    @property
    def kind(self) -> str:
        """`jwt` or `api_key`, for hints and reprs."""
        ...

    @property
    def renewable(self) -> bool:
        """Whether `renew` can produce a different token."""
        ...

    def authorization(self) -> str:
        """The value of the `Authorization` header for the next request."""
        ...

    def renew(self) -> None:
        """Drop the current token so the next header carries a fresh one."""
        ...

    def redact(self, text: str) -> str:
        """`text` with every secret this credential knows replaced by `***`."""
        ...


def _redact(text: str, secrets: list[str]) -> str:
    # Longest first, so a token containing a shorter secret is replaced whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class StaticKey:
    """A bearer API key, sent as is."""

    kind = "api_key"
    renewable = False

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def authorization(self) -> str:
        return f"Bearer {self._key.get_secret_value()}"

    def renew(self) -> None:
        return None

    def redact(self, text: str) -> str:
        return _redact(text, [self._key.get_secret_value()])

    def __repr__(self) -> str:
        return "StaticKey(key='***')"


class JwtSigner:
    """HS256 tokens with `iss` = access key, `exp` = now + 1800 s, `nbf` = now - 5 s."""

    kind = "jwt"
    renewable = True

    def __init__(
        self,
        access_key: SecretStr,
        secret_key: SecretStr,
        *,
        clock: Clock = time.time,
        lifetime_s: int = TOKEN_LIFETIME_S,
        renew_margin_s: int = RENEW_MARGIN_S,
    ) -> None:
        self._access_key = access_key
        self._secret_key = secret_key
        self._clock = clock
        self._lifetime_s = lifetime_s
        self._renew_margin_s = renew_margin_s
        self._token: str | None = None
        self._expires_at = 0
        # Threaded worker pools share one client; two threads must not sign over each other.
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            now = int(self._clock())
            if self._token is None or self._expires_at - now < self._renew_margin_s:
                self._token, self._expires_at = self._sign(now)
            return self._token

    def _sign(self, now: int) -> tuple[str, int]:
        expires_at = now + self._lifetime_s
        claims = {
            "iss": self._access_key.get_secret_value(),
            "exp": expires_at,
            "nbf": now - NOT_BEFORE_LEEWAY_S,
        }
        import jwt  # with `cryptography` a tenth of a second to import; only key pairs need it

        token = jwt.encode(
            claims,
            self._secret_key.get_secret_value(),
            algorithm="HS256",
            headers={"alg": "HS256", "typ": "JWT"},
        )
        return token, expires_at

    def authorization(self) -> str:
        return f"Bearer {self.token()}"

    def renew(self) -> None:
        with self._lock:
            self._token = None

    def redact(self, text: str) -> str:
        with self._lock:
            token = self._token or ""
        return _redact(
            text,
            [self._secret_key.get_secret_value(), self._access_key.get_secret_value(), token],
        )

    def __repr__(self) -> str:
        return "JwtSigner(access_key='***', secret_key='***')"
