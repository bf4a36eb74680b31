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


# --- Gumshoe's own fields: the baseline, the role sessions, folded firsts, its own indicators ----


@pytest.fixture(scope="module")
def full_report(investigated: Any) -> dict[str, Any]:
    """The report of alice as investigation_report gives it: the engine's baseline and role
    sessions out of its scoring, the firsts with no baseline folded."""
    from gumshoe.indicators import group_firsts

    start, end = investigated.scope
    result = Investigator(investigated.geo, TtpMap.load(), ThreatIntel(())).investigate(
        investigated.store, Subject(cw.ALICE, "IAM_USER", cw.ADMIN), start, end, investigated.arn)
    return {"scopeStartTime": start, "scopeEndTime": end, "entityType": "IAM_USER", "entityArn": cw.ALICE,
            "baseline": result.why["baseline"], "roleSessions": result.why["roleSessions"],
            "indicators": group_firsts([{"type": i.type, "detail": i.detail, "evidence": i.evidence}
                                        for i in result.indicators])}


def test_the_baseline_note_says_how_much_baseline_the_graph_held(full_report: dict[str, Any]) -> None:
    # alice's first record is in the scope: no day of baseline, and her firsts count as one.
    assert full_report["baseline"]["entityEvents"] == 0
    assert report.baseline_note(full_report) == (
        "the graph holds no days of the 45-day baseline before the scope for this user, and no call of the "
        "user's own in them: \"new\" indicators from an empty baseline are counted as one")
    short = {"entityType": "IAM_ROLE", "baseline": {"days": 45, "entityDays": 3, "accountDays": 12.5,
                                                     "entityEvents": 1200}}
    assert report.baseline_note(short) == (
        "the graph holds 3 days of the 45-day baseline before the scope for this role (12.5 days for its account), "
        "with 1,200 calls of its own: \"new\" means not seen since the baseline's records start")
    full = {"entityType": "IAM_USER", "baseline": {"days": 45, "entityDays": 45, "accountDays": 45, "entityEvents": 1}}
    assert report.baseline_note(full) == ("the graph holds 45 days of the 45-day baseline before the scope for "
                                          "this user, with 1 call of its own")
    assert report.baseline_note({"baseline": None}) is None and report.baseline_note({}) is None


def test_the_role_sessions_covered_are_the_sessions_alice_started(full_report: dict[str, Any]) -> None:
    [session] = report.role_sessions(full_report)
    assert (session.role_arn, session.role) == (cw.ROLE, "Deployer")
    assert (session.session_arn, session.session) == (cw.SESSION, "alice-deploy")
    assert session.events == 4 and session.first_ms is not None and session.first_ms <= (session.last_ms or 0)
    assert report.role_sessions({"roleSessions": [{"roleArn": "r"}, "junk"]}) == []  # no session: no row


def test_firsts_with_no_baseline_are_one_row_with_their_members(full_report: dict[str, Any]) -> None:
    found = report.groups(full_report)
    agents = next(g for g in found if g.type == "NEW_USER_AGENT")
    [folded] = [i for i in full_report["indicators"] if i["type"] == "NEW_USER_AGENT"]
    assert folded["group"] == "noBaseline" and len(agents.rows) == 1 and set(agents.folds) == {0}
    fold = agents.folds[0]
    assert agents.rows[0][0].text == folded["summary"] == fold.summary
    assert fold.more == 0 and len(fold.rows) == folded["count"] == len(folded["members"])
    assert {r[0].entity for r in fold.rows} == {("user_agent", m["detail"]["UserAgent"]) for m in folded["members"]}
    assert cw.XSS_AGENT in {r[0].text for r in fold.rows}
    first = min(m["evidence"]["firstSeen"] for m in folded["members"])
    assert agents.rows[0][-1].time == first
    # The members shown are capped: the rest are counted.
    many = {**folded, "members": [folded["members"][0]] * (report.MEMBERS_SHOWN + 7)}
    [capped] = report.groups({"indicators": [many]})
    assert len(capped.folds[0].rows) == report.MEMBERS_SHOWN and capped.folds[0].more == 7
    assert report.indicator_count(full_report) == sum(i.get("count", 1) for i in full_report["indicators"])


def test_unusual_volume_is_a_table_whose_hours_open_the_profile_at_that_hour() -> None:
    hour = 1_700_000_000_000 // 3_600_000 * 3_600_000
    found = {"entityType": "IAM_USER", "entityArn": cw.ALICE, "indicators": [
        {"type": "UNUSUAL_VOLUME", "detail": {"Kind": "CALLS", "Hour": hour, "APICallCount": 1840,
                                              "APIFailureCount": 12, "BaselineMedian": 20.0, "Factor": 92.0},
         "evidence": {"firstSeen": hour, "z": 310.4, "baselineHours": 96, "eventCount": 1840}},
        {"type": "UNUSUAL_VOLUME", "detail": {"Kind": "FAILURES", "Hour": hour + 3_600_000, "APICallCount": 60,
                                              "APIFailureCount": 55, "BaselineMedian": 0.05, "Factor": 18.3},
         "evidence": {"z": 40.0, "baselineHours": 96}},
    ]}
    [group] = report.groups(found)
    assert group.columns == ["Hour", "What", "Calls", "Failed", "Baseline median", "Factor", "Robust z"]
    calls, failures = group.rows
    assert calls[0].time == hour and calls[0].entity == ("aws_user", cw.ALICE) and calls[0].query == {"hour": str(hour)}
    assert [c.text for c in calls[1:]] == ["API calls", "1,840", "12", "20 calls an active hour (96 active hours)",
                                           "×92", "310.4"]
    assert failures[1].text == "failed share of calls" and failures[4].text == "5% of calls failed (96 active hours)"
    # A report of an entity the console has no profile type for: the hour is a time, no link.
    [bare] = report.groups({**found, "entityType": "OTHER"})
    assert bare.rows[0][0].time == hour and bare.rows[0][0].entity is None


