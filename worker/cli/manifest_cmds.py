"""`kbatch validate` and `kbatch estimate`: check manifests and price them before rendering.

Both exit with status 2 when a manifest (or the price table) is in error, after printing every
problem to stderr as `file:line: field: message`; no traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from jobs.manifest import Issue, Manifest, ManifestError, load_manifest
from jobs.pricing import Estimate, PriceError, Subtotal, estimate, load_price_table, usd_cents
from worker.cli.console import err, is_interactive, out
from worker.settings import Settings

EXIT_INVALID = 2
OVERRIDES_SOURCE = "--set"

SET_HELP = "Set a default for every row (rows still win), or name/rerender: field=value."
ROOT_HELP = "Folder local images may also be read from (besides the manifest's own)."
TABLE_HELP = "Price table YAML (default: KBATCH_PRICE_TABLE, else the built-in table)."


def _plain(console: Console, text: str) -> None:
    # User text (prompts, field names) must never be read as Rich markup or emoji codes.
    console.print(text, markup=False, emoji=False, highlight=False)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def parse_sets(values: Sequence[str]) -> dict[str, str]:
    """`field=value` pairs from `--set`; raises ManifestError for one without `=`."""
    pairs: dict[str, str] = {}
    issues = []
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            issues.append(Issue(OVERRIDES_SOURCE, None, item, "expected field=value"))
            continue
        pairs[name.strip()] = value
    if issues:
        raise ManifestError(issues)
    return pairs


def print_issues(error: ManifestError) -> None:
    for issue in error.issues:
        _plain(err, str(issue))


def print_warnings(manifest: Manifest) -> None:
    for warning in manifest.warnings:
        _plain(err, f"warning: {warning}")


def load_or_exit(
    path: Path,
    sets: Sequence[str] = (),
    image_roots: Sequence[Path] = (),
    *,
    show_warnings: bool = True,
) -> Manifest:
    """The manifest at `path`, or every problem on stderr and exit status 2."""
    try:
        manifest = load_manifest(path, overrides=parse_sets(sets), image_roots=image_roots)
    except ManifestError as exc:
        print_issues(exc)
        raise typer.Exit(EXIT_INVALID) from None
    if show_warnings:
        print_warnings(manifest)
    return manifest


def validate(
    manifests: Annotated[list[Path], typer.Argument(help="Manifest files (YAML or CSV).")],
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    image_roots: Annotated[list[Path] | None, typer.Option("--image-root", help=ROOT_HELP)] = None,
) -> None:
    """Check manifests and print how many jobs each makes; every error is listed."""
    failed = False
    for path in manifests:
        try:
            manifest = load_manifest(
                path, overrides=parse_sets(sets or ()), image_roots=image_roots or ()
            )
        except ManifestError as exc:
            print_issues(exc)
            _plain(out, f"{path}: invalid, {_count(len(exc.issues), 'error')}")
            failed = True
            continue
        print_warnings(manifest)
        extra = ", rerender" if manifest.rerender else ""
        _plain(out, f"{path}: {_count(len(manifest.jobs), 'job')} ({manifest.name}{extra})")
    if failed:
        raise typer.Exit(EXIT_INVALID)


def estimate_cmd(
    manifest_path: Annotated[
        Path, typer.Argument(metavar="MANIFEST", help="Manifest file (YAML or CSV).")
    ],
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    price_table: Annotated[Path | None, typer.Option("--price-table", help=TABLE_HELP)] = None,
    image_roots: Annotated[list[Path] | None, typer.Option("--image-root", help=ROOT_HELP)] = None,
) -> None:
    """Print what a manifest will cost: jobs, credits and USD by model and resolution."""
    manifest = load_or_exit(manifest_path, sets or (), image_roots or ())
    try:
        table = load_price_table(price_table or Settings().price_table)
        result = estimate(manifest.jobs, table)
    except PriceError as exc:
        for line in str(exc).splitlines():
            _plain(err, line)
        raise typer.Exit(EXIT_INVALID) from None
    if as_json:
        data = {"manifest": manifest.name, "file": str(manifest.path), **result.to_dict()}
        data["warnings"] = manifest.warnings
        out.print_json(data=data)
        return
    _print_estimate(manifest, result)


def _money(value: Decimal) -> str:
    return f"${usd_cents(value):,}"


def _rows(table: Table, label: str, groups: dict[str, Subtotal]) -> None:
    for key, sub in groups.items():
        table.add_row(
            label, key, str(sub.jobs), str(sub.seconds), f"{sub.credits:,}", _money(sub.usd)
        )


def _print_estimate(manifest: Manifest, result: Estimate) -> None:
    table = Table(box=box.SIMPLE_HEAD if is_interactive() else None, show_edge=False)
    for title in ("by", "", "jobs", "seconds", "credits", "USD"):
        table.add_column(title, justify="left" if title in ("by", "") else "right")
    _rows(table, "model", result.by_model)
    _rows(table, "resolution", result.by_resolution)
    table.add_row(
        "total",
        "",
        str(result.jobs),
        str(result.seconds),
        f"{result.credits:,}",
        _money(result.usd),
    )
    _plain(out, f"{manifest.name} ({manifest.path}): {_count(result.jobs, 'job')}")
    out.print(table)
    _plain(out, f"1 credit = ${result.credit_usd}; prices from {result.price_table}")
    if result.assumptions:
        _plain(
            out,
            "priced by assumed rates (not stated by the product guide): "
            + ", ".join(result.assumptions),
        )


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
    app.command("estimate")(estimate_cmd)
