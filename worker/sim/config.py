"""The simulator's settings: accounts and keys, timing, faults, limits (`KBATCH_SIM_` env, flags).

`kbatch sim` flags override these; environment variables such as `KBATCH_SIM_TIME_SCALE=0.01` or
`KBATCH_SIM_ACCOUNTS='[{"name": "b", "api_keys": ["k2"]}]'` set them without flags.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ACCOUNT = "default"
# Used only when no credentials are configured at all, so `kbatch sim` works out of the box.
# They open nothing but this local simulator.
DEV_API_KEY = "kbatch-sim-key"
DEV_ACCESS_KEY = "kbatch-sim-access"
DEV_SECRET_KEY = "kbatch-sim-secret-for-local-use-only"  # noqa: S105 - a documented development credential

Rate = Field(0.0, ge=0.0, le=1.0)


class KeyPair(BaseModel):
    """An access key and the secret key that signs its JWTs."""

    model_config = ConfigDict(extra="forbid")

    access_key: str
    secret_key: SecretStr


class AccountConfig(BaseModel):
    """One account: its keys, concurrency per resource pack, balance and plan."""

    model_config = ConfigDict(extra="forbid")

    name: str
    api_keys: list[SecretStr] = []
    key_pairs: list[KeyPair] = []
    concurrency: int | None = Field(None, ge=0)
    balance: Decimal | None = Field(None, ge=0)  # units; None = unlimited
    # models on the plan (official: model_name; guide: manifest names); None = all
    models: list[str] | None = None


class FaultRates(BaseModel):
    """The fault rates a running simulator can change (`POST /_sim/faults`); unset ones stay."""

    model_config = ConfigDict(extra="forbid")

    fail_rate: float | None = Field(None, ge=0.0, le=1.0)
    create_5xx_rate: float | None = Field(None, ge=0.0, le=1.0)
    query_5xx_rate: float | None = Field(None, ge=0.0, le=1.0)
    lost_response_rate: float | None = Field(None, ge=0.0, le=1.0)
    drop_rate: float | None = Field(None, ge=0.0, le=1.0)
    callback_loss_rate: float | None = Field(None, ge=0.0, le=1.0)
    callback_dup_rate: float | None = Field(None, ge=0.0, le=1.0)


class SimConfig(BaseSettings):
    """Everything that shapes one simulator run."""

    model_config = SettingsConfigDict(env_prefix="KBATCH_SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8765
    public_url: str | None = None  # base of result URLs; default: the URL the client used

    # The default account, from flags; more accounts in `accounts`.
    api_keys: list[SecretStr] = []
    access_keys: list[str] = []
    secret_keys: list[SecretStr] = []
    concurrency: int = Field(5, ge=0)
    balance: Decimal | None = Field(None, ge=0)
    accounts: list[AccountConfig] = []

    median_seconds: float = Field(60.0, gt=0)
    spread: float = Field(0.35, ge=0)  # sigma of the log-normal
    processing_fraction: float = Field(0.1, ge=0, lt=1)
    time_scale: float = Field(1.0, gt=0)  # wall seconds per simulated second
    seed: int | None = None

    fail_rate: float = Rate
    create_5xx_rate: float = Rate
    query_5xx_rate: float = Rate
    lost_response_rate: float = Rate
    drop_rate: float = Rate
    refuse_marker: str = "[[refuse]]"
    fail_marker: str = "[[fail]]"
    rps: float | None = Field(None, gt=0)  # requests per second per account; None = no limit

    retention_days: float = Field(30.0, gt=0)
    signing_key: SecretStr | None = None  # signs result URLs; default: random per run
    input_fetch_timeout_s: float = Field(10.0, gt=0)

    webhook_secret: SecretStr | None = None  # `whsec_<base64>` enables Standard Webhooks headers
    callback_loss_rate: float = Rate
    callback_dup_rate: float = Rate
    callback_timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _pairs_match(self) -> SimConfig:
        if len(self.access_keys) != len(self.secret_keys):
            raise ValueError("give one --secret-key for each --access-key")
        return self

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86400.0

    def account_configs(self) -> list[AccountConfig]:
        """The default account (from the flat fields) followed by the listed accounts."""
        pairs = [
            KeyPair(access_key=a, secret_key=s)
            for a, s in zip(self.access_keys, self.secret_keys, strict=True)
        ]
        api_keys = list(self.api_keys)
        named = {a.name for a in self.accounts}
        if not api_keys and not pairs and not self.accounts:
            api_keys = [SecretStr(DEV_API_KEY)]
            pairs = [KeyPair(access_key=DEV_ACCESS_KEY, secret_key=SecretStr(DEV_SECRET_KEY))]
        result = []
        if DEFAULT_ACCOUNT not in named:
            result.append(
                AccountConfig(
                    name=DEFAULT_ACCOUNT,
                    api_keys=api_keys,
                    key_pairs=pairs,
                    concurrency=self.concurrency,
                    balance=self.balance,
                )
            )
        for acc in self.accounts:
            update: dict[str, Any] = {}
            if acc.concurrency is None:
                update["concurrency"] = self.concurrency
            result.append(acc.model_copy(update=update))
        return result


def load_accounts_file(path: Path) -> list[AccountConfig]:
    """Accounts from a JSON or YAML file holding a list of account objects."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of accounts")
    return [AccountConfig.model_validate(item) for item in data]
