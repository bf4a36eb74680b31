"""Drive the generated scenario (scenario.py) through a live server and measure what the
investigations find (not collected: no ``test_`` prefix). Used by the end-to-end test and by
benchmarks/detection.py, which writes docs/DETECTION.md.

    server up with the scenario's GeoIP databases and flagged list
    -> graph of 111111111111, members 222222222222 and 333333333333 ENABLED
    -> gumshoe ingest of the scenario's folder
    -> StartInvestigation for every attack and every ordinary principal, through boto3
    -> indicators compared with what the scenario expects
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmdb_writer import build_geo_dbs
from scenario import Expected, Scenario

SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
# The member of each indicator's detail that names its evidence in the scenario's expectations.
KEY_MEMBER = {
    "NEW_GEOLOCATION": ("NewGeolocationDetail", "IpAddress"),
    "NEW_ASO": ("NewAsoDetail", "Aso"),
    "NEW_USER_AGENT": ("NewUserAgentDetail", "UserAgent"),
    "IMPOSSIBLE_TRAVEL": ("ImpossibleTravelDetail", "EndingIpAddress"),
    "FLAGGED_IP_ADDRESS": ("FlaggedIpAddressDetail", "IpAddress"),
    "TTP_OBSERVED": ("TTPsObservedDetail", "APIName"),
    "RELATED_FINDING": ("RelatedFindingDetail", "Type"),
    "RELATED_FINDING_GROUP": ("RelatedFindingGroupDetail", "Id"),
    # Gumshoe's own, from its report (ListIndicators has no type for them)
    "INSTANCE_CREDENTIALS_OFF_INSTANCE": ("InstanceCredentialsDetail", "IpAddress"),
    "UNUSUAL_VOLUME": ("UnusualVolumeDetail", "Hour"),
}
GUMSHOE_TYPES = ("INSTANCE_CREDENTIALS_OFF_INSTANCE", "UNUSUAL_VOLUME")
Report = Callable[[str], dict[str, Any]]  # investigation id -> /_gumshoe/v1/investigation


def report_reader(url: str, account: str, graph_arn: str) -> Report:
    """Gumshoe's report of an investigation, through its own API, as the graph's administrator."""
    import httpx
    from e2e_helpers import auth_headers

    def read(investigation_id: str) -> dict[str, Any]:
        answer = httpx.get(url + "/_gumshoe/v1/investigation", params={"graph": graph_arn, "id": investigation_id},
                           headers=auth_headers(account), timeout=60)
        answer.raise_for_status()
        return dict(answer.json())
    return read


def server_args(scenario: Scenario, folder: Path) -> list[str]:
    """Flags giving a server the scenario's GeoIP databases and threat-intel list."""
    folder.mkdir(parents=True, exist_ok=True)
    city, asn = build_geo_dbs(folder, scenario.geo)
    flagged = folder / "flagged.txt"
    flagged.write_text("\n".join(scenario.flagged) + "\n")
    return ["--geoip-city", str(city), "--geoip-asn", str(asn), "--threat-intel", str(flagged)]


def wait(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def set_up_graph(client_of: Any, scenario: Scenario) -> str:
    admin = client_of(scenario.admin_account)
    arn = admin.create_graph()["GraphArn"]
    admin.create_members(GraphArn=arn, Accounts=[
        {"AccountId": a, "EmailAddress": f"root+{a}@example.com"} for a in scenario.member_accounts])
    for account in scenario.member_accounts:
        wait(lambda a=account: any(i["GraphArn"] == arn for i in client_of(a).list_invitations()["Invitations"]),
             f"invitation of {account}")
        client_of(account).accept_invitation(GraphArn=arn)

    def enabled() -> bool:
        details = admin.get_members(GraphArn=arn, AccountIds=scenario.member_accounts)["MemberDetails"]
        return len(details) == len(scenario.member_accounts) and all(d["Status"] == "ENABLED" for d in details)

    wait(enabled, "members ENABLED")
    return str(arn)


def ingest(url: str, scenario: Scenario) -> subprocess.CompletedProcess[str]:
    gumshoe = Path(sys.executable).parent / "gumshoe"
    # As the administrator: its upload may load its members' logs (docs/INGESTION.md, Security).
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=scenario.admin_account, AWS_SECRET_ACCESS_KEY="x", AWS_REGION=scenario.region,
               AWS_CONFIG_FILE=__import__("os").devnull, AWS_SHARED_CREDENTIALS_FILE=__import__("os").devnull)
    return subprocess.run([str(gumshoe), "ingest", "--endpoint-url", url, "--json", str(scenario.root)],
                          capture_output=True, text=True, check=True, env=env, timeout=900)


