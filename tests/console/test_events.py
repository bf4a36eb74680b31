"""The raw-event search (console/events.py) on a small graph: console_world.py's hand-written
CloudTrail, flow log and GuardDuty finding ingested by the real pipeline, every answer
checked against the records themselves."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import console_world as cw
import ingest_fixtures as fx
import pyarrow.parquet as pq
import pytest

from gumshoe.console import events

HOUR_MS = 3_600_000
# IPv6 sources of CloudTrail calls as a log may write them (CloudTrail keeps the text as it
# came): compressed, uppercase, every group written out, an IPv4 tail; and what is no IPv6.
V6_SOURCES = (
    "2001:db8::1", "2001:DB8:0:0:0:0:0:2", "2001:0db8:0000:0000:0000:0000:0000:0003", "2001:db8:0:1::7",
    "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::1", "2001:db7:ffff::1", "fe80::1", "FE80::abcd:1",
    "febf:ffff::1", "fec0::1", "fd00:1234::9", "fc00::", "fbff::1", "::1", "0:0:0:0:0:0:0:1", "::2",
    "::ffff:192.0.2.9", "::", "2600:1f18:abcd::42", "203.0.113.5", "10.1.2.3", "ec2.amazonaws.com", "AWS Internal",
)


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with cw.ingested_graph(tmp_path_factory.mktemp("console-events"), cw.activity()) as graph:
        graph.flows = [line.split() for line in cw.flow_log(graph.w).splitlines()[1:]]
        yield graph


def run(graph: Any, source: str = "api_events", join: str = "and", *filters: tuple[str, str, str],
        offset: int = 0, limit: int = 1000) -> dict[str, Any]:
    params = {"source": source, "join": join}
    for i, (f, o, v) in enumerate(filters):
        params.update({f"f{i}": f, f"o{i}": o, f"v{i}": v})
    query = events.parse(params, *graph.scope)
    return events.search(graph.store, query, offset, limit)


def column(found: dict[str, Any], name: str) -> list[Any]:
    i = found["columns"].index(name)
    return [row[i] for row in found["rows"]]


def ids(found: dict[str, Any]) -> list[str]:
    return column(found, "event_id")


def newest_first(events_: list[dict[str, Any]]) -> list[str]:
    return [e["eventID"] for e in sorted(events_, key=lambda e: e["eventTime"], reverse=True)]


def test_without_filters_every_record_of_the_scope_newest_first(graph: Any) -> None:
    found = run(graph)
    assert found["total"] == len(graph.w.events) and found["columns"] == list(events.SOURCES["api_events"].columns)
    times = column(found, "time_ms")
    assert times == sorted(times, reverse=True)
    assert set(ids(found)) == {e["eventID"] for e in graph.w.events}
    # The scope time bounds the records: the busiest hour alone.
    hour = ms(graph.w.busiest_hour)
    query = events.parse({}, hour, hour + HOUR_MS)
    assert events.search(graph.store, query)["total"] == len(graph.w.in_hour(graph.w.events, graph.w.busiest_hour))


def test_equals_contains_and_starts_with(graph: Any) -> None:
    alice = graph.w.of(cw.ALICE)
    assert ids(run(graph, "api_events", "and", ("principal_id", "equals", cw.ALICE))) == newest_first(alice)
    assert run(graph, "api_events", "and", ("principal_id", "equals", cw.ALICE.upper()))["total"] == 0  # exact
    # contains: a part, whatever its case.
    gets = [e for e in graph.w.events if e["eventName"] == "GetObject"]
    assert ids(run(graph, "api_events", "and", ("event_name", "contains", "etobj"))) == newest_first(gets)
    assert run(graph, "api_events", "and", ("event_name", "contains", "GETOBJECT"))["total"] == len(gets)
    # starts with: a prefix, as written.
    iam = [e for e in graph.w.events if e["eventSource"] == "iam.amazonaws.com"]
    assert run(graph, "api_events", "and", ("event_source", "starts_with", "iam."))["total"] == len(iam) == 2
    assert run(graph, "api_events", "and", ("event_source", "starts_with", "amazonaws"))["total"] == 0
    # Columns that are not text compare as their text: a boolean, a number.
    writes = [e for e in graph.w.events if e.get("readOnly") is False]
    assert run(graph, "api_events", "and", ("read_only", "equals", "false"))["total"] == len(writes) > 0
    flows = run(graph, "flows", "and", ("dst_port", "equals", "22"))
    assert flows["total"] == sum(1 for f in graph.flows if f[6] == "22") == 5


def test_and_versus_or(graph: Any) -> None:
    away = [e for e in graph.w.events if e["sourceIPAddress"] == cw.IP_AWAY]
    denied = [e for e in graph.w.events if e.get("errorCode") == "AccessDenied"]
    both = [e for e in away if e in denied]
    either = [e for e in graph.w.events if e in away or e in denied]
    filters = (("source_ip", "equals", cw.IP_AWAY), ("error_code", "equals", "AccessDenied"))
    assert ids(run(graph, "api_events", "and", *filters)) == newest_first(both)
    assert ids(run(graph, "api_events", "or", *filters)) == newest_first(either)
    assert 0 < len(both) < len(either)
    # A flow's two addresses: either one (OR), as the profile's link to an address's flows does.
    peer = run(graph, "flows", "or", ("src_addr", "equals", "10.0.1.5"), ("dst_addr", "equals", "10.0.1.5"))
    assert peer["total"] == len(graph.flows)


def test_cidr_ranges(graph: Any) -> None:
    def in_net(net: str) -> list[str]:
        return [e["eventID"] for e in graph.w.events if ipaddress.ip_address(e["sourceIPAddress"]) in
                ipaddress.ip_network(net)]

    for net in ("203.0.113.0/24", "198.51.100.0/25", "198.51.100.10/32", "0.0.0.0/0", "192.0.2.0/24"):
        found = run(graph, "api_events", "and", ("source_ip", "cidr", net))
        assert sorted(ids(found)) == sorted(in_net(net)), net
    assert run(graph, "api_events", "and", ("source_ip", "cidr", "198.51.100.10/24"))["total"] == len(
        in_net("198.51.100.0/24"))  # host bits are ignored
    egress = run(graph, "flows", "and", ("src_addr", "cidr", "10.0.0.0/16"))
    assert egress["total"] == sum(1 for f in graph.flows if f[3].startswith("10.0.")) == 5
    # A list column matches when any of its addresses does: the finding's remote address.
    assert run(graph, "findings", "and", ("remote_ips", "cidr", "198.51.100.0/24"))["total"] == 1
    assert run(graph, "findings", "and", ("remote_ips", "cidr", "10.0.0.0/8"))["total"] == 0


def test_public_and_private_addresses(graph: Any) -> None:
    private = run(graph, "flows", "and", ("dst_addr", "private", "ignored"))
    assert set(column(private, "dst_addr")) == {"10.0.1.5"} and private["total"] == 5
    public = run(graph, "flows", "and", ("dst_addr", "public", ""))
    assert set(column(public, "dst_addr")) == {"198.51.100.77"} and public["total"] == 5
    assert run(graph, "api_events", "and", ("source_ip", "public", ""))["total"] == len(graph.w.events)
    assert run(graph, "api_events", "and", ("source_ip", "private", ""))["total"] == 0
    assert run(graph, "findings", "and", ("remote_ips", "public", ""))["total"] == 1


def test_the_private_test_knows_the_ranges() -> None:
    """The SQL of is public / is private on single values, against the standard library."""
    import duckdb

    conn = duckdb.connect()
    cases = {"10.1.2.3": True, "172.16.0.1": True, "172.32.0.1": False, "192.168.9.9": True, "127.0.0.1": True,
             "169.254.169.254": True, "100.64.0.1": True, "8.8.8.8": False, "203.0.113.77": False,
             "fd12:3456::1": True, "fe80::1": True, "::1": True, "2001:db8::1": False, "2600:1f18::1": False,
             "fc::1": False}
    source = events.SOURCES["api_events"]

    def matches(value: str, operator: str) -> bool:
        conn.execute("CREATE OR REPLACE TABLE api_events AS SELECT 5::BIGINT AS time_ms, $a::VARCHAR AS source_ip",
                     {"a": value})
        built = events.build(events.Query(source, (events.Filter("source_ip", operator, ""),), "and", 0, 10))
        row = conn.execute(f"SELECT count(*) FROM api_events WHERE {built.where}", built.params).fetchone()
        return bool(row and row[0])

    for address, is_private in cases.items():
        assert matches(address, "private") is is_private, address
        assert matches(address, "public") is not is_private, address
    for value in ("not an ip", "AWS Internal", "ec2.amazonaws.com", "999.1.1.1", ""):
        assert not matches(value, "private") and not matches(value, "public"), value


@pytest.fixture(scope="module")
def v6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One call from each of V6_SOURCES, and IPv6 flows (which the reader writes compressed)."""
    world = cw.World(dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - 3 * cw.HOUR)
    alice = fx.iam_user(cw.ADMIN, "alice")
    for n, ip in enumerate(V6_SOURCES):
        world.events.append(fx.ct_event(cw.ADMIN, cw.REGION, world.start + dt.timedelta(minutes=n), alice,
                                        "sts.amazonaws.com", "GetCallerIdentity", ip=ip, agent=fx.UA_CLI,
                                        event_id=f"00000000-0000-4000-8000-{n:012d}"))
    t0 = int(world.start.timestamp())
    flows = [("2001:DB8::10", "2600:1f18::1"), ("2001:db8:0:0:0:0:0:11", "fd00::5"), ("fe80::9", "10.0.0.1"),
             ("198.51.100.1", "2001:db8::12")]
    rows = [f"2 {cw.ADMIN} eni-0a1b2c3d4e5f60000 {src} {dst} 443 50000 6 1 100 {t0 + i} {t0 + i + 5} ACCEPT OK"
            for i, (src, dst) in enumerate(flows)]

    def write(folder: Path, w: cw.World) -> None:
        fx.write_cloudtrail(folder, cw.ADMIN, cw.REGION, w.events, w.start)
        fx.put(folder, fx.flow_key(cw.ADMIN, cw.REGION, w.start), gzip.compress(("\n".join(rows) + "\n").encode()))

    with cw.ingested_graph(tmp_path_factory.mktemp("console-v6"), world, write) as graph:
        yield graph


