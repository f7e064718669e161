"""What the simulator knows about each model on the wire: products, durations, prices, speed.

Unit rates (units per second of video, `std` / `pro`) follow the vendor's pricing page where it
gives a figure (kling-api.md "Prices"). Assumptions where it does not:

| model (product) | no audio | with audio | source |
|---|---|---|---|
| kling-v3 (text2video, image2video) | 0.6 / 0.8 | 0.9 / 1.2 | vendor pricing page |
| kling-v3-omni (omni-video) | 1.2 / 1.6 | 1.5 / 2.0 | guide credits ÷ 10 (matches v3 exactly) |
| kling-v3-omni multi-shot | 1.8 / 2.4 | 1.8 / 2.4 | guide credits ÷ 10 (1080p given; 720p scaled) |
| kling-v3 (motion-control) | 1.0 / 1.2 | — | assumed: "premium, above V3" |
| kling-v2-6 | 0.3 / 0.5 | 0.6 / 1.0 | vendor page without audio; audio assumed x2 |
| kling-v2-5-turbo | 0.3 / 0.5 | — | vendor pricing page |
| kling-v2-1-master | 0.5 / 0.8 | — | assumed |
| kling-v2-1 | 0.3 / 0.5 | — | assumed |
| images (kling-v3, kling-v2-1) | 0.2 per image | — | assumed: "lower tier" |

Generation time is log-normal around `median x speed factor`; the factors make Omni with audio
about 2.5x slower than video only, as the product guide says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from jobs.catalog import MODELS


class Product(StrEnum):
    """One create endpoint of the official API; also the resource-pack kind it draws from."""

    TEXT2VIDEO = "text2video"
    IMAGE2VIDEO = "image2video"
    OMNI = "omni-video"
    MOTION_CONTROL = "motion-control"
    IMAGE = "images/generations"

    @property
    def pack(self) -> str:
        """The resource-pack type whose concurrency this product counts against."""
        return "image" if self is Product.IMAGE else "video"


VIDEO_PRODUCTS = (Product.TEXT2VIDEO, Product.IMAGE2VIDEO, Product.OMNI, Product.MOTION_CONTROL)


@dataclass(frozen=True, slots=True)
class WireModel:
    """A `model_name` the official API accepts, and for which products."""

    name: str
    products: frozenset[Product]
    durations: tuple[int, ...]
    audio: bool = False
    shots: bool = False
    speed: float = 1.0  # generation-time factor relative to kling-v3


_V3 = MODELS["kling-v3"].durations
_LEGACY = MODELS["kling-v2-6"].durations
_T2V_I2V = frozenset({Product.TEXT2VIDEO, Product.IMAGE2VIDEO})

WIRE_MODELS: dict[str, WireModel] = {
    m.name: m
    for m in (
        WireModel(
            "kling-v3",
            _T2V_I2V | {Product.MOTION_CONTROL, Product.IMAGE},
            _V3,
            audio=True,
            shots=True,
        ),
        WireModel(
            "kling-v3-omni", frozenset({Product.OMNI}), _V3, audio=True, shots=True, speed=1.5
        ),
        WireModel("kling-v2-6", _T2V_I2V, _LEGACY, audio=True),
        WireModel("kling-v2-5-turbo", _T2V_I2V, _LEGACY, speed=0.6),
        WireModel("kling-v2-1-master", _T2V_I2V, _LEGACY, speed=1.6),
        WireModel("kling-v2-1", frozenset({Product.IMAGE2VIDEO, Product.IMAGE}), _LEGACY),
    )
}

DEFAULT_MODEL: dict[Product, str] = {
    Product.TEXT2VIDEO: "kling-v3",
    Product.IMAGE2VIDEO: "kling-v3",
    Product.OMNI: "kling-v3-omni",
    Product.MOTION_CONTROL: "kling-v3",
    Product.IMAGE: "kling-v3",
}

_D = Decimal
# (model, product or None for any video product, audio) -> (std, pro) units per second
_RATES: dict[tuple[str, Product | None, bool], tuple[Decimal, Decimal]] = {
    ("kling-v3", None, False): (_D("0.6"), _D("0.8")),
    ("kling-v3", None, True): (_D("0.9"), _D("1.2")),
    ("kling-v3", Product.MOTION_CONTROL, False): (_D("1.0"), _D("1.2")),
    ("kling-v3-omni", None, False): (_D("1.2"), _D("1.6")),
    ("kling-v3-omni", None, True): (_D("1.5"), _D("2.0")),
    ("kling-v2-6", None, False): (_D("0.3"), _D("0.5")),
    ("kling-v2-6", None, True): (_D("0.6"), _D("1.0")),
    ("kling-v2-5-turbo", None, False): (_D("0.3"), _D("0.5")),
    ("kling-v2-1-master", None, False): (_D("0.5"), _D("0.8")),
    ("kling-v2-1", None, False): (_D("0.3"), _D("0.5")),
}
_MULTI_SHOT_RATE = (_D("1.8"), _D("2.4"))
UNITS_PER_IMAGE = _D("0.2")


def units_for(
    model: str,
    product: Product,
    *,
    pro: bool,
    audio: bool,
    seconds: int,
    multi_shot: bool = False,
    images: int = 1,
) -> Decimal:
    """Units a successful task costs: rate x requested seconds (or per image)."""
    if product is Product.IMAGE:
        return UNITS_PER_IMAGE * images
    if multi_shot and model == "kling-v3-omni":
        rates = _MULTI_SHOT_RATE
    else:
        rates = _RATES.get((model, product, audio)) or _RATES[(model, None, audio)]
    return rates[1 if pro else 0] * seconds


def speed_factor(
    model: str, product: Product, *, pro: bool, audio: bool, seconds: int, images: int = 1
) -> float:
    """How much longer than a 5 s std kling-v3 text2video this render takes, on average."""
    factor = WIRE_MODELS[model].speed
    if product is Product.IMAGE:
        return 0.2 * factor * math.sqrt(max(images, 1))
    if product is Product.MOTION_CONTROL:
        factor *= 1.3
    if pro:
        factor *= 1.2
    if audio:
        factor *= 2.5
    return factor * math.sqrt(max(seconds, 1) / 5)
