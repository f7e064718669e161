"""Safe handling of a composed YAML node tree: bounded alias expansion, then plain values.

The tree is composed (not constructed) so that every value keeps its line. Aliases make the
tree a graph: `bound_expansion` measures it as if every alias were copied out, in time
proportional to the distinct nodes, and refuses a "billion laughs" document before anything is
expanded. `to_python` then builds plain data using only YAML's safe scalar types, refusing
values nested deeper than any manifest needs.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
import yaml.constructor
import yaml.resolver
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from jobs.manifest.fields import FieldError

MAX_DEPTH = 64
_STANDARD = "tag:yaml.org,2002:"
NULL_TAG = _STANDARD + "null"
MERGE_TAG = _STANDARD + "merge"
_SEQ_TAG = _STANDARD + "seq"
_MAP_TAG = _STANDARD + "map"
_SCALAR_TAGS = frozenset(
    _STANDARD + t for t in ("null", "bool", "int", "float", "str", "timestamp")
)
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()

Pair = tuple[Node, Node]


@functools.lru_cache(maxsize=4096)
def _short_scalar_tag(value: str, implicit: tuple[bool, bool]) -> str:
    tag: str = _RESOLVER.resolve(ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


class Loader(yaml.CSafeLoader):
    """libyaml's parser (PyPI's PyYAML wheels include it; several times faster than the pure
    Python one) with YAML's safe types only, resolving each short scalar text (keys, model
    names, numbers: a large manifest repeats them on every row) once."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and len(value) <= 32:
            return _short_scalar_tag(value, tuple(implicit))
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class ExpansionError(ValueError):
    """The document is too large once aliases are expanded, or an alias refers to itself."""

    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.line = node.start_mark.line + 1


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_STANDARD) if tag.startswith(_STANDARD) else tag


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def bound_expansion(root: Node, max_nodes: int) -> int:
    """The node count of `root` with aliases expanded; raises ExpansionError past the bound
    or when an alias refers to the value that contains it."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk: a recursive one would hit Python's recursion limit first.
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(k)] for k in _children(node))
            if size > max_nodes:
                raise ExpansionError(
                    f"the document expands to more than {max_nodes:,} values (too many aliases?)",
                    node,
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ExpansionError("an alias refers to the value that contains it", node)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in sizes)
    return sizes[id(root)]


def _too_deep(depth: int) -> None:
    # Converting nests one Python call per level; a bound far below the recursion limit.
    if depth > MAX_DEPTH:
        raise FieldError(f"is nested more than {MAX_DEPTH} levels deep")


def merged_pairs(node: MappingNode, depth: int = 0) -> tuple[list[Pair], list[Pair]]:
    """The pairs `<<` merge keys bring in, and the mapping's own pairs, as YAML specifies:
    own keys win over merged ones, and earlier merged mappings over later ones (in a dict
    built from `merged + own`, later pairs win). The node tree is left as it is."""
    _too_deep(depth)
    merged: list[Pair] = []
    own: list[Pair] = []
    for key, value in node.value:
        if key.tag != MERGE_TAG:
            own.append((key, value))
            continue
        if isinstance(value, MappingNode):
            sources = [value]
        elif isinstance(value, SequenceNode) and all(
            isinstance(v, MappingNode) for v in value.value
        ):
            sources = list(value.value)
        else:
            raise FieldError("a merge key (<<) takes a mapping or a list of mappings")
        for source in reversed(sources):
            sub_merged, sub_own = merged_pairs(source, depth + 1)
            merged.extend(sub_merged + sub_own)
    return merged, own


def flatten(node: MappingNode, depth: int = 0) -> list[Pair]:
    merged, own = merged_pairs(node, depth)
    return merged + own


def key_text(node: Node) -> str:
    if isinstance(node, ScalarNode) and node.tag != NULL_TAG:
        return str(node.value)
    raise FieldError("mapping keys must be text")


def to_python(node: Node, *, max_chars: int, as_written: bool = False, depth: int = 0) -> Any:
    """Plain data for `node`; with `as_written`, non-null scalars stay text exactly as written.

    Only call after `bound_expansion` has accepted the tree: this walk copies aliases out.
    """
    if isinstance(node, ScalarNode):
        text = str(node.value)
        if len(text) > max_chars:
            raise FieldError(f"is {len(text):,} characters; the limit is {max_chars:,}")
        if node.tag not in _SCALAR_TAGS:
            raise FieldError(f"uses the unsupported YAML tag {_short_tag(node.tag)}")
        if node.tag == NULL_TAG:
            return None
        if as_written:
            return text
        return _CONSTRUCTOR.yaml_constructors[node.tag](_CONSTRUCTOR, node)
    _too_deep(depth)
    if isinstance(node, SequenceNode):
        if node.tag != _SEQ_TAG:
            raise FieldError(f"uses the unsupported YAML tag {_short_tag(node.tag)}")
        return [
            to_python(n, max_chars=max_chars, as_written=as_written, depth=depth + 1)
            for n in node.value
        ]
    if isinstance(node, MappingNode):
        if node.tag != _MAP_TAG:
            raise FieldError(f"uses the unsupported YAML tag {_short_tag(node.tag)}")
        return {
            key_text(k): to_python(v, max_chars=max_chars, as_written=as_written, depth=depth + 1)
            for k, v in flatten(node, depth)
        }
    raise FieldError(f"is an unsupported YAML node {type(node).__name__}")  # pragma: no cover
