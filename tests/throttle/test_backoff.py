"""backoff(): exponential up to the cap, jitter within bounds, Retry-After wins."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.throttle import backoff

unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
attempts = st.integers(min_value=0, max_value=10_000)


def test_without_jitter_doubles_from_base_up_to_the_cap() -> None:
    waits = [backoff(a, base=0.5, cap=10.0, jitter="none") for a in range(8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


@given(attempts, unit, st.sampled_from(["full", "equal", "none"]))
def test_monotone_in_attempt_for_the_same_draw(attempt: int, r: float, jitter: str) -> None:
    a = backoff(attempt, base=1.0, cap=60.0, rand=lambda: r, jitter=jitter)  # type: ignore[arg-type]
    b = backoff(attempt + 1, base=1.0, cap=60.0, rand=lambda: r, jitter=jitter)  # type: ignore[arg-type]
    assert a <= b <= 60.0


@given(attempts, unit)
def test_full_jitter_stays_within_the_ceiling(attempt: int, r: float) -> None:
    ceiling = min(30.0, 2.0 * 2.0 ** min(attempt, 63))
    wait = backoff(attempt, base=2.0, cap=30.0, rand=lambda: r)
    assert 0.0 <= wait <= ceiling


@given(attempts, unit)
def test_equal_jitter_waits_at_least_half_the_ceiling(attempt: int, r: float) -> None:
    ceiling = min(30.0, 2.0 * 2.0 ** min(attempt, 63))
    wait = backoff(attempt, base=2.0, cap=30.0, rand=lambda: r, jitter="equal")
    assert ceiling / 2 <= wait <= ceiling


def test_jitter_uses_the_random_source() -> None:
    assert backoff(3, base=1.0, cap=60.0, rand=lambda: 0.25) == 2.0
    assert backoff(3, base=1.0, cap=60.0, rand=lambda: 0.25, jitter="equal") == 5.0


@given(attempts, st.floats(min_value=0.0, max_value=1e6))
def test_retry_after_wins_even_above_the_cap(attempt: int, retry_after: float) -> None:
    assert backoff(attempt, cap=5.0, retry_after=retry_after) == retry_after


def test_negative_retry_after_means_now() -> None:
    assert backoff(2, retry_after=-3.0) == 0.0


def test_huge_attempts_stay_finite() -> None:
    assert backoff(10**9, base=1.0, cap=60.0, jitter="none") == 60.0


@pytest.mark.parametrize(
    ("attempt", "base", "cap"), [(-1, 1.0, 1.0), (0, 0.0, 1.0), (0, 1.0, -1.0)]
)
def test_rejects_nonsense(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        backoff(attempt, base=base, cap=cap)
