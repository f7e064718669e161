"""Shared fixtures: real Redis, a fresh PostgreSQL database, moto's S3 server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, settings

from tests import services

# Property tests share two cores with Redis, PostgreSQL and the processes other tests start: a
# per-example deadline would fail them for the machine's load, not for a defect.
settings.register_profile(
    "kbatch", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("kbatch")


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(services.REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        raise RuntimeError(f"Redis is not reachable at {services.REDIS_URL}: {exc}") from exc
    finally:
        client.close()
    return services.REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"kbtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with services.moto_s3_server() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with services.postgres_database() as url:
        yield url
