from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import maxminddb
import maxminddb.reader
import pytest
from mmdb_writer import asn_record, build_geo_dbs, city_record, write_mmdb

from gumshoe.investigate.geo import GeoIP, GeoIPError, Place, distance_km

LONDON = ("London", "United Kingdom", "GB", 51.5074, -0.1278, 5089, "Virgin Media Limited")
NEW_YORK = ("New York", "United States", "US", 40.7128, -74.0060, 701, "Verizon Business")
SEATTLE = ("Seattle", "United States", "US", 47.6062, -122.3321, 16509, "AMAZON-02")
TABLE = {"81.2.69.0/24": LONDON, "198.51.100.7": NEW_YORK, "2600:1f14::/35": SEATTLE}

Open = Callable[[Path], Any]


def _open_pure(path: Path) -> Any:
    return maxminddb.reader.Reader(str(path))


def _open_with(mode: int) -> Open:
    return lambda path: maxminddb.open_database(path, mode)


READERS: dict[str, Open] = {
    "auto": _open_with(maxminddb.MODE_AUTO),
    "file": _open_with(maxminddb.MODE_FILE),
    "memory": _open_with(maxminddb.MODE_MEMORY),
    "mmap": _open_with(maxminddb.MODE_MMAP),
    "pure-reader": _open_pure,
}


@pytest.fixture(params=sorted(READERS))
def open_db(request: pytest.FixtureRequest) -> Iterator[Open]:
    opened: list[Any] = []

    def open_(path: Path) -> Any:
        opened.append(READERS[request.param](path))
        return opened[-1]

    yield open_
    for reader in opened:
        reader.close()


@pytest.fixture
def geo(tmp_path: Path) -> Iterator[GeoIP]:
    city, asn = build_geo_dbs(tmp_path, TABLE)
    g = GeoIP(city, asn)
    yield g
    g.close()


# -- the writer, read back by the real reader --------------------------------------------


def test_values_round_trip(tmp_path: Path, open_db: Open) -> None:
    value = {
        "str": "Zürich",
        "long": "x" * 300,
        "longer": "y" * 70_000,
        "ints": [0, 1, 65_535, 65_536, 2**32, 2**64 - 1, 2**100, -1, -(2**31)],
        "double": -122.3321,
        "bools": [True, False],
        "nested": {"a": [{"b": {}}, []]},
        "wide": {f"k{i}": i for i in range(40)},
    }
    path = tmp_path / "t.mmdb"
    write_mmdb(path, {"203.0.113.0/24": value}, database_type="Test")
    assert open_db(path).get("203.0.113.9") == value


def test_overlapping_adjacent_and_ipv6_networks(tmp_path: Path, open_db: Open) -> None:
    path = tmp_path / "t.mmdb"
    records = {  # most specific first, to show insertion order does not matter
        "203.0.113.77": {"n": "host"},
        "203.0.113.128/25": {"n": "upper"},
        "203.0.113.0/24": {"n": "net"},
        "203.0.114.0/24": {"n": "adjacent"},
        "2001:db8::/32": {"n": "v6"},
        "2001:db8:1::/48": {"n": "v6-inner"},
    }
    write_mmdb(path, records, database_type="Test")
    reader = open_db(path)

    assert reader.get("203.0.113.77") == {"n": "host"}
    assert reader.get_with_prefix_len("203.0.113.78") == ({"n": "net"}, 31)
    assert reader.get_with_prefix_len("203.0.113.200") == ({"n": "upper"}, 25)
    assert reader.get("203.0.114.255") == {"n": "adjacent"}
    assert reader.get("2001:db8:ffff::1") == {"n": "v6"}
    assert reader.get_with_prefix_len("2001:db8:1::5") == ({"n": "v6-inner"}, 48)
    assert reader.get("203.0.115.1") is None
    assert reader.get("203.0.112.255") is None
    assert reader.get("2001:db9::1") is None
    assert reader.get("::1") is None