def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@pytest.mark.parametrize("cidr", ["2001:db8::/32", "2001:0db8:0000::/48", "2001:db8::1/128", "2001:db8::/126",
                                  "2001:db8:0:1::/64", "::1/128", "::/127", "fe80::/10", "fc00::/7", "::/0",
                                  "::ffff:0:0/96", "2001:db8::5/31", "0.0.0.0/0", "10.0.0.0/8"])
def test_ipv6_ranges_match_the_addresses_however_written(v6: Any, cidr: str) -> None:
    network = ipaddress.ip_network(cidr, strict=False)
    expected = sorted(e["eventID"] for e in v6.w.events
                      if (a := address(e["sourceIPAddress"])) is not None and a.version == network.version
                      and a in network)
    assert sorted(ids(run(v6, "api_events", "and", ("source_ip", "cidr", cidr)))) == expected, cidr


def test_a_compressed_address_is_in_a_range_written_out(v6: Any) -> None:
    found = run(v6, "api_events", "and", ("source_ip", "cidr", "2001:0db8:0000::/48"))
    assert set(column(found, "source_ip")) == {"2001:db8::1", "2001:DB8:0:0:0:0:0:2",
                                               "2001:0db8:0000:0000:0000:0000:0000:0003", "2001:db8:0:1::7"}
    # IPv4 ranges hold no IPv6 address (nor an IPv4-mapped one), and IPv6 ranges no IPv4 address.
    assert set(column(run(v6, "api_events", "and", ("source_ip", "cidr", "0.0.0.0/0")), "source_ip")) == {
        "203.0.113.5", "10.1.2.3"}
    assert "203.0.113.5" not in column(run(v6, "api_events", "and", ("source_ip", "cidr", "::/0")), "source_ip")
    # Flows (whose addresses the reader writes compressed) and OR across both address fields.
    flows = run(v6, "flows", "or", ("src_addr", "cidr", "2001:db8::/32"), ("dst_addr", "cidr", "2001:db8::/32"))
    assert sorted(column(flows, "src_addr")) == ["198.51.100.1", "2001:db8::10", "2001:db8::11"]


