"""JSON renderings of the job list, the batch report and the spend report.

Keys are stable: jobs carry `JOB_COLUMNS`, groups carry the names below. Credits and dollars are
exact JSON numbers, times ISO 8601 strings in UTC.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from worker.reports.cells import json_value
from worker.reports.gather import BatchReport, GroupTotal
from worker.reports.rows import JobRow
from worker.reports.spend import SPEND_FIELDS, Spend, SpendRow


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def job_object(row: JobRow) -> dict[str, Any]:
    return {name: json_value(value) for name, value in row.values().items()}


def group_object(group: GroupTotal) -> dict[str, Any]:
    return {
        "group": group.group,
        "jobs": group.jobs,
        "seconds": group.seconds,
        "estimated_credits": json_value(group.estimated_credits),
        "charged_credits": json_value(group.charged_credits),
        "charged_usd": json_value(group.charged_usd),
    }


def jobs_json(rows: Iterable[JobRow]) -> str:
    return _dump([job_object(r) for r in rows])


def report_object(report: BatchReport) -> dict[str, Any]:
    batch = report.batch
    totals = report.totals
    return {
        "batch": batch.name,
        "id": batch.id,
        "state": batch.state.value,
        "manifest": batch.manifest,
        "created_at": json_value(batch.created_at),
        "finished_at": json_value(batch.finished_at),
        "generated_at": json_value(report.generated_at),
        "credit_usd": json_value(report.credit_usd),
        "counts": {state.value: n for state, n in report.counts.items()},
        "totals": {
            "jobs": totals.jobs,
            "estimated_credits": json_value(totals.estimated_credits),
            "charged_credits": json_value(totals.charged_credits),
            "charged_units": json_value(totals.charged_units),
            "estimated_usd": json_value(report.estimated_usd),
            "charged_usd": json_value(report.charged_usd),
        },
        "by_model": [group_object(g) for g in report.by_model],
        "by_resolution": [group_object(g) for g in report.by_resolution],
        "jobs": [job_object(r) for r in report.jobs],
    }


def report_json(report: BatchReport) -> str:
    return _dump(report_object(report))


def _spend_object(row: SpendRow) -> dict[str, Any]:
    return {name: json_value(getattr(row, name)) for name in SPEND_FIELDS}


def spend_json(spend: Spend) -> str:
    return _dump(
        {
            "by": spend.by,
            "since": json_value(spend.since),
            "credit_usd": json_value(spend.credit_usd),
            "rows": [{spend.by: r.group, **_spend_object(r)} for r in spend.rows],
            "total": _spend_object(spend.total),
        }
    )
