"""The scenario generator: deterministic, laid out as AWS writes it, readable by Gumshoe's readers
without a reject, and truthful about its attacks (evidence inside the scope, new things new,
history long enough for a baseline)."""

from __future__ import annotations

import gzip
import io
import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from scenario import DAY_MS, HOUR_MS, Expected, Geo, Scenario, generate

from gumshoe.formats import cloudtrail, guardduty
from gumshoe.formats.cloudtrail import ApiEvent
from gumshoe.formats.guardduty import Finding

EVENTS_PER_DAY = 150
BASELINE_DAYS = 45  # Detective's baseline window

_TRAIL_FILE = re.compile(
    r"AWSLogs/(\d{12})/CloudTrail/us-east-1/(\d{4})/(\d{2})/(\d{2})/"
    r"(\d{12})_CloudTrail_us-east-1_(\d{4})(\d{2})(\d{2})T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz"
)
_FINDINGS_FILE = re.compile(r"guardduty/(\d{12})/findings-\d+\.jsonl\.gz")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@dataclass
class Logs:
    scenario: Scenario
    events: list[ApiEvent]
    findings: list[Finding]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Logs:
    made = generate(tmp_path_factory.mktemp("scenario"), events_per_day=EVENTS_PER_DAY)
    events: list[ApiEvent] = []
    for path in sorted((made.root / "AWSLogs").rglob("*.json.gz")):
        with gzip.open(path) as stream:
            for batch in cloudtrail.read(stream, path.name):
                assert batch.rejects == [], path
                events.extend(batch.records)
    findings: list[Finding] = []
    for path in sorted((made.root / "guardduty").rglob("*.jsonl.gz")):
        data = gzip.decompress(path.read_bytes())
        assert guardduty.sniff(data[: guardduty.HEAD_BYTES], str(path)) and not cloudtrail.sniff(data, str(path))
        for batch in guardduty.read(io.BytesIO(data), path.name):
            assert batch.rejects == [], path
            findings.extend(batch.records)
    events.sort(key=lambda event: event.time_ms)
    return Logs(made, events, findings)


def _files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _of(expected: Expected, event: ApiEvent) -> bool:
    return expected.entity_arn in (event.principal_id, event.role_arn)


def _with_chains(logs: Logs, expected: Expected) -> list[ApiEvent]:
    """The principal's events and those of the role sessions it started (its investigation's)."""
    started = {event.target_session_arn for event in logs.events if _of(expected, event) and event.target_session_arn}
    return [event for event in logs.events if _of(expected, event) or event.principal_id in started]


def _geo(made: Scenario, ip: str) -> Geo | None:
    address = ipaddress.ip_address(ip)
    for key, row in made.geo.items():
        if address in ipaddress.ip_network(key):
            return row
    return None


def _place(made: Scenario, ip: str) -> Geo:
    row = _geo(made, ip)
    assert row is not None, ip
    return row


def _km(a: Geo, b: Geo) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[3], a[4], b[3], b[4]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _label(event: ApiEvent) -> str:
    return f"{event.event_source.removesuffix('.amazonaws.com')}:{event.event_name}"


def _evidence(expected: Expected, event: ApiEvent) -> bool:
    """Whether the event carries one of the attack's telltale values (an address or a tool; a
    TTP can be routine, as the backup role's CreateSnapshot is)."""
    for kind, values in expected.indicators.items():
        if kind == "NEW_USER_AGENT" and event.user_agent in values:
            return True
        if kind in ("NEW_GEOLOCATION", "IMPOSSIBLE_TRAVEL", "FLAGGED_IP_ADDRESS",
                    "INSTANCE_CREDENTIALS_OFF_INSTANCE") and event.source_ip in values:
            return True
    return False


# --- Determinism and layout -------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", days=8, events_per_day=100)
    second = generate(tmp_path / "b", days=8, events_per_day=100)
    generate(tmp_path / "c", days=8, events_per_day=100, seed=8)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert first.events == second.events and first.attacks == second.attacks
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_the_end_can_be_moved(tmp_path: Path) -> None:
    made = generate(tmp_path, days=8, events_per_day=50, end=datetime(2025, 3, 1, tzinfo=UTC))
    assert made.end_ms == int(datetime(2025, 3, 1, tzinfo=UTC).timestamp() * 1000)
    assert made.start_ms == made.end_ms - 8 * DAY_MS
    assert all(made.start_ms < attack.scope_start_ms < attack.scope_end_ms <= made.end_ms for attack in made.attacks)


