"""Time as the whole program counts it: integer epoch milliseconds, and the times people type."""

from __future__ import annotations

import datetime as dt
import time

from gumshoe.errors import ValidationException

MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_time(value: str, name: str) -> int:
    """Epoch milliseconds from digits, or from an ISO 8601 date or time (UTC unless it says)."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        if len(text) > 15 or int(text) > MAX_TIME_MS:
            raise ValidationException(f"{name} is past the year 9999.")
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationException(f"{name} must be epoch milliseconds or an ISO 8601 time, not {value!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise ValidationException(f"{name} is out of range.") from None
