"""Gumshoe's own report through a live server, on small hand-written CloudTrail logs: a principal
with no baseline (its firsts one finding), instance credentials used off the instance (Gumshoe's
own indicator: in the report and the command line, not in ListIndicators), a user acting through
the role it assumed (its investigation covers the session)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import module_server, raw, wait_for

GUMSHOE = Path(sys.executable).parent / "gumshoe"
ACCOUNT = "111111111111"
START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
WEB = f"arn:aws:iam::{ACCOUNT}:role/web-server"
INSTANCE = "i-0feedbeef0000cafe"
INSTANCE_IP, VPS = "3.91.10.20", "185.220.101.4"
EVE = f"arn:aws:iam::{ACCOUNT}:user/eve"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
EVE_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/eve-admin"


def _event(minute: int, name: str, source: str, identity: dict[str, Any], ip: str, agent: str = "aws-cli/2.15.0",
           request: dict[str, Any] | None = None, response: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"eventVersion": "1.08", "userIdentity": identity, "eventTime": (START + dt.timedelta(minutes=minute))
            .strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": f"{source}.amazonaws.com", "eventName": name,
            "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": agent, "requestParameters": request,
            "responseElements": response, "eventID": str(uuid.UUID(int=minute * 1000 + len(name))),
            "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT}


def _user(name: str) -> dict[str, Any]:
    return {"type": "IAMUser", "principalId": "AIDA" + name.upper(), "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "accountId": ACCOUNT, "accessKeyId": "AKIA" + name.upper(), "userName": name}


def _session(role: str, session: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROA{role.upper()}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}", "accountId": ACCOUNT,
            "accessKeyId": "ASIA" + session.upper()[:12],
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                                 "accountId": ACCOUNT, "userName": role}}}


def _records() -> list[dict[str, Any]]:
    mallory, web = _user("mallory"), _session("web-server", INSTANCE)
    records = [_event(n, "ListBuckets", "s3", mallory, VPS, agent=f"tool/{n}") for n in range(6)]
    records.append(_event(7, "StopLogging", "cloudtrail", mallory, VPS, request={"name": "main-trail"}))
    # the instance's own agent, then its credentials used from elsewhere
    records += [_event(10 + n, "UpdateInstanceInformation", "ssm", web, INSTANCE_IP, "amazon-ssm-agent/3.2")
                for n in range(3)]
    records += [_event(20, "GetCallerIdentity", "sts", web, VPS, "aws-cli/1.18 kali"),
                _event(21, "ListRoles", "iam", web, VPS, "aws-cli/1.18 kali")]
    # eve assumes Admin, and the session backdoors a user and stops the trail
    eve, admin = _user("eve"), _session("Admin", "eve-admin")
    records += [_event(30, "AssumeRole", "sts", eve, VPS, request={"roleArn": ADMIN, "roleSessionName": "eve-admin"},
                       response={"assumedRoleUser": {"arn": EVE_SESSION}}),
                _event(31, "CreateAccessKey", "iam", admin, VPS, request={"userName": "backdoor"}),
                _event(32, "StopLogging", "cloudtrail", admin, VPS, request={"name": "main-trail"})]
    return records


def _investigate_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCOUNT, AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1", COLUMNS="250")
    return subprocess.run([str(GUMSHOE), "investigate", "--endpoint-url", url, *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    logs = tmp_path_factory.mktemp("logs")
    (logs / "trail.json").write_text(json.dumps({"Records": _records()}))
    with module_server(tmp_path_factory, name="report") as srv:
        client = srv.client(ACCOUNT)
        graph = client.create_graph()["GraphArn"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=ACCOUNT, AWS_SECRET_ACCESS_KEY="x", AWS_REGION="us-east-1")
        subprocess.run([str(GUMSHOE), "ingest", "--endpoint-url", srv.url, str(logs)], check=True, env=env,
                       capture_output=True, timeout=120)

        def investigate(arn: str) -> dict[str, Any]:
            investigation = client.start_investigation(
                GraphArn=graph, EntityArn=arn, ScopeStartTime=START, ScopeEndTime=START + dt.timedelta(hours=2),
            )["InvestigationId"]
            wait_for(lambda: client.get_investigation(GraphArn=graph, InvestigationId=investigation)["Status"]
                     != "RUNNING", timeout=60, what="investigation")
            answer = raw(srv, "GET", "/_gumshoe/v1/investigation", account=ACCOUNT,
                         params={"graph": graph, "id": investigation})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        class World:
            server = srv
            graph_arn = graph
            aws = client
            report = staticmethod(investigate)

        yield World


def test_a_principal_with_no_baseline_says_so_and_has_its_firsts_as_one_finding(world: Any) -> None:
    report = world.report(MALLORY)
    assert report["baseline"]["accountDays"] == 0 and report["baseline"]["entityEvents"] == 0
    assert any(n.startswith("No baseline:") and MALLORY in n for n in report["notes"])
    [agents] = [i for i in report["indicators"] if i["type"] == "NEW_USER_AGENT"]
    assert agents["group"] == "noBaseline" and agents["count"] == 7
    assert agents["summary"] == "no baseline: 7 user agents seen for the first time"
    [row] = [c for c in report["scoring"]["contributions"] if c["bucket"] == "NEW_USER_AGENT"]
    assert (row["indicators"], row["counted"], row["noBaseline"]) == (1, 4, 7)
    listed = world.aws.list_indicators(GraphArn=world.graph_arn, InvestigationId=report["investigationId"],
                                       IndicatorType="NEW_USER_AGENT")["Indicators"]
    assert len(listed) == 7  # the AWS API lists every one, in the model's shape
    stop = next(i for i in report["indicators"] if i["detail"].get("APIName") == "cloudtrail:StopLogging")
    assert report["indicators"][0] is not agents and stop["evidence"]["points"] == 45
    assert stop["evidence"]["targets"] == [{"target": "trail:main-trail", "calls": 1, "failures": 0}]


def test_instance_credentials_used_off_the_instance(world: Any) -> None:
    report = world.report(WEB)
    first = report["indicators"][0]
    assert first["type"] == "INSTANCE_CREDENTIALS_OFF_INSTANCE"
    assert first["detail"] == {
        "InstanceId": INSTANCE, "SessionArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/web-server/{INSTANCE}",
        "IpAddress": VPS, "InstanceIpAddresses": [INSTANCE_IP], "Reason": "NOT_THE_INSTANCES_ADDRESS"}
    assert first["evidence"]["apis"] == ["iam:ListRoles", "sts:GetCallerIdentity"]
    assert report["severity"] in ("MEDIUM", "HIGH", "CRITICAL")
    assert any(c["bucket"] == "INSTANCE_CREDENTIALS_OFF_INSTANCE" and c["counted"] == 45
               for c in report["scoring"]["contributions"])
    # Gumshoe's own indicator: not among the AWS API's indicators, whose types are the model's.
    listed = world.aws.list_indicators(GraphArn=world.graph_arn, InvestigationId=report["investigationId"])
    assert listed["Indicators"] and "INSTANCE_CREDENTIALS_OFF_INSTANCE" not in {
        i["IndicatorType"] for i in listed["Indicators"]}
    events = raw(world.server, "GET", "/_gumshoe/v1/investigation/events", account=ACCOUNT, params={
        "graph": world.graph_arn, "id": report["investigationId"], "indicator": str(first["seq"])}).json()
    assert [e["eventName"] for e in events["events"]] == ["GetCallerIdentity", "ListRoles"]
    window = ["--from", START.isoformat(), "--to", (START + dt.timedelta(hours=2)).isoformat()]
    text = _investigate_cli(world.server.url, WEB, *window).stdout
    assert "Instance credentials used off the instance (1)" in text
    assert INSTANCE in text and VPS in text and "not an address of the instance" in text


def test_a_users_investigation_covers_the_roles_it_assumed(world: Any) -> None:
    report = world.report(EVE)
    assert report["roleSessions"] == [{"sessionArn": EVE_SESSION, "roleArn": ADMIN, "events": 2,
                                       "firstSeen": report["roleSessions"][0]["firstSeen"],
                                       "lastSeen": report["roleSessions"][0]["lastSeen"]}]
    assert any("also covers the 1 role session" in n and "role Admin, session eve-admin" in n
               for n in report["notes"])
    via = {i["detail"]["APIName"]: i for i in report["indicators"] if i["evidence"].get("via")}
    assert set(via) == {"iam:CreateAccessKey", "cloudtrail:StopLogging"}
    key = via["iam:CreateAccessKey"]
    assert key["detail"]["Procedure"].endswith("(via role Admin, session eve-admin)")
    assert key["evidence"]["targets"] == [{"target": "user:backdoor", "calls": 1, "failures": 0}]
    assert report["severity"] in ("HIGH", "CRITICAL")  # the session's deeds are scored as eve's
    events = raw(world.server, "GET", "/_gumshoe/v1/investigation/events", account=ACCOUNT, params={
        "graph": world.graph_arn, "id": report["investigationId"], "indicator": str(key["seq"])}).json()
    assert [(e["principal"], e.get("viaRole")) for e in events["events"]] == [(EVE_SESSION, ADMIN)]
    window = ["--from", START.isoformat(), "--to", (START + dt.timedelta(hours=2)).isoformat()]
    text = _investigate_cli(world.server.url, EVE, *window).stdout
    assert "via role Admin, session eve-admin" in text
