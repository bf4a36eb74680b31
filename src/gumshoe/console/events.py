"""Raw-event search: the questions of ``/console/graphs/<graph id>/events``, asked of one of a
graph's raw tables (the formats' ``RAW_TABLE``) in a scope time.

A query is a source (a raw table), up to ``MAX_FILTERS`` filter rows (field, operator, value)
and one way of combining them (AND or OR). Fields are chosen from a whitelist, the format's
``RAW_COLUMNS``: column names reach the SQL only from that list, never from the request, and
every value is a bound parameter. An unknown source, field or operator, or a value an operator
cannot use (a CIDR range that is not one), is a ``QueryError`` with a message for the page.

Operators: ``equals`` (exact text), ``contains`` (part of the text, case-insensitive),
``starts_with`` (exact prefix), ``cidr`` (an IPv4 or IPv6 range; address columns only),
``public`` and ``private`` (address columns only: whether the value is an address in the
private, loopback, link-local or shared ranges). A list column (the source addresses of a
Kubernetes call, a finding's remote addresses) matches when any element does.

Ranges are compared in SQL, without DuckDB's inet extension (not there offline): an IPv4
address as an integer from its four parts, an IPv6 address as its 32 hexadecimal digits
(``::`` expanded, groups zero-padded, an IPv4 tail turned into two groups, lowercase), which
sort as the numbers do; the range's bounds are computed in Python (``ipaddress``). So
``2001:db8::1``, ``2001:DB8:0:0::1`` and ``2001:0db8:0000:0000:0000:0000:0000:0001`` are
one address, in ``2001:0db8::/48`` however that is written.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gumshoe.formats import asff, cloudtrail, eks_audit, guardduty, vpcflow
from gumshoe.formats.sql import is_ip
from gumshoe.graph.store import GraphStore

PAGE_SIZE = 100
MAX_FILTERS = 6  # an instance's flow conversation: the instance, both addresses and ports, the protocol
MAX_VALUE = 2048
EXPORT_CHUNK = 5000  # rows a CSV export reads at a time


class QueryError(ValueError):
    """A query the page cannot run, with the reason in words."""


@dataclass(frozen=True)
class Source:
    name: str  # the raw table
    label: str
    columns: tuple[str, ...]  # the whitelist: the format's RAW_COLUMNS
    types: dict[str, str]  # column -> DuckDB type, from the format's RAW_DDL
    addresses: tuple[str, ...]  # the columns that hold IP addresses

    def is_list(self, column: str) -> bool:
        return self.types.get(column, "").endswith("[]")


def _types(ddl: str) -> dict[str, str]:
    return {name: kind for name, kind in re.findall(r"(\w+) (VARCHAR\[\]|[A-Z]+)\s*[,)]", ddl)}


def _source(reader: Any, label: str, addresses: tuple[str, ...]) -> Source:
    return Source(reader.RAW_TABLE, label, tuple(reader.RAW_COLUMNS), _types(reader.RAW_DDL), addresses)


SOURCES: dict[str, Source] = {s.name: s for s in (
    _source(cloudtrail, "CloudTrail events", ("source_ip",)),
    _source(vpcflow, "VPC flow records", ("src_addr", "dst_addr")),
    _source(guardduty, "GuardDuty findings", ("remote_ips", "local_ips")),
    _source(eks_audit, "EKS audit events", ("source_ips",)),
    _source(asff, "Security Hub findings", ("ips",)),
)}
DEFAULT_SOURCE = "api_events"

OPERATORS: dict[str, str] = {
    "equals": "equals",
    "contains": "contains",
    "starts_with": "starts with",
    "cidr": "in CIDR",
    "public": "is a public address",
    "private": "is a private address",
}
ADDRESS_OPERATORS = ("cidr", "public", "private")
VALUELESS = ("public", "private")

# Ranges that are not public. IPv4: RFC 1918, loopback, link-local, shared address space,
# "this network". IPv6: loopback, unique local (RFC 4193), link-local.
_PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
               "0.0.0.0/8")
_PRIVATE_V6 = ("::1/128", "fc00::/7", "fe80::/10")
_IPV4 = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Filter:
    field: str
    operator: str
    value: str


@dataclass(frozen=True)
class Query:
    source: Source
    filters: tuple[Filter, ...] = ()
    join: str = "and"  # "and" | "or"
    start_ms: int = 0
    end_ms: int = 0

    def params(self) -> dict[str, str]:
        """The URL parameters of the query (without the scope time)."""
        out = {"source": self.source.name, "join": self.join}
        for i, f in enumerate(self.filters):
            out.update({f"f{i}": f.field, f"o{i}": f.operator, f"v{i}": f.value})
        return out


@dataclass
class Built:
    where: str
    params: dict[str, Any] = field(default_factory=dict)


def parse(query: dict[str, str], start_ms: int, end_ms: int) -> Query:
    """The query a page's URL names (``source``, ``join``, ``f0``/``o0``/``v0`` … ``f4``/…);
    a row without a field is left out. QueryError when something is not allowed."""
    name = query.get("source") or DEFAULT_SOURCE
    source = SOURCES.get(name)
    if source is None:
        raise QueryError(f"There is no source {name!r}: choose one of {', '.join(SOURCES)}.")
    join = (query.get("join") or "and").lower()
    if join not in ("and", "or"):
        raise QueryError("Filters are combined with AND or OR.")
    filters = []
    for i in range(MAX_FILTERS):
        column = query.get(f"f{i}") or ""
        if not column:
            continue
        operator = query.get(f"o{i}") or "equals"
        value = query.get(f"v{i}") or ""
        filters.append(check(source, Filter(column, operator, value)))
    extra = [k for k in query if re.fullmatch(r"f\d+", k) and int(k[1:]) >= MAX_FILTERS and query[k]]
    if extra:
        raise QueryError(f"A query has at most {MAX_FILTERS} filters.")
    return Query(source, tuple(filters), join, start_ms, end_ms)


def check(source: Source, f: Filter) -> Filter:
    """A filter row, if its source has the field and the operator can use the value."""
    if f.field not in source.columns:
        raise QueryError(f"{f.field[:100]!r} is not a field of {source.label}: choose one of "
                         f"{', '.join(source.columns)}.")
    if f.operator not in OPERATORS:
        raise QueryError(f"{f.operator[:100]!r} is not an operator: choose one of {', '.join(OPERATORS)}.")
    if f.operator in ADDRESS_OPERATORS and f.field not in source.addresses:
        raise QueryError(f"“{OPERATORS[f.operator]}” applies to address fields only ({', '.join(source.addresses)}), "
                         f"not to {f.field}.")
    if len(f.value) > MAX_VALUE:
        raise QueryError(f"A filter's value is at most {MAX_VALUE} characters.")
    if f.operator == "cidr":
        _network(f.value)
    return Filter(f.field, f.operator, "" if f.operator in VALUELESS else f.value)


def _network(value: str) -> Network:
    """The range a CIDR value names (host bits ignored), or QueryError saying what one looks like."""
    try:
        # The standard library takes an IPv6 zone (fe80::1%eth0/64); a range has none.
        if "%" in value:
            raise ValueError(value)
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise QueryError(f"{value[:100]!r} is not a CIDR range such as 10.0.0.0/8, 203.0.113.7/32, 2001:db8::/32 "
                         "or fe80::/10.") from None


def _v4_number(x: str) -> str:
    """The SQL of an IPv4 address's value as an integer (NULL unless ``x`` is one)."""
    parts = " + ".join(f"TRY_CAST(split_part({x}, '.', {i + 1}) AS BIGINT) * {256 ** (3 - i)}" for i in range(4))
    return f"CASE WHEN regexp_full_match({x}, '{_IPV4}') THEN {parts} END"


