"""The GuardDuty findings reader: every form findings come in, the fields it takes, rejects,
truncated gzip, batch sizes and sniffing. Findings are built here, shaped like GuardDuty's."""

from __future__ import annotations

import copy
import gzip
import io
import json
from typing import Any, BinaryIO, cast

import orjson
import pytest

from gumshoe.formats import base, guardduty
from gumshoe.formats.base import Reject

ACCOUNT = "111122223333"
DETECTOR = "12abc34d567e8fa901bc2d34e56789f0"
DETECTOR_ARN = f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}"

# 2024-03-01T00:00:00Z is 1709251200 s after the epoch.
T_CREATED = "2024-03-01T12:34:56.789Z"  # 1709296496789
T_UPDATED = "2024-03-01T14:00:00.000Z"  # 1709301600000
T_FIRST = "2024-03-01T12:30:00Z"  # 1709296200000
T_LAST = "2024-03-01T13:45:10.250Z"  # 1709300710250


def _finding(
    finding_id: str, finding_type: str, resource: dict[str, Any], action: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": "2.0",
        "accountId": ACCOUNT,
        "region": "us-east-1",
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}/finding/{finding_id}",
        "type": finding_type,
        "resource": resource,
        "service": {
            "serviceName": "guardduty",
            "detectorId": DETECTOR,
            "action": action,
            "resourceRole": "TARGET",
            "additionalInfo": {"value": "{}", "type": "default"},
            "eventFirstSeen": T_FIRST,
            "eventLastSeen": T_LAST,
            "archived": False,
            "count": 4,
        },
        "severity": 8,
        "createdAt": T_CREATED,
        "updatedAt": T_UPDATED,
        "title": f"Finding {finding_type}",
        "description": f"A {finding_type} finding.",
    }
    body.update(extra)
    return body


def _remote(ipv4: str | None = None, ipv6: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {
        "organization": {"asn": "64496", "asnOrg": "Example Net", "isp": "Example Net", "org": "Example Net"},
        "country": {"countryName": "Atlantis"},
        "city": {"cityName": "Poseidonia"},
        "geoLocation": {"lat": 10.5, "lon": -20.25},
    }
    if ipv4:
        details["ipAddressV4"] = ipv4
    if ipv6:
        details["ipAddressV6"] = ipv6
    return details


def iam_finding() -> dict[str, Any]:
    return _finding(
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        {
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": "ASIAEXAMPLEKEY123456",
                "principalId": "AROAEXAMPLEROLEID1234:i-0a1b2c3d4e5f60718",
                "userName": "web-instance-role",
                "userType": "AssumedRole",
            },
        },
        {
            "actionType": "AWS_API_CALL",
            "awsApiCallAction": {
                "api": "DescribeInstances",
                "serviceName": "ec2.amazonaws.com",
                "callerType": "Remote IP",
                "remoteIpDetails": _remote("198.51.100.23"),
                "affectedResources": {"AWS::EC2::Instance": "i-0a1b2c3d4e5f60718"},
            },
        },
    )


def port_probe_finding() -> dict[str, Any]:
    def probe(remote: str, port: int) -> dict[str, Any]:
        return {
            "localPortDetails": {"port": port, "portName": "SSH"},
            "localIpDetails": {"ipAddressV4": "172.31.5.10"},
            "remoteIpDetails": _remote(remote),
        }

    finding = _finding(
        "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "Recon:EC2/PortProbeUnprotectedPort",
        {
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": "i-0123456789abcdef0",
                "instanceType": "t3.micro",
                "instanceState": "running",
                "availabilityZone": "us-east-1a",
                "imageId": "ami-0abcdef1234567890",
                "networkInterfaces": [
                    {
                        "networkInterfaceId": "eni-0a1b2c3d",
                        "privateIpAddress": "172.31.5.10",
                        "privateIpAddresses": [
                            {
                                "privateDnsName": "ip-172-31-5-10.ec2.internal",
                                "privateIpAddress": "172.31.5.10",
                            },
                            {
                                "privateDnsName": "ip-172-31-5-11.ec2.internal",
                                "privateIpAddress": "172.31.5.11",
                            },
                        ],
                        "publicIp": "54.210.1.2",
                        "ipv6Addresses": ["2600:1f18:abcd::10"],
                        "subnetId": "subnet-0a1b",
                        "vpcId": "vpc-0a1b",
                        "securityGroups": [{"groupId": "sg-0a1b", "groupName": "web"}],
                    }
                ],
                "tags": [{"key": "Name", "value": "web-1"}],
            },
        },
        {
            "actionType": "PORT_PROBE",
            "portProbeAction": {
                "blocked": False,
                "portProbeDetails": [
                    probe("203.0.113.50", 22),
                    probe("203.0.113.51", 22),
                    probe("203.0.113.50", 3389),
                ],
            },
        },
        severity=2,
    )
    finding["service"]["archived"] = True
    finding["service"]["count"] = 17
    return finding


