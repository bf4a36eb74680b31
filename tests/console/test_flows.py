"""The VPC flow drill-down (console/flows.py) on a small graph: a hand-written flow log of two
instances ingested by the real pipeline, every row checked against the records themselves.

    web   i-0f10c0ffee0000002, 10.0.2.7 (and 2001:db8:1::7): HTTPS out to 198.51.100.80 over
          two hours with its answers, SSH in (one admin, answered; scanners, rejected), ICMP
          echo out and its reply, DNS over UDP, NTP (port 123 on both sides), a record with no
          direction, and a database connection to the second instance
    db    i-0f10c0ffee0000003, 10.0.3.3: that connection again, as its own interface saw it
"""

from __future__ import annotations

import datetime as dt
import gzip
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import console_world as cw
import ingest_fixtures as fx
import pytest

from gumshoe.console import events, flows
from gumshoe.console.flows import Conversation

HOUR_MS = 3_600_000
WEB, DB = "i-0f10c0ffee0000002", "i-0f10c0ffee0000003"
WEB_IP, DB_IP, WEB_IP6 = "10.0.2.7", "10.0.3.3", "2001:db8:1::7"
HTTPS_SERVER = "198.51.100.80"
SCANNERS = 60  # more rows than a page


@dataclass(frozen=True)
class Record:
    instance: str
    src: str
    dst: str
    sport: int
    dport: int
    protocol: int
    nbytes: int
    minute: int  # from the world's first hour
    action: str = "ACCEPT"
    direction: str = "egress"  # as the instance's interface saw it; "-" for none


def records() -> list[Record]:
    out = []
    for hour in (0, 1):  # HTTPS out, three requests an hour, with their answers
        for i in range(3):
            m = hour * 60 + 10 * i
            out.append(Record(WEB, WEB_IP, HTTPS_SERVER, 50500, 443, 6, 1200 + i, m))
            out.append(Record(WEB, HTTPS_SERVER, WEB_IP, 443, 50500, 6, 64000 + i, m, direction="ingress"))
    out.append(Record(WEB, "192.0.2.44", WEB_IP, 52000, 22, 6, 3000, 5, direction="ingress"))
    out.append(Record(WEB, WEB_IP, "192.0.2.44", 22, 52000, 6, 5000, 5))
    for n in range(SCANNERS):
        out.append(Record(WEB, f"203.0.113.{100 + n}", WEB_IP, 41000 + n, 22, 6, 60, 30, "REJECT", "ingress"))
    out.append(Record(WEB, WEB_IP, "8.8.8.8", 0, 0, 1, 84, 40))
    out.append(Record(WEB, "8.8.8.8", WEB_IP, 0, 0, 1, 84, 40, direction="ingress"))
    out.append(Record(WEB, WEB_IP, "10.0.0.2", 53000, 53, 17, 70, 41))
    out.append(Record(WEB, "10.0.0.2", WEB_IP, 53, 53000, 17, 130, 41, direction="ingress"))
    out.append(Record(WEB, WEB_IP, "198.51.100.123", 123, 123, 17, 76, 42))
    out.append(Record(WEB, "198.51.100.123", WEB_IP, 123, 123, 17, 76, 42, direction="ingress"))
    out.append(Record(WEB, WEB_IP6, "2600:1f18::10", 50600, 443, 6, 900, 70))
    out.append(Record(WEB, WEB_IP, "198.51.100.81", 50700, 443, 6, 500, 71, direction="-"))
    out.append(Record(WEB, WEB_IP, DB_IP, 50800, 5432, 6, 2000, 75))
    out.append(Record(DB, WEB_IP, DB_IP, 50800, 5432, 6, 2000, 75, direction="ingress"))
    out.append(Record(DB, DB_IP, WEB_IP, 5432, 50800, 6, 90000, 75))
    return out


