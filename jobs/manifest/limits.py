"""Bounds that keep a hostile or mistaken manifest from eating the machine."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Size bounds checked while a manifest is read (the file size bound is `max_bytes`)."""

    # Longest single value (CSV cell or YAML scalar); prompts have their own, lower limit.
    max_field_chars: int = 65_536
    # YAML nodes after alias expansion: a "billion laughs" document is refused before it expands.
    max_yaml_nodes: int = 5_000_000
    # Jobs in one manifest, counted before a matrix is expanded.
    max_jobs: int = 1_000_000
    max_takes: int = 100