def s3_finding() -> dict[str, Any]:
    return _finding(
        "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
        "Discovery:S3/TorIPCaller",
        {
            "resourceType": "S3Bucket",
            "accessKeyDetails": {
                "accessKeyId": "AKIAEXAMPLEKEY654321",
                "principalId": "AIDAEXAMPLEUSERID123",
                "userName": "alice",
                "userType": "IAMUser",
            },
            "s3BucketDetails": [
                {
                    "name": "finance-reports",
                    "arn": "arn:aws:s3:::finance-reports",
                    "type": "Destination",
                    "createdAt": 1.7e9,
                    "owner": {"id": "abcdef0123"},
                    "publicAccess": {"effectivePermission": "NOT_PUBLIC"},
                }
            ],
        },
        {
            "actionType": "AWS_API_CALL",
            "awsApiCallAction": {
                "api": "ListObjects",
                "serviceName": "s3.amazonaws.com",
                "callerType": "Remote IP",
                "remoteIpDetails": _remote(ipv6="2001:db8:85a3::8a2e:370:7334"),
            },
        },
        severity=5.5,
    )


def eks_finding() -> dict[str, Any]:
    return _finding(
        "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
        "Execution:Kubernetes/ExecInKubeSystemPod",
        {
            "resourceType": "EKSCluster",
            "eksClusterDetails": {
                "name": "prod-cluster",
                "arn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/prod-cluster",
                "vpcId": "vpc-0a1b",
                "status": "ACTIVE",
                "createdAt": 1.69e9,
            },
            "kubernetesDetails": {
                "kubernetesUserDetails": {
                    "username": "dev-user",
                    "uid": "abc",
                    "groups": ["system:authenticated"],
                },
                "kubernetesWorkloadDetails": {
                    "name": "coredns-1",
                    "type": "pods",
                    "namespace": "kube-system",
                },
            },
        },
        {
            "actionType": "KUBERNETES_API_CALL",
            "kubernetesApiCallAction": {
                "requestUri": "/api/v1/namespaces/kube-system/pods/coredns-1/exec",
                "verb": "create",
                "sourceIPs": ["192.0.2.77", "192.0.2.78"],
                "userAgent": "kubectl/v1.29.0",
                "remoteIpDetails": _remote("192.0.2.77"),
                "statusCode": 101,
            },
        },
        severity=5,
    )


def ssh_finding() -> dict[str, Any]:
    finding = port_probe_finding()
    finding.update(
        id="1234567890abcdef1234567890abcdef",
        type="UnauthorizedAccess:EC2/SSHBruteForce",
        severity=2.0,
    )
    finding["service"]["action"] = {
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": "INBOUND",
            "protocol": "TCP",
            "blocked": False,
            "remoteIpDetails": _remote("192.0.2.200"),
            "remotePortDetails": {"port": 40412, "portName": "Unknown"},
            "localIpDetails": {"ipAddressV4": "172.31.5.12"},
            "localPortDetails": {"port": 22, "portName": "SSH"},
        },
    }
    return finding


