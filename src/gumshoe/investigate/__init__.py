"""Investigations: Detective's indicators of compromise for an IAM user or role (docs/INVESTIGATIONS.md)."""

from __future__ import annotations

from gumshoe.config import ConfigError, Settings
from gumshoe.investigate.engine import Investigator
from gumshoe.investigate.geo import GeoIP, GeoIPError
from gumshoe.investigate.intel import ThreatIntel
from gumshoe.investigate.ttp import TtpMap


def build_investigator(settings: Settings) -> Investigator:
    """The investigator of a server's settings; a configured file that cannot be used is a ConfigError."""
    geo = None
    if settings.geoip_city or settings.geoip_asn:
        try:
            geo = GeoIP(settings.geoip_city or None, settings.geoip_asn or None)
        except GeoIPError as exc:
            raise ConfigError(str(exc)) from exc
    return Investigator(geo, TtpMap.load(), ThreatIntel(settings.threat_intel), travel_speed_kmh=settings.travel_speed_kmh)
