"""Tables for people: boxed Rich tables on a terminal, plain aligned columns everywhere else.

A table is built once as a `Grid` of text cells and then drawn either way. The plain form is
written directly (one line per row, two spaces between columns, no trailing spaces, line breaks
inside a cell flattened) so that it can be grepped and cut, and so that a 100k-job batch does
not wait on Rich's layout. On a terminal every cell is a Rich `Text`, never markup, so a
prompt or error holding `[bold]` prints as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich import box
from rich.table import Table
from rich.text import Text

from worker.reports.cells import credits_text, usd_text
from worker.reports.gather import BatchReport, GroupTotal
from worker.reports.rows import JobRow
from worker.reports.spend import Spend, SpendRow

NUMERIC = frozenset({"jobs", "seconds", "estimated", "charged", "units", "USD"})
_BREAKS = re.compile(r"\s*[\r\n]+\s*")


@dataclass
class Grid:
    """Column titles and rows of text; numeric columns are right-aligned."""

    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, cells: Iterable[str | None]) -> None:
        row = tuple("" if c is None else c for c in cells)
        if len(row) != len(self.columns):
            raise ValueError(f"{len(row)} cells for {len(self.columns)} columns")
        self.rows.append(row)


Section = str | Grid


def plain(sections: Sequence[Section]) -> str:
    """The sections as plain text, separated by blank lines."""
    return "\n".join(_plain_grid(s) if isinstance(s, Grid) else s + "\n" for s in sections)


def _plain_grid(grid: Grid) -> str:
    rows = [grid.columns, *(tuple(_BREAKS.sub(" ", c) for c in r) for r in grid.rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(grid.columns))]
    lines = []
    for row in rows:
        cells = (
            cell.rjust(w) if name in NUMERIC else cell.ljust(w)
            for name, cell, w in zip(grid.columns, row, widths, strict=True)
        )
        lines.append("  ".join(cells).rstrip() + "\n")
    return "".join(lines)


def rich(section: Section) -> Text | Table:
    """One section for a terminal: a boxed table, or the text as written."""
    if not isinstance(section, Grid):
        return Text(section)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in section.columns:
        table.add_column(name, justify="right" if name in NUMERIC else "left")
    for row in section.rows:
        table.add_row(*(Text(c) for c in row))
    return table


def jobs_grid(rows: Iterable[JobRow]) -> Grid:
    """The `kbatch jobs` listing: key, row, state, provider id, error, object location."""
    grid = Grid(("key", "row", "state", "provider id", "error", "object"))
    for row in rows:
        grid.add(
            (
                row.key,
                row.label if row.row_id is not None else row.source,
                row.state.value,
                row.provider_task_id,
                row.error,
                row.object_url,
            )
        )
    return grid


def _groups_grid(title: str, groups: Sequence[GroupTotal]) -> Grid:
    grid = Grid((title, "jobs", "seconds", "estimated", "charged", "USD"))
    for g in groups:
        grid.add(
            (
                g.group,
                str(g.jobs),
                str(g.seconds),
                credits_text(g.estimated_credits),
                credits_text(g.charged_credits),
                usd_text(g.charged_usd),
            )
        )
    return grid


def report_sections(report: BatchReport) -> list[Section]:
    """A batch report: the batch, totals by model and by resolution, then every job."""
    batch = report.batch
    totals = report.totals
    counts = ", ".join(f"{s.value} {n}" for s, n in report.counts.items() if n) or "no jobs"
    head = (
        f"batch {batch.name} (id {batch.id}): {batch.state.value}; {totals.jobs} jobs: {counts}\n"
        f"credits: {credits_text(totals.charged_credits)} charged "
        f"({usd_text(report.charged_usd)}), {credits_text(totals.estimated_credits)} estimated "
        f"({usd_text(report.estimated_usd)}); 1 credit = ${report.credit_usd}"
    )
    jobs = Grid(
        ("job", "state", "model", "resolution", "seconds", "charged", "USD", "prompt", "result")
    )
    for row in report.jobs:
        jobs.add(
            (
                row.label,
                row.state.value,
                row.model,
                row.resolution,
                str(row.seconds),
                credits_text(row.charged_credits),
                usd_text(row.charged_usd),
                row.prompt,
                row.object_url or row.error,
            )
        )
    return [
        head,
        _groups_grid("model", report.by_model),
        _groups_grid("resolution", report.by_resolution),
        jobs,
    ]


def spend_grid(spend: Spend) -> Grid:
    grid = Grid((spend.by, "jobs", "estimated", "charged", "units", "USD"))

    def add(name: str, row: SpendRow) -> None:
        grid.add(
            (
                name,
                str(row.jobs),
                credits_text(row.estimated_credits),
                credits_text(row.charged_credits),
                credits_text(row.charged_units),
                usd_text(row.charged_usd),
            )
        )

    for row in spend.rows:
        add(row.group or "", row)
    add("total", spend.total)
    return grid
