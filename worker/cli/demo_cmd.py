"""`kbatch demo`: render the demo manifest end to end on one machine, on embedded defaults.

Starts a private Redis (or uses the configured one when redis-server is absent), the simulator and
one worker process per queue, submits `manifests/examples/demo.yaml`, follows it live and prints
where the videos are and what they cost. Nothing leaves the machine and no credit is spent.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from jobs.ledger import Ledger
from worker.cli.console import err, out
from worker.cli.progress import credits as credits_text

DEMO_MANIFEST = Path("manifests/examples/demo.yaml")
DEMO_WORKDIR = Path("var/demo")
SCALE_HELP = "Wall seconds per simulated second (0.02: a 60 s render takes 1.2 s)."


def demo(
    manifest: Annotated[
        Path, typer.Option("--manifest", help="Manifest to render.")
    ] = DEMO_MANIFEST,
    workdir: Annotated[
        Path, typer.Option("--workdir", help="Ledger, videos and logs.")
    ] = DEMO_WORKDIR,
    time_scale: Annotated[float, typer.Option("--time-scale", help=SCALE_HELP)] = 0.02,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Give up after this many seconds.")
    ] = 300.0,
) -> None:
    """Render the demo manifest against the local simulator and show where the videos went."""
    from worker.settings import get_settings
    from worker.stack import local_stack

    if workdir.exists():
        shutil.rmtree(workdir)
    redis_url = (
        None if shutil.which("redis-server") else get_settings().redis_url.get_secret_value()
    )
    sim_args = ["--time-scale", str(time_scale), "--seed", "7", "--concurrency", "5"]
    out.print(f"starting the simulator, Redis and workers in {workdir} ...")
    with local_stack(workdir.resolve(), sim_args=sim_args, redis_url=redis_url) as stack:
        stack.apply_env()
        get_settings.cache_clear()
        # Imported only now: the Celery app reads the stack's settings when first imported.
        from worker.batches import submit_manifest
        from worker.cli.manifest_cmds import load_or_exit
        from worker.cli.progress import follow
        from worker.tasks import context

        loaded = load_or_exit(manifest, [])
        ctx = context()
        batch = submit_manifest(ctx, loaded)
        out.print(f"batch {batch.name}: {len(loaded.jobs)} jobs submitted")
        last = follow(ctx.ledger, batch.id, timeout=timeout)
        _summary(ctx.ledger, batch.id, ctx.prices.credit_usd)
        if last.final < last.total:
            err.print(f"the demo did not finish within {timeout:.0f}s; logs in {stack.logs}")
            raise typer.Exit(1)


def _where(url: str | None) -> str:
    """A stored object's location, relative to the current folder when it is a local file."""
    if url is None or not url.startswith("file://"):
        return url or ""
    path = Path(url.removeprefix("file://"))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _summary(ledger: Ledger, batch_id: int, credit_usd: Decimal) -> None:
    jobs = ledger.jobs(batch_id)
    width = max((len(j.row_id or j.key) for j in jobs), default=0) + 6
    out.print("rendered:")
    for job in jobs:
        name = f"{job.row_id or job.key}#{job.take}" if job.take > 1 else (job.row_id or job.key)
        credits = credits_text(job.charged_credits) if job.charged_credits is not None else "0"
        where = _where(job.object_url) if job.object_url else f"({job.error})"
        out.print(
            f"  {name:{width}} {job.spec.model:12} {job.state.value:8} {credits:>6} credits  "
            f"{where}"
        )
    totals = ledger.totals(batch_id)
    usd = (totals.charged_credits * credit_usd).quantize(Decimal("0.01"))
    out.print(
        f"charged {credits_text(totals.charged_credits)} credits (about ${usd}) for "
        f"{credits_text(totals.charged_units) if totals.charged_units else 0} provider units"
    )
