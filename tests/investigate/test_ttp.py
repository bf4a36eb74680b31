"""The ATT&CK mapping: the packaged file's coverage and key entries, look-ups, and the errors a
malformed mapping file gives."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from gumshoe.investigate.ttp import Ttp, TtpMap, TtpMapError, api_label, operation

REPO = Path(__file__).resolve().parents[2]
REQUIRED_TACTICS = [
    "Credential Access",
    "Discovery",
    "Persistence",
    "Privilege Escalation",
    "Defense Evasion",
    "Exfiltration",
    "Lateral Movement",
    "Initial Access",
    "Impact",
]
# GuardDuty's threat purposes, spelled as they appear in finding types.
THREAT_PURPOSES = [
    "Backdoor", "Behavior", "CredentialAccess", "CryptoCurrency", "DefenseEvasion", "Discovery",
    "Execution", "Exfiltration", "Impact", "InitialAccess", "PenTest", "Persistence", "Policy",
    "PrivilegeEscalation", "Recon", "Stealth", "Trojan", "UnauthorizedAccess",
]  # fmt: skip


@pytest.fixture(scope="module")
def ttp_map() -> TtpMap:
    return TtpMap.load()


def _all_api_ttps(ttp_map: TtpMap) -> list[tuple[str, str, Ttp]]:
    found: list[tuple[str, str, Ttp]] = []
    for source, name in ttp_map.api_names():
        for failed in (False, True):
            found += [(source, name, ttp) for ttp in ttp_map.for_api(source, name, failed)]
    return found


def _only(ttps: tuple[Ttp, ...]) -> Ttp:
    assert len(ttps) == 1, ttps
    return ttps[0]


# --- The packaged mapping -----------------------------------------------------------------


def test_packaged_map_loads_and_maps_many_calls(ttp_map: TtpMap) -> None:
    assert 300 <= len(ttp_map.api_names()) <= 500
    assert ("cloudtrail.amazonaws.com", "StopLogging") in ttp_map.api_names()


@pytest.mark.parametrize("tactic", REQUIRED_TACTICS)
def test_each_required_tactic_has_at_least_five_calls(ttp_map: TtpMap, tactic: str) -> None:
    calls = {(source, name) for source, name, ttp in _all_api_ttps(ttp_map) if ttp.tactic == tactic}
    assert len(calls) >= 5, calls


def test_ids_are_attack_shaped(ttp_map: TtpMap) -> None:
    data = tomllib.loads(resources.files("gumshoe.investigate").joinpath("data/ttp.toml").read_text())
    assert all(re.fullmatch(r"TA\d{4}", id_) for id_ in data["tactics"])
    assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", id_) for id_ in data["techniques"])
    ttps = [ttp for _, _, ttp in _all_api_ttps(ttp_map)]
    ttps += [ttp for row in data["finding"] for ttp in ttp_map.for_finding(row["prefix"])]
    for ttp in ttps:
        assert re.fullmatch(r"TA\d{4}", ttp.tactic_id)
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", ttp.technique_id)
        assert ttp.technique.startswith(f"{ttp.technique_id} ")
        assert ttp.weight in ("low", "normal", "high")


ATTACK = Path(__file__).resolve().parent / "attack_enterprise.tsv"


def _attack_rows() -> tuple[str, list[tuple[str, str, frozenset[str], frozenset[str]]]]:
    text = ATTACK.read_text(encoding="utf-8")
    version = re.search(r"ATT&CK Enterprise v(\d+\.\d+)", text)
    assert version is not None, "attack_enterprise.tsv names no ATT&CK version"
    rows = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            id_, name, tactics, platforms = line.split("\t")
            rows.append((id_, name, frozenset(filter(None, tactics.split(","))),
                         frozenset(filter(None, platforms.split(",")))))
    return version.group(1), rows


def attack_enterprise() -> tuple[str, dict[str, tuple[str, frozenset[str]]]]:
    """The checked-in ATT&CK Enterprise list: its version, and id -> (name, tactic ids)."""
    version, rows = _attack_rows()
    return version, {id_: (name, tactics) for id_, name, tactics, _ in rows}


def attack_platforms() -> dict[str, frozenset[str]]:
    """Technique id -> the platforms ATT&CK lists for it ("IaaS", "Identity Provider", ...)."""
    return {id_: platforms for id_, _, _, platforms in _attack_rows()[1] if not id_.startswith("TA")}


def test_every_attack_id_of_the_mapping_is_a_known_enterprise_id() -> None:
    """Each tactic and technique of ttp.toml is ATT&CK Enterprise's (neither revoked nor
    deprecated, named as ATT&CK names it), and each row's tactic is one ATT&CK lists for its
    technique."""
    version, known = attack_enterprise()
    assert float(version) >= 15.0 and len(known) > 600
    data = tomllib.loads(resources.files("gumshoe.investigate").joinpath("data/ttp.toml").read_text())
    for table in ("tactics", "techniques"):
        for id_, name in data[table].items():
            assert id_ in known, f"{id_} ({name}) is not an ATT&CK Enterprise v{version} id"
            assert known[id_][0] == name, f"{id_} is named {known[id_][0]!r} in ATT&CK v{version}, not {name!r}"
    for kind in ("api", "finding"):
        for row in data[kind]:
            tactics = known[row["technique"]][1]
            assert row["tactic"] in tactics, (
                f"[[{kind}]] {row.get('names', row.get('prefix'))}: ATT&CK v{version} lists {row['technique']} "
                f"under {sorted(tactics)}, not {row['tactic']}")


def test_the_attack_list_tells_a_retired_id_from_a_live_one() -> None:
    _, known = attack_enterprise()
    assert known["T1562.008"] == ("Impair Defenses: Disable or Modify Cloud Logs", frozenset({"TA0005"}))
    assert known["TA0005"] == ("Defense Evasion", frozenset())
    assert "T1066" not in known  # revoked long ago (Indicator Removal from Tools)
    assert "T1562.008x" not in known


def test_stop_logging_is_high_weight_log_tampering(ttp_map: TtpMap) -> None:
    ttp = _only(ttp_map.for_api("cloudtrail.amazonaws.com", "StopLogging", failed=False))
    assert (ttp.tactic, ttp.tactic_id) == ("Defense Evasion", "TA0005")
    assert ttp.technique == "T1562.008 Impair Defenses: Disable or Modify Cloud Logs"
    assert ttp.weight == "high"
    # An attempt that failed still says what the caller meant to do.
    assert ttp_map.for_api("cloudtrail.amazonaws.com", "StopLogging", failed=True) == (ttp,)


def test_sharing_a_snapshot_is_exfiltration(ttp_map: TtpMap) -> None:
    for flags in ({"shared"}, {"public"}):
        ttp = _only(ttp_map.for_api("ec2.amazonaws.com", "ModifySnapshotAttribute", False, frozenset(flags)))
        assert (ttp.tactic, ttp.technique_id) == ("Exfiltration", "T1537")
        assert ttp.weight == "high"
    # Taking a permission away, or describing one, shares nothing.
    assert ttp_map.for_api("ec2.amazonaws.com", "ModifySnapshotAttribute", failed=False) == ()


@pytest.mark.parametrize(("source", "name", "flag"), [
    ("ec2.amazonaws.com", "ModifyImageAttribute", "shared"),
    ("rds.amazonaws.com", "ModifyDBSnapshotAttribute", "public"),
    ("s3.amazonaws.com", "PutBucketPolicy", "public"),
    ("s3.amazonaws.com", "PutBucketAcl", "public"),
    ("s3.amazonaws.com", "PutBucketPublicAccessBlock", "unblocked"),
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "public"),
])
def test_request_conditions(ttp_map: TtpMap, source: str, name: str, flag: str) -> None:
    assert ttp_map.for_api(source, name, False, frozenset({flag}))
    assert ttp_map.for_api(source, name, False) == ()


def test_when_takes_only_known_flags(tmp_path: Path) -> None:
    with pytest.raises(TtpMapError, match="when"):
        _load(tmp_path, _api(when='["secret"]') + NAMES)
    conditional = _load(tmp_path, _api(when='["public"]') + NAMES)
    assert conditional.for_api("cloudtrail.amazonaws.com", "StopLogging", False, frozenset({"public"}))
    assert conditional.for_api("cloudtrail.amazonaws.com", "StopLogging", False) == ()


def test_console_login_depends_on_its_outcome(ttp_map: TtpMap) -> None:
    success = ttp_map.for_api("signin.amazonaws.com", "ConsoleLogin", failed=False)
    failure = _only(ttp_map.for_api("signin.amazonaws.com", "ConsoleLogin", failed=True))
    assert {(ttp.tactic, ttp.technique_id, ttp.weight) for ttp in success} == {
        ("Initial Access", "T1078.004", "normal"), ("Discovery", "T1538", "low")}
    assert (failure.tactic, failure.technique_id) == ("Credential Access", "T1110")


def test_denied_enumeration_weighs_more_than_everyday_reads(ttp_map: TtpMap) -> None:
    allowed = _only(ttp_map.for_api("iam.amazonaws.com", "ListUsers", failed=False))
    denied = _only(ttp_map.for_api("iam.amazonaws.com", "ListUsers", failed=True))
    assert allowed.technique_id == denied.technique_id == "T1087.004"
    assert (allowed.weight, denied.weight) == ("low", "normal")
    assert _only(ttp_map.for_api("sts.amazonaws.com", "GetCallerIdentity", failed=False)).weight == "low"


def test_a_call_can_serve_two_tactics(ttp_map: TtpMap) -> None:
    ttps = ttp_map.for_api("iam.amazonaws.com", "AttachUserPolicy", failed=False)
    assert {(ttp.tactic, ttp.technique_id) for ttp in ttps} == {
        ("Persistence", "T1098.003"),
        ("Privilege Escalation", "T1098.003"),
    }


# Lambda event names as CloudTrail records them, with the operation each stands for.
LAMBDA_EVENTS = [
    ("CreateFunction20150331", "CreateFunction"),
    ("UpdateFunctionCode20150331v2", "UpdateFunctionCode"),
    ("AddPermission20150331v2", "AddPermission"),
    ("UpdateFunctionConfiguration20150331v2", "UpdateFunctionConfiguration"),
    ("CreateEventSourceMapping20150331", "CreateEventSourceMapping"),
    ("PublishLayerVersion20181031", "PublishLayerVersion"),
    ("AddLayerVersionPermission20181031", "AddLayerVersionPermission"),
    ("CreateFunctionUrlConfig20211031", "CreateFunctionUrlConfig"),
    ("PutFunctionConcurrency20171031", "PutFunctionConcurrency"),
    ("ListFunctions20150331", "ListFunctions"),
    ("Invoke", "Invoke"),
]


@pytest.mark.parametrize(("event_name", "name"), LAMBDA_EVENTS)
def test_lambda_event_names_lose_their_api_version(event_name: str, name: str) -> None:
    assert operation("lambda.amazonaws.com", event_name) == name


@pytest.mark.parametrize("event_name", ["CreateFunction20150331", "UpdateFunctionCode20150331v2",
                                        "AddPermission20150331v2", "UpdateFunctionConfiguration20150331v2",
                                        "CreateEventSourceMapping20150331", "PublishLayerVersion20181031",
                                        "CreateFunctionUrlConfig20211031", "PutFunctionConcurrency20171031"])
def test_lambda_calls_map_under_the_names_cloudtrail_records(ttp_map: TtpMap, event_name: str) -> None:
    versioned = ttp_map.for_api("lambda.amazonaws.com", event_name, failed=False)
    assert versioned
    # A later API version of the same operation maps the same way.
    newer = re.sub(r"\d{8}(v\d+)?$", "20991231v9", event_name)
    assert ttp_map.for_api("lambda.amazonaws.com", newer, failed=False) == versioned


def test_only_lambda_names_are_shortened(ttp_map: TtpMap) -> None:
    assert operation("ec2.amazonaws.com", "CreateFunction20150331") == "CreateFunction20150331"
    assert operation("lambda.amazonaws.com", "20150331") == "20150331"  # nothing left to name
    assert ttp_map.for_api("iam.amazonaws.com", "CreateUser20150331", failed=False) == ()
    assert ("lambda.amazonaws.com", "CreateFunction") in ttp_map.api_names()
    assert not any(re.search(r"\d{8}", name) for source, name in ttp_map.api_names() if source == "lambda.amazonaws.com")


def test_a_versioned_lambda_name_in_a_file_is_shortened_too(tmp_path: Path) -> None:
    text = _api(names='["CreateFunction20150331"]').replace("cloudtrail.amazonaws.com", "lambda.amazonaws.com")
    ttp_map = _load(tmp_path, text + NAMES)
    assert ttp_map.api_names() == {("lambda.amazonaws.com", "CreateFunction")}
    assert ttp_map.for_api("lambda.amazonaws.com", "CreateFunction20150331", failed=False)
    with pytest.raises(TtpMapError, match="already mapped"):
        _load(tmp_path, text + text.replace("CreateFunction20150331", "CreateFunction") + NAMES)


def _pairs(ttps: tuple[Ttp, ...]) -> set[tuple[str, str]]:
    return {(ttp.tactic, ttp.technique_id) for ttp in ttps}


def test_user_data_makes_a_launch_execution(ttp_map: TtpMap) -> None:
    plain = ttp_map.for_api("ec2.amazonaws.com", "RunInstances", failed=False)
    scripted = ttp_map.for_api("ec2.amazonaws.com", "RunInstances", False, frozenset({"user_data"}))
    assert "Execution" not in {ttp.tactic for ttp in plain}
    assert _pairs(scripted) - _pairs(plain) == {("Execution", "T1651")}
    changed = ttp_map.for_api("ec2.amazonaws.com", "ModifyInstanceAttribute", False, frozenset({"user_data"}))
    assert ("Execution", "T1651") in _pairs(changed)
    assert ("Execution", "T1651") not in _pairs(ttp_map.for_api("ec2.amazonaws.com", "ModifyInstanceAttribute", False))


@pytest.mark.parametrize("name", ["SendCommand", "StartAutomationExecution", "StartSession", "CreateAssociation"])
def test_systems_manager_commands_and_sessions_are_execution(ttp_map: TtpMap, name: str) -> None:
    assert ("Execution", "T1651") in _pairs(ttp_map.for_api("ssm.amazonaws.com", name, failed=False))


def test_a_session_manager_shell_is_also_lateral_movement(ttp_map: TtpMap) -> None:
    assert _pairs(ttp_map.for_api("ssm.amazonaws.com", "StartSession", failed=False)) == {
        ("Execution", "T1651"), ("Lateral Movement", "T1021.008")}


@pytest.mark.parametrize("name", ["CreateTrustAnchor", "UpdateTrustAnchor", "EnableTrustAnchor",
                                  "CreateProfile", "UpdateProfile", "EnableProfile"])
def test_roles_anywhere_is_persistence_and_escalation(ttp_map: TtpMap, name: str) -> None:
    assert _pairs(ttp_map.for_api("rolesanywhere.amazonaws.com", name, failed=False)) == {
        ("Persistence", "T1098.001"), ("Privilege Escalation", "T1098.001")}


def test_a_federation_token_persists_and_evades(ttp_map: TtpMap) -> None:
    ttps = ttp_map.for_api("sts.amazonaws.com", "GetFederationToken", failed=False)
    assert _pairs(ttps) == {("Persistence", "T1098.001"), ("Defense Evasion", "T1550.001"),
                            ("Credential Access", "T1606")}
    assert sorted(ttp.weight for ttp in ttps) == ["low", "low", "normal"]


@pytest.mark.parametrize(("source", "name", "technique"), [
    ("iam.amazonaws.com", "CreateAccessKey", "T1098.001"),
    ("iam.amazonaws.com", "CreateLoginProfile", "T1098.001"),
    ("iam.amazonaws.com", "AttachUserPolicy", "T1098.003"),
    ("sso.amazonaws.com", "CreateAccountAssignment", "T1098.003"),
    ("iam.amazonaws.com", "EnableMFADevice", "T1098.005"),
])
def test_account_manipulation_is_persistence_and_privilege_escalation(
        ttp_map: TtpMap, source: str, name: str, technique: str) -> None:
    pairs = _pairs(ttp_map.for_api(source, name, failed=False))
    assert {("Persistence", technique), ("Privilege Escalation", technique)} <= pairs


def test_trusting_an_identity_provider_is_evasion_and_escalation(ttp_map: TtpMap) -> None:
    for name in ("CreateSAMLProvider", "UpdateSAMLProvider", "CreateOpenIDConnectProvider"):
        assert _pairs(ttp_map.for_api("iam.amazonaws.com", name, failed=False)) == {
            ("Defense Evasion", "T1484.002"), ("Privilege Escalation", "T1484.002")}


def test_unmapped_call_has_no_ttp(ttp_map: TtpMap) -> None:
    assert ttp_map.for_api("s3.amazonaws.com", "GetObjectTagging", failed=False) == ()
    assert ttp_map.for_api("iam.amazonaws.com", "StopLogging", failed=False) == ()  # wrong source


@pytest.mark.parametrize("purpose", THREAT_PURPOSES)
def test_every_threat_purpose_has_a_default(ttp_map: TtpMap, purpose: str) -> None:
    assert ttp_map.for_finding(f"{purpose}:EC2/SomeFutureType.A")


def test_specific_finding_type_beats_its_purpose_default(ttp_map: TtpMap) -> None:
    default = _only(ttp_map.for_finding("Stealth:IAMUser/SomeFutureType"))
    specific = _only(ttp_map.for_finding("Stealth:IAMUser/CloudTrailLoggingDisabled"))
    assert default.technique_id == "T1562"
    assert specific.technique_id == "T1562.008"
    outside = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    exfiltrated = _only(ttp_map.for_finding(outside))
    assert (exfiltrated.tactic, exfiltrated.technique_id) == ("Credential Access", "T1552.005")
    assert _only(ttp_map.for_finding("UnauthorizedAccess:IAMUser/TorIPCaller")).technique_id == "T1078.004"


@pytest.mark.parametrize(
    ("finding_type", "technique_id"),
    [
        ("CryptoCurrency:EC2/BitcoinTool.B!DNS", "T1496.001"),
        ("Recon:IAMUser/MaliciousIPCaller.Custom", "T1580"),
        ("PenTest:IAMUser/KaliLinux", "T1580"),
        ("Policy:S3/BucketBlockPublicAccessDisabled", "T1537"),
        ("Exfiltration:S3/MaliciousIPCaller", "T1530"),
    ],
)
def test_well_known_finding_types(ttp_map: TtpMap, finding_type: str, technique_id: str) -> None:
    assert _only(ttp_map.for_finding(finding_type)).technique_id == technique_id


def test_unknown_finding_type_has_no_ttp(ttp_map: TtpMap) -> None:
    assert ttp_map.for_finding("NotAPurpose:EC2/Thing") == ()


def test_api_label() -> None:
    assert api_label("cloudtrail.amazonaws.com", "StopLogging") == "cloudtrail:StopLogging"
    assert api_label("ec2-instance-connect.amazonaws.com", "OpenTunnel") == "ec2-instance-connect:OpenTunnel"


def test_doc_lists_every_tactic(ttp_map: TtpMap) -> None:
    doc = (REPO / "docs" / "TTP_MAPPING.md").read_text()
    for tactic in {ttp.tactic for _, _, ttp in _all_api_ttps(ttp_map)}:
        assert f"| {tactic} |" in doc, tactic


# --- ATT&CK's IaaS and Identity Provider matrices, and the doc's account of them ---------

CLOUD_PLATFORMS = frozenset({"IaaS", "Identity Provider"})
DOC = REPO / "docs" / "TTP_MAPPING.md"


def _doc_table(heading: str, nth: int = 0) -> list[list[str]]:
    """The cells of each body row of the nth table under a heading of TTP_MAPPING.md."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    tables: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
        elif rows:
            tables.append(rows[2:])  # past the header and its rule
            rows = []
    if rows:
        tables.append(rows[2:])
    assert len(tables) > nth and tables[nth], f"no table #{nth} under {heading!r}"
    return tables[nth]


