"""The `kbatch` entry point: assembles the command groups defined in this package."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from worker.cli import (
    batch_cmds,
    config_cmd,
    control_cmds,
    db_cmds,
    demo_cmd,
    flower_cmd,
    manifest_cmds,
    nightly_cmd,
    report_cmds,
    sim_cmd,
    watch_cmd,
)
from worker.cli.console import err
from worker.settings import Settings

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
app.command("submit")(batch_cmds.submit)
app.command("status")(batch_cmds.status)
app.command("batches")(batch_cmds.batches)
app.command("worker")(batch_cmds.worker)
app.command("demo")(demo_cmd.demo)
app.command("sim")(sim_cmd.sim)
app.add_typer(db_cmds.app, name="db")
manifest_cmds.register(app)
control_cmds.register(app)
nightly_cmd.register(app)
flower_cmd.register(app)
watch_cmd.register(app)
report_cmds.register(app)


def main() -> None:
    """The console script: a settings error is one clear message and exit status 2, no traceback."""
    try:
        app()
    except ValidationError as exc:
        if exc.title not in {
            Settings.__name__,
            "NightlySettings",
            "S3Settings",
            "ProviderSettings",
        }:
            raise
        err.print(f"invalid settings (KBATCH_* environment or .env):\n{_settings_errors(exc)}")
        raise SystemExit(2) from None


def _settings_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = "KBATCH_" + "__".join(str(p) for p in error["loc"]).upper()
        lines.append(f"  {name}: {error['msg']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
