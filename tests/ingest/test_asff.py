"""The Security Hub (ASFF) findings reader: every form findings come in, the fields it takes,
rejects, truncated gzip, batch sizes and sniffing. Findings are built here, shaped like ASFF."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any, BinaryIO, cast

import orjson
import pytest

from gumshoe.formats import asff, base, guardduty
from gumshoe.formats.base import Reject

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
DETECTOR = "12abc34d567e8fa901bc2d34e56789f0"
DETECTOR_ARN = f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}"
FSBP = "aws-foundational-security-best-practices/v/1.0.0"

# 2024-03-01T00:00:00Z is 1709251200 s after the epoch.
T_FIRST = "2024-03-01T12:30:00Z"  # 1709296200000
T_CREATED = "2024-03-01T12:34:56.789Z"  # 1709296496789
T_LAST = "2024-03-01T13:45:10.250Z"  # 1709300710250
T_UPDATED = "2024-03-01T14:00:00.000Z"  # 1709301600000


def guardduty_in_asff() -> dict[str, Any]:
    """A GuardDuty SSH brute-force finding as Security Hub imports it."""
    finding_id = "1234567890abcdef1234567890abcdef"
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}/finding/{finding_id}",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "ProductName": "GuardDuty",
        "CompanyName": "Amazon",
        "Region": "us-east-1",
        "GeneratorId": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}",
        "AwsAccountId": ACCOUNT,
        "Types": ["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"],
        "FirstObservedAt": T_FIRST,
        "LastObservedAt": T_LAST,
        "CreatedAt": T_CREATED,
        "UpdatedAt": T_UPDATED,
        "Severity": {"Product": 2, "Label": "LOW", "Normalized": 20, "Original": "2"},
        "Title": "192.0.2.200 is performing SSH brute force attacks against i-0123456789abcdef0.",
        "Description": "192.0.2.200 is performing SSH brute force attacks against i-0123456789abcdef0.",
        "ProductFields": {
            "aws/guardduty/service/action/actionType": "NETWORK_CONNECTION",
            "aws/guardduty/service/archived": "false",
            "aws/guardduty/service/count": "4",
        },
        "Resources": [
            {
                "Type": "AwsEc2Instance",
                "Id": f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0",
                "Partition": "aws",
                "Region": "us-east-1",
                "Details": {
                    "AwsEc2Instance": {
                        "Type": "t3.micro",
                        "ImageId": "ami-0abcdef1234567890",
                        "IpV4Addresses": ["172.31.5.10", "54.210.1.2"],
                        "VpcId": "vpc-0a1b",
                        "SubnetId": "subnet-0a1b",
                    }
                },
            }
        ],
        "Network": {
            "Direction": "IN",
            "Protocol": "TCP",
            "SourceIpV4": "192.0.2.200",
            "SourcePort": 40412,
            "DestinationIpV4": "172.31.5.10",
            "DestinationPort": 22,
        },
        "Action": {
            "ActionType": "NETWORK_CONNECTION",
            "NetworkConnectionAction": {
                "ConnectionDirection": "INBOUND",
                "RemoteIpDetails": {"IpAddressV4": "192.0.2.200", "Country": {"CountryName": "Atlantis"}},
                "RemotePortDetails": {"Port": 40412, "PortName": "Unknown"},
                "LocalPortDetails": {"Port": 22, "PortName": "SSH"},
                "Protocol": "TCP",
                "Blocked": False,
            },
        },
        "WorkflowState": "NEW",
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE",
        "FindingProviderFields": {
            "Severity": {"Label": "LOW", "Original": "2"},
            "Types": ["TTPs/Initial Access"],
        },
        "Sample": False,
    }


def config_finding() -> dict[str, Any]:
    """A Security Hub CSPM control finding: no Region member (older findings), so it comes from the
    ProductArn."""
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:eu-west-1:{OTHER_ACCOUNT}:subscription/{FSBP}/S3.8/finding/0a1b2c3d",
        "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/securityhub",
        "GeneratorId": f"{FSBP}/S3.8",
        "AwsAccountId": OTHER_ACCOUNT,
        "Types": [
            "Software and Configuration Checks/Industry and Regulatory Standards"
            "/AWS-Foundational-Security-Best-Practices",
            "Effects/Data Exposure",
        ],
        "FirstObservedAt": "2024-02-10T08:00:00.000Z",
        "CreatedAt": "2024-02-10T08:00:00.000Z",
        "UpdatedAt": "2024-03-01T14:00:00Z",
        "Severity": {"Label": "HIGH", "Normalized": 70, "Original": "HIGH"},
        "Title": "S3.8 S3 general purpose buckets should block public access",
        "Description": "This control checks whether S3 general purpose buckets block public access.",
        "Resources": [
            {
                "Type": "AwsS3Bucket",
                "Id": "arn:aws:s3:::finance-reports",
                "Partition": "aws",
                "Region": "eu-west-1",
            },
            {"Type": "AwsAccount", "Id": f"AWS::::Account:{OTHER_ACCOUNT}"},
        ],
        "Compliance": {"Status": "FAILED"},
        "Workflow": {"Status": "NOTIFIED"},
        "RecordState": "ACTIVE",
    }


def port_probe_in_asff() -> dict[str, Any]:
    finding = guardduty_in_asff()
    finding.update(
        Id=f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}/finding/0f1e2d3c",
        Types=["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
        Title="Unprotected port on EC2 instance i-0123456789abcdef0 is being probed.",
        Network={"Direction": "IN", "SourceIpV6": "2001:db8::77", "DestinationIpV4": "172.31.5.10"},
        Action={
            "ActionType": "PORT_PROBE",
            "PortProbeAction": {
                "PortProbeDetails": [
                    {
                        "LocalIpDetails": {"IpAddressV4": "172.31.5.10"},
                        "RemoteIpDetails": {"IpAddressV4": "203.0.113.50"},
                    },
                    {
                        "LocalIpDetails": {"IpAddressV4": "172.31.5.10"},
                        "RemoteIpDetails": {"IpAddressV4": "203.0.113.51"},
                    },
                ],
                "Blocked": False,
            },
        },
        RecordState="ARCHIVED",
        Workflow={"Status": "RESOLVED"},
    )
    return finding


def api_call_in_asff() -> dict[str, Any]:
    """A third-party-style finding about an API call, found only by LastObservedAt."""
    return {
        "SchemaVersion": "2018-10-08",
        "Id": "example-finding-0001",
        "ProductArn": f"arn:aws:securityhub:us-west-2:{ACCOUNT}:product/{ACCOUNT}/default",
        "GeneratorId": "custom-detector",
        "AwsAccountId": ACCOUNT,
        "Region": "us-west-2",
        "Types": ["Unusual Behaviors/User"],
        "LastObservedAt": T_LAST,
        "Severity": {"Label": "MEDIUM"},
        "Title": "Console login from a new country",
        "Description": "d",
        "Resources": [{"Type": "AwsIamUser", "Id": f"arn:aws:iam::{ACCOUNT}:user/alice"}],
        "Action": {
            "ActionType": "AWS_API_CALL",
            "AwsApiCallAction": {
                "Api": "ConsoleLogin",
                "ServiceName": "signin.amazonaws.com",
                "CallerType": "remoteIp",
                "RemoteIpDetails": {"IpAddressV4": "198.51.100.23"},
            },
        },
    }


def all_findings() -> list[dict[str, Any]]:
    return [guardduty_in_asff(), config_finding(), port_probe_in_asff(), api_call_in_asff()]


def event(
    findings: list[dict[str, Any]],
    detail_type: str = "Security Hub Findings - Imported",
    source: str = "aws.securityhub",
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "8e5622f9-d81c-4d81-612a-9319e7ee2506",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2024-03-01T14:00:05Z",
        "region": "us-east-1",
        "resources": [finding["ProductArn"] for finding in findings],
        "detail": {"findings": findings},
    }


def gunzipping(compressed: bytes) -> BinaryIO:
    """What the source layer hands a reader for a gzip object: a decompressing stream."""
    return cast(BinaryIO, gzip.GzipFile(fileobj=io.BytesIO(compressed)))


def jsonl(items: list[Any]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def read(data: bytes) -> tuple[list[asff.SecurityHubFinding], list[Reject], int]:
    records: list[asff.SecurityHubFinding] = []
    rejects: list[Reject] = []
    skipped = 0
    for batch in asff.read(io.BytesIO(data), "securityhub/findings.json"):
        records += batch.records
        rejects += batch.rejects
        skipped += batch.skipped
    return records, rejects, skipped


def ids(findings: list[dict[str, Any]]) -> list[str]:
    return [finding["Id"] for finding in findings]


# ---- the fields ----


def test_guardduty_finding_in_asff() -> None:
    (record,), rejects, _ = read(jsonl([guardduty_in_asff()]))
    assert not rejects
    assert record.id == f"{DETECTOR_ARN}/finding/1234567890abcdef1234567890abcdef"
    assert record.account_id == ACCOUNT and record.region == "us-east-1"
    assert record.product_arn == "arn:aws:securityhub:us-east-1::product/aws/guardduty"
    assert record.is_guardduty is True
    assert record.generator_id == f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}"
    assert record.types == ["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"]
    assert record.title.startswith("192.0.2.200 is performing SSH brute force")
    assert record.severity_label == "LOW" and record.severity_normalized == 20
    assert record.created_ms == 1709296496789
    assert record.updated_ms == 1709301600000
    assert record.first_observed_ms == 1709296200000
    assert record.last_observed_ms == 1709300710250
    assert record.time_ms == 1709301600000  # UpdatedAt
    assert record.resources == [
        ("AwsEc2Instance", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0")
    ]
    assert record.ips == ["192.0.2.200", "172.31.5.10"]  # Network, then the action's (deduplicated)
    assert record.record_state == "ACTIVE" and record.workflow_status == "NEW"
    assert record.size == len(record.raw) and orjson.loads(record.raw) == guardduty_in_asff()


def test_control_finding_takes_its_region_from_the_product_arn() -> None:
    (record,), _, _ = read(jsonl([config_finding()]))
    assert record.account_id == OTHER_ACCOUNT
    assert record.region == "eu-west-1"
    assert record.is_guardduty is False
    assert record.severity_label == "HIGH" and record.severity_normalized == 70
    assert record.resources == [
        ("AwsS3Bucket", "arn:aws:s3:::finance-reports"),
        ("AwsAccount", f"AWS::::Account:{OTHER_ACCOUNT}"),
    ]
    assert record.ips == [] and record.last_observed_ms == -1
    assert record.workflow_status == "NOTIFIED"
    assert record.time_ms == 1709301600000


def test_port_probe_with_ipv6_source() -> None:
    (record,), _, _ = read(jsonl([port_probe_in_asff()]))
    assert record.ips == ["2001:db8::77", "172.31.5.10", "203.0.113.50", "203.0.113.51"]
    assert record.record_state == "ARCHIVED" and record.workflow_status == "RESOLVED"


def test_time_falls_back_to_last_observed_then_created() -> None:
    only_created = config_finding()
    del only_created["UpdatedAt"]
    (api, created), rejects, _ = read(jsonl([api_call_in_asff(), only_created]))
    assert not rejects
    assert api.time_ms == 1709300710250 and api.updated_ms == -1 and api.created_ms == -1
    assert api.severity_label == "MEDIUM" and api.severity_normalized == -1
    assert api.ips == ["198.51.100.23"] and api.region == "us-west-2"
    assert created.time_ms == 1707552000000  # 2024-02-10T08:00:00Z


def test_is_guardduty_in_other_partitions() -> None:
    assert asff.is_guardduty_product("arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/guardduty")
    assert not asff.is_guardduty_product("arn:aws:securityhub:us-east-1::product/aws/inspector")


# ---- the forms ----


def test_get_findings_output() -> None:
    findings = all_findings()
    records, rejects, _ = read(json.dumps({"Findings": findings, "NextToken": "abc"}, indent=4).encode())
    assert [record.id for record in records] == ids(findings)
    assert not rejects
    assert all(b"\n" not in record.raw and b'": ' not in record.raw for record in records)
    assert orjson.loads(records[1].raw) == findings[1]


def test_documents_longer_than_the_sniffed_head_are_read_whole() -> None:
    findings = []
    for number in range(200):
        finding = all_findings()[number % 4]
        finding["Id"] = f"finding-{number:04d}"
        findings.append(finding)
    document = json.dumps({"Findings": findings}, indent=2).encode()
    assert len(document) > 4 * 64 * 1024
    records, rejects, _ = read(document)
    assert not rejects and [record.id for record in records] == ids(findings)


def test_json_array_and_single_document() -> None:
    findings = all_findings()
    records, _, _ = read(json.dumps(findings, indent=2).encode())
    assert [record.id for record in records] == ids(findings)
    (single,), rejects, _ = read(json.dumps(config_finding(), indent=2).encode())
    assert single.id == config_finding()["Id"] and not rejects


def test_json_lines_gzip() -> None:
    findings = all_findings()
    stream = gunzipping(gzip.compress(jsonl(findings)))
    records = [record for batch in asff.read(stream, "x.jsonl.gz") for record in batch.records]
    assert [record.id for record in records] == ids(findings)


def test_eventbridge_events_hold_lists_of_findings() -> None:
    findings = all_findings()
    lines = jsonl(
        [event(findings[:3]), event(findings[3:], detail_type="Security Hub Findings - Custom Action")]
    )
    records, rejects, _ = read(lines)
    assert [record.id for record in records] == ids(findings)
    assert not rejects
    assert orjson.loads(records[0].raw) == findings[0]  # the finding, not the envelope
    as_array, _, _ = read(json.dumps([event(findings[:2]), event(findings[2:])], indent=2).encode())
    assert [record.id for record in as_array] == ids(findings)


def test_other_security_hub_events_are_skipped_other_sources_rejected() -> None:
    insight = {
        "version": "0",
        "detail-type": "Security Hub Insight Results",
        "source": "aws.securityhub",
        "detail": {
            "actionName": "name",
            "insightName": "top resources",
            "insightResults": [{"arn:aws:s3:::b": 3}],
        },
    }
    guardduty_event = {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"id": "x"}}
    records, rejects, skipped = read(jsonl([insight, event([config_finding()]), guardduty_event]))
    assert [record.id for record in records] == [config_finding()["Id"]]
    assert skipped == 1
    assert [reject.position for reject in rejects] == ["line 3"] and "aws.guardduty" in rejects[0].reason


# ---- rejects ----


def test_bad_findings_are_rejected_with_positions_and_the_rest_read() -> None:
    no_product = config_finding()
    del no_product["ProductArn"]
    no_time = api_call_in_asff()
    del no_time["LastObservedAt"]
    no_id_no_account = guardduty_in_asff()
    del no_id_no_account["Id"], no_id_no_account["AwsAccountId"]
    bad_severity = config_finding()
    bad_severity["Severity"]["Normalized"] = "seventy"
    lines = [
        orjson.dumps(guardduty_in_asff()),
        b'{"SchemaVersion": "2018-10-08", "Id": "x", ',  # cut short
        orjson.dumps(no_product),
        orjson.dumps(event([no_time, port_probe_in_asff(), no_id_no_account])),
        b"",
        orjson.dumps(bad_severity),
        b"null",
        orjson.dumps(api_call_in_asff()),
    ]
    records, rejects, _ = read(b"\n".join(lines))
    assert [record.id for record in records] == [
        guardduty_in_asff()["Id"],
        port_probe_in_asff()["Id"],
        "example-finding-0001",
    ]
    reasons = {reject.position: reject.reason for reject in rejects}
    assert list(reasons) == ["line 2", "line 3", "line 4 record 1", "line 4 record 3", "line 6", "line 7"]
    assert reasons["line 2"] == "not Security Hub finding JSON: Input data was truncated"
    assert reasons["line 3"] == "not a Security Hub finding: no ProductArn"
    assert "timestamp" in reasons["line 4 record 1"]
    assert reasons["line 4 record 3"] == "not a Security Hub finding: no Id, AwsAccountId"
    assert "$.Severity.Normalized" in reasons["line 6"]
    assert "got `null`" in reasons["line 7"]


def test_bad_records_in_a_document() -> None:
    no_account = config_finding()
    del no_account["AwsAccountId"]
    document = json.dumps({"Findings": [guardduty_in_asff(), no_account, 7]}, indent=2).encode()
    records, rejects, _ = read(document)
    assert [record.id for record in records] == [guardduty_in_asff()["Id"]]
    assert [(reject.position, reject.reason) for reject in rejects] == [
        ("record 2", "not a Security Hub finding: no AwsAccountId"),
        ("record 3", "not a Security Hub finding: Expected `object`, got `int`"),
    ]


@pytest.mark.parametrize("data", [b"", b"\n \n"])
def test_an_empty_object_has_nothing_and_no_error(data: bytes) -> None:
    assert list(asff.read(io.BytesIO(data), "empty.json")) == []


def test_truncated_gzip_yields_the_findings_before_the_cut_and_one_reject() -> None:
    findings = []
    for number in range(300):
        finding = all_findings()[number % 4]
        finding["Id"] = f"finding-{number:04d}"
        findings.append(finding)
    compressed = gzip.compress(jsonl(findings))
    stream = gunzipping(compressed[: len(compressed) * 2 // 3])
    batches = list(asff.read(stream, "x.jsonl.gz"))
    records = [record for batch in batches for record in batch.records]
    rejects = [reject for batch in batches for reject in batch.rejects]
    assert len(rejects) == 1 and rejects[0].position.startswith("byte ") and "truncated" in rejects[0].reason
    assert 50 < len(records) < 300
    assert [record.id for record in records] == ids(findings[: len(records)])


def test_batches_never_exceed_batch_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "BATCH_RECORDS", 2)
    findings = all_findings() + all_findings()  # 8 findings, 4 of them in one event
    data = jsonl(findings[:4]) + orjson.dumps(event(findings[4:])) + b"\n{bad\n"
    batches = list(asff.read(io.BytesIO(data), "x.jsonl"))
    assert all(len(batch.records) + len(batch.rejects) <= 2 for batch in batches)
    assert sum(len(batch.records) for batch in batches) == 8
    assert sum(len(batch.rejects) for batch in batches) == 1


# ---- sniffing ----


def guardduty_finding() -> dict[str, Any]:
    return {
        "schemaVersion": "2.0",
        "accountId": ACCOUNT,
        "region": "us-east-1",
        "id": "a1b2",
        "arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/{DETECTOR}/finding/a1b2",
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "resource": {"resourceType": "Instance"},
        "service": {"eventLastSeen": T_LAST},
        "severity": 2,
        "createdAt": T_CREATED,
        "updatedAt": T_UPDATED,
    }


CLOUDTRAIL_BATCH_IMPORT = {
    "Records": [
        {
            "eventVersion": "1.09",
            "eventTime": "2024-03-01T12:00:00Z",
            "eventSource": "securityhub.amazonaws.com",
            "eventName": "BatchImportFindings",
            "awsRegion": "us-east-1",
            "requestParameters": {"Findings": [api_call_in_asff()]},
            "recipientAccountId": ACCOUNT,
        }
    ]
}


@pytest.mark.parametrize(
    "head",
    [
        jsonl(all_findings()),
        json.dumps({"Findings": all_findings()}, indent=2).encode(),
        json.dumps(all_findings()).encode(),
        jsonl([event(all_findings())]),
        json.dumps([event(all_findings()[:1])], indent=2).encode(),
        b"\n" + json.dumps(config_finding(), indent=2).encode(),
    ],
)
def test_sniff_recognizes_asff(head: bytes) -> None:
    assert asff.sniff(head[: 64 * 1024], "anything.json")


@pytest.mark.parametrize(
    "head",
    [
        jsonl([guardduty_finding()]),
        json.dumps({"Findings": [guardduty_finding()]}, indent=2).encode(),
        jsonl(
            [{"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": guardduty_finding()}]
        ),
        orjson.dumps(CLOUDTRAIL_BATCH_IMPORT),
        jsonl(CLOUDTRAIL_BATCH_IMPORT["Records"]),
        b"2 111122223333 eni-1 10.0.0.1 10.0.0.2 443 5000 6 10 840 1 2 ACCEPT OK\n",
        b"",
    ],
)
def test_sniff_refuses_other_formats(head: bytes) -> None:
    assert not asff.sniff(head, "AWSLogs/111122223333/SecurityHub/findings.json")


def test_each_reader_claims_only_its_own_format() -> None:
    asff_head = jsonl([guardduty_in_asff()])
    guardduty_head = jsonl([guardduty_finding()])
    assert asff.sniff(asff_head, "x") and not guardduty.sniff(asff_head, "x")
    assert guardduty.sniff(guardduty_head, "x") and not asff.sniff(guardduty_head, "x")
