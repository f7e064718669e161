"""Budgets: the credits a batch, and all batches of one day, may commit.

A job reserves its estimated credits before its create, and when it ends the reservation becomes
what was actually charged (nothing for a failed render, nothing for a job sent back to wait). The
batch's and the day's running totals are counter rows changed by one conditional UPDATE each
(`committed + amount <= cap`): the database serializes updates of a row, so two workers on two
hosts can never both fit under the last credits of a budget.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, select, update

from jobs.ledger.database import Writer
from jobs.ledger.models import BATCHES, DAILY_SPEND, JOBS


class _OverBudget(Exception):
    """Raised inside a reservation's transaction so that it rolls back as a whole."""


def reserve(
    writer: Writer,
    job_id: int,
    amount: Decimal,
    *,
    day: date,
    daily_cap: Decimal | None,
) -> bool:
    """Reserve `amount` credits for the job against its batch's budget and the daily cap.

    True when reserved (or already reserved by an earlier delivery of the same step); False when
    it would take the batch or the day past its cap, in which case nothing changes.
    """
    try:
        with writer.begin() as conn:
            row = conn.execute(
                select(JOBS.c.batch_id, JOBS.c.reserved_credits).where(JOBS.c.id == job_id)
            ).one()
            if row.reserved_credits > 0:
                return True
            fits = (BATCHES.c.budget_credits.is_(None)) | (
                BATCHES.c.committed_credits + amount <= BATCHES.c.budget_credits
            )
            moved = conn.execute(
                update(BATCHES)
                .where(BATCHES.c.id == row.batch_id, fits)
                .values(committed_credits=BATCHES.c.committed_credits + amount)
            )
            if moved.rowcount != 1:
                raise _OverBudget
            if daily_cap is not None:
                _ensure_day(conn, day)
                moved = conn.execute(
                    update(DAILY_SPEND)
                    .where(
                        DAILY_SPEND.c.day == day,
                        DAILY_SPEND.c.committed_credits + amount <= daily_cap,
                    )
                    .values(committed_credits=DAILY_SPEND.c.committed_credits + amount)
                )
                if moved.rowcount != 1:
                    raise _OverBudget
            conn.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id)
                .values(reserved_credits=amount, reserved_on=day if daily_cap is not None else None)
            )
    except _OverBudget:
        return False
    return True


def settle(writer: Writer, job_id: int) -> Decimal:
    """Turn the job's reservation into what it was charged; returns the change in committed credits.

    Exactly once: the reservation is cleared by a compare-and-set on its own value.
    """
    with writer.begin() as conn:
        row = conn.execute(
            select(
                JOBS.c.batch_id,
                JOBS.c.reserved_credits,
                JOBS.c.reserved_on,
                JOBS.c.charged_credits,
            ).where(JOBS.c.id == job_id)
        ).one()
        if row.reserved_credits <= 0:
            return Decimal(0)
        cleared = conn.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.reserved_credits == row.reserved_credits)
            .values(reserved_credits=0, reserved_on=None)
        )
        if cleared.rowcount != 1:
            return Decimal(0)
        delta = Decimal(row.charged_credits or 0) - Decimal(row.reserved_credits)
        conn.execute(
            update(BATCHES)
            .where(BATCHES.c.id == row.batch_id)
            .values(committed_credits=BATCHES.c.committed_credits + delta)
        )
        if row.reserved_on is not None:
            conn.execute(
                update(DAILY_SPEND)
                .where(DAILY_SPEND.c.day == row.reserved_on)
                .values(committed_credits=DAILY_SPEND.c.committed_credits + delta)
            )
        return delta


def committed_on(conn: Connection, day: date) -> Decimal:
    value = conn.execute(
        select(DAILY_SPEND.c.committed_credits).where(DAILY_SPEND.c.day == day)
    ).scalar_one_or_none()
    return Decimal(value or 0)


def _ensure_day(conn: Connection, day: date) -> None:
    values = {"day": day, "committed_credits": Decimal(0)}
    # Each dialect's own INSERT, imported here: a process uses one of the two.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        conn.execute(postgresql.insert(DAILY_SPEND).values(values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects import sqlite

        conn.execute(sqlite.insert(DAILY_SPEND).values(values).on_conflict_do_nothing())
