"""Budgets and batch tokens: credits committed per batch and per day; a random token per batch.

The token goes into every external task id, so two ledgers rendering for one account (a demo
database and production, a ledger rebuilt from scratch) never send the same id. Batches recorded
before this revision get their id as token, which keeps their jobs' external ids unchanged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREDITS = sa.Numeric(precision=14, scale=4)


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("token", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("committed_credits", CREDITS, nullable=False, server_default="0")
        )
    op.execute("UPDATE batches SET token = CAST(id AS VARCHAR(16))")
    with op.batch_alter_table("batches") as batch:
        batch.alter_column("token", existing_type=sa.String(length=16), nullable=False)
        batch.create_unique_constraint(op.f("uq_batches_token"), ["token"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("reserved_on", sa.Date(), nullable=True))
    op.create_table(
        "daily_spend",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("committed_credits", CREDITS, nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_daily_spend")),
    )


def downgrade() -> None:
    op.drop_table("daily_spend")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("reserved_on")
    with op.batch_alter_table("batches") as batch:
        batch.drop_constraint(op.f("uq_batches_token"), type_="unique")
        batch.drop_column("committed_credits")
        batch.drop_column("token")
