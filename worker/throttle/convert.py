"""How values cross between Python and the throttle's Lua scripts."""

from __future__ import annotations


def text(value: bytes | str) -> str:
    """A Redis reply as text, whether or not the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else value


def num(value: float) -> str:
    """A number as a string that Lua and Redis read back exactly (`repr` round-trips)."""
    return repr(float(value))
