"""What goes wrong in a manifest: one `Issue` per problem, all of them raised together.

    ManifestError (ValueError)
      .issues: list[Issue]   every problem found, each `file:line: field: message`

Validation never stops at the first problem: sources and checks append to an `IssueLog`, and the
loader raises one `ManifestError` carrying the whole log when it is not empty.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: where it is (file and 1-based line, when known), which field, and what."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}"


class ManifestError(ValueError):
    """A manifest that cannot be rendered; `.issues` lists every problem found in it."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class IssueLog:
    """Collects issues in the order found, dropping exact repeats.

    Repeats are common with a matrix: a bad value in one matrix list breaks every combination
    that uses it, but the user needs to read about it once.
    """

    def __init__(self) -> None:
        self._seen: set[Issue] = set()
        self.issues: list[Issue] = []

    def add(self, file: str, line: int | None, field: str, message: str) -> None:
        issue = Issue(file, line, field, message)
        if issue not in self._seen:
            self._seen.add(issue)
            self.issues.append(issue)

    def __len__(self) -> int:
        return len(self.issues)

    def raise_if_any(self) -> None:
        if self.issues:
            ordered = sorted(self.issues, key=lambda i: (i.file, i.line or 0))
            raise ManifestError(ordered)
