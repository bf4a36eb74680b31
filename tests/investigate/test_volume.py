"""The robust volume baseline: median and MAD of active hours, and what stands out of it."""

from __future__ import annotations

from gumshoe.investigate import volume

HOUR = 3_600_000


def test_too_few_active_hours_are_no_baseline() -> None:
    assert volume.baseline([(10, 0)] * (volume.MIN_BASELINE_HOURS - 1)) is None
    assert volume.baseline([(10, 0)] * volume.MIN_BASELINE_HOURS) is not None


def test_a_few_wild_hours_in_the_baseline_barely_move_it() -> None:
    base = volume.baseline([(20, 1)] * 40 + [(5000, 0)] * 3)
    assert base is not None and (base.median, base.mad) == (20.0, 0.0)
    [spike] = volume.spikes(base, [(0, 300, 0), (HOUR, 30, 0)])
    assert (spike.hour_ms, spike.factor) == (0, 15.0)


def test_a_spike_needs_enough_calls_a_factor_and_a_robust_z() -> None:
    quiet = volume.baseline([(2, 0)] * 30)
    assert quiet is not None
    assert volume.spikes(quiet, [(0, volume.MIN_CALLS - 1, 0)]) == []  # 24 times the median, but few calls
    noisy = volume.baseline([(n, 0) for n in range(10, 200, 5)])  # a wide spread of ordinary hours
    assert noisy is not None and volume.spikes(noisy, [(0, 320, 0)]) == []
    assert [s.kind for s in volume.spikes(noisy, [(0, 2000, 0)])] == ["CALLS"]


def test_failures_stand_out_by_their_share() -> None:
    base = volume.baseline([(40, 1)] * 30)
    assert base is not None
    assert [s.kind for s in volume.spikes(base, [(0, 40, 30)])] == ["FAILURES"]
    assert volume.spikes(base, [(0, 40, 10)]) == []  # a quarter failed: not half
    assert volume.spikes(base, [(0, 30, 19)]) == []  # too few failures to matter


def test_the_largest_spikes_only() -> None:
    base = volume.baseline([(20, 0)] * 30)
    assert base is not None
    found = volume.spikes(base, [(n * HOUR, 100 + 10 * n, 0) for n in range(10)])
    assert [s.hour_ms for s in found] == [n * HOUR for n in range(9, 4, -1)]
