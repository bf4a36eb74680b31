"""Where an IP address is, from MaxMind DB files (GeoLite2 or DB-IP lite).

    ip ──▶ GeoIP.place(ip) ──▶ City db ──▶ Place(city, region, country, lat/lon)
       └─▶ GeoIP.asn/aso(ip) ─▶ ASN db  ──▶ autonomous system number / organization

Both files are optional; lookups are cached per instance and the cache is dropped when
``reload_if_changed`` picks up a new file. Files are memory-mapped: replace them with a
rename, as geoipupdate does, never by writing over them, or a reader holding the old map
sees garbage (caught, logged, looked up as unknown) or dies of SIGBUS (not catchable).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import maxminddb

log = logging.getLogger("gumshoe.geo")

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
LOOKUP_CACHE_SIZE = 65_536  # distinct IPs per file; an investigation sees a few thousand
GET_DATABASES = (
    "get the free GeoLite2-City/GeoLite2-ASN files from "
    "https://dev.maxmind.com/geoip/geolite2-free-geolocation-data (free account) or the "
    "DB-IP lite files (dbip-city-lite, dbip-asn-lite, .mmdb) from "
    "https://db-ip.com/db/lite.php, or leave the setting empty to run without geolocation"
)

# Never in a geo database, so not worth a lookup. Documentation ranges (192.0.2.0/24,
# 2001:db8::/32, ...) are left out on purpose: test databases use them.
_LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


# The same as integer ranges: a membership test of ipaddress networks costs ~2 µs each, and an
# investigation checks every address an account used in 45 days.
_LOCAL_RANGES = {
    version: tuple((int(n.network_address), int(n.broadcast_address)) for n in _LOCAL_NETWORKS if n.version == version)
    for version in (4, 6)
}


class GeoIPError(ValueError):
    """A geolocation database that cannot be used."""


@dataclass(frozen=True, slots=True)
class Place:
    city: str
    region: str
    country: str
    country_code: str
    latitude: float | None
    longitude: float | None

    @property
    def label(self) -> str:
        """``"Seattle, Washington, United States"``, leaving out the parts not known."""
        return ", ".join(part for part in (self.city, self.region, self.country) if part)


class _Database:
    """One open .mmdb file and what it looked like on disk when opened."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.signature = _signature(path)
        try:
            self.reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
        except (OSError, ValueError, RuntimeError) as exc:  # InvalidDatabaseError is a RuntimeError
            raise GeoIPError(
                f"cannot open the {kind} database {path}: {exc}; {GET_DATABASES}"
            ) from exc
        database_type = self.reader.metadata().database_type
        wrong = "ASN" if kind == "City" else "City"
        if wrong in database_type:
            self.reader.close()
            raise GeoIPError(
                f"{path} is a {database_type} database, not a {kind} one; "
                f"check the two geolocation settings are not swapped"
            )

    def get(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any] | None:
        try:
            record = self.reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None
        except maxminddb.InvalidDatabaseError as exc:  # e.g. the file overwritten in place
            log.warning("geoip lookup failed path=%s ip=%s error=%s", self.path, address, exc)
            return None
        return record if isinstance(record, dict) else None


