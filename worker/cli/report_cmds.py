"""`kbatch jobs`, `kbatch report` and `kbatch credits`: what the ledger says was rendered and spent.

Tables are for people: boxed on a terminal, and elsewhere plain columns with one line per row, so
they can be grepped. CSV and JSON keep stable column names for scripts. `report --format html`
writes one self-contained page with the rendered videos. An unknown batch, a bad `--since`, or a
storage or price table that cannot be used exits with status 2 and a one-line message.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from jobs.ledger.states import JobState
from jobs.pricing import PriceError, load_price_table
from worker.cli.batch_cmds import find_batch, open_ledger
from worker.cli.console import err, is_interactive, out
from worker.reports import batch_report, job_rows, parse_since, playable_urls, spend
from worker.reports import csv as csv_out
from worker.reports import html as html_out
from worker.reports import json as json_out
from worker.reports import table as table_out
from worker.reports.spend import SpendBy
from worker.settings import Settings, get_settings
from worker.storage import Storage, StorageError, open_storage

EXIT_USAGE = 2

BatchArg = Annotated[str, typer.Argument(help="Batch name or id.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]


class DataFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    HTML = "html"


class GroupBy(StrEnum):
    MODEL = "model"
    DAY = "day"
    BATCH = "batch"


_SPEND_BY: dict[GroupBy, SpendBy] = {
    GroupBy.MODEL: "model",
    GroupBy.DAY: "day",
    GroupBy.BATCH: "batch",
}


def _fail(message: str) -> typer.Exit:
    err.print(message, markup=False, highlight=False, emoji=False)
    return typer.Exit(EXIT_USAGE)


def _credit_usd(settings: Settings) -> Decimal:
    try:
        return load_price_table(settings.price_table).credit_usd
    except PriceError as exc:
        raise _fail(f"cannot read the price table: {exc}") from None


def _storage(settings: Settings) -> Storage:
    try:
        return open_storage(settings)
    except StorageError as exc:
        raise _fail(f"cannot open the storage: {exc}") from None


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
    err.print(f"wrote {output}", markup=False, highlight=False)


def _show(sections: Sequence[table_out.Section], output: Path | None = None) -> None:
    if output is None and is_interactive():
        for i, section in enumerate(sections):
            if i:
                out.print()
            out.print(table_out.rich(section))
        return
    _emit(table_out.plain(sections), output)


def jobs(
    batch: BatchArg,
    states: Annotated[
        list[JobState] | None,
        typer.Option("--state", "-s", help="Only jobs in this state; repeat for several."),
    ] = None,
    fmt: Annotated[
        DataFormat, typer.Option("--format", "-f", help="table, csv or json.")
    ] = DataFormat.TABLE,
) -> None:
    """List a batch's jobs: key, row, state, provider id, error and where the result is stored."""
    settings = get_settings()
    with open_ledger() as ledger:
        record = find_batch(ledger, batch)
        rows = list(job_rows(ledger, record, _credit_usd(settings), states or None))
    if fmt is DataFormat.CSV:
        _emit(csv_out.jobs_csv(rows), None)
    elif fmt is DataFormat.JSON:
        _emit(json_out.jobs_json(rows), None)
    else:
        _show([table_out.jobs_grid(rows)])


def report(
    batch: BatchArg,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="table, csv, json or html.")
    ] = ReportFormat.TABLE,
    output: OutputOpt = None,
    gallery_limit: Annotated[
        int,
        typer.Option("--gallery-limit", min=0, help="HTML: show at most this many files."),
    ] = html_out.DEFAULT_GALLERY_LIMIT,
    expires: Annotated[
        int | None,
        typer.Option(
            "--expires",
            min=60,
            help="HTML on S3: seconds presigned links work (default: KBATCH_S3__PRESIGN_SECONDS).",
        ),
    ] = None,
) -> None:
    """A batch's per-job ledger with totals by model and resolution, or an HTML page of it.

    The HTML page is one file needing no network: counts, a credits chart, the stored files.

    On S3 its links are presigned URLs: they carry the access key id, never the secret key.
    """
    settings = get_settings()
    with open_ledger() as ledger:
        record = find_batch(ledger, batch)
        data = batch_report(ledger, record, _credit_usd(settings))
    if fmt is ReportFormat.CSV:
        _emit(csv_out.report_csv(data), output)
    elif fmt is ReportFormat.JSON:
        _emit(json_out.report_json(data), output)
    elif fmt is ReportFormat.HTML:
        storage = _storage(settings)
        shown = html_out.gallery_rows(data.jobs, gallery_limit)
        urls = playable_urls(storage, shown, expires_s=expires)
        _emit(
            html_out.render_html(
                data, urls, notes=_link_notes(storage, expires), gallery_limit=gallery_limit
            ),
            output,
        )
    else:
        _show(table_out.report_sections(data), output)


def _link_notes(storage: Storage, expires: int | None) -> list[str]:
    from worker.storage.s3 import S3Storage  # boto3: imported only for this page

    where = f"Files are read from {storage.describe()}."
    if not isinstance(storage, S3Storage):
        return [where, "Links are local file paths: open this page on the machine that holds them."]
    seconds = expires if expires is not None else storage.presign_seconds
    return [
        where,
        f"Links are presigned S3 URLs that stop working {_duration(seconds)} after this page was "
        "made. Each carries the access key id and a signature, never the secret key; anyone "
        "holding the page can fetch the files until then.",
    ]


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{seconds} seconds"


def credits(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only jobs finished since this UTC date or ISO time."),
    ] = None,
    by: Annotated[GroupBy, typer.Option("--by", help="model, day or batch.")] = GroupBy.MODEL,
    fmt: Annotated[
        DataFormat, typer.Option("--format", "-f", help="table, csv or json.")
    ] = DataFormat.TABLE,
) -> None:
    """Credits spent (jobs stored or failed), and their value in USD, by model, day or batch."""
    try:
        start = None if since is None else parse_since(since)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings = get_settings()
    credit_usd = _credit_usd(settings)
    with open_ledger() as ledger:
        data = spend(ledger, by=_SPEND_BY[by], since=start, credit_usd=credit_usd)
    if fmt is DataFormat.CSV:
        _emit(csv_out.spend_csv(data), None)
    elif fmt is DataFormat.JSON:
        _emit(json_out.spend_json(data), None)
    else:
        _show([table_out.spend_grid(data)])


def register(app: typer.Typer) -> None:
    app.command("jobs")(jobs)
    app.command("report")(report)
    app.command("credits")(credits)
