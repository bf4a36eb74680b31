"""What the formats' derived-row SQL shares: the hour an event falls in, and the test that a
column holds an IP address (not a service name, "AWS Internal" or a forged value)."""

from __future__ import annotations

from gumshoe.clock import HOUR_MS

__all__ = ["HOUR_MS", "is_ip"]

# An address, not a service name ("ec2.amazonaws.com"), "AWS Internal" or a forged value
# ("999.999.1.1"): a valid IPv4 address, or an IPv6 address in any of its RFC 4291 forms
# (with an embedded IPv4 tail). RE2 (DuckDB's regexp) matches in linear time.
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_H = "[0-9a-fA-F]{1,4}"
_IPV6 = "|".join((
    rf"({_H}:){{7}}{_H}",
    rf"({_H}:){{1,7}}:",
    rf"({_H}:){{1,6}}:{_H}",
    rf"({_H}:){{1,5}}(:{_H}){{1,2}}",
    rf"({_H}:){{1,4}}(:{_H}){{1,3}}",
    rf"({_H}:){{1,3}}(:{_H}){{1,4}}",
    rf"({_H}:){{1,2}}(:{_H}){{1,5}}",
    rf"{_H}:(:{_H}){{1,6}}",
    rf":((:{_H}){{1,7}}|:)",
    rf"({_H}:){{6}}{_IPV4}",
    rf"::({_H}:){{0,5}}{_IPV4}",
    # groups on both sides of "::" before the IPv4 tail, six in all at most ("64:ff9b::1.2.3.4")
    *(rf"({_H}:){{{left}}}(:{_H}){{0,{5 - left}}}:{_IPV4}" for left in range(1, 6)),
))
_IP_PATTERN = f"{_IPV4}|{_IPV6}"


def is_ip(column: str) -> str:
    """The SQL test that a column holds an IP address."""
    return f"regexp_full_match({column}, '{_IP_PATTERN}')"
