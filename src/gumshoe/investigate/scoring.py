"""An investigation's severity from its indicators (the table is in docs/INVESTIGATIONS.md).

Each indicator earns points; each kind's points are capped, so that a hundred discovery calls
do not outweigh one stopped trail; the total maps to a severity. Evidence of access from
somewhere unusual (a new place or network, a flagged address, impossible travel) together
with a tactic observed earns a corroboration bonus: that pair is the classic shape of stolen
credentials being used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol


class _Scored(Protocol):
    type: str
    detail: dict[str, Any]
    facts: dict[str, Any]


TTP_POINTS = {"high": 45, "normal": 20, "low": 4}
# A TTP the principal also performed in the baseline: part of its routine, so weaker evidence.
ROUTINE_TTP_POINTS = {"high": 45, "normal": 5, "low": 0}
CAPS = {
    "TTP_OBSERVED:high": 90,
    "TTP_OBSERVED:normal": 60,
    "TTP_OBSERVED:low": 12,
    "IMPOSSIBLE_TRAVEL": 40,
    "INSTANCE_CREDENTIALS_OFF_INSTANCE": 60,
    "UNUSUAL_VOLUME": 20,
    "FLAGGED_IP_ADDRESS": 60,
    "NEW_GEOLOCATION": 30,
    "NEW_ASO": 25,
    "NEW_USER_AGENT": 12,
    "RELATED_FINDING": 60,
    "RELATED_FINDING_GROUP": 20,
}
# The "new" indicators: (new for the whole account, new for the principal only).
FIRST_POINTS = {"NEW_GEOLOCATION": (20, 10), "NEW_ASO": (15, 8), "NEW_USER_AGENT": (8, 4)}
# A TTP whose calls all failed earns a third of its points.
FAILED_TTP_DIVISOR = 3
CORROBORATION_BONUS = 20
UNUSUAL_ACCESS = frozenset({"IMPOSSIBLE_TRAVEL", "FLAGGED_IP_ADDRESS", "NEW_GEOLOCATION", "NEW_ASO",
                            "INSTANCE_CREDENTIALS_OFF_INSTANCE"})
THRESHOLDS = ((90, "CRITICAL"), (55, "HIGH"), (30, "MEDIUM"), (10, "LOW"))
SEVERITY_ORDER = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def _finding_points(severity: float) -> int:
    # GuardDuty's scale: 7.0 and up high (9.0 and up critical), 4.0 to 6.9 medium, below low.
    if severity >= 7.0:
        return 45
    if severity >= 4.0:
        return 25
    return 10


def points(indicator: _Scored) -> tuple[str, int]:
    """The capped bucket an indicator counts in, and its points."""
    facts = indicator.facts
    kind = indicator.type
    if kind == "TTP_OBSERVED":
        weight = facts.get("weight", "normal")
        table = ROUTINE_TTP_POINTS if facts.get("routine") else TTP_POINTS
        value = table.get(weight, 20)
        if facts.get("succeeded") is False:
            # Only denied or failed attempts: reconnaissance of permissions, not the act.
            value //= FAILED_TTP_DIVISOR
        return f"{kind}:{weight}", value
    if kind == "IMPOSSIBLE_TRAVEL":
        return kind, 30
    if kind == "UNUSUAL_VOLUME":
        return kind, 10
    if kind in ("FLAGGED_IP_ADDRESS", "INSTANCE_CREDENTIALS_OFF_INSTANCE"):
        return kind, 45
    if kind in FIRST_POINTS:
        # With no baseline of the principal's own, its firsts are one finding (scored once, by its
        # key), new for the account only where the account has a baseline to be new against.
        new = facts["newForAccount"] if facts.get("noBaseline") else indicator.detail.get("IsNewForEntireAccount")
        return kind, FIRST_POINTS[kind][0 if new else 1]
    if kind == "RELATED_FINDING":
        return kind, _finding_points(float(facts.get("severity", 0)))
    if kind == "RELATED_FINDING_GROUP":
        return kind, 10 if float(facts.get("severity", 0)) < 7.0 else 20
    return kind, 0


def counted_points(indicators: Sequence[_Scored]) -> list[int]:
    """Each indicator's points as the score counts them (before the caps): one technique through
    one API, and a kind of firsts with no baseline, count once, at the best of their points; the
    others of the same key count 0."""
    values = [points(indicator)[1] for indicator in indicators]
    best: dict[str, int] = {}
    for index, indicator in enumerate(indicators):
        key = indicator.facts.get("key")
        if key is not None and (key not in best or values[index] > values[best[key]]):
            best[key] = index
    keep = set(best.values())
    return [value if indicator.facts.get("key") is None or index in keep else 0
            for index, (indicator, value) in enumerate(zip(indicators, values, strict=True))]


def severity_of(indicators: Sequence[_Scored]) -> tuple[str, int]:
    why = explain(indicators)
    return why["severity"], why["score"]


def explain(indicators: Sequence[_Scored]) -> dict[str, Any]:
    """The severity, the score and how it was reached: each bucket's indicators, points and cap,
    and the corroboration bonus (what the report shows as "why this severity")."""
    buckets: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    firsts: dict[str, int] = defaultdict(int)  # indicators of a bucket folded into one: no baseline
    # One technique through one API counts once, from however many addresses: its best points
    # (a success from one address outweighs denied attempts from another).
    best: dict[str, tuple[str, int]] = {}
    for indicator in indicators:
        bucket, value = points(indicator)
        if indicator.facts.get("noBaseline"):
            firsts[bucket] += 1
        key = indicator.facts.get("key")
        if key is None:
            buckets[bucket] += value
            counts[bucket] += 1
        elif key not in best or value > best[key][1]:
            best[key] = (bucket, value)
    for bucket, value in best.values():
        buckets[bucket] += value
        counts[bucket] += 1
    contributions: list[dict[str, Any]] = [
        {"bucket": bucket, "indicators": counts[bucket], "points": total, "cap": CAPS.get(bucket),
         "counted": min(total, CAPS.get(bucket, total)), **({"noBaseline": firsts[bucket]} if firsts[bucket] else {})}
        for bucket, total in sorted(buckets.items(), key=lambda item: -min(item[1], CAPS.get(item[0], item[1])))
        if total
    ]
    score: int = sum(c["counted"] for c in contributions)
    kinds = {i.type for i in indicators}
    tactic_seen = any(buckets.get(f"TTP_OBSERVED:{w}", 0) > 0 for w in ("high", "normal"))
    bonus = CORROBORATION_BONUS if kinds & UNUSUAL_ACCESS and tactic_seen else 0
    score += bonus
    severity = next((name for threshold, name in THRESHOLDS if score >= threshold), "INFORMATIONAL")
    return {"severity": severity, "score": score, "contributions": contributions, "corroborationBonus": bonus,
            "thresholds": {name: threshold for threshold, name in THRESHOLDS}}