def _packaged() -> dict[str, list[dict[str, object]]]:
    return tomllib.loads(resources.files("gumshoe.investigate").joinpath("data/ttp.toml").read_text())


def _mapped_tactics() -> dict[str, set[str]]:
    data = _packaged()
    mapped: dict[str, set[str]] = {}
    for row in [*data["api"], *data["finding"]]:
        mapped.setdefault(str(row["technique"]), set()).add(str(row["tactic"]))
    return mapped


def _cloud_techniques() -> dict[str, frozenset[str]]:
    _, known = attack_enterprise()
    return {id_: known[id_][1] for id_, platforms in attack_platforms().items() if platforms & CLOUD_PLATFORMS}


def test_every_cloud_technique_is_mapped_or_the_doc_says_why_not() -> None:
    """Each technique of ATT&CK's IaaS and Identity Provider platforms is mapped (a parent
    through one of its sub-techniques, too), or listed with its reason under "Techniques not
    mapped"; and nothing listed there is mapped after all."""
    mapped = _mapped_tactics()
    cloud = _cloud_techniques()
    assert len(cloud) > 100
    unmapped = {t for t in cloud if t not in mapped and not any(m.startswith(t + ".") for m in mapped)}
    _, known = attack_enterprise()
    listed = {}
    for technique, why in _doc_table("### Techniques not mapped"):
        id_, name = technique.split(" ", 1)
        assert name == known[id_][0], technique
        assert why, technique
        listed[id_] = why
    assert set(listed) == unmapped, (sorted(unmapped - set(listed)), sorted(set(listed) - unmapped))