def test_reader_iterates_exactly_the_networks_written(tmp_path: Path) -> None:
    path = tmp_path / "t.mmdb"
    write_mmdb(
        path,
        {"203.0.113.0/25": {"n": 1}, "203.0.113.128/25": {"n": 2}, "2001:db8::/32": {"n": 3}},
        database_type="Test",
    )
    with maxminddb.open_database(path, maxminddb.MODE_FILE) as reader:
        found = {str(network): record for network, record in reader}
    assert found == {
        "203.0.113.0/25": {"n": 1},
        "203.0.113.128/25": {"n": 2},
        "2001:db8::/32": {"n": 3},
    }


def test_metadata(tmp_path: Path, open_db: Open) -> None:
    path = tmp_path / "t.mmdb"
    write_mmdb(path, {"203.0.113.0/24": {}}, database_type="GeoLite2-City")
    meta = open_db(path).metadata()
    assert (meta.database_type, meta.ip_version, meta.record_size) == ("GeoLite2-City", 6, 32)
    assert (meta.binary_format_major_version, meta.binary_format_minor_version) == (2, 0)
    assert meta.languages == ["en"]
    assert meta.node_count > 96  # the IPv4 subtree hangs 96 nodes below the root


def test_ipv4_only_database(tmp_path: Path, open_db: Open) -> None:
    path = tmp_path / "t.mmdb"
    write_mmdb(path, {"198.51.100.0/24": {"n": 4}}, database_type="Test", ip_version=4)
    reader = open_db(path)
    assert reader.metadata().ip_version == 4
    assert reader.get("198.51.100.1") == {"n": 4}
    assert reader.get("198.51.101.1") is None


def test_empty_and_whole_space_databases(tmp_path: Path, open_db: Open) -> None:
    empty, everything = tmp_path / "empty.mmdb", tmp_path / "all.mmdb"
    write_mmdb(empty, {}, database_type="Test")
    write_mmdb(everything, {"::/0": {"n": "any"}}, database_type="Test")
    assert open_db(empty).get("8.8.8.8") is None
    assert open_db(everything).get("2a00::1") == {"n": "any"}
    assert open_db(everything).get("8.8.8.8") == {"n": "any"}


@pytest.mark.parametrize(
    ("key", "ip_version"), [("203.0.113.1/24", 6), ("2001:db8::/32", 4), ("nope", 6)]
)
def test_writer_rejects_bad_networks(tmp_path: Path, key: str, ip_version: int) -> None:
    with pytest.raises(ValueError):
        write_mmdb(tmp_path / "t.mmdb", {key: {}}, database_type="Test", ip_version=ip_version)


def test_build_geo_dbs_shapes(tmp_path: Path) -> None:
    city, asn = build_geo_dbs(tmp_path, TABLE)
    with maxminddb.open_database(city) as c, maxminddb.open_database(asn) as a:
        assert c.get("81.2.69.1") == city_record(*LONDON[:5])
        assert a.get("81.2.69.1") == asn_record(5089, "Virgin Media Limited")
        assert c.metadata().database_type == "GeoLite2-City"
        assert a.metadata().database_type == "GeoLite2-ASN"


# -- GeoIP ---------------------------------------------------------------------------


def test_place_asn_and_aso(geo: GeoIP) -> None:
    london = geo.place("81.2.69.142")
    assert london == Place("London", "", "United Kingdom", "GB", 51.5074, -0.1278)
    assert geo.asn("81.2.69.142") == 5089
    assert geo.aso("81.2.69.142") == "Virgin Media Limited"
    assert geo.place("198.51.100.7") is not None
    assert geo.place("198.51.100.8") is None  # a single IP is a /32
    assert geo.has_city and geo.has_asn


def test_ipv6_and_ipv4_mapped(geo: GeoIP) -> None:
    seattle = geo.place("2600:1f14:abc::1")
    assert seattle is not None and seattle.city == "Seattle"
    assert geo.aso("2600:1f14:abc::1") == "AMAZON-02"
    assert geo.place("::ffff:81.2.69.142") == geo.place("81.2.69.142")
    assert geo.place("2600:1f15::1") is None