def flow_log(world: cw.World, rows: list[Record]) -> str:
    t0 = int(world.start.timestamp())
    lines = [cw.FLOW_FIELDS]
    for r in rows:
        s = t0 + 60 * r.minute
        lines.append(f"5 {cw.ADMIN} eni-0a1b2c3d4e5f6{r.instance[-4:]} {r.src} {r.dst} {r.sport} {r.dport} "
                     f"{r.protocol} 1 {r.nbytes} {s} {s + 30} {r.action} OK {r.instance} {r.direction}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    world = cw.World(dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - 4 * cw.HOUR)
    rows = records()

    def write(folder: Path, w: cw.World) -> None:
        fx.put(folder, fx.flow_key(cw.ADMIN, cw.REGION, w.start), gzip.compress(flow_log(w, rows).encode()))

    with cw.ingested_graph(tmp_path_factory.mktemp("console-flows"), world, write) as graph:
        graph.records = rows
        graph.t0 = int(world.start.timestamp() * 1000)
        yield graph


def everything(graph: Any, entity_type: str, entity_id: str, start: int | None = None, end: int | None = None,
               **kw: Any) -> dict[str, Any]:
    first, last = graph.scope
    return flows.drilldown(graph.store, entity_type, entity_id, start or first, end or last, limit=1000, **kw)


def by_key(found: dict[str, Any]) -> dict[Conversation, dict[str, Any]]:
    return {r["key"]: r for r in found["rows"]}


def test_both_directions_of_a_conversation_are_one_row(graph: Any) -> None:
    rows = by_key(everything(graph, "ec2_instance", WEB))
    https = rows[Conversation(WEB_IP, 50500, HTTPS_SERVER, 443, 6, "out")]
    assert (https["bytesOut"], https["bytesIn"]) == (2 * (1200 + 1201 + 1202), 2 * (64000 + 64001 + 64002))
    assert (https["recordsOut"], https["recordsIn"], https["accepted"], https["rejected"]) == (6, 6, 12, 0)
    assert https["firstSeen"] == graph.t0 and https["lastSeen"] == graph.t0 + (80 * 60 + 30) * 1000
    # SSH opened by the remote side: inbound, what it sent is bytes in.
    ssh = rows[Conversation(WEB_IP, 22, "192.0.2.44", 52000, 6, "in")]
    assert (ssh["bytesIn"], ssh["bytesOut"], ssh["accepted"]) == (3000, 5000, 2)
    dns = rows[Conversation(WEB_IP, 53000, "10.0.0.2", 53, 17, "out")]
    assert (dns["bytesIn"], dns["bytesOut"]) == (130, 70)
    # Without ports to tell (ICMP) or with the same port on both sides (NTP): each record's own direction.
    assert (rows[Conversation(WEB_IP, 0, "8.8.8.8", 0, 1, "out")]["bytesOut"],
            rows[Conversation(WEB_IP, 0, "8.8.8.8", 0, 1, "in")]["bytesIn"]) == (84, 84)
    assert {k.direction for k in rows if k.remote == "198.51.100.123"} == {"in", "out"}
    # A record without a direction is the instance's own (egress), as the peers panel takes it.
    assert rows[Conversation(WEB_IP, 50700, "198.51.100.81", 443, 6, "out")]["bytesOut"] == 500
    assert rows[Conversation(WEB_IP6, 50600, "2600:1f18::10", 443, 6, "out")]["bytesOut"] == 900
    # Scanners: one row each, rejected, inbound to port 22.
    scans = [r for k, r in rows.items() if k.remote.startswith("203.0.113.")]
    assert len(scans) == SCANNERS and all(r["rejected"] == 1 and r["accepted"] == 0 and r["bytesIn"] == 60
                                          and r["key"].direction == "in" and r["key"].local_port == 22 for r in scans)
    # The second instance's own records are not the first's.
    assert rows[Conversation(WEB_IP, 50800, DB_IP, 5432, 6, "out")]["bytesIn"] == 0


def expected_rows(graph: Any, entity_type: str, entity_id: str) -> dict[Conversation, list[int]]:
    """The drill-down computed in Python from the records: {row: [bytes in, bytes out, accepted, rejected]}."""
    out: dict[Conversation, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in graph.records:
        if entity_type == "ec2_instance":
            if r.instance != entity_id:
                continue
            sent = r.direction != "ingress"
        elif entity_id in (r.src, r.dst):
            sent = r.src == entity_id
        else:
            continue
        local, lport, remote, rport = (r.src, r.sport, r.dst, r.dport) if sent else (r.dst, r.dport, r.src, r.sport)
        if lport > 0 and rport > 0 and lport != rport:
            direction = "in" if lport < rport else "out"
        else:
            direction = "out" if sent else "in"
        row = out[Conversation(local, lport, remote, rport, r.protocol, direction)]
        row[1 if sent else 0] += r.nbytes
        row[3 if r.action == "REJECT" else 2] += 1
    return dict(out)


@pytest.mark.parametrize(("entity_type", "entity_id"), [
    ("ec2_instance", WEB), ("ec2_instance", DB), ("ip_address", WEB_IP), ("ip_address", HTTPS_SERVER),
    ("ip_address", DB_IP), ("ip_address", "2600:1f18::10"),
])
def test_every_row_sums_its_records(graph: Any, entity_type: str, entity_id: str) -> None:
    found = everything(graph, entity_type, entity_id)
    expected = expected_rows(graph, entity_type, entity_id)
    assert {k: [r["bytesIn"], r["bytesOut"], r["accepted"], r["rejected"]] for k, r in by_key(found).items()} == expected
    assert found["total"] == len(expected)
    assert found["records"] == sum(a + b for _, _, a, b in expected.values())
    assert found["bytes"] == sum(i + o for i, o, _, _ in expected.values())


def test_an_address_sees_the_conversation_from_its_side(graph: Any) -> None:
    rows = by_key(everything(graph, "ip_address", HTTPS_SERVER))
    [https] = rows.values()
    assert https["key"] == Conversation(HTTPS_SERVER, 443, WEB_IP, 50500, 6, "in")
    assert (https["bytesIn"], https["bytesOut"]) == (2 * 3603, 2 * 192003)
    # Traffic between two instances is in both interfaces' logs: the address's row holds both records.
    db = by_key(everything(graph, "ip_address", DB_IP))[Conversation(DB_IP, 5432, WEB_IP, 50800, 6, "in")]
    assert (db["recordsIn"], db["bytesIn"], db["bytesOut"]) == (2, 4000, 90000)


def test_an_hour_pages_and_sorts(graph: Any) -> None:
    hour = everything(graph, "ec2_instance", WEB, graph.t0 + HOUR_MS, graph.t0 + 2 * HOUR_MS)
    assert [r["key"] for r in hour["rows"]] == [Conversation(WEB_IP, 50500, HTTPS_SERVER, 443, 6, "out"),
                                                Conversation(WEB_IP, 50800, DB_IP, 5432, 6, "out"),
                                                Conversation(WEB_IP6, 50600, "2600:1f18::10", 443, 6, "out"),
                                                Conversation(WEB_IP, 50700, "198.51.100.81", 443, 6, "out")]
    assert hour["rows"][0]["bytesIn"] == 64000 + 64001 + 64002
    start, end = graph.scope
    every = everything(graph, "ec2_instance", WEB)["rows"]
    assert [r["bytesIn"] + r["bytesOut"] for r in every] == sorted((r["bytesIn"] + r["bytesOut"] for r in every),
                                                                   reverse=True)
    pages = [flows.drilldown(graph.store, "ec2_instance", WEB, start, end, offset=o, limit=flows.PAGE_SIZE)
             for o in (0, flows.PAGE_SIZE, 2 * flows.PAGE_SIZE)]
    assert [len(p["rows"]) for p in pages] == [flows.PAGE_SIZE, len(every) - flows.PAGE_SIZE, 0]
    assert [r["key"] for p in pages for r in p["rows"]] == [r["key"] for r in every]
    assert {p["total"] for p in pages} == {len(every)}  # past the end too
    for sort in ("bytes_in", "bytes_out", "accepted", "rejected"):
        column = {"bytes_in": "bytesIn", "bytes_out": "bytesOut"}.get(sort, sort)
        down = [r[column] for r in everything(graph, "ec2_instance", WEB, sort=sort)["rows"]]
        up = [r[column] for r in everything(graph, "ec2_instance", WEB, sort=sort, descending=False)["rows"]]
        assert down == sorted(down, reverse=True) and up == sorted(up), sort
    assert everything(graph, "ec2_instance", WEB, sort="rejected")["rows"][0]["rejected"] == 1
    # Not a sort key: the default.
    assert [r["key"] for r in everything(graph, "ec2_instance", WEB, sort="1; DROP TABLE flows")["rows"]] == [
        r["key"] for r in every]
    assert flows.drilldown(graph.store, "aws_user", cw.ALICE, start, end) == {"rows": [], "total": 0, "records": 0,
                                                                            "bytes": 0}


def test_ticked_rows_have_their_bytes_per_hour(graph: Any) -> None:
    https = Conversation(WEB_IP, 50500, HTTPS_SERVER, 443, 6, "out")
    ssh = Conversation(WEB_IP, 22, "192.0.2.44", 52000, 6, "in")
    nobody = Conversation(WEB_IP, 1, "192.0.2.1", 2, 6, "out")
    got = flows.series(graph.store, "ec2_instance", WEB, *graph.scope, [https, ssh, nobody, https])
    assert got == {https: {graph.t0: 3603 + 192003, graph.t0 + HOUR_MS: 3603 + 192003},
                   ssh: {graph.t0: 8000}, nobody: {}}
    assert flows.series(graph.store, "ec2_instance", WEB, *graph.scope, []) == {}


def test_a_row_names_its_records_as_raw_event_searches(graph: Any) -> None:
    for entity_type, entity_id in (("ec2_instance", WEB), ("ip_address", WEB_IP), ("ip_address", DB_IP)):
        for row in everything(graph, entity_type, entity_id)["rows"]:
            searches = flows.record_searches(entity_type, entity_id, row["key"])
            for direction, count in (("in", row["recordsIn"]), ("out", row["recordsOut"])):
                if direction not in searches:  # the ports did not tell: one direction's records only
                    assert count == 0 and not row["key"].by_ports and row["key"].direction != direction
                    continue
                query = events.parse(searches[direction], *graph.scope)
                assert events.search(graph.store, query)["total"] == count, (row["key"], direction)


def test_rows_in_urls() -> None:
    key = Conversation(WEB_IP6, 50600, "2600:1f18::10", 443, 6, "out")
    assert flows.parse_token(key.token) == key
    assert key.label == "[2001:db8:1::7]:50600 → [2600:1f18::10]:443 6 TCP"
    icmp = Conversation(WEB_IP, -1, "", -1, -1, "in")
    assert flows.parse_token(icmp.token) == icmp and icmp.label == "10.0.2.7 ← - -"
    for bad in ("", "a,b", "10.0.2.7,22,<script>,1,6,in", "10.0.2.7,22,1.2.3.4,1,6,sideways",
                "10.0.2.7,70000,1.2.3.4,1,6,in", "10.0.2.7,22,1.2.3.4,1,256,in", "10.0.2.7,+2,1.2.3.4,1,6,in",
                "10.0.2.7,22,1.2.3.4,1,6,in,extra"):
        assert flows.parse_token(bad) is None, bad
