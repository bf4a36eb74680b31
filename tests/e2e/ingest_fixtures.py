"""Generators of realistic AWS log objects for the data-plane end-to-end tests (not collected:
no ``test_`` prefix).

Everything is written in AWS's delivery layout under a root folder (or returned as
``(key, bytes)`` for S3), and every generator returns what it wrote, so a test computes its
expectations from the same events instead of repeating magic numbers:

    AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<stamp>_<rand>.json.gz
    AWSLogs/<acct>/vpcflowlogs/<region>/YYYY/MM/DD/<acct>_vpcflowlogs_<region>_<fl-id>_<stamp>_<hash>.log.gz
    AWSLogs/<acct>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

UTC = dt.UTC

# User agents as CloudTrail records them.
UA_CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off command/s3.ls"
UA_BOTO = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 cfg/retry-mode#legacy Botocore/1.34.69"
UA_CONSOLE = "AWS Internal"
UA_TERRAFORM = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0"
UA_GO = "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.4"


def day_start(days_ago: int = 1) -> dt.datetime:
    """Midnight UTC ``days_ago`` days back: a whole day in the past, inside a profile's
    default 30-day scope, so every generated event falls on one volume day."""
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days_ago)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- CloudTrail ---------------------------------------------------------------------------


def iam_user(account: str, name: str, key: str | None = None) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + (account + name.upper()).ljust(17, "X")[:17],
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": key or ("AKIA" + (name.upper() + account).ljust(16, "Q")[:16]),
        "userName": name,
    }


def assumed_role(account: str, role: str, session: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROA{account[:8]}{role.upper()[:9]}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIA" + (session.upper() + account).ljust(16, "Z")[:16],
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROA{account[:8]}{role.upper()[:9]}",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2024-01-01T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def aws_service(service: str) -> dict[str, Any]:
    return {"type": "AWSService", "invokedBy": service}


def ct_event(
    account: str,
    region: str,
    when: dt.datetime,
    identity: dict[str, Any],
    source: str,
    name: str,
    *,
    ip: str,
    agent: str,
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    error: str | None = None,
    read_only: bool = True,
    event_id: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": iso(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": uuid.uuid4().hex.upper()[:16],
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": source != "s3.amazonaws.com" or name == "ListBuckets",
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error:
        event["errorCode"] = error
        event["errorMessage"] = f"User is not authorized to perform: {source.split('.')[0]}:{name}"
    return event


def cloudtrail_key(account: str, region: str, when: dt.datetime, rand: str) -> str:
    stamp = when.strftime("%Y%m%dT%H%MZ")
    return f"AWSLogs/{account}/CloudTrail/{region}/{when:%Y/%m/%d}/{account}_CloudTrail_{region}_{stamp}_{rand}.json.gz"


def cloudtrail_document(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": events}, separators=(",", ":")).encode()


@dataclass
class Written:
    """What a generator wrote: the keys, uncompressed record bytes counted as the pipeline does,
    and the records themselves."""

    keys: list[str] = field(default_factory=list)
    bytes: int = 0
    records: list[Any] = field(default_factory=list)

    def __iadd__(self, other: Written) -> Self:
        self.keys += other.keys
        self.bytes += other.bytes
        self.records += other.records
        return self


def put(root: Path, key: str, data: bytes) -> Path:
    """Write atomically (a dot-file first, which sources skip, then a rename)."""
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_bytes(data)
    tmp.rename(path)
    return path


def cloudtrail_object(account: str, region: str, events: list[dict[str, Any]], when: dt.datetime,
                      rand: str) -> tuple[str, bytes, Written]:
    document = cloudtrail_document(events)
    key = cloudtrail_key(account, region, when, rand)
    # The reader gives each event of a delivery file an equal share of the document.
    share = len(document) // max(1, len(events))
    return key, gzip.compress(document, 6), Written([key], share * len(events), list(events))


def write_cloudtrail(root: Path, account: str, region: str, events: list[dict[str, Any]], when: dt.datetime,
                     rand: str = "AbCdEf0123456789") -> Written:
    key, data, written = cloudtrail_object(account, region, events, when, rand)
    put(root, key, data)
    return written


@dataclass
class Activity:
    """One account's CloudTrail activity with the entities it must produce."""

    account: str
    region: str
    events: list[dict[str, Any]]
    users: list[str]
    roles: list[str]
    sessions: list[str]
    ips: list[str]
    agents: list[str]
    buckets: list[str]

    def of(self, principal_arn: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["userIdentity"].get("arn") == principal_arn]


