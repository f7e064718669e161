"""The schema: Alembic migrations against an empty database, agreement with the models, locking,
and the connection settings of each backend.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from jobs.ledger import JobState, Ledger, LedgerUnavailable, SchemaMismatch
from jobs.ledger.database import Writer, create_ledger_engine, ledger_url
from jobs.ledger.schema import (
    HEAD,
    current_revision,
    downgrade,
    head_revision,
    schema_diff,
    upgrade,
)
from tests import services
from tests.ledger.conftest import new_batch

TABLES = {"alembic_version", "batches", "jobs", "job_events", "daily_spend"}


@pytest.fixture
def engine(ledger_url: str) -> Iterator[sa.Engine]:
    made = create_ledger_engine(ledger_url)
    yield made
    made.dispose()


def test_opening_an_empty_database_creates_the_schema(ledger_url: str, engine: sa.Engine) -> None:
    assert current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) == set()
    with Ledger.open(ledger_url) as ledger:
        new_batch(ledger, 2)  # usable at once
    assert current_revision(engine) == head_revision()
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == TABLES
    indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("jobs")}
    assert {("batch_id", "state"), ("state",)} <= indexes
    uniques = [tuple(u["column_names"]) for u in inspector.get_unique_constraints("jobs")]
    assert ("external_id",) in uniques


def test_the_head_every_open_compares_with_is_the_newest_migration() -> None:
    # Opening a ledger compares its revision with HEAD without reading the scripts.
    assert head_revision() == HEAD


def test_a_current_ledger_opens_without_alembic(ledger_url: str) -> None:
    """Every process opens the ledger at start-up; Alembic costs a third of a second there."""
    with Ledger.open(ledger_url):
        pass  # now at head
    check = (
        "import sys; from jobs.ledger import Ledger; "
        f"Ledger.open({ledger_url!r}).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_models_and_migrations_agree(engine: sa.Engine) -> None:
    upgrade(engine)
    assert schema_diff(engine) == []
    # The comparison does see differences: drop an index the models declare.
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_jobs_state"))
    diff = schema_diff(engine)
    assert [d[0] for d in diff] == ["add_index"]


def test_downgrade_to_empty_and_back(engine: sa.Engine) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []


def test_open_can_leave_the_schema_alone(ledger_url: str, engine: sa.Engine) -> None:
    with Ledger.open(ledger_url, upgrade=False) as ledger:
        assert current_revision(engine) is None
        ledger.upgrade()
        ledger.upgrade()  # already there: nothing to do
    assert current_revision(engine) == head_revision()


def test_a_schema_from_a_newer_version_is_refused(ledger_url: str, engine: sa.Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(SchemaMismatch, match="9999_future"):
        Ledger.open(ledger_url)


def test_many_workers_opening_one_empty_ledger_at_once(ledger_url: str, engine: sa.Engine) -> None:
    n = 6
    barrier = threading.Barrier(n, timeout=60)

    def open_now(_: int) -> str | None:
        barrier.wait()
        with Ledger.open(ledger_url) as ledger:
            return current_revision(ledger.engine)

    with ThreadPoolExecutor(n) as pool:
        revisions = list(pool.map(open_now, range(n)))
    assert revisions == [head_revision()] * n
    assert schema_diff(engine) == []


def test_foreign_keys_are_enforced(ledger: Ledger) -> None:
    batch = new_batch(ledger, 1)
    [job_id] = ledger.job_ids(batch.id)
    assert ledger.transition(job_id, JobState.PENDING, JobState.SUBMITTING)
    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET batch_id = 999"))


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    with Ledger.open(f"sqlite:///{tmp_path}/l.db") as ledger, ledger.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }


def test_a_connection_waits_for_another_holding_a_new_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another connection writes to a new file, SQLite refuses the switch to WAL at once,
    without its busy timeout: the connection retries instead of failing the worker."""
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE first (x)")  # a file still in rollback-journal mode
    holder.execute("BEGIN IMMEDIATE")
    refused = threading.Event()
    real_sleep = time.sleep

    def backing_off(seconds: float) -> None:
        refused.set()  # the switch was refused while the holder writes
        real_sleep(seconds)

    monkeypatch.setattr("jobs.ledger.database.sleep", backing_off)
    engine = create_ledger_engine(f"sqlite:///{path}")
    with ThreadPoolExecutor(1) as pool:
        opened = pool.submit(lambda: engine.connect().close())
        assert refused.wait(timeout=30)
        holder.execute("COMMIT")
        opened.result(timeout=30)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    holder.close()


