"""What people are shown for each of Detective's indicator types: one list, for the command
line's report and the console's (neutral: neither imports the other, nor the engine)."""

from __future__ import annotations

from typing import Any

# In the order a report shows them.
TITLES = {
    "TTP_OBSERVED": "Tactics, techniques and procedures observed",
    "INSTANCE_CREDENTIALS_OFF_INSTANCE": "Instance credentials used off the instance",
    "UNUSUAL_VOLUME": "Unusual volume against the principal's baseline",
    "IMPOSSIBLE_TRAVEL": "Impossible travel",
    "FLAGGED_IP_ADDRESS": "Flagged IP addresses",
    "NEW_GEOLOCATION": "New geolocations",
    "NEW_ASO": "New autonomous system organizations",
    "NEW_USER_AGENT": "New user agents",
    "RELATED_FINDING": "Related findings",
    "RELATED_FINDING_GROUP": "Related finding groups",
}
# Gumshoe's own indicators, beyond Detective's catalog: in Gumshoe's report, never in the AWS
# API's ListIndicators (its IndicatorType has no value for them).
GUMSHOE_TYPES = frozenset({"INSTANCE_CREDENTIALS_OFF_INSTANCE", "UNUSUAL_VOLUME"})
# What the values of the "new" indicators are called, for a finding that groups them.
FIRSTS = {"NEW_GEOLOCATION": ("place", "places"), "NEW_ASO": ("network (ASO)", "networks (ASOs)"),
          "NEW_USER_AGENT": ("user agent", "user agents")}


def group_firsts(indicators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A report's indicators with the "new" ones of a principal that has no baseline (evidence
    ``noBaseline``) folded into one finding per kind, at the place of the first: "no baseline:
    140 user agents seen for the first time", its members kept in ``members``."""
    out: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for indicator in indicators:
        kind = indicator["type"]
        if kind not in FIRSTS or not indicator.get("evidence", {}).get("noBaseline"):
            out.append(indicator)
            continue
        group = groups.get(kind)
        if group is None:
            group = groups[kind] = {**indicator, "group": "noBaseline", "members": []}
            out.append(group)
        group["members"].append(indicator)
    for kind, group in groups.items():
        members = group["members"]
        group["count"] = len(members)
        noun = FIRSTS[kind][len(members) != 1]
        group["summary"] = f"no baseline: {len(members):,} {noun} seen for the first time"
    return out