def account_activity(account: str, region: str, start: dt.datetime, *, user: str, role: str, buckets: tuple[str, str],
                     ips: tuple[str, str], seed: int, agents: tuple[str, str] = (UA_CLI, UA_BOTO),
                     extra_calls: int = 20) -> Activity:
    """A day of an account: an IAM user working from two addresses with the CLI and boto3,
    listing and reading a bucket, one denied call, an AssumeRole into a role whose session
    then reads a second bucket, and an AWS service acting on the account's behalf."""
    rng = random.Random(seed)
    ua_cli, ua_sdk = agents
    user_id = iam_user(account, user)
    user_arn = user_id["arn"]
    session = f"{user}-session"
    role_arn = f"arn:aws:iam::{account}:role/{role}"
    session_arn = f"arn:aws:sts::{account}:assumed-role/{role}/{session}"
    session_id = assumed_role(account, role, session)
    events: list[dict[str, Any]] = []
    t = start + dt.timedelta(hours=2)

    def tick() -> dt.datetime:
        nonlocal t
        t += dt.timedelta(seconds=rng.randint(20, 400))
        return t

    events.append(ct_event(account, region, tick(), user_id, "s3.amazonaws.com", "ListBuckets",
                           ip=ips[0], agent=ua_cli, request={"Host": "s3.amazonaws.com"}))
    for n in range(extra_calls):
        ip = ips[n % 2]
        agent = ua_cli if n % 3 else ua_sdk
        if n % 2:
            events.append(ct_event(account, region, tick(), user_id, "s3.amazonaws.com", "GetObject", ip=ip, agent=agent,
                                   request={"bucketName": buckets[0], "Host": f"{buckets[0]}.s3.amazonaws.com",
                                            "key": f"reports/{n}.csv"}))
        else:
            events.append(ct_event(account, region, tick(), user_id, "ec2.amazonaws.com", "DescribeInstances",
                                   ip=ip, agent=agent, request={"instancesSet": {}, "filterSet": {}}))
    events.append(ct_event(account, region, tick(), user_id, "iam.amazonaws.com", "CreateUser", ip=ips[1],
                           agent=ua_cli, request={"userName": "backdoor"}, error="AccessDenied", read_only=False))
    events.append(ct_event(
        account, region, tick(), user_id, "sts.amazonaws.com", "AssumeRole", ip=ips[0], agent=ua_sdk,
        request={"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600},
        response={"credentials": {"accessKeyId": session_id["accessKeyId"], "expiration": "Jan 1, 2030, 1:00:00 AM",
                                  "sessionToken": "IQoJb3JpZ2luX2VjE"},
                  "assumedRoleUser": {"assumedRoleId": session_id["principalId"], "arn": session_arn}},
    ))
    for _ in range(5):
        events.append(ct_event(account, region, tick(), session_id, "s3.amazonaws.com", "ListObjects", ip=ips[0],
                               agent=ua_sdk, request={"bucketName": buckets[1], "Host": f"{buckets[1]}.s3.amazonaws.com",
                                                       "prefix": "logs/"}))
    # A service acting for the account: no principal, a service name where an address would be.
    events.append(ct_event(account, region, tick(), aws_service("autoscaling.amazonaws.com"), "ec2.amazonaws.com",
                           "RunInstances", ip="autoscaling.amazonaws.com", agent="autoscaling.amazonaws.com",
                           read_only=False))
    return Activity(account, region, events, [user_arn], [role_arn], [session_arn], list(ips), [ua_cli, ua_sdk],
                    list(buckets))


def panel_counts(events: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """What an IAM user's profile panels must show: calls per service:API, address and agent."""
    return {
        "api": Counter(f"{e['eventSource']}:{e['eventName']}" for e in events),
        "ip_address": Counter(e["sourceIPAddress"] for e in events),
        "user_agent": Counter(e["userAgent"] for e in events),
    }


# --- VPC Flow Logs ------------------------------------------------------------------------

FLOW_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def flow_rows(account: str, start: dt.datetime, pairs: list[tuple[str, str, int]], count: int, seed: int) -> list[str]:
    """Default-format (v2) rows: ``pairs`` are (src, dst, dst port); a NODATA row at the end."""
    rng = random.Random(seed)
    rows = []
    t0 = int(start.timestamp()) + 3 * 3600
    for n in range(count):
        src, dst, port = pairs[n % len(pairs)]
        s = t0 + n * 60
        action = "REJECT" if port == 22 else "ACCEPT"
        rows.append(f"2 {account} eni-0a1b2c3d4e5f6{n % 3:04d} {src} {dst} {rng.randint(32768, 60999)} {port} 6 "
                    f"{rng.randint(1, 40)} {rng.randint(40, 90000)} {s} {s + 58} {action} OK")
    rows.append(f"2 {account} eni-0a1b2c3d4e5f60000 - - - - - - - {t0} {t0 + 60} - NODATA")
    return rows


def flow_key(account: str, region: str, when: dt.datetime, suffix: str = "fb2c6d9e") -> str:
    stamp = when.strftime("%Y%m%dT%H%MZ")
    return (f"AWSLogs/{account}/vpcflowlogs/{region}/{when:%Y/%m/%d}/"
            f"{account}_vpcflowlogs_{region}_fl-0123456789abcdef0_{stamp}_{suffix}.log.gz")


def flow_object(account: str, region: str, start: dt.datetime, pairs: list[tuple[str, str, int]], count: int,
                seed: int = 7, suffix: str = "fb2c6d9e") -> tuple[str, bytes, Written]:
    rows = flow_rows(account, start, pairs, count, seed)
    text = FLOW_HEADER + "\n" + "\n".join(rows) + "\n"
    key = flow_key(account, region, start + dt.timedelta(hours=3), suffix)
    ok = [r for r in rows if r.endswith(" OK")]
    return key, gzip.compress(text.encode()), Written([key], sum(len(r) + 1 for r in ok), ok)


def write_flows(root: Path, account: str, region: str, start: dt.datetime, pairs: list[tuple[str, str, int]],
                count: int, seed: int = 7, suffix: str = "fb2c6d9e") -> Written:
    key, data, written = flow_object(account, region, start, pairs, count, seed, suffix)
    put(root, key, data)
    return written


# --- GuardDuty ----------------------------------------------------------------------------


def gd_finding(account: str, region: str, when: dt.datetime, n: int, *, remote_ip: str, instance: str,
               detector: str = "12abc34d567e8fa901bc2d34e56789f0") -> dict[str, Any]:
    fid = uuid.UUID(int=int(account) * 1000 + n).hex
    return {
        "schemaVersion": "2.0",
        "accountId": account,
        "region": region,
        "partition": "aws",
        "id": fid,
        "arn": f"arn:aws:guardduty:{region}:{account}:detector/{detector}/finding/{fid}",
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "resource": {
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": instance,
                "instanceType": "t3.micro",
                "networkInterfaces": [{"privateIpAddress": "10.0.1.5", "publicIp": "54.210.1.5",
                                       "networkInterfaceId": "eni-0a1b2c3d4e5f60000"}],
            },
        },
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector,
            "action": {
                "actionType": "PORT_PROBE",
                "portProbeAction": {
                    "blocked": False,
                    "portProbeDetails": [{"localPortDetails": {"port": 22, "portName": "SSH"},
                                          "remoteIpDetails": {"ipAddressV4": remote_ip,
                                                              "organization": {"asn": "64496"}}}],
                },
            },
            "eventFirstSeen": iso(when),
            "eventLastSeen": iso(when + dt.timedelta(minutes=30)),
            "archived": False,
            "count": 3,
        },
        "severity": 2,
        "createdAt": iso(when),
        "updatedAt": iso(when + dt.timedelta(minutes=30)),
        "title": f"Unprotected port on EC2 instance {instance} is being probed.",
        "description": "EC2 instance has an unprotected port which is being probed by a known malicious host.",
    }


