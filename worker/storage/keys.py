"""Object keys for stored videos and sidecars: built from a safe alphabet, checked on every use.

A video's key is `<batch>/<job key>.<ext>`, or `<batch>/<row id>--<job key>.<ext>` when the
manifest row has an id; its sidecar is the same key ending in `.json`. Batch names and row ids are
slugified to `[A-Za-z0-9_-]`; a batch name that had to change gains a short hash of the original,
so that two batch names never share a folder by accident.

`check_key` is the rule every backend applies before touching a key, whatever built it: segments
from the safe alphabet, no `..`, nothing absolute, no backslash, NUL, control character or `%`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from worker.storage.base import UnsafeKey

MAX_KEY_CHARS = 512
MAX_SLUG_CHARS = 64
ROW_SEPARATOR = "--"

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_JOB_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_EXT = re.compile(r"[a-z0-9]{1,10}")
_NOT_SLUG = re.compile(r"[^A-Za-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")
_HASH_CHARS = 8


def slugify(text: str, *, max_chars: int = MAX_SLUG_CHARS) -> str:
    """`text` reduced to `[A-Za-z0-9_-]`, without doubled dashes or leading/trailing `-`/`_`.

    Accents are dropped (`é` becomes `e`); every other run of characters outside the alphabet,
    dots and slashes included, becomes one `-`. The result may be empty.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _DASHES.sub("-", _NOT_SLUG.sub("-", ascii_text)).strip("-_")
    return slug[:max_chars].rstrip("-_")


def batch_segment(batch: str) -> str:
    """The folder name of a batch: its slug, plus a hash of the name when slugifying changed it."""
    if not batch:
        raise UnsafeKey("a batch name cannot be empty")
    slug = slugify(batch)
    if slug == batch:
        return slug
    digest = hashlib.sha256(batch.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    return f"{slug}-{digest}" if slug else digest


def object_key(batch: str, job_key: str, ext: str, *, row_id: str | None = None) -> str:
    """The key of one job's output: `<batch>/[<row id>--]<job key>.<ext>`."""
    if _JOB_KEY.fullmatch(job_key) is None:
        raise UnsafeKey(f"job key {_shown(job_key)} is not a plain token")
    extension = ext.removeprefix(".").lower()
    if _EXT.fullmatch(extension) is None:
        raise UnsafeKey(f"extension {_shown(ext)} is not 1-10 letters or digits")
    name = job_key
    if row_id is not None:
        row_slug = slugify(row_id)
        if row_slug:
            name = f"{row_slug}{ROW_SEPARATOR}{job_key}"
    return check_key(f"{batch_segment(batch)}/{name}.{extension}")


def sidecar_key(key: str) -> str:
    """The key of the JSON document kept beside the object `key` (`a/b.mp4` -> `a/b.json`)."""
    check_key(key)
    folder, _, name = key.rpartition("/")
    stem = name.rpartition(".")[0] or name
    sidecar = f"{stem}.json" if f"{stem}.json" != name else f"{stem}.sidecar.json"
    return check_key(f"{folder}/{sidecar}" if folder else sidecar)


def check_key(key: str) -> str:
    """`key` itself if it is safe to use under any root or prefix; `UnsafeKey` otherwise."""
    if not isinstance(key, str) or not key:
        raise UnsafeKey("a key must be a non-empty string")
    if len(key) > MAX_KEY_CHARS:
        raise UnsafeKey(f"key {_shown(key)} is longer than {MAX_KEY_CHARS} characters")
    for segment in key.split("/"):
        # The segment rule alone excludes empty, absolute, `.`/`..`, backslash, NUL, control
        # characters and `%`-encoding; `..` inside a segment is refused as well, so that no
        # later normalisation step (or a confused reader) can see traversal in it.
        if _SEGMENT.fullmatch(segment) is None or ".." in segment:
            raise UnsafeKey(f"key {_shown(key)} is not made of safe path segments")
    return key


def _shown(text: str) -> str:
    """A bounded, escaped rendering of untrusted text for messages."""
    return repr(text[:80] + ("..." if len(text) > 80 else ""))
