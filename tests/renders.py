"""Manifests the end-to-end tests render: kling-v3, 720p, 5 seconds, one row per prompt."""

from __future__ import annotations

from pathlib import Path

import yaml

DEFAULTS = {"model": "kling-v3", "resolution": "720p", "duration": 5}


def write_renders(path: Path, name: str, prompts: list[str], ids: list[str] | None = None) -> Path:
    """Write a YAML manifest named `name` with one row per prompt (and row id, if given)."""
    rows = [
        {"prompt": prompt} if ids is None else {"id": row_id, "prompt": prompt}
        for prompt, row_id in zip(prompts, ids or prompts, strict=True)
    ]
    text = yaml.safe_dump(
        {"name": name, "defaults": DEFAULTS, "rows": rows}, sort_keys=False, allow_unicode=True
    )
    path.write_text(text, encoding="utf-8")
    return path