def test_ipv6_private_and_public_addresses(v6: Any) -> None:
    private_ranges = [ipaddress.ip_network(n) for n in ("::1/128", "fc00::/7", "fe80::/10", "10.0.0.0/8")]
    valid = [e["sourceIPAddress"] for e in v6.w.events if address(e["sourceIPAddress"]) is not None]
    private = {ip for ip in valid
               if any((a := address(ip)) is not None and a.version == n.version and a in n for n in private_ranges)}
    assert private == {"fe80::1", "FE80::abcd:1", "febf:ffff::1", "fd00:1234::9", "fc00::", "::1", "0:0:0:0:0:0:0:1",
                       "10.1.2.3"}
    assert set(column(run(v6, "api_events", "and", ("source_ip", "private", "")), "source_ip")) == private
    assert set(column(run(v6, "api_events", "and", ("source_ip", "public", "")), "source_ip")) == set(valid) - private
    assert set(column(run(v6, "flows", "and", ("dst_addr", "private", "")), "dst_addr")) == {"fd00::5", "10.0.0.1"}


def test_ipv6_ranges_on_single_values_against_the_standard_library() -> None:
    """Many addresses in each of their written forms, in and around ranges of every length."""
    import random

    import duckdb

    rng = random.Random(9)
    conn = duckdb.connect()
    source = events.SOURCES["api_events"]
    for _ in range(40):
        network = ipaddress.IPv6Network((rng.getrandbits(128), rng.randrange(0, 129)), strict=False)
        inside = int(network.network_address) + rng.randrange(network.num_addresses)
        just_out = (int(network.broadcast_address) + 1) % 2 ** 128
        below = (int(network.network_address) - 1) % 2 ** 128
        values = []
        for number in (inside, just_out, below, int(network.network_address), int(network.broadcast_address)):
            a = ipaddress.IPv6Address(number)
            values += [a.compressed, a.exploded, a.exploded.upper(), ":".join(g.lstrip("0") or "0"
                                                                              for g in a.exploded.split(":"))]
            if a.compressed.startswith("::ffff:"):
                values.append(f"::ffff:{a.ipv4_mapped}")
        conn.execute("CREATE OR REPLACE TABLE api_events AS "
                     "SELECT 5::BIGINT AS time_ms, unnest($v::VARCHAR[]) AS source_ip", {"v": values})
        built = events.build(events.Query(source, (events.Filter("source_ip", "cidr", str(network)),), "and", 0, 10))
        got = {r[0] for r in conn.execute(f"SELECT source_ip FROM api_events WHERE {built.where}",
                                          built.params).fetchall()}
        assert got == {v for v in values if ipaddress.IPv6Address(v) in network}, network


