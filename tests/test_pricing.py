"""The price table and estimates: stated rates, assumed rates, missing rates, exact arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.catalog import MODELS, Mode
from jobs.pricing import (
    PriceError,
    PriceTable,
    default_price_table_path,
    estimate,
    load_price_table,
    parse_price_table,
)
from jobs.spec import Job, JobSpec, Shot


def spec(model: str = "kling-v3", **kw: object) -> JobSpec:
    info = MODELS[model]
    mode = kw.pop("mode", None) or (Mode.IMAGE if info.is_image else next(iter(info.modes)))
    if model == "kling-o3" and mode is not Mode.IMAGE:
        mode = Mode.OMNI
    base: dict[str, object] = {"mode": mode, "model": model, "prompt": "p"}
    if mode is not Mode.IMAGE:
        base["duration"] = 10
    return JobSpec.model_validate({**base, **kw})


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_price_table()


@pytest.mark.parametrize(
    ("job", "credits"),
    [
        # The product guide's own examples: 10 s at 1080p.
        (spec("kling-v3", resolution="1080p"), 80),
        (spec("kling-o3", resolution="1080p", audio=True), 200),
        (
            spec(
                "kling-o3",
                resolution="1080p",
                duration=15,
                shots=[Shot(prompt="a", duration=7), Shot(prompt="b", duration=8)],
            ),
            360,
        ),
        (spec("kling-v3", resolution="720p"), 60),
        (spec("kling-o3", resolution="720p"), 120),
        (spec("kling-o3", resolution="1080p"), 160),
        (spec("kling-o3", resolution="720p", audio=True), 150),
    ],
)
def test_stated_rates(table: PriceTable, job: JobSpec, credits: int) -> None:
    assert table.credits(job) == Decimal(credits)
    assert table.rate(job).assumption is False


def test_guide_usd_examples(table: PriceTable) -> None:
    assert table.credit_usd == Decimal("0.004")
    assert table.usd(Decimal(80)) == Decimal("0.320")
    assert table.usd(Decimal(360)) == Decimal("1.440")


def test_every_catalog_model_has_a_price_and_unstated_ones_are_marked(table: PriceTable) -> None:
    stated = {"kling-v3", "kling-o3"}
    for model, info in MODELS.items():
        if info.is_image:
            job = spec(model)
        else:
            job = spec(model, duration=info.durations[0], resolution="720p")
        credits = table.credits(job)
        assert credits > 0, model
        assert table.rate(job).assumption is (model not in stated), model
    # Audio on kling-v3 and 720p multi-shot on kling-o3 are not in the guide either.
    assert table.rate(spec("kling-v3", audio=True)).assumption is True
    multi = spec("kling-o3", resolution="720p", shots=[Shot(prompt="a", duration=5)], duration=5)
    assert table.rate(multi).assumption is True


def test_images_are_priced_per_image(table: PriceTable) -> None:
    assert table.credits(spec("kling-image")) == Decimal(8)


def test_estimate_breakdown_and_json(table: PriceTable) -> None:
    specs = [
        spec("kling-v3", resolution="720p", duration=5),
        spec("kling-v3", resolution="1080p", duration=10),
        spec("kling-o3", resolution="1080p", audio=True, duration=5),
        spec("kling-image", resolution="1080p"),
    ]
    jobs = [Job.of(s) for s in specs] + [Job.of(specs[0], take=2)]
    result = estimate(jobs, table)
    assert (result.jobs, result.seconds, result.credits) == (5, 25, Decimal(30 + 80 + 100 + 8 + 30))
    assert result.usd == Decimal("0.992")
    assert {k: (v.jobs, v.credits) for k, v in result.by_model.items()} == {
        "kling-image": (1, Decimal(8)),
        "kling-o3": (1, Decimal(100)),
        "kling-v3": (3, Decimal(140)),
    }
    assert list(result.by_resolution) == ["720p", "1080p"]
    assert result.by_resolution["720p"].usd == Decimal("0.240")
    assert result.assumptions == ["kling-image"]
    data = json.loads(result.to_json())
    assert (data["jobs"], data["credits"], data["usd"]) == (5, 248, 0.992)
    assert data["by_model"]["kling-v3"] == {"jobs": 3, "seconds": 20, "credits": 140, "usd": 0.56}


def test_decimal_arithmetic_is_exact() -> None:
    table = parse_price_table(
        {"credit_usd": 0.1, "models": {"kling-v3": {"video": {"720p": 0.7}}}}, "t"
    )
    jobs = [Job.of(spec("kling-v3", resolution="720p", duration=3), take=n) for n in range(1, 4)]
    result = estimate(jobs, table)
    assert result.credits == Decimal("6.3")  # 0.7 * 3 * 3, no float residue
    assert result.usd == Decimal("0.63")


def test_missing_rates_are_errors_listing_each(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("credit_usd: 0.004\nmodels:\n  kling-v3:\n    video: {720p: 6}\n")
    table = load_price_table(path)
    jobs = [
        Job.of(spec("kling-v3", resolution="1080p")),
        Job.of(spec("kling-v3", resolution="720p", audio=True)),
        Job.of(spec("kling-o3")),
        Job.of(spec("kling-o3", prompt="other")),
        Job.of(spec("kling-v3", resolution="720p")),
    ]
    with pytest.raises(PriceError) as caught:
        estimate(jobs, table)
    assert str(caught.value).splitlines() == [
        f"{path}: no price for kling-v3 at 1080p",
        f"{path}: no audio price for kling-v3 at 720p",
        f"{path}: no price for model kling-o3",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "t: must be a mapping with credit_usd and models"),
        ({"models": {}}, "t: credit_usd is required"),
        ({"credit_usd": 1, "models": {}}, "t: models must map model ids to their rates"),
        ({"credit_usd": "x", "models": {"kling-v3": {}}}, "t: credit_usd: must be a number"),
        ({"credit_usd": -1, "models": {"kling-v3": {}}}, "t: credit_usd: must be a number of"),
        ({"credit_usd": 1, "models": {"kling-v9": {}}}, "t: models.kling-v9: unknown model"),
        (
            {"credit_usd": 1, "models": {"kling-v3": {"video": {"4k": 1}}}},
            "t: models.kling-v3.video: unknown resolution '4k'",
        ),
        (
            {"credit_usd": 1, "models": {"kling-v3": {"vidoe": {}}}},
            "t: models.kling-v3: unknown key 'vidoe'",
        ),
        (
            {"credit_usd": 1, "models": {"kling-v3": {"video": {"720p": {"assumption": True}}}}},
            "t: models.kling-v3.video.720p: credits is required",
        ),
        (
            {"credit_usd": 1, "models": {"kling-v3": {"video": {"720p": True}}}},
            "t: models.kling-v3.video.720p: must be a number",
        ),
    ],
)
def test_malformed_tables(data: object, message: str) -> None:
    with pytest.raises(PriceError) as caught:
        parse_price_table(data, "t")
    assert str(caught.value).startswith(message)


def test_unreadable_table(tmp_path: Path) -> None:
    with pytest.raises(PriceError, match="cannot be read"):
        load_price_table(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("models: [\n")
    with pytest.raises(PriceError, match="is not valid YAML"):
        load_price_table(tmp_path / "bad.yaml")


def test_built_in_table_ships_with_the_package() -> None:
    path = default_price_table_path()
    assert path.name == "prices.yaml"
    assert path.is_file()
    assert load_price_table().source == "built-in price table"
