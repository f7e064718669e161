"""Matrix expansion: lists of field values multiplied out into rows, in a fixed order.

    matrix:
      prompt: [a, b]
      model: [kling-v3, kling-o3]
      exclude:
        - {prompt: b, model: kling-o3}

gives (a, kling-v3), (a, kling-o3), (b, kling-v3): fields vary in the order they are written,
the last fastest, like nested loops. With `rows` as well, every row is combined with every
combination (rows outer, combinations inner); a field may then not be set in both places.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jobs.manifest.errors import IssueLog
from jobs.manifest.source import RawRow


@dataclass(slots=True)
class Axis:
    """One matrix field and its values, each with the line it is written on."""

    field: str
    values: list[tuple[Any, int]]


@dataclass(slots=True)
class Matrix:
    line: int
    axes: list[Axis] = field(default_factory=list)
    excludes: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def size(self) -> int:
        return math.prod(len(a.values) for a in self.axes)


def check_excludes(matrix: Matrix, file: str, log: IssueLog) -> None:
    """Every field an `exclude` entry names must be a matrix field."""
    names = {a.field for a in matrix.axes}
    for entry, line in matrix.excludes:
        for name in entry:
            if name not in names:
                log.add(file, line, name, "is excluded but is not a matrix field")


def _excluded(values: dict[str, Any], excludes: list[tuple[dict[str, Any], int]]) -> bool:
    return any(all(values.get(k) == v for k, v in entry.items()) for entry, _ in excludes)


def expand(rows: list[RawRow], matrix: Matrix, file: str, log: IssueLog) -> Iterator[RawRow]:
    """The rows times the matrix combinations (the combinations alone when `rows` is empty)."""
    names = [a.field for a in matrix.axes]
    bases = rows or [RawRow(matrix.line, {})]
    for base in bases:
        clash = [n for n in names if n in base.values]
        for name in clash:
            log.add(file, base.line, name, "is also a matrix field; set it in one place only")
        if clash:
            continue
        base_lines = {n: base.line for n in base.values}
        for combo in itertools.product(*(a.values for a in matrix.axes)):
            picked = {name: value for name, (value, _) in zip(names, combo, strict=True)}
            if _excluded(picked, matrix.excludes):
                continue
            lines = {name: line for name, (_, line) in zip(names, combo, strict=True)}
            yield RawRow(base.line, {**base.values, **picked}, {**base_lines, **lines})
