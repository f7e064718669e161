"""The ledger's tables: batches, their jobs, the jobs' event log and the daily spend.

They describe the schema (Alembic's migrations are checked against `metadata`); the store queries
them through SQLAlchemy Core and hands out frozen records. Core tables, not ORM models: nothing
maps rows to objects, and the ORM's import alone cost every process, `kbatch submit` included,
about 60 ms of CPU at start.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

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


metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _required(name: str, *args: Any, **kwargs: Any) -> Column[Any]:
    return Column(name, *args, nullable=False, **kwargs)


def _optional(name: str, *args: Any, **kwargs: Any) -> Column[Any]:
    return Column(name, *args, nullable=True, **kwargs)


# One run of one manifest.
BATCHES = Table(
    "batches",
    metadata,
    Column("id", Id, primary_key=True),
    _required("name", String(255), unique=True),
    # Random, in every external task id: ids stay unique across ledgers sharing one account.
    _required("token", String(16), unique=True),
    _required("state", StateText(BatchState)),
    _optional("manifest", Text),
    _required("dialect", String(32)),
    _optional("budget_credits", Credits),
    # Reserved by jobs about to be created plus charged by jobs that ended: never above budget.
    _required("committed_credits", Credits, server_default="0"),
    _required("job_count", Integer),
    _required("options", JSON),
    _required("created_at", UTCDateTime),
    _required("updated_at", UTCDateTime),
    _optional("finished_at", UTCDateTime),
    # AUTOINCREMENT on SQLite: a batch id is part of every job's external task id, so an id must
    # never be handed out twice, even after the newest batch row is deleted by hand.
    sqlite_autoincrement=True,
)

# One take of one manifest row, through all its attempts at the provider.
JOBS = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True),
    _required("batch_id", Id, ForeignKey("batches.id")),
    _required("key", String(64)),
    # The provider's external_task_id for the current attempt: unique in the whole ledger.
    _required("external_id", String(128), unique=True),
    _required("take", Integer),
    _optional("row_id", String(255)),
    _required("source", Text),
    _required("spec", JSON),
    # Copies of spec fields, so reports can group without parsing JSON.
    _required("model", String(64)),
    _required("mode", StateText(Mode, 32)),
    _required("resolution", String(16)),
    _required("seconds", Integer),
    _required("tags", JSON),
    _required("state", StateText(JobState)),
    _optional("previous_state", StateText(JobState)),
    _required("attempt", Integer),
    _optional("provider_task_id", String(128)),
    _optional("result_url", Text),
    _required("estimated_credits", Credits),
    _required("reserved_credits", Credits),
    _optional("reserved_on", Date),  # the day charged by the daily cap
    _optional("charged_credits", Credits),
    _optional("charged_units", Credits),
    _optional("error", Text),
    _optional("object_url", Text),
    _optional("sha256", String(64)),
    _optional("size_bytes", BigInteger),
    _required("poll_count", Integer),
    _required("created_at", UTCDateTime),
    _optional("submitted_at", UTCDateTime),
    _optional("finished_at", UTCDateTime),
    _required("updated_at", UTCDateTime),
    Index(None, "batch_id", "state"),
    Index(None, "state"),
    Index(None, "key", "state"),
    Index(None, "provider_task_id"),
)

# Credits committed per UTC day across all batches, for the daily cap.
DAILY_SPEND = Table(
    "daily_spend",
    metadata,
    Column("day", Date, primary_key=True),
    _required("committed_credits", Credits),
)

# One entry of the append-only log: a state change, a retry or a note about a job.
EVENTS = Table(
    "job_events",
    metadata,
    Column("id", Id, primary_key=True),
    _required("job_id", Id, ForeignKey("jobs.id")),
    _required("at", UTCDateTime),
    _required("kind", String(32)),
    _optional("from_state", StateText(JobState)),
    _optional("to_state", StateText(JobState)),
    _required("attempt", Integer),
    _optional("detail", JSON(none_as_null=True)),
    Index(None, "job_id", "id"),
)
