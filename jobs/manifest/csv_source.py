"""CSV manifests: a header naming row fields, one record per row, defaults from a sidecar.

    id,prompt,model,duration,tag.client
    intro,"A fox, in the ""deep"" snow",kling-v3,5,acme

Quoted values may span lines, contain commas and doubled quotes; the file may be UTF-8 with or
without a BOM and use CRLF or LF line endings. An empty cell leaves the field to the defaults.
`shots` and `tags` cells hold JSON; `tag.<name>` columns add one tag each. Name, defaults and
`rerender` come from `<stem>.yaml` next to the file, when there is one.

Rows are streamed: a record is validated and dropped before the next one is read. Each row
reports the physical line its record starts on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.manifest.errors import IssueLog, ManifestError
from jobs.manifest.fields import FIELDS, TAG_COLUMN_PREFIX, closest, unknown_field
from jobs.manifest.limits import Limits
from jobs.manifest.reading import text_lines
from jobs.manifest.source import UNREADABLE, RawManifest, RawRow
from jobs.manifest.yaml_source import SIDECAR_KEYS, read_yaml

SIDECAR_SUFFIXES = (".yaml", ".yml")

# The csv module's messages, in words a spreadsheet user can act on.
_CSV_MESSAGES = {
    "unexpected end of data": "a quoted value is not closed before the end of the file",
    "',' expected after '\"'": (
        'text follows a closing quote (write a quote inside a quoted value as "")'
    ),
}


def sidecar_of(path: Path) -> Path | None:
    """The YAML sidecar holding a CSV manifest's name and defaults, if there is one."""
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def read_csv(
    path: Path, file: str, *, max_bytes: int, limits: Limits, log: IssueLog
) -> RawManifest:
    raw = RawManifest(file)
    sidecar = sidecar_of(path)
    if sidecar is not None:
        side_file = str(Path(file).with_suffix(sidecar.suffix))
        try:
            side = read_yaml(
                sidecar,
                side_file,
                max_bytes=max_bytes,
                limits=limits,
                log=log,
                allowed=SIDECAR_KEYS,
            )
        except ManifestError as exc:
            for i in exc.issues:
                log.add(i.file, i.line, i.field, i.message)
        else:
            raw.settings, raw.defaults = side.settings, side.defaults
    raw.rows = _records(path, file, max_bytes, limits, log)
    return raw


@dataclass(frozen=True, slots=True)
class _Column:
    """What one column fills: a field or `tag.<name>`; or, for a misspelt header such as
    `promt`, the field it most likely meant, which its rows then treat as in error."""

    name: str | None
    meant: str | None = None


def _columns(header: list[str], file: str, line: int, log: IssueLog) -> list[_Column]:
    columns: list[_Column] = []
    names = {cell.strip() for cell in header}
    seen: set[str] = set()
    for n, cell in enumerate(header, 1):
        name = cell.strip()
        if not name:
            log.add(file, line, f"column {n}", "has no name in the header")
        elif name in seen:
            log.add(file, line, name, "appears twice in the header")
        elif name.startswith(TAG_COLUMN_PREFIX) and not name[len(TAG_COLUMN_PREFIX) :]:
            log.add(file, line, name, "a tag column needs a name after 'tag.'")
        elif name in FIELDS or name.startswith(TAG_COLUMN_PREFIX):
            seen.add(name)
            columns.append(_Column(name))
            continue
        else:
            hint = unknown_field(name)
            if ";" in name or "\t" in name:
                hint += " (the file must be comma-separated)"
            log.add(file, line, name, hint)
            meant = closest(name, FIELDS)
            columns.append(_Column(None, meant if meant not in names else None))
            continue
        columns.append(_Column(None))
    return columns


def _records(
    path: Path, file: str, max_bytes: int, limits: Limits, log: IssueLog
) -> Iterator[RawRow]:
    reader = csv.reader(text_lines(path, file, max_bytes), strict=True)
    start = 1
    columns: list[_Column] | None = None
    # The csv module refuses a value over its own limit (128 KiB) in words that name no column;
    # the file's size bound already bounds memory, so long values reach the check below.
    previous = csv.field_size_limit(max(max_bytes, csv.field_size_limit()))
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # blank line, or a spreadsheet's row of empty cells
            if columns is None:
                columns = _columns(record, file, line, log)
                if not any(c.name for c in columns):
                    return  # no usable column: every row would only repeat that
                continue
            if len(record) > len(columns):
                log.add(
                    file, line, "row", f"has {len(record)} cells; the header has {len(columns)}"
                )
                continue
            values: dict[str, Any] = {}
            for column, cell in zip(columns, record, strict=False):
                name = column.name
                if not cell:
                    continue
                if name is None:
                    if column.meant is not None:
                        values[column.meant] = UNREADABLE
                    continue
                if len(cell) > limits.max_field_chars:
                    log.add(
                        file,
                        line,
                        name,
                        f"is {len(cell):,} characters; the limit is {limits.max_field_chars:,}",
                    )
                    values[name] = UNREADABLE
                    continue
                values[name] = cell
            yield RawRow(line, values)
    except csv.Error as exc:
        text = str(exc)
        log.add(file, start, "csv", _CSV_MESSAGES.get(text, text))
    except ManifestError as exc:
        for i in exc.issues:
            log.add(i.file, i.line, i.field, i.message)
    finally:
        csv.field_size_limit(previous)
