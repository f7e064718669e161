"""Initial schema: batches, jobs and the append-only job event log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types only: a migration must not change when application code changes later.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CREDITS = sa.Numeric(precision=14, scale=4)
STATE = sa.String(length=16)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("manifest", sa.Text(), nullable=True),
        sa.Column("dialect", sa.String(length=32), nullable=False),
        sa.Column("budget_credits", CREDITS, nullable=True),
        sa.Column("job_count", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("name", name=op.f("uq_batches_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "jobs",
        sa.Column("id", ID, nullable=False),
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("take", sa.Integer(), nullable=False),
        sa.Column("row_id", sa.String(length=255), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("previous_state", STATE, nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("provider_task_id", sa.String(length=128), nullable=True),
        sa.Column("result_url", sa.Text(), nullable=True),
        sa.Column("estimated_credits", CREDITS, nullable=False),
        sa.Column("reserved_credits", CREDITS, nullable=False),
        sa.Column("charged_credits", CREDITS, nullable=True),
        sa.Column("charged_units", CREDITS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("object_url", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("poll_count", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("submitted_at", nullable=True),
        _time("finished_at", nullable=True),
        _time("updated_at"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_jobs_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("external_id", name=op.f("uq_jobs_external_id")),
    )
    op.create_index(op.f("ix_jobs_batch_id_state"), "jobs", ["batch_id", "state"])
    op.create_index(op.f("ix_jobs_key_state"), "jobs", ["key", "state"])
    op.create_index(op.f("ix_jobs_provider_task_id"), "jobs", ["provider_task_id"])
    op.create_index(op.f("ix_jobs_state"), "jobs", ["state"])
    op.create_table(
        "job_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        _time("at"),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_state", STATE, nullable=True),
        sa.Column("to_state", STATE, nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_events_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_events")),
    )
    op.create_index(op.f("ix_job_events_job_id_id"), "job_events", ["job_id", "id"])
    _forbid_event_changes()


def downgrade() -> None:
    op.drop_table("job_events")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION job_events_append_only()")
    op.drop_index(op.f("ix_jobs_state"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_provider_task_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_key_state"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_batch_id_state"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("batches")


def _forbid_event_changes() -> None:
    """The event log is an audit trail: the database itself refuses to rewrite it."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION job_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'job_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER job_events_append_only BEFORE UPDATE OR DELETE ON job_events "
            "FOR EACH ROW EXECUTE FUNCTION job_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER job_events_no_truncate BEFORE TRUNCATE ON job_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION job_events_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER job_events_no_{action.lower()} BEFORE {action} ON job_events "
            "BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END"
        )