def test_layout_is_cloudtrail_s_and_the_guardduty_export_s(logs: Logs) -> None:
    made = logs.scenario
    accounts = {made.admin_account, *made.member_accounts}
    trail_accounts = set()
    finding_files = 0
    for path in made.root.rglob("*"):
        if path.is_dir():
            continue
        relative = path.relative_to(made.root).as_posix()
        if relative.startswith("guardduty/"):
            match = _FINDINGS_FILE.fullmatch(relative)
            assert match and match.group(1) in accounts, relative
            finding_files += 1
            continue
        match = _TRAIL_FILE.fullmatch(relative)
        assert match, relative
        folder_account, year, month, day, name_account, name_year, name_month, name_day = match.groups()
        assert folder_account == name_account and (year, month, day) == (name_year, name_month, name_day)
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        trail_accounts.add(folder_account)
    assert trail_accounts == accounts == {"111111111111", "222222222222", "333333333333"}
    assert finding_files >= 2
    assert made.region == "us-east-1" and made.end_ms - made.start_ms == 60 * DAY_MS


def test_every_record_reads_and_has_cloudtrail_s_shape(logs: Logs) -> None:
    made = logs.scenario
    assert len(logs.events) == made.events > 60 * EVENTS_PER_DAY * 0.8
    assert all(made.start_ms <= event.time_ms < made.end_ms for event in logs.events)
    assert len({event.event_id for event in logs.events}) == len(logs.events)
    required = {"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
                "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "eventID", "readOnly",
                "eventType", "managementEvent", "recipientAccountId", "eventCategory"}
    identity_types = set()
    records = [record for path in (made.root / "AWSLogs").rglob("*.json.gz")
               for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]]
    assert len(records) == made.events
    for record in records:
        assert required <= record.keys(), record
        assert _UUID.fullmatch(record["eventID"])
        assert ("errorCode" in record) == ("errorMessage" in record) or record["eventName"] == "ConsoleLogin"
        identity_types.add(record["userIdentity"]["type"])
        if record["userIdentity"]["type"] == "AssumedRole":
            issuer = record["userIdentity"]["sessionContext"]["sessionIssuer"]
            assert {"type", "principalId", "arn", "accountId", "userName"} <= issuer.keys()
    assert identity_types == {"IAMUser", "AssumedRole", "AWSService", "AWSAccount"}


def test_ordinary_life_has_the_promised_parts(logs: Logs) -> None:
    kinds = {event.identity_type for event in logs.events}
    assert {"IAMUser", "AssumedRole", "AWSService", "AWSAccount"} <= kinds
    users = {event.principal_id for event in logs.events if event.identity_type == "IAMUser"}
    roles = {event.role_arn for event in logs.events if event.role_arn}
    assert len(users) >= 10 and len(roles) >= 6
    assert any(event.event_name == "ConsoleLogin" and event.login_result == "Success" for event in logs.events)
    assert any(event.instance_id.startswith("i-") and event.session_name == event.instance_id
               for event in logs.events)
    assert any(event.event_name == "AssumeRole" and event.target_role_arn.endswith(":role/ci-deploy")
               for event in logs.events)
    assert any(event.bucket for event in logs.events if event.event_name in ("GetObject", "PutObject"))
    errors = sum(1 for event in logs.events if event.error_code)
    assert 0 < errors < len(logs.events) * 0.05
    reads = sum(1 for event in logs.events if event.read_only)
    assert reads > len(logs.events) * 0.6


def test_guardduty_export_reads_and_names_attack_a_s_key(logs: Logs) -> None:
    made = logs.scenario
    assert len(logs.findings) == made.findings
    stolen = made.attacks[0]
    related = stolen.indicators["RELATED_FINDING"]
    keys = {event.access_key_id for event in logs.events if event.principal_id == stolen.entity_arn}
    ip = next(iter(stolen.indicators["FLAGGED_IP_ADDRESS"]))
    on_attack = [finding for finding in logs.findings if finding.type in related]
    assert {finding.type for finding in on_attack} == related
    for finding in on_attack:
        assert finding.access_key_id in keys and finding.user_name == "dave" and finding.remote_ips == [ip]
        assert stolen.scope_start_ms <= finding.first_seen_ms <= finding.last_seen_ms <= stolen.scope_end_ms


def test_every_address_used_is_in_geo(logs: Logs) -> None:
    made = logs.scenario
    used = {event.source_ip for event in logs.events}
    used.update(ip for finding in logs.findings for ip in finding.remote_ips + finding.local_ips)
    for value in used:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            assert value.endswith(".amazonaws.com"), value  # an AWS service calling
            continue
        if not address.is_private:
            assert _geo(made, value) is not None, value


def test_flagged_list_holds_the_attacker_and_no_ordinary_address(logs: Logs) -> None:
    made = logs.scenario
    assert made.flagged[0].startswith("#")
    networks = [ipaddress.ip_network(line) for line in made.flagged[1:]]
    flagged = set().union(*(a.indicators.get("FLAGGED_IP_ADDRESS", set()) for a in made.attacks))
    assert flagged
    for ip in flagged:
        assert any(ipaddress.ip_address(ip) in network for network in networks)
    for event in logs.events:
        if event.time_ms < made.end_ms - 5 * DAY_MS and not event.source_ip.endswith(".amazonaws.com"):
            assert not any(ipaddress.ip_address(event.source_ip) in network for network in networks)


# --- The attacks' truth -----------------------------------------------------------------------