class GeoIP:
    def __init__(self, city_path: Path | str | None, asn_path: Path | str | None) -> None:
        self._city = _Database(Path(city_path), "City") if city_path else None
        try:
            self._asn = _Database(Path(asn_path), "ASN") if asn_path else None
        except GeoIPError:
            self.close()
            raise
        self._place = lru_cache(maxsize=LOOKUP_CACHE_SIZE)(self._lookup_place)
        self._asn_record = lru_cache(maxsize=LOOKUP_CACHE_SIZE)(self._lookup_asn)

    @property
    def signature(self) -> str:
        """Changes whenever either database file is replaced: the key of cached lookups."""
        return "|".join(f"{db.path}:{db.signature}" if db is not None else "-" for db in (self._city, self._asn))

    @property
    def has_city(self) -> bool:
        return self._city is not None

    @property
    def has_asn(self) -> bool:
        return self._asn is not None

    def place(self, ip: str) -> Place | None:
        """Where ``ip`` is; None without a City db, for a bad or local IP, or when unknown."""
        return self._place(ip)

    def asn(self, ip: str) -> int | None:
        return self._asn_record(ip)[0]

    def aso(self, ip: str) -> str | None:
        """The autonomous system organization, e.g. ``"AMAZON-02"``."""
        return self._asn_record(ip)[1]

    def locate_many(self, ips: list[str]) -> list[tuple[str, str]]:
        """(location label, ASO) of each address, "" when unknown; uncached, for bulk work."""
        out = []
        for ip in ips:
            address = routable(ip)  # parsed once for both databases
            place = self._place_at(address)
            aso = self._asn_at(address)[1]
            out.append((place.label if place is not None else "", aso or ""))
        return out

    def reload_if_changed(self) -> bool:
        """Re-open each file replaced since it was opened; True if any was.

        A file that is gone or not yet a valid database (mid-download) keeps the old
        one in use, and is tried again on the next call.
        """
        reloaded = False
        for attr in ("_city", "_asn"):
            old: _Database | None = getattr(self, attr)
            if old is None or _signature(old.path) in (old.signature, None):
                continue
            try:
                new = _Database(old.path, old.kind)
            except GeoIPError as exc:
                log.warning("geoip reload skipped path=%s error=%s", old.path, exc)
                continue
            setattr(self, attr, new)
            old.reader.close()
            reloaded = True
            log.info("geoip reloaded path=%s", old.path)
        if reloaded:
            self._place.cache_clear()
            self._asn_record.cache_clear()
        return reloaded

    def close(self) -> None:
        for db in (self._city, getattr(self, "_asn", None)):
            if db is not None:
                db.reader.close()

    def _lookup_place(self, ip: str) -> Place | None:
        return self._place_at(routable(ip))

    def _place_at(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> Place | None:
        if self._city is None or address is None:
            return None
        record = self._city.get(address)
        if record is None:
            return None
        # Anycast and some cloud ranges carry only the registrant's country.
        country = _map(record, "country") or _map(record, "registered_country")
        location = _map(record, "location")
        place = Place(
            city=_name(_map(record, "city")),
            region=_first_name(record.get("subdivisions")),
            country=_name(country),
            country_code=_str(country.get("iso_code")),
            latitude=_float(location.get("latitude")),
            longitude=_float(location.get("longitude")),
        )
        return place if place != _UNKNOWN_PLACE else None

    def _lookup_asn(self, ip: str) -> tuple[int | None, str | None]:
        return self._asn_at(routable(ip))

    def _asn_at(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> tuple[int | None, str | None]:
        if self._asn is None or address is None:
            return None, None
        record = self._asn.get(address) or {}
        number = record.get("autonomous_system_number")
        organization = _str(record.get("autonomous_system_organization"))
        return (number if isinstance(number, int) else None), (organization or None)


def distance_km(a: Place, b: Place) -> float | None:
    """Great-circle (haversine) distance; None when either place has no coordinates."""
    if a.latitude is None or a.longitude is None or b.latitude is None or b.longitude is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(
        (lon2 - lon1) / 2
    ) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


_UNKNOWN_PLACE = Place("", "", "", "", None, None)


def routable(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(ip, str):  # callers pass event fields straight through
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:  # e.g. "ec2.amazonaws.com" as CloudTrail's sourceIPAddress
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:a.b.c.d is not aliased in every database
    value = int(address)
    for first, last in _LOCAL_RANGES[address.version]:
        if first <= value <= last:
            return None
    return address


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _map(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _name(entry: object) -> str:
    names = entry.get("names") if isinstance(entry, dict) else None
    return _str(names.get("en")) if isinstance(names, dict) else ""


def _first_name(entries: object) -> str:
    return _name(entries[0]) if isinstance(entries, list) and entries else ""


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
