"""What a CloudTrail call acted on (ApiEvent.targets), from its request parameters: the
resources it names and whom it shares with, as "kind:value" words."""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pytest

from gumshoe.formats import cloudtrail
from gumshoe.graph.store import GraphStore

ACCOUNT = "111122223333"
FOREIGN = "999988887777"
DATASET = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "invictus-ir-cloudtrail" / "CloudTrail"


def targets_of(name: str, source: str, parameters: object) -> str:
    record = {
        "eventVersion": "1.08", "eventTime": "2026-11-02T10:15:30Z", "eventSource": source, "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7", "eventID": "e-1", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accountId": ACCOUNT},
        "requestParameters": parameters,
    }
    [batch] = cloudtrail.read(io.BytesIO(json.dumps({"Records": [record]}).encode()), "f.json")
    assert batch.rejects == []
    [event] = batch.records
    return event.targets


@pytest.mark.parametrize(("name", "source", "parameters", "targets"), [
    # whom a snapshot, an image, a database snapshot is shared with
    ("ModifySnapshotAttribute", "ec2", {"snapshotId": "snap-1", "attributeType": "CREATE_VOLUME_PERMISSION",
                                        "createVolumePermission": {"add": {"items": [{"userId": FOREIGN}]}}},
     f"snapshot:snap-1 account:{FOREIGN}"),
    ("ModifySnapshotAttribute", "ec2", {"snapshotId": "snap-1",
                                        "createVolumePermission": {"add": {"items": [{"group": "all"}]}}},
     "snapshot:snap-1 account:all"),
    ("ModifySnapshotAttribute", "ec2", {"snapshotId": "snap-1",
                                        "createVolumePermission": {"remove": {"items": [{"userId": FOREIGN}]}}},
     "snapshot:snap-1"),
    ("ModifyImageAttribute", "ec2", {"imageId": "ami-1", "launchPermission": {"add": {"items": [
        {"organizationArn": "arn:aws:organizations::999988887777:organization/o-abc"}]}}},
     "image:ami-1 organization:arn:aws:organizations::999988887777:organization/o-abc"),
    ("ModifyDBSnapshotAttribute", "rds", {"dBSnapshotIdentifier": "nightly", "attributeName": "restore",
                                          "valuesToAdd": [FOREIGN, "all"]},
     f"db-snapshot:nightly account:{FOREIGN} account:all"),
    ("ModifyDBClusterSnapshotAttribute", "rds", {"dBClusterSnapshotIdentifier": "c1", "valuesToAdd": [FOREIGN]},
     f"db-cluster-snapshot:c1 account:{FOREIGN}"),
    # whom a credential is made for
    ("CreateAccessKey", "iam", {"userName": "svc-support"}, "user:svc-support"),
    ("CreateLoginProfile", "iam", {"userName": "bob", "passwordResetRequired": False}, "user:bob"),
    ("UpdateAccessKey", "iam", {"userName": "bob", "accessKeyId": "AKIA1", "status": "Active"},
     "user:bob access-key:AKIA1"),
    ("AttachUserPolicy", "iam", {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
     "user:bob policy:arn:aws:iam::aws:policy/AdministratorAccess"),
    ("PutRolePolicy", "iam", {"roleName": "r", "policyName": "inline", "policyDocument": "{}"}, "role:r policy:inline"),
    ("AddUserToGroup", "iam", {"groupName": "admins", "userName": "bob"}, "user:bob group:admins"),
    ("AssumeRole", "sts", {"roleArn": "arn:aws:iam::111122223333:role/Admin", "roleSessionName": "x"},
     "role:arn:aws:iam::111122223333:role/Admin"),
    # the trail, flow log, detector, bucket, instance, secret named
    ("StopLogging", "cloudtrail", {"name": "main-trail"}, "trail:main-trail"),
    ("PutEventSelectors", "cloudtrail", {"trailName": "main-trail", "eventSelectors": []}, "trail:main-trail"),
    ("DeleteFlowLogs", "ec2", {"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-0a1b"}}},
     "flow-log:fl-0a1b"),
    ("DeleteFlowLogs", "ec2", {"DeleteFlowLogsRequest": {"FlowLogId": [{"tag": 1, "content": "fl-1"},
                                                                       {"tag": 2, "content": "fl-2"}]}},
     "flow-log:fl-1 flow-log:fl-2"),
    ("DeleteDetector", "guardduty", {"detectorId": "3ab4c5d6"}, "detector:3ab4c5d6"),
    ("PutBucketPolicy", "s3", {"bucketName": "data", "bucketPolicy": {"Statement": []}}, "bucket:data"),
    ("GetPasswordData", "ec2", {"instanceId": "i-0abc"}, "instance:i-0abc"),
    ("TerminateInstances", "ec2", {"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}},
     "instance:i-1 instance:i-2"),
    ("RunInstances", "ec2", {"instancesSet": {"items": [{"imageId": "ami-9", "minCount": 1}]}}, "image:ami-9"),
    ("SendCommand", "ssm", {"instanceIds": ["i-1"], "documentName": "AWS-RunShellScript"}, "instance:i-1"),
    ("GetSecretValue", "secretsmanager", {"secretId": "prod/db"}, "secret:prod/db"),
    ("GetParameters", "ssm", {"names": ["/a", "/b"], "withDecryption": True}, "parameter:/a parameter:/b"),
    ("GetParameter", "ssm", {"name": "/a"}, "parameter:/a"),
    ("AuthorizeSecurityGroupIngress", "ec2", {"groupId": "sg-1", "ipPermissions": {}}, "security-group:sg-1"),
    ("UpdateFunctionCode20150331v2", "lambda", {"functionName": "f"}, "function:f"),
    ("DeleteLogGroup", "logs", {"logGroupName": "/flow"}, "log-group:/flow"),
    ("ScheduleKeyDeletion", "kms", {"keyId": "k-1", "pendingWindowInDays": 7}, "key:k-1"),
    # names that are not what they seem elsewhere, and calls that name nothing
    ("CreateStack", "cloudformation", {"name": {"odd": "shape"}, "stackName": "s"}, ""),
    ("ListUsers", "iam", None, ""),
    ("DescribeInstances", "ec2", {"filterSet": {}}, ""),
])
def test_targets_of_a_call(name, source, parameters, targets):
    assert targets_of(name, f"{source}.amazonaws.com", parameters) == targets


