"""JWT signing with re-signing before expiry, static keys, and credentials from settings."""

from __future__ import annotations

import jwt
import pytest
from pydantic import SecretStr

from tests.providers.conftest import START, FakeClock
from tests.providers.wire import ACCESS_KEY, ALL_SECRETS, API_KEY, SECRET_KEY
from worker.providers import credentials_for
from worker.providers.auth import JwtSigner, StaticKey
from worker.providers.errors import AuthError
from worker.settings import ProviderSettings


def signer(clock: FakeClock) -> JwtSigner:
    return JwtSigner(SecretStr(ACCESS_KEY), SecretStr(SECRET_KEY), clock=clock)


def claims_of(header_value: str) -> dict[str, object]:
    scheme, token = header_value.split(" ")
    assert scheme == "Bearer"
    return jwt.decode(
        token, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
    )


def test_token_header_and_claims_are_exactly_the_vendors(clock: FakeClock) -> None:
    value = signer(clock).authorization()
    token = value.removeprefix("Bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert claims_of(value) == {
        "iss": ACCESS_KEY,
        "exp": int(START) + 1800,
        "nbf": int(START) - 5,
    }


def test_token_is_reused_until_fewer_than_60_seconds_remain(clock: FakeClock) -> None:
    auth = signer(clock)
    first = auth.authorization()
    clock.advance(1800 - 60)  # exactly 60 s left: still good
    assert auth.authorization() == first
    clock.advance(1)  # 59 s left: re-signed
    second = auth.authorization()
    assert second != first
    assert claims_of(second)["exp"] == int(START) + 1800 - 60 + 1 + 1800
    assert claims_of(second)["nbf"] == int(START) + 1800 - 60 + 1 - 5


def test_renew_signs_a_fresh_token_on_the_next_header(clock: FakeClock) -> None:
    auth = signer(clock)
    first = auth.authorization()
    clock.advance(300)
    assert auth.authorization() == first
    auth.renew()
    renewed = auth.authorization()
    assert claims_of(renewed)["exp"] == int(START) + 300 + 1800


def test_static_key_is_sent_as_bearer() -> None:
    auth = StaticKey(SecretStr(API_KEY))
    assert auth.authorization() == f"Bearer {API_KEY}"
    assert auth.renewable is False


def test_reprs_and_redaction_hide_every_secret(clock: FakeClock) -> None:
    jwt_auth = signer(clock)
    token = jwt_auth.authorization().removeprefix("Bearer ")
    static = StaticKey(SecretStr(API_KEY))
    for text in (repr(jwt_auth), repr(static)):
        assert not any(secret in text for secret in ALL_SECRETS)
    echoed = f"bad token {token} for {ACCESS_KEY} signed with {SECRET_KEY}"
    assert jwt_auth.redact(echoed) == "bad token *** for *** signed with ***"
    assert static.redact(f"key {API_KEY} revoked") == "key *** revoked"


def test_credentials_prefer_a_static_key_then_the_key_pair(clock: FakeClock) -> None:
    both = ProviderSettings(api_key=API_KEY, access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    assert credentials_for(both).kind == "api_key"
    pair = ProviderSettings(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    made = credentials_for(pair, clock=clock)
    assert made.kind == "jwt"
    assert claims_of(made.authorization())["iss"] == ACCESS_KEY


@pytest.mark.parametrize(
    ("settings", "wanted"),
    [
        (ProviderSettings(), "KBATCH_PROVIDER__ACCESS_KEY"),
        (ProviderSettings(access_key=ACCESS_KEY), "KBATCH_PROVIDER__SECRET_KEY"),
        (ProviderSettings(api_key="  "), "KBATCH_PROVIDER__API_KEY"),
        (
            ProviderSettings(dialect="guide", access_key=ACCESS_KEY, secret_key=SECRET_KEY),
            "KBATCH_PROVIDER__API_KEY",
        ),
    ],
)
def test_missing_credentials_name_the_settings_to_set(
    settings: ProviderSettings, wanted: str
) -> None:
    with pytest.raises(AuthError) as caught:
        credentials_for(settings)
    assert wanted in str(caught.value)
    assert not any(secret in str(caught.value) for secret in ALL_SECRETS)