def test_attacks_are_distinct_principals_in_the_last_five_days(logs: Logs) -> None:
    made = logs.scenario
    arns = [attack.entity_arn for attack in made.attacks]
    assert len(set(arns)) == len(arns) == 7
    for normal in made.normal:  # an attacked principal is ordinary only away from its attack
        for attack in made.attacks:
            if attack.entity_arn == normal.entity_arn:
                assert attack.scope_end_ms <= normal.scope_start_ms
    for attack in made.attacks:
        assert made.end_ms - 5 * DAY_MS <= attack.scope_start_ms < attack.scope_end_ms <= made.end_ms
        assert attack.min_severity in ("MEDIUM", "HIGH", "CRITICAL") and attack.indicators
        assert re.fullmatch(r"arn:aws:iam::\d{12}:(user|role)/[\w+=,.@-]+", attack.entity_arn)


@pytest.mark.parametrize("index", range(7))
def test_attack_evidence_is_inside_its_scope(logs: Logs, index: int) -> None:
    made = logs.scenario
    attack = made.attacks[index]
    mine = _with_chains(logs, attack)
    evidence = [event for event in mine if _evidence(attack, event)]
    assert evidence or set(attack.indicators) == {"TTP_OBSERVED"}
    assert all(attack.scope_start_ms <= event.time_ms < attack.scope_end_ms for event in evidence)
    in_scope = [event for event in mine if attack.scope_start_ms <= event.time_ms < attack.scope_end_ms]
    for name in attack.indicators.get("TTP_OBSERVED", set()):
        assert any(_label(event) == name for event in in_scope), name
    for ip in attack.indicators.get("FLAGGED_IP_ADDRESS", set()) | attack.indicators.get("NEW_GEOLOCATION", set()):
        assert any(event.source_ip == ip for event in in_scope), ip
    for agent in attack.indicators.get("NEW_USER_AGENT", set()):
        assert any(event.user_agent == agent for event in in_scope), agent
    for aso in attack.indicators.get("NEW_ASO", set()):
        assert any(_place(made, event.source_ip)[6] == aso for event in in_scope if event.source_ip[0].isdigit())


@pytest.mark.parametrize("index", range(7))
def test_attack_principal_has_a_baseline_and_new_is_new(logs: Logs, index: int) -> None:
    made = logs.scenario
    attack = made.attacks[index]
    before = [event for event in logs.events if _of(attack, event) and event.time_ms < attack.scope_start_ms]
    assert before[0].time_ms <= attack.scope_start_ms - BASELINE_DAYS * DAY_MS
    assert len({event.time_ms // DAY_MS for event in before}) >= 30  # working days, not one old event
    ips = {event.source_ip for event in before}
    agents = {event.user_agent for event in before}
    asos = {_place(made, ip)[6] for ip in ips if ip[0].isdigit()}
    places = {_place(made, ip)[:3] for ip in ips if ip[0].isdigit()}
    for ip in attack.indicators.get("NEW_GEOLOCATION", set()):
        assert ip not in ips and _place(made, ip)[:3] not in places
    for aso in attack.indicators.get("NEW_ASO", set()):
        assert aso not in asos
    for agent in attack.indicators.get("NEW_USER_AGENT", set()):
        assert agent not in agents


def test_impossible_travel_is_impossible(logs: Logs) -> None:
    made = logs.scenario
    for attack in made.attacks:
        for far in attack.indicators.get("IMPOSSIBLE_TRAVEL", set()):
            mine = [event for event in logs.events if _of(attack, event) and event.source_ip[0].isdigit()
                    and attack.scope_start_ms <= event.time_ms < attack.scope_end_ms]
            arrival = min(event.time_ms for event in mine if event.source_ip == far)
            home = max((event for event in mine if event.time_ms < arrival and event.source_ip != far),
                       key=lambda event: event.time_ms)
            assert arrival - home.time_ms < HOUR_MS
            assert _km(_place(made, home.source_ip), _place(made, far)) > 5000


def test_normal_principals_keep_to_their_habits(logs: Logs) -> None:
    made = logs.scenario
    assert len(made.normal) >= 5
    assert {normal.entity_arn.split(":")[5].split("/")[0] for normal in made.normal} == {"user", "role"}
    for normal in made.normal:
        assert normal.indicators == {} and normal.min_severity in ("INFORMATIONAL", "LOW")
        assert normal.scope_end_ms == made.end_ms and normal.scope_end_ms - normal.scope_start_ms == 2 * DAY_MS
        mine = [event for event in logs.events if _of(normal, event)]
        before = [event for event in mine if event.time_ms < normal.scope_start_ms]
        during = [event for event in mine if event.time_ms >= normal.scope_start_ms]
        assert during and before[0].time_ms <= normal.scope_start_ms - BASELINE_DAYS * DAY_MS
        assert {event.source_ip for event in during} <= {event.source_ip for event in before}
        assert {event.user_agent for event in during} <= {event.user_agent for event in before}
