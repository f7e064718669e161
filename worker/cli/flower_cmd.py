"""`kbatch flower`: Flower for kbatch's Celery app, behind basic auth from the settings.

Flower shows every task's arguments and can revoke tasks and shut workers down, so it does not
start without credentials (`KBATCH_FLOWER__USER`, `KBATCH_FLOWER__PASSWORD`) unless asked to run
unprotected with `--insecure-local`, which binds 127.0.0.1 only. The password reaches Flower in
its environment (`FLOWER_BASIC_AUTH`, readable only by the same user), never on a command line
that every user of the machine can read with `ps`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated

import typer

from worker.cli.console import err, out
from worker.settings import FlowerSettings

LOOPBACK = "127.0.0.1"
AUTH_ENV = "FLOWER_BASIC_AUTH"
# Flower reads these from the environment too; an unprotected run must not inherit them.
UNSET_WHEN_INSECURE = (AUTH_ENV, "FLOWER_UNAUTHENTICATED_API")
# The task list shows what each task is about: kbatch's messages carry the job id as the argument
# and the batch and job key as keyword arguments.
TASK_COLUMNS = "name,uuid,state,args,kwargs,retries,received,eta,runtime,worker"


class FlowerRefused(Exception):
    """The settings do not allow Flower to start (the message names no secret)."""


@dataclass(frozen=True, slots=True)
class FlowerLaunch:
    """How to start Flower: the `celery` arguments and the environment to run it in."""

    argv: list[str]
    env: dict[str, str] = field(repr=False)
    unset: tuple[str, ...]
    url: str
    protected: bool


def flower_launch(
    settings: FlowerSettings,
    *,
    port: int | None = None,
    address: str | None = None,
    insecure_local: bool = False,
) -> FlowerLaunch:
    """Decide how Flower starts from the settings and options, or refuse (`FlowerRefused`)."""
    user = settings.user or ""
    password = settings.password.get_secret_value() if settings.password else ""
    bind = address or settings.address
    if insecure_local:
        if address is not None and address != LOOPBACK:
            raise FlowerRefused(f"--insecure-local binds {LOOPBACK} only, not {address}")
        bind = LOOPBACK
    env: dict[str, str] = {}
    unset: tuple[str, ...] = ()
    if user or password:
        if not (user and password):
            missing = "KBATCH_FLOWER__PASSWORD" if user else "KBATCH_FLOWER__USER"
            raise FlowerRefused(f"Flower credentials are incomplete: {missing} is not set")
        if ":" in user or "," in user:
            raise FlowerRefused("the Flower user name must not contain ':' or ','")
        if "," in password:
            # Flower splits FLOWER_BASIC_AUTH on commas into several user:password pairs.
            raise FlowerRefused("the Flower password must not contain ','")
        env[AUTH_ENV] = f"{user}:{password}"
    elif not insecure_local:
        raise FlowerRefused(
            "Flower needs credentials: set KBATCH_FLOWER__USER and KBATCH_FLOWER__PASSWORD, "
            f"or pass --insecure-local to run it without a password on {LOOPBACK} only"
        )
    else:
        unset = UNSET_WHEN_INSECURE
    chosen_port = settings.port if port is None else port
    argv = [
        "flower",
        f"--port={chosen_port}",
        f"--address={bind}",
        f"--tasks_columns={TASK_COLUMNS}",
    ]
    return FlowerLaunch(
        argv=argv,
        env=env,
        unset=unset,
        url=f"http://{bind}:{chosen_port}/",
        protected=bool(env),
    )


def flower(
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port [settings].")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Interface to listen on [settings].")
    ] = None,
    insecure_local: Annotated[
        bool,
        typer.Option(
            "--insecure-local", help=f"Run without credentials, listening on {LOOPBACK} only."
        ),
    ] = False,
) -> None:
    """Start Flower (task and worker monitoring) for kbatch's workers, behind basic auth."""
    from worker.logs import configure_logging
    from worker.settings import get_settings

    settings = get_settings()
    try:
        launch = flower_launch(
            settings.flower, port=port, address=address, insecure_local=insecure_local
        )
    except FlowerRefused as exc:
        err.print(f"kbatch flower: {exc}", markup=False)
        raise typer.Exit(2) from None
    configure_logging(settings.log_format, settings.log_level)
    for name in launch.unset:
        os.environ.pop(name, None)
    os.environ.update(launch.env)
    how = "basic auth" if launch.protected else "NO authentication, this machine only"
    out.print(f"Flower at {launch.url} ({how})", markup=False)
    # Imported only now: the app reads the settings (the broker URL) when first imported.
    from worker.celery_app import app

    code: int | None = app.start(launch.argv)
    raise typer.Exit(int(code or 0))


def register(app: typer.Typer) -> None:
    app.command("flower")(flower)
