"""The engine on a manual clock: timing, slots, balance, identities and input checks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from worker.sim.clock import ManualClock
from worker.sim.config import SimConfig
from worker.sim.engine import Engine, InputRef, Status, TaskRequest
from worker.sim.errors import Reason, Refusal
from worker.sim.models import Product, speed_factor, units_for


def engine(**cfg: object) -> Engine:
    config = SimConfig(api_keys=["k"], median_seconds=60, spread=0.0, **cfg)  # type: ignore[arg-type]
    return Engine(config=config, clock=ManualClock(), seed=1)


def request(identity: str = "a", **kw: object) -> TaskRequest:
    fields: dict[str, object] = {
        "dialect": "kling",
        "product": Product.TEXT2VIDEO,
        "model": "kling-v3",
        "identity": identity,
        "seconds": 5,
        "units": Decimal("3.0"),
    }
    fields.update(kw)
    return TaskRequest(**fields)  # type: ignore[arg-type]


def test_timing_follows_median_processing_fraction_and_time_scale() -> None:
    e = engine(time_scale=0.5)
    acc = e.accounts["default"]
    task = e.create(acc, request(), "http://sim")
    assert task.sim_seconds == pytest.approx(60.0)  # spread 0: exactly the median
    assert e.status(task) is Status.SUBMITTED
    e.clock.advance(3.0)  # 10% of 30 wall seconds
    assert e.status(task) is Status.PROCESSING
    e.clock.advance(26.9)
    assert e.status(task) is Status.PROCESSING
    e.clock.advance(0.2)
    assert e.status(task) is Status.SUCCEED


def test_omni_with_audio_is_2_5_times_slower() -> None:
    def factor(audio: bool) -> float:
        return speed_factor("kling-v3-omni", Product.OMNI, pro=False, audio=audio, seconds=5)

    assert factor(True) / factor(False) == pytest.approx(2.5)


def test_process_due_frees_slots_without_queries() -> None:
    e = engine(concurrency=1)
    acc = e.accounts["default"]
    e.create(acc, request("a"), "")
    with pytest.raises(Refusal) as refused:
        e.create(acc, request("b"), "")
    assert refused.value.reason is Reason.CONCURRENCY
    assert refused.value.retry_after == pytest.approx(60.0)
    e.clock.advance(61)
    assert e.process_due() is None
    assert acc.in_flight() == 0
    e.create(acc, request("c"), "")


def test_balance_is_reserved_in_flight_and_charged_on_success_only() -> None:
    e = engine(balance=Decimal("6.0"), fail_marker="[[fail]]")
    acc = e.accounts["default"]
    ok = e.create(acc, request("a"), "")
    bad = e.create(acc, request("b", prompt_text="[[fail]]"), "")
    assert acc.available() == 0
    e.clock.advance(100)
    assert (e.status(ok), e.status(bad)) == (Status.SUCCEED, Status.FAILED)
    assert acc.balance == Decimal("3.0")
    assert acc.reserved == 0
    assert e.metrics.units_charged == Decimal("3.0")


def test_duplicate_identities_are_counted() -> None:
    e = engine(concurrency=10)
    acc = e.accounts["default"]
    for identity in ("x", "y", "x"):
        e.create(acc, request(identity), "")
    assert e.metrics.duplicate_creates == 1


def test_a_failed_input_fails_the_task_early() -> None:
    e = engine()
    acc = e.accounts["default"]
    task = e.create(acc, request(inputs=(InputRef("image", "http://x", "image"),)), "")
    e.clock.advance(120)
    assert e.status(task) is Status.PROCESSING  # due, but the input is still being fetched
    e.input_checked(task, "Failed to fetch image from http://x: HTTP 404")
    assert task.final is Status.FAILED
    assert task.fail_reason.startswith("Failed to fetch")


def test_price_table() -> None:
    v3 = Product.TEXT2VIDEO
    assert units_for("kling-v3", v3, pro=False, audio=False, seconds=10) == Decimal("6.0")
    assert units_for("kling-v3", v3, pro=True, audio=True, seconds=10) == Decimal("12.0")
    assert units_for("kling-v2-6", v3, pro=False, audio=False, seconds=5) == Decimal("1.5")
    omni = Product.OMNI
    assert units_for("kling-v3-omni", omni, pro=True, audio=True, seconds=10) == Decimal("20.0")
    assert units_for("kling-v3", Product.IMAGE, pro=False, audio=False, seconds=0, images=2) == (
        Decimal("0.4")
    )
