"""What a manifest source (YAML, CSV, `--set`) hands to validation, before any checking.

Values are raw: whatever YAML produced, or text. Every value knows where it came from, so an
error can name the file and line the user has to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

# Manifest-level settings, as opposed to row fields.
SETTINGS = ("name", "description", "rerender")


class _Unreadable:
    def __repr__(self) -> str:
        return "<unreadable>"


UNREADABLE: Final = _Unreadable()
"""Stands in for a value that could not even be read (its problem is already logged):
validation then skips the checks that need it instead of reporting it missing."""


@dataclass(frozen=True, slots=True)
class Located:
    """A raw value and where it was written (`line` is None for command-line values)."""

    value: Any
    file: str
    line: int | None


@dataclass(slots=True)
class RawRow:
    """One row: field name → raw value, the line the row starts on, and per-value lines.

    `field_lines` is set for rows expanded from a matrix, whose values each sit on their own
    line; other rows report every field at the row's line. Keys are row fields, or
    `tag.<name>` for a CSV tag column.
    """

    line: int
    values: dict[str, Any]
    field_lines: dict[str, int] | None = None

    def line_of(self, name: str) -> int:
        if self.field_lines is None:
            return self.line
        return self.field_lines.get(name, self.line)


@dataclass(slots=True)
class RawManifest:
    """A manifest as read: settings, defaults and a (possibly lazy) stream of rows."""

    file: str
    settings: dict[str, Located] = field(default_factory=dict)
    defaults: dict[str, Located] = field(default_factory=dict)
    rows: Iterator[RawRow] = field(default_factory=lambda: iter(()))
