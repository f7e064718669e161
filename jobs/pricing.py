"""What a batch will cost: a price table (data, not code) and estimates built from it.

The table (`jobs/prices.yaml` unless another file is given) holds credits per second of video
by model, resolution and variant (plain video, with audio, multi-shot), credits per image for
image models, and the dollar value of a credit. Rates the product guide does not state are
marked `assumption: true` and every estimate says which models it priced that way. A job the
table has no rate for is an error, never a silent zero. All arithmetic is Decimal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from jobs.catalog import MODELS, RESOLUTIONS, Mode
from jobs.spec import Job, JobSpec

CENT = Decimal("0.01")


class PriceError(ValueError):
    """A price table that cannot be read, or jobs it has no rate for."""


class Variant(StrEnum):
    """Which rate of a model applies to a job."""

    VIDEO = "video"
    AUDIO = "audio"
    MULTI_SHOT = "multi_shot"
    IMAGE = "image"


def variant_of(spec: JobSpec) -> Variant:
    if spec.mode is Mode.IMAGE:
        return Variant.IMAGE
    if spec.shots:
        return Variant.MULTI_SHOT
    return Variant.AUDIO if spec.audio else Variant.VIDEO


@dataclass(frozen=True, slots=True)
class Rate:
    """Credits per second (per image for images); `assumption` when not a stated price."""

    credits: Decimal
    assumption: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ModelPrices:
    by_variant: dict[Variant, dict[str, Rate]]  # video variants: resolution → rate
    image: Rate | None = None


@dataclass(frozen=True)
class PriceTable:
    """Rates by model; `credits(spec)` prices one job."""

    credit_usd: Decimal
    models: dict[str, ModelPrices]
    source: str = "built-in"
    _cache: dict[tuple[str, Variant, str], Rate] = field(
        default_factory=dict, repr=False, compare=False
    )

    def rate(self, spec: JobSpec) -> Rate:
        """The rate that applies to `spec`; raises PriceError when the table has none."""
        variant = variant_of(spec)
        key = (spec.model, variant, spec.resolution)
        found = self._cache.get(key)
        if found is None:
            found = self._lookup(*key)
            self._cache[key] = found
        return found

    def _lookup(self, model: str, variant: Variant, resolution: str) -> Rate:
        prices = self.models.get(model)
        if prices is None:
            raise PriceError(f"{self.source}: no price for model {model}")
        if variant is Variant.IMAGE:
            if prices.image is None:
                raise PriceError(f"{self.source}: no image price for {model}")
            return prices.image
        rate = prices.by_variant.get(variant, {}).get(resolution)
        if rate is None:
            what = "" if variant is Variant.VIDEO else f"{variant.value.replace('_', '-')} "
            raise PriceError(f"{self.source}: no {what}price for {model} at {resolution}")
        return rate

    def credits(self, spec: JobSpec) -> Decimal:
        return _charge(self.rate(spec), spec)

    def usd(self, credits: Decimal) -> Decimal:
        return credits * self.credit_usd


def _charge(rate: Rate, spec: JobSpec) -> Decimal:
    return rate.credits if spec.mode is Mode.IMAGE else rate.credits * spec.seconds


def default_price_table_path() -> Path:
    return Path(str(resources.files("jobs") / "prices.yaml"))


def load_price_table(path: Path | None = None) -> PriceTable:
    """The table at `path`, or the built-in one; raises PriceError when it is malformed."""
    source = path or default_price_table_path()
    name = str(path) if path is not None else "built-in price table"
    try:
        # libyaml's parser (PyYAML's wheels carry it): the pure-Python one took 40 ms of every
        # `kbatch submit` on the built-in table alone.
        data = yaml.load(source.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except OSError as exc:
        raise PriceError(f"{name}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise PriceError(f"{name}: is not valid YAML ({exc})") from None
    return parse_price_table(data, name)


def parse_price_table(data: Any, name: str = "price table") -> PriceTable:
    if not isinstance(data, Mapping):
        raise PriceError(f"{name}: must be a mapping with credit_usd and models")
    _only(data, ("credit_usd", "models"), name)
    if "credit_usd" not in data:
        raise PriceError(f"{name}: credit_usd is required")
    credit_usd = _decimal(data["credit_usd"], f"{name}: credit_usd")
    models = data.get("models")
    if not isinstance(models, Mapping) or not models:
        raise PriceError(f"{name}: models must map model ids to their rates")
    parsed = {}
    for model, entry in models.items():
        where = f"{name}: models.{model}"
        if model not in MODELS:
            raise PriceError(f"{where}: unknown model")
        parsed[str(model)] = _model_prices(entry, where)
    return PriceTable(credit_usd, parsed, name)


def _only(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = [k for k in data if k not in allowed]
    if extra:
        raise PriceError(f"{where}: unknown key {extra[0]!r} (allowed: {', '.join(allowed)})")


def _model_prices(entry: Any, where: str) -> ModelPrices:
    if not isinstance(entry, Mapping):
        raise PriceError(f"{where}: must be a mapping of rates")
    _only(entry, ("assumption", "note", *(v.value for v in Variant)), where)
    assumed = entry.get("assumption", False)
    if not isinstance(assumed, bool):
        raise PriceError(f"{where}.assumption: must be true or false")
    by_variant: dict[Variant, dict[str, Rate]] = {}
    for variant in (Variant.VIDEO, Variant.AUDIO, Variant.MULTI_SHOT):
        table = entry.get(variant.value)
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise PriceError(f"{where}.{variant.value}: must map resolutions to rates")
        rates = {}
        for resolution, rate in table.items():
            if resolution not in RESOLUTIONS:
                raise PriceError(f"{where}.{variant.value}: unknown resolution {resolution!r}")
            rates[str(resolution)] = _rate(rate, assumed, f"{where}.{variant.value}.{resolution}")
        by_variant[variant] = rates
    image = entry.get("image")
    return ModelPrices(
        by_variant, _rate(image, assumed, f"{where}.image") if image is not None else None
    )


def _rate(value: Any, assumed: bool, where: str) -> Rate:
    if isinstance(value, Mapping):
        _only(value, ("credits", "assumption", "note"), where)
        if "credits" not in value:
            raise PriceError(f"{where}: credits is required")
        flag = value.get("assumption", False)
        if not isinstance(flag, bool):
            raise PriceError(f"{where}.assumption: must be true or false")
        note = value.get("note")
        return Rate(_decimal(value["credits"], where), assumed or flag, str(note) if note else None)
    return Rate(_decimal(value, where), assumed)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PriceError(f"{where}: must be a number")
    try:
        # str() first: YAML gives 0.004 as a float, and Decimal(0.004) is not 0.004.
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PriceError(f"{where}: must be a number, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise PriceError(f"{where}: must be a number of at least 0")
    return number


@dataclass(slots=True)
class Subtotal:
    jobs: int = 0
    seconds: int = 0
    credits: Decimal = Decimal(0)
    usd: Decimal = Decimal(0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "seconds": self.seconds,
            "credits": _number(self.credits),
            "usd": _number(self.usd),
        }


@dataclass(slots=True)
class Estimate:
    """A batch's expected cost, in total and by model and by resolution."""

    jobs: int
    seconds: int
    credits: Decimal
    usd: Decimal
    credit_usd: Decimal
    by_model: dict[str, Subtotal]
    by_resolution: dict[str, Subtotal]
    assumptions: list[str]  # models priced (at least in part) by an assumed rate
    price_table: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "seconds": self.seconds,
            "credits": _number(self.credits),
            "usd": _number(self.usd),
            "credit_usd": _number(self.credit_usd),
            "by_model": {k: v.to_dict() for k, v in self.by_model.items()},
            "by_resolution": {k: v.to_dict() for k, v in self.by_resolution.items()},
            "assumptions": self.assumptions,
            "price_table": self.price_table,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _number(value: Decimal) -> int | float:
    """A Decimal as a JSON number; its text round-trips exactly for prices like these."""
    return int(value) if value == value.to_integral_value() else float(value)