def _v6_digits(x: str) -> str:
    """The SQL of an IPv6 address's 32 lowercase hexadecimal digits (NULL unless ``x`` is an
    IPv6 address): an IPv4 tail (``::ffff:192.0.2.1``) becomes two groups, ``::`` the groups
    it stands for, and every group four digits."""
    low = f"lower({x})"
    tail = rf"regexp_extract({low}, '[0-9]+(\.[0-9]+){{3}}$')"
    octets = ", ".join(f"CAST(split_part({tail}, '.', {i}) AS INTEGER)" for i in range(1, 5))
    hexed = (f"(CASE WHEN contains({x}, '.') THEN left({low}, length({low}) - length({tail})) || "
             f"printf('%02x%02x:%02x%02x', {octets}) ELSE {low} END)")
    groups = f"len(regexp_extract_all({hexed}, '[0-9a-f]+'))"
    expanded = f"trim(replace({hexed}, '::', ':' || repeat('0:', 8 - {groups})), ':')"
    # Three zeros before each group, then its last four digits: "db8" -> "000db8" -> "0db8".
    padded = rf"regexp_replace(regexp_replace({expanded}, '([0-9a-f]+)', '000\1', 'g'), '0*([0-9a-f]{{4}}):?', '\1', 'g')"
    return f"CASE WHEN contains({x}, ':') AND {is_ip(x)} THEN {padded} END"