def test_targets_are_few_short_words():
    many = targets_of("GetParameters", "ssm.amazonaws.com", {"names": [f"/p{n}" for n in range(50)]})
    assert many.split() == [f"parameter:/p{n}" for n in range(cloudtrail.MAX_TARGETS)]
    spaced = targets_of("GetSecretValue", "secretsmanager.amazonaws.com", {"secretId": "a b\tc"})
    assert spaced == "secret:a_b_c"
    long = targets_of("GetSecretValue", "secretsmanager.amazonaws.com", {"secretId": "x" * 1000})
    assert long == "secret:" + "x" * cloudtrail.MAX_TARGET_CHARS
    assert targets_of("GetSecretValue", "secretsmanager.amazonaws.com", {"secretId": 7}) == ""  # not a name


def test_a_graph_made_before_targets_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old_ddl = cloudtrail.RAW_DDL.replace(", targets VARCHAR", "").split("-- Graphs made")[0]
    conn = duckdb.connect(str(path))
    conn.execute(old_ddl)
    conn.execute("INSERT INTO api_events (time_ms, event_name) VALUES (1, 'Old')")
    conn.close()
    store = GraphStore(path)
    try:
        with store.cursor() as cursor:
            assert cursor.execute("SELECT event_name, targets FROM api_events").fetchall() == [("Old", "")]
    finally:
        store.close()


@pytest.mark.skipif(not DATASET.is_dir(), reason="the Invictus IR CloudTrail dataset is not in ../shared/datasets")
def test_the_attack_logs_name_whom_the_snapshot_and_image_were_shared_with():
    found: dict[str, set[str]] = {}
    for path in sorted(DATASET.iterdir()):
        for batch in cloudtrail.read(path.open("rb"), path.name):
            for event in batch.records:
                if event.event_name in ("ModifySnapshotAttribute", "ModifyImageAttribute", "CreateAccessKey"):
                    found.setdefault(event.event_name, set()).update(event.targets.split())
    assert "account:012345678912" in found["ModifySnapshotAttribute"]
    assert "account:012345678901" in found["ModifyImageAttribute"]
    assert "user:stratus-red-team-backdoor-u-user" in found["CreateAccessKey"]
