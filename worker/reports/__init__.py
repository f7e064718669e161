"""Reports over the ledger: the jobs of a batch, a batch report, and spend by model, day or batch.

Gathering reads the ledger into plain rows (`rows`, `gather`, `spend`); renderers turn them into
CSV (`csv`), JSON (`json`), Rich tables (`table`) or one self-contained HTML page (`html`, with
its template in `templates/`, an SVG chart from `chart` and links to the stored files from
`links`). The `kbatch jobs`, `kbatch report` and `kbatch credits` commands
(`worker.cli.report_cmds`) put them together.
"""

from worker.reports.gather import BatchReport, GroupTotal, batch_report, job_rows
from worker.reports.links import object_key, playable_url, playable_urls
from worker.reports.rows import JOB_COLUMNS, JobRow
from worker.reports.spend import SPEND_BY, Spend, SpendBy, SpendRow, parse_since, spend

__all__ = [
    "JOB_COLUMNS",
    "SPEND_BY",
    "BatchReport",
    "GroupTotal",
    "JobRow",
    "Spend",
    "SpendBy",
    "SpendRow",
    "batch_report",
    "job_rows",
    "object_key",
    "parse_since",
    "playable_url",
    "playable_urls",
    "spend",
]
