"""How report values are written: as CSV text, as JSON values, and for people to read.

Credits keep the ledger's exactness: `30.0000` is written `30` and `12.5000` is `12.5`, with no
float rounding on the way. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

CENT = Decimal("0.01")


def number_text(value: Decimal) -> str:
    """`value` without trailing zeros or an exponent (`30.0000` -> `30`, `1E+2` -> `100`)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def csv_text(value: Any) -> str:
    """One CSV cell: empty for None, compact JSON for a mapping."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def json_value(value: Any) -> Any:
    """A JSON-ready value: Decimal as an exact number, datetime as text, enum as its value."""
    if isinstance(value, Decimal):
        text = number_text(value)
        return int(text) if "." not in text else float(text)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def credits_text(value: Decimal | None) -> str:
    """Credits for people: thousands separated, no trailing zeros; `-` for none."""
    if value is None:
        return "-"
    text = number_text(value)
    whole, dot, frac = text.partition(".")
    return f"{int(whole):,}{dot}{frac}"


def usd_text(value: Decimal | None) -> str:
    """Dollars for people, rounded to the cent."""
    if value is None:
        return "-"
    return f"${value.quantize(CENT, rounding=ROUND_HALF_UP):,}"