def all_findings() -> list[dict[str, Any]]:
    return [iam_finding(), port_probe_finding(), s3_finding(), eks_finding(), ssh_finding()]


def event(
    finding: dict[str, Any], detail_type: str = "GuardDuty Finding", source: str = "aws.guardduty"
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2024-03-01T14:00:05Z",
        "region": "us-east-1",
        "resources": [],
        "detail": finding,
    }


def gunzipping(compressed: bytes) -> BinaryIO:
    """What the source layer hands a reader for a gzip object: a decompressing stream."""
    return cast(BinaryIO, gzip.GzipFile(fileobj=io.BytesIO(compressed)))


def jsonl(items: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def read(data: bytes) -> tuple[list[guardduty.Finding], list[Reject], int]:
    records: list[guardduty.Finding] = []
    rejects: list[Reject] = []
    skipped = 0
    for batch in guardduty.read(
        io.BytesIO(data), "AWSLogs/111122223333/GuardDuty/us-east-1/2024/03/01/x.jsonl.gz"
    ):
        records += batch.records
        rejects += batch.rejects
        skipped += batch.skipped
    return records, rejects, skipped


def by_type(records: list[guardduty.Finding]) -> dict[str, guardduty.Finding]:
    return {record.type: record for record in records}


# ---- the fields ----


def test_s3_export_jsonl_gz_reads_every_finding_type() -> None:
    findings = all_findings()
    stream = gunzipping(gzip.compress(jsonl(findings)))
    batches = list(guardduty.read(stream, "AWSLogs/111122223333/GuardDuty/us-east-1/2024/03/01/a.jsonl.gz"))
    records = [record for batch in batches for record in batch.records]
    assert [record.id for record in records] == [finding["id"] for finding in findings]
    assert all(not batch.rejects for batch in batches)
    assert {record.account_id for record in records} == {ACCOUNT}
    assert {record.region for record in records} == {"us-east-1"}


def test_iam_credential_exfiltration_finding() -> None:
    (record,), rejects, _ = read(jsonl([iam_finding()]))
    assert not rejects
    assert record.id == "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert record.arn == f"{DETECTOR_ARN}/finding/a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert record.type == "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    assert record.title == "Finding UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    assert record.severity == 8.0 and isinstance(record.severity, float)
    assert record.created_ms == 1709296496789
    assert record.updated_ms == 1709301600000
    assert record.first_seen_ms == 1709296200000
    assert record.last_seen_ms == 1709300710250
    assert record.time_ms == 1709300710250  # eventLastSeen
    assert record.count == 4 and record.archived is False
    assert record.resource_type == "AccessKey"
    assert record.access_key_id == "ASIAEXAMPLEKEY123456"
    assert record.principal_id == "AROAEXAMPLEROLEID1234:i-0a1b2c3d4e5f60718"
    assert record.user_name == "web-instance-role"
    assert record.user_type == "AssumedRole"
    assert record.api == "DescribeInstances"
    assert record.service_name == "ec2.amazonaws.com"
    assert record.action_type == "AWS_API_CALL"
    assert record.remote_ips == ["198.51.100.23"]
    assert record.local_ips == [] and record.buckets == []
    assert record.instance_id == "" and record.eks_cluster == "" and record.domain == ""


def test_port_probe_finding_on_an_instance() -> None:
    (record,), _, _ = read(jsonl([port_probe_finding()]))
    assert record.type == "Recon:EC2/PortProbeUnprotectedPort"
    assert record.resource_type == "Instance"
    assert record.instance_id == "i-0123456789abcdef0"
    assert record.remote_ips == ["203.0.113.50", "203.0.113.51"]  # deduplicated, in order
    assert record.local_ips == ["172.31.5.10", "172.31.5.11", "54.210.1.2", "2600:1f18:abcd::10"]
    assert record.severity == 2.0
    assert record.count == 17 and record.archived is True
    assert record.access_key_id == "" and record.api == ""


def test_s3_finding_with_an_ipv6_caller() -> None:
    (record,), _, _ = read(jsonl([s3_finding()]))
    assert record.resource_type == "S3Bucket"
    assert record.buckets == ["finance-reports"]
    assert record.remote_ips == ["2001:db8:85a3::8a2e:370:7334"]
    assert record.user_name == "alice" and record.user_type == "IAMUser"
    assert record.api == "ListObjects" and record.service_name == "s3.amazonaws.com"
    assert record.severity == 5.5


def test_eks_finding() -> None:
    (record,), _, _ = read(jsonl([eks_finding()]))
    assert record.resource_type == "EKSCluster"
    assert record.eks_cluster == "prod-cluster"
    assert record.remote_ips == ["192.0.2.77", "192.0.2.78"]  # remoteIpDetails, then sourceIPs
    assert record.action_type == "KUBERNETES_API_CALL"


def test_network_connection_local_and_remote_ips() -> None:
    (record,), _, _ = read(jsonl([ssh_finding()]))
    assert record.remote_ips == ["192.0.2.200"]
    assert record.local_ips == [
        "172.31.5.10",
        "172.31.5.11",
        "54.210.1.2",
        "2600:1f18:abcd::10",
        "172.31.5.12",
    ]


def test_dns_request_domain() -> None:
    finding = _finding(
        "dd11",
        "Backdoor:EC2/C&CActivity.B!DNS",
        {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-9"}},
        {
            "actionType": "DNS_REQUEST",
            "dnsRequestAction": {"domain": "c2.example.net", "protocol": "UDP", "blocked": False},
        },
    )
    (record,), _, _ = read(jsonl([finding]))
    assert record.domain == "c2.example.net" and record.remote_ips == [] and record.instance_id == "i-9"


def test_time_falls_back_to_updated_at_then_created_at() -> None:
    without_last_seen = iam_finding()
    del without_last_seen["service"]["eventLastSeen"]
    only_created = iam_finding()
    del only_created["service"]
    del only_created["updatedAt"]
    (first, second), rejects, _ = read(jsonl([without_last_seen, only_created]))
    assert not rejects
    assert first.time_ms == 1709301600000 and first.last_seen_ms == -1
    assert second.time_ms == 1709296496789 and second.updated_ms == -1
    assert second.count == 1 and second.remote_ips == []


def test_timestamps() -> None:
    assert guardduty.iso8601_ms("2024-03-01T12:34:56.789Z") == 1709296496789
    assert guardduty.iso8601_ms("2024-03-01T12:34:56Z") == 1709296496000
    assert guardduty.iso8601_ms("2024-03-01T14:34:56.5+02:00") == 1709296496500
    assert guardduty.iso8601_ms("2024-03-01T12:34:56.123456789Z") == 1709296496123
    assert guardduty.iso8601_ms("yesterday") == -1
    assert guardduty.iso8601_ms(None) == -1


def test_raw_is_the_compact_finding_and_size_its_length() -> None:
    finding = iam_finding()
    pretty = json.dumps({"Findings": [finding]}, indent=4).encode()
    (record,), _, _ = read(pretty)
    assert b"\n" not in record.raw and b'": ' not in record.raw
    assert orjson.loads(record.raw) == finding
    assert record.size == len(record.raw)
    (from_line,), _, _ = read(jsonl([finding]))
    assert from_line.raw == orjson.dumps(finding)  # already compact: kept as read
    assert from_line.size == len(orjson.dumps(finding))


# ---- the forms ----


def test_get_findings_api_output() -> None:
    findings = all_findings()
    records, rejects, _ = read(json.dumps({"findings": findings}, indent=2).encode())
    assert [record.id for record in records] == [finding["id"] for finding in findings]
    assert not rejects


def _pascal(value: Any) -> Any:
    """The AWS CLI's rendering of a GuardDuty finding: PascalCase member names."""
    wire_to_member = {"sourceIPs": "SourceIps", "lat": "Latitude", "lon": "Longitude"}
    if isinstance(value, dict):
        return {
            wire_to_member.get(key, key[0].upper() + key[1:] if ":" not in key else key): _pascal(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_pascal(item) for item in value]
    return value


def test_get_findings_cli_output_in_pascal_case() -> None:
    findings = all_findings()
    document = json.dumps({"Findings": [_pascal(finding) for finding in findings]}, indent=4).encode()
    records, rejects, _ = read(document)
    assert not rejects
    found = by_type(records)
    iam = found["UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"]
    assert iam.account_id == ACCOUNT and iam.access_key_id == "ASIAEXAMPLEKEY123456"
    assert iam.remote_ips == ["198.51.100.23"] and iam.time_ms == 1709300710250
    assert found["Execution:Kubernetes/ExecInKubeSystemPod"].remote_ips == ["192.0.2.77", "192.0.2.78"]
    assert found["Recon:EC2/PortProbeUnprotectedPort"].instance_id == "i-0123456789abcdef0"
    # raw is always the API's lowerCamel form
    assert orjson.loads(iam.raw) == findings[0]


def test_documents_longer_than_the_sniffed_head_are_read_whole() -> None:
    findings = []
    for number in range(200):
        finding = all_findings()[number % 5]
        finding["id"] = f"{number:032x}"
        findings.append(finding)
    document = json.dumps({"Findings": findings}, indent=2).encode()
    assert len(document) > 4 * guardduty.HEAD_BYTES
    records, rejects, _ = read(document)
    assert not rejects
    assert [record.id for record in records] == [finding["id"] for finding in findings]


def test_json_array_of_findings() -> None:
    findings = all_findings()
    records, rejects, _ = read(json.dumps(findings, indent=2).encode())
    assert [record.id for record in records] == [finding["id"] for finding in findings]
    assert not rejects
    compact_array, _, _ = read(orjson.dumps(findings))
    assert [record.id for record in compact_array] == [finding["id"] for finding in findings]


def test_single_finding_document() -> None:
    (record,), rejects, _ = read(json.dumps(s3_finding(), indent=2).encode())
    assert record.buckets == ["finance-reports"] and not rejects


def test_eventbridge_events_as_lines() -> None:
    findings = all_findings()
    records, rejects, skipped = read(jsonl([event(finding) for finding in findings]))
    assert [record.id for record in records] == [finding["id"] for finding in findings]
    assert not rejects and skipped == 0
    # raw is the detail (the finding), not the envelope
    assert orjson.loads(records[0].raw) == findings[0]


def test_eventbridge_events_as_an_array() -> None:
    findings = all_findings()
    records, rejects, _ = read(json.dumps([event(finding) for finding in findings], indent=2).encode())
    assert [record.id for record in records] == [finding["id"] for finding in findings]
    assert not rejects


def test_event_account_and_region_fill_in_for_the_finding() -> None:
    finding = iam_finding()
    del finding["accountId"]
    del finding["region"]
    (record,), rejects, _ = read(jsonl([event(finding)]))
    assert not rejects
    assert record.account_id == ACCOUNT and record.region == "us-east-1"


def test_other_guardduty_events_are_skipped_other_sources_rejected() -> None:
    scan = event({"scanId": "abc"}, detail_type="GuardDuty Malware Protection Object Scan Result")
    foreign = event(iam_finding(), detail_type="Security Hub Findings - Imported", source="aws.securityhub")
    records, rejects, skipped = read(jsonl([scan, event(iam_finding()), foreign]))
    assert [record.id for record in records] == ["a1b2c3d4e5f60718293a4b5c6d7e8f90"]
    assert skipped == 1
    assert [reject.position for reject in rejects] == ["line 3"]
    assert "aws.securityhub" in rejects[0].reason


# ---- rejects ----


def test_bad_lines_are_rejected_with_their_line_and_the_rest_read() -> None:
    no_id = iam_finding()
    del no_id["id"]
    no_time = s3_finding()
    del no_time["createdAt"], no_time["updatedAt"], no_time["service"]["eventLastSeen"]
    no_account_no_type = eks_finding()
    del no_account_no_type["accountId"], no_account_no_type["type"]
    wrong_type = ssh_finding()
    wrong_type["service"]["count"] = "many"
    lines = [
        orjson.dumps(port_probe_finding()),
        b'{"schemaVersion": "2.0", "accountId": "1111',  # cut short
        orjson.dumps(no_id),
        b"",
        orjson.dumps(no_time),
        b"[1, 2]",
        orjson.dumps(no_account_no_type),
        orjson.dumps(wrong_type),
        orjson.dumps(iam_finding()),
    ]
    records, rejects, _ = read(b"\n".join(lines) + b"\n")
    assert [record.type for record in records] == [
        "Recon:EC2/PortProbeUnprotectedPort",
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
    ]
    positions = {reject.position: reject.reason for reject in rejects}
    assert list(positions) == [
        "line 2",
        "line 3",
        "line 5",
        "line 6 record 1",
        "line 6 record 2",
        "line 7",
        "line 8",
    ]
    assert positions["line 2"] == "not GuardDuty finding JSON: Input data was truncated"
    assert positions["line 3"] == "not a GuardDuty finding: no id"
    assert "timestamp" in positions["line 5"]
    assert positions["line 6 record 1"] == "not GuardDuty finding JSON: Expected `object | array`, got `int`"
    assert positions["line 7"] == "not a GuardDuty finding: no accountId, type"
    assert "$.service.count" in positions["line 8"]
    assert rejects[1].raw.startswith(b'{"schemaVersion":"2.0"')


def test_bad_records_in_a_document_are_rejected_by_position() -> None:
    no_type = iam_finding()
    del no_type["type"]
    document = json.dumps(
        {"Findings": [s3_finding(), no_type, "not a finding", eks_finding()]}, indent=2
    ).encode()
    records, rejects, _ = read(document)
    assert [record.type for record in records] == [
        "Discovery:S3/TorIPCaller",
        "Execution:Kubernetes/ExecInKubeSystemPod",
    ]
    assert (rejects[0].position, rejects[0].reason) == (
        "record 2",
        "not a GuardDuty finding: no type",
    )
    assert rejects[1].position == "record 3"


def test_a_malformed_document_is_one_reject() -> None:
    document = json.dumps({"Findings": [iam_finding()]}, indent=2).encode()[:-20]
    records, rejects, _ = read(document)
    assert records == []
    assert len(rejects) == 1 and rejects[0].position.startswith("byte ")


def test_a_cloudtrail_document_is_rejected_not_read() -> None:
    records, rejects, _ = read(
        orjson.dumps({"Records": [{"eventVersion": "1.08", "eventSource": "guardduty.amazonaws.com"}]})
    )
    assert records == [] and len(rejects) == 1


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"   "])
def test_an_empty_object_has_nothing_and_no_error(data: bytes) -> None:
    assert list(guardduty.read(io.BytesIO(data), "empty.jsonl")) == []


def test_truncated_gzip_yields_the_findings_before_the_cut_and_one_reject() -> None:
    findings = []
    for number in range(400):
        finding = [iam_finding, port_probe_finding, s3_finding, eks_finding][number % 4]()
        finding["id"] = f"{number:032x}"
        findings.append(finding)
    compressed = gzip.compress(jsonl(findings))
    cut = compressed[: len(compressed) * 2 // 3]
    stream = gunzipping(cut)
    batches = list(guardduty.read(stream, "AWSLogs/111122223333/GuardDuty/us-east-1/2024/03/01/t.jsonl.gz"))
    records = [record for batch in batches for record in batch.records]
    rejects = [reject for batch in batches for reject in batch.rejects]
    assert len(rejects) == 1
    assert rejects[0].position.startswith("byte ") and "truncated" in rejects[0].reason
    assert 100 < len(records) < 400
    assert [record.id for record in records] == [finding["id"] for finding in findings[: len(records)]]


def test_batches_never_exceed_batch_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "BATCH_RECORDS", 3)
    findings = [copy.deepcopy(finding) for finding in all_findings() * 2]  # 10 findings
    data = jsonl(findings) + b"garbage\n" + b"more garbage\n"
    batches = list(guardduty.read(io.BytesIO(data), "x.jsonl"))
    assert all(len(batch.records) <= 3 and len(batch.records) + len(batch.rejects) <= 3 for batch in batches)
    assert sum(len(batch.records) for batch in batches) == 10
    assert sum(len(batch.rejects) for batch in batches) == 2
    assert len(batches) == 4


# ---- sniffing ----

CLOUDTRAIL = {
    "Records": [
        {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT},
            "eventTime": "2024-03-01T12:00:00Z",
            "eventSource": "guardduty.amazonaws.com",
            "eventName": "GetFindings",
            "awsRegion": "us-east-1",
            "requestParameters": {"detectorId": DETECTOR, "findingIds": ["a1b2"]},
            "resources": [{"ARN": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}"}],
            "eventID": "e1",
            "recipientAccountId": ACCOUNT,
        }
    ]
}


def asff_guardduty_finding() -> dict[str, Any]:
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}/finding/a1b2",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "GeneratorId": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}",
        "AwsAccountId": ACCOUNT,
        "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
        "CreatedAt": T_CREATED,
        "UpdatedAt": T_UPDATED,
        "Severity": {"Label": "LOW", "Normalized": 20},
        "Title": "Unprotected port on EC2 instance is being probed.",
        "Description": "d",
        "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111122223333:instance/i-1"}],
        "ProductFields": {"aws/guardduty/service/archived": "false"},
    }


