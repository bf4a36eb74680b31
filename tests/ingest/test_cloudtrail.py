"""The CloudTrail reader: every delivery form, every identity type, the links it draws,
and what happens to records and objects it cannot read."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from gumshoe.formats import base, cloudtrail

ACCOUNT = "111122223333"
OTHER = "444455556666"
DATASET = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "invictus-ir-cloudtrail"


def event(name="ListBuckets", source="s3.amazonaws.com", identity=None, **extra):
    record = {
        "eventVersion": "1.08",
        "userIdentity": identity or iam_user("alice"),
        "eventTime": "2026-11-02T10:15:30Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "eventID": "e-1",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }
    record.update(extra)
    return record


def iam_user(name, account=ACCOUNT):
    return {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": f"arn:aws:iam::{account}:user/{name}",
            "accountId": account, "accessKeyId": "AKIAEXAMPLE", "userName": name}


def assumed_role(role, session, account=ACCOUNT, mfa="false"):
    return {
        "type": "AssumedRole", "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": f"arn:aws:iam::{account}:role/{role}",
                              "accountId": account, "userName": role},
            "attributes": {"creationDate": "2026-11-02T10:00:00Z", "mfaAuthenticated": mfa},
        },
    }


def read(data: bytes, name="file.json"):
    records, rejects, batches = [], [], 0
    for batch in cloudtrail.read(io.BytesIO(data), name):
        batches += 1
        records += batch.records
        rejects += batch.rejects
    return records, rejects, batches


def delivery(*records):
    return json.dumps({"Records": list(records)}).encode()


# --- Forms ------------------------------------------------------------------------------------


def test_a_delivery_file_gives_one_event_per_record_with_its_fields():
    records, rejects, _ = read(delivery(event(), event("GetObject", errorCode="AccessDenied", readOnly=False)))
    assert rejects == []
    first, second = records
    assert first.account_id == ACCOUNT and first.region == "eu-west-1"
    assert first.time_ms == 1793614530000  # 2026-11-02T10:15:30Z
    assert (first.event_source, first.event_name, first.error_code, first.read_only) == ("s3.amazonaws.com", "ListBuckets", "", True)
    assert (first.source_ip, first.user_agent, first.event_id) == ("203.0.113.7", "aws-cli/2.15.0", "e-1")
    assert first.principal_type == "aws_user" and first.principal_id == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert first.access_key_id == "AKIAEXAMPLE"
    assert second.error_code == "AccessDenied" and second.read_only is False
    assert first.size > 0


def test_json_arrays_lines_and_eventbridge_envelopes_are_read_alike():
    plain = [event("A"), event("B")]
    envelope = {"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
                "account": ACCOUNT, "time": "2026-11-02T10:15:30Z", "region": "eu-west-1", "detail": event("C")}
    as_array, r1, _ = read(json.dumps(plain).encode())
    as_lines, r2, _ = read(b"\n".join(json.dumps(e).encode() for e in plain) + b"\n")
    enveloped, r3, _ = read((json.dumps(envelope) + "\n" + json.dumps([envelope, envelope])).encode())
    assert r1 == r2 == r3 == []
    assert [e.event_name for e in as_array] == [e.event_name for e in as_lines] == ["A", "B"]
    assert [e.event_name for e in enveloped] == ["C", "C", "C"]


def test_gzip_is_the_callers_business_but_a_gzip_delivery_reads_after_decompression():
    data = gzip.compress(delivery(event()))
    records, rejects, _ = read(gzip.GzipFile(fileobj=io.BytesIO(data)).read())
    assert len(records) == 1 and rejects == []


# --- Identities ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (iam_user("bob"), ("aws_user", f"arn:aws:iam::{ACCOUNT}:user/bob")),
        ({"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT},
         ("aws_user", f"arn:aws:iam::{ACCOUNT}:root")),
        ({"type": "Root", "principalId": ACCOUNT, "accountId": ACCOUNT}, ("aws_user", f"arn:aws:iam::{ACCOUNT}:root")),
        (assumed_role("Admin", "carol"), ("role_session", f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/carol")),
        ({"type": "FederatedUser", "principalId": f"{ACCOUNT}:dave", "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/dave",
          "accountId": ACCOUNT}, ("federated_user", f"arn:aws:sts::{ACCOUNT}:federated-user/dave")),
        ({"type": "SAMLUser", "principalId": "SAMPLE:erin", "userName": "erin"}, ("federated_user", "SAMLUser:SAMPLE:erin")),
        ({"type": "WebIdentityUser", "principalId": "accounts.google.com:123", "userName": "123"},
         ("federated_user", "WebIdentityUser:accounts.google.com:123")),
        ({"type": "IdentityCenterUser", "accountId": ACCOUNT, "onBehalfOf": {"userId": "u-42", "identityStoreArn": "x"}},
         ("federated_user", "IdentityCenterUser:u-42")),
        ({"type": "AWSAccount", "principalId": "AIDAOTHER", "accountId": OTHER}, ("aws_account", OTHER)),
        ({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}, ("", "")),
    ],
)
def test_every_identity_type_names_its_principal(identity, expected):
    [record], rejects, _ = read(delivery(event(identity=identity)))
    assert rejects == []
    assert (record.principal_type, record.principal_id) == expected
    assert record.identity_type == identity["type"]
    assert record.account_id == ACCOUNT


def test_a_role_session_knows_its_role_session_name_and_mfa():
    [record], _, _ = read(delivery(event(identity=assumed_role("Ops", "frank", mfa="true"))))
    assert record.role_arn == f"arn:aws:iam::{ACCOUNT}:role/Ops"
    assert record.session_name == "frank" and record.mfa is True and record.instance_id == ""


def test_instance_credentials_link_the_session_to_the_instance():
    [record], _, _ = read(delivery(event(identity=assumed_role("WebServer", "i-0abc1234def567890"))))
    assert record.instance_id == "i-0abc1234def567890"


def test_assume_role_names_the_role_and_the_session_it_started():
    call = event(
        "AssumeRole", "sts.amazonaws.com",
        requestParameters={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/Admin", "roleSessionName": "x"},
        responseElements={"assumedRoleUser": {"assumedRoleId": "AROA:x", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/x"},
                          "credentials": {"accessKeyId": "ASIA..."}},
    )
    [record], _, _ = read(delivery(call))
    assert record.target_role_arn == f"arn:aws:iam::{ACCOUNT}:role/Admin"
    assert record.target_session_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/x"


def test_console_login_bucket_instance_and_address_forms():
    login = event("ConsoleLogin", "signin.amazonaws.com", responseElements={"ConsoleLogin": "Failure"},
                  errorMessage="Failed authentication", sourceIPAddress="2001:db8::7")
    s3 = event("GetObject", requestParameters={"bucketName": "payroll", "key": "x.csv"}, sourceIPAddress="s3.amazonaws.com")
    ec2 = event("StopInstances", "ec2.amazonaws.com",
                requestParameters={"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0"}]}})
    records, rejects, _ = read(delivery(login, s3, ec2))
    assert rejects == []
    assert records[0].login_result == "Failure" and records[0].source_ip == "2001:db8::7"
    assert records[1].bucket == "payroll" and records[1].source_ip == "s3.amazonaws.com"
    assert records[2].instance_id == "i-0123456789abcdef0"


PUBLIC_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "x", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}
PRIVATE_POLICY = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                 "Action": "s3:GetObject"}]}


@pytest.mark.parametrize(("name", "source", "parameters", "flags"), [
    ("ModifySnapshotAttribute", "ec2.amazonaws.com",
     {"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}},
      "attributeType": "CREATE_VOLUME_PERMISSION"}, "shared"),
    ("ModifySnapshotAttribute", "ec2.amazonaws.com",
     {"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}, "public"),
    ("ModifySnapshotAttribute", "ec2.amazonaws.com",
     {"snapshotId": "snap-1", "createVolumePermission": {"remove": {"items": [{"userId": "999988887777"}]}}}, ""),
    ("ModifyImageAttribute", "ec2.amazonaws.com",
     {"imageId": "ami-1", "launchPermission": {"add": {"items": [{"userId": "999988887777"}]}}}, "shared"),
    ("ModifyDBSnapshotAttribute", "rds.amazonaws.com",
     {"dBSnapshotIdentifier": "s", "attributeName": "restore", "valuesToAdd": ["all"]}, "public"),
    ("ModifyDBClusterSnapshotAttribute", "rds.amazonaws.com",
     {"attributeName": "restore", "valuesToAdd": ["999988887777"]}, "shared"),
    ("PutBucketPolicy", "s3.amazonaws.com", {"bucketName": "b", "bucketPolicy": PUBLIC_POLICY}, "public"),
    ("PutBucketPolicy", "s3.amazonaws.com", {"bucketName": "b", "bucketPolicy": PRIVATE_POLICY}, ""),
    ("PutBucketAcl", "s3.amazonaws.com", {"bucketName": "b", "x-amz-acl": ["public-read"]}, "public"),
    ("PutBucketAcl", "s3.amazonaws.com", {"bucketName": "b", "AccessControlPolicy": {"AccessControlList": {"Grant": [
        {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}}}, "public"),
    ("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", {"groupId": "sg-1", "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}, "public"),
    ("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", {"groupId": "sg-1", "ipPermissions": {"items": [
        {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}, ""),
    ("PutBucketPublicAccessBlock", "s3.amazonaws.com", {"bucketName": "b", "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "BlockPublicPolicy": False}}, "unblocked"),
    ("PutBucketPublicAccessBlock", "s3.amazonaws.com", {"bucketName": "b", "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "BlockPublicPolicy": True}}, ""),
    ("ModifySnapshotAttribute", "ec2.amazonaws.com", {"createVolumePermission": "unexpected text"}, ""),
])
def test_request_flags_of_sharing_and_public_calls(name, source, parameters, flags):
    [record], rejects, _ = read(delivery(event(name, source, requestParameters=parameters)))
    assert rejects == []
    assert record.request_flags == flags


# RunInstances as CloudTrail writes it: the user data is never logged, only that it was sent.
RUN_INSTANCES = {
    "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1, "maxCount": 1}]},
    "instanceType": "t3.micro", "blockDeviceMapping": {}, "monitoring": {"enabled": False},
    "disableApiTermination": False, "disableApiStop": False, "clientToken": "e5b0c2a8-3d1f-4c7e-9a2b-1f0e3d5c7b9a",
    "iamInstanceProfile": {"name": "app-server"}, "userData": "<sensitiveDataRemoved>",
}


@pytest.mark.parametrize(("name", "parameters", "flags"), [
    ("RunInstances", RUN_INSTANCES, "user_data"),
    ("RunInstances", {k: v for k, v in RUN_INSTANCES.items() if k != "userData"}, ""),
    ("ModifyInstanceAttribute", {"instanceId": "i-0123456789abcdef0",
                                 "userData": {"value": "<sensitiveDataRemoved>"}}, "user_data"),
    ("ModifyInstanceAttribute", {"instanceId": "i-0123456789abcdef0", "attribute": "userData",
                                 "value": "<sensitiveDataRemoved>"}, "user_data"),
    ("ModifyInstanceAttribute", {"instanceId": "i-0123456789abcdef0", "instanceType": {"value": "m5.large"}}, ""),
    # Reading an instance's user data names the attribute but sends none.
    ("DescribeInstanceAttribute", {"instanceId": "i-0123456789abcdef0", "attribute": "userData"}, ""),
])
def test_request_flags_of_user_data(name, parameters, flags):
    with_response = event(name, "ec2.amazonaws.com", requestParameters=parameters,
                          responseElements={"requestId": "3f1e2d4c-5b6a-4978-8e9d-0a1b2c3d4e5f"})
    [record], rejects, _ = read(delivery(with_response))
    assert rejects == []
    assert record.request_flags == flags
    # The flag changes nothing else the reader keeps: what the call acted on, or its identity.
    [plain], _, _ = read(delivery(event(name, "ec2.amazonaws.com", requestParameters={
        k: v for k, v in parameters.items() if k not in ("userData", "attribute", "value")})))
    assert record.targets == plain.targets and record.instance_id == plain.instance_id
    assert cloudtrail.DEDUP_KEY == ("account_id", "region", "event_id")


def test_the_account_falls_back_to_the_identity_when_the_recipient_is_missing():
    record = event()
    del record["recipientAccountId"]
    [parsed], _, _ = read(delivery(record))
    assert parsed.account_id == ACCOUNT


# --- Bad input ------------------------------------------------------------------------------------


def test_unreadable_lines_are_rejects_with_their_place_and_the_rest_still_comes_out():
    good = json.dumps(event("Good")).encode()
    missing_time = json.dumps({k: v for k, v in event().items() if k != "eventTime"}).encode()
    no_account = json.dumps({k: v for k, v in event(identity={"type": "AWSService"}).items() if k != "recipientAccountId"}).encode()
    data = b"\n".join([good, b"{not json", b'"a string"', missing_time, b"", no_account, good])
    records, rejects, _ = read(data, "lines.jsonl")
    assert [r.event_name for r in records] == ["Good", "Good"]
    assert [r.position for r in rejects] == ["line 2", "line 3", "line 4", "line 6"]
    assert "malformed JSON" in rejects[0].reason and rejects[0].raw == b"{not json"
    assert "eventTime" in rejects[2].reason
    assert "account" in rejects[3].reason


def test_fields_of_unexpected_types_are_dropped_not_the_event():
    odd = event(requestParameters="not an object", readOnly="true", responseElements=["x"])
    [record], rejects, _ = read(delivery(odd))
    assert rejects == []
    assert record.event_name == "ListBuckets" and record.read_only is True and record.bucket == ""


def test_a_bad_record_in_a_delivery_file_is_rejected_alone():
    records, rejects, _ = read(delivery(event("A"), {"eventName": 5}, event("B")))
    assert [r.event_name for r in records] == ["A", "B"]
    assert [r.position for r in rejects] == ["record 2"]


def test_empty_and_blank_objects_give_nothing():
    assert read(b"") == ([], [], 0)
    assert read(b"  \n\n") == ([], [], 0)
    assert read(delivery()) == ([], [], 0)


def test_a_truncated_gzip_keeps_what_came_before_and_rejects_once():
    lines = b"\n".join(json.dumps(event(f"E{i}", eventID=f"id-{i}", userAgent="x" * 300)).encode() for i in range(400))
    packed = gzip.compress(lines)
    cut = gzip.GzipFile(fileobj=io.BytesIO(packed[: len(packed) // 2]))
    records, rejects, _ = read_stream(cut)
    assert 0 < len(records) < 400
    assert [r.event_name for r in records] == [f"E{i}" for i in range(len(records))]
    assert len(rejects) == 1 and "truncated" in rejects[0].reason


def test_a_truncated_gzip_delivery_file_is_one_reject():
    packed = gzip.compress(delivery(*[event() for _ in range(50)]))
    cut = gzip.GzipFile(fileobj=io.BytesIO(packed[:-20]))
    records, rejects, _ = read_stream(cut)
    assert records == [] and len(rejects) == 1


def read_stream(stream):
    records, rejects, batches = [], [], 0
    for batch in cloudtrail.read(stream, "x.json.gz"):
        batches += 1
        records += batch.records
        rejects += batch.rejects
    return records, rejects, batches


def test_batches_stay_within_the_limit(monkeypatch):
    monkeypatch.setattr(base, "BATCH_RECORDS", 3)
    for data in (delivery(*[event() for _ in range(10)]), b"\n".join(json.dumps(event()).encode() for _ in range(10))):
        sizes = [len(b.records) for b in cloudtrail.read(io.BytesIO(data), "x")]
        assert sum(sizes) == 10 and max(sizes) <= 3


# --- Detection --------------------------------------------------------------------------------------


def test_sniff_tells_cloudtrail_from_other_logs():
    assert cloudtrail.sniff(delivery(event()), "x.json")
    assert cloudtrail.sniff(b'{"Records":[]}', "x.json")
    assert cloudtrail.sniff(json.dumps(event()).encode() + b"\n", "x.jsonl")
    assert not cloudtrail.sniff(b"2 111122223333 eni-1 10.0.0.1 10.0.0.2 443 5000 6 10 840 1600000000 1600000060 ACCEPT OK\n", "f.log")
    assert not cloudtrail.sniff(b'{"Findings": [{"schemaVersion": "2.0", "arn": "arn:aws:guardduty:..."}]}', "f.json")
    assert not cloudtrail.sniff(b"hello", "CloudTrail/readme.json")


# --- Real logs ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not DATASET.exists(), reason="../shared/datasets is not beside the project")
def test_the_real_attack_simulation_logs_read_without_a_reject():
    files = sorted((DATASET / "CloudTrail").glob("*.json"))
    assert files
    records, rejects = [], []
    for path in files:
        data = path.read_bytes()
        assert cloudtrail.sniff(data[:65536], path.name)
        got, bad, _ = read(data, path.name)
        records += got
        rejects += bad
    assert rejects == []
    assert len(records) == 2900
    assert {r.account_id for r in records} == {"123837392027"}
    kinds = {r.principal_type for r in records}
    assert {"aws_user", "role_session"} <= kinds
    sessions = [r for r in records if r.principal_type == "role_session"]
    assert all(r.role_arn.startswith("arn:aws:iam::123837392027:role/") for r in sessions)
