"""Finding groups as the console shows them (console/groups.py), on a small graph ingested by the
real pipeline: alice's CloudTrail of console_world.py and six GuardDuty findings.

    group A   two port probes of instance I1 (the same type: one node, count 2), and an SSH
              brute force of I1 that also names alice's access key
    group B   two C&C findings of instance I2
    alone     a port probe of instance I3, sharing nothing: in no group
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import console_world as cw
import ingest_fixtures as fx
import pytest

from gumshoe.console import groups
from gumshoe.console.pages import groups as group_page

HOUR_MS = 3_600_000
I1, I2, I3 = "i-0a0000000000000a1", "i-0b0000000000000b2", "i-0c0000000000000c3"
PROBE, BRUTE, CNC = "Recon:EC2/PortProbeUnprotectedPort", "UnauthorizedAccess:EC2/SSHBruteForce", \
    "Backdoor:EC2/C&CActivity.B"
ALICE_KEY = fx.iam_user(cw.ADMIN, "alice")["accessKeyId"]


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def group_findings(start: dt.datetime) -> list[dict[str, Any]]:
    """The six findings of the module docstring, in the first hours of ``start``."""
    def finding(n: int, kind: str, instance: str, ip: str, severity: float, title: str | None = None) -> dict[str, Any]:
        f = fx.gd_finding(cw.ADMIN, cw.REGION, start + dt.timedelta(minutes=10 * n), 100 + n, remote_ip=ip,
                          instance=instance)
        f["type"], f["severity"] = kind, severity
        if title is not None:
            f["title"] = title
        return f

    brute = finding(2, BRUTE, I1, "203.0.113.9", 5.0, title="<b>brute</b> force")
    brute["resource"]["accessKeyDetails"] = {"accessKeyId": ALICE_KEY, "principalId": "AIDAEXAMPLE",
                                             "userName": "alice", "userType": "IAMUser"}
    return [finding(0, PROBE, I1, "198.51.100.1", 2.0), finding(1, PROBE, I1, "198.51.100.2", 3.0), brute,
            finding(3, CNC, I2, "192.0.2.50", 8.0), finding(4, CNC, I2, "192.0.2.50", 8.0),
            finding(5, PROBE, I3, "198.51.100.3", 2.0)]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    world = cw.activity()
    findings = group_findings(world.start)

    def write(folder: Any, world: cw.World) -> None:
        fx.write_cloudtrail(folder, cw.ADMIN, cw.REGION, world.events, world.start)
        fx.write_guardduty(folder, cw.ADMIN, cw.REGION, findings, world.start, n=7)

    with cw.ingested_graph(tmp_path_factory.mktemp("console-groups"), world, write) as graph:
        graph.graph_arn, graph.found = graph.arn, findings
        yield graph


def test_two_groups_the_most_severe_first_and_the_lone_finding_in_none(graph: Any) -> None:
    listed = groups.finding_groups(graph.store, graph.graph_arn, *graph.scope)
    assert [(g["count"], g["severity"], g["severityLabel"]) for g in listed] == [(2, 8.0, "High"), (3, 5.0, "Medium")]
    b, a = listed
    assert a["types"] == sorted([PROBE, BRUTE]) and b["types"] == [CNC]
    # Tactics from investigate/data/ttp.toml's GuardDuty prefixes.
    assert b["tactics"] == ["Command and Control"] and a["tactics"] == ["Credential Access", "Reconnaissance"]
    first = ms(dt.datetime.fromisoformat(graph.found[0]["service"]["eventFirstSeen"]))
    assert a["firstSeen"] == first
    # Out of the scope: none.
    assert groups.finding_groups(graph.store, graph.graph_arn, 0, HOUR_MS) == []
    # The id is the investigation engine's: a RELATED_FINDING_GROUP names the same group.
    assert len({g["id"] for g in listed}) == 2


def test_a_groups_graph_aggregates_findings_of_a_type_and_links_their_entities(graph: Any) -> None:
    listed = groups.finding_groups(graph.store, graph.graph_arn, *graph.scope)
    a = groups.group(graph.store, graph.graph_arn, listed[1]["id"])
    assert a is not None and a["count"] == 3
    nodes = {n["key"]: n for n in a["nodes"]}
    probe, brute = nodes[f"finding_type:{PROBE}"], nodes[f"finding_type:{BRUTE}"]
    assert (probe["count"], brute["count"]) == (2, 1)
    assert probe["severity"] == 3.0 and probe["link"]["type"] == "finding"
    assert probe["link"]["id"] == graph.found[1]["arn"]  # the most severe of the two
    instance = nodes[f"ec2_instance:{I1}"]
    assert instance["link"] == {"type": "ec2_instance", "id": I1}
    assert f"ec2_instance:{I2}" not in nodes and f"ec2_instance:{I3}" not in nodes
    edges = {(e["source"], e["target"], e["kind"]): e["count"] for e in a["edges"]}
    assert edges[f"finding_type:{PROBE}", f"ec2_instance:{I1}", "involves"] == 2
    assert edges[f"finding_type:{BRUTE}", f"ec2_instance:{I1}", "involves"] == 1
    assert edges[f"finding_type:{PROBE}", "ip_address:198.51.100.1", "involves"] == 1
    assert edges[f"finding_type:{BRUTE}", f"access_key:{ALICE_KEY}", "involves"] == 1
    # The key's user, from CloudTrail, and the user the finding names: alice, once.
    assert edges[f"access_key:{ALICE_KEY}", f"aws_user:{cw.ALICE}", "used_by"] == 1
    assert edges[f"finding_type:{BRUTE}", f"aws_user:{cw.ALICE}", "involves"] == 1
    assert nodes[f"aws_user:{cw.ALICE}"]["link"] == {"type": "aws_user", "id": cw.ALICE}
    assert nodes[f"access_key:{ALICE_KEY}"]["link"] is None  # not an entity with a profile
    # Every edge joins two nodes of the group.
    assert all(s in nodes and t in nodes for s, t, _ in edges)
    # The findings by time, titles as they are (escaped by the template).
    assert [f["type"] for f in a["findings"]] == [PROBE, PROBE, BRUTE]
    assert a["findings"][2]["title"] == "<b>brute</b> force"


def test_the_second_group_and_an_unknown_id(graph: Any) -> None:
    listed = groups.finding_groups(graph.store, graph.graph_arn, *graph.scope)
    b = groups.group(graph.store, graph.graph_arn, listed[0]["id"])
    assert b is not None
    types = [n for n in b["nodes"] if n["type"] == groups.FINDING_TYPE]
    assert [(n["id"], n["count"]) for n in types] == [(CNC, 2)]
    assert {n["key"] for n in b["nodes"]} >= {f"ec2_instance:{I2}", "ip_address:192.0.2.50"}
    assert groups.group(graph.store, graph.graph_arn, "00000000-0000-0000-0000-000000000000") is None


def test_tactics_fall_back_to_the_threat_purpose() -> None:
    assert groups.tactics_of("Zzz:Nothing/Mapped") == ["Zzz"]
    assert groups.tactics_of("") == []
    assert groups.severity_label(9.5) == "Critical" and groups.severity_label(1) == "Low"


def test_a_groups_timeline_charts_its_findings_over_time_by_severity(graph: Any) -> None:
    listed = groups.finding_groups(graph.store, graph.graph_arn, *graph.scope)
    a = groups.group(graph.store, graph.graph_arn, listed[1]["id"])
    assert a is not None
    scope = group_page.lifetime(a)
    chart = group_page.findings_chart(a, scope)
    assert chart.axis.start_ms <= scope.start_ms and chart.axis.end_ms >= scope.end_ms
    assert len(chart.bins) <= 48 and chart.count > 0
    for b in chart.bins:
        active = [f for f in a["findings"] if f["firstSeen"] < b.end_ms and f["lastSeen"] >= b.start_ms]
        assert b.counts == {k: sum(1 for f in active if f["severityLabel"] == k) for k in group_page.SEVERITY_STACK}
        assert sum(s.count for s in b.segments) == len(active)
    # Two Low port probes and a Medium brute force: every finding is in some bar.
    shown = {s.kind for b in chart.bins for s in b.segments}
    assert shown == {f["severityLabel"] for f in a["findings"]} == {"Low", "Medium"}
    assert chart.most == max(b.total for b in chart.bins) >= 1