def test_pages_and_totals(graph: Any) -> None:
    everything = ids(run(graph))
    pages = [run(graph, offset=o, limit=7) for o in range(0, len(everything) + 7, 7)]
    assert all(p["total"] == len(everything) for p in pages)
    assert [i for p in pages for i in ids(p)] == everything
    assert ids(pages[-1]) == []


@pytest.mark.parametrize(("params", "message"), [
    ({"f0": "object_ref"}, "'object_ref' is not a field of CloudTrail events"),
    ({"f0": "time_ms; DROP TABLE api_events"}, "is not a field of CloudTrail events"),
    ({"f0": "src_addr"}, "'src_addr' is not a field of CloudTrail events"),
    ({"source": "control.accounts"}, "There is no source 'control.accounts'"),
    ({"f0": "event_name", "o0": "like"}, "'like' is not an operator"),
    ({"f0": "event_name", "o0": "cidr", "v0": "10.0.0.0/8"}, "applies to address fields only"),
    ({"f0": "source_ip", "o0": "cidr", "v0": "10.0.0.0/33"}, "is not a CIDR range"),
    ({"f0": "source_ip", "o0": "cidr", "v0": "2001:db8::/129"}, "is not a CIDR range such as"),
    ({"f0": "source_ip", "o0": "cidr", "v0": "2001:db8:::/32"}, "is not a CIDR range"),
    ({"f0": "source_ip", "o0": "cidr", "v0": "fe80::%eth0/64"}, "is not a CIDR range"),
    ({"f0": "source_ip", "o0": "cidr", "v0": "gggg::/16"}, "is not a CIDR range"),
    ({"f0": "source_ip", "o0": "cidr", "v0": ""}, "is not a CIDR range"),
    ({"join": "xor"}, "AND or OR"),
    ({"f7": "event_name"}, "at most 6 filters"),
])
def test_what_is_not_allowed_is_refused_with_a_reason(params: dict[str, str], message: str) -> None:
    with pytest.raises(events.QueryError) as refused:
        events.parse(params, 0, HOUR_MS)
    assert message in str(refused.value)


