"""The indicator rules, one by one, on a real DuckDB graph store with real MaxMind DB files.

Events are written straight into the store's raw api_events and findings tables (the readers
and loads have their own tests; the end-to-end test drives the whole path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graph_rows import (
    ACCOUNT,
    ALICE,
    AWS_EAST,
    AWS_EAST_2,
    BOB,
    END,
    FRANKFURT,
    GEO,
    NOWHERE,
    ROLE,
    SEATTLE,
    START,
    SYDNEY,
    TOKYO_V6,
    Graph,
)
from mmdb_writer import build_geo_dbs

from gumshoe.graph.store import GraphStore
from gumshoe.investigate.engine import (
    BASELINE_MS,
    DAY_MS,
    HOUR_MS,
    Investigator,
    Subject,
    finding_groups,
)
from gumshoe.investigate.geo import GeoIP
from gumshoe.investigate.intel import ThreatIntel
from gumshoe.investigate.ttp import TtpMap


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeoIP]:
    city, asn = build_geo_dbs(tmp_path_factory.mktemp("geo"), GEO)
    geoip = GeoIP(city, asn)
    yield geoip
    geoip.close()


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[Graph]:
    store = GraphStore(tmp_path / "g.duckdb")
    yield Graph(store)
    store.close()


@pytest.fixture
def intel(tmp_path: Path) -> ThreatIntel:
    path = tmp_path / "flagged.txt"
    path.write_text("# bad actors\n203.0.113.0/28\n2001:db8:bad::1\nnot-an-ip\n")
    return ThreatIntel([str(path)])


def run(graph: Graph, geo: GeoIP | None, who: str = ALICE, *, intel: ThreatIntel | None = None,
        start: int = START, end: int = END) -> Any:
    kind = "IAM_ROLE" if ":role/" in who else "IAM_USER"
    investigator = Investigator(geo, TtpMap.load(), intel or ThreatIntel(()))
    return investigator.investigate(graph.store, Subject(who, kind, ACCOUNT), start, end, "arn:graph")


def of(result: Any, kind: str) -> list[dict[str, Any]]:
    return [i.detail for i in result.indicators if i.type == kind]


def baseline(graph: Graph, who: str = ALICE, **kwargs: Any) -> None:
    """Ordinary work over the whole 45-day baseline: 30 active hours."""
    for day in (45, *range(1, 40, 3)):
        for hour in (0, 2):
            graph.call(START - day * DAY_MS + hour * HOUR_MS, who=who, **kwargs)


# --- new geolocation, ASO, user agent ---------------------------------------------------

def test_new_geolocation_and_whether_new_for_the_account(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS, ip=FRANKFURT)
    result = run(graph, geo)
    assert of(result, "NEW_GEOLOCATION") == [
        {"Location": "Frankfurt am Main, Germany", "IpAddress": FRANKFURT, "IsNewForEntireAccount": True}]
    graph.call(START - 10 * DAY_MS, who=BOB, ip="203.0.113.99")  # another principal of the account was there
    assert of(run(graph, geo), "NEW_GEOLOCATION")[0]["IsNewForEntireAccount"] is False


def test_a_known_place_is_not_new(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS, ip="198.51.100.77")  # another address, same city
    result = run(graph, geo)
    assert of(result, "NEW_GEOLOCATION") == [] and of(result, "NEW_ASO") == []


def test_baseline_is_exactly_the_45_days_before_the_scope(graph: Graph, geo: GeoIP) -> None:
    graph.call(START - BASELINE_MS, ip=FRANKFURT)  # the first millisecond of the baseline
    graph.call(START + HOUR_MS, ip=FRANKFURT)
    assert of(run(graph, geo), "NEW_GEOLOCATION") == []
    # one millisecond earlier is outside the baseline: the place is new again
    assert of(run(graph, geo, start=START + 1, end=END), "NEW_GEOLOCATION") != []


def test_ipv6_locations(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS, ip=TOKYO_V6)
    assert of(run(graph, geo), "NEW_GEOLOCATION") == [
        {"Location": "Tokyo, Japan", "IpAddress": TOKYO_V6, "IsNewForEntireAccount": True}]


def test_unknown_locations_and_service_names_are_never_new(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS, ip=NOWHERE)
    graph.call(START + 2 * HOUR_MS, ip="ec2.amazonaws.com")
    result = run(graph, geo)
    assert of(result, "NEW_GEOLOCATION") == [] and of(result, "NEW_ASO") == []
    assert of(result, "IMPOSSIBLE_TRAVEL") == []


def test_new_aso(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS, ip=FRANKFURT)
    assert of(run(graph, geo), "NEW_ASO") == [{"Aso": "Bulletproof VPS", "IsNewForEntireAccount": True}]


def test_new_user_agent(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START - 5 * DAY_MS, who=BOB, ua="python-requests/2.31")
    graph.call(START + HOUR_MS, ua="python-requests/2.31")
    graph.call(START + HOUR_MS, ua="Boto3/1.34 kali")
    assert of(run(graph, geo), "NEW_USER_AGENT") == [
        {"UserAgent": "Boto3/1.34 kali", "IsNewForEntireAccount": True},
        {"UserAgent": "python-requests/2.31", "IsNewForEntireAccount": False},
    ]


def test_a_role_counts_all_its_sessions(graph: Graph, geo: GeoIP) -> None:
    baseline(graph, ROLE, session="build-1")
    graph.call(START + HOUR_MS, who=ROLE, session="build-2")  # a new session from the known place
    assert of(run(graph, geo, ROLE), "NEW_GEOLOCATION") == []
    graph.call(START + 5 * HOUR_MS, who=ROLE, session="build-3", ip=SYDNEY)
    assert [d["IpAddress"] for d in of(run(graph, geo, ROLE), "NEW_GEOLOCATION")] == [SYDNEY]
    assert of(run(graph, geo, ALICE), "NEW_GEOLOCATION") == []  # not another principal's activity


# --- impossible travel ------------------------------------------------------------------

def test_impossible_travel(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS)
    graph.call(START + 2 * HOUR_MS + 5 * 60_000, ip=FRANKFURT)  # ~8,200 km in about an hour
    [travel] = of(run(graph, geo), "IMPOSSIBLE_TRAVEL")
    assert travel == {"StartingIpAddress": SEATTLE, "EndingIpAddress": FRANKFURT,
                      "StartingLocation": "Seattle, United States", "EndingLocation": "Frankfurt am Main, Germany",
                      "HourlyTimeDelta": 1}


def test_calls_from_two_places_interleaved_in_an_hour_are_travel_with_no_time_between(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS + 5 * 60_000)
    graph.call(START + HOUR_MS + 20 * 60_000, ip=FRANKFURT)
    graph.call(START + HOUR_MS + 50 * 60_000)  # Seattle again, after Frankfurt's first call
    [travel] = [i for i in run(graph, geo).indicators if i.type == "IMPOSSIBLE_TRAVEL"]
    assert (travel.detail["StartingIpAddress"], travel.detail["EndingIpAddress"]) == (SEATTLE, FRANKFURT)
    assert travel.detail["HourlyTimeDelta"] == 0
    assert travel.evidence["startTime"] == travel.evidence["endTime"] == START + HOUR_MS + 20 * 60_000
    assert travel.evidence["interleaved"] is True


def test_a_plausible_journey_is_not_impossible_travel(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS)
    graph.call(START + 20 * HOUR_MS, ip=FRANKFURT)  # ~430 km/h
    assert of(run(graph, geo), "IMPOSSIBLE_TRAVEL") == []


def test_the_speed_limit_is_configurable(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS)
    graph.call(START + 20 * HOUR_MS, ip=FRANKFURT)
    slow = Investigator(geo, TtpMap.load(), ThreatIntel(()), travel_speed_kmh=300)
    result = slow.investigate(graph.store, Subject(ALICE, "IAM_USER", ACCOUNT), START, END)
    assert [i.detail["HourlyTimeDelta"] for i in result.indicators if i.type == "IMPOSSIBLE_TRAVEL"] == [19]


# --- flagged addresses ------------------------------------------------------------------

def test_flagged_ip_addresses_and_reload(graph: Graph, geo: GeoIP, intel: ThreatIntel, tmp_path: Path) -> None:
    graph.call(START + HOUR_MS, ip="203.0.113.5")
    graph.call(START + HOUR_MS, ip="203.0.113.99")  # outside the /28
    graph.call(START + HOUR_MS, ip="2001:db8:bad::1")
    assert of(run(graph, geo, intel=intel), "FLAGGED_IP_ADDRESS") == [
        {"IpAddress": "2001:db8:bad::1", "Reason": "AWS_THREAT_INTELLIGENCE"},
        {"IpAddress": "203.0.113.5", "Reason": "AWS_THREAT_INTELLIGENCE"},
    ]
    (tmp_path / "flagged.txt").write_text("203.0.113.99\n")  # replaced while running: no restart needed
    assert [d["IpAddress"] for d in of(run(graph, geo, intel=intel), "FLAGGED_IP_ADDRESS")] == ["203.0.113.99"]


# --- tactics, techniques and procedures ---------------------------------------------------

def test_ttp_observed(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging")
    graph.call(START + HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging", error="AccessDenied")
    [ttp] = [d for d in of(run(graph, geo), "TTP_OBSERVED") if d["APIName"] == "cloudtrail:StopLogging"]
    assert ttp["Tactic"] == "Defense Evasion" and ttp["Technique"].startswith("T1562.008")
    assert ttp["APISuccessCount"] == 1 and ttp["APIFailureCount"] == 1 and ttp["IpAddress"] == SEATTLE
    assert ttp["Procedure"]


def test_routine_discovery_is_not_an_indicator_but_new_discovery_is(graph: Graph, geo: GeoIP) -> None:
    mapping = TtpMap.load()
    low = next((s, n) for s, n in sorted(mapping.api_names())
               if any(t.weight == "low" for t in mapping.for_api(s, n, False)))
    baseline(graph, source=low[0], name=low[1])
    graph.call(START + HOUR_MS, source=low[0], name=low[1])
    assert of(run(graph, geo), "TTP_OBSERVED") == []
    graph.call(START + HOUR_MS, source="iam.amazonaws.com", name="GetAccountAuthorizationDetails")
    assert [d["APIName"] for d in of(run(graph, geo), "TTP_OBSERVED")] == ["iam:GetAccountAuthorizationDetails"]


def test_request_conditions_decide_sharing(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, source="ec2.amazonaws.com", name="ModifySnapshotAttribute")  # a removal
    assert of(run(graph, geo), "TTP_OBSERVED") == []
    graph.call(START + 2 * HOUR_MS, source="ec2.amazonaws.com", name="ModifySnapshotAttribute", flags="shared")
    [ttp] = of(run(graph, geo), "TTP_OBSERVED")
    assert ttp["Tactic"] == "Exfiltration" and ttp["APIName"] == "ec2:ModifySnapshotAttribute"
    assert ttp["APISuccessCount"] == 2  # the call's count, with the sharing among them


def test_user_data_makes_a_launch_execution(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, source="ec2.amazonaws.com", name="RunInstances")
    assert "Execution" not in {d["Tactic"] for d in of(run(graph, geo), "TTP_OBSERVED")}
    graph.call(START + 2 * HOUR_MS, source="ec2.amazonaws.com", name="RunInstances", flags="user_data")
    [execution] = [d for d in of(run(graph, geo), "TTP_OBSERVED") if d["Tactic"] == "Execution"]
    assert execution["Technique"].startswith("T1651 ") and execution["APIName"] == "ec2:RunInstances"


def test_lambda_calls_are_mapped_under_their_versioned_names(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, source="lambda.amazonaws.com", name="AddPermission20150331v2")
    [ttp] = of(run(graph, geo), "TTP_OBSERVED")
    assert ttp["APIName"] == "lambda:AddPermission20150331v2" and ttp["Technique"].startswith("T1546 ")


def test_routine_calls_from_a_new_address_are_indicators(graph: Graph, geo: GeoIP) -> None:
    baseline(graph, source="iam.amazonaws.com", name="AttachUserPolicy")
    graph.call(START + HOUR_MS, source="iam.amazonaws.com", name="AttachUserPolicy", ip="198.51.100.99")
    assert of(run(graph, geo), "TTP_OBSERVED") == []  # the same /24 as usual
    graph.call(START + HOUR_MS, source="iam.amazonaws.com", name="AttachUserPolicy", ip=SYDNEY)
    assert {d["IpAddress"] for d in of(run(graph, geo), "TTP_OBSERVED")} == {SYDNEY}


def test_one_technique_through_one_api_scores_once(graph: Graph, geo: GeoIP) -> None:
    for n in range(20):  # twenty new addresses of one network: one piece of evidence
        graph.call(START + HOUR_MS, source="iam.amazonaws.com", name="CreateUser", ip=f"192.0.2.{n + 1}")
    result = run(graph, None)
    assert len(of(result, "TTP_OBSERVED")) >= 20
    assert result.severity in ("LOW", "MEDIUM")


# --- findings and finding groups ----------------------------------------------------------

def test_related_findings_and_their_group(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, key="AKIASTOLEN")
    graph.finding("f1", START + 2 * HOUR_MS, key="AKIASTOLEN", ips=(FRANKFURT,))
    graph.finding("f2", START + 3 * HOUR_MS, kind="Recon:IAMUser/MaliciousIPCaller", severity=5.0, ips=(FRANKFURT,))
    graph.finding("f3", START + 3 * HOUR_MS, key="AKIAOTHER")  # shares nothing
    graph.finding("f4", START - 30 * DAY_MS, key="AKIASTOLEN")  # outside the scope
    result = run(graph, geo)
    related = of(result, "RELATED_FINDING")
    assert [(d["Type"], d["IpAddress"]) for d in related] == [("UnauthorizedAccess:IAMUser/MaliciousIPCaller", FRANKFURT)]
    assert related[0]["Arn"].endswith("/finding/f1")
    [group] = of(result, "RELATED_FINDING_GROUP")
    assert group["Id"] and group == of(run(graph, geo), "RELATED_FINDING_GROUP")[0]  # stable


def test_finding_groups_need_a_shared_entity_within_the_window(graph: Graph) -> None:
    from gumshoe.investigate.engine import _read_findings
    graph.finding("a", START, key="AKIA1")
    graph.finding("b", START + DAY_MS, key="AKIA1", ips=(FRANKFURT,))
    graph.finding("c", START + 2 * DAY_MS, ips=(FRANKFURT,))
    graph.finding("d", START + 60 * DAY_MS, ips=(FRANKFURT,))  # too late to join
    graph.finding("e", START, ips=("10.0.0.1",), user="x")  # a private address links nothing
    graph.finding("f", START, ips=("10.0.0.1",))
    with graph.store.cursor() as conn:
        groups = finding_groups(_read_findings(conn))
    assert [sorted(f.id for f in g) for g in groups] == [["a", "b", "c"]]


# --- severity and what was not evaluated -------------------------------------------------

def test_an_ordinary_day_is_informational(graph: Graph, geo: GeoIP, intel: ThreatIntel) -> None:
    baseline(graph)
    for hour in range(8, 18):
        graph.call(START + hour * HOUR_MS)
    result = run(graph, geo, intel=intel)
    assert result.indicators == [] and result.severity == "INFORMATIONAL" and result.notes == []


def test_stolen_keys_are_critical(graph: Graph, geo: GeoIP, intel: ThreatIntel) -> None:
    baseline(graph)
    for name in ("ListUsers", "GetAccountAuthorizationDetails", "CreateAccessKey", "AttachUserPolicy"):
        graph.call(START + HOUR_MS, ip="203.0.113.5", ua="python-requests/2.31", source="iam.amazonaws.com", name=name)
    graph.call(START + HOUR_MS, ip="203.0.113.5", source="cloudtrail.amazonaws.com", name="StopLogging")
    assert run(graph, geo, intel=intel).severity == "CRITICAL"


def test_without_geoip_the_geo_indicators_are_skipped_and_said_so(graph: Graph) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS, ip=FRANKFURT, ua="new-agent")
    result = run(graph, None)
    assert of(result, "NEW_GEOLOCATION") == [] and of(result, "NEW_ASO") == []
    assert of(result, "NEW_USER_AGENT") != []
    assert any("NEW_GEOLOCATION" in n and "geoip" in n.lower() for n in result.notes)
    assert any("NEW_ASO" in n for n in result.notes)
    assert any("FLAGGED_IP_ADDRESS" in n for n in result.notes)


def test_a_fully_geolocated_graph_answers_the_same(graph: Graph, geo: GeoIP) -> None:
    from gumshoe.investigate.located import (
        api_event_rows,
        is_located,
        locate_addresses,
        mark_located,
    )

    baseline(graph)
    graph.call(START - 10 * DAY_MS, who=BOB, ip="203.0.113.99")  # Frankfurt, known to the account
    graph.call(START + HOUR_MS, ip=FRANKFURT)
    graph.call(START + 2 * HOUR_MS, ip=SYDNEY)  # new for everyone
    graph.call(START + 3 * HOUR_MS, ip=TOKYO_V6)
    before = [(i.type, i.detail) for i in run(graph, geo).indicators]
    with graph.store.cursor() as conn:
        assert not is_located(conn, geo)
        locate_addresses(conn, geo)
        mark_located(conn, geo, api_event_rows(conn))
        assert is_located(conn, geo)
    after = [(i.type, i.detail) for i in run(graph, geo).indicators]
    assert after == before
    assert {d["Location"]: d["IsNewForEntireAccount"] for t, d in after if t == "NEW_GEOLOCATION"} == {
        "Frankfurt am Main, Germany": False, "Sydney, Australia": True, "Tokyo, Japan": True}
    graph.call(START + 4 * HOUR_MS, ip="192.0.2.77")  # a load after the marking: not located any more
    with graph.store.cursor() as conn:
        assert not is_located(conn, geo)


def test_an_unreadable_threat_list_is_said(graph: Graph, geo: GeoIP, tmp_path: Path) -> None:
    missing = tmp_path / "not-there.txt"
    intel = ThreatIntel([str(missing)])
    graph.call(START + HOUR_MS, ip="203.0.113.5")
    result = run(graph, geo, intel=intel)
    assert any(str(missing) in note and "could not be read" in note for note in result.notes)
    missing.write_text("203.0.113.5\n")  # created later: read by the next investigation
    result = run(graph, geo, intel=intel)
    assert of(result, "FLAGGED_IP_ADDRESS") == [{"IpAddress": "203.0.113.5", "Reason": "AWS_THREAT_INTELLIGENCE"}]
    assert not any("could not be read" in note for note in result.notes)


# --- a quiet scope is not a clean verdict -------------------------------------------------


def test_an_unknown_principal_is_said_to_be_unknown_not_clean(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS)  # alice is there; her name mistyped is not
    result = run(graph, geo, who=f"arn:aws:iam::{ACCOUNT}:user/alicee")
    assert result.indicators == []
    assert any("user/alicee has no events in this behavior graph" in n and "check the ARN" in n for n in result.notes)
    assert not any("no events in this behavior graph" in n for n in run(graph, geo).notes)


def test_a_principal_quiet_in_the_scope_says_when_it_was_active(graph: Graph, geo: GeoIP) -> None:
    graph.call(START - 100 * DAY_MS)  # months before the scope
    graph.call(START - 90 * DAY_MS)
    result = run(graph, geo)
    note = next(n for n in result.notes if "made no API call in the scope" in n)
    assert "2 of its events" in note and "widen the scope" in note


# --- what happened: done, denied, failed ------------------------------------------------------


def ttp_rows(result: Any, api: str) -> list[dict[str, Any]]:
    return [d for d in of(result, "TTP_OBSERVED") if d["APIName"] == api]


def test_procedures_say_whether_the_calls_succeeded_were_denied_or_failed(graph: Graph, geo: GeoIP) -> None:
    for n in range(3):
        graph.call(START + HOUR_MS + n, source="cloudtrail.amazonaws.com", name="StopLogging",
                   error="TrailNotFoundException", ip=FRANKFURT)
    graph.call(START + 2 * HOUR_MS, source="ec2.amazonaws.com", name="GetPasswordData",
               error="Client.UnauthorizedOperation", ip=FRANKFURT)
    result = run(graph, geo)
    [stop] = ttp_rows(result, "cloudtrail:StopLogging")
    assert (stop["APISuccessCount"], stop["APIFailureCount"]) == (0, 3)
    assert stop["Procedure"].startswith("Attempted, and failed (TrailNotFoundException): stopped or deleted")
    [password] = ttp_rows(result, "ec2:GetPasswordData")
    assert password["Procedure"].startswith("Attempted, and denied (Client.UnauthorizedOperation): fetched")


def test_a_technique_that_only_failed_scores_less_than_one_that_succeeded(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging", error="AccessDenied", ip=FRANKFURT)
    failed = run(graph, geo)
    graph.call(START + 2 * HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging", ip=SEATTLE)
    done = run(graph, geo)
    assert failed.score < done.score
    rows = ttp_rows(done, "cloudtrail:StopLogging")  # one row an address; the success counts, once
    assert len(rows) == 2 and {r["Procedure"].startswith("Attempted") for r in rows} == {True, False}


def test_the_result_says_why_its_severity(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging", ip=FRANKFURT)
    result = run(graph, geo)
    why = result.why
    assert (why["severity"], why["score"]) == (result.severity, result.score)
    assert why["score"] == sum(c["counted"] for c in why["contributions"]) + why["corroborationBonus"]
    high = next(c for c in why["contributions"] if c["bucket"] == "TTP_OBSERVED:high")
    assert (high["indicators"], high["points"], high["cap"], high["counted"]) == (1, 45, 90, 45)
    assert why["corroborationBonus"] == 20  # a new place (Frankfurt) with the tactic


# --- evidence: what the calls acted on, and their events ------------------------------------------


def test_a_ttp_names_what_its_calls_acted_on_and_its_first_events(graph: Graph, geo: GeoIP) -> None:
    share = "snapshot:snap-1 account:999988887777"
    graph.call(START + HOUR_MS, source="ec2.amazonaws.com", name="ModifySnapshotAttribute", flags="shared", targets=share)
    graph.call(START + 2 * HOUR_MS, source="ec2.amazonaws.com", name="ModifySnapshotAttribute", flags="shared",
               targets="snapshot:snap-2 account:999988887777")
    graph.call(START + 3 * HOUR_MS, source="ec2.amazonaws.com", name="ModifySnapshotAttribute",
               error="InvalidSnapshot.NotFound", targets="snapshot:snap-3")
    [ttp] = [i for i in run(graph, geo).indicators if i.type == "TTP_OBSERVED"]
    evidence = ttp.evidence
    assert evidence["targets"] == [
        {"target": "account:999988887777", "calls": 2, "failures": 0},
        {"target": "snapshot:snap-1", "calls": 1, "failures": 0},
        {"target": "snapshot:snap-2", "calls": 1, "failures": 0},
        {"target": "snapshot:snap-3", "calls": 1, "failures": 1},
    ]
    assert evidence["targetCount"] == 4
    assert evidence["eventIds"] == ["e1", "e2", "e3"] and evidence["eventCount"] == 3
    assert evidence["selector"] == {"eventSource": "ec2.amazonaws.com", "eventName": "ModifySnapshotAttribute",
                                    "sourceIp": SEATTLE, "via": ""}
    assert "targets" not in ttp.wire()["IndicatorDetail"]["TTPsObservedDetail"]  # the model's shape, no more


def test_an_indicator_keeps_its_first_five_event_ids_and_lists_twenty_targets(graph: Graph) -> None:
    for n in range(30):
        graph.call(START + HOUR_MS + (30 - n) * 1000, source="iam.amazonaws.com", name="CreateAccessKey",
                   targets=f"user:u{n:02d}")
    # A key for another user is Persistence and Privilege Escalation; each keeps its evidence.
    ttps = [i for i in run(graph, None).indicators if i.type == "TTP_OBSERVED"]
    assert {i.wire()["IndicatorDetail"]["TTPsObservedDetail"]["Tactic"] for i in ttps} == {
        "Persistence", "Privilege Escalation"}
    [ttp] = [i for i in ttps if i.wire()["IndicatorDetail"]["TTPsObservedDetail"]["Tactic"] == "Persistence"]
    assert ttp.evidence["eventIds"] == ["e30", "e29", "e28", "e27", "e26"]  # the earliest first
    assert len(ttp.evidence["targets"]) == 20 and ttp.evidence["targetCount"] == 30
    assert ttp.evidence["eventCount"] == 30


# --- baselines said out loud ---------------------------------------------------------------------


def test_a_principal_with_no_baseline_has_its_firsts_as_one_finding(graph: Graph) -> None:
    for n in range(30):
        graph.call(START + HOUR_MS + n, ua=f"agent/{n}")
    result = run(graph, None)
    agents = [i for i in result.indicators if i.type == "NEW_USER_AGENT"]
    assert len(agents) == 30 and all(i.evidence["noBaseline"] for i in agents)  # ListIndicators keeps them all
    [row] = [c for c in result.why["contributions"] if c["bucket"] == "NEW_USER_AGENT"]
    assert (row["indicators"], row["counted"], row["noBaseline"]) == (1, 4, 30)  # one finding, weighed as one
    assert result.severity == "INFORMATIONAL"
    [note] = [n for n in result.notes if n.startswith("No baseline")]
    assert "none of the 45 days before the scope for account 111111111111" in note
    assert f"{ALICE} has no event before the scope" in note
    assert result.why["baseline"] == {"days": 45, "accountDays": 0.0, "accountFirstSeen": START + HOUR_MS,
                                      "entityDays": 0.0, "entityFirstSeen": START + HOUR_MS, "entityEvents": 0}


def test_a_new_principal_in_an_account_with_a_baseline_is_new_against_the_account(graph: Graph) -> None:
    baseline(graph, who=BOB)  # the account has 40 days of bob
    graph.call(START + HOUR_MS, ua="aws-cli/2.15.0")  # bob's agent: known to the account
    graph.call(START + HOUR_MS, ua="kali-boto")  # new to everyone
    result = run(graph, None)
    [row] = [c for c in result.why["contributions"] if c["bucket"] == "NEW_USER_AGENT"]
    assert (row["counted"], row["noBaseline"]) == (8, 2)
    note = next(n for n in result.notes if n.startswith("No baseline"))
    assert "holds 45 days of the 45 days" in note


def test_a_short_baseline_is_said_with_how_much_there_is(graph: Graph) -> None:
    graph.call(START - 3 * DAY_MS)
    graph.call(START + HOUR_MS, ua="new-agent")
    result = run(graph, None)
    note = next(n for n in result.notes if n.startswith("Short baseline"))
    assert "holds 3 days of the 45 days before the scope" in note and "1 events of" in note
    assert result.why["baseline"]["accountDays"] == 3.0 and result.why["baseline"]["entityEvents"] == 1
    assert not any(i.evidence.get("noBaseline") for i in result.indicators)
    [row] = [c for c in result.why["contributions"] if c["bucket"] == "NEW_USER_AGENT"]
    assert "noBaseline" not in row


def test_a_full_baseline_says_nothing(graph: Graph) -> None:
    graph.call(START - 44 * DAY_MS)
    graph.call(START - 50 * DAY_MS)
    graph.call(START + HOUR_MS)
    result = run(graph, None)
    assert not any(n.startswith(("No baseline", "Short baseline")) for n in result.notes)
    assert result.why["baseline"]["accountDays"] == 45.0


# --- order by importance ----------------------------------------------------------------------


def test_indicators_come_by_the_points_they_add_then_by_time(graph: Graph, geo: GeoIP) -> None:
    baseline(graph)
    graph.call(START + HOUR_MS, source="iam.amazonaws.com", name="ListUsers", ip=SYDNEY)  # low, first
    graph.call(START + 2 * HOUR_MS, source="iam.amazonaws.com", name="CreateUser", ip=SYDNEY)  # normal
    graph.call(START + 3 * HOUR_MS, source="iam.amazonaws.com", name="CreateUser", ip=FRANKFURT,
               error="AccessDenied")  # the same technique and API, denied: counted once, by the success
    graph.call(START + 5 * HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging", ip=SYDNEY)  # high, last
    result = run(graph, geo)
    order = [(i.type, i.detail.get("APIName") or i.detail.get("IpAddress") or i.detail.get("Aso"),
              i.evidence["points"]) for i in result.indicators]
    ttps = [o for o in order if o[0] == "TTP_OBSERVED"]
    assert ttps == [("TTP_OBSERVED", "cloudtrail:StopLogging", 45), ("TTP_OBSERVED", "iam:CreateUser", 20),
                    ("TTP_OBSERVED", "iam:ListUsers", 4), ("TTP_OBSERVED", "iam:CreateUser", 0)]
    points = [p for _, _, p in order]
    assert points == sorted(points, reverse=True)
    places = [o for o in order if o[0] == "NEW_GEOLOCATION"]  # 20 points each: the earlier first
    assert [p[1] for p in places] == [SYDNEY, FRANKFURT]


# --- instance credentials used off the instance ------------------------------------------------

INSTANCE = "i-0abc1234def567890"
APP = f"arn:aws:iam::{ACCOUNT}:role/app-server"


def instance_call(graph: Graph, t: int, ip: str, name: str = "DescribeInstances", source: str = "ec2.amazonaws.com",
                  **kwargs: Any) -> None:
    graph.call(t, who=APP, session=INSTANCE, ip=ip, source=source, name=name, ua="aws-sdk-go/1.44", **kwargs)


def off_instance(result: Any) -> list[Any]:
    return [i for i in result.indicators if i.type == "INSTANCE_CREDENTIALS_OFF_INSTANCE"]


def test_instance_credentials_used_away_from_the_instances_own_address(graph: Graph, geo: GeoIP) -> None:
    instance_call(graph, START + HOUR_MS, AWS_EAST, "UpdateInstanceInformation", "ssm.amazonaws.com")  # its agent
    instance_call(graph, START + 2 * HOUR_MS, AWS_EAST)
    instance_call(graph, START + 3 * HOUR_MS, AWS_EAST_2, "ListBuckets", "s3.amazonaws.com")  # another EC2 box
    result = run(graph, geo, APP)
    [stolen] = off_instance(result)
    assert stolen.detail == {"InstanceId": INSTANCE, "SessionArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app-server/"
                             f"{INSTANCE}", "IpAddress": AWS_EAST_2, "InstanceIpAddresses": [AWS_EAST],
                             "Reason": "NOT_THE_INSTANCES_ADDRESS"}
    assert stolen.evidence["apis"] == ["s3:ListBuckets"] and stolen.evidence["eventCount"] == 1
    assert stolen.evidence["selector"] == {"principal": stolen.detail["SessionArn"], "sourceIp": AWS_EAST_2}
    assert result.indicators[0] is stolen  # scored high: the first thing the report shows
    assert next(c for c in result.why["contributions"] if c["bucket"] == stolen.type)["counted"] == 45
    assert "InstanceCredentialsDetail" in stolen.wire()["IndicatorDetail"]


def test_the_instances_baseline_addresses_are_its_own(graph: Graph, geo: GeoIP) -> None:
    for day in (44, 20, 3):
        instance_call(graph, START - day * DAY_MS, AWS_EAST)
    instance_call(graph, START + HOUR_MS, AWS_EAST)
    assert off_instance(run(graph, geo, APP)) == []
    instance_call(graph, START + 2 * HOUR_MS, FRANKFURT)  # a VPS, outside AWS
    [stolen] = off_instance(run(graph, geo, APP))
    assert (stolen.detail["IpAddress"], stolen.detail["Reason"]) == (FRANKFURT, "OUTSIDE_AWS")
    assert stolen.evidence["aso"] == "Bulletproof VPS"


def test_with_no_address_of_the_instance_only_outside_aws_counts(graph: Graph, geo: GeoIP) -> None:
    instance_call(graph, START + HOUR_MS, AWS_EAST)
    instance_call(graph, START + 2 * HOUR_MS, AWS_EAST_2)  # two Amazon addresses: either may be the instance
    result = run(graph, geo, APP)
    assert off_instance(result) == []
    assert any("could not be told apart from the instance's own" in n and INSTANCE in n for n in result.notes)
    instance_call(graph, START + 3 * HOUR_MS, SYDNEY)
    assert [i.detail["Reason"] for i in off_instance(run(graph, geo, APP))] == ["OUTSIDE_AWS"]
    assert off_instance(run(graph, None, APP)) == []  # no ASN database: nothing to tell Amazon's from others'


def test_calls_through_a_vpc_endpoint_are_from_inside(graph: Graph, geo: GeoIP) -> None:
    instance_call(graph, START + HOUR_MS, AWS_EAST, "UpdateInstanceInformation", "ssm.amazonaws.com")
    instance_call(graph, START + 2 * HOUR_MS, "10.0.3.7", endpoint="vpce-0123")
    assert off_instance(run(graph, geo, APP)) == []


def test_a_session_that_is_not_an_instances_is_not_judged_so(graph: Graph, geo: GeoIP) -> None:
    graph.call(START + HOUR_MS, who=APP, session="build-7", ip=AWS_EAST, source="ssm.amazonaws.com",
               name="UpdateInstanceInformation")
    graph.call(START + 2 * HOUR_MS, who=APP, session="build-7", ip=FRANKFURT)
    assert off_instance(run(graph, geo, APP)) == []


# --- role chains: what a principal did through the roles it assumed ------------------------------

ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
AUDIT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Audit"


def session_arn(role: str, session: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/{session}"


def assume(graph: Graph, t: int, role: str, session: str, who: str = ALICE, **kwargs: Any) -> None:
    graph.call(t, who=who, source="sts.amazonaws.com", name="AssumeRole", target_role=role,
               target_session=session_arn(role, session), **kwargs)


def via_rows(result: Any) -> list[tuple[str, str, str]]:
    return [(i.detail["APIName"], i.evidence["via"]["label"], i.detail["Procedure"])
            for i in result.indicators if i.type == "TTP_OBSERVED" and "via" in i.evidence]


def test_a_users_investigation_covers_the_sessions_it_started(graph: Graph) -> None:
    baseline(graph)
    assume(graph, START + HOUR_MS, ADMIN_ROLE, "eve-admin")
    graph.call(START + HOUR_MS + 60_000, who=ADMIN_ROLE, session="eve-admin", source="cloudtrail.amazonaws.com",
               name="StopLogging", targets="trail:main")
    result = run(graph, None)
    [(api, label, procedure)] = via_rows(result)
    assert (api, label) == ("cloudtrail:StopLogging", "role Admin, session eve-admin")
    assert procedure.endswith("(via role Admin, session eve-admin)")
    stop = next(i for i in result.indicators if i.detail.get("APIName") == "cloudtrail:StopLogging")
    assert stop.evidence["via"] == {"role": ADMIN_ROLE, "sessions": [session_arn(ADMIN_ROLE, "eve-admin")],
                                    "label": "role Admin, session eve-admin"}
    assert stop.evidence["selector"]["via"] == ADMIN_ROLE and stop.evidence["targets"][0]["target"] == "trail:main"
    assert result.severity != "INFORMATIONAL" and stop.evidence["points"] == 45  # in the scoring too
    note = next(n for n in result.notes if "also covers the 1 role session" in n)
    assert "role Admin, session eve-admin (1 call)" in note
    assert result.why["roleSessions"] == [{"sessionArn": session_arn(ADMIN_ROLE, "eve-admin"), "roleArn": ADMIN_ROLE,
                                           "events": 1, "firstSeen": START + HOUR_MS + 60_000,
                                           "lastSeen": START + HOUR_MS + 60_000}]


def test_a_session_started_again_by_someone_else_is_theirs_from_then_on(graph: Graph) -> None:
    assume(graph, START + HOUR_MS, ADMIN_ROLE, "ops")
    graph.call(START + HOUR_MS + 1000, who=ADMIN_ROLE, session="ops", source="iam.amazonaws.com", name="CreateUser")
    assume(graph, START + 2 * HOUR_MS, ADMIN_ROLE, "ops", who=BOB)
    graph.call(START + 2 * HOUR_MS + 1000, who=ADMIN_ROLE, session="ops", source="cloudtrail.amazonaws.com",
               name="StopLogging")
    graph.call(START + 20 * HOUR_MS, who=ADMIN_ROLE, session="ops", source="guardduty.amazonaws.com",
               name="DeleteDetector")  # long after any start: nobody's this investigation knows
    assert [api for api, _, _ in via_rows(run(graph, None))] == ["iam:CreateUser"]
    assert [api for api, _, _ in via_rows(run(graph, None, BOB))] == ["cloudtrail:StopLogging"]


def test_sessions_started_by_sessions_are_followed(graph: Graph) -> None:
    assume(graph, START + HOUR_MS, ADMIN_ROLE, "hop-1")
    graph.call(START + HOUR_MS + 1000, who=ADMIN_ROLE, session="hop-1", source="sts.amazonaws.com", name="AssumeRole",
               target_role=AUDIT_ROLE, target_session=session_arn(AUDIT_ROLE, "hop-2"))
    graph.call(START + HOUR_MS + 2000, who=AUDIT_ROLE, session="hop-2", source="ec2.amazonaws.com",
               name="GetPasswordData", error="Client.UnauthorizedOperation")
    labels = {label for _, label, _ in via_rows(run(graph, None))}
    assert labels == {"role Admin, session hop-1", "role Audit, session hop-2"}


def test_a_roles_own_sessions_are_not_counted_twice(graph: Graph) -> None:
    graph.call(START + HOUR_MS, who=ROLE, session="build-1", source="sts.amazonaws.com", name="AssumeRole",
               target_role=ROLE, target_session=session_arn(ROLE, "build-2"))
    graph.call(START + HOUR_MS + 1000, who=ROLE, session="build-2", source="iam.amazonaws.com", name="CreateUser")
    graph.call(START + HOUR_MS + 2000, who=ROLE, session="build-1", source="sts.amazonaws.com", name="AssumeRole",
               target_role=ADMIN_ROLE, target_session=session_arn(ADMIN_ROLE, "from-ci"))
    graph.call(START + HOUR_MS + 3000, who=ADMIN_ROLE, session="from-ci", source="iam.amazonaws.com",
               name="CreateUser")
    result = run(graph, None, ROLE)
    creates = [i for i in result.indicators if i.detail.get("APIName") == "iam:CreateUser"]
    assert {(i.detail["APISuccessCount"], i.evidence.get("via", {}).get("role")) for i in creates} == {
        (1, None), (1, ADMIN_ROLE)}  # build-2 is the role's own session; from-ci one it started
    assert [c["sessionArn"] for c in result.why["roleSessions"]] == [session_arn(ADMIN_ROLE, "from-ci")]


# --- unusual volume against the principal's own baseline ------------------------------------------


def busy_baseline(graph: Graph, calls_an_hour: int = 20, **kwargs: Any) -> None:
    """30 days, each with two active hours of about calls_an_hour calls."""
    for day in range(1, 31):
        for hour in (9, 14):
            for n in range(calls_an_hour + (day % 3) - 1):
                graph.call(START - day * DAY_MS + hour * HOUR_MS + n * 1000, **kwargs)


def volume_of(result: Any) -> list[Any]:
    return [i for i in result.indicators if i.type == "UNUSUAL_VOLUME"]


def test_an_hour_far_busier_than_the_principals_baseline_is_unusual_volume(graph: Graph) -> None:
    busy_baseline(graph)
    for n in range(25):
        graph.call(START + 9 * HOUR_MS + n * 1000)  # an ordinary hour
    for n in range(400):
        graph.call(START + 20 * HOUR_MS + n * 5)  # twenty times the usual
    result = run(graph, None)
    [spike] = volume_of(result)
    assert spike.detail == {"Kind": "CALLS", "Hour": START + 20 * HOUR_MS, "APICallCount": 400, "APIFailureCount": 0,
                            "BaselineMedian": 20.0, "Factor": 20.0}
    assert spike.evidence["baselineHours"] == 60 and spike.evidence["z"] >= 6
    assert spike.evidence["selector"] == {"from": START + 20 * HOUR_MS, "to": START + 21 * HOUR_MS}
    assert next(c for c in result.why["contributions"] if c["bucket"] == "UNUSUAL_VOLUME")["counted"] == 10


def test_a_burst_of_failures_is_unusual_volume_too(graph: Graph) -> None:
    busy_baseline(graph)
    for n in range(30):
        graph.call(START + 9 * HOUR_MS + n * 1000, error="AccessDenied" if n < 24 else "")
    [spike] = volume_of(run(graph, None))
    assert (spike.detail["Kind"], spike.detail["APIFailureCount"], spike.detail["BaselineMedian"]) == (
        "FAILURES", 24, 0.0)


def test_ordinary_ups_and_downs_are_no_spike(graph: Graph) -> None:
    busy_baseline(graph)
    for n in range(45):  # twice a usual hour, and the hour after it half
        graph.call(START + 9 * HOUR_MS + n * 1000)
    for n in range(10):
        graph.call(START + 10 * HOUR_MS + n * 1000)
    assert volume_of(run(graph, None)) == []


def test_without_enough_baseline_volume_is_not_judged_and_said_so(graph: Graph) -> None:
    for day in range(1, 5):
        graph.call(START - day * DAY_MS)
    for n in range(500):
        graph.call(START + HOUR_MS + n * 5)
    result = run(graph, None)
    assert volume_of(result) == []
    assert any(n.startswith("UNUSUAL_VOLUME was not evaluated: the baseline holds 4 active hours") for n in result.notes)
