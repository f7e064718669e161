"""`kbatch db upgrade` and `kbatch db current`, with the URL from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.ledger.database import create_ledger_engine
from jobs.ledger.schema import current_revision, head_revision, schema_diff
from tests import services
from worker.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_stray_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout


def revision_of(url: str) -> str | None:
    """The database's revision, after checking that the schema there is the models' schema."""
    engine = create_ledger_engine(url)
    try:
        assert schema_diff(engine) == []
        return current_revision(engine)
    finally:
        engine.dispose()


def test_upgrade_creates_then_keeps_the_schema(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KBATCH_DATABASE_URL", ledger_url)
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 1
    assert "needs `kbatch db upgrade`" in current.output

    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"upgraded from an empty database to {head_revision()}" in first.output
    assert revision_of(ledger_url) == head_revision()

    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0, again.output
    assert "is up to date" in again.output
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0
    assert f"revision {head_revision()}, expected {head_revision()}: up to date" in current.output


def test_the_password_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    with services.postgres_database() as url:
        # The test server trusts local connections, so any password gets in.
        secret_url = url.replace("postgres@", "postgres:hunter2@")
        assert secret_url != url
        monkeypatch.setenv("KBATCH_DATABASE_URL", secret_url)
        result = runner.invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert "postgres:***@" in result.output
        assert "hunter2" not in result.output
        assert revision_of(url) == head_revision()


def test_an_unreachable_database_fails_without_showing_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = services.free_port()
    monkeypatch.setenv("KBATCH_DATABASE_URL", f"postgresql://kb:hunter2@127.0.0.1:{port}/x")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert f"cannot upgrade ledger postgresql://kb:***@127.0.0.1:{port}/x" in result.output
    assert "hunter2" not in result.output


def test_an_unsupported_database_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBATCH_DATABASE_URL", "mysql://kb:hunter2@db/x")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "SQLite or PostgreSQL" in result.output
    assert "hunter2" not in result.output