def test_injection_attempts_are_matched_literally(graph: Any) -> None:
    for value in ("' OR '1'='1", "x'); DROP TABLE api_events; --", "%", "$start", "\\"):
        for operator in ("equals", "contains", "starts_with"):
            assert run(graph, "api_events", "and", ("user_agent", operator, value))["total"] == 0, (value, operator)
    assert run(graph)["total"] == len(graph.w.events)  # the table is still there
    underscore = sum(1 for e in graph.w.events if "_" in e["userAgent"])  # no LIKE wildcard
    assert run(graph, "api_events", "and", ("user_agent", "contains", "_"))["total"] == underscore
    # The HTML payload of a user agent is found by its text.
    found = run(graph, "api_events", "and", ("user_agent", "contains", "onerror=alert(1)"))
    assert column(found, "user_agent") == [cw.XSS_AGENT]
    assert run(graph, "api_events", "and", ("user_agent", "equals", cw.XSS_AGENT))["total"] == 1


def test_csv_and_parquet_exports_hold_the_pages_rows(graph: Any, tmp_path: Path) -> None:
    query = events.parse({"source": "api_events", "join": "or", "f0": "principal_id", "o0": "equals", "v0": cw.ALICE,
                          "f1": "bucket", "o1": "equals", "v1": cw.BUCKET2}, *graph.scope)
    shown = events.search(graph.store, query, 0, 1000)
    assert shown["total"] == len(graph.w.events)  # alice's and her session's
    out = tmp_path / "events.csv"
    assert events.export_csv(graph.store, query, out) == shown["total"]
    table = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert table[0] == shown["columns"]
    assert table[1:] == [[events.csv_cell(v) for v in row] for row in shown["rows"]]
    assert [r[shown["columns"].index("event_id")] for r in table[1:]] == ids(shown)
    data = tmp_path / "events.parquet"
    assert events.export_parquet(graph.store, query, data) == shown["total"]
    parquet = pq.read_table(data)
    assert parquet.column_names == shown["columns"]
    assert [list(r.values()) for r in parquet.to_pylist()] == shown["rows"]
    # Lists and findings export too.
    finding = events.parse({"source": "findings"}, *graph.scope)
    assert events.export_parquet(graph.store, finding, data) == 1
    rows = pq.read_table(data).to_pylist()
    assert rows[0]["remote_ips"] == ["198.51.100.250"] and rows[0]["title"] == cw.XSS_TITLE


def test_csv_cells_that_a_spreadsheet_would_run_are_defused() -> None:
    assert events.csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert [events.csv_cell(v) for v in ("+1", "-1", "@SUM(A1)", "plain")] == ["'+1", "'-1", "'@SUM(A1)", "plain"]
    assert [events.csv_cell(v) for v in (-1, None, True, ["a", "b"])] == ["-1", "", "true", '["a","b"]']


def test_an_entitys_hour_links_name_its_records() -> None:
    [(label, params)] = events.entity_queries("aws_user", cw.ALICE)
    assert label == "CloudTrail events" and params == {"source": "api_events", "join": "and", "f0": "principal_id",
                                                        "o0": "equals", "v0": cw.ALICE}
    labels = [label for label, _ in events.entity_queries("ip_address", cw.IP_AWAY)]
    assert labels == ["CloudTrail events", "VPC flow records"]
    for entity_type in ("aws_user", "aws_role", "ip_address", "ec2_instance", "s3_bucket", "user_agent"):
        for _, params in events.entity_queries(entity_type, "x"):
            events.parse(params, 0, HOUR_MS)  # each one a valid query
    assert events.entity_queries("finding", "x") == []
