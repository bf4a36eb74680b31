"""Unusual volume against a principal's own baseline: hourly API calls (and the share of them
that failed) in the scope, compared with the principal's active hours of the baseline by the
median and the median absolute deviation (docs/INVESTIGATIONS.md has the rule).

    baseline active hours' counts ─> median m, MAD d ─┐
    a scope hour's count x ───────────────────────────┴─> spike when x ≥ MIN_CALLS,
                                                          x ≥ MIN_FACTOR × m and
                                                          (x − m) / (1.4826 × max(d, floor)) ≥ MIN_Z

The median and the MAD are robust: a few busy hours in the baseline (or an attack in it) move
them little, unlike a mean and a standard deviation. Only active hours count (an hour with no
call is no sample): a principal that works eight hours a day is compared with its working
hours, not with its nights.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

# 1.4826 × MAD estimates the standard deviation of normally distributed counts.
MAD_SCALE = 1.4826
MIN_Z = 6.0  # robust z-score of a spike: far outside anything the baseline does
MIN_FACTOR = 3.0  # and at least three times the baseline's median hour
MIN_CALLS = 50  # and enough calls to matter: a quiet principal's 12 calls are no spike
MIN_BASELINE_HOURS = 24  # active hours the baseline needs before volume is judged
# A MAD of 0 (every active hour alike) is no certainty: count at least this share of the median.
MAD_FLOOR_SHARE = 0.1
# Failures: the share of an hour's calls that failed, against the baseline's hours.
MIN_FAILURES = 20
MIN_FAILURE_RATIO = 0.5
FAILURE_MAD_FLOOR = 0.02
MAX_SPIKES = 5  # the largest spikes a report lists, of each kind


@dataclass(frozen=True, slots=True)
class Baseline:
    hours: int  # active hours
    median: float
    mad: float
    failure_median: float
    failure_mad: float


@dataclass(frozen=True, slots=True)
class Spike:
    kind: str  # CALLS | FAILURES
    hour_ms: int  # the start of the hour
    calls: int
    failures: int
    baseline_median: float  # calls an active hour, or its failure ratio
    factor: float  # calls over the median (FAILURES: the ratio over the baseline's)
    z: float


def baseline(hours: list[tuple[int, int]]) -> Baseline | None:
    """The baseline of (calls, failures) per active hour; None with too few of them."""
    if len(hours) < MIN_BASELINE_HOURS:
        return None
    counts = [calls for calls, _ in hours]
    median = statistics.median(counts)
    ratios = [failures / calls for calls, failures in hours if calls]
    failure_median = statistics.median(ratios)
    return Baseline(len(hours), float(median), float(statistics.median(abs(c - median) for c in counts)),
                    float(failure_median), float(statistics.median(abs(r - failure_median) for r in ratios)))


def spikes(base: Baseline, scope: list[tuple[int, int, int]]) -> list[Spike]:
    """The scope's (hour, calls, failures) that stand out from the baseline: the largest first,
    at most MAX_SPIKES of each kind."""
    found: list[Spike] = []
    spread = MAD_SCALE * max(base.mad, MAD_FLOOR_SHARE * base.median, 1.0)
    failure_spread = MAD_SCALE * max(base.failure_mad, FAILURE_MAD_FLOOR)
    calls_spikes: list[Spike] = []
    failure_spikes: list[Spike] = []
    for hour, calls, failures in scope:
        z = (calls - base.median) / spread
        if calls >= MIN_CALLS and calls >= MIN_FACTOR * max(base.median, 1.0) and z >= MIN_Z:
            calls_spikes.append(Spike("CALLS", hour, calls, failures, base.median,
                                      round(calls / max(base.median, 1.0), 1), round(z, 1)))
        ratio = failures / calls if calls else 0.0
        fz = (ratio - base.failure_median) / failure_spread
        if failures >= MIN_FAILURES and ratio >= MIN_FAILURE_RATIO and fz >= MIN_Z:
            failure_spikes.append(Spike("FAILURES", hour, calls, failures, round(base.failure_median, 3),
                                        round(ratio / max(base.failure_median, 0.01), 1), round(fz, 1)))
    for kind in (calls_spikes, failure_spikes):
        kind.sort(key=lambda s: (-s.z, s.hour_ms))
        found += kind[:MAX_SPIKES]
    return found