@pytest.mark.parametrize(
    "ip", ["ec2.amazonaws.com", "", " ", "81.2.69", "81.2.69.142/24", "::g", "AWS Internal"]
)
def test_invalid_ips_are_none(geo: GeoIP, ip: str) -> None:
    assert geo.place(ip) is None
    assert geo.asn(ip) is None
    assert geo.aso(ip) is None


def test_local_addresses_are_not_looked_up(tmp_path: Path) -> None:
    table = {"10.0.0.0/8": LONDON, "fc00::/7": LONDON, "192.0.2.0/24": LONDON}
    g = GeoIP(*build_geo_dbs(tmp_path, table))
    try:
        assert g.place("10.1.2.3") is None
        assert g.place("fd00::1") is None
        assert g.aso("127.0.0.1") is None
        assert g.place("192.0.2.1") is not None  # documentation ranges stay usable for tests
    finally:
        g.close()


def test_no_databases(tmp_path: Path) -> None:
    g = GeoIP(None, "")
    assert not g.has_city and not g.has_asn
    assert g.place("81.2.69.142") is None and g.asn("81.2.69.142") is None
    assert g.reload_if_changed() is False
    g.close()


def test_only_asn_database(tmp_path: Path) -> None:
    _, asn = build_geo_dbs(tmp_path, TABLE)
    g = GeoIP(None, asn)
    try:
        assert g.place("81.2.69.142") is None
        assert g.asn("81.2.69.142") == 5089
    finally:
        g.close()


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "GeoLite2-City.mmdb"
    with pytest.raises(GeoIPError, match="GeoLite2") as caught:
        GeoIP(missing, None)
    assert str(missing) in str(caught.value)
    assert "db-ip.com" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("content", [b"", b"not a database\n", b"\xab\xcd\xefMaxMind.com"])
def test_not_an_mmdb_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    bogus = tmp_path / "asn.mmdb"
    bogus.write_bytes(content)
    with pytest.raises(GeoIPError, match="asn.mmdb"):
        GeoIP(None, bogus)


def test_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeoIPError, match=str(tmp_path)):
        GeoIP(tmp_path, None)


def test_swapped_databases_are_a_clear_error(tmp_path: Path) -> None:
    city, asn = build_geo_dbs(tmp_path, TABLE)
    with pytest.raises(GeoIPError, match="swapped"):
        GeoIP(asn, city)


def test_dbip_lite_shapes(tmp_path: Path) -> None:
    city, asn = tmp_path / "dbip-city-lite.mmdb", tmp_path / "dbip-asn-lite.mmdb"
    city_rec = {
        "city": {"names": {"en": "Paris"}},
        "continent": {"code": "EU", "geoname_id": 6255148, "names": {"en": "Europe"}},
        "country": {"iso_code": "FR", "names": {"en": "France", "fr": "France"}},
        "location": {"latitude": 48.8534, "longitude": 2.3488},
        "subdivisions": [{"names": {"en": "Île-de-France"}}],
    }
    write_mmdb(city, {"2.2.2.0/24": city_rec}, database_type="DBIP-City-Lite")
    write_mmdb(
        asn,
        {"2.2.2.0/24": asn_record(3215, "Orange S.A.")},
        database_type="DBIP-ASN-Lite (compat=GeoLite2-ASN)",
    )
    g = GeoIP(city, asn)
    try:
        place = g.place("2.2.2.2")
        assert place is not None and place.label == "Paris, Île-de-France, France"
        assert (g.asn("2.2.2.2"), g.aso("2.2.2.2")) == (3215, "Orange S.A.")
    finally:
        g.close()


