"""Reading a manifest file's text: bounded size, UTF-8 (BOM or not), no NUL bytes.

YAML files are read whole (the YAML parser wants the whole text); CSV files are streamed line by
line so that a large manifest never sits in memory twice. Either way a problem is reported with
the line it is on.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from jobs.manifest.errors import Issue, ManifestError

_BOM = b"\xef\xbb\xbf"
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes surrogateescape could not decode


def _fail(file: str, line: int | None, message: str) -> ManifestError:
    return ManifestError([Issue(file, line, "file", message)])


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_size(path: Path, file: str, max_bytes: int) -> None:
    """Refuse a file that is missing, not a regular file, or larger than `max_bytes`."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise _fail(file, None, "no such file") from None
    except OSError as exc:
        raise _fail(file, None, f"cannot be read ({exc.strerror})") from None
    if not path.is_file():
        raise _fail(file, None, "is not a regular file")
    if stat.st_size > max_bytes:
        raise _fail(
            file, None, f"is {_megabytes(stat.st_size)}; the limit is {_megabytes(max_bytes)}"
        )


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes, file: str) -> str:
    """`data` as text: a NUL byte or invalid UTF-8 is an error on the line where it occurs."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise _fail(file, _line_of_offset(data, nul), "contains a NUL byte (is this a text file?)")
    start = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = start + exc.start
        raise _fail(
            file,
            _line_of_offset(data, at),
            f"is not valid UTF-8 (byte 0x{data[at]:02x} at offset {at}); save it as UTF-8",
        ) from None


def read_text(path: Path, file: str, max_bytes: int) -> str:
    """The whole file as text, after the size, NUL and UTF-8 checks."""
    check_size(path, file, max_bytes)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise _fail(file, None, f"cannot be read ({exc.strerror})") from None
    if len(data) > max_bytes:  # the file grew after it was checked
        raise _fail(file, None, f"is larger than the limit of {_megabytes(max_bytes)}")
    return decode(data, file)


def text_lines(path: Path, file: str, max_bytes: int) -> Iterator[str]:
    """The file's physical lines with their endings (`\\n`, `\\r\\n` or `\\r`), streamed.

    A NUL byte or invalid UTF-8 ends the stream with an error naming its line; the lines
    before it have been read (and their rows checked) by then.
    """
    check_size(path, file, max_bytes)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise _fail(file, None, f"cannot be read ({exc.strerror})") from None
    with raw:
        # newline="" keeps line endings as they are: the csv module needs them inside quoted
        # fields, and lines are then split only at \n, \r\n and \r, never at U+2028 and the like.
        # surrogateescape turns a bad byte into a lone surrogate (which valid UTF-8 never
        # yields) instead of failing a whole 8 KB chunk, so its line can be named.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        chars = 0
        for number, line in enumerate(text, 1):
            chars += len(line)
            if "\0" in line:
                raise _fail(file, number, "contains a NUL byte (is this a text file?)")
            bad = _ESCAPED.search(line)
            if bad is not None:
                byte = ord(bad.group()) - 0xDC00
                raise _fail(
                    file, number, f"is not valid UTF-8 (byte 0x{byte:02x}); save it as UTF-8"
                )
            if chars > max_bytes:
                raise _fail(file, None, f"is larger than the limit of {_megabytes(max_bytes)}")
            yield line