def usd_cents(value: Decimal) -> Decimal:
    """`value` rounded to whole cents, for display."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def estimate(jobs: Iterable[Job], table: PriceTable) -> Estimate:
    """Price every job; raises PriceError naming every rate the table lacks."""
    by_model: dict[str, Subtotal] = {}
    by_resolution: dict[str, Subtotal] = {}
    assumed: set[str] = set()
    missing: dict[str, None] = {}  # ordered and unique
    for job in jobs:
        spec = job.spec
        try:
            rate = table.rate(spec)
        except PriceError as exc:
            missing[str(exc)] = None
            continue
        credits = _charge(rate, spec)
        if rate.assumption:
            assumed.add(spec.model)
        seconds = spec.seconds
        for groups, key in ((by_model, spec.model), (by_resolution, spec.resolution)):
            sub = groups.get(key)
            if sub is None:
                sub = groups[key] = Subtotal()
            sub.jobs += 1
            sub.seconds += seconds
            sub.credits += credits
    if missing:
        raise PriceError("\n".join(missing))
    for sub in (*by_model.values(), *by_resolution.values()):
        sub.usd = table.usd(sub.credits)
    total = sum((s.credits for s in by_model.values()), Decimal(0))
    return Estimate(
        jobs=sum(s.jobs for s in by_model.values()),
        seconds=sum(s.seconds for s in by_model.values()),
        credits=total,
        usd=table.usd(total),
        credit_usd=table.credit_usd,
        by_model=dict(sorted(by_model.items())),
        by_resolution=dict(sorted(by_resolution.items(), key=lambda kv: _res_order(kv[0]))),
        assumptions=sorted(assumed),
        price_table=table.source,
    )


def _res_order(resolution: str) -> tuple[int, str]:
    known = RESOLUTIONS.index(resolution) if resolution in RESOLUTIONS else len(RESOLUTIONS)
    return (known, resolution)
