"""The pipeline against a real control store and real DuckDB graph stores: routing and
gating, exactly-once after a failure between the two stores, rejects, and the queries."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import duckdb
import orjson
import pytest
from api_harness import ADMIN, Env
from sqlalchemy import select

from gumshoe.api import datasources, graphs
from gumshoe.graph import queries
from gumshoe.graph.stores import GraphStores
from gumshoe.ingest.pipeline import Ingestor, routes
from gumshoe.store.schema import ingest_objects

MEMBER = "222222222222"
INVITED = "333333333333"
REGION = "us-east-1"
T0 = 1_793_000_000_000  # 2026-10-26


def ct_event(account, n, *, user="alice", region=REGION, time_ms=None, ip="198.51.100.1", role=None, name="ListBuckets"):
    moment = (time_ms if time_ms is not None else T0 + n * 60_000) / 1000
    when = __import__("datetime").datetime.fromtimestamp(moment, __import__("datetime").timezone.utc)
    identity = (
        {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/{user}", "accountId": account}
        if role is None else
        {"type": "AssumedRole", "arn": f"arn:aws:sts::{account}:assumed-role/{role}/s{n}", "accountId": account,
         "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/{role}"}}}
    )
    return {
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "s3.amazonaws.com", "eventName": name,
        "awsRegion": region, "sourceIPAddress": ip, "userAgent": "aws-cli/2", "eventID": f"{account}-{region}-{n}",
        "recipientAccountId": account, "userIdentity": identity,
    }


def write_trail(folder: Path, account: str, events: list[dict], *, region=REGION, name="a") -> Path:
    path = folder / "AWSLogs" / account / "CloudTrail" / region / "2026" / "10" / "26" / f"{account}_CloudTrail_{region}_{name}.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": events}).encode()))
    return path


@pytest.fixture
def world(tmp_path):
    (tmp_path / "env").mkdir()
    env = Env(tmp_path / "env", job_delay=0)
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, MEMBER, INVITED)
    env.accept(arn, MEMBER)
    stores = GraphStores(env.tmp_path / "data")
    yield env, arn, stores, tmp_path / "logs"
    stores.close()
    env.close()


def ingestor(env, stores, **kw):
    return Ingestor(env.store, stores, env.tmp_path / "data", **kw)


def api_events(stores, arn):
    with stores.get(arn).cursor() as conn:
        return conn.execute("SELECT account_id, event_id FROM api_events ORDER BY event_id").fetchall()


def test_routes_hold_the_administrator_and_enabled_members_only(world):
    env, arn, _, _ = world
    with env.store.read() as conn:
        table = routes(conn)
    assert set(table) == {ADMIN, MEMBER}
    [target] = table[MEMBER]
    assert target.graph_arn == arn and target.region == REGION
    assert target.packages == {"DETECTIVE_CORE", "EKS_AUDIT"}


def test_records_enter_the_graphs_of_their_account_and_region_only(world):
    env, arn, stores, logs = world
    write_trail(logs, ADMIN, [ct_event(ADMIN, i) for i in range(3)])
    write_trail(logs, MEMBER, [ct_event(MEMBER, i) for i in range(2)])
    write_trail(logs, INVITED, [ct_event(INVITED, i) for i in range(4)])
    write_trail(logs, MEMBER, [ct_event(MEMBER, 9, region="eu-west-1")], region="eu-west-1")
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.objects == 4 and summary.failed == []
    rows = api_events(stores, arn)
    assert sorted({a for a, _ in rows}) == [ADMIN, MEMBER] and len(rows) == 5
    tallies = {(a, k): t for (a, k), t in summary.tallies.items()}
    assert tallies[(INVITED, "cloudtrail")].events == 4 and tallies[(INVITED, "cloudtrail")].unrouted == 4
    assert tallies[(MEMBER, "cloudtrail")].unrouted == 1  # the eu-west-1 event
    assert summary.graphs[arn] == 5


def test_volume_reaches_member_details_once_and_a_rerun_changes_nothing(world):
    env, arn, stores, logs = world
    write_trail(logs, MEMBER, [ct_event(MEMBER, i) for i in range(10)])
    ingestor(env, stores).run([str(logs)])
    detail = env.member(arn, ADMIN, MEMBER)
    assert detail["VolumeUsageInBytes"] > 0
    assert set(detail["VolumeUsageByDatasourcePackage"]) == {"DETECTIVE_CORE"}
    again = ingestor(env, stores).run([str(logs)])
    assert (again.objects, again.skipped) == (0, 1)
    assert env.member(arn, ADMIN, MEMBER)["VolumeUsageInBytes"] == detail["VolumeUsageInBytes"]
    assert "VolumeUsageInBytes" not in env.member(arn, ADMIN, INVITED)


def test_a_failure_between_the_stores_is_completed_on_the_next_run(world, monkeypatch):
    """The graph committed, the control store did not: nothing doubles, nothing is lost."""
    env, arn, stores, logs = world
    write_trail(logs, ADMIN, [ct_event(ADMIN, i) for i in range(7)])
    first = ingestor(env, stores)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(first, "_finish", crash)
    summary = first.run([str(logs)])
    assert len(summary.failed) == 1 and "disk full" in summary.failed[0]
    assert len(api_events(stores, arn)) == 7
    assert "VolumeUsageInBytes" not in env.member(arn, ADMIN, ADMIN)
    monkeypatch.undo()
    second = ingestor(env, stores).run([str(logs)])
    assert second.objects == 1 and second.failed == []
    assert len(api_events(stores, arn)) == 7  # not loaded twice
    expected = sum(len(json.dumps(ct_event(ADMIN, i))) for i in range(7))
    assert env.member(arn, ADMIN, ADMIN)["VolumeUsageInBytes"] == pytest.approx(expected, rel=0.1)


def test_a_failure_inside_a_graph_load_leaves_nothing_of_the_object(world, monkeypatch):
    env, arn, stores, logs = world
    write_trail(logs, ADMIN, [ct_event(ADMIN, i) for i in range(5)])
    from gumshoe.graph import store as store_module

    def broken(*args, **kwargs):
        raise duckdb.IOException("cannot write")

    monkeypatch.setattr(store_module, "_fresh", broken)
    assert len(ingestor(env, stores).run([str(logs)]).failed) == 1
    monkeypatch.undo()
    assert api_events(stores, arn) == []
    ingestor(env, stores).run([str(logs)])
    assert len(api_events(stores, arn)) == 5


def test_after_enabled_takes_only_events_after_the_account_joined(world):
    env, arn, stores, logs = world
    joined = env.member(arn, ADMIN, MEMBER)
    assert joined["Status"] == "ENABLED"
    now = int(__import__("time").time() * 1000)
    write_trail(logs, MEMBER, [ct_event(MEMBER, 1, time_ms=now - 86_400_000), ct_event(MEMBER, 2, time_ms=now + 60_000)])
    ingestor(env, stores, after_enabled=True).run([str(logs)])
    assert [e for _, e in api_events(stores, arn)] == [f"{MEMBER}-{REGION}-2"]


def test_a_stopped_package_takes_nothing_and_a_started_one_does(world, tmp_path):
    env, arn, stores, logs = world
    finding = {"SchemaVersion": "2018-10-08", "Id": "f-1", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/inspector",
               "GeneratorId": "g", "AwsAccountId": ADMIN, "Region": REGION, "Types": ["Software and Configuration Checks"],
               "CreatedAt": "2026-10-26T10:00:00Z", "UpdatedAt": "2026-10-26T10:00:00Z", "Severity": {"Label": "HIGH"},
               "Title": "t", "Description": "d", "Resources": [{"Type": "AwsEc2Instance", "Id": "i-1"}]}
    logs.mkdir(parents=True)
    (logs / "findings.json").write_bytes(json.dumps({"Findings": [finding]}).encode())
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.tallies[(ADMIN, "asff")].unrouted == 1  # ASFF_SECURITYHUB_FINDING starts DISABLED
    env.call(datasources.update_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]})
    (logs / "findings2.json").write_bytes(json.dumps({"Findings": [{**finding, "Id": "f-2"}]}).encode())
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.tallies[(ADMIN, "asff")].unrouted == 0
    with stores.get(arn).cursor() as conn:
        assert conn.execute("SELECT id FROM sh_findings").fetchall() == [("f-2",)]


def test_rejects_are_set_aside_with_their_reason_and_objects_of_no_known_format_are_skipped(world):
    env, arn, stores, logs = world
    logs.mkdir(parents=True)
    good = json.dumps(ct_event(ADMIN, 1)).encode()
    (logs / "events.jsonl").write_bytes(good + b"\n{broken\n" + json.dumps(ct_event(ADMIN, 2)).encode() + b"\n")
    (logs / "README").write_text("these are our logs\n")
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.objects == 2
    assert summary.tallies[(ADMIN, "cloudtrail")].rejects + summary.tallies[("", "cloudtrail")].rejects == 1
    assert len(api_events(stores, arn)) == 2
    [reject_file] = (env.tmp_path / "data" / "rejects").glob("*.jsonl")
    [entry] = [orjson.loads(line) for line in reject_file.read_bytes().splitlines()]
    assert entry["key"] == "events.jsonl" and entry["position"] == "line 2" and entry["raw"] == "{broken"
    assert "malformed JSON" in entry["reason"]
    assert ingestor(env, stores).run([str(logs)]).skipped == 2  # the README too: it is in the ledger


def test_deleting_a_graph_deletes_its_store(world):
    env, arn, stores, logs = world
    write_trail(logs, ADMIN, [ct_event(ADMIN, 1)])
    ingestor(env, stores).run([str(logs)])
    path = stores.path(arn)
    assert path.exists()
    env.services.on_graph_deleted.append(stores.drop)
    env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})
    assert not path.exists()


def test_entities_and_a_role_profile_sum_its_sessions(world):
    env, arn, stores, logs = world
    events = [ct_event(ADMIN, i, role="Deploy", ip=f"198.51.100.{i % 2}") for i in range(4)]
    events += [ct_event(ADMIN, 10, user="bob", name="GetObject")]
    write_trail(logs, ADMIN, events)
    ingestor(env, stores).run([str(logs)])
    store = stores.get(arn)
    listed = queries.list_entities(store)
    by_type = {}
    for e in listed:
        by_type.setdefault(e["type"], set()).add(e["id"])
    role = f"arn:aws:iam::{ADMIN}:role/Deploy"
    assert by_type["aws_role"] == {role}
    assert len(by_type["role_session"]) == 4
    assert by_type["aws_user"] == {f"arn:aws:iam::{ADMIN}:user/bob"}
    assert by_type["ip_address"] == {"198.51.100.0", "198.51.100.1"}
    assert queries.list_entities(store, "ip_address") == [e for e in listed if e["type"] == "ip_address"]
    profile = queries.profile(store, role, T0 - 3_600_000, T0 + 86_400_000)
    assert profile["sessions"] == 4
    assert profile["panels"]["api"][0]["value"] == "s3.amazonaws.com:ListBuckets"
    assert profile["panels"]["api"][0]["success"] == 4
    assert {r["value"]: r["success"] for r in profile["panels"]["ip_address"]} == {"198.51.100.0": 2, "198.51.100.1": 2}
    outside = queries.profile(store, role, T0 + 10 * 86_400_000, T0 + 11 * 86_400_000)
    assert outside["panels"] == {}
    assert queries.profile(store, "arn:aws:iam::1:user/nobody", 0, T0) is None


def test_compaction_keeps_every_answer(world):
    env, arn, stores, logs = world
    for part in range(3):
        # The same calls in the same hours, each part its own events (copies would be skipped).
        events = [{**ct_event(ADMIN, i, role="Deploy" if i % 3 else None, ip=f"198.51.100.{i % 5}"), "eventID": f"{part}-{i}"}
                  for i in range(40)]
        write_trail(logs, ADMIN, events, name=f"part{part}")
        ingestor(env, stores).run([str(logs)])  # three loads: partial rows to sum
    store = stores.get(arn)
    role = f"arn:aws:iam::{ADMIN}:role/Deploy"
    user = f"arn:aws:iam::{ADMIN}:user/alice"
    before = (queries.list_entities(store), queries.profile(store, role, 0, T0 * 2), queries.profile(store, user, 0, T0 * 2))
    with store.cursor() as conn:
        rows_before = conn.execute("SELECT count(*) FROM hourly").fetchone()[0]
    assert store.compact(force=True)
    with store.cursor() as conn:
        assert conn.execute("SELECT count(*) FROM hourly").fetchone()[0] < rows_before
    after = (queries.list_entities(store), queries.profile(store, role, 0, T0 * 2), queries.profile(store, user, 0, T0 * 2))
    assert after == before
    assert not store.compact()  # nothing new since


def test_logs_read_before_a_graph_or_member_existed_enter_it_later(tmp_path):
    """`gumshoe serve --source logs`, then create a graph, then enable a member: nothing is lost."""
    (tmp_path / "env").mkdir()
    env = Env(tmp_path / "env", job_delay=0)
    stores = GraphStores(env.tmp_path / "data")
    logs = tmp_path / "logs"
    write_trail(logs, ADMIN, [ct_event(ADMIN, i) for i in range(3)])
    write_trail(logs, MEMBER, [ct_event(MEMBER, i) for i in range(2)])
    try:
        watcher = ingestor(env, stores)  # one long-lived ingestor, as the server's watch thread
        first = watcher.run([str(logs)])
        assert first.objects == 2 and first.graphs == {}
        arn = env.graph(ADMIN)
        second = watcher.run([str(logs)])
        assert (second.objects, second.skipped) == (1, 1)  # only the administrator's file is read again
        assert len(api_events(stores, arn)) == 3
        assert watcher.run([str(logs)]).skipped == 2  # nothing changed: nothing read
        env.invite(arn, ADMIN, MEMBER)
        env.accept(arn, MEMBER)
        third = watcher.run([str(logs)])
        assert third.objects == 1 and third.graphs == {arn: 2}
        assert sorted(a for a, _ in api_events(stores, arn)) == [ADMIN] * 3 + [MEMBER] * 2
        assert env.member(arn, ADMIN, MEMBER)["VolumeUsageInBytes"] > 0
        assert ingestor(env, stores).run([str(logs)]).skipped == 2  # a fresh process agrees
    finally:
        stores.close()
        env.close()


def test_eks_audit_events_become_cluster_and_kubernetes_user_entities(world):
    env, arn, stores, logs = world
    folder = logs / "AWSLogs" / ADMIN / "eks" / REGION
    folder.mkdir(parents=True)
    events = [
        {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"a-{i}", "stage": "ResponseComplete",
         "requestURI": "/api/v1/namespaces/default/secrets", "verb": "list",
         "user": {"username": "kubernetes-admin", "groups": ["system:masters"]}, "sourceIPs": ["203.0.113.9"],
         "userAgent": "kubectl/v1.29.0", "objectRef": {"resource": "secrets", "namespace": "default"},
         "responseStatus": {"code": 200 if i else 403}, "requestReceivedTimestamp": "2026-10-26T10:00:00.000000Z",
         "stageTimestamp": "2026-10-26T10:00:00.100000Z", "annotations": {"authorization.k8s.io/decision": "allow"}}
        for i in range(3)
    ]
    (folder / "audit.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.tallies[(ADMIN, "eks_audit")].events == 3
    store = stores.get(arn)
    found = {(e["type"], e["id"]) for e in queries.list_entities(store)}
    assert ("kubernetes_user", "kubernetes-admin") in found and ("ip_address", "203.0.113.9") in found
    profile = queries.profile(store, "kubernetes-admin", T0 - 86_400_000, T0 + 86_400_000)
    [calls] = profile["panels"]["kubernetes_api"]
    assert (calls["value"], calls["success"], calls["failure"]) == ("list secrets", 2, 1)


def test_links_added_after_a_compaction_are_still_found_from_both_ends(world):
    env, arn, stores, logs = world
    write_trail(logs, ADMIN, [ct_event(ADMIN, i, role="Deploy") for i in range(3)], name="early")
    ingestor(env, stores).run([str(logs)])
    store = stores.get(arn)
    assert store.compact(force=True)
    write_trail(logs, ADMIN, [ct_event(ADMIN, 10 + i, role="Deploy") for i in range(2)], name="late")
    ingestor(env, stores).run([str(logs)])  # too few rows to compact again
    role = f"arn:aws:iam::{ADMIN}:role/Deploy"
    profile = queries.profile(store, role, 0, T0 * 2)
    assert profile["sessions"] == 5
    incoming = {r["id"] for r in profile["related"] if r["direction"] == "in" and r["kind"] == "session_of"}
    assert len(incoming) == 5


# --- line files that grow: read in parts ------------------------------------------------------

WATCH = {"settle_seconds": 2.0, "tail_settle_seconds": 30.0}  # what the server's watch passes


def lines_of(events: list[dict]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def append(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        out.write(data)


def volume(env, arn, account=ADMIN):
    return env.member(arn, ADMIN, account).get("VolumeUsageInBytes", 0)


def ledger_rows(env):
    c = ingest_objects.c
    with env.store.read() as conn:
        return conn.execute(select(c.object_ref, c.stream, c.size, c.records).order_by(c.object_ref)).all()


def test_a_growing_json_lines_file_is_read_on_from_where_it_was_left(world):
    env, arn, stores, logs = world
    path = logs / "guardduty-export.jsonl"
    events = [ct_event(ADMIN, i) for i in range(9)]
    append(path, lines_of(events[:3]))
    first = ingestor(env, stores).run([str(logs)])
    assert (first.objects, first.tallies[(ADMIN, "cloudtrail")].events) == (1, 3)
    before = volume(env, arn)
    append(path, lines_of(events[3:5]))
    second = ingestor(env, stores).run([str(logs)])
    assert (second.objects, second.tallies[(ADMIN, "cloudtrail")].events) == (1, 2)
    # Volume counts the new lines only; the ledger's size is the offset read through.
    assert volume(env, arn) - before == sum(len(json.dumps(e)) for e in events[3:5])
    append(path, lines_of(events[5:]))
    ingestor(env, stores).run([str(logs)])
    assert [e for _, e in api_events(stores, arn)] == sorted(e["eventID"] for e in events)
    assert volume(env, arn) == sum(len(json.dumps(e)) for e in events)
    again = ingestor(env, stores).run([str(logs)])
    assert (again.objects, again.skipped) == (0, 1)
    rows = ledger_rows(env)
    assert [r.stream for r in rows] == [str(path.resolve())] * 3
    assert max(r.size for r in rows) == path.stat().st_size
    assert sum(r.records for r in rows) == 9


def test_a_last_line_without_its_newline_waits_for_it(world):
    env, arn, stores, logs = world
    path = logs / "trail.jsonl"
    events = [ct_event(ADMIN, i) for i in range(3)]
    third = json.dumps(events[2]).encode()
    append(path, lines_of(events[:2]) + third[:40])
    watch = ingestor(env, stores)
    assert watch.run([str(logs)], **WATCH).tallies[(ADMIN, "cloudtrail")].events == 2
    assert watch.run([str(logs)], **WATCH).skipped == 1  # the cut line is not read
    append(path, third[40:] + b"\n")
    summary = watch.run([str(logs)], **WATCH)
    assert summary.tallies[(ADMIN, "cloudtrail")].events == 1 and summary.tallies[(ADMIN, "cloudtrail")].rejects == 0
    assert len(api_events(stores, arn)) == 3
    assert not (env.tmp_path / "data" / "rejects").exists()


def test_a_last_line_without_its_newline_is_read_once_the_file_has_settled(world):
    env, arn, stores, logs = world
    path = logs / "trail.jsonl"
    events = [ct_event(ADMIN, i) for i in range(3)]
    append(path, lines_of(events[:2]) + json.dumps(events[2]).encode())
    watch = ingestor(env, stores)
    assert watch.run([str(logs)], **WATCH).tallies[(ADMIN, "cloudtrail")].events == 2
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    assert watch.run([str(logs)], **WATCH).tallies[(ADMIN, "cloudtrail")].events == 1
    assert len(api_events(stores, arn)) == 3
    # `gumshoe ingest` reads it at once.
    other = logs / "other.jsonl"
    append(other, json.dumps(ct_event(ADMIN, 7)).encode())
    assert watch.run([str(other)]).tallies[(ADMIN, "cloudtrail")].events == 1


def test_a_file_still_being_written_gives_its_complete_lines_and_a_gzip_file_waits(world):
    env, arn, stores, logs = world
    append(logs / "now.jsonl", lines_of([ct_event(ADMIN, 1)]))
    write_trail(logs, ADMIN, [ct_event(ADMIN, 2)])
    summary = ingestor(env, stores).run([str(logs)], **WATCH)
    assert (summary.objects, summary.skipped) == (1, 0)  # the gzip file is not even counted yet
    assert [e for _, e in api_events(stores, arn)] == [f"{ADMIN}-{REGION}-1"]


def test_a_truncated_or_rotated_file_is_read_from_its_start(world):
    env, arn, stores, logs = world
    path = logs / "audit.jsonl"
    append(path, lines_of([ct_event(ADMIN, i) for i in range(5)]))
    ingestor(env, stores).run([str(logs)])
    path.write_bytes(lines_of([ct_event(ADMIN, i) for i in (10, 11)]))  # smaller than the offset read
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.tallies[(ADMIN, "cloudtrail")].events == 2
    assert len(api_events(stores, arn)) == 7
    rows = ledger_rows(env)
    assert [(r.stream != "", r.records) for r in sorted(rows, key=lambda r: r.records)] == [(True, 2), (False, 5)]
    append(path, lines_of([ct_event(ADMIN, 12)]))  # and it goes on from there
    assert ingestor(env, stores).run([str(logs)]).tallies[(ADMIN, "cloudtrail")].events == 1
    assert len(api_events(stores, arn)) == 8


def test_a_file_replaced_by_another_of_the_same_size_is_read_again(world):
    env, arn, stores, logs = world
    path = logs / "audit.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(lines_of([ct_event(ADMIN, i) for i in (1, 2, 3)]))
    ingestor(env, stores).run([str(logs)])
    replacement = lines_of([ct_event(ADMIN, i) for i in (4, 5, 6)])
    assert len(replacement) == path.stat().st_size
    path.write_bytes(replacement)
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.tallies[(ADMIN, "cloudtrail")].events == 3
    assert [e for _, e in api_events(stores, arn)] == [f"{ADMIN}-{REGION}-{i}" for i in range(1, 7)]


def test_gzip_files_and_json_documents_are_read_whole(world):
    env, arn, stores, logs = world
    logs.mkdir(parents=True)
    packed, document = logs / "trail.jsonl.gz", logs / "delivery.json"
    packed.write_bytes(gzip.compress(lines_of([ct_event(ADMIN, i) for i in range(3)])))
    document.write_bytes(json.dumps({"Records": [ct_event(ADMIN, i) for i in (10, 11)]}).encode() + b"\n")
    ingestor(env, stores).run([str(logs)])
    # A new version of each (a longer one) is a new object, read in full, as before.
    packed.write_bytes(gzip.compress(lines_of([ct_event(ADMIN, i) for i in range(5)])))
    document.write_bytes(json.dumps({"Records": [ct_event(ADMIN, i) for i in (10, 11, 12)]}).encode() + b"\n")
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.objects == 2 and summary.tallies[(ADMIN, "cloudtrail")].events == 8
    # The events both versions hold are in the graph once (CloudTrail's eventID).
    assert len(api_events(stores, arn)) == 8 and summary.duplicates == {arn: 5} and summary.graphs == {arn: 3}
    assert {r.stream for r in ledger_rows(env)} == {""}


@pytest.mark.parametrize("restarted", [True, False], ids=["next process", "same process"])
def test_a_failure_between_the_stores_keeps_the_part_it_loaded(world, monkeypatch, restarted):
    """The graph committed a part, the ledger did not, and the file grew meanwhile: the next
    run takes that same part again (the graph has it), then the lines after it."""
    env, arn, stores, logs = world
    path = logs / "audit.jsonl"
    events = [ct_event(ADMIN, i) for i in range(6)]
    append(path, lines_of(events[:4]))
    first = ingestor(env, stores)
    monkeypatch.setattr(first, "_finish", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    assert len(first.run([str(logs)]).failed) == 1
    monkeypatch.undo()
    assert len(api_events(stores, arn)) == 4
    append(path, lines_of(events[4:]))
    second = (ingestor(env, stores) if restarted else first).run([str(logs)])
    assert second.failed == [] and second.objects == 2
    assert [e for _, e in api_events(stores, arn)] == sorted(e["eventID"] for e in events)
    assert volume(env, arn) == sum(len(json.dumps(e)) for e in events)
    assert ingestor(env, stores).run([str(logs)]).skipped == 1


def test_parts_read_before_an_account_joined_enter_its_graph_later(world):
    env, arn, stores, logs = world
    path = logs / "audit.jsonl"
    events = [ct_event(INVITED, i) for i in range(5)]
    watcher = ingestor(env, stores)
    append(path, lines_of(events[:2]))
    watcher.run([str(logs)])
    append(path, lines_of(events[2:]))
    watcher.run([str(logs)])
    assert api_events(stores, arn) == []
    env.accept(arn, INVITED)
    summary = watcher.run([str(logs)])
    assert summary.objects == 2 and summary.graphs == {arn: 5}
    assert [e for _, e in api_events(stores, arn)] == sorted(e["eventID"] for e in events)
    assert watcher.run([str(logs)]).skipped == 1


def test_a_flow_log_part_is_read_in_the_layout_of_the_file_header(world):
    env, arn, stores, logs = world
    path = logs / "AWSLogs" / ADMIN / "vpcflowlogs" / REGION / "flows.log"
    header = b"account-id action bytes dstaddr dstport end interface-id log-status packets protocol srcaddr srcport start version\n"

    def row(n):
        start = T0 // 1000 + n * 60
        return f"{ADMIN} ACCEPT {100 + n} 198.51.100.9 443 {start + 60} eni-1 OK 1 6 10.0.0.{n} 5000{n} {start} 5\n".encode()

    append(path, header + row(1) + row(2))
    ingestor(env, stores).run([str(logs)])
    append(path, row(3) + b"not a flow row\n" + row(4))
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.tallies[(ADMIN, "vpcflow")].events == 2
    with stores.get(arn).cursor() as conn:
        flows = conn.execute("SELECT src_addr, bytes FROM flows ORDER BY src_addr").fetchall()
    assert flows == [(f"10.0.0.{n}", 100 + n) for n in range(1, 5)]
    [reject_file] = (env.tmp_path / "data" / "rejects").glob("*.jsonl")
    [entry] = [orjson.loads(line) for line in reject_file.read_bytes().splitlines()]
    assert entry["position"] == f"line 2 from byte {len(header + row(1) + row(2))}"


def test_an_object_that_cannot_be_read_is_ledgered_as_failed_and_not_read_every_poll(world, monkeypatch, caplog):
    """A reader failing on an object as a whole (no input does that once every record is a
    reject: stood in for by a reader that raises): one log line, a failed ledger row, no
    retry until the object changes or the failures are retried (a reload)."""
    from gumshoe.formats import cloudtrail

    env, arn, stores, logs = world
    path = write_trail(logs, ADMIN, [ct_event(ADMIN, i) for i in range(3)])
    calls = []
    real_read = cloudtrail.read

    def broken(stream, name, limits=None):
        calls.append(name)
        raise RuntimeError("the reader broke")
        yield  # a generator, as readers are

    monkeypatch.setattr(cloudtrail, "read", broken)
    run = ingestor(env, stores)
    first = run.run([str(logs)])
    assert len(first.failed) == 1 and "RuntimeError: the reader broke" in first.failed[0]
    warnings = [r for r in caplog.records if "could not read" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None  # one line, no traceback
    with env.store.read() as conn:
        failure = conn.execute(select(ingest_objects.c.failure)).scalar_one()
    assert "the reader broke" in failure
    second = run.run([str(logs)])  # the next poll
    assert len(calls) == 1 and second.failed == [] and len(second.failed_before) == 1
    assert second.skipped == 1

    monkeypatch.setattr(cloudtrail, "read", real_read)
    assert run.retry_failed() == 1  # what a reload does
    third = run.run([str(logs)])
    assert third.objects == 1 and third.failed == [] and len(api_events(stores, arn)) == 3

    # A changed object is a new version: read again without a reload.
    monkeypatch.setattr(cloudtrail, "read", broken)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert len(run.run([str(logs)]).failed) == 1 and len(calls) == 2


def test_a_line_file_larger_than_the_object_limit_is_read_in_parts_within_it(world):
    """A plain line file is read in parts of at most max_object_bytes, each ending after a
    complete line, all in one run: nothing cut, nothing lost, memory bounded per part."""
    env, arn, stores, logs = world
    lines = [json.dumps(ct_event(ADMIN, i)) for i in range(40)]
    path = logs / "AWSLogs" / ADMIN / "CloudTrail" / REGION / "events.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    limit = len(lines[0]) * 7 + 20  # about seven lines a part
    summary = ingestor(env, stores, max_object_bytes=limit).run([str(logs)])
    assert summary.failed == [] and summary.objects >= 40 // 7
    assert sum(t.rejects for t in summary.tallies.values()) == 0
    assert len(api_events(stores, arn)) == 40
    with env.store.read() as conn:
        sizes = [end for (end,) in conn.execute(select(ingest_objects.c.size).order_by(ingest_objects.c.size))]
    assert len(sizes) == summary.objects and sizes[-1] == path.stat().st_size
    assert all(b - a <= limit for a, b in zip([0, *sizes], sizes, strict=False))


# --- duplicates (CloudTrail's eventID) --------------------------------------------------


def test_a_trail_copied_into_two_folders_counts_once_in_events_panels_and_volume(world):
    env, arn, stores, logs = world
    events = [ct_event(ADMIN, i, ip=f"198.51.100.{i % 2}") for i in range(6)]
    write_trail(logs / "trail", ADMIN, events)
    ingestor(env, stores).run([str(logs / "trail")])
    once = env.member(arn, ADMIN, ADMIN)["VolumeUsageInBytes"]
    profile_once = queries.profile(stores.get(arn), f"arn:aws:iam::{ADMIN}:user/alice", T0 - 3_600_000, T0 + 86_400_000)

    write_trail(logs / "copy", ADMIN, events)  # the same trail in another folder
    write_trail(logs / "copy", ADMIN, events[:2], name="again")  # and delivered twice there
    summary = ingestor(env, stores).run([str(logs / "copy")])

    assert summary.objects == 2 and summary.tallies[(ADMIN, "cloudtrail")].events == 8  # all read
    assert summary.duplicates == {arn: 8} and summary.graphs.get(arn, 0) == 0
    assert summary.to_json()["duplicates"] == {arn: 8}
    assert len(api_events(stores, arn)) == 6
    assert env.member(arn, ADMIN, ADMIN)["VolumeUsageInBytes"] == once
    store = stores.get(arn)
    store.compact(force=True)  # the sums, compacted, are those of one copy
    assert queries.profile(store, f"arn:aws:iam::{ADMIN}:user/alice", T0 - 3_600_000, T0 + 86_400_000) == profile_once


def test_copies_inside_one_load_are_kept_once_and_events_without_an_id_all_kept(world):
    env, arn, stores, logs = world
    no_id = [{k: v for k, v in ct_event(ADMIN, i).items() if k != "eventID"} for i in (7, 8)]
    write_trail(logs, ADMIN, [ct_event(ADMIN, 1), ct_event(ADMIN, 1), *no_id, *no_id], name="a")
    write_trail(logs, ADMIN, [ct_event(ADMIN, 1), ct_event(ADMIN, 2)], name="b")
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.duplicates == {arn: 2} and summary.graphs == {arn: 6}
    assert sorted(e for _, e in api_events(stores, arn)) == ["", "", "", "", f"{ADMIN}-{REGION}-1", f"{ADMIN}-{REGION}-2"]


def test_the_same_event_id_in_another_account_is_another_event(world):
    env, arn, stores, logs = world
    write_trail(logs, ADMIN, [ct_event(ADMIN, 1)])
    write_trail(logs, MEMBER, [{**ct_event(MEMBER, 1), "eventID": f"{ADMIN}-{REGION}-1"}])
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.duplicates == {} and summary.graphs == {arn: 2}
    assert sorted(api_events(stores, arn)) == [(ADMIN, f"{ADMIN}-{REGION}-1"), (MEMBER, f"{ADMIN}-{REGION}-1")]


def test_a_compaction_that_fails_leaves_the_run_and_its_loads_as_they_are(world, monkeypatch):
    env, arn, stores, logs = world
    write_trail(logs, ADMIN, [ct_event(ADMIN, i) for i in range(4)])
    from gumshoe.graph.store import GraphStore

    def out_of_memory(self, force=False):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")

    monkeypatch.setattr(GraphStore, "compact", out_of_memory)
    summary = ingestor(env, stores).run([str(logs)])
    assert summary.failed == [] and summary.graphs == {arn: 4}
    assert len(api_events(stores, arn)) == 4
