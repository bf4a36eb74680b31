"""`gumshoe investigate`'s report, printed from a report as /_gumshoe/v1/investigation answers
it: TTPs by tactic with counts, Discovery one line per service, firsts with no baseline one
line, what the calls acted on under each procedure."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from gumshoe.cli import investigate
from gumshoe.indicators import group_firsts


def ttp(seq: int, tactic: str, api: str, *, technique: str = "T1087.004 Account Discovery: Cloud Account",
        ip: str = "203.0.113.5", evidence: dict[str, Any] | None = None) -> dict[str, Any]:
    detail = {"Tactic": tactic, "Technique": technique, "Procedure": f"did {api}", "APIName": api,
              "APISuccessCount": 2, "APIFailureCount": 1, "IpAddress": ip}
    return {"seq": seq, "type": "TTP_OBSERVED", "detail": detail,
            "evidence": {"firstSeen": 1_700_000_000_000 + seq, "lastSeen": 1_700_000_100_000, **(evidence or {})}}


def agent(seq: int) -> dict[str, Any]:
    return {"seq": seq, "type": "NEW_USER_AGENT", "detail": {"UserAgent": f"agent/{seq}", "IsNewForEntireAccount": True},
            "evidence": {"firstSeen": 1_700_000_000_000, "noBaseline": True}}


def report(indicators: list[dict[str, Any]]) -> dict[str, Any]:
    return {"investigationId": "1" * 21, "entityArn": "arn:aws:iam::111122223333:user/mallory", "entityType": "IAM_USER",
            "scopeStartTime": 0, "scopeEndTime": 1, "graphArn": "arn:aws:detective:us-east-1:111122223333:graph:g",
            "status": "SUCCESSFUL", "severity": "CRITICAL", "notes": [], "scoring": {},
            "indicators": group_firsts(indicators)}


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> Any:
    buffer = io.StringIO()
    monkeypatch.setattr(investigate, "out", Console(file=buffer, width=400, color_system=None))

    def show(indicators: list[dict[str, Any]], show_all: bool = False) -> str:
        investigate.print_report(report(indicators), show_all=show_all)
        return buffer.getvalue()
    return show


STOP = ttp(0, "Defense Evasion", "cloudtrail:StopLogging", technique="T1562.008 Impair Defenses",
           evidence={"targets": [{"target": "trail:main", "calls": 3, "failures": 1}], "targetCount": 1,
                     "eventIds": ["ev-1", "ev-2"], "eventCount": 3})
DISCOVERY = [ttp(1, "Discovery", "iam:GetRole"), ttp(2, "Discovery", "iam:ListUsers"),
             ttp(3, "Discovery", "iam:GetUser", ip="198.51.100.7"), ttp(4, "Discovery", "ec2:DescribeInstances")]


def test_ttps_come_by_tactic_with_counts_and_discovery_one_line_per_service(printed: Any) -> None:
    text = printed([STOP, *DISCOVERY])
    assert "Tactics, techniques and procedures observed (5, 2 tactics)" in text
    assert "Defense Evasion (1)" in text and "Discovery (4)" in text
    assert text.index("Defense Evasion (1)") < text.index("Discovery (4)")  # the report's order: weightiest first
    assert "iam: 3 APIs" in text and "ec2: 1 API " in text
    assert "3 indicators: GetRole, GetUser, ListUsers (--all lists them)" in text
    assert "iam:ListUsers" not in text
    assert text.count("Discovery (4)") == 1


def test_all_lists_discovery_call_by_call(printed: Any) -> None:
    text = printed([STOP, *DISCOVERY], show_all=True)
    for api in ("iam:GetRole", "iam:ListUsers", "iam:GetUser", "ec2:DescribeInstances"):
        assert api in text
    assert "--all lists them" not in text


def test_a_procedure_says_what_its_calls_acted_on_and_its_first_event(printed: Any) -> None:
    text = printed([STOP])
    assert "on trail:main" in text and "event ev-1 (+2 more)" in text


def test_firsts_with_no_baseline_are_one_line_unless_all(printed: Any) -> None:
    text = printed([agent(n) for n in range(5)])
    assert "New user agents (1)" in text
    assert "no baseline: 5 user agents seen for the first time: agent/0, agent/1, agent/2 (+2 more: --all lists them)" in text
    assert "5 of 5" in text and "5 indicators" in text
    every = printed([agent(n) for n in range(5)], show_all=True)
    assert "New user agents (5)" in every and "agent/4" in every


def test_gumshoes_own_indicators_have_their_tables(printed: Any) -> None:
    off = {"seq": 0, "type": "INSTANCE_CREDENTIALS_OFF_INSTANCE",
           "detail": {"InstanceId": "i-0abc", "SessionArn": "arn:aws:sts::111122223333:assumed-role/web/i-0abc",
                      "IpAddress": "5.188.86.172", "InstanceIpAddresses": ["3.91.44.120"], "Reason": "OUTSIDE_AWS"},
           "evidence": {"firstSeen": 1_700_000_000_000, "lastSeen": 1_700_000_060_000, "aso": "Selectel",
                        "apis": ["iam:ListRoles", "sts:GetCallerIdentity"], "eventCount": 2}}
    spike = {"seq": 1, "type": "UNUSUAL_VOLUME",
             "detail": {"Kind": "CALLS", "Hour": 1_700_000_000_000, "APICallCount": 400, "APIFailureCount": 3,
                        "BaselineMedian": 20.0, "Factor": 20.0},
             "evidence": {"z": 40.1, "baselineHours": 60}}
    text = printed([off, spike])
    assert "Instance credentials used off the instance (1)" in text
    assert "outside AWS (Selectel)" in text and "3.91.44.120" in text and "iam:ListRoles" in text
    assert "Unusual volume against the principal's baseline (1)" in text
    assert "20 calls (60 active hours)" in text and "×20" in text and "40.1" in text


def test_a_quiet_scope_prints_the_engines_note(printed: Any) -> None:
    quiet = report([])
    quiet["notes"] = ["arn:aws:iam::111122223333:user/mallory made no API call in the scope. The graph holds 2 of its "
                      "events, from 2023-01-01 to 2023-01-02: widen the scope to cover them."]
    investigate.print_report(quiet)
    text = printed([])
    assert "note:" in text and "widen the scope to cover them" in text
    # Not a clean verdict: nothing was there to judge (the one clean line is the note-less
    # report that printed() adds).
    assert "No verdict: the entity made no API call in this scope" in text
    assert text.count("No indicator of compromise") == 1


def test_an_unknown_entity_names_the_graph_and_the_closest_ids() -> None:
    graph = "arn:aws:detective:us-east-1:111122223333:graph:0123456789abcdef0123456789abcdef"
    known = ["arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/bob",
             "arn:aws:iam::111122223333:role/admin", "arn:aws:iam::111122223333:user/ops/alice-ci"]
    typo = investigate.never_seen("arn:aws:iam::111122223333:user/alicee", graph, known)
    assert graph in typo and "the closest it has: arn:aws:iam::111122223333:user/alice" in typo
    assert "user/bob" not in typo and "check the ARN" in typo
    # The right name in another account, or with its path left out: the name alone still finds it.
    elsewhere = investigate.never_seen("arn:aws:iam::999999999999:user/ops/alice-ci", graph, known[:3] + known[3:])
    assert "user/ops/alice-ci" in elsewhere.split("closest it has: ", 1)[1]
    assert "has no user or role yet" in investigate.never_seen("arn:aws:iam::1:user/x", graph, [])
    nothing = investigate.never_seen("arn:aws:iam::111122223333:user/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", graph, ["x"])
    assert "no user or role with a name like it" in nothing
