"""The data plane end to end: real `gumshoe serve` processes, the `gumshoe ingest` and
`gumshoe graph` command lines as subprocesses, log objects in AWS's delivery layout on disk
and in an S3-compatible server (moto), and the graph stores read back with DuckDB.

Accounts of the shared server (each side test has its own administrator, so the tests do
not see each other's data):

    111111111111  administrator of the main graph (us-east-1)
    222222222222  ENABLED member of it, and administrator of its own graph in eu-west-1
    333333333333  INVITED member: contributes nothing
    444444444444  rejects          555555555555  DeleteGraph
    666666666666  table output     777777777777  one object under two locations
    888888888888  an out-of-range flow row
    999999999999  an outsider
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import duckdb
import ingest_fixtures as fx
import pytest
from e2e_helpers import (
    VENV_BIN,
    Server,
    assert_aws_error,
    free_port,
    module_server,
    raw,
    status_of,
    wait_for,
    wait_for_more,
)

ADMIN = "111111111111"
MEMBER = "222222222222"
INVITED = "333333333333"
REJECTS_ADMIN = "444444444444"
DELETE_ADMIN = "555555555555"
TABLE_ADMIN = "666666666666"
OVERLAP_ADMIN = "777777777777"
POISON_ADMIN = "888888888888"
OUTSIDER = "999999999999"
US, EU = "us-east-1", "eu-west-1"

GUMSHOE = str(VENV_BIN / "gumshoe")
GRAPH_LIMIT = 10_000_000_000_000  # graph_volume_limit's default


# --- running the command line -------------------------------------------------------------


def cli_env(account: str, region: str = US, **extra: str) -> dict[str, str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": account, "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": region,
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "COLUMNS": "250", **extra}  # wide enough that rich tables never fold a cell
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    return env


def gumshoe(*args: str, account: str = ADMIN, region: str = US, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GUMSHOE, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env=env or cli_env(account, region))


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def ingest_json(server: Server, *locations: str, account: str = ADMIN) -> dict[str, Any]:
    result = ok(gumshoe("ingest", "--endpoint-url", server.url, "--json", *locations, account=account))
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def summary_rows(stdout: str) -> dict[tuple[str, str], dict[str, int]]:
    """The rows of `gumshoe ingest`'s summary table: (account, source type) -> counts."""
    rows = {}
    names = ("files", "events", "bytes", "rejects", "refused", "unrouted")
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 10 and cells[1] and cells[1] != "account":
            row = {n: int(v.replace(",", "")) for n, v in zip(names, cells[3:9], strict=True)}
            if not row["refused"]:  # shown only where there are refusals
                del row["refused"]
            rows[(cells[1], cells[2])] = row
    return rows


def entities(server: Server, graph: str, *, account: str = ADMIN, region: str = US,
             kind: str | None = None) -> list[dict[str, Any]]:
    args = ["graph", "entities", "--endpoint-url", server.url, "--graph", graph, "--json"]
    if kind:
        args += ["--type", kind]
    return json.loads(ok(gumshoe(*args, account=account, region=region)).stdout)["entities"]  # type: ignore[no-any-return]


