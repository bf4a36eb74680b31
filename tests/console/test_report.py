"""An investigation report as the console draws it (console/report.py): the TTPs on a timeline
over the scope, one lane per tactic, and impossible travel as two places on the map. On a real
investigation of alice (console_world.py) by the engine, in a graph whose addresses were
located with GeoIP test databases: home in Paris, the other address in Lagos."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import console_world as cw
import pytest

from gumshoe.console import report, timeline, worldmap
from gumshoe.console.render import utc
from gumshoe.investigate.engine import Investigator, Subject
from gumshoe.investigate.intel import ThreatIntel
from gumshoe.investigate.ttp import TtpMap


@pytest.fixture(scope="module")
def investigated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with cw.located_graph(tmp_path_factory.mktemp("console-report"), cw.activity()) as graph:
        start, end = graph.scope
        result = Investigator(graph.geo, TtpMap.load(), ThreatIntel(())).investigate(
            graph.store, Subject(cw.ALICE, "IAM_USER", cw.ADMIN), start, end, graph.arn)
        # As investigation_report gives it: each indicator's detail member and its evidence.
        graph.report = {"scopeStartTime": start, "scopeEndTime": end, "indicators": [
            {"type": i.type, "detail": i.detail, "evidence": i.evidence} for i in result.indicators]}
        yield graph


def ms(stamp: str) -> int:
    return int(dt.datetime.fromisoformat(stamp).timestamp() * 1000)


def ttps(found: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in found["indicators"] if i["type"] == "TTP_OBSERVED"]


def test_every_ttp_is_a_bar_in_its_tactics_lane_from_its_first_to_its_last_call(investigated: Any) -> None:
    found = investigated.report
    chart, untimed = report.ttp_timeline(found, utc)
    assert chart is not None and untimed == 0
    observed = ttps(found)
    assert len(observed) >= 4 and chart.count == len(observed)
    # Lanes in ATT&CK's order, each a tactic of the report.
    tactics = [lane.label for lane in chart.lanes]
    assert tactics == sorted(set(tactics), key=report.TACTICS.index)
    assert set(tactics) == {t["detail"]["Tactic"] for t in observed}
    axis = chart.axis
    assert (axis.start_ms, axis.end_ms) == investigated.scope
    for lane in chart.lanes:
        for bar in lane.bars:
            ttp = observed[int(bar.anchor.rsplit("-", 1)[1])]  # the bar links to its table row
            assert bar.anchor == report.ttp_anchor(observed.index(ttp))
            assert ttp["detail"]["Tactic"] == lane.label
            first, last = ttp["evidence"]["firstSeen"], ttp["evidence"]["lastSeen"]
            assert bar.x == axis.x(first)
            assert bar.width == max(timeline.MIN_BAR, round(axis.x(last) - axis.x(first), 1))
            assert bar.label.startswith(ttp["detail"]["APIName"]) and utc(first) in bar.title
            assert lane.y <= bar.y < lane.y + lane.height
    # alice's denied CreateUser calls are Persistence, at the time of the first of them.
    [create] = [b for lane in chart.lanes for b in lane.bars if b.label == "iam:CreateUser"]
    denied = [e for e in investigated.w.events if e["eventName"] == "CreateUser"]
    assert create.item.group == "Persistence" and create.item.start_ms == ms(denied[0]["eventTime"])
    assert "0 successful and 2 failed" in create.title


def test_bars_and_labels_of_a_row_never_overlap(investigated: Any) -> None:
    chart, _ = report.ttp_timeline(investigated.report, utc)
    assert chart is not None
    for lane in chart.lanes:
        rows: dict[float, list[tuple[float, float]]] = {}
        for bar in lane.bars:
            text = len(bar.label) * timeline.CHAR_WIDTH
            extent = (bar.x - text - 8, bar.x + bar.width) if bar.label_end else (bar.x, bar.x + bar.width + text + 8)
            rows.setdefault(bar.y, []).append(extent)
        for extents in rows.values():
            extents.sort()
            assert all(a[1] <= b[0] for a, b in zip(extents, extents[1:], strict=False)), extents


def test_impossible_travel_is_two_places_joined_on_the_map(investigated: Any) -> None:
    found = investigated.report
    travel = [i for i in found["indicators"] if i["type"] == "IMPOSSIBLE_TRAVEL"]
    assert travel, "alice's calls from Paris and Lagos minutes apart"
    drawn = report.travels(found, investigated.geo, utc, lambda ip: f"/profile/{ip}")
    assert drawn is not None
    shown, sentences = drawn
    dots = {d.label: d for d in shown.dots}
    assert (dots["Paris, France"].x, dots["Paris, France"].y) == worldmap.project(*cw.PARIS)
    assert (dots["Lagos, Nigeria"].x, dots["Lagos, Nigeria"].y) == worldmap.project(*cw.LAGOS)
    assert dots["Paris, France"].href == f"/profile/{cw.IP_HOME}"
    assert [line.number for line in shown.lines] == list(range(1, len(travel) + 1))
    first = travel[0]
    start = dots[first["detail"]["StartingLocation"]]
    end = dots[first["detail"]["EndingLocation"]]
    assert shown.lines[0].path.startswith(f"M{start.x:g} {start.y:g}Q") and shown.lines[0].path.endswith(f"{end.x:g} {end.y:g}")
    km = first["evidence"]["distanceKm"]
    minutes = (first["evidence"]["endTime"] - first["evidence"]["startTime"]) // 60_000
    assert 4_500 < km < 5_000
    assert sentences[0] == (f"{first['detail']['StartingLocation']} ({first['detail']['StartingIpAddress']}, "
                            f"{utc(first['evidence']['startTime'])}) to {first['detail']['EndingLocation']} "
                            f"({first['detail']['EndingIpAddress']}, {utc(first['evidence']['endTime'])}): "
                            f"{km:,} km in {report.between(minutes * 60_000)}")
    # Without the GeoIP City database the sentences stay, the places are not drawn.
    unplaced = report.travels(found, None, utc, lambda ip: ip)
    assert unplaced is not None and unplaced[0].dots == [] and unplaced[0].lines == [] and unplaced[1] == sentences
    assert report.travels({"indicators": []}, investigated.geo, utc, lambda ip: ip) is None


def test_a_findings_ttp_takes_the_findings_times_and_type() -> None:
    arn = "arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/f1"
    found = {"scopeStartTime": 0, "scopeEndTime": 10 * 3_600_000, "indicators": [
        {"type": "TTP_OBSERVED", "detail": {"Tactic": "Credential Access", "Technique": "T1110 Brute Force",
                                            "Procedure": "p"}, "evidence": {"finding": arn}},
        {"type": "TTP_OBSERVED", "detail": {"Tactic": "Impact", "Technique": "T1496", "APIName": "ec2:RunInstances"},
         "evidence": {}},
        {"type": "RELATED_FINDING", "detail": {"Arn": arn, "Type": "UnauthorizedAccess:EC2/SSHBruteForce"},
         "evidence": {"firstSeen": 3_600_000, "lastSeen": 5 * 3_600_000}},
    ]}
    chart, untimed = report.ttp_timeline(found, utc)
    assert chart is not None and untimed == 1 and chart.count == 1  # the call without times: the table only
    [bar] = chart.lanes[0].bars
    assert bar.label == "finding UnauthorizedAccess:EC2/SSHBruteForce"
    assert (bar.item.start_ms, bar.item.end_ms) == (3_600_000, 5 * 3_600_000) and bar.anchor == report.ttp_anchor(0)
    [ttp_group] = [g for g in report.groups(found) if g.type == "TTP_OBSERVED"]
    first_row = ttp_group.rows[0]
    assert first_row[2].entity == ("finding", arn) and (first_row[6].time, first_row[7].time) == (3_600_000, 18_000_000)
    assert report.ttp_timeline({**found, "indicators": found["indicators"][1:2]}, utc) == (None, 1)


@pytest.mark.parametrize(("ms", "text"), [
    (0, "0 minutes"), (59_999, "0 minutes"), (60_000, "1 minute"), (12 * 60_000, "12 minutes"),
    (3_600_000, "1 hour"), (3 * 3_600_000 + 5 * 60_000, "3 hours 5 minutes"), (26 * 3_600_000, "1 day 2 hours"),
    (-5, "0 minutes"),
])
def test_the_time_between_two_moments(ms: int, text: str) -> None:
    assert report.between(ms) == text


def test_a_ttp_row_says_what_its_calls_acted_on_and_which_events_they_are() -> None:
    shared = {"type": "TTP_OBSERVED", "detail": {"Tactic": "Exfiltration", "Technique": "T1537", "API": "ec2:ModifySnapshotAttribute",
                                              "IpAddress": "203.0.113.9", "APISuccessCount": 3, "APIFailureCount": 0},
              "evidence": {"targets": [{"target": "account:999988887777", "calls": 2, "failures": 0},
                                       {"target": "snapshot:snap-0abc", "calls": 3, "failures": 0}],
                           "targetCount": 5, "eventIds": ["e-1", "e-2"], "eventCount": 3,
                           "startTime": 1_700_000_000_000, "endTime": 1_700_000_060_000}}
    bare = {"type": "TTP_OBSERVED", "detail": {"Tactic": "Discovery", "Technique": "T1087", "API": "iam:ListUsers"},
            "evidence": {}}
    (group,) = report.groups({"indicators": [shared, bare]})
    acted, events = group.columns.index("Acted on"), group.columns.index("Events")
    rows = {row[1].text: row for row in group.rows}
    assert rows["T1537"][acted].text == "account:999988887777, snapshot:snap-0abc and 3 more"
    assert rows["T1537"][events].text == "e-1, e-2 and 1 more"
    assert rows["T1087"][acted].text == "-" and rows["T1087"][events].text == "-"  # nothing recorded
