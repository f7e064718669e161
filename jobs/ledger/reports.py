"""Aggregate queries over the ledger: job counts per state, credit totals, the spend report.

Sums of credits are exact on both databases. PostgreSQL sums NUMERIC natively; SQLite keeps
credits as REAL, so its sums are taken over integers in ten-thousandths of a credit, which are
exact where a running sum of floats would drift on a batch of 100k jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, Select, String, cast, func, select

from jobs.ledger.columns import CREDITS_SCALE
from jobs.ledger.models import BATCHES, JOBS
from jobs.ledger.records import CreditRow, Totals
from jobs.ledger.states import JobState

GroupBy = Literal["model", "day", "batch"]

_QUANTUM = Decimal(1).scaleb(-CREDITS_SCALE)
# Jobs the provider ran to the end: the ones a spend report counts.
_RAN = (JobState.STORED, JobState.FAILED)


def credit_sum(column: Any, dialect: str) -> ColumnElement[Any]:
    """SUM(column) that `decimal` turns into an exact Decimal (0 for no rows)."""
    if dialect == "sqlite":
        scaled = cast(func.round(column * 10**CREDITS_SCALE), Integer)
        return func.coalesce(func.sum(scaled), 0)
    return func.coalesce(func.sum(column), 0)


def decimal(value: Any, dialect: str) -> Decimal:
    """A `credit_sum` result as a Decimal with the ledger's four places."""
    if dialect == "sqlite":
        return Decimal(int(value)).scaleb(-CREDITS_SCALE).quantize(_QUANTUM)
    return Decimal(value).quantize(_QUANTUM)


def counts_query(batch_id: int) -> Select[Any]:
    return (
        select(JOBS.c.state, func.count()).where(JOBS.c.batch_id == batch_id).group_by(JOBS.c.state)
    )


def counts(rows: Sequence[Sequence[Any]]) -> dict[JobState, int]:
    """Jobs per state; every state is present, most with 0."""
    found = {JobState(state): int(n) for state, n in rows}
    return {state: found.get(state, 0) for state in JobState}


def totals_query(batch_id: int, dialect: str) -> Select[Any]:
    return select(
        func.count(),
        credit_sum(JOBS.c.estimated_credits, dialect),
        credit_sum(JOBS.c.charged_credits, dialect),
        credit_sum(JOBS.c.charged_units, dialect),
    ).where(JOBS.c.batch_id == batch_id)


def totals(row: Sequence[Any], dialect: str) -> Totals:
    n, estimated, charged, units = row
    return Totals(
        estimated_credits=decimal(estimated, dialect),
        charged_credits=decimal(charged, dialect),
        charged_units=decimal(units, dialect),
        jobs=int(n),
    )


def credits_query(since: datetime | None, by: GroupBy, dialect: str) -> Select[Any]:
    """Spend of jobs that ran to the end (stored or failed), grouped, in the group's order."""
    sums = (
        func.count(),
        credit_sum(JOBS.c.estimated_credits, dialect),
        credit_sum(JOBS.c.charged_credits, dialect),
        credit_sum(JOBS.c.charged_units, dialect),
    )
    keys: tuple[ColumnElement[Any], ...]
    if by == "model":
        group: ColumnElement[Any] = JOBS.c.model
        keys = (group,)
    elif by == "day":
        group = _utc_day(JOBS.c.finished_at, dialect)
        keys = (group,)
    elif by == "batch":
        group = BATCHES.c.name
        keys = (BATCHES.c.id, group)
    else:
        raise ValueError(f"credits are grouped by model, day or batch, not {by!r}")
    stmt = select(group, *sums).where(JOBS.c.state.in_(_RAN))
    if by == "batch":
        stmt = stmt.select_from(JOBS.join(BATCHES, JOBS.c.batch_id == BATCHES.c.id))
    if since is not None:
        stmt = stmt.where(JOBS.c.finished_at >= since)
    return stmt.group_by(*keys).order_by(keys[0])


def credit_rows(rows: Sequence[Sequence[Any]], dialect: str) -> list[CreditRow]:
    return [
        CreditRow(
            group=str(group),
            jobs=int(n),
            estimated_credits=decimal(estimated, dialect),
            charged_credits=decimal(charged, dialect),
            charged_units=decimal(units, dialect),
        )
        for group, n, estimated, charged, units in rows
    ]


def _utc_day(column: Any, dialect: str) -> ColumnElement[str]:
    if dialect == "sqlite":
        # Stored as "YYYY-MM-DD HH:MM:SS..." in UTC (see columns.UTCDateTime).
        return func.substr(column, 1, 10, type_=String)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD", type_=String)
