"""Bearer authentication: HS256 JWTs signed with an access/secret key pair, and static API keys.

Codes follow the vendor's error page: 1001 empty, 1000 not a bearer credential, 1002 invalid,
1003 not yet valid (`nbf`), 1004 expired. A verified JWT is cached until its `exp`, so a status
query pays for a dict lookup, not an HMAC. JWT times are checked against the wall clock, because
clients sign with theirs (the advance offset moves task time only).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from worker.sim.accounts import Account
from worker.sim.engine import Engine
from worker.sim.errors import AuthError

_CACHE_LIMIT = 10_000


class Authenticator:
    """Maps an `Authorization` header to an account of the engine."""

    def __init__(self, engine: Engine, wall: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.wall = wall
        self._version = -1
        self._static: dict[str, str] = {}
        self._secrets: dict[str, tuple[str, str]] = {}
        self._jwt_cache: dict[str, tuple[str, float]] = {}  # token -> (account, exp)

    def _index(self) -> None:
        if self._version == self.engine.version:
            return
        self._static = {k: a.name for a in self.engine.accounts.values() for k in a.api_keys}
        self._secrets = {
            ak: (a.name, sk) for a in self.engine.accounts.values() for ak, sk in a.secrets.items()
        }
        self._jwt_cache.clear()
        self._version = self.engine.version

    def authenticate(self, header: str | None, *, allow_jwt: bool = True) -> Account:
        """The account the header's credential belongs to, or `AuthError`."""
        if not header:
            raise AuthError(1001, "Authorization is empty")
        if not header.startswith("Bearer "):
            raise AuthError(1000, "Authorization failed: expected 'Bearer <token>'")
        token = header[7:].strip()
        if not token:
            raise AuthError(1001, "Authorization is empty")
        self._index()
        name = self._static.get(token)
        if name is None:
            if not allow_jwt or token.count(".") != 2:
                raise AuthError(1002, "Authorization is invalid")
            name = self._verify_jwt(token)
        return self.engine.accounts[name]

    def _verify_jwt(self, token: str) -> str:
        now = self.wall()
        cached = self._jwt_cache.get(token)
        if cached is not None:
            if now >= cached[1]:
                raise AuthError(1004, "Authorization token has expired")
            return cached[0]
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(1002, "Authorization is invalid: malformed token") from exc
        entry = self._secrets.get(str(unverified.get("iss", "")))
        if entry is None:
            raise AuthError(1002, "Authorization is invalid: unknown access key")
        name, secret = entry
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={"require": ["iss", "exp"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(1004, "Authorization token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError(1003, "Authorization token is not yet valid") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(1002, "Authorization is invalid: bad signature or claims") from exc
        if len(self._jwt_cache) >= _CACHE_LIMIT:
            self._jwt_cache = {t: c for t, c in self._jwt_cache.items() if c[1] > now}
            if len(self._jwt_cache) >= _CACHE_LIMIT:
                self._jwt_cache.clear()
        self._jwt_cache[token] = (name, float(claims["exp"]))
        return name
