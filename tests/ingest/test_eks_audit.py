"""The EKS audit log reader: JSON lines, arrays, CloudWatch shapes, stages, rejects, gzip."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pytest

from gumshoe.formats import base, eks_audit
from gumshoe.formats.base import Batch, Reject
from gumshoe.formats.eks_audit import AuditEvent

KEY = "AWSLogs/123456789012/eks/us-west-2/2024/01/15/audit.json.gz"
T0 = "2024-01-15T10:20:30.123456Z"
T0_MS = 1705314030123


def event(audit_id: str = "a1", stage: str = "ResponseComplete", **changes: Any) -> dict[str, Any]:
    """An audit event as the API server writes it; a change to None drops the field."""
    doc: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": audit_id,
        "stage": stage,
        "requestURI": "/api/v1/namespaces/prod/secrets/db-password",
        "verb": "get",
        "user": {"username": "arn:aws:iam::123456789012:role/dev", "uid": "aws-iam-authenticator:1", "groups": ["system:authenticated", "devs"]},
        "sourceIPs": ["192.0.2.10", "2001:db8::5"],
        "userAgent": "kubectl/v1.29.0 (linux/amd64)",
        "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db-password", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": T0,
        "stageTimestamp": "2024-01-15T10:20:30.200000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC"},
    }
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return doc


def dumps(doc: object) -> str:
    return json.dumps(doc, separators=(",", ":"))


def read(text: str | bytes, name: str = "audit.log") -> list[Batch[AuditEvent]]:
    data = text.encode() if isinstance(text, str) else text
    return list(eks_audit.read(io.BytesIO(data), name))


def records(batches: list[Batch[AuditEvent]]) -> list[AuditEvent]:
    return [r for b in batches for r in b.records]


def rejects(batches: list[Batch[AuditEvent]]) -> list[Reject]:
    return [r for b in batches for r in b.rejects]


def skipped(batches: list[Batch[AuditEvent]]) -> int:
    return sum(b.skipped for b in batches)


def test_module_names() -> None:
    assert eks_audit.KIND == "eks_audit"
    assert eks_audit.PACKAGE == base.EKS_AUDIT


def test_json_lines_one_record_per_request() -> None:
    complete = dumps(event())
    lines = [dumps(event(stage="RequestReceived")), dumps(event(stage="ResponseStarted")), complete]
    batches = read("\n".join(lines) + "\n", name=KEY)
    assert skipped(batches) == 2 and rejects(batches) == []
    (r,) = records(batches)
    assert r == AuditEvent(
        account_id="123456789012",
        region="us-west-2",
        time_ms=T0_MS,
        size=len(complete),
        audit_id="a1",
        stage="ResponseComplete",
        verb="get",
        request_uri="/api/v1/namespaces/prod/secrets/db-password",
        username="arn:aws:iam::123456789012:role/dev",
        groups=["system:authenticated", "devs"],
        user_agent="kubectl/v1.29.0 (linux/amd64)",
        source_ips=["192.0.2.10", "2001:db8::5"],
        resource="secrets",
        namespace="prod",
        name="db-password",
        subresource="",
        response_code=200,
        decision="allow",
        cluster="",
        impersonated_user="",
    )


def test_optional_fields_absent_and_panic_stage() -> None:
    doc = event(
        stage="Panic",
        objectRef=None,
        responseStatus=None,
        annotations=None,
        userAgent=None,
        sourceIPs=None,
        requestReceivedTimestamp=None,
        stageTimestamp="2024-01-15T12:20:30.5+02:00",
        impersonatedUser={"username": "system:serviceaccount:kube-system:deployer"},
    )
    (r,) = records(read(dumps(doc) + "\n"))
    assert (r.stage, r.response_code, r.decision, r.resource, r.namespace, r.user_agent, r.source_ips) == (
        "Panic", -1, "", "", "", "", [],
    )  # fmt: skip
    assert r.time_ms == 1705314030500  # 12:20:30.5 at +02:00 is 10:20:30.5 UTC
    assert r.impersonated_user == "system:serviceaccount:kube-system:deployer"
    assert r.account_id == "" and r.region == "" and r.cluster == ""


def test_subresource_and_nanosecond_timestamps() -> None:
    doc = event(
        verb="create",
        objectRef={"resource": "pods", "namespace": "default", "name": "web-1", "subresource": "exec"},
        requestReceivedTimestamp="2024-01-15T10:20:30.999999999Z",
    )
    (r,) = records(read(dumps(doc)))
    assert (r.resource, r.name, r.subresource, r.verb) == ("pods", "web-1", "exec", "create")
    assert r.time_ms == 1705314030999  # truncated, not rounded into the next second


def test_json_array_on_one_line() -> None:
    docs = [event("a1"), event("a2", stage="RequestReceived"), event("a3", verb="delete")]
    batches = read(dumps(docs))
    assert skipped(batches) == 1
    got = records(batches)
    assert [(r.audit_id, r.verb) for r in got] == [("a1", "get"), ("a3", "delete")]
    assert got[0].size == len(dumps(docs[0]))


def test_pretty_printed_json_array() -> None:
    docs = [event("a1"), event("a2", stage="ResponseStarted"), event("a3", user={"groups": []})]
    batches = read(json.dumps(docs, indent=2) + "\n", name=KEY)
    assert [r.audit_id for r in records(batches)] == ["a1"]
    assert skipped(batches) == 1
    (bad,) = rejects(batches)
    assert (bad.position, bad.reason) == ("record 3", "missing user.username")
    assert records(batches)[0].account_id == "123456789012"


def test_pretty_printed_single_event_and_event_list() -> None:
    (r,) = records(read(json.dumps(event("solo"), indent=2)))
    assert r.audit_id == "solo"
    listing = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [event("i1"), event("i2", verb="watch")]}
    for text in (dumps(listing) + "\n", json.dumps(listing, indent=1)):
        assert [(r.audit_id, r.verb) for r in records(read(text))] == [("i1", "get"), ("i2", "watch")]


def test_pretty_printed_objects_back_to_back() -> None:
    text = json.dumps(event("p1"), indent=2) + json.dumps(event("p2", verb="patch"), indent=2) + "\n"
    batches = read(text)
    assert [(r.audit_id, r.verb) for r in records(batches)] == [("p1", "get"), ("p2", "patch")]
    assert rejects(batches) == []


def test_pretty_printed_event_of_the_wrong_shape_is_one_reject() -> None:
    (bad,) = rejects(read(json.dumps(event(responseStatus={"code": "x"}), indent=2)))
    assert bad.position == "record 1" and bad.reason.startswith("not an audit event")


def test_pretty_printed_array_with_junk_after_it() -> None:
    batches = read(json.dumps([event("k1")], indent=2) + "\nxyz\n")
    assert [r.audit_id for r in records(batches)] == ["k1"]
    (bad,) = rejects(batches)
    assert bad.position == "record 2" and bad.reason.startswith("JSON is malformed") and bad.raw == b"xyz"


def test_json_lines_whose_first_line_is_cut_short() -> None:
    for first in ('{"kind":"Event","auditID":"x"', '{"kind":"Ev'):
        batches = read(first + "\n" + dumps(event("g1")) + "\n" + dumps(event("g2")) + "\n")
        assert [r.audit_id for r in records(batches)] == ["g1", "g2"]
        assert [(r.position, r.reason) for r in rejects(batches)] == [("line 1", "malformed JSON: Input data was truncated")]


def test_filter_log_events_output() -> None:
    doc = {"events": [{"logStreamName": "kube-apiserver-audit-1", "timestamp": 1, "message": dumps(event("f1"))}], "searchedLogStreams": []}
    assert [r.audit_id for r in records(read(json.dumps(doc, indent=2)))] == ["f1"]


def test_cloudwatch_message_lines_and_export_task_lines() -> None:
    inner = dumps(event("m1"))
    lines = [
        dumps({"timestamp": 1705314030123, "message": inner, "logStreamName": "kube-apiserver-audit-abc"}),
        "2024-01-15T10:20:30.123Z " + dumps(event("x1")),
    ]
    got = records(read("\n".join(lines) + "\n"))
    assert [(r.audit_id, r.time_ms) for r in got] == [("m1", T0_MS), ("x1", T0_MS)]
    assert got[0].size == len(inner)


def test_subscription_envelopes_give_account_and_cluster() -> None:
    envelope = {
        "messageType": "DATA_MESSAGE",
        "owner": "210987654321",
        "logGroup": "/aws/eks/prod-cluster/cluster",
        "logStream": "kube-apiserver-audit-0123456789abcdef",
        "subscriptionFilters": ["to-s3"],
        "logEvents": [
            {"id": "1", "timestamp": 1705314030123, "message": dumps(event("e1"))},
            {"id": "2", "timestamp": 1705314030123, "message": dumps(event("e2", stage="RequestReceived"))},
            {"id": "3", "timestamp": 1705314030123, "message": "I0115 10:20:30 not json"},
        ],
    }
    other = dict(envelope, logEvents=[{"id": "4", "timestamp": 1, "message": dumps(event("e4"))}])
    # one envelope per line, then two written back to back (as Firehose delivers them)
    batches = read(dumps(envelope) + "\n" + dumps(envelope) + dumps(other) + "\n", name=KEY)
    got = records(batches)
    assert [r.audit_id for r in got] == ["e1", "e1", "e4"]
    assert {(r.account_id, r.cluster, r.region) for r in got} == {("210987654321", "prod-cluster", "us-west-2")}
    assert skipped(batches) == 2
    assert [r.position for r in rejects(batches)] == ["line 1, log event 3", "line 2, value 1, log event 3"]


def test_eventbridge_detail_and_cluster_hints() -> None:
    wrapped = {"version": "0", "account": "111122223333", "region": "eu-central-1", "detail-type": "x", "detail": event("d1")}
    hinted = dict(event("c1"), annotations={"cluster": "blue"})
    named = {"clusterName": "green", "message": dumps(event("c2"))}
    got = records(read("\n".join(dumps(d) for d in (wrapped, hinted, named)), name="exports/aws/eks/orange/cluster/000000"))
    assert [(r.audit_id, r.account_id, r.region, r.cluster) for r in got] == [
        ("d1", "111122223333", "eu-central-1", "orange"),
        ("c1", "", "", "blue"),
        ("c2", "", "", "green"),
    ]
    assert got[1].decision == ""


def test_account_only_from_an_awslogs_key() -> None:
    line = dumps(event())
    assert records(read(line, name="AWSLogs/o-abc123/444455556666/eks/x.log"))[0].account_id == "444455556666"
    assert records(read(line, name="logs/123456789012/x.log"))[0].account_id == ""


def test_bad_lines_are_rejected_and_good_lines_kept() -> None:
    lines = [
        dumps(event("ok1")),
        '{"kind":"Event","auditID":',  # cut short
        "{not json at all}",
        dumps(event("no-id", auditID=None)),
        dumps(event("no-verb", verb=None)),
        dumps(event("no-user", user={"groups": ["g"]})),
        dumps(event("no-time", requestReceivedTimestamp=None, stageTimestamp=None)),
        dumps(event("bad-time", requestReceivedTimestamp="yesterday")),
        dumps(event("bad-code", responseStatus={"code": "two hundred"})),
        dumps({"kind": "Event", "apiVersion": "v1", "reason": "Scheduled"}),  # a core Event, not audit
        dumps({"Records": [{"eventVersion": "1.08"}]}),
        dumps(event("no-stage", stage=None)),
        "plain text",
        dumps(event("ok2")),
    ]
    batches = read("\n".join(lines) + "\n")
    assert [r.audit_id for r in records(batches)] == ["ok1", "ok2"]
    found = rejects(batches)
    assert [r.position for r in found] == [f"line {n}" for n in range(2, 14)]
    reasons = [r.reason for r in found]
    assert reasons[0].startswith("malformed JSON") and "truncated" in reasons[0]
    assert reasons[1].startswith("JSON is malformed")
    assert reasons[2] == "missing auditID"
    assert reasons[3] == "missing verb"
    assert reasons[4] == "missing user.username"
    assert reasons[5] == "missing requestReceivedTimestamp and stageTimestamp"
    assert reasons[6] == "not an RFC 3339 timestamp: 'yesterday'"
    assert "responseStatus.code" in reasons[7]
    assert "apiVersion 'v1'" in reasons[8]
    assert reasons[9].startswith("not a Kubernetes audit event")
    assert reasons[10] == "missing stage"
    assert reasons[11] == "the line is not JSON"
    assert found[2].raw == lines[3].encode()


def test_blank_lines_are_ignored() -> None:
    text = "\n\n" + dumps(event("b1")) + "\r\n   \n\n" + dumps(event("b2")) + "\n\n"
    batches = read(text)
    assert [r.audit_id for r in records(batches)] == ["b1", "b2"]
    assert rejects(batches) == [] and skipped(batches) == 0


@pytest.mark.parametrize("text", ["", "\n \n"])
def test_empty_object_gives_no_batches(text: str) -> None:
    assert read(text) == []


def test_truncated_gzip_yields_the_events_before_the_cut_and_one_reject() -> None:
    lines = [dumps(event(f"id-{i:05d}", requestURI=f"/api/v1/pods?n={i}")) for i in range(2000)]
    packed = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = packed[: len(packed) // 2]
    batches = list(eks_audit.read(gzip.GzipFile(fileobj=io.BytesIO(cut)), KEY))  # type: ignore[arg-type]
    got = records(batches)
    assert 0 < len(got) < len(lines)
    assert [r.audit_id for r in got] == [f"id-{i:05d}" for i in range(len(got))]
    (bad,) = rejects(batches)
    assert bad.position.startswith("byte ") and "truncated or corrupt" in bad.reason


def test_truncated_gzip_of_a_pretty_array_is_one_reject() -> None:
    packed = gzip.compress(json.dumps([event(f"p{i}") for i in range(200)], indent=2).encode())
    batches = list(eks_audit.read(gzip.GzipFile(fileobj=io.BytesIO(packed[:-40])), "x"))  # type: ignore[arg-type]
    assert records(batches) == []
    (bad,) = rejects(batches)
    assert "truncated or corrupt" in bad.reason


def test_batches_never_exceed_batch_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "BATCH_RECORDS", 3)
    lines = [dumps(event(f"n{i}")) for i in range(8)]
    lines[2] = "oops"
    envelope = {"owner": "123456789012", "logEvents": [{"message": dumps(event(f"env{i}"))} for i in range(7)]}
    batches = read("\n".join(lines) + "\n" + dumps(envelope) + "\n")
    assert all(len(b.records) + len(b.rejects) <= 3 for b in batches)
    assert [r.audit_id for r in records(batches)] == [f"n{i}" for i in range(8) if i != 2] + [f"env{i}" for i in range(7)]
    assert [r.position for r in rejects(batches)] == ["line 3"]


def test_sniff() -> None:
    assert eks_audit.sniff((dumps(event()) + "\n").encode(), "x")
    assert eks_audit.sniff(json.dumps([event()], indent=2).encode(), "x")
    assert eks_audit.sniff(dumps({"timestamp": 1, "message": dumps(event())}).encode(), "x")
    assert eks_audit.sniff(("2024-01-15T10:20:30.123Z " + dumps(event())).encode(), "x")
    cloudtrail = {"Records": [{"eventVersion": "1.08", "eventSource": "eks.amazonaws.com", "requestParameters": {"apiVersion": "audit.k8s.io/v1"}}]}
    assert not eks_audit.sniff(dumps(cloudtrail).encode(), "x")
    flow = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
    assert not eks_audit.sniff(flow, "x")
    assert not eks_audit.sniff(b'{"kind":"Pod","apiVersion":"v1"}', "x")
    assert not eks_audit.sniff(b"", "x")