@dataclass
class Outcome:
    expected: Expected
    attack: bool
    investigation_id: str = ""
    status: str = ""
    severity: str = ""
    seconds: float = 0.0
    found: dict[str, set[str]] = field(default_factory=dict)  # type -> evidence keys
    indicators: list[dict[str, Any]] = field(default_factory=list)

    @property
    def missing(self) -> dict[str, set[str]]:
        out = {}
        for kind, keys in self.expected.indicators.items():
            gone = keys - self.found.get(kind, set())
            if gone:
                out[kind] = gone
        return out


def investigate(client: Any, graph_arn: str, expected: Expected, attack: bool, report: Report | None = None) -> Outcome:
    import datetime as dt

    outcome = Outcome(expected, attack)
    begin = time.perf_counter()
    outcome.investigation_id = client.start_investigation(
        GraphArn=graph_arn, EntityArn=expected.entity_arn,
        ScopeStartTime=dt.datetime.fromtimestamp(expected.scope_start_ms / 1000, dt.UTC),
        ScopeEndTime=dt.datetime.fromtimestamp(expected.scope_end_ms / 1000, dt.UTC),
    )["InvestigationId"]
    got = wait(lambda: (g := client.get_investigation(GraphArn=graph_arn, InvestigationId=outcome.investigation_id))
               ["Status"] != "RUNNING" and g, f"investigation of {expected.entity_arn}")
    outcome.seconds = time.perf_counter() - begin
    outcome.status, outcome.severity = got["Status"], got.get("Severity", "")
    token = None
    while True:
        page = client.list_indicators(GraphArn=graph_arn, InvestigationId=outcome.investigation_id, MaxResults=100,
                                      **({"NextToken": token} if token else {}))
        outcome.indicators += page["Indicators"]
        token = page.get("NextToken")
        if not token:
            break
    if report is not None:  # Gumshoe's own indicators are its report's
        outcome.indicators += [{"IndicatorType": i["type"], "IndicatorDetail": {KEY_MEMBER[i["type"]][0]: i["detail"]}}
                               for i in report(outcome.investigation_id)["indicators"] if i["type"] in GUMSHOE_TYPES]
    for indicator in outcome.indicators:
        kind = indicator["IndicatorType"]
        member, key = KEY_MEMBER[kind]
        value = indicator["IndicatorDetail"][member].get(key)
        if value is not None:
            outcome.found.setdefault(kind, set()).add(str(value))
    return outcome


def run_all(client: Any, graph_arn: str, scenario: Scenario, report: Report | None = None) -> list[Outcome]:
    return [investigate(client, graph_arn, e, True, report) for e in scenario.attacks] + [
        investigate(client, graph_arn, e, False, report) for e in scenario.normal]


@dataclass
class Score:
    kind: str
    expected: int = 0  # expected (type, key) pairs on attack principals
    found: int = 0  # of those, reported
    reported_attack: int = 0  # all pairs reported on attack principals
    reported_normal: int = 0  # pairs reported on ordinary principals: false positives

    @property
    def recall(self) -> float | None:
        return self.found / self.expected if self.expected else None

    @property
    def precision(self) -> float | None:
        """Reported pairs that are expected, over all pairs reported (attack or ordinary)."""
        total = self.reported_attack + self.reported_normal
        return self.found / total if total else None


def score(outcomes: list[Outcome]) -> dict[str, Score]:
    scores = {kind: Score(kind) for kind in KEY_MEMBER}
    for outcome in outcomes:
        for kind, keys in outcome.found.items():
            if outcome.attack:
                scores[kind].reported_attack += len(keys)
            else:
                scores[kind].reported_normal += len(keys)
        if outcome.attack:
            for kind, keys in outcome.expected.indicators.items():
                scores[kind].expected += len(keys)
                scores[kind].found += len(keys & outcome.found.get(kind, set()))
    return scores


def severity_at_least(severity: str, minimum: str) -> bool:
    return severity in SEVERITIES and SEVERITIES.index(severity) >= SEVERITIES.index(minimum)
