"""Fixtures for the storage tests: one contract, two backends (a tmp folder and moto's S3)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from mypy_boto3_s3 import S3Client
from pydantic import SecretStr

from worker.settings import S3Settings, Settings
from worker.storage import Storage, open_storage

ACCESS_KEY_ID = "AKIAKBATCHTEST000001"
SECRET_ACCESS_KEY = "kbatch-test-secret-never-shown-1234567890"
OUTSIDE = "<outside>/"


def s3_settings(endpoint: str) -> S3Settings:
    return S3Settings(
        endpoint_url=endpoint,
        access_key_id=SecretStr(ACCESS_KEY_ID),
        secret_access_key=SecretStr(SECRET_ACCESS_KEY),
    )


def settings_for(storage_url: str, s3: S3Settings | None = None) -> Settings:
    return Settings(storage_url=storage_url, s3=s3 or S3Settings(), _env_file=None)


@dataclass
class Backend:
    """A storage under test, and a way to see everything it left behind."""

    name: str
    storage: Storage
    inventory: Callable[[], set[str]]  # stored keys; `pending:` uploads; `<outside>/` escapes


@pytest.fixture
def s3_client(s3_endpoint: str) -> Iterator[S3Client]:
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    yield client
    client.close()


@pytest.fixture
def bucket(s3_client: S3Client) -> Iterator[str]:
    """A bucket of this test's own, emptied and removed afterwards."""
    name = f"kbt-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    for upload in s3_client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3_client.abort_multipart_upload(
            Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for obj in s3_client.list_objects_v2(Bucket=name).get("Contents", []):
        s3_client.delete_object(Bucket=name, Key=obj["Key"])
    s3_client.delete_bucket(Bucket=name)


def s3_inventory(client: S3Client, bucket: str, prefix: str) -> set[str]:
    found: set[str] = set()
    for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        found.add(_relative(obj["Key"], prefix))
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        found.add("pending:" + _relative(upload["Key"], prefix))
    return found


def local_inventory(root: Path) -> set[str]:
    """Every file under the root's parent folder, named relative to the root."""
    found: set[str] = set()
    for path in root.parent.rglob("*"):
        if path.is_file() or path.is_symlink():
            relative = path.relative_to(root.parent).as_posix()
            found.add(_relative(relative, root.name))
    return found


def _relative(key: str, prefix: str) -> str:
    if not prefix:
        return key
    return key.removeprefix(f"{prefix}/") if key.startswith(f"{prefix}/") else OUTSIDE + key


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        root = tmp_path / "videos"
        storage = open_storage(settings_for(root.as_uri()))
        return Backend("local", storage, lambda: local_inventory(root))
    endpoint: str = request.getfixturevalue("s3_endpoint")
    client: S3Client = request.getfixturevalue("s3_client")
    name: str = request.getfixturevalue("bucket")
    storage = open_storage(settings_for(f"s3://{name}/videos", s3_settings(endpoint)))
    return Backend("s3", storage, lambda: s3_inventory(client, name, "videos"))
