"""The one settings object: environment (`KBATCH_` prefix, nested with `__`), `.env`, defaults.

Everything that runs (Celery, provider clients, storage, the CLI) reads its configuration from
`Settings`; Celery's own configuration is derived from it in `worker.celery_app`. Every key is a
`SecretStr`, so printing the settings never shows one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_KLING_BASE_URL = "https://api-singapore.klingai.com"


class ProviderSettings(BaseModel):
    """Which Kling API to talk to, with which credentials and limits."""

    dialect: Literal["kling", "guide"] = "kling"
    base_url: str = DEFAULT_KLING_BASE_URL
    api_key: SecretStr | None = None
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    # Name under which slots are counted in Redis: every host rendering for the same account
    # must use the same name so that the concurrency limit holds across all of them.
    account: str = "default"
    concurrency: int = Field(5, ge=1, le=10_000)
    requests_per_second: float | None = Field(None, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)
    callback_url: str | None = None


class S3Settings(BaseModel):
    """Where `s3://` storage lives: AWS S3, MinIO, R2 and other S3-compatible services."""

    endpoint_url: str | None = None

    @field_validator("endpoint_url", mode="before")
    @classmethod
    def _empty_is_aws(cls, value: object) -> object:
        # Compose files pass an unset variable as "": that means AWS's own endpoint.
        return None if value == "" else value

    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    presign_seconds: int = Field(7 * 24 * 3600, ge=60)


class PollSettings(BaseModel):
    """How polls are spaced: first near the expected finish, then backing off to a cap."""

    min_interval_s: float = Field(1.0, gt=0)
    max_interval_s: float = Field(30.0, gt=0)
    backoff_factor: float = Field(1.5, ge=1.0)
    # Used until recent completions for a (model, mode, duration) teach a better guess.
    default_expected_s: float = Field(60.0, gt=0)
    deadline_s: float = Field(1800.0, gt=0)
    # Omni and audio renders take 2-3x longer (product guide), so their deadline is stretched.
    slow_deadline_factor: float = Field(3.0, ge=1.0)
    # How long one watch message may stay for the looks that follow, on a worker with threads to
    # spare (worker.pipeline.watch): the longest a worker's shutdown or a redelivery waits on it.
    watch_turn_s: float = Field(60.0, gt=0)


class RetrySettings(BaseModel):
    """Bounded retries for transient errors (5xx, transport), with exponential backoff."""

    max_attempts: int = Field(6, ge=1)
    base_s: float = Field(1.0, gt=0)
    cap_s: float = Field(60.0, gt=0)


class FlowerSettings(BaseModel):
    user: str | None = None
    password: SecretStr | None = None
    port: int = 5555
    address: str = "127.0.0.1"


class BudgetSettings(BaseModel):
    daily_credits: float | None = Field(None, gt=0)


class NightlySettings(BaseModel):
    """Batches that celery beat starts by itself."""

    cron: str = "0 2 * * *"
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _five_fields_or_off(cls, value: str) -> str:
        if value.strip().lower() != "off" and len(value.split()) != 5:
            raise ValueError(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                "or is 'off' when system cron starts the nights"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known time zone (e.g. UTC, Europe/Paris)"
            ) from None
        return value

    manifests: str = "manifests/nightly/*.yaml"
    on_overlap: Literal["skip", "queue"] = "skip"


class Settings(BaseSettings):
    """kbatch's effective configuration."""

    model_config = SettingsConfigDict(
        env_prefix="KBATCH_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    database_url: SecretStr = SecretStr("sqlite:///./var/kbatch.db")
    storage_url: str = "file://./var/videos"
    price_table: Path | None = None
    provider: ProviderSettings = ProviderSettings()
    s3: S3Settings = S3Settings()
    poll: PollSettings = PollSettings()
    retry: RetrySettings = RetrySettings()
    flower: FlowerSettings = FlowerSettings()
    budget: BudgetSettings = BudgetSettings()
    nightly: NightlySettings = NightlySettings()
    # Task events feed Flower. Off by default, as in Celery: each costs a worker a Redis round trip
    # (three per task, about a fifth of a task's CPU here), and Flower turns them on in every
    # worker while it runs (its `enable_events`, every 5 s). On, a worker sends them from its start.
    task_events: bool = False
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***`, for display."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (tests build their own `Settings(...)`)."""
    return Settings()
