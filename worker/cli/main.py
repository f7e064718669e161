"""The `kbatch` entry point: assembles the command groups defined in this package."""

from __future__ import annotations

import typer

from worker.cli import config_cmd

app = typer.Typer(
    name="kbatch",
    help="Render batches of Kling AI videos from a manifest, throttled cluster-wide.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Render batches of Kling AI videos from a manifest, throttled cluster-wide."""


app.command("config")(config_cmd.config)


if __name__ == "__main__":
    app()
