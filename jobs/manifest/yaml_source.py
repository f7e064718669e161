"""YAML manifests (and CSV sidecars): name, defaults, rows and an optional matrix, with lines.

    name: spring-campaign
    rerender: false
    defaults: {model: kling-v3, resolution: 1080p}
    rows:
      - {id: intro, prompt: "A fox in the snow", duration: 5}
    matrix: {...}              # see jobs.manifest.expand

The document is composed into nodes (safe tags only, aliases bounded) rather than loaded, so
every row and matrix value keeps the line it was written on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from jobs.manifest.errors import Issue, IssueLog, ManifestError
from jobs.manifest.expand import Axis, Matrix, check_excludes, expand
from jobs.manifest.fields import (
    AS_WRITTEN,
    FIELDS,
    FieldError,
    Kind,
    closest,
    did_you_mean,
    unknown_field,
)
from jobs.manifest.limits import Limits
from jobs.manifest.reading import read_text
from jobs.manifest.source import SETTINGS, UNREADABLE, Located, RawManifest, RawRow
from jobs.manifest.yaml_nodes import (
    NULL_TAG,
    ExpansionError,
    Loader,
    bound_expansion,
    key_text,
    merged_pairs,
    to_python,
)

MANIFEST_KEYS = (*SETTINGS, "defaults", "rows", "matrix")
SIDECAR_KEYS = (*SETTINGS, "defaults")
EXCLUDE_KEY = "exclude"


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Reader:
    """Walks one composed document, logging problems as it goes."""

    def __init__(self, file: str, limits: Limits, log: IssueLog) -> None:
        self.file = file
        self.limits = limits
        self.log = log

    def issue(self, line: int | None, field: str, message: str) -> None:
        self.log.add(self.file, line, field, message)

    def value(self, name: str, node: Node) -> Any:
        """The raw value of row field `name`; text fields keep plain scalars as written."""
        verbatim = isinstance(node, ScalarNode) and FIELDS[name] in AS_WRITTEN
        try:
            return to_python(
                node,
                max_chars=self.limits.max_field_chars,
                as_written=verbatim or FIELDS[name] is Kind.SHOTS,
            )
        except FieldError as exc:
            self.issue(_line(node), name, str(exc))
            return UNREADABLE

    def pairs(self, node: MappingNode, where: str) -> Iterator[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, merges applied; a key written twice in
        the mapping itself is an error (one that only overrides a merged key is not)."""
        try:
            merged, own = merged_pairs(node)
        except FieldError as exc:
            self.issue(_line(node), where, str(exc))
            return
        found: dict[str, tuple[Node, Node]] = {}
        written: set[str] = set()
        for n, (key_node, value_node) in enumerate(merged + own):
            try:
                key = key_text(key_node)
            except FieldError as exc:
                self.issue(_line(key_node), where, str(exc))
                continue
            if n >= len(merged):
                if key in written:
                    self.issue(_line(key_node), key, "is given twice")
                    continue
                written.add(key)
            found[key] = (key_node, value_node)
        for key, (key_node, value_node) in found.items():
            yield key, key_node, value_node

    def fields(self, node: MappingNode, where: str) -> dict[str, tuple[Any, int]]:
        """Row fields of a mapping (defaults, an exclude entry), each with its key's line."""
        found: dict[str, tuple[Any, int]] = {}
        misspelt: dict[str, int] = {}
        for key, key_node, value_node in self.pairs(node, where):
            if key not in FIELDS:
                self._unknown(_line(key_node), key, misspelt)
                continue
            found[key] = (self.value(key, value_node), _line(key_node))
        for name, line in misspelt.items():
            found.setdefault(name, (UNREADABLE, line))
        return found

    def row(self, node: Node) -> RawRow | None:
        line = _line(node)
        if not isinstance(node, MappingNode):
            self.issue(line, "rows", "each row must be a mapping of fields")
            return None
        values: dict[str, Any] = {}
        misspelt: dict[str, int] = {}
        for key, _, value_node in self.pairs(node, "rows"):
            # Row problems are reported at the row's first line, like CSV rows.
            if key not in FIELDS:
                self._unknown(line, key, misspelt)
                continue
            values[key] = self.value(key, value_node)
        for name in misspelt:
            values.setdefault(name, UNREADABLE)
        return RawRow(line, values)

    def _unknown(self, line: int, key: str, misspelt: dict[str, int]) -> None:
        """Log an unknown field; a near miss (`promt`) marks the field it meant as in error,
        so that it is not reported missing as well."""
        self.issue(line, key, unknown_field(key))
        meant = closest(key, FIELDS)
        if meant is not None:
            misspelt[meant] = line

    def rows(self, node: Node) -> list[RawRow]:
        if not isinstance(node, SequenceNode):
            self.issue(_line(node), "rows", "must be a list of rows")
            return []
        return [r for r in (self.row(n) for n in node.value) if r is not None]

    def matrix(self, line: int, node: Node) -> Matrix | None:
        """The matrix written at `line` (rows expanded from it alone report that line)."""
        if not isinstance(node, MappingNode):
            self.issue(line, "matrix", "must map fields to lists of values")
            return None
        matrix = Matrix(line)
        for key, key_node, value_node in self.pairs(node, "matrix"):
            # A bad entry is logged and left out; the rest still expands so that the rows'
            # own problems are reported in the same run.
            if key == EXCLUDE_KEY:
                self._excludes(matrix, value_node)
            elif key not in FIELDS:
                self.issue(_line(key_node), key, unknown_field(key, (*FIELDS, EXCLUDE_KEY)))
            elif not isinstance(value_node, SequenceNode) or not value_node.value:
                self.issue(_line(key_node), key, "a matrix field must list one or more values")
            else:
                values = [(self.value(key, n), _line(n)) for n in value_node.value]
                matrix.axes.append(Axis(key, values))
        if not matrix.axes:
            self.issue(matrix.line, "matrix", "lists no fields to vary")
            return None
        return matrix

    def _excludes(self, matrix: Matrix, node: Node) -> None:
        if not isinstance(node, SequenceNode):
            self.issue(_line(node), EXCLUDE_KEY, "must be a list of field mappings")
            return
        for item in node.value:
            if not isinstance(item, MappingNode):
                self.issue(_line(item), EXCLUDE_KEY, "each entry must be a mapping of fields")
                continue
            found = self.fields(item, EXCLUDE_KEY).items()
            entry = {k: v for k, (v, _) in found if v is not UNREADABLE}
            matrix.excludes.append((entry, _line(item)))


