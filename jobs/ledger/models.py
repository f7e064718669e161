"""The ledger's tables as SQLAlchemy models: batches, their jobs, and the jobs' event log.

The models describe the schema (Alembic's migrations are checked against them); the store
queries them through SQLAlchemy Core and hands out frozen records, never these objects.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, MetaData, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from jobs.catalog import Mode
from jobs.ledger.columns import Credits, Id, StateText, UTCDateTime
from jobs.ledger.states import BatchState, JobState

# Named constraints: Alembic can only alter (and SQLite's batch mode only rebuild) what has a name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BatchRow(Base):
    """One run of one manifest."""

    __tablename__ = "batches"
    # AUTOINCREMENT on SQLite: a batch id is part of every job's external task id, so an id must
    # never be handed out twice, even after the newest batch row is deleted by hand.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # Random, in every external task id: ids stay unique across ledgers sharing one account.
    token: Mapped[str] = mapped_column(String(16), unique=True)
    state: Mapped[BatchState] = mapped_column(StateText(BatchState))
    manifest: Mapped[str | None] = mapped_column(Text)
    dialect: Mapped[str] = mapped_column(String(32))
    budget_credits: Mapped[Decimal | None] = mapped_column(Credits)
    # Reserved by jobs about to be created plus charged by jobs that ended: never above budget.
    committed_credits: Mapped[Decimal] = mapped_column(Credits, server_default="0")
    job_count: Mapped[int]
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobRow(Base):
    """One take of one manifest row, through all its attempts at the provider."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(None, "batch_id", "state"),
        Index(None, "state"),
        Index(None, "key", "state"),
        Index(None, "provider_task_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_id: Mapped[int] = mapped_column(Id, ForeignKey("batches.id"))
    key: Mapped[str] = mapped_column(String(64))
    # The provider's external_task_id for the current attempt: unique in the whole ledger.
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    take: Mapped[int]
    row_id: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Copies of spec fields, so reports can group without parsing JSON.
    model: Mapped[str] = mapped_column(String(64))
    mode: Mapped[Mode] = mapped_column(StateText(Mode, 32))
    resolution: Mapped[str] = mapped_column(String(16))
    seconds: Mapped[int]
    tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[JobState] = mapped_column(StateText(JobState))
    previous_state: Mapped[JobState | None] = mapped_column(StateText(JobState))
    attempt: Mapped[int]
    provider_task_id: Mapped[str | None] = mapped_column(String(128))
    result_url: Mapped[str | None] = mapped_column(Text)
    estimated_credits: Mapped[Decimal] = mapped_column(Credits)
    reserved_credits: Mapped[Decimal] = mapped_column(Credits)
    reserved_on: Mapped[date | None] = mapped_column(Date)  # the day charged by the daily cap
    charged_credits: Mapped[Decimal | None] = mapped_column(Credits)
    charged_units: Mapped[Decimal | None] = mapped_column(Credits)
    error: Mapped[str | None] = mapped_column(Text)
    object_url: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    poll_count: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DailySpendRow(Base):
    """Credits committed per UTC day across all batches, for the daily cap."""

    __tablename__ = "daily_spend"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    committed_credits: Mapped[Decimal] = mapped_column(Credits)


class EventRow(Base):
    """One entry of the append-only log: a state change, a retry or a note about a job."""

    __tablename__ = "job_events"
    __table_args__ = (Index(None, "job_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[int] = mapped_column(Id, ForeignKey("jobs.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[JobState | None] = mapped_column(StateText(JobState))
    to_state: Mapped[JobState | None] = mapped_column(StateText(JobState))
    attempt: Mapped[int]
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


BATCHES = _table(BatchRow)
JOBS = _table(JobRow)
EVENTS = _table(EventRow)
DAILY_SPEND = _table(DailySpendRow)