def by_type(listed: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in listed:
        out.setdefault(e["type"], set()).add(e["id"])
    return out


def http_entities(server: Server, graph: str, account: str, **params: str) -> list[dict[str, Any]]:
    response = raw(server, "GET", "/_gumshoe/v1/entities", account=account, params={"graph": graph, **params})
    assert response.status_code == 200, response.text
    return response.json()["entities"]  # type: ignore[no-any-return]


def volumes(details: list[dict[str, Any]]) -> dict[str, int | None]:
    return {d["AccountId"]: d.get("VolumeUsageInBytes") for d in details}


def graph_id(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def make_graph(server: Server, account: str, region: str = US) -> str:
    return server.client(account, region).create_graph()["GraphArn"]  # type: ignore[no-any-return]


# --- the shared server and the main scenario ------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The S3 tests name buckets for the server to read: they must be its ingest roots.
    roots = ["--ingest-root", "s3://org-cloudtrail-logs", "--ingest-root", "s3://org-cloudtrail-logs-narrow"]
    with module_server(tmp_path_factory, args=["--job-delay", "0", *roots], name="ingest") as server:
        yield server


class World:
    """The main scenario, set up once: graphs and members, a folder of logs of three accounts
    and the first `gumshoe ingest` of it."""

    def __init__(self, server: Server, base: Path) -> None:
        self.server = server
        self.folder = base / "trail-bucket"
        admin = server.client(ADMIN)
        self.arn = make_graph(server, ADMIN)
        admin.create_members(GraphArn=self.arn, Accounts=[
            {"AccountId": MEMBER, "EmailAddress": "beta-root@example.com"},
            {"AccountId": INVITED, "EmailAddress": "gamma-root@example.com"},
        ], Message="Please join our behavior graph")
        wait_for(lambda: status_of(admin, self.arn, MEMBER) == "INVITED", what="member invited")
        server.client(MEMBER).accept_invitation(GraphArn=self.arn)
        wait_for(lambda: status_of(admin, self.arn, MEMBER) == "ENABLED", what="member enabled")
        assert status_of(admin, self.arn, INVITED) == "INVITED"
        # The member administers a graph of its own in eu-west-1: its eu-west-1 logs go there.
        self.eu_arn = make_graph(server, MEMBER, EU)

        day = fx.day_start(1)
        self.day = day
        self.admin = fx.account_activity(ADMIN, US, day, user="alice", role="Auditor", seed=1,
                                         buckets=("acme-finance-reports", "acme-trail-archive"),
                                         ips=("198.51.100.10", "203.0.113.5"))
        self.member = fx.account_activity(MEMBER, US, day, user="bob", role="Deployer", seed=2,
                                          buckets=("beta-artifacts", "beta-deploy-logs"),
                                          ips=("192.0.2.44", "192.0.2.45"))
        self.member_eu = fx.account_activity(MEMBER, EU, day, user="carol", role="EuOps", seed=3,
                                             buckets=("beta-eu-customer-data", "beta-eu-logs"),
                                             ips=("192.0.2.200", "192.0.2.201"), agents=(fx.UA_GO, fx.UA_GO))
        self.invited = fx.account_activity(INVITED, US, day, user="mallory", role="Shadow", seed=4,
                                           buckets=("gamma-exfil", "gamma-staging"),
                                           ips=("203.0.113.98", "203.0.113.99"),
                                           agents=(fx.UA_TERRAFORM, fx.UA_TERRAFORM))
        f = self.folder
        # (account, region, kind) -> what was written
        w: dict[tuple[str, str, str], fx.Written] = {}
        half = len(self.admin.events) // 2
        w[ADMIN, US, "cloudtrail"] = fx.write_cloudtrail(f, ADMIN, US, self.admin.events[:half], day, "Wq0AbCdEf1234567")
        w[ADMIN, US, "cloudtrail"] += fx.write_cloudtrail(f, ADMIN, US, self.admin.events[half:],
                                                          day + dt.timedelta(hours=1), "Xr1BcDeFg2345678")
        w[MEMBER, US, "cloudtrail"] = fx.write_cloudtrail(f, MEMBER, US, self.member.events, day)
        w[MEMBER, EU, "cloudtrail"] = fx.write_cloudtrail(f, MEMBER, EU, self.member_eu.events, day)
        w[INVITED, US, "cloudtrail"] = fx.write_cloudtrail(f, INVITED, US, self.invited.events, day)
        w[ADMIN, US, "vpcflow"] = fx.write_flows(f, ADMIN, US, day, [("10.0.1.5", "198.51.100.77", 443),
                                                                     ("203.0.113.66", "10.0.1.5", 22)], 30)
        w[MEMBER, US, "vpcflow"] = fx.write_flows(f, MEMBER, US, day, [("10.20.0.8", "192.0.2.150", 443)], 10)
        w[MEMBER, EU, "vpcflow"] = fx.write_flows(f, MEMBER, EU, day, [("10.22.0.9", "192.0.2.210", 5432)], 10)
        w[INVITED, US, "vpcflow"] = fx.write_flows(f, INVITED, US, day, [("10.30.0.3", "203.0.113.250", 3389)], 10)
        seen = day + dt.timedelta(hours=5)
        w[ADMIN, US, "guardduty"] = fx.write_guardduty(f, ADMIN, US, [
            fx.gd_finding(ADMIN, US, seen, n, remote_ip="198.51.100.250", instance="i-0a11c0ffee0000001") for n in range(2)
        ], day)
        w[MEMBER, US, "guardduty"] = fx.write_guardduty(f, MEMBER, US, [
            fx.gd_finding(MEMBER, US, seen, 0, remote_ip="192.0.2.99", instance="i-0b22c0ffee0000002")], day)
        w[INVITED, US, "guardduty"] = fx.write_guardduty(f, INVITED, US, [
            fx.gd_finding(INVITED, US, seen, 0, remote_ip="203.0.113.251", instance="i-0c33c0ffee0000003")], day)
        self.written = w
        self.objects = sum(len(x.keys) for x in w.values())
        # A digest file, as a real trail bucket has: never a log.
        fx.put(f, f"AWSLogs/{ADMIN}/CloudTrail-Digest/{US}/{day:%Y/%m/%d}/"
                  f"{ADMIN}_CloudTrail-Digest_{US}_trail_{US}_{day:%Y%m%dT%H%M%SZ}.json.gz",
               gzip.compress(b'{"awsAccountId":"111111111111","digestStartTime":"x"}'))

        self.first = ok(gumshoe("ingest", "--endpoint-url", server.url, str(self.folder)))
        # The administrator's upload puts its member's records only into the graphs it
        # administers: the member's own eu-west-1 graph takes the member's upload.
        eu_folders = [str(self.folder / f"AWSLogs/{MEMBER}/{kind}/{EU}") for kind in ("CloudTrail", "vpcflowlogs")]
        self.member_upload = ok(gumshoe("ingest", "--endpoint-url", server.url, *eu_folders, account=MEMBER, region=EU))
        self.volumes_after_first = volumes(admin.get_members(
            GraphArn=self.arn, AccountIds=[ADMIN, MEMBER, INVITED])["MemberDetails"])

    def bytes_of(self, account: str, region: str | None = None) -> int:
        return sum(x.bytes for (a, r, _), x in self.written.items() if a == account and region in (None, r))

    def count_of(self, account: str, kind: str, region: str | None = None) -> int:
        return sum(len(x.records) for (a, r, k), x in self.written.items()
                   if a == account and k == kind and region in (None, r))


@pytest.fixture(scope="module")
def world(srv: Server, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(srv, tmp_path_factory.mktemp("world"))


def test_first_ingest_summary_counts_files_events_bytes_per_account_and_source(world: World) -> None:
    out = world.first.stdout
    assert f"Ingested {world.objects} objects (0 already done)" in out, out
    rows = summary_rows(out)
    expected = {}
    for (account, region, kind), written in world.written.items():
        row = expected.setdefault((account, kind), {"files": 0, "events": 0, "bytes": 0, "rejects": 0, "unrouted": 0})
        row["files"] += len(written.keys)
        row["events"] += len(written.records)
        row["bytes"] += written.bytes
        if account == INVITED or region == EU:
            # An INVITED account contributes to no graph; the member's eu-west-1 logs would go
            # to the member's own graph, which the administrator's upload does not reach.
            row["unrouted"] += len(written.records)
    assert rows == expected, out
    # Which graph took how much: the member's eu-west-1 logs went to its own graph.
    us_events = sum(len(x.records) for (a, r, _), x in world.written.items() if a in (ADMIN, MEMBER) and r == US)
    eu_events = sum(len(x.records) for (a, r, _), x in world.written.items() if r == EU)
    assert f"{us_events:,} events into {world.arn}" in out
    assert str(world.eu_arn) not in out
    assert f"{eu_events:,} events into {world.eu_arn}" in world.member_upload.stdout
    assert "rejects/ folder" not in out  # the note about rejects comes only with rejects
    # The accounts whose records no graph took are named, with what to do.
    flat = " ".join(out.split())
    for (account, kind), row in expected.items():
        said = f"{row['unrouted']:,} {kind} records of account {account} are in no graph"
        assert (said in flat) == bool(row["unrouted"]), said
    assert "create a graph as" in flat and "add the account as a member of a graph" in flat


def test_entities_hold_admin_and_enabled_member_and_nothing_of_the_invited_account(world: World) -> None:
    listed = entities(world.server, world.arn)
    for e in listed:
        assert set(e) == {"type", "id", "accountId", "firstSeen", "lastSeen", "events"}, e
        assert e["firstSeen"] <= e["lastSeen"] and e["events"] > 0, e
    found = by_type(listed)
    for activity in (world.admin, world.member):
        assert set(activity.users) <= found["aws_user"]
        assert set(activity.roles) <= found["aws_role"]
        assert set(activity.sessions) <= found["role_session"]
        assert set(activity.ips) <= found["ip_address"]
        assert set(activity.agents) <= found["user_agent"]
        assert set(activity.buckets) <= found["s3_bucket"]
    assert found["aws_account"] == {ADMIN, MEMBER}
    assert {"10.0.1.5", "198.51.100.77", "203.0.113.66", "10.20.0.8", "192.0.2.150",  # flow peers
            "198.51.100.250", "192.0.2.99"} <= found["ip_address"]  # GuardDuty remote IPs
    assert {"i-0a11c0ffee0000001", "i-0b22c0ffee0000002"} <= found["ec2_instance"]
    assert len(found["finding"]) == 3 and all(":guardduty:" in f for f in found["finding"])
    # Exact sets where the scenario decides them.
    assert found["aws_user"] == set(world.admin.users + world.member.users)
    assert found["role_session"] == set(world.admin.sessions + world.member.sessions)
    assert found["s3_bucket"] == set(world.admin.buckets + world.member.buckets)
    # INVITED contributes nothing; the member's eu-west-1 activity stays out of us-east-1.
    assert not [e for e in listed if e["accountId"] == INVITED or INVITED in e["id"]]
    for other in (world.invited, world.member_eu):
        everything = set().union(*found.values())
        leaked = set(other.users + other.roles + other.sessions + other.ips + other.buckets) & everything
        assert not leaked, leaked
    assert fx.UA_TERRAFORM not in found["user_agent"] and fx.UA_GO not in found["user_agent"]
    assert not {"10.30.0.3", "203.0.113.250", "203.0.113.251", "10.22.0.9", "192.0.2.210"} & found["ip_address"]
    # Per-entity event counts: the IAM user's calls, once each.
    alice = next(e for e in listed if e["id"] == world.admin.users[0])
    assert alice["events"] == len(world.admin.of(world.admin.users[0]))
    assert alice["accountId"] == ADMIN
    day_ms = fx.ms(world.day)
    assert day_ms <= alice["firstSeen"] <= alice["lastSeen"] < day_ms + 86_400_000


def test_entities_type_filter(world: World) -> None:
    ips = entities(world.server, world.arn, kind="ip_address")
    assert ips and {e["type"] for e in ips} == {"ip_address"}
    assert {e["id"] for e in ips} == by_type(entities(world.server, world.arn))["ip_address"]
    assert [e["id"] for e in ips] == sorted(e["id"] for e in ips)
    buckets = http_entities(world.server, world.arn, ADMIN, type="s3_bucket", limit="2")
    assert len(buckets) == 2 and {e["type"] for e in buckets} == {"s3_bucket"}


def test_region_gating_member_eu_logs_land_only_in_its_eu_graph(world: World) -> None:
    found = by_type(entities(world.server, world.eu_arn, account=MEMBER, region=EU))
    assert found["aws_user"] == set(world.member_eu.users)
    assert found["s3_bucket"] == set(world.member_eu.buckets)
    assert {"10.22.0.9", "192.0.2.210"} <= found["ip_address"]  # flow rows: Region from the key
    assert found["aws_account"] == {MEMBER}
    assert not set(world.member.users + world.admin.users) & found["aws_user"]
    # The eu-west-1 graph is the member's own; its volume is only the eu-west-1 logs.
    detail = world.server.client(MEMBER, EU).get_members(GraphArn=world.eu_arn, AccountIds=[MEMBER])["MemberDetails"][0]
    assert detail["VolumeUsageInBytes"] == world.bytes_of(MEMBER, EU)


def test_profile_panels_of_a_user_a_role_and_an_address(world: World) -> None:
    server, arn = world.server, world.arn
    alice = world.admin.users[0]
    profile = json.loads(ok(gumshoe("graph", "profile", "--endpoint-url", server.url, "--graph", arn, alice,
                                    "--json")).stdout)
    assert profile["type"] == "aws_user" and profile["id"] == alice and profile["sessions"] is None
    expected = fx.panel_counts(world.admin.of(alice))
    for panel in ("api", "ip_address", "user_agent"):
        got = {r["value"]: r["success"] + r["failure"] for r in profile["panels"][panel]}
        assert got == dict(expected[panel]), (panel, got)
    failures = {r["value"]: r["failure"] for r in profile["panels"]["api"]}
    assert failures["iam.amazonaws.com:CreateUser"] == 1 and sum(failures.values()) == 1
    assert sum(h["success"] + h["failure"] for h in profile["hourlyApiVolume"]) == len(world.admin.of(alice))
    related = {(r["kind"], r["id"]): r["count"] for r in profile["related"]}
    assert related[("assumed", world.admin.sessions[0])] == 1
    assert related[("accessed", world.admin.buckets[0])] == 10
    assert related[("belongs_to", ADMIN)] == len(world.admin.of(alice))

    # A role sums the activity of its sessions.
    role = json.loads(ok(gumshoe("graph", "profile", "--endpoint-url", server.url, "--graph", arn,
                                 world.admin.roles[0], "--json")).stdout)
    assert role["type"] == "aws_role" and role["sessions"] == 1
    assert {r["value"]: r["success"] for r in role["panels"]["api"]} == {"s3.amazonaws.com:ListObjects": 5}

    # An address: who called from it.
    ip = world.admin.ips[1]
    address = json.loads(ok(gumshoe("graph", "profile", "--endpoint-url", server.url, "--graph", arn, ip,
                                    "--json")).stdout)
    from_ip = [e for e in world.admin.events if e["sourceIPAddress"] == ip]
    assert {r["value"]: r["success"] + r["failure"] for r in address["panels"]["principal"]} == {alice: len(from_ip)}

    # A scope that ends before the activity has no panels; the table form prints.
    early = ok(gumshoe("graph", "profile", "--endpoint-url", server.url, "--graph", arn, alice, "--json",
                       "--to", (world.day + dt.timedelta(hours=1)).isoformat()))
    assert json.loads(early.stdout)["panels"] == {}
    table = ok(gumshoe("graph", "profile", "--endpoint-url", server.url, "--graph", arn, alice)).stdout
    assert "s3.amazonaws.com:GetObject" in table and world.admin.ips[0] in table


def test_members_show_volume_per_account_and_package(world: World) -> None:
    admin = world.server.client(ADMIN)
    details = {d["AccountId"]: d for d in admin.get_members(GraphArn=world.arn,
                                                             AccountIds=[ADMIN, MEMBER, INVITED])["MemberDetails"]}
    listed = {d["AccountId"]: d for d in admin.list_members(GraphArn=world.arn)["MemberDetails"]}
    expected = {ADMIN: world.bytes_of(ADMIN, US), MEMBER: world.bytes_of(MEMBER, US)}
    for source in (details, listed):
        for account, nbytes in expected.items():
            d = source[account]
            assert d["VolumeUsageInBytes"] == nbytes > 0, d
            assert d["VolumeUsageByDatasourcePackage"]["DETECTIVE_CORE"]["VolumeUsageInBytes"] == nbytes
            assert set(d["VolumeUsageByDatasourcePackage"]) == {"DETECTIVE_CORE"}
            assert d["PercentOfGraphUtilization"] == pytest.approx(nbytes * 100.0 / GRAPH_LIMIT)
            assert d["VolumeUsageUpdatedTime"] and d["PercentOfGraphUtilizationUpdatedTime"]
        invited = source[INVITED]
        for key in ("VolumeUsageInBytes", "VolumeUsageByDatasourcePackage", "PercentOfGraphUtilization"):
            assert key not in invited, invited
    assert world.volumes_after_first == {ADMIN: expected[ADMIN], MEMBER: expected[MEMBER], INVITED: None}


def test_second_ingest_of_the_same_folder_takes_nothing(world: World) -> None:
    admin = world.server.client(ADMIN)
    before = entities(world.server, world.arn)
    summary = ingest_json(world.server, str(world.folder))
    assert summary["objects"] == 0 and summary["skipped"] == world.objects, summary
    assert summary["byAccount"] == [] and summary["graphs"] == {} and summary["failed"] == []
    after = volumes(admin.get_members(GraphArn=world.arn, AccountIds=[ADMIN, MEMBER, INVITED])["MemberDetails"])
    assert after == world.volumes_after_first
    assert entities(world.server, world.arn) == before


# --- rejects ------------------------------------------------------------------------------


def test_rejects_are_counted_set_aside_and_the_good_records_still_land(srv: Server, tmp_path: Path) -> None:
    arn = make_graph(srv, REJECTS_ADMIN)
    folder = tmp_path / "rejects-bucket"
    day = fx.day_start(1)
    seen = day + dt.timedelta(hours=6)
    # GuardDuty JSON lines with two malformed lines and one that is JSON but no finding.
    findings = [fx.gd_finding(REJECTS_ADMIN, US, seen, n, remote_ip=f"198.51.100.{160 + n}", instance="i-0444")
                for n in range(4)]
    bad_lines = ['{"schemaVersion":"2.0","accountId":"444444444444","id":"cut-here',
                 "<html><body>504 Gateway Time-out</body></html>",
                 '{"schemaVersion":"2.0","accountId":"444444444444","type":"Recon:EC2/Portscan"}']
    gd = fx.write_guardduty(folder, REJECTS_ADMIN, US, findings, day, extra_lines=bad_lines)
    # A flow log whose gzip was cut in the middle: the rows before the cut still count.
    key, data, flows = fx.flow_object(REJECTS_ADMIN, US, day, [("10.44.0.1", "198.51.100.180", 443),
                                                               ("10.44.0.2", "198.51.100.181", 22)], 400)
    cut = data[: len(data) // 2]
    fx.put(folder, key, cut)
    prefix = zlib.decompressobj(wbits=31).decompress(cut)
    complete = prefix[: prefix.rfind(b"\n") + 1].decode().splitlines()[1:]  # without the header
    assert 0 < len(complete) < len(flows.records)
    # A CloudTrail delivery file cut short: a whole document that cannot be read at all.
    ct_key, ct_data, _ = fx.cloudtrail_object(REJECTS_ADMIN, US, [
        fx.ct_event(REJECTS_ADMIN, US, seen, fx.iam_user(REJECTS_ADMIN, "dave"), "s3.amazonaws.com", "ListBuckets",
                    ip="198.51.100.199", agent=fx.UA_CLI)] * 50, day, "TrUnCaTeD0000000")
    fx.put(folder, ct_key, ct_data[: len(ct_data) - 40])

    result = ok(gumshoe("ingest", "--endpoint-url", srv.url, str(folder), account=REJECTS_ADMIN))
    rows = summary_rows(result.stdout)
    assert rows[(REJECTS_ADMIN, "guardduty")] == {"files": 1, "events": 4, "bytes": gd.bytes, "rejects": 3,
                                                  "unrouted": 0}
    assert rows[(REJECTS_ADMIN, "vpcflow")] == {"files": 1, "events": len(complete),
                                                "bytes": sum(len(r) + 1 for r in complete), "rejects": 1,
                                                "unrouted": 0}
    assert rows[(REJECTS_ADMIN, "cloudtrail")] == {"files": 1, "events": 0, "bytes": 0, "rejects": 1, "unrouted": 0}
    assert "rejects/ folder" in result.stdout

    # <data-dir>/rejects/<day>.jsonl keeps each one with where and why.
    entries = [json.loads(line) for path in sorted((srv.data_dir / "rejects").glob("*.jsonl"))
               for line in path.read_text().splitlines()]
    mine = {e["key"]: [] for e in entries}
    for e in entries:
        assert {"source", "key", "kind", "position", "reason"} <= set(e), e
        mine[e["key"]].append(e)
    source = str(folder.resolve())
    gd_rejects = mine[gd.keys[0]]
    assert [(e["source"], e["kind"], e["position"]) for e in gd_rejects] == [
        (source, "guardduty", "line 3"), (source, "guardduty", "line 4"), (source, "guardduty", "line 5")]
    assert [e["raw"] for e in gd_rejects] == bad_lines
    assert "no id" in gd_rejects[2]["reason"]
    (flow_reject,) = mine[key]
    assert flow_reject["kind"] == "vpcflow" and flow_reject["position"].startswith("byte ")
    assert "truncated or corrupt" in flow_reject["reason"]
    (ct_reject,) = mine[ct_key]
    assert ct_reject["kind"] == "cloudtrail" and "truncated or corrupt" in ct_reject["reason"]

    found = by_type(entities(srv, arn, account=REJECTS_ADMIN))
    assert len(found["finding"]) == 4
    assert {f"198.51.100.{160 + n}" for n in range(4)} | {"10.44.0.1", "198.51.100.180"} <= found["ip_address"]
    assert "aws_user" not in found  # nothing of the unreadable CloudTrail file
    detail = srv.client(REJECTS_ADMIN).get_members(GraphArn=arn, AccountIds=[REJECTS_ADMIN])["MemberDetails"][0]
    assert detail["VolumeUsageInBytes"] == gd.bytes + sum(len(r) + 1 for r in complete)


def test_a_flow_row_with_an_out_of_range_number_is_a_reject(srv: Server, tmp_path: Path) -> None:
    arn = make_graph(srv, POISON_ADMIN)
    day = fx.day_start(1)
    start = int(day.timestamp()) + 4 * 3600
    rows = [f"2 {POISON_ADMIN} eni-0f00 10.88.0.{n} 198.51.100.{n} 51000 443 6 10 {840 + n} {start} {start + 60} ACCEPT OK"
            for n in range(1, 5)]
    rows.insert(2, f"2 {POISON_ADMIN} eni-0f00 10.88.0.9 198.51.100.9 51000 443 6 10 99999999999999999999 "
                   f"{start} {start + 60} ACCEPT OK")
    key = fx.flow_key(POISON_ADMIN, US, day, "0verf10w")
    fx.put(tmp_path / "poison", key, gzip.compress((fx.FLOW_HEADER + "\n" + "\n".join(rows) + "\n").encode()))
    result = gumshoe("ingest", "--endpoint-url", srv.url, "--json", str(tmp_path / "poison"), account=POISON_ADMIN)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    (row,) = json.loads(result.stdout)["byAccount"]
    assert (row["events"], row["rejects"]) == (4, 1), row
    assert {f"10.88.0.{n}" for n in range(1, 5)} <= {e["id"] for e in http_entities(srv, arn, POISON_ADMIN)}


# --- access and errors of /_gumshoe/v1 ------------------------------------------------------


def test_data_plane_access_and_errors(world: World) -> None:
    server, arn = world.server, world.arn
    # Only the administrator, in the graph's Region, sees a graph's entities and profiles.
    for account, region in ((OUTSIDER, US), (MEMBER, US), (INVITED, US), (ADMIN, EU)):
        for path, params in (("/_gumshoe/v1/entities", {"graph": arn}),
                             ("/_gumshoe/v1/profile", {"graph": arn, "entity": world.admin.users[0]})):
            response = raw(server, "GET", path, account=account, region=region, params=params)
            body = assert_aws_error(response, 404, "ResourceNotFoundException")
            assert "entities" not in body and "panels" not in body
    denied = gumshoe("graph", "entities", "--endpoint-url", server.url, "--graph", arn, account=OUTSIDER)
    assert denied.returncode == 1 and "Traceback" not in denied.stderr
    assert "404 ResourceNotFoundException" in denied.stderr and denied.stdout == ""

    for path, params in (("/_gumshoe/v1/entities", {}), ("/_gumshoe/v1/profile", {"entity": "x"}),
                         ("/_gumshoe/v1/profile", {"graph": arn}),
                         ("/_gumshoe/v1/entities", {"graph": arn, "type": "galaxy"}),
                         ("/_gumshoe/v1/profile", {"graph": arn, "entity": world.admin.users[0], "from": "yesterday"}),
                         ("/_gumshoe/v1/profile", {"graph": arn, "entity": world.admin.users[0],
                                                   "from": "2030-01-02", "to": "2030-01-01"})):
        assert_aws_error(raw(server, "GET", path, account=ADMIN, params=params), 400, "ValidationException")
    unknown = raw(server, "GET", "/_gumshoe/v1/profile", account=ADMIN, params={"graph": arn, "entity": "203.0.113.1"})
    assert_aws_error(unknown, 404, "ResourceNotFoundException")
    for method, path in (("GET", "/_gumshoe/v1/nothing-here"), ("POST", "/_gumshoe/v1/entities"),
                         ("GET", "/_gumshoe/v1/ingest")):
        assert_aws_error(raw(server, method, path, account=ADMIN), 404, "UnknownOperationException")
    for body in ({"locations": []}, {"locations": "logs"}, {"folders": ["x"]}, "not json"):
        assert_aws_error(raw(server, "POST", "/_gumshoe/v1/ingest", account=ADMIN, body=body), 400,
                         "ValidationException")
    missing = gumshoe("ingest", "--endpoint-url", server.url, str(world.folder / "no-such-folder"))
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr, missing.stderr
    # The server is fine after all of it.
    assert len(entities(server, arn)) > 0


def test_out_of_range_numbers_in_query_parameters_are_validation_errors(world: World) -> None:
    alice = world.admin.users[0]
    for path, params in (("/_gumshoe/v1/entities", {"graph": world.arn, "limit": "99999999999999999999"}),
                         ("/_gumshoe/v1/profile", {"graph": world.arn, "entity": alice, "from": "0",
                                                   "to": "99999999999999999999"})):
        assert_aws_error(raw(world.server, "GET", path, account=ADMIN, params=params), 400, "ValidationException")


def test_delete_graph_removes_its_duckdb_file(srv: Server, tmp_path: Path) -> None:
    arn = make_graph(srv, DELETE_ADMIN)
    day = fx.day_start(1)
    activity = fx.account_activity(DELETE_ADMIN, US, day, user="erin", role="Ops", seed=5,
                                   buckets=("delta-a", "delta-b"), ips=("198.51.100.50", "198.51.100.51"))
    fx.write_cloudtrail(tmp_path / "delete-logs", DELETE_ADMIN, US, activity.events, day)
    ingest_json(srv, str(tmp_path / "delete-logs"), account=DELETE_ADMIN)
    path = srv.data_dir / "graphs" / f"{graph_id(arn)}.duckdb"
    assert path.exists()
    assert http_entities(srv, arn, DELETE_ADMIN, type="aws_user")[0]["id"] == activity.users[0]
    srv.client(DELETE_ADMIN).delete_graph(GraphArn=arn)
    assert not path.exists()
    assert not path.with_suffix(".duckdb.wal").exists()
    assert_aws_error(raw(srv, "GET", "/_gumshoe/v1/entities", account=DELETE_ADMIN, params={"graph": arn}), 404,
                     "ResourceNotFoundException")
    # A new graph of the same administrator starts empty in a new file.
    new_arn = make_graph(srv, DELETE_ADMIN)
    assert new_arn != arn and http_entities(srv, new_arn, DELETE_ADMIN) == []


def test_entity_table_prints_user_agents_verbatim(srv: Server, tmp_path: Path) -> None:
    arn = make_graph(srv, TABLE_ADMIN)
    day = fx.day_start(1)
    netscape = "Mozilla/4.79 [en] (X11; U; Linux 2.4.2 i686)"
    scanner = "python-requests/2.31.0 [/]"
    user = fx.iam_user(TABLE_ADMIN, "frank")
    events = [fx.ct_event(TABLE_ADMIN, US, day + dt.timedelta(hours=3, minutes=n), user, "s3.amazonaws.com",
                          "ListBuckets", ip="198.51.100.66", agent=agent) for n, agent in enumerate((netscape, scanner))]
    fx.write_cloudtrail(tmp_path / "ua-logs", TABLE_ADMIN, US, events, day)
    ingest_json(srv, str(tmp_path / "ua-logs"), account=TABLE_ADMIN)
    assert {e["id"] for e in http_entities(srv, arn, TABLE_ADMIN, type="user_agent")} == {netscape, scanner}
    table = gumshoe("graph", "entities", "--endpoint-url", srv.url, "--graph", arn, "--type", "user_agent",
                    account=TABLE_ADMIN)
    assert table.returncode == 0, table.stderr[-1500:]
    assert netscape in table.stdout and scanner in table.stdout


def test_one_object_through_two_locations_is_ingested_once(srv: Server, tmp_path: Path) -> None:
    arn = make_graph(srv, OVERLAP_ADMIN)
    day = fx.day_start(1)
    activity = fx.account_activity(OVERLAP_ADMIN, US, day, user="grace", role="Ops", seed=7,
                                   buckets=("eta-a", "eta-b"), ips=("198.51.100.70", "198.51.100.71"))
    folder = tmp_path / "overlap"
    fx.write_cloudtrail(folder, OVERLAP_ADMIN, US, activity.events, day)
    assert ingest_json(srv, str(folder), account=OVERLAP_ADMIN)["objects"] == 1
    again = ingest_json(srv, str(folder / "AWSLogs" / OVERLAP_ADMIN), account=OVERLAP_ADMIN)
    (user,) = http_entities(srv, arn, OVERLAP_ADMIN, type="aws_user")
    assert user["events"] == len(activity.of(activity.users[0])), user
    assert (again["objects"], again["skipped"]) == (0, 1), again


# --- the server's watch over its sources -----------------------------------------------------


def test_watch_loop_ingests_new_files_once(make_server: Any, tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    server = make_server(args=["--job-delay", "0", "--source", str(watched), "--source-poll-interval", "0.5"])
    arn = make_graph(server, ADMIN)
    day = fx.day_start(1)
    first = fx.account_activity(ADMIN, US, day, user="heidi", role="Ops", seed=8,
                                buckets=("watch-a", "watch-b"), ips=("198.51.100.80", "198.51.100.81"))
    fx.write_cloudtrail(watched, ADMIN, US, first.events, day)

    def users() -> dict[str, int]:
        return {e["id"]: e["events"] for e in http_entities(server, arn, ADMIN, type="aws_user")}

    heidi = first.users[0]
    wait_for(lambda: heidi in users(), timeout=15, interval=0.2, what="the watched file's events")
    # A second file later on arrives too.
    second = fx.account_activity(ADMIN, US, day, user="ivan", role="Ops", seed=9,
                                 buckets=("watch-a", "watch-c"), ips=("198.51.100.82", "198.51.100.83"))
    fx.write_cloudtrail(watched, ADMIN, US, second.events, day + dt.timedelta(hours=2), "SeCoNdFiLe000000")
    wait_for(lambda: second.users[0] in users(), timeout=15, interval=0.2, what="the second file's events")
    wait_for_more(server, "sourceScans", 3)  # three more scans: nothing is taken twice
    assert users() == {heidi: len(first.of(heidi)), second.users[0]: len(second.of(second.users[0]))}
    with urllib.request.urlopen(server.url + "/_gumshoe/health", timeout=5) as response:
        assert json.loads(response.read())["status"] == "ok"
    assert server.proc is not None and server.proc.poll() is None
    detail = server.client(ADMIN).get_members(GraphArn=arn, AccountIds=[ADMIN])["MemberDetails"][0]
    assert detail["VolumeUsageInBytes"] == (len(fx.cloudtrail_document(first.events)) // len(first.events)
                                            * len(first.events)
                                            + len(fx.cloudtrail_document(second.events)) // len(second.events)
                                            * len(second.events))


def test_watch_loop_a_file_caught_while_written_counts_once(make_server: Any, tmp_path: Path) -> None:
    """A plain line file is read on from where the last read ended, and the row cut in two
    only once its newline has arrived. (A gzip file is read whole once it stops changing.)"""
    watched = tmp_path / "watched"
    watched.mkdir()
    server = make_server(args=["--job-delay", "0", "--source", str(watched), "--source-poll-interval", "0.3"])
    arn = make_graph(server, ADMIN)
    key, data, flows = fx.flow_object(ADMIN, US, fx.day_start(1), [("10.77.0.1", "198.51.100.77", 443)], 300)
    key, data = key.removesuffix(".gz"), gzip.decompress(data)
    assert data[len(data) // 2 - 1 : len(data) // 2 + 1].count(b"\n") == 0  # cut inside a row
    path = watched / key
    path.parent.mkdir(parents=True)
    with path.open("wb") as out:  # as `cp` writes: in place, in pieces
        out.write(data[: len(data) // 2])
        out.flush()

        def events() -> int:
            found = [e for e in http_entities(server, arn, ADMIN, type="ip_address") if e["id"] == "10.77.0.1"]
            return found[0]["events"] if found else 0

        wait_for(events, timeout=15, interval=0.1, what="the first half of the file")
        out.write(data[len(data) // 2:])
    wait_for(lambda: events() >= len(flows.records), timeout=15, interval=0.1, what="the whole file")
    wait_for_more(server, "sourceScans", 3)
    assert events() == len(flows.records)


def test_reload_rereads_the_sources_of_the_config_file(make_server: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    server = make_server(config_toml=f'sources = ["{first}"]\nsource_poll_interval = 0.3\n', args=["--job-delay", "0"])
    assert server.config is not None and server.proc is not None
    arn = make_graph(server, ADMIN)

    def ips() -> set[str]:
        return {e["id"] for e in http_entities(server, arn, ADMIN, type="ip_address")}

    def flows(root: Path, ip: str, suffix: str) -> None:
        fx.write_flows(root, ADMIN, US, fx.day_start(1), [(ip, "198.51.100.78", 443)], 5, suffix=suffix)

    flows(first, "10.78.0.1", "reload01")
    wait_for(lambda: "10.78.0.1" in ips(), timeout=15, interval=0.2, what="a file of the first source")
    server.config.write_text(f'sources = ["{second}"]\nsource_poll_interval = 0.3\n')
    os.kill(server.proc.pid, signal.SIGHUP)
    wait_for(lambda: f"watching sources={second} " in server.log(), timeout=10, interval=0.1, what="the reload")
    flows(second, "10.78.0.2", "reload02")
    flows(first, "10.78.0.3", "reload03")  # in a source no longer watched
    wait_for(lambda: "10.78.0.2" in ips(), timeout=15, interval=0.2, what="a file of the added source")
    # The file in the source no longer watched has settled (unchanged for 2 s, when the watch
    # would take it), and two scans ran after that: it was not taken.
    newest = max(p.stat().st_mtime for p in first.rglob("*") if p.is_file())
    wait_for(lambda: time.time() - newest > 2.0, timeout=10, what="the file to settle")
    wait_for_more(server, "sourceScans", 2)
    assert "10.78.0.3" not in ips()
    body = json.loads(ok(gumshoe("reload", "--endpoint-url", server.url)).stdout)
    assert body["sources"] == [str(second)]


def test_reload_keeps_the_sources_given_on_the_command_line(make_server: Any, tmp_path: Path) -> None:
    flagged, listed = tmp_path / "flagged", tmp_path / "listed"
    flagged.mkdir()
    listed.mkdir()
    server = make_server(config_toml=f'sources = ["{listed}"]\n',
                         args=["--job-delay", "0", "--source", str(flagged), "--source-poll-interval", "0.3"])
    assert server.config is not None
    arn = make_graph(server, ADMIN)
    server.config.write_text(f'sources = ["{listed}", "{tmp_path / "more"}"]\nsource_poll_interval = 60\n')
    body = json.loads(ok(gumshoe("reload", "--endpoint-url", server.url)).stdout)
    assert body["sources"] == [str(flagged)]
    # Still watched, still every 0.3 s: a file that must first settle for 2 s arrives soon after.
    fx.write_flows(flagged, ADMIN, US, fx.day_start(1), [("10.79.0.1", "198.51.100.79", 443)], 5, suffix="flagged1")
    wait_for(lambda: "10.79.0.1" in {e["id"] for e in http_entities(server, arn, ADMIN, type="ip_address")},
             timeout=15, interval=0.2, what="a file of the source given on the command line")


def test_sigv4_mode_signed_cli_requests(make_server: Any, tmp_path: Path) -> None:
    server = make_server(config_toml=(
        '[[credentials]]\naccess_key_id = "AKIAGUMSHOEADMIN0001"\nsecret_access_key = "admin-secret"\n'
        f'account = "{ADMIN}"\n'), args=["--auth", "sigv4", "--job-delay", "0"])
    arn = server.client("AKIAGUMSHOEADMIN0001", secret="admin-secret").create_graph()["GraphArn"]
    day = fx.day_start(1)
    activity = fx.account_activity(ADMIN, US, day, user="mallet", role="Ops", seed=12,
                                   buckets=("iota-a", "iota-b"), ips=("198.51.100.120", "198.51.100.121"))
    fx.write_cloudtrail(tmp_path / "signed", ADMIN, US, activity.events, day)
    signed = cli_env("AKIAGUMSHOEADMIN0001", AWS_SECRET_ACCESS_KEY="admin-secret")
    summary = json.loads(ok(gumshoe("ingest", "--endpoint-url", server.url, "--json", str(tmp_path / "signed"),
                                    env=signed)).stdout)
    assert summary["graphs"] == {arn: len(activity.events)}
    listed = json.loads(ok(gumshoe("graph", "entities", "--endpoint-url", server.url, "--graph", arn, "--json",
                                   "--type", "aws_user", env=signed)).stdout)["entities"]
    assert [e["id"] for e in listed] == activity.users
    wrong = gumshoe("graph", "entities", "--endpoint-url", server.url, "--graph", arn,
                    env=cli_env("AKIAGUMSHOEADMIN0001", AWS_SECRET_ACCESS_KEY="not-the-secret"))
    assert wrong.returncode == 1 and "403 InvalidSignatureException" in wrong.stderr, wrong.stderr
    anonymous = {k: v for k, v in cli_env(ADMIN).items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    anonymous["AWS_EC2_METADATA_DISABLED"] = "true"
    unsigned = gumshoe("ingest", "--endpoint-url", server.url, str(tmp_path / "signed"), env=anonymous)
    assert unsigned.returncode == 1 and "MissingAuthenticationTokenException" in unsigned.stderr, unsigned.stderr


def test_ingest_after_enabled_takes_only_later_events(make_server: Any, tmp_path: Path) -> None:
    server = make_server(args=["--job-delay", "0", "--ingest-after-enabled"])
    arn = make_graph(server, ADMIN)
    user = fx.iam_user(ADMIN, "judy")
    old = [fx.ct_event(ADMIN, US, fx.day_start(2) + dt.timedelta(hours=n), fx.iam_user(ADMIN, "old-judy"),
                       "s3.amazonaws.com", "ListBuckets", ip="198.51.100.90", agent=fx.UA_CLI) for n in range(3)]
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    new = [fx.ct_event(ADMIN, US, now + dt.timedelta(seconds=n), user, "s3.amazonaws.com", "ListBuckets",
                       ip="198.51.100.91", agent=fx.UA_CLI) for n in range(2)]
    fx.write_cloudtrail(tmp_path / "after", ADMIN, US, old + new, now)
    summary = ingest_json(server, str(tmp_path / "after"))
    (row,) = summary["byAccount"]
    assert (row["events"], row["unrouted"]) == (5, 3)
    assert {e["id"] for e in http_entities(server, arn, ADMIN, type="aws_user")} == {user["arn"]}


# --- exactly once through kill -9 ------------------------------------------------------------

PER_FILE = 3000


def _ledger(db: Path) -> set[str]:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return {ref for (ref,) in conn.execute("SELECT object_ref FROM ingest_objects")}
    except sqlite3.OperationalError:
        return set()


def _duck(data_dir: Path, arn: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(data_dir / "graphs" / f"{graph_id(arn)}.duckdb"), read_only=True)


def _graph_facts(data_dir: Path, arn: str) -> dict[str, Any]:
    with contextlib.closing(_duck(data_dir, arn)) as conn:
        total, distinct = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM api_events").fetchone()
        loaded = conn.execute("SELECT count(*), sum(records) FROM loaded_objects").fetchone()
        ents = conn.execute("SELECT type, id, sum(events) FROM entities GROUP BY ALL ORDER BY ALL").fetchall()
        links = conn.execute("SELECT kind, src_id, dst_id, sum(count) FROM links GROUP BY ALL ORDER BY ALL").fetchall()
        hourly = conn.execute("SELECT entity_id, dimension, value, sum(success), sum(failure) FROM hourly "
                              "GROUP BY ALL ORDER BY ALL").fetchall()
    with contextlib.closing(sqlite3.connect(data_dir / "gumshoe.db")) as db:
        volume = db.execute("SELECT account_id, package, day, bytes FROM volume_usage WHERE graph_arn = ? "
                            "ORDER BY 1, 2, 3", [arn]).fetchall()
        ledger = db.execute("SELECT count(*), sum(records), sum(rejects) FROM ingest_objects").fetchone()
    return {"total": total, "distinct": distinct, "loaded": loaded, "entities": ents, "links": links,
            "hourly": hourly, "volume": volume, "ledger": ledger}


def test_exactly_once_through_kill_9(make_server: Any, tmp_path: Path) -> None:
    # Small load units (the setting), and data for several of them.
    unit = 4 << 20
    unit_env = {"GUMSHOE_INGEST_UNIT_BYTES": str(unit)}
    logs = tmp_path / "bulk"
    written = fx.bulk_assume_role(logs, ADMIN, US, fx.day_start(1), 12, PER_FILE, min_gzip_bytes=unit * 13 // 4)
    files = len(written.keys)
    generated = files * PER_FILE
    dirs = {"crash": tmp_path / "crash" / "data", "clean": tmp_path / "clean" / "data"}
    arns = {}
    for name, data_dir in dirs.items():
        data_dir.parent.mkdir()
        server = make_server(data_dir=data_dir)
        arns[name] = make_graph(server, ADMIN)
        server.stop()
    db = dirs["crash"] / "gumshoe.db"

    # Killed twice, each time as soon as the ledger has grown (so mid-way through the next
    # objects), then run to completion.
    done: set[str] = set()
    for _ in range(2):
        crashing = subprocess.Popen([GUMSHOE, "ingest", "--data-dir", str(dirs["crash"]), "--json", str(logs)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env(ADMIN, **unit_env))
        before = len(done)
        try:
            wait_for(lambda before=before, proc=crashing: len(_ledger(db)) > before or proc.poll() is not None,
                     timeout=60, interval=0.005, what="more objects in the ledger")
            assert crashing.poll() is None, "the ingestion ended before it could be killed"
            crashing.send_signal(signal.SIGKILL)
        finally:
            if crashing.poll() is None:
                crashing.kill()
            crashing.wait()
        assert crashing.returncode == -signal.SIGKILL
        now = _ledger(db)
        assert done < now and len(now) < files, (len(done), len(now), files)
        # The graph commits before the ledger: whatever the ledger holds, the graph holds.
        with contextlib.closing(_duck(dirs["crash"], arns["crash"])) as conn:
            loaded = {ref for (ref,) in conn.execute("SELECT object_ref FROM loaded_objects").fetchall()}
            events, distinct = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM api_events").fetchone()
        assert now <= loaded and events == distinct == len(loaded) * PER_FILE
        done = now

    resumed = ok(gumshoe("ingest", "--data-dir", str(dirs["crash"]), "--json", str(logs), timeout=120,
                         env=cli_env(ADMIN, **unit_env)))
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] == len(done) and summary["objects"] == files - len(done), summary
    assert summary["failed"] == []
    reference_run = json.loads(ok(gumshoe("ingest", "--data-dir", str(dirs["clean"]), "--json", str(logs),
                                          timeout=120, env=cli_env(ADMIN, **unit_env))).stdout)
    assert (reference_run["objects"], reference_run["failed"]) == (files, [])

    crash, reference = _graph_facts(dirs["crash"], arns["crash"]), _graph_facts(dirs["clean"], arns["clean"])
    assert crash["total"] == generated and crash["distinct"] == crash["total"]
    assert crash["loaded"] == (files, generated)
    assert crash["ledger"] == (files, generated, 0)
    assert reference["total"] == generated and reference["distinct"] == generated
    for name in ("entities", "links", "hourly", "volume", "loaded", "ledger"):
        assert crash[name] == reference[name], name
    assert sum(row[3] for row in crash["volume"]) == written.bytes
    users = {e[1]: e[2] for e in crash["entities"] if e[0] == "aws_user"}
    assert users == {f"arn:aws:iam::{ADMIN}:user/ci-bot": generated}
    # And one more run takes nothing.
    again = json.loads(ok(gumshoe("ingest", "--data-dir", str(dirs["crash"]), "--json", str(logs))).stdout)
    assert (again["objects"], again["skipped"]) == (0, files)


# --- S3 sources against moto -----------------------------------------------------------------

S3_ENV = {"AWS_ACCESS_KEY_ID": "moto-key", "AWS_SECRET_ACCESS_KEY": "moto-secret", "AWS_DEFAULT_REGION": US}
BUCKET = "org-cloudtrail-logs"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                return True
        except OSError:
            assert proc.poll() is None, "moto_server exited"
            return False

    try:
        wait_for(up, timeout=30, interval=0.1, what="moto_server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def s3_client(moto_url: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_url, region_name=US, aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])


@pytest.fixture(scope="module")
def s3_world(moto: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("s3srv")
    roots = ["--ingest-root", f"s3://{BUCKET}", "--ingest-root", "s3://org-cloudtrail-logs-narrow"]
    server = Server(base / "data", None, ["--job-delay", "0", "--s3-endpoint-url", moto, *roots], dict(S3_ENV))
    server.start()
    try:
        s3 = s3_client(moto)
        s3.create_bucket(Bucket=BUCKET)
        day = fx.day_start(1)
        activity = fx.account_activity(ADMIN, US, day, user="kim", role="S3Reader", seed=11,
                                       buckets=("theta-a", "theta-b"), ips=("198.51.100.110", "198.51.100.111"))
        half = len(activity.events) // 2
        objects = [fx.cloudtrail_object(ADMIN, US, activity.events[:half], day, "S3aaaaaaaaaaaaaa"),
                   fx.cloudtrail_object(ADMIN, US, activity.events[half:], day + dt.timedelta(hours=1),
                                        "S3bbbbbbbbbbbbbb"),
                   fx.flow_object(ADMIN, US, day, [("10.11.0.1", "198.51.100.112", 443)], 12)]
        for key, data, _ in objects:
            s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        s3.put_object(Bucket=BUCKET, Key="AWSLogs/", Body=b"")  # a console-made "folder"
        yield {"server": server, "arn": make_graph(server, ADMIN), "activity": activity, "objects": objects, "s3": s3}
    finally:
        server.stop()


def test_s3_source_ingests_then_skips_by_etag(s3_world: dict[str, Any]) -> None:
    server, arn, activity = s3_world["server"], s3_world["arn"], s3_world["activity"]
    summary = ingest_json(server, f"s3://{BUCKET}/AWSLogs/")
    assert (summary["objects"], summary["skipped"], summary["failed"]) == (3, 0, []), summary
    rows = {(r["account"], r["kind"]): r for r in summary["byAccount"]}
    assert rows[(ADMIN, "cloudtrail")]["events"] == len(activity.events)
    assert rows[(ADMIN, "cloudtrail")]["files"] == 2 and rows[(ADMIN, "vpcflow")]["events"] == 12
    assert summary["graphs"] == {arn: len(activity.events) + 12}
    found = by_type(entities(server, arn))
    assert found["aws_user"] == set(activity.users) and found["s3_bucket"] == set(activity.buckets)
    assert {"10.11.0.1", "198.51.100.112"} <= found["ip_address"]
    detail = server.client(ADMIN).get_members(GraphArn=arn, AccountIds=[ADMIN])["MemberDetails"][0]
    assert detail["VolumeUsageInBytes"] == sum(w.bytes for _, _, w in s3_world["objects"])

    again = ingest_json(server, f"s3://{BUCKET}/AWSLogs/")
    assert (again["objects"], again["skipped"]) == (0, 3), again
    # The ledger holds each object with its ETag.
    etags = {item["Key"]: item["ETag"].strip('"') for item in
             s3_world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="AWSLogs/")["Contents"]}
    with sqlite3.connect(server.data_dir / "gumshoe.db") as db:
        refs = {key: ref for key, ref in db.execute("SELECT key, object_ref FROM ingest_objects")}
    for key, _, _ in s3_world["objects"]:
        assert refs[key].endswith(f"|{etags[key]}"), refs[key]
    # A new version of an object (a new ETag) is a new object.
    key, _, _ = s3_world["objects"][2]
    _, data, _ = fx.flow_object(ADMIN, US, fx.day_start(1), [("10.11.0.2", "198.51.100.113", 443)], 5, seed=3)
    s3_world["s3"].put_object(Bucket=BUCKET, Key=key, Body=data)
    third = ingest_json(server, f"s3://{BUCKET}/AWSLogs/")
    assert (third["objects"], third["skipped"]) == (1, 2), third
    assert "10.11.0.2" in {e["id"] for e in entities(server, arn, kind="ip_address")}


def test_s3_object_under_a_narrower_prefix_is_not_ingested_again(s3_world: dict[str, Any]) -> None:
    server, s3 = s3_world["server"], s3_world["s3"]
    bucket = "org-cloudtrail-logs-narrow"
    s3.create_bucket(Bucket=bucket)
    day = fx.day_start(1)
    activity = fx.account_activity(ADMIN, US, day, user="lee", role="Ops", seed=13,
                                   buckets=("kappa-a", "kappa-b"), ips=("198.51.100.130", "198.51.100.131"))
    key, data, _ = fx.cloudtrail_object(ADMIN, US, activity.events, day, "NaRrOw0000000000")
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    assert ingest_json(server, f"s3://{bucket}/AWSLogs/")["objects"] == 1
    narrower = ingest_json(server, f"s3://{bucket}/AWSLogs/{ADMIN}/CloudTrail/")
    assert (narrower["objects"], narrower["skipped"]) == (0, 1), narrower


def test_s3_missing_bucket_is_a_readable_error(moto: str, tmp_path: Path) -> None:
    # Its own server: a request left hanging would hold up a graceful shutdown of a shared one.
    server = Server(tmp_path / "data", None, ["--s3-endpoint-url", moto, "--ingest-root", "s3://no-such-bucket-here"],
                    dict(S3_ENV))
    server.start()
    try:
        make_graph(server, ADMIN)
        try:
            result = gumshoe("ingest", "--endpoint-url", server.url, "s3://no-such-bucket-here/AWSLogs/", timeout=4)
        except subprocess.TimeoutExpired:
            pytest.fail("gumshoe ingest of a missing bucket did not end within 4 s")
        assert result.returncode == 1 and "no-such-bucket-here" in result.stderr, result.stderr
    finally:
        server.kill()
