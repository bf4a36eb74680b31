"""What people are shown for each of Detective's indicator types: one list, for the command
line's report and the console's (neutral: neither imports the other, nor the engine)."""

from __future__ import annotations

# In the order a report shows them.
TITLES = {
    "TTP_OBSERVED": "Tactics, techniques and procedures observed",
    "IMPOSSIBLE_TRAVEL": "Impossible travel",
    "FLAGGED_IP_ADDRESS": "Flagged IP addresses",
    "NEW_GEOLOCATION": "New geolocations",
    "NEW_ASO": "New autonomous system organizations",
    "NEW_USER_AGENT": "New user agents",
    "RELATED_FINDING": "Related findings",
    "RELATED_FINDING_GROUP": "Related finding groups",
}
