"""What was spent: the ledger's credit sums (`Ledger.credits`) by model, UTC day or batch, in USD.

Only jobs the provider ran to the end (stored or failed) count; the dollar value of a credit comes
from the price table (`jobs.pricing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Literal

from jobs.ledger import CreditRow, Ledger

SpendBy = Literal["model", "day", "batch"]
SPEND_BY: tuple[SpendBy, ...] = ("model", "day", "batch")
SPEND_FIELDS: tuple[str, ...] = (
    "jobs",
    "estimated_credits",
    "charged_credits",
    "charged_units",
    "charged_usd",
)


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One model, UTC day (YYYY-MM-DD) or batch name, or the total when `group` is None."""

    group: str | None
    jobs: int
    estimated_credits: Decimal
    charged_credits: Decimal
    charged_units: Decimal
    charged_usd: Decimal

    @classmethod
    def of(cls, row: CreditRow, credit_usd: Decimal) -> SpendRow:
        return cls(
            group=row.group,
            jobs=row.jobs,
            estimated_credits=row.estimated_credits,
            charged_credits=row.charged_credits,
            charged_units=row.charged_units,
            charged_usd=row.charged_credits * credit_usd,
        )


@dataclass(frozen=True, slots=True)
class Spend:
    by: SpendBy
    since: datetime | None
    credit_usd: Decimal
    rows: list[SpendRow]

    @property
    def total(self) -> SpendRow:
        return SpendRow(
            group=None,
            jobs=sum(r.jobs for r in self.rows),
            estimated_credits=sum((r.estimated_credits for r in self.rows), Decimal(0)),
            charged_credits=sum((r.charged_credits for r in self.rows), Decimal(0)),
            charged_units=sum((r.charged_units for r in self.rows), Decimal(0)),
            charged_usd=sum((r.charged_usd for r in self.rows), Decimal(0)),
        )


def spend(ledger: Ledger, *, by: SpendBy, since: datetime | None, credit_usd: Decimal) -> Spend:
    rows = [SpendRow.of(r, credit_usd) for r in ledger.credits(since=since, by=by)]
    return Spend(by=by, since=since, credit_usd=credit_usd, rows=rows)


def parse_since(text: str) -> datetime:
    """`YYYY-MM-DD` (midnight UTC) or an ISO 8601 time (UTC unless it names an offset).

    Raises ValueError with a message fit for the command line.
    """
    value = text.strip()
    try:
        if len(value) == len("YYYY-MM-DD"):
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