def guardduty_key(account: str, region: str, when: dt.datetime, n: int = 0) -> str:
    return f"AWSLogs/{account}/GuardDuty/{region}/{when:%Y/%m/%d}/{uuid.UUID(int=int(account) + n)}.jsonl.gz"


def write_guardduty(root: Path, account: str, region: str, findings: list[dict[str, Any]], when: dt.datetime,
                    extra_lines: Sequence[str] = (), n: int = 0) -> Written:
    lines = [json.dumps(f, separators=(",", ":")) for f in findings]
    text = "\n".join(lines[:2] + list(extra_lines) + lines[2:]) + "\n"
    key = guardduty_key(account, region, when, n)
    put(root, key, gzip.compress(text.encode()))
    return Written([key], sum(len(line) for line in lines), findings)


def bulk_assume_role(root: Path, account: str, region: str, start: dt.datetime, files: int, per_file: int,
                     *, min_gzip_bytes: int = 0, seed: int = 42) -> Written:
    """Delivery files of a CI user assuming a deploy role over and over, each response with its
    own session token (about 1 KB of random base64, as real ones are), so the files compress
    like real trails of such calls; eventIDs are unique. Built by string templating. At least
    ``files`` files, more until their gzip bytes reach ``min_gzip_bytes``."""
    rng = random.Random(seed)
    role_arn = f"arn:aws:iam::{account}:role/Deployer"
    template = json.dumps(ct_event(
        account, region, start, iam_user(account, "ci-bot"), "sts.amazonaws.com", "AssumeRole",
        ip="@IP@", agent=UA_BOTO, event_id="@ID@",
        request={"roleArn": role_arn, "roleSessionName": "@SESSION@", "durationSeconds": 900},
        response={"credentials": {"accessKeyId": "@KEY@", "sessionToken": "@TOKEN@",
                                  "expiration": "Jan 1, 2030, 1:00:00 AM"},
                  "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLEDEPLOYER:@SESSION@",
                                      "arn": f"arn:aws:sts::{account}:assumed-role/Deployer/@SESSION@"}},
    ), separators=(",", ":")).replace(iso(start), "@TIME@")
    parts_of = template.split("@")
    written = Written()
    gzip_bytes = 0
    f = -1
    while f + 1 < files or gzip_bytes < min_gzip_bytes:
        f += 1
        when = start + dt.timedelta(minutes=5 * f)
        tokens = base64.b64encode(rng.randbytes(per_file * 720)).decode()
        events = []
        for n in range(per_file):
            values = {
                "TIME": iso(when + dt.timedelta(milliseconds=n * 90)), "IP": f"10.{f % 250}.{n // 250}.{n % 250}",
                "ID": f"{uuid.UUID(int=(int(account) << 40) + f * 1_000_000 + n)}", "SESSION": f"ci-{f}-{n % 10}",
                "KEY": f"ASIA{f:06d}{n:06d}XYZW", "TOKEN": "IQoJb3JpZ2luX2VjE" + tokens[n * 960:(n + 1) * 960],
            }
            events.append("".join(values.get(p, p) if i % 2 else p for i, p in enumerate(parts_of)))
        document = ('{"Records":[' + ",".join(events) + "]}").encode()
        key = cloudtrail_key(account, region, when, f"{f:016d}")
        data = gzip.compress(document, 1)
        gzip_bytes += len(data)
        put(root, key, data)
        written.keys.append(key)
        written.bytes += (len(document) // per_file) * per_file
    written.records = [len(written.keys) * per_file]
    return written