ODD_RECORDS: list[tuple[dict[str, Any], Place | None]] = [
    ({"country": {"iso_code": "FR"}}, Place("", "", "", "FR", None, None)),
    (
        {"registered_country": {"iso_code": "US", "names": {"en": "United States"}}},
        Place("", "", "United States", "US", None, None),
    ),
    ({"city": "Paris", "subdivisions": "x", "location": {"latitude": "48"}}, None),
    (
        {"subdivisions": [], "location": {"latitude": 1, "longitude": True}},
        Place("", "", "", "", 1.0, None),
    ),
    ({}, None),
]


@pytest.mark.parametrize(("record", "expected"), ODD_RECORDS)
def test_odd_records_do_not_raise(
    tmp_path: Path, record: dict[str, Any], expected: Place | None
) -> None:
    path, asn = tmp_path / "city.mmdb", tmp_path / "asn.mmdb"
    write_mmdb(path, {"2.2.2.0/24": record}, database_type="GeoLite2-City")
    bad_asn = {"autonomous_system_number": "x", "autonomous_system_organization": 7}
    write_mmdb(asn, {"2.2.2.0/24": bad_asn}, database_type="GeoLite2-ASN")
    g = GeoIP(path, asn)
    try:
        assert g.place("2.2.2.2") == expected
        assert (g.asn("2.2.2.2"), g.aso("2.2.2.2")) == (None, None)
    finally:
        g.close()


def test_reload_after_the_file_is_rewritten(tmp_path: Path) -> None:
    city, asn = build_geo_dbs(tmp_path, {"81.2.69.0/24": LONDON})
    g = GeoIP(city, asn)
    try:
        assert g.place("81.2.69.142") is not None  # now cached
        assert g.reload_if_changed() is False

        build_geo_dbs(tmp_path, {"81.2.69.0/24": NEW_YORK})
        assert g.reload_if_changed() is True
        place = g.place("81.2.69.142")
        assert place is not None and place.city == "New York"
        assert g.aso("81.2.69.142") == "Verizon Business"
        assert g.reload_if_changed() is False
    finally:
        g.close()


def test_reload_keeps_the_old_file_while_the_new_one_is_bad(tmp_path: Path) -> None:
    city, _ = build_geo_dbs(tmp_path, {"81.2.69.0/24": LONDON})
    g = GeoIP(city, None)
    try:
        half = tmp_path / "half"
        half.write_bytes(b"half a download")
        half.replace(city)  # in place would corrupt the mapped file under the old reader
        assert g.reload_if_changed() is False
        place = g.place("81.2.69.142")
        assert place is not None and place.city == "London"

        city.unlink()
        assert g.reload_if_changed() is False

        build_geo_dbs(tmp_path, {"81.2.69.0/24": SEATTLE})
        assert g.reload_if_changed() is True
        place = g.place("81.2.69.142")
        assert place is not None and place.city == "Seattle"
    finally:
        g.close()


# -- Place and distance_km -----------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "label"),
    [
        (Place("Seattle", "Washington", "United States", "US", 47.6, -122.3),
         "Seattle, Washington, United States"),
        (Place("Seattle", "", "United States", "US", None, None), "Seattle, United States"),
        (Place("", "", "France", "FR", None, None), "France"),
        (Place("", "", "", "FR", None, None), ""),
        (Place("", "", "", "", None, None), ""),
    ],
)
def test_label(place: Place, label: str) -> None:
    assert place.label == label


def _at(lat: float | None, lon: float | None) -> Place:
    return Place("", "", "", "", lat, lon)


def test_distance_london_new_york() -> None:
    km = distance_km(_at(51.5074, -0.1278), _at(40.7128, -74.0060))
    assert km == pytest.approx(5570, rel=0.01)


def test_distance_edges() -> None:
    assert distance_km(_at(10, 20), _at(10, 20)) == 0
    assert distance_km(_at(0, 0), _at(0, 180)) == pytest.approx(math.pi * 6371.0088)
    assert distance_km(_at(None, 1), _at(0, 0)) is None
    assert distance_km(_at(0, 0), _at(0, None)) is None

