"""The derived rows' test that a value is an IP address (formats/sql.py ``is_ip``), run in
DuckDB against the standard library's reading of the same strings: every RFC 4291 form of an
IPv6 address, with and without an IPv4 tail, and things that only look like addresses."""

from __future__ import annotations

import ipaddress
import random

import duckdb
import pytest

from gumshoe.formats.sql import is_ip


def ipv6_forms(rng: random.Random) -> list[str]:
    """Addresses written every way: full, compressed at each place, with an IPv4 tail."""
    out = []
    for _ in range(300):
        groups = [rng.choice([0, 0, rng.randrange(0x10000)]) for _ in range(8)]
        address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
        out += [address.exploded, address.compressed]
        # "::" in place of any run of groups, and an IPv4 tail for the last two
        start = rng.randrange(8)
        end = rng.randrange(start + 1, 9)
        hexes = [f"{g:x}" for g in groups]
        out.append(":".join(hexes[:start]) + "::" + ":".join(hexes[end:]))
        tail = str(ipaddress.IPv4Address((groups[6] << 16) | groups[7]))
        cut = rng.randrange(7)
        left, right = hexes[:cut], hexes[min(cut + 1 + rng.randrange(6 - cut), 6):6] if cut < 6 else []
        out.append(":".join(left) + "::" + "".join(f"{h}:" for h in right) + tail)
        out.append(":".join(hexes[:6]) + ":" + tail)
    return out


NOT_ADDRESSES = ["999.999.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "ec2.amazonaws.com", "AWS Internal", "",
                 "1::2::3", "1:2:3:4:5:6:7:8:9", "::ffff:999.1.1.1", "1:2:3:4:5:6:7::1.2.3.4", "12345::1",
                 "fe80::1%eth0", " 1.2.3.4", "1.2.3.4 "]


def test_is_ip_agrees_with_the_standard_library() -> None:
    rng = random.Random(6)
    values = ipv6_forms(rng) + [str(ipaddress.IPv4Address(rng.randrange(2**32))) for _ in range(200)] + NOT_ADDRESSES
    with duckdb.connect() as conn:
        got = dict(conn.execute(f"SELECT v, {is_ip('v')} FROM unnest(?::VARCHAR[]) AS t(v)", [values]).fetchall())

    def valid(value: str) -> bool:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return "%" not in value  # a zone index is not part of an address CloudTrail records

    wrong = {v: got[v] for v in values if got[v] != valid(v)}
    assert not wrong
    assert sum(got.values()) > 1000


@pytest.mark.parametrize("value", ["2001:db8::ffff:192.0.2.1", "64:ff9b::192.0.2.33", "1:2:3:4:5::1.2.3.4"])
def test_an_ipv4_tail_after_groups_on_both_sides_of_the_gap_is_an_address(value: str) -> None:
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT {is_ip('?')}", [value]).fetchone() == (True,)
