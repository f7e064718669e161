"""`python -m worker.sim`: the same command as `kbatch sim`."""

from __future__ import annotations

import typer

from worker.cli.sim_cmd import sim

if __name__ == "__main__":
    typer.run(sim)
