"""`kbatch config`: the effective settings, secrets masked."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import BaseModel, SecretStr
from pydantic_core import to_jsonable_python

from worker.cli.console import out
from worker.settings import Settings, mask_url


def effective_settings(model: BaseModel) -> dict[str, Any]:
    """The settings as plain data; secrets masked (a URL keeps all but its password)."""
    data: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            data[name] = effective_settings(value)
        elif isinstance(value, SecretStr):
            raw = value.get_secret_value()
            data[name] = mask_url(raw) if name.endswith("_url") else "**********"
        else:
            data[name] = to_jsonable_python(value)
    return data


def config(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the effective settings with every secret masked."""
    data = effective_settings(Settings())
    if as_json:
        out.print_json(json.dumps(data))
        return
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                out.print(f"{key}.{sub} = {v}")
        else:
            out.print(f"{key} = {value}")