SNIFF_NAME = "AWSLogs/111122223333/GuardDuty/us-east-1/2024/03/01/x.jsonl.gz"


@pytest.mark.parametrize(
    "head",
    [
        jsonl(all_findings()),
        json.dumps({"Findings": all_findings()}, indent=2).encode(),
        json.dumps({"findings": all_findings()}).encode(),
        json.dumps({"Findings": [_pascal(iam_finding())]}, indent=4).encode(),
        json.dumps(all_findings(), indent=2).encode(),
        jsonl([event(finding) for finding in all_findings()]),
        json.dumps([event(iam_finding())], indent=2).encode(),
        b"\n  " + json.dumps(s3_finding(), indent=2).encode(),
    ],
)
def test_sniff_recognizes_guardduty(head: bytes) -> None:
    assert guardduty.sniff(head[: 64 * 1024], "findings/anything.json")


def test_sniff_takes_the_key_as_a_hint_only() -> None:
    bare = {"schemaVersion": "2.0", "accountId": ACCOUNT, "id": "x", "type": "T", "updatedAt": T_UPDATED}
    assert guardduty.sniff(orjson.dumps(bare), SNIFF_NAME)
    assert not guardduty.sniff(orjson.dumps(bare), "exports/data.json")
    assert not guardduty.sniff(
        b"2 111122223333 eni-1 10.0.0.1 10.0.0.2 443 5000 6 10 840 1 2 ACCEPT OK\n", SNIFF_NAME
    )


@pytest.mark.parametrize(
    "head",
    [
        orjson.dumps(CLOUDTRAIL),
        json.dumps(CLOUDTRAIL, indent=2).encode(),
        jsonl(CLOUDTRAIL["Records"]),
        jsonl([event(CLOUDTRAIL["Records"][0], detail_type="AWS API Call via CloudTrail")]),
        json.dumps({"Findings": [asff_guardduty_finding()]}, indent=2).encode(),
        jsonl([asff_guardduty_finding()]),
        jsonl(
            [
                event(
                    {"findings": [asff_guardduty_finding()]},
                    "Security Hub Findings - Imported",
                    "aws.securityhub",
                )
            ]
        ),
        b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x","verb":"get"}\n',
        b"version account-id interface-id srcaddr dstaddr\n",
        b"",
    ],
)
def test_sniff_refuses_other_formats(head: bytes) -> None:
    assert not guardduty.sniff(head, SNIFF_NAME)
