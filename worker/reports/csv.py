"""CSV renderings: one row per job (`JOB_COLUMNS`) or per spend group, with a header line.

A batch report's CSV is its per-job ledger; the totals by model and resolution are in the JSON
and table renderings, and add up from these rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from worker.reports.cells import csv_text
from worker.reports.gather import BatchReport
from worker.reports.rows import JOB_COLUMNS, JobRow
from worker.reports.spend import SPEND_FIELDS, Spend


def _write(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_text(v) for v in row])
    return buffer.getvalue()


def jobs_csv(rows: Iterable[JobRow]) -> str:
    return _write(JOB_COLUMNS, (tuple(r.values().values()) for r in rows))


def report_csv(report: BatchReport) -> str:
    return jobs_csv(report.jobs)


def spend_csv(spend: Spend) -> str:
    """One line per group; the first column is named after the grouping (model, day, batch)."""
    return _write(
        (spend.by, *SPEND_FIELDS),
        ((r.group, *(getattr(r, name) for name in SPEND_FIELDS)) for r in spend.rows),
    )