def test_each_cloud_technique_is_reported_under_every_tactic_attack_gives_it_or_the_doc_says_why() -> None:
    mapped = _mapped_tactics()
    cloud = _cloud_techniques()
    missing = {(t, tactic) for t, tactics in cloud.items() if t in mapped for tactic in tactics - mapped[t]}
    listed = set()
    tactics = _packaged()["tactics"]
    for technique, tactic, why in _doc_table("### Tactics not reported"):
        id_, name = tactic.split(" ", 1)
        assert tactics[id_] == name and why, tactic  # type: ignore[call-overload]
        listed.add((technique, id_))
    assert listed == missing, (sorted(missing - listed), sorted(listed - missing))


def _cell_apis(cell: str) -> tuple[str, ...]:
    return tuple(re.findall(r"`([^`]+)`", cell))


def test_the_doc_lists_every_row_of_the_mapping_with_its_source() -> None:
    """"Every row" of TTP_MAPPING.md holds the [[api]] and [[finding]] rows of ttp.toml, one for
    one and in order, each with a link to its technique's ATT&CK page."""
    data = _packaged()
    expected = []
    for row in data["api"]:
        conditions = [] if row.get("outcome", "any") == "any" else [str(row["outcome"])]
        if row.get("when"):
            conditions.append("when " + ", ".join(row["when"]))  # type: ignore[arg-type]
        label = str(row["source"]).removesuffix(".amazonaws.com")
        expected.append((tuple(f"{label}:{name}" for name in row["names"]),  # type: ignore[attr-defined]
                         "; ".join(conditions) or "any", row.get("weight", "normal"), row["tactic"], row["technique"]))
    found = []
    for apis, conditions, weight, tactic, technique, source in _doc_table("## Every row"):
        found.append((_cell_apis(apis), conditions, weight, tactic.split(" ")[0], technique))
        assert f"https://attack.mitre.org/techniques/{technique.replace('.', '/')}/" in source, apis
    assert found == expected
    findings = []
    for prefix, weight, tactic, technique, source in _doc_table("## Every row", nth=1):
        findings.append((_cell_apis(prefix)[0], weight, tactic.split(" ")[0], technique))
        assert f"https://attack.mitre.org/techniques/{technique.replace('.', '/')}/" in source, prefix
    assert findings == [(row["prefix"], row.get("weight", "normal"), row["tactic"], row["technique"])
                        for row in data["finding"]]