def _digits(address: ipaddress.IPv6Address) -> str:
    return address.exploded.replace(":", "")


def _in_range(x: str, network: Network, params: dict[str, Any], key: str) -> str:
    """The SQL test that ``x`` is an address of ``network`` (its bounds as parameters)."""
    if isinstance(network, ipaddress.IPv4Network):
        params[f"{key}_lo"] = int(network.network_address)
        params[f"{key}_hi"] = int(network.broadcast_address)
        test = f"{_v4_number(x)} BETWEEN ${key}_lo AND ${key}_hi"
        fixed = min(network.prefixlen // 8, 3)
        if not fixed:
            return f"({test})"
        # The range's whole leading octets are a prefix of the address's text (which the pattern
        # allows without leading zeros): a cheap test first, and the arithmetic only where it holds
        # (CASE evaluates its branch on those rows alone; AND inside an expression would not).
        params[f"{key}_prefix"] = ".".join(str(network.network_address).split(".")[:fixed]) + "."
        return f"(CASE WHEN starts_with({x}, ${key}_prefix) THEN {test} ELSE false END)"
    params[f"{key}_lo"] = _digits(network.network_address)
    params[f"{key}_hi"] = _digits(network.broadcast_address)
    return f"({_v6_digits(x)} BETWEEN ${key}_lo AND ${key}_hi)"


def _hex_prefixes(network: ipaddress.IPv6Network) -> list[str]:
    """The hexadecimal beginnings of the addresses of a range (``fc00::/7``: ``fc``, ``fd``)."""
    whole, bits = divmod(network.prefixlen, 4)
    digits = _digits(network.network_address)
    if not bits:
        return [digits[:whole]]
    first = int(digits[whole], 16)
    return [digits[:whole] + f"{first + i:x}" for i in range(2 ** (4 - bits))]


# One pattern of the IPv6 ranges that are not public, on an address's 32 digits.
_PRIVATE_V6_DIGITS = "|".join(f"{p}.*" for text in _PRIVATE_V6 for p in _hex_prefixes(ipaddress.IPv6Network(text)))


def _private(x: str) -> str:
    v4 = _v4_number(x)
    ranges = []
    for text in _PRIVATE_V4:
        net = ipaddress.IPv4Network(text)
        ranges.append(f"{v4} BETWEEN {int(net.network_address)} AND {int(net.broadcast_address)}")
    v6 = f"regexp_full_match({_v6_digits(x)}, '{_PRIVATE_V6_DIGITS}')"
    return f"(COALESCE({' OR '.join(ranges)}, false) OR COALESCE({v6}, false))"


def _predicate(f: Filter, x: str, params: dict[str, Any], key: str) -> str:
    """The SQL test of one value ``x`` (an expression of text); values as parameters ``$key``."""
    if f.operator == "equals":
        params[key] = f.value
        return f"{x} = ${key}"
    if f.operator == "contains":
        params[key] = f.value.lower()
        return f"contains(lower({x}), ${key})"
    if f.operator == "starts_with":
        params[key] = f.value
        return f"starts_with({x}, ${key})"
    if f.operator == "cidr":
        return _in_range(x, _network(f.value), params, key)
    if f.operator == "private":
        return f"COALESCE({is_ip(x)} AND {_private(x)}, false)"
    if f.operator == "public":
        return f"COALESCE({is_ip(x)} AND NOT {_private(x)}, false)"
    raise QueryError(f"{f.operator!r} is not an operator.")


def build(query: Query) -> Built:
    """The WHERE clause of a query and its parameters: the scope time and the filters."""
    params: dict[str, Any] = {"start": query.start_ms, "end": query.end_ms}
    tests = []
    for i, f in enumerate(query.filters):
        column = f'"{f.field}"'  # from the whitelist (check), never the request's text
        if query.source.is_list(f.field):
            inner = _predicate(f, "u.x", params, f"p{i}")
            tests.append(f"EXISTS (SELECT 1 FROM unnest({column}) AS u(x) WHERE {inner})")
        else:
            text = column if query.source.types.get(f.field) == "VARCHAR" else f"CAST({column} AS VARCHAR)"
            tests.append(f"COALESCE({_predicate(f, text, params, f'p{i}')}, false)")
    where = "time_ms >= $start AND time_ms < $end"
    if tests:
        where += " AND (" + f" {query.join.upper()} ".join(tests) + ")"
    return Built(where, params)


def _select(query: Query, built: Built) -> str:
    columns = ", ".join(f'"{c}"' for c in query.source.columns)
    return f"SELECT {columns} FROM {query.source.name} WHERE {built.where} ORDER BY time_ms DESC, rowid DESC"


def search(store: GraphStore, query: Query, offset: int = 0, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """A page of the matching records, newest first, and how many match in all."""
    built = build(query)
    with store.cursor() as conn:
        total = conn.execute(f"SELECT count(*) FROM {query.source.name} WHERE {built.where}", built.params).fetchone()
        rows = conn.execute(f"{_select(query, built)} LIMIT $limit OFFSET $offset",
                            {**built.params, "limit": limit, "offset": offset}).fetchall()
    return {"total": int(total[0]) if total else 0, "columns": list(query.source.columns),
            "rows": [list(r) for r in rows]}


# --- exports ---------------------------------------------------------------------------

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as CSV text: lists as JSON, booleans as true/false, NULL as nothing; text that a
    spreadsheet would run as a formula (= + - @ tab CR first) gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA) else value
    return str(value)


def export_csv(store: GraphStore, query: Query, out: Path) -> int:
    """Every record of the query as CSV into the file ``out`` (header first, newest first), read
    EXPORT_CHUNK rows at a time in one read of the store: how many records."""
    built = build(query)
    count = 0
    with out.open("w", encoding="utf-8", newline="") as f, store.cursor() as conn:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(query.source.columns)
        result = conn.execute(_select(query, built), built.params)
        while chunk := result.fetchmany(EXPORT_CHUNK):
            writer.writerows([csv_cell(v) for v in row] for row in chunk)
            count += len(chunk)
    return count


def export_parquet(store: GraphStore, query: Query, out: Path) -> int:
    """Every record of the query as a Parquet file ``out`` (DuckDB's own writer, row group by
    row group, the columns' own types; newest first): how many records."""
    built = build(query)
    # The file's name is the caller's temporary file (never the request's text).
    quoted = str(out).replace("'", "''")
    with store.cursor() as conn:
        written = conn.execute(f"COPY ({_select(query, built)}) TO '{quoted}' (FORMAT PARQUET)", built.params).fetchone()
    return int(written[0]) if written else 0


# --- links into the page ---------------------------------------------------------------

# What an entity's hour is, as filters of a source: (source, join, [(field, value-is-the-id)]).
_ENTITY_FILTERS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "aws_user": [("api_events", "and", ("principal_id",))],
    "role_session": [("api_events", "and", ("principal_id",))],
    "federated_user": [("api_events", "and", ("principal_id",))],
    "aws_role": [("api_events", "and", ("role_arn",))],
    "aws_account": [("api_events", "and", ("account_id",))],
    "user_agent": [("api_events", "and", ("user_agent",))],
    "s3_bucket": [("api_events", "and", ("bucket",))],
    "ip_address": [("api_events", "and", ("source_ip",)), ("flows", "or", ("src_addr", "dst_addr"))],
    "ec2_instance": [("api_events", "and", ("instance_id",)), ("flows", "and", ("instance_id",))],
    "kubernetes_user": [("k8s_events", "and", ("username",))],
    "eks_cluster": [("k8s_events", "and", ("cluster",))],
}


def entity_queries(entity_type: str, entity_id: str) -> list[tuple[str, dict[str, str]]]:
    """The searches that show an entity's raw records: (source label, URL parameters)."""
    out = []
    for name, join, columns in _ENTITY_FILTERS.get(entity_type, []):
        params = {"source": name, "join": join}
        for i, column in enumerate(columns):
            params.update({f"f{i}": column, f"o{i}": "equals", f"v{i}": entity_id})
        out.append((SOURCES[name].label, params))
    return out


def display(value: Any, column: str, utc: Callable[[Any], str]) -> str:
    """A cell as the page shows it (the template escapes it): times in UTC, lists joined."""
    if value is None:
        return "-"
    if column.endswith("_ms") and isinstance(value, int):
        return utc(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def rows_for_page(rows: Iterable[list[Any]], columns: list[str], utc: Callable[[Any], str]) -> list[list[str]]:
    return [[display(v, c, utc) for v, c in zip(row, columns, strict=True)] for row in rows]
