"""`kbatch sim`: run the local Kling API simulator (both dialects) until interrupted."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from worker.cli.console import err
from worker.sim.config import SimConfig, load_accounts_file


def _opt(help_text: str, **kw: Any) -> Any:
    return typer.Option(help=help_text, **kw)


def _rate(help_text: str) -> Any:
    return typer.Option(help=help_text, min=0.0, max=1.0)


def sim(
    host: Annotated[str | None, _opt("Interface to listen on [127.0.0.1].")] = None,
    port: Annotated[int | None, _opt("Port to listen on [8765].")] = None,
    api_key: Annotated[
        list[str] | None, _opt("Static API key of the default account (repeatable).")
    ] = None,
    access_key: Annotated[
        list[str] | None, _opt("Access key (JWT issuer) of the default account (repeatable).")
    ] = None,
    secret_key: Annotated[
        list[str] | None, _opt("Secret key signing the JWTs of the matching --access-key.")
    ] = None,
    accounts_file: Annotated[
        Path | None, _opt("JSON/YAML list of more accounts (name, api_keys, key_pairs, ...).")
    ] = None,
    concurrency: Annotated[
        int | None, _opt("Tasks in flight per account and resource pack [5].", min=0)
    ] = None,
    balance: Annotated[str | None, _opt("Units in the default account [unlimited].")] = None,
    median_seconds: Annotated[
        float | None, _opt("Median generation time of a 5 s std kling-v3 video, simulated s [60].")
    ] = None,
    spread: Annotated[float | None, _opt("Log-normal sigma of generation times [0.35].")] = None,
    time_scale: Annotated[
        float | None, _opt("Wall seconds per simulated second: 0.01 renders 60 s in 0.6 s [1].")
    ] = None,
    seed: Annotated[int | None, _opt("Seed of every random draw [random, printed].")] = None,
    fail_rate: Annotated[float | None, _rate("Share of renders that fail.")] = None,
    create_5xx_rate: Annotated[float | None, _rate("Share of creates answered 500.")] = None,
    query_5xx_rate: Annotated[float | None, _rate("Share of queries answered 500.")] = None,
    lost_response_rate: Annotated[
        float | None, _rate("Creates that make a task, then answer 500 or drop the connection.")
    ] = None,
    drop_rate: Annotated[
        float | None, _rate("Requests whose connection is closed without any response.")
    ] = None,
    refuse_marker: Annotated[
        str | None, _opt("Prompts containing it are refused at create (400/1301) [[[refuse]]].")
    ] = None,
    fail_marker: Annotated[
        str | None, _opt("Prompts containing it fail during generation [[[fail]]].")
    ] = None,
    rps: Annotated[float | None, _opt("Requests per second per account [no limit].")] = None,
    retention_days: Annotated[float | None, _opt("Days result URLs live [30].")] = None,
    public_url: Annotated[str | None, _opt("Base URL of result links [as requested].")] = None,
    webhook_secret: Annotated[
        str | None, _opt("whsec_... secret: sign callbacks with Standard Webhooks headers.")
    ] = None,
    callback_loss_rate: Annotated[float | None, _rate("Share of callbacks not sent.")] = None,
    callback_dup_rate: Annotated[float | None, _rate("Share of callbacks sent twice.")] = None,
    log_level: Annotated[str, _opt("uvicorn's log level.")] = "warning",
) -> None:
    """Run the local Kling API simulator (official and guide dialects) until interrupted."""
    from worker.sim.server import serve

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "api_keys": api_key or None,
        "access_keys": access_key or None,
        "secret_keys": secret_key or None,
        "concurrency": concurrency,
        "balance": Decimal(balance) if balance is not None else None,
        "median_seconds": median_seconds,
        "spread": spread,
        "time_scale": time_scale,
        "seed": seed,
        "fail_rate": fail_rate,
        "create_5xx_rate": create_5xx_rate,
        "query_5xx_rate": query_5xx_rate,
        "lost_response_rate": lost_response_rate,
        "drop_rate": drop_rate,
        "refuse_marker": refuse_marker,
        "fail_marker": fail_marker,
        "rps": rps,
        "retention_days": retention_days,
        "public_url": public_url,
        "webhook_secret": webhook_secret,
        "callback_loss_rate": callback_loss_rate,
        "callback_dup_rate": callback_dup_rate,
    }
    try:
        if accounts_file is not None:
            given["accounts"] = load_accounts_file(accounts_file)
        config = SimConfig(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        # a validation error's own text repeats the input, keys included
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        err.print(f"kbatch sim: {problems}")
        raise typer.Exit(2) from None
    except (ValueError, ArithmeticError, OSError) as exc:
        err.print(f"kbatch sim: {exc}")
        raise typer.Exit(2) from None
    serve(config, log_level=log_level)