def test_every_mapped_call_appears_in_the_doc(ttp_map: TtpMap) -> None:
    doc = DOC.read_text(encoding="utf-8")
    for source, name in ttp_map.api_names():
        assert f"`{api_label(source, name)}`" in doc, api_label(source, name)


# --- Files written here -------------------------------------------------------------------

NAMES = """
[tactics]
TA0005 = "Defense Evasion"
TA0007 = "Discovery"
[techniques]
"T1562.008" = "Impair Defenses: Disable or Modify Cloud Logs"
"T1562" = "Impair Defenses"
"T1580" = "Cloud Infrastructure Discovery"
"""


def _api(
    names: str = '["StopLogging"]', tactic: str = "TA0005", technique: str = "T1562.008", **extra: str
) -> str:
    lines = [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(
        [
            "[[api]]",
            'source = "cloudtrail.amazonaws.com"',
            f"names = {names}",
            f'tactic = "{tactic}"',
            f'technique = "{technique}"',
            'procedure = "p"',
            *lines,
            "",
        ]
    )


STEALTH = '[[finding]]\nprefix = "Stealth:"\ntactic = "TA0005"\ntechnique = "T1562"\nprocedure = "p"\n'


def _load(tmp_path: Path, text: str) -> TtpMap:
    path = tmp_path / "ttp.toml"
    path.write_text(text)
    return TtpMap.load(path)


def test_a_minimal_file_loads(tmp_path: Path) -> None:
    ttp_map = _load(tmp_path, _api(outcome='"success"', weight='"high"') + NAMES)
    assert ttp_map.api_names() == {("cloudtrail.amazonaws.com", "StopLogging")}
    assert _only(ttp_map.for_api("cloudtrail.amazonaws.com", "StopLogging", failed=False)).weight == "high"
    assert ttp_map.for_api("cloudtrail.amazonaws.com", "StopLogging", failed=True) == ()


def test_longest_prefix_wins(tmp_path: Path) -> None:
    findings = """
[[finding]]
prefix = "Stealth:"
tactic = "TA0005"
technique = "T1562"
procedure = "any stealth"
[[finding]]
prefix = "Stealth:IAMUser/CloudTrailLoggingDisabled"
tactic = "TA0005"
technique = "T1562.008"
procedure = "trail off"
"""
    ttp_map = _load(tmp_path, findings + NAMES)
    assert _only(ttp_map.for_finding("Stealth:IAMUser/CloudTrailLoggingDisabled")).procedure == "trail off"
    assert _only(ttp_map.for_finding("Stealth:S3/Other")).procedure == "any stealth"


def test_same_call_twice_is_fine_for_another_technique_or_outcome(tmp_path: Path) -> None:
    text = _api() + _api(technique="T1562")
    text += _api(tactic="TA0007", technique="T1580", outcome='"success"', weight='"low"')
    text += _api(tactic="TA0007", technique="T1580", outcome='"failure"')
    ttp_map = _load(tmp_path, text + NAMES)
    assert len(ttp_map.for_api("cloudtrail.amazonaws.com", "StopLogging", failed=True)) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_api(technique="T1562.099") + NAMES, "unknown technique 'T1562.099'; add it to [techniques]"),
        (_api(tactic="TA0099") + NAMES, "unknown tactic 'TA0099'; add it to [tactics]"),
        (_api(outcome='"denied"') + NAMES, "outcome 'denied' is not one of 'any', 'success', 'failure'"),
        (_api(weight='"medium"') + NAMES, "weight 'medium' is not one of 'low', 'normal', 'high'"),
        (_api() + _api() + NAMES, "StopLogging (outcome 'any') is already mapped to TA0005 T1562.008"),
        (_api(outcome='"failure"') + _api() + NAMES, "[[api]] #2: cloudtrail:StopLogging"),
        (_api(names='["StopLogging", "StopLogging"]') + NAMES, "already mapped"),
        (_api(names="[]") + NAMES, "'names' must be a non-empty list"),
        (_api(technqiue='"T1562"') + NAMES, "[[api]] #1: unknown keys ['technqiue']"),
        (_api().replace('procedure = "p"\n', "") + NAMES, "missing keys ['procedure']"),
        (_api() + NAMES.replace('"T1562" =', '"T15620" ='), "id 'T15620' is not an ATT&CK id"),
        (_api() + NAMES + "[extras]\n", "unknown top-level keys ['extras']"),
        (_api(), "needs a [tactics] table"),
        ("[[api]\n", "not valid TOML"),
        (STEALTH * 2 + NAMES, "[[finding]] #2: prefix 'Stealth:' is already mapped to TA0005 T1562"),
    ],
)
def test_malformed_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TtpMapError) as info:
        _load(tmp_path, text)
    assert message in str(info.value)
    assert str(tmp_path / "ttp.toml") in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TtpMapError, match="cannot read the mapping"):
        TtpMap.load(tmp_path / "nope.toml")
