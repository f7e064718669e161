"""The `kbatch` console script: the command line, imported with the garbage collector paused.

A command imports some 800 modules (SQLAlchemy, Celery, redis-py, pydantic) and then runs for a
fraction of a second. While those imports build their objects, the cyclic collector walks the
growing heap again and again, and the interpreter's exit walks all of it once more: together
about 0.2 s of the 0.7 s `kbatch submit` spends on a 200-job manifest (ops/bench/RESULTS.md).
So the collector is paused during the imports, and what they built is then frozen (`gc.freeze`,
the standard library's way to keep objects that live as long as the process out of every
collection, including the last). What the command itself creates is collected as usual.
"""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    try:
        from worker.cli.main import main as run
    finally:
        gc.freeze()
        gc.enable()
    run()