def test_instance_credentials_off_the_instance_link_the_instance_the_session_and_addresses() -> None:
    session = f"arn:aws:sts::{cw.ADMIN}:assumed-role/web/{cw.INSTANCE}"
    found = {"indicators": [{"type": "INSTANCE_CREDENTIALS_OFF_INSTANCE", "detail": {
        "InstanceId": cw.INSTANCE, "SessionArn": session, "IpAddress": cw.IP_AWAY,
        "InstanceIpAddresses": ["10.0.1.5", "54.1.2.3"], "Reason": "OUTSIDE_AWS"},
        "evidence": {"aso": cw.AWAY_ASO, "eventCount": 9, "firstSeen": 1_000, "lastSeen": 2_000,
                     "apis": ["s3:ListBuckets", "sts:GetCallerIdentity"]}}]}
    [group] = report.groups(found)
    [row] = group.rows
    cells = dict(zip(group.columns, row, strict=True))
    assert cells["Instance"].entity == ("ec2_instance", cw.INSTANCE)
    assert cells["Session"].entity == ("role_session", session)
    assert cells["Used from"].entity == ("ip_address", cw.IP_AWAY)
    assert cells["Why"].text == f"outside AWS ({cw.AWAY_ASO})"
    assert cells["The instance's addresses"].entities == [("ip_address", "10.0.1.5"), ("ip_address", "54.1.2.3")]
    assert (cells["Calls"].text, cells["First seen"].time, cells["Last seen"].time) == ("9", 1_000, 2_000)
    assert cells["APIs"].text == "s3:ListBuckets, sts:GetCallerIdentity"


def test_the_report_page_escapes_every_field_of_gumshoes_own(full_report: dict[str, Any]) -> None:
    """The page itself, rendered: the new panels are there, each log field text, never markup."""
    from types import SimpleNamespace

    from gumshoe.console.render import Templates, profile_url
    from gumshoe.console.timescope import TimeScope

    evil = "<script>alert(3)</script>"
    found = {**full_report, "investigationId": "1", "entityType": "IAM_USER", "createdTime": 0, "finishedTime": 0,
             "status": "SUCCESSFUL", "severity": "HIGH", "state": "ACTIVE", "notes": [], "scoring": {},
             "roleSessions": [{"sessionArn": f"arn:aws:sts::1:assumed-role/R/{evil}", "roleArn": f"arn:aws:iam::1:role/{evil}",
                               "events": 2, "firstSeen": 1, "lastSeen": 2}],
             "indicators": [*full_report["indicators"], {"type": "INSTANCE_CREDENTIALS_OFF_INSTANCE", "detail": {
                 "InstanceId": evil, "SessionArn": evil, "IpAddress": "203.0.113.5", "InstanceIpAddresses": [evil],
                 "Reason": evil}, "evidence": {"aso": evil, "apis": [evil]}},
                 {"type": "UNUSUAL_VOLUME", "detail": {"Kind": "CALLS", "Hour": 3_600_000, "APICallCount": 99,
                                                       "APIFailureCount": 0, "BaselineMedian": 3, "Factor": 33},
                  "evidence": {"z": 9}}]}
    scope = TimeScope(found["scopeStartTime"], found["scopeEndTime"])
    page = SimpleNamespace(graph=SimpleNamespace(id="g1", arn="arn:g1", region="us-east-1"), session=None,
                           csrf="t", request=SimpleNamespace(segments=[], target="/"))
    html = Templates().render(
        "investigation.html", page=page, title="t", report=found, groups=report.groups(found), entity_type="aws_user",
        scope=scope, running=False, ttp_chart=None, untimed_ttps=0, travel=None, ttp_anchor=report.ttp_anchor,
        indicator_count=report.indicator_count(found), baseline_note=report.baseline_note(found),
        role_sessions=report.role_sessions(found))
    assert "<script>alert(3)" not in html and "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert cw.XSS_AGENT not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'id="baseline"' in html and "are counted as one" in html
    assert 'id="role-sessions"' in html
    assert f'href="{profile_url("g1", "role_session", found["roleSessions"][0]["sessionArn"], scope)}"'.replace(
        "&", "&amp;") in html
    assert '<details class="fold-members">' in html
    hour_link = profile_url("g1", "aws_user", cw.ALICE, scope, hour="3600000").replace("&", "&amp;")
    assert f'href="{hour_link}"' in html
