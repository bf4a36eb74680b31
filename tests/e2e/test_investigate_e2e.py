"""Investigations end to end: a generated multi-account scenario (60 days of ordinary work, then
seven attacks) ingested by a live server with GeoIP databases and a threat-intel list, then
investigated through boto3 and `gumshoe investigate`. Every expected indicator must appear,
every attack must reach its severity, and ordinary principals must stay INFORMATIONAL or LOW
with no indicator at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import detection
import pytest
from e2e_helpers import module_server, raw, wait_for
from scenario import Scenario, generate

GUMSHOE = Path(sys.executable).parent / "gumshoe"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("investigate")
    scenario = generate(base / "logs", events_per_day=1000)
    with module_server(tmp_path_factory, args=detection.server_args(scenario, base / "intel"), name="inv") as srv:
        arn = detection.set_up_graph(srv.client, scenario)
        detection.ingest(srv.url, scenario)

        class World:
            server = srv
            graph = arn
            sc: Scenario = scenario
            outcomes = detection.run_all(srv.client(scenario.admin_account), arn, scenario,
                                         detection.report_reader(srv.url, scenario.admin_account, arn))

        yield World


def _cases(world: Any, attack: bool) -> list[detection.Outcome]:
    return [o for o in world.outcomes if o.attack is attack]


def test_every_attack_shows_its_indicators_and_severity(world: Any) -> None:
    attacks = _cases(world, True)
    assert len(attacks) == 7
    for outcome in attacks:
        assert outcome.status == "SUCCESSFUL", outcome.expected.entity_arn
        assert outcome.missing == {}, (outcome.expected.description, outcome.missing)
        assert detection.severity_at_least(outcome.severity, outcome.expected.min_severity), (
            outcome.expected.description, outcome.severity)


def test_ordinary_principals_stay_quiet(world: Any) -> None:
    normal = _cases(world, False)
    assert len(normal) >= 5
    for outcome in normal:
        assert outcome.status == "SUCCESSFUL"
        assert outcome.severity in ("INFORMATIONAL", "LOW"), (outcome.expected.entity_arn, outcome.severity)
        assert outcome.indicators == [], (outcome.expected.entity_arn, outcome.indicators)


def test_every_indicator_has_exactly_one_detail_member(world: Any) -> None:
    indicators = [i for o in world.outcomes for i in o.indicators]
    assert {i["IndicatorType"] for i in indicators} >= {
        "TTP_OBSERVED", "IMPOSSIBLE_TRAVEL", "FLAGGED_IP_ADDRESS", "NEW_GEOLOCATION", "NEW_ASO", "NEW_USER_AGENT",
        "RELATED_FINDING", "RELATED_FINDING_GROUP"}
    for indicator in indicators:
        member, _ = detection.KEY_MEMBER[indicator["IndicatorType"]]
        assert list(indicator["IndicatorDetail"]) == [member]


def test_list_indicators_filters_by_type(world: Any) -> None:
    client = world.server.client(world.sc.admin_account)
    stolen = next(o for o in world.outcomes if "FLAGGED_IP_ADDRESS" in o.expected.indicators)
    only = client.list_indicators(GraphArn=world.graph, InvestigationId=stolen.investigation_id,
                                  IndicatorType="NEW_ASO")["Indicators"]
    assert only and {i["IndicatorType"] for i in only} == {"NEW_ASO"}
    critical = client.list_investigations(GraphArn=world.graph, FilterCriteria={"Severity": {"Value": "CRITICAL"}})
    assert stolen.investigation_id in {d["InvestigationId"] for d in critical["InvestigationDetails"]}


def _investigate(world: Any, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=world.sc.admin_account, AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1",
               COLUMNS=str(columns))
    return subprocess.run([str(GUMSHOE), "investigate", "--endpoint-url", world.server.url, *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_gumshoe_investigate_prints_a_report(world: Any) -> None:
    tampering = next(o for o in world.outcomes if "cloudtrail:StopLogging" in o.expected.indicators.get("TTP_OBSERVED", ()))
    window = ["--from", str(tampering.expected.scope_start_ms), "--to", str(tampering.expected.scope_end_ms)]
    result = _investigate(world, tampering.expected.entity_arn, *window)
    assert result.returncode == 0, result.stderr
    report = result.stdout
    assert tampering.severity in report
    assert "Tactics, techniques and procedures observed" in report
    assert "cloudtrail:StopLogging" in report and "Defense Evasion" in report
    as_json = _investigate(world, tampering.expected.entity_arn, "--json", *window)
    data = json.loads(as_json.stdout)
    assert data["status"] == "SUCCESSFUL" and data["severity"] == tampering.severity
    assert {"cloudtrail:StopLogging"} <= {i["detail"].get("APIName") for i in data["indicators"]}
    stop = next(i for i in data["indicators"] if i["detail"].get("APIName") == "cloudtrail:StopLogging")
    scope = tampering.expected
    assert scope.scope_start_ms <= stop["evidence"]["firstSeen"] <= stop["evidence"]["lastSeen"] < scope.scope_end_ms
    assert data["notes"] == []  # GeoIP and threat intel were configured: nothing skipped
    # Why this severity: the scoring's contributions add up to the score, which gives the severity.
    why = data["scoring"]
    assert why["severity"] == data["severity"]
    assert why["score"] == sum(c["counted"] for c in why["contributions"]) + why["corroborationBonus"]
    assert f"why: score {why['score']} = " in report and "TTP_OBSERVED:high" in report


def test_a_mistyped_arn_is_no_clean_verdict(world: Any) -> None:
    tampering = next(o for o in world.outcomes if "cloudtrail:StopLogging" in o.expected.indicators.get("TTP_OBSERVED", ()))
    window = ["--from", str(tampering.expected.scope_start_ms), "--to", str(tampering.expected.scope_end_ms)]
    typo = tampering.expected.entity_arn + "x"
    result = _investigate(world, typo, *window)
    assert result.returncode == 1, result.stdout
    assert "has no events in this behavior graph" in result.stdout and "check the ARN" in result.stdout
    # And the error says so on stderr, with the graph and the ids closest to the one asked for.
    assert f"{typo} has no events in graph {world.graph}" in result.stderr, result.stderr
    assert f"the closest it has: {tampering.expected.entity_arn}" in result.stderr


def test_gumshoe_investigate_explains_bad_input(world: Any) -> None:
    result = _investigate(world, "arn:aws:iam::111111111111:group/admins")
    assert result.returncode == 1 and "IAM user or role" in result.stderr


def test_the_commands_own_errors_are_not_the_servers(world: Any) -> None:
    bad = _investigate(world, "arn:aws:iam::111111111111:user/a", "--from", "2023-07-11", "--to", "2023-07-10")
    assert bad.returncode == 2 and "--from must be earlier than --to" in bad.stderr
    assert "the server answered" not in bad.stderr
    nowhere = _investigate(world, "arn:aws:iam::111111111111:user/a", "--region", "eu-north-1")
    assert nowhere.returncode == 2, nowhere.stderr
    assert f"account {world.sc.admin_account} has no behavior graph in eu-north-1" in nowhere.stderr.replace("\n", " ")


def test_a_killed_server_finishes_the_investigation_after_restart(world: Any) -> None:
    srv = world.server
    client = srv.client(world.sc.admin_account)
    attack = world.sc.attacks[0]
    import datetime as dt
    investigation_id = client.start_investigation(
        GraphArn=world.graph, EntityArn=attack.entity_arn,
        ScopeStartTime=dt.datetime.fromtimestamp(attack.scope_start_ms / 1000, dt.UTC),
        ScopeEndTime=dt.datetime.fromtimestamp(attack.scope_end_ms / 1000, dt.UTC))["InvestigationId"]
    srv.kill()  # kill -9, wherever the run was
    srv.restart()
    client = srv.client(world.sc.admin_account)
    done = wait_for(lambda: (g := client.get_investigation(GraphArn=world.graph, InvestigationId=investigation_id))
                    ["Status"] != "RUNNING" and g, timeout=60, what="investigation after restart")
    assert done["Status"] == "SUCCESSFUL" and done["Severity"] == next(
        o.severity for o in world.outcomes if o.expected is attack)


def test_the_report_endpoint_is_the_administrators_alone(world: Any) -> None:
    outcome = world.outcomes[0]
    query = {"graph": world.graph, "id": outcome.investigation_id}
    mine = raw(world.server, "GET", "/_gumshoe/v1/investigation", account=world.sc.admin_account, params=query)
    assert mine.status_code == 200 and mine.json()["severity"] == outcome.severity
    for account in world.sc.member_accounts:  # members contribute data but do not see investigations
        theirs = raw(world.server, "GET", "/_gumshoe/v1/investigation", account=account, params=query)
        assert theirs.status_code == 404 and theirs.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    unknown = raw(world.server, "GET", "/_gumshoe/v1/investigation", account=world.sc.admin_account,
                  params={"graph": world.graph, "id": "1" * 21})
    assert unknown.status_code == 404


def test_gumshoe_investigate_says_in_one_line_that_no_server_answers() -> None:
    from e2e_helpers import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="111111111111", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1",
               COLUMNS="400")
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run([str(GUMSHOE), "investigate", "--endpoint-url", url, "arn:aws:iam::111111111111:user/a"],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 1
    assert f"cannot reach the server at {url}" in result.stderr and "Traceback" not in result.stderr, result.stderr


# --- evidence with its targets, and every event behind an indicator ----------------------------


def _report(world: Any, outcome: detection.Outcome) -> dict[str, Any]:
    answer = raw(world.server, "GET", "/_gumshoe/v1/investigation", account=world.sc.admin_account,
                 params={"graph": world.graph, "id": outcome.investigation_id})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _outcome_with(world: Any, api: str) -> detection.Outcome:
    return next(o for o in world.outcomes if api in o.expected.indicators.get("TTP_OBSERVED", ()))


def _ttp(report: dict[str, Any], api: str) -> dict[str, Any]:
    return next(i for i in report["indicators"] if i["detail"].get("APIName") == api)


def _targets(indicator: dict[str, Any]) -> set[str]:
    return {t["target"] for t in indicator["evidence"]["targets"]}


def test_the_report_names_what_the_calls_acted_on(world: Any) -> None:
    exfiltration = _report(world, _outcome_with(world, "ec2:ModifySnapshotAttribute"))
    foreign = "account:999988887777"
    assert {foreign, "snapshot:snap-0f3e5d7c9b1a2e4d6"} <= _targets(_ttp(exfiltration, "ec2:ModifySnapshotAttribute"))
    assert foreign in _targets(_ttp(exfiltration, "ec2:ModifyImageAttribute"))
    assert "bucket:acme-datalake-curated-333333333333" in _targets(_ttp(exfiltration, "s3:PutBucketPolicy"))
    tampering = _report(world, _outcome_with(world, "cloudtrail:StopLogging"))
    assert {t.split(":")[0] for t in _targets(_ttp(tampering, "cloudtrail:StopLogging"))} == {"trail"}
    assert _targets(_ttp(tampering, "ec2:DeleteFlowLogs")) == {"flow-log:fl-0a1b2c3d4e5f67890"}
    assert {t.split(":")[0] for t in _targets(_ttp(tampering, "guardduty:DeleteDetector"))} == {"detector"}
    escalation = _report(world, _outcome_with(world, "iam:CreateAccessKey"))
    assert {"user:svc-support", "user:heidi"} <= _targets(_ttp(escalation, "iam:CreateAccessKey"))
    # ... while the AWS API's TTPsObservedDetail keeps the model's members, and nothing more.
    client = world.server.client(world.sc.admin_account)
    listed = client.list_indicators(GraphArn=world.graph, InvestigationId=exfiltration["investigationId"],
                                    IndicatorType="TTP_OBSERVED")["Indicators"]
    for indicator in listed:
        assert set(indicator["IndicatorDetail"]["TTPsObservedDetail"]) <= {
            "Tactic", "Technique", "Procedure", "IpAddress", "APIName", "APISuccessCount", "APIFailureCount"}


def _events_page(world: Any, investigation_id: str, seq: int, account: str | None = None,
                 **extra: Any) -> Any:
    params = {"graph": world.graph, "id": investigation_id, "indicator": str(seq), **extra}
    return raw(world.server, "GET", "/_gumshoe/v1/investigation/events", account=account or world.sc.admin_account,
               params=params)


def _busiest(world: Any) -> tuple[detection.Outcome, dict[str, Any], dict[str, Any]]:
    """The attack TTP that stands for the most events, its investigation and its report."""
    reports = {o.investigation_id: _report(world, o) for o in world.outcomes if o.attack}
    outcome_id, busiest = max(((r, i) for r, report in reports.items() for i in report["indicators"]
                               if i["type"] == "TTP_OBSERVED" and i["evidence"].get("eventCount")),
                              key=lambda pair: pair[1]["evidence"]["eventCount"])
    outcome = next(o for o in world.outcomes if o.investigation_id == outcome_id)
    return outcome, busiest, reports[outcome_id]


def test_every_event_behind_an_indicator_is_a_page_away(world: Any) -> None:
    outcome, busiest, _ = _busiest(world)
    evidence = busiest["evidence"]
    assert evidence["eventCount"] >= 2 and evidence["eventIds"]
    seen: list[dict[str, Any]] = []
    token = None
    while True:
        answer = _events_page(world, outcome.investigation_id, busiest["seq"], limit="1",
                              **({"nextToken": token} if token else {}))
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["events"]) == 1
        seen += page["events"]
        token = page.get("nextToken")
        if token is None:
            break
    assert len(seen) == evidence["eventCount"] == len({e["eventId"] for e in seen})
    assert [e["eventId"] for e in seen[:len(evidence["eventIds"])]] == evidence["eventIds"]
    assert [e["eventTime"] for e in seen] == sorted(e["eventTime"] for e in seen)
    assert {e["eventName"] for e in seen} == {busiest["detail"]["APIName"].split(":")[1]}
    whole = _events_page(world, outcome.investigation_id, busiest["seq"]).json()
    assert [e["eventId"] for e in whole["events"]] == [e["eventId"] for e in seen] and "nextToken" not in whole


def test_the_events_of_an_indicator_are_the_administrators_alone(world: Any) -> None:
    outcome, busiest, report = _busiest(world)
    seq = busiest["seq"]
    another = next(i["seq"] for i in report["indicators"] if i["evidence"].get("selector") and i["seq"] != seq)
    first = _events_page(world, outcome.investigation_id, seq, limit="1").json()
    for account in world.sc.member_accounts:
        theirs = _events_page(world, outcome.investigation_id, seq, account=account)
        assert theirs.status_code == 404 and theirs.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    other = _events_page(world, outcome.investigation_id, another, nextToken=first["nextToken"])
    assert other.status_code == 400 and other.headers["x-amzn-errortype"] == "ValidationException"
    assert "not issued for this caller and request" in other.json()["message"]
    assert _events_page(world, outcome.investigation_id, 99_999).status_code == 404
    assert _events_page(world, outcome.investigation_id, seq, limit="0").status_code == 400
    no_events = next(i["seq"] for i in report["indicators"] if not i["evidence"].get("selector"))
    assert _events_page(world, outcome.investigation_id, no_events).status_code == 400


def test_the_events_of_a_new_place_are_its_address(world: Any) -> None:
    stolen = next(o for o in world.outcomes if "FLAGGED_IP_ADDRESS" in o.expected.indicators)
    report = _report(world, stolen)
    flagged = next(i for i in report["indicators"] if i["type"] == "FLAGGED_IP_ADDRESS")
    page = _events_page(world, stolen.investigation_id, flagged["seq"]).json()
    assert page["events"] and {e["sourceIpAddress"] for e in page["events"]} == {flagged["detail"]["IpAddress"]}


def test_the_report_reads_in_order_of_importance(world: Any) -> None:
    stolen = next(o for o in world.outcomes if "FLAGGED_IP_ADDRESS" in o.expected.indicators)
    report = _report(world, stolen)
    points = [i["evidence"]["points"] for i in report["indicators"]]
    assert points == sorted(points, reverse=True) and points[0] > 0
    window = ["--from", str(stolen.expected.scope_start_ms), "--to", str(stolen.expected.scope_end_ms)]
    text = _investigate(world, stolen.expected.entity_arn, *window).stdout
    discovery = [i for i in report["indicators"] if i["type"] == "TTP_OBSERVED" and i["detail"]["Tactic"] == "Discovery"]
    assert len(discovery) >= 2 and f"Discovery ({len(discovery)})" in text
    assert "(--all lists them)" in text
    every = _investigate(world, stolen.expected.entity_arn, "--all", *window, columns=400).stdout
    assert "(--all lists them)" not in every
    assert all(i["detail"]["APIName"] in every for i in discovery if "APIName" in i["detail"])


def test_ordinary_principals_have_none_of_gumshoes_own_indicators_either(world: Any) -> None:
    for outcome in _cases(world, False):
        report = _report(world, outcome)
        own = [(i["type"], i["detail"]) for i in report["indicators"]
               if i["type"] in ("INSTANCE_CREDENTIALS_OFF_INSTANCE", "UNUSUAL_VOLUME")]
        assert own == [], (outcome.expected.entity_arn, own)
        assert not any(n.startswith("UNUSUAL_VOLUME was not evaluated") for n in report["notes"]), (
            outcome.expected.entity_arn, report["notes"])


def test_what_a_user_did_through_a_role_is_in_its_investigation(world: Any) -> None:
    carol = next(o for o in world.outcomes if o.attack and o.expected.entity_arn.endswith(":user/carol"))
    report = _report(world, carol)
    creates = [i for i in report["indicators"] if i["detail"].get("APIName") == "iam:CreateUser"]
    assert creates and all(i["evidence"]["via"]["label"] == "role Admin, session carol" for i in creates)
    assert any(s["roleArn"] == "arn:aws:iam::333333333333:role/Admin" for s in report["roleSessions"])


def test_stolen_instance_credentials_are_told_from_the_instances_own(world: Any) -> None:
    stolen = next(o for o in world.outcomes if "INSTANCE_CREDENTIALS_OFF_INSTANCE" in o.expected.indicators)
    report = _report(world, stolen)
    first = report["indicators"][0]
    assert first["type"] == "INSTANCE_CREDENTIALS_OFF_INSTANCE" and first["detail"]["Reason"] == "OUTSIDE_AWS"
    assert first["detail"]["InstanceIpAddresses"] == ["3.91.44.120"]  # the instance's own elastic IP
    assert stolen.severity == "CRITICAL"
