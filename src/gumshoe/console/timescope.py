"""The scope time of a page, kept in its URL: a preset (``?scope=24h|7d|30d``, ending at the
next whole hour) or a custom range (``?from=...&to=...``: ISO 8601 times, UTC unless they
name an offset, or epoch milliseconds). The default is the last 24 hours."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

HOUR_MS = 3_600_000
PRESETS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}
PRESET_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
DEFAULT_PRESET = "24h"
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_SPAN_MS = 366 * 24 * HOUR_MS  # a year: longer scopes would chart too many hours


class ScopeError(ValueError):
    pass


@dataclass(frozen=True)
class TimeScope:
    start_ms: int
    end_ms: int
    preset: str | None = None

    @property
    def hours(self) -> int:
        return -(-(self.end_ms - self.start_ms) // HOUR_MS)

    def query(self) -> dict[str, str]:
        """The URL parameters that give this scope back."""
        if self.preset:
            return {"scope": self.preset}
        return self.range_query()

    def range_query(self) -> dict[str, str]:
        """Fixed times, for links that must show the same thing later (profiles, shares)."""
        return {"from": iso(self.start_ms), "to": iso(self.end_ms)}


@functools.lru_cache(maxsize=4096)  # a page's links repeat its scope's two times hundreds of times
def iso(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment.microsecond == 0 else moment.isoformat().replace("+00:00", "Z")


def parse_time(value: str, name: str) -> int:
    text = value.strip()
    if text.isascii() and text.isdigit():
        if len(text) > 15 or int(text) > MAX_TIME_MS:
            raise ScopeError(f"{name} is past the year 9999.")
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ScopeError(f"{name} must be a time such as 2026-11-20T14:00 (UTC), not {value!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        ms = int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise ScopeError(f"{name} is out of range.") from None
    if not 0 <= ms <= MAX_TIME_MS:
        raise ScopeError(f"{name} is out of range.")
    return ms


def next_hour(now_ms: int) -> int:
    return -(-now_ms // HOUR_MS) * HOUR_MS


def preset(name: str, now_ms: int) -> TimeScope:
    end = next_hour(now_ms)
    return TimeScope(end - PRESETS[name] * HOUR_MS, end, name)


def parse_scope(query: dict[str, Any], now_ms: int) -> TimeScope:
    """The scope a page's query names; ScopeError with a readable message if it is wrong."""
    start_text, end_text = query.get("from") or "", query.get("to") or ""
    if start_text or end_text:
        end = parse_time(end_text, "to") if end_text else next_hour(now_ms)
        start = parse_time(start_text, "from") if start_text else end - PRESETS[DEFAULT_PRESET] * HOUR_MS
        if start >= end:
            raise ScopeError("The scope's start must be earlier than its end.")
        if end - start > MAX_SPAN_MS:
            raise ScopeError("A scope spans at most a year: narrow it.")
        return TimeScope(start, end)
    name = query.get("scope") or DEFAULT_PRESET
    if name not in PRESETS:
        raise ScopeError(f"scope must be one of {', '.join(PRESETS)}, or from and to.")
    return preset(name, now_ms)


def detective_time(value: str | None) -> int | None:
    """Detective's scopeStart / scopeEnd: epoch seconds (milliseconds accepted too)."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > 15:
        return None
    number = int(value)
    return number if number > 100_000_000_000 else number * 1000
