"""Rich consoles that stay plain (no colour, no live display) when not on a terminal."""

from __future__ import annotations

import sys

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def is_interactive() -> bool:
    return out.is_terminal and sys.stdout.isatty()