def test_a_read_is_one_statement_without_a_transaction(ledger: Ledger) -> None:
    """A BEGIN and a ROLLBACK around every read cost a quarter of a job's statements."""
    batch = new_batch(ledger, 1)
    seen: list[str] = []
    autocommit: list[bool] = []

    def record(conn: sa.Connection, cursor: object, statement: str, *_: object) -> None:
        seen.append(statement.split()[0].upper())
        if conn.dialect.name == "postgresql":
            autocommit.append(conn.connection.driver_connection.autocommit)  # type: ignore[union-attr]

    sa.event.listen(ledger.engine, "before_cursor_execute", record)
    try:
        ledger.batch(batch.id)
        ledger.job_ids(batch.id)
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", record)
    assert seen == ["SELECT", "SELECT"]
    assert all(autocommit)  # PostgreSQL: psycopg sends no BEGIN of its own either


def test_a_write_takes_the_write_lock_first_and_reads_stay_bare(ledger: Ledger) -> None:
    """SQLite: a transition begins IMMEDIATE (it waits for the lock up front instead of failing
    half-way); the reads around it begin nothing."""
    batch = new_batch(ledger, 1)
    (job_id,) = ledger.job_ids(batch.id)
    seen: list[str] = []

    def record(conn: sa.Connection, cursor: object, statement: str, *_: object) -> None:
        seen.append(" ".join(statement.split()[:2]).upper())

    sa.event.listen(ledger.engine, "before_cursor_execute", record)
    try:
        ledger.job(job_id)
        assert ledger.transition(job_id, JobState.PENDING, JobState.SUBMITTING)
        ledger.job(job_id)
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", record)
    kinds = [s.split()[0] for s in seen]
    assert kinds == ["SELECT", *(["BEGIN"] if ledger.engine.dialect.name == "sqlite" else []),
                     "UPDATE", "INSERT", "SELECT"]  # fmt: skip
    if ledger.engine.dialect.name == "sqlite":
        assert seen[1] == "BEGIN IMMEDIATE"


def test_a_write_transaction_that_raises_leaves_nothing_and_frees_the_lock(
    ledger: Ledger,
) -> None:
    batch = new_batch(ledger, 1)
    (job_id,) = ledger.job_ids(batch.id)

    def change_then_fail() -> None:
        with Writer(ledger.engine).begin() as conn:
            conn.execute(sa.text("UPDATE jobs SET key = 'changed' WHERE id = :id"), {"id": job_id})
            raise RuntimeError("half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        change_then_fail()
    assert ledger.job(job_id).key != "changed"
    assert ledger.transition(job_id, JobState.PENDING, JobState.SUBMITTING)  # not locked out


def test_the_default_ledger_is_var_kbatch_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Ledger.open() as ledger:
        new_batch(ledger, 1)
    assert (tmp_path / "var" / "kbatch.db").is_file()


def test_urls() -> None:
    assert ledger_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert ledger_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert ledger_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ValueError, match="mysql"):
        ledger_url("mysql://u@h/db")
    for memory in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ValueError, match="file"):
            create_ledger_engine(memory)


def test_the_password_is_never_shown() -> None:
    ledger = Ledger(create_ledger_engine("postgresql://kb:hunter2@127.0.0.1:1/ledger"))
    try:
        assert "hunter2" not in ledger.url
        assert "hunter2" not in repr(ledger)
        assert ledger.url == "postgresql+psycopg://kb:***@127.0.0.1:1/ledger"
    finally:
        ledger.close()


def test_an_unreachable_database_is_reported_as_unavailable() -> None:
    """Workers retry on LedgerUnavailable; a driver's own error would crash the task instead."""
    port = services.free_port()  # nothing listens there
    engine = create_ledger_engine(f"postgresql://kbatch:s3cret-pw@127.0.0.1:{port}/none")
    ledger = Ledger(engine)
    try:
        with pytest.raises(LedgerUnavailable, match="unavailable") as caught:
            ledger.batches()
        assert "s3cret-pw" not in str(caught.value)
    finally:
        ledger.close()