def compose(text: str, file: str, max_nodes: int) -> Node | None:
    """The document's node tree (None when empty); raises ManifestError when unreadable."""
    try:
        node: Node | None = yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = exc.problem or "is not valid YAML"
        if exc.context:
            message = f"{message} ({exc.context})"
        raise ManifestError([Issue(file, line, "yaml", message)]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Issue(file, None, "yaml", str(exc))]) from None
    # Only anchors make aliases, so a document without `&` is a plain tree, no larger than
    # its text; the walk that bounds alias expansion is skipped for it.
    if node is not None and "&" in text:
        try:
            bound_expansion(node, max_nodes)
        except ExpansionError as exc:
            raise ManifestError([Issue(file, exc.line, "yaml", str(exc))]) from None
    return node


def read_yaml(
    path: Path,
    file: str,
    *,
    max_bytes: int,
    limits: Limits,
    log: IssueLog,
    allowed: tuple[str, ...] = MANIFEST_KEYS,
) -> RawManifest:
    """Read a YAML manifest (or, with `allowed=SIDECAR_KEYS`, a CSV sidecar)."""
    text = read_text(path, file, max_bytes)
    root = compose(text, file, limits.max_yaml_nodes)
    raw = RawManifest(file)
    if root is None:
        return raw
    reader = _Reader(file, limits, log)
    if not isinstance(root, MappingNode):
        reader.issue(_line(root), "yaml", "a manifest is a mapping with name, defaults and rows")
        return raw
    rows: list[RawRow] = []
    matrix: Matrix | None = None
    for key, key_node, value_node in reader.pairs(root, "manifest"):
        line = _line(key_node)
        if key not in allowed:
            if key in MANIFEST_KEYS:
                message = "is not allowed in a CSV sidecar, which holds " + ", ".join(allowed)
            else:
                message = f"unknown manifest key{did_you_mean(key, allowed)}"
            reader.issue(line, key, message)
        elif key in SETTINGS:
            try:
                value = to_python(
                    value_node, max_chars=limits.max_field_chars, as_written=key != "rerender"
                )
            except FieldError as exc:
                reader.issue(line, key, str(exc))
                continue
            raw.settings[key] = Located(value, file, line)
        elif key == "defaults":
            if isinstance(value_node, MappingNode):
                for name, (value, at) in reader.fields(value_node, "defaults").items():
                    raw.defaults[name] = Located(value, file, at)
            elif not (isinstance(value_node, ScalarNode) and value_node.tag == NULL_TAG):
                reader.issue(line, "defaults", "must be a mapping of fields")
        elif key == "rows":
            rows = reader.rows(value_node)
        else:
            matrix = reader.matrix(line, value_node)
    raw.rows = _rows(rows, matrix, file, limits, log)
    return raw


def _rows(
    rows: list[RawRow], matrix: Matrix | None, file: str, limits: Limits, log: IssueLog
) -> Iterator[RawRow]:
    if matrix is None:
        yield from rows
        return
    check_excludes(matrix, file, log)
    total = max(1, len(rows)) * matrix.size()
    if total > limits.max_jobs:
        log.add(
            file, matrix.line, "matrix", f"makes {total:,} rows; the limit is {limits.max_jobs:,}"
        )
        return
    yield from expand(rows, matrix, file, log)
