"""Column types shared by the ledger's tables, identical in meaning on SQLite and PostgreSQL.

SQLite has no time zones, no 64-bit auto-increment keys and no decimal type, so these types hide
the difference: times go in and come out as aware UTC datetimes, ids are BIGINT on PostgreSQL and
the rowid alias INTEGER on SQLite, and states come back as their enum members.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Credits and provider units: up to 10^10 with four decimals. SQLite stores them as REAL, which is
# exact for values of that size once rounded back to four places (sums are done on integers, see
# `store`).
CREDITS_SCALE = 4
Credits = Numeric(14, CREDITS_SCALE)

E = TypeVar("E", bound=StrEnum)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; naive datetimes are refused rather than guessed at."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"the ledger stores aware datetimes only, got naive {value!r}")
        value = value.astimezone(UTC)
        # SQLite's DATETIME text has no offset: store the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StateText(TypeDecorator[E]):
    """A StrEnum stored as its plain value, so adding a state needs no database type change."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        if value is None:
            return None
        return self.enum(value)
