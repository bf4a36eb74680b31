"""A deterministic multi-account AWS log scenario: 60 days of ordinary work, then seven attacks.

    root/
      AWSLogs/<account>/CloudTrail/us-east-1/YYYY/MM/DD/
          <account>_CloudTrail_us-east-1_<YYYYMMDDTHHMMZ>_<random>.json.gz   {"Records": [...]}, one per 2 h
      guardduty/<account>/findings-<n>.jsonl.gz                              one finding a line

    111111111111  security and CI       alice, bob, carol, jenkins
    222222222222  production apps       dave, erin, grace; ci-deploy, app-server (EC2), Admin, Config
    333333333333  data platform         frank, heidi, ivan, judy; orders-processor (Lambda),
                                        backup-operator, Admin, Config

People work office hours in their own time zone from one or two places each; machines work
around the clock from fixed AWS addresses; AWS services assume the roles they run as. In the
last five days, each attack uses a principal that has been working normally since day one:

    a  dave            stolen access key used from a VPS abroad (flagged IP), discovery
    b  erin            Austin, then Singapore 38 minutes later
    c  frank           privilege escalation from his own desk
    d  ci-deploy       a poisoned CI build stops logging and deletes GuardDuty and flow logs
    e  backup-operator stolen session credentials share a snapshot and an AMI, open a bucket
    f  GuardDuty       two findings on attack a's key and address
    g  app-server      an instance's credentials, taken off the box, used from a VPS
    h  carol           from her own desk, through the Admin role she often assumes, a backdoor user

Everything comes from one ``random.Random(seed)``: the same seed writes the same bytes.
"""

from __future__ import annotations

import gc
import gzip
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ADMIN = "111111111111"
PROD = "222222222222"
DATA = "333333333333"
FOREIGN = "999988887777"  # the attacker's own account, where snapshots and AMIs are shared to
REGION = "us-east-1"
DEFAULT_END = datetime(2026, 10, 31, tzinfo=UTC)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SESSION_MS = HOUR_MS  # AssumeRole's default DurationSeconds
INSTANCE_CREDENTIALS_MS = 6 * HOUR_MS  # EC2 rotates instance-profile credentials about this often
LAMBDA_CREDENTIALS_MS = 4 * HOUR_MS
ERROR_RATE = 0.015  # ordinary AccessDenied among people's calls
NORMAL_SCOPE_MS = 2 * DAY_MS
# One delivery file per account per two hours (CloudTrail's cover ~5 minutes), or per six hours
# in small scenarios, whose time would otherwise go to creating files.
FILE_MS = 2 * HOUR_MS
SMALL_FILE_MS = 6 * HOUR_MS
SMALL_EVENTS_PER_DAY = 1000

Geo = tuple[str, str, str, float, float, int, str]
Record = dict[str, Any]
Json = dict[str, Any]


@dataclass
class Expected:
    entity_arn: str
    scope_start_ms: int
    scope_end_ms: int
    indicators: dict[str, set[str]]
    min_severity: str
    description: str


@dataclass
class Scenario:
    root: Path
    admin_account: str
    member_accounts: list[str]
    region: str
    start_ms: int
    end_ms: int
    geo: dict[str, Geo]
    flagged: list[str]
    attacks: list[Expected]
    normal: list[Expected]
    events: int
    findings: int


# --- Places -----------------------------------------------------------------------------------

_CITY: dict[str, tuple[str, str, str, float, float]] = {
    "Seattle": ("Seattle", "United States", "US", 47.6062, -122.3321),
    "Denver": ("Denver", "United States", "US", 39.7392, -104.9903),
    "Boston": ("Boston", "United States", "US", 42.3601, -71.0589),
    "Austin": ("Austin", "United States", "US", 30.2672, -97.7431),
    "Chicago": ("Chicago", "United States", "US", 41.8781, -87.6298),
    "Milwaukee": ("Milwaukee", "United States", "US", 43.0389, -87.9065),
    "Ashburn": ("Ashburn", "United States", "US", 39.0438, -77.4874),
    "Dublin": ("Dublin", "Ireland", "IE", 53.3498, -6.2603),
    "Berlin": ("Berlin", "Germany", "DE", 52.5200, 13.4050),
    "London": ("London", "United Kingdom", "GB", 51.5074, -0.1278),
    "Sao Paulo": ("São Paulo", "Brazil", "BR", -23.5505, -46.6333),
    "Toronto": ("Toronto", "Canada", "CA", 43.6532, -79.3832),
    "Sydney": ("Sydney", "Australia", "AU", -33.8688, 151.2093),
    "Bucharest": ("Bucharest", "Romania", "RO", 44.4268, 26.1025),
    "Singapore": ("Singapore", "Singapore", "SG", 1.3521, 103.8198),
    "Amsterdam": ("Amsterdam", "Netherlands", "NL", 52.3676, 4.9041),
    "Nanjing": ("Nanjing", "China", "CN", 32.0603, 118.7969),
    "Moscow": ("Moscow", "Russia", "RU", 55.7558, 37.6173),
}


def _at(city: str, asn: int, org: str) -> Geo:
    return (*_CITY[city], asn, org)


_AMAZON = _at("Ashburn", 14618, "AMAZON-AES")
LAMBDA_NETWORK = "44.192.0.0/24"  # where orders-processor's execution environments connect from

_GEO: dict[str, Geo] = {
    "64.125.190.12": _at("Seattle", 6461, "ZAYO-6461"),
    "73.97.148.201": _at("Seattle", 7922, "COMCAST-7922"),
    "86.43.112.14": _at("Dublin", 5466, "Eircom Limited"),
    "89.101.22.173": _at("Dublin", 6830, "Liberty Global B.V."),
    "4.14.88.10": _at("Denver", 3356, "LEVEL3"),
    "24.9.156.77": _at("Denver", 7922, "COMCAST-7922"),
    "38.104.12.50": _at("Boston", 174, "COGENT-174"),
    "91.64.10.22": _at("Berlin", 3209, "Vodafone GmbH"),
    "79.205.33.140": _at("Berlin", 3320, "Deutsche Telekom AG"),
    "70.114.202.9": _at("Austin", 11427, "TWC-11427-TEXAS"),
    "12.161.45.30": _at("Austin", 7018, "ATT-INTERNET4"),
    "109.144.210.5": _at("London", 2856, "British Telecommunications PLC"),
    "62.252.101.33": _at("London", 5089, "Virgin Media Limited"),
    "177.37.40.8": _at("Sao Paulo", 26599, "TELEFONICA BRASIL S.A"),
    "189.4.77.120": _at("Sao Paulo", 28573, "Claro NXT Telecomunicacoes Ltda"),
    "99.227.5.60": _at("Toronto", 812, "ROGERS-COMMUNICATIONS"),
    "142.112.48.3": _at("Toronto", 577, "BACOM"),
    "1.144.10.77": _at("Sydney", 1221, "Telstra Corporation Ltd"),
    "203.219.12.40": _at("Sydney", 7545, "TPG Telecom Limited"),
    "98.226.40.10": _at("Chicago", 7922, "COMCAST-7922"),
    "24.183.40.2": _at("Milwaukee", 20115, "CHARTER-20115"),
    # EC2 instances' elastic IPs, the bastion's, and the Lambda pool
    "54.172.30.11": _AMAZON,
    "3.91.44.120": _AMAZON,
    "52.90.18.203": _AMAZON,
    "34.203.77.18": _AMAZON,
    LAMBDA_NETWORK: _AMAZON,
    # attackers and scanners
    "185.156.73.54": _at("Bucharest", 9009, "M247 Europe SRL"),
    "116.86.200.31": _at("Singapore", 9506, "Singtel Fibre Broadband"),
    "159.223.11.87": _at("Amsterdam", 14061, "DIGITALOCEAN-ASN"),
    "218.92.0.112": _at("Nanjing", 4134, "Chinanet"),
    "45.148.10.92": _at("Amsterdam", 48090, "Techoff SRV Limited"),
    "193.42.33.15": _at("Moscow", 50867, "Hostkey B.V."),
    "5.188.86.172": _at("Moscow", 49505, "Selectel"),
}

_LAMBDA_IPS = tuple(f"44.192.0.{n}" for n in (17, 23, 41, 58, 77, 96, 130, 161, 189, 204, 226, 245))

# --- Agents -----------------------------------------------------------------------------------

CLI_MAC = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off"
CLI_LINUX = "aws-cli/2.17.8 Python/3.11.9 Linux/6.5.0-41-generic exe/x86_64.ubuntu.22 prompt/off"
CLI_WINDOWS = "aws-cli/2.15.30 Python/3.11.8 Windows/10 exe/AMD64 prompt/off"
CLI_OLD = "aws-cli/2.13.4 Python/3.11.4 Darwin/22.6.0 exe/x86_64 prompt/off"
BOTO_MAC = (
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
)
BOTO_EC2 = (
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
)
BOTO_LAMBDA = (
    "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.224-240.890.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.5 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
    "Botocore/1.34.145"
)
CLI_CI = "aws-cli/2.16.12 Python/3.11.8 Linux/5.15.0-105-generic exe/x86_64.ubuntu.22 prompt/off"
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36"
)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0"
S3_CONSOLE = (
    "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.223-190.873.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.412-b09 java/1.8.0_412 vendor/Oracle_Corporation cfg/retry-mode/standard]"
)
ATTACKER_KALI = "aws-cli/1.18.69 Python/3.9.2 Linux/5.10.0-kali7-amd64 botocore/1.16.19"
ATTACKER_BOTO = (
    "Boto3/1.28.85 md/Botocore#1.31.85 ua/2.0 os/linux#6.1.0-13-amd64 md/arch#x86_64 lang/python#3.11.2 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.31.85"
)

# --- Resources --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resources:
    account: str
    buckets: tuple[str, ...]
    prefixes: tuple[str, ...]
    functions: tuple[str, ...] = ("orders-api",)
    tables: tuple[str, ...] = ("orders",)
    parameters: tuple[str, ...] = ("/app/config",)
    secrets: tuple[str, ...] = ("prod/app/db",)
    stacks: tuple[str, ...] = ("network",)
    repositories: tuple[str, ...] = ("app",)
    volumes: tuple[str, ...] = ("vol-0a1b2c3d4e5f60718",)
    key_id: str = "0f6c3b5e-5a4d-4c1e-9a3e-2b7d8e9f0a1b"


_RESOURCES = {
    ADMIN: _Resources(
        account=ADMIN,
        buckets=("acme-security-audit-111111111111", "acme-ci-artifacts-111111111111"),
        prefixes=("reports/weekly", "builds/app", "builds/web"),
        stacks=("security-baseline", "ci-runners"),
        secrets=("ci/github-token",),
        parameters=("/ci/runner/config",),
        key_id="5e1d7a2c-8b3f-4f6a-9c2d-1a0b3c4d5e6f",
    ),
    PROD: _Resources(
        account=PROD,
        buckets=("acme-prod-assets-222222222222", "acme-prod-uploads-222222222222", "acme-deploy-222222222222"),
        prefixes=("static/js", "uploads/2026", "releases/app"),
        functions=("orders-api", "thumbnailer", "webhooks"),
        tables=("orders", "sessions"),
        parameters=("/prod/app/feature-flags", "/prod/app/endpoints"),
        secrets=("prod/app/db", "prod/app/stripe"),
        stacks=("prod-network", "prod-app", "prod-web"),
        repositories=("app", "web", "worker"),
        volumes=("vol-0c4f1e2a9b8d7c6e5", "vol-07d3e9a1b2c4f6e80", "vol-0e2b4d6f8a0c1e3f5"),
        key_id="7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
    ),
    DATA: _Resources(
        account=DATA,
        buckets=(
            "acme-datalake-raw-333333333333", "acme-datalake-curated-333333333333",
            "acme-athena-results-333333333333", "acme-backups-333333333333",
        ),
        prefixes=("orders/dt=2026", "events/dt=2026", "curated/daily", "query-results"),
        functions=("orders-processor",),
        tables=("orders-ledger",),
        parameters=("/data/warehouse/endpoint",),
        secrets=("data/warehouse/admin", "data/orders/api-key"),
        stacks=("data-lake", "warehouse"),
        volumes=("vol-0f1e2d3c4b5a69788", "vol-01a2b3c4d5e6f7081", "vol-0b9a8c7d6e5f40312"),
        key_id="2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
    ),
}
_INSTANCES = {"i-0a7c2e4f6b8d01234": "54.172.30.11", "i-03e5b7d9f1a2c4e68": "3.91.44.120",
              "i-0d1f3b5a7c9e2b4d6": "52.90.18.203"}  # app-server fleet in 222222222222
_BASTION = ("i-0e3c5a7b9d1f20486", "34.203.77.18", "10.30.1.15")  # in 333333333333: id, public, private
_AMI = "ami-0c7d9e1f3a5b7c9d1"

# --- Calls ------------------------------------------------------------------------------------

Builder = Callable[[random.Random, _Resources], Json | None]


@dataclass(frozen=True)
class _Op:
    service: str  # the eventSource before ".amazonaws.com"
    name: str
    read_only: bool = True
    request: Builder | Json | None = None
    response: Builder | Json | None = None
    data: bool = False  # an S3 data event


def _bucket(rng: random.Random, res: _Resources) -> Json:
    bucket = rng.choice(res.buckets)
    return {"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com"}


def _object(rng: random.Random, res: _Resources) -> Json:
    request = _bucket(rng, res)
    request["key"] = f"{rng.choice(res.prefixes)}/{rng.randrange(100000):05d}.json"
    return request


def _listing(rng: random.Random, res: _Resources) -> Json:
    request = _bucket(rng, res)
    request.update({"list-type": "2", "prefix": rng.choice(res.prefixes) + "/", "encoding-type": "url"})
    return request


def _pick(key: str, attribute: str) -> Builder:
    return lambda rng, res: {key: rng.choice(getattr(res, attribute))}


def _stack(rng: random.Random, res: _Resources) -> Json:
    return {"stackName": rng.choice(res.stacks)}


def _decrypt(rng: random.Random, res: _Resources) -> Json:
    return {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": f"arn:aws:kms:{REGION}:{res.account}:key/{res.key_id}"}


def _metric(rng: random.Random, res: _Resources) -> Json:
    return {"startTime": "PT3H", "endTime": "P0D", "maxDatapoints": 100800}


def _athena_start(rng: random.Random, res: _Resources) -> Json:
    table = rng.choice(("orders", "events", "sessions_daily"))
    return {"queryString": f"SELECT * FROM analytics.{table} WHERE dt = current_date LIMIT 100",
            "workGroup": "primary", "queryExecutionContext": {"database": "analytics"}}


def _athena_id(rng: random.Random, res: _Resources) -> Json:
    return {"queryExecutionId": str(uuid.UUID(int=rng.getrandbits(128), version=4))}


def _tags(rng: random.Random, res: _Resources) -> Json:
    instance = rng.choice(tuple(_INSTANCES))
    return {"resourcesSet": {"items": [{"resourceId": instance}]},
            "tagSet": {"items": [{"key": "owner", "value": "platform"}]}}


def _snapshot(rng: random.Random, res: _Resources) -> Json:
    return {"volumeId": rng.choice(res.volumes), "description": "nightly backup"}


def _snapshot_made(rng: random.Random, res: _Resources) -> Json:
    return {"snapshotId": f"snap-{rng.getrandbits(68):017x}", "status": "pending", "volumeSize": 100,
            "encrypted": True, "progress": ""}


STS_WHOAMI = _Op("sts", "GetCallerIdentity")
S3_LIST_BUCKETS = _Op("s3", "ListBuckets", request={"Host": "s3.amazonaws.com"})
S3_LIST = _Op("s3", "ListObjects", request=_listing, data=True)
S3_GET = _Op("s3", "GetObject", request=_object, data=True)
S3_PUT = _Op("s3", "PutObject", read_only=False, request=_object, data=True)
S3_LOCATION = _Op("s3", "GetBucketLocation", request=_bucket)
S3_POLICY = _Op("s3", "GetBucketPolicy", request=_bucket)
S3_ACL = _Op("s3", "GetBucketAcl", request=_bucket)
EC2_INSTANCES = _Op("ec2", "DescribeInstances", request={"instancesSet": {}, "filterSet": {}})
EC2_GROUPS = _Op("ec2", "DescribeSecurityGroups", request={"securityGroupSet": {}, "securityGroupIdSet": {},
                                                           "filterSet": {}})
EC2_SUBNETS = _Op("ec2", "DescribeSubnets", request={"subnetSet": {}, "filterSet": {}})
EC2_VPCS = _Op("ec2", "DescribeVpcs", request={"vpcSet": {}, "filterSet": {}})
EC2_VOLUMES = _Op("ec2", "DescribeVolumes", request={"volumeSet": {}, "filterSet": {}})
EC2_SNAPSHOTS = _Op("ec2", "DescribeSnapshots", request={"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]},
                                                        "filterSet": {}})
EC2_TAGS = _Op("ec2", "DescribeTags", request={"filterSet": {"items": [{"name": "resource-id"}]}})
EC2_CREATE_TAGS = _Op("ec2", "CreateTags", read_only=False, request=_tags, response={"_return": True})
EC2_CREATE_SNAPSHOT = _Op("ec2", "CreateSnapshot", read_only=False, request=_snapshot, response=_snapshot_made)
EC2_FLOW_LOGS = _Op("ec2", "DescribeFlowLogs", request={"filterSet": {}})
LAMBDA_LIST = _Op("lambda", "ListFunctions20150331")
LAMBDA_GET = _Op("lambda", "GetFunction20150331v2", request=_pick("functionName", "functions"))
LAMBDA_UPDATE = _Op("lambda", "UpdateFunctionCode20150331v2", read_only=False,
                    request=lambda rng, res: {"functionName": rng.choice(res.functions), "publish": True,
                                              "s3Bucket": res.buckets[-1], "s3Key": "releases/app/bundle.zip"},
                    response={"state": "Active", "lastUpdateStatus": "InProgress"})
LOGS_GROUPS = _Op("logs", "DescribeLogGroups")
LOGS_STREAM = _Op("logs", "CreateLogStream", read_only=False,
                  request=lambda rng, res: {"logGroupName": f"/aws/lambda/{rng.choice(res.functions)}",
                                            "logStreamName": f"2026/10/{rng.randrange(1, 31):02d}/[$LATEST]"
                                                             f"{rng.getrandbits(128):032x}"})
SSM_PARAMETER = _Op("ssm", "GetParameter", request=lambda rng, res: {"name": rng.choice(res.parameters),
                                                                     "withDecryption": True})
SSM_INSTANCES = _Op("ssm", "DescribeInstanceInformation")
SECRET_VALUE = _Op("secretsmanager", "GetSecretValue", request=_pick("secretId", "secrets"))
KMS_DECRYPT = _Op("kms", "Decrypt", request=_decrypt)
KMS_KEYS = _Op("kms", "ListKeys")
KMS_DATA_KEY = _Op("kms", "GenerateDataKey", request=lambda rng, res: {"keyId": f"alias/{res.buckets[0]}",
                                                                      "keySpec": "AES_256"})
CFN_STACKS = _Op("cloudformation", "DescribeStacks", request=_stack)
CFN_EVENTS = _Op("cloudformation", "DescribeStackEvents", request=_stack)
CFN_CHANGE_SET = _Op("cloudformation", "CreateChangeSet", read_only=False,
                     request=lambda rng, res: {"stackName": rng.choice(res.stacks), "changeSetType": "UPDATE",
                                               "changeSetName": f"deploy-{rng.getrandbits(32):08x}"})
CFN_EXECUTE = _Op("cloudformation", "ExecuteChangeSet", read_only=False, request=_stack)
ECR_REPOS = _Op("ecr", "DescribeRepositories")
ECR_IMAGES = _Op("ecr", "DescribeImages", request=_pick("repositoryName", "repositories"))
ECR_TOKEN = _Op("ecr", "GetAuthorizationToken")
ECR_PUT = _Op("ecr", "PutImage", read_only=False,
              request=lambda rng, res: {"repositoryName": rng.choice(res.repositories), "imageTag": "latest"})
DDB_DESCRIBE = _Op("dynamodb", "DescribeTable", request=_pick("tableName", "tables"))
DDB_LIST = _Op("dynamodb", "ListTables")
METRICS = _Op("monitoring", "GetMetricData", request=_metric)
ALARMS = _Op("monitoring", "DescribeAlarms", request={"stateValue": "ALARM"})
ASG = _Op("autoscaling", "DescribeAutoScalingGroups")
RDS_INSTANCES = _Op("rds", "DescribeDBInstances")
ATHENA_START = _Op("athena", "StartQueryExecution", read_only=False, request=_athena_start)
ATHENA_GET = _Op("athena", "GetQueryExecution", request=_athena_id)
ATHENA_RESULTS = _Op("athena", "GetQueryResults", request=_athena_id)
GLUE_TABLES = _Op("glue", "GetTables", request={"databaseName": "analytics"})
GLUE_TABLE = _Op("glue", "GetTable", request=lambda rng, res: {"databaseName": "analytics",
                                                               "name": rng.choice(("orders", "events"))})
GLUE_DATABASES = _Op("glue", "GetDatabases")
EMR_CLUSTERS = _Op("elasticmapreduce", "ListClusters", request={"clusterStates": ["RUNNING", "WAITING"]})
IAM_ROLES = _Op("iam", "ListRoles")
IAM_ROLE = _Op("iam", "GetRole", request=lambda rng, res: {"roleName": rng.choice(("ci-deploy", "app-server",
                                                                                    "Admin"))})
IAM_POLICIES = _Op("iam", "ListPolicies", request={"scope": "Local", "onlyAttached": False})
IAM_ROLE_POLICIES = _Op("iam", "ListAttachedRolePolicies", request={"roleName": "app-server"})
ORG_ACCOUNTS = _Op("organizations", "ListAccounts")
GD_FINDINGS = _Op("guardduty", "ListFindings", request={"detectorId": "f4c1d2e3a4b5c6d7e8f9a0b1c2d3e4f5"})
GD_GET = _Op("guardduty", "GetFindings", request={"detectorId": "f4c1d2e3a4b5c6d7e8f9a0b1c2d3e4f5"})
SH_FINDINGS = _Op("securityhub", "GetFindings", request={"maxResults": 100})
CT_LOOKUP = _Op("cloudtrail", "LookupEvents", request={"maxResults": 50})
CT_STATUS = _Op("cloudtrail", "GetTrailStatus", request={"name": "org-trail"})
CONFIG_COMPLIANCE = _Op("config", "DescribeComplianceByConfigRule")
ANALYZER = _Op("access-analyzer", "ListFindings", request={"analyzerArn": "org-analyzer"})
COST = _Op("ce", "GetCostAndUsage", request={"granularity": "DAILY", "metrics": ["UnblendedCost"]})
HEALTH = _Op("health", "DescribeEventAggregates", request={"aggregateField": "eventTypeCategory"})

Mix = tuple[tuple[_Op, float], ...]

_PROFILES: dict[str, Mix] = {
    "developer": (
        (STS_WHOAMI, 4), (EC2_INSTANCES, 8), (EC2_GROUPS, 3), (EC2_SUBNETS, 2), (EC2_VPCS, 1), (S3_LIST_BUCKETS, 2),
        (S3_LIST, 6), (S3_GET, 10), (S3_PUT, 4), (LAMBDA_LIST, 3), (LAMBDA_GET, 3), (LOGS_GROUPS, 3),
        (SSM_PARAMETER, 4), (CFN_STACKS, 3), (CFN_EVENTS, 2), (ECR_REPOS, 2), (ECR_IMAGES, 2), (DDB_DESCRIBE, 2),
        (KMS_DECRYPT, 2), (EC2_CREATE_TAGS, 0.5), (METRICS, 2),
    ),
    "security": (
        (STS_WHOAMI, 2), (GD_FINDINGS, 6), (GD_GET, 5), (SH_FINDINGS, 4), (CT_LOOKUP, 4), (CT_STATUS, 1),
        (IAM_ROLES, 2), (IAM_ROLE, 2), (S3_POLICY, 2), (S3_ACL, 1), (EC2_GROUPS, 3), (EC2_FLOW_LOGS, 1),
        (CONFIG_COMPLIANCE, 2), (ANALYZER, 2), (S3_GET, 3), (S3_LIST, 2),
    ),
    "admin": (
        (STS_WHOAMI, 3), (ORG_ACCOUNTS, 2), (IAM_ROLES, 3), (IAM_ROLE, 3), (IAM_POLICIES, 2), (IAM_ROLE_POLICIES, 2),
        (EC2_INSTANCES, 5), (EC2_VPCS, 2), (EC2_SUBNETS, 2), (CFN_STACKS, 4), (CFN_EVENTS, 2), (COST, 1),
        (S3_LIST_BUCKETS, 2), (ALARMS, 2), (KMS_KEYS, 1),
    ),
    "data": (
        (STS_WHOAMI, 2), (ATHENA_START, 5), (ATHENA_GET, 8), (ATHENA_RESULTS, 5), (GLUE_TABLES, 3), (GLUE_TABLE, 4),
        (GLUE_DATABASES, 1), (S3_LIST, 5), (S3_GET, 8), (S3_PUT, 4), (EMR_CLUSTERS, 2), (KMS_DECRYPT, 3),
        (DDB_DESCRIBE, 1), (LOGS_GROUPS, 1),
    ),
    "analyst": (
        (ATHENA_START, 6), (ATHENA_GET, 10), (ATHENA_RESULTS, 7), (GLUE_TABLES, 3), (GLUE_TABLE, 3), (S3_LIST, 3),
        (S3_GET, 6), (KMS_DECRYPT, 2), (STS_WHOAMI, 1),
    ),
    "ops": (
        (EC2_INSTANCES, 8), (EC2_VOLUMES, 3), (EC2_SNAPSHOTS, 2), (ALARMS, 4), (METRICS, 6), (LOGS_GROUPS, 3),
        (SSM_INSTANCES, 3), (ASG, 3), (RDS_INSTANCES, 3), (STS_WHOAMI, 2), (CFN_STACKS, 2), (S3_GET, 2),
    ),
    "console": (
        (EC2_INSTANCES, 8), (METRICS, 6), (ALARMS, 3), (S3_LIST_BUCKETS, 3), (S3_LOCATION, 3), (S3_LIST, 4),
        (COST, 2), (HEALTH, 2), (CFN_STACKS, 2), (LAMBDA_LIST, 2), (LOGS_GROUPS, 2),
    ),
    # role sessions
    "ci": (
        (CFN_STACKS, 6), (CFN_CHANGE_SET, 2), (CFN_EXECUTE, 2), (CFN_EVENTS, 4), (LAMBDA_UPDATE, 2), (LAMBDA_GET, 3),
        (ECR_TOKEN, 2), (ECR_PUT, 2), (S3_PUT, 3), (S3_GET, 2), (STS_WHOAMI, 1),
    ),
    "instance": (
        (S3_GET, 14), (S3_PUT, 5), (SSM_PARAMETER, 4), (KMS_DECRYPT, 5), (SECRET_VALUE, 1), (EC2_TAGS, 1),
        (STS_WHOAMI, 1), (DDB_DESCRIBE, 1),
    ),
    "lambda": ((S3_GET, 8), (S3_PUT, 6), (KMS_DECRYPT, 4), (KMS_DATA_KEY, 2), (SSM_PARAMETER, 3),
               (SECRET_VALUE, 1), (LOGS_STREAM, 1)),
    "config": ((EC2_INSTANCES, 3), (EC2_GROUPS, 3), (EC2_VOLUMES, 2), (EC2_VPCS, 1), (EC2_SUBNETS, 1),
               (S3_POLICY, 2), (S3_ACL, 2), (IAM_ROLES, 1), (IAM_ROLE_POLICIES, 1)),
    "admin-role": ((EC2_INSTANCES, 4), (EC2_VOLUMES, 2), (CFN_STACKS, 3), (IAM_ROLES, 2), (IAM_ROLE, 2),
                   (LOGS_GROUPS, 2), (S3_LIST_BUCKETS, 1), (METRICS, 2)),
}

_DENIED_CODE = {"ec2": "Client.UnauthorizedOperation", "iam": "AccessDenied", "s3": "AccessDenied",
                "sts": "AccessDenied", "cloudformation": "AccessDenied", "monitoring": "AccessDenied",
                "autoscaling": "AccessDenied"}
_GLOBAL = frozenset({"iam", "organizations", "ce", "health"})
_TLS = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}


def _tls(host: str) -> Json:
    return {**_TLS, "clientProvidedHostHeader": host}


class _Endpoints(dict[str, Json]):
    """tlsDetails for a service's own endpoint, made once per service."""

    def __missing__(self, service: str) -> Json:
        host = f"{service}.amazonaws.com" if service in _GLOBAL else f"{service}.{REGION}.amazonaws.com"
        self[service] = _tls(host)
        return self[service]


_ENDPOINT_TLS = _Endpoints()

# --- Principals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    name: str
    account: str
    utc_offset: float  # hours; office hours are local
    ips: tuple[str, ...]  # one place a day
    agents: tuple[str, ...]  # tools, one a work burst
    profile: str
    share: float  # of a day's events, on a working day
    console: bool = False
    upgrade: tuple[int, str] | None = None  # (day, agent): a tool upgraded on that day

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.name}"


_PEOPLE = (
    _Person("alice", ADMIN, -7, ("64.125.190.12", "73.97.148.201"), (CLI_MAC,), "security", 0.023),
    _Person("bob", ADMIN, 0, ("86.43.112.14", "89.101.22.173"), (CLI_LINUX, BOTO_MAC), "security", 0.017),
    _Person("carol", ADMIN, -6, ("4.14.88.10", "24.9.156.77"), (CLI_MAC,), "admin", 0.023),
    _Person("dave", PROD, 1, ("91.64.10.22", "79.205.33.140"), (CLI_LINUX, BOTO_MAC), "developer", 0.04),
    _Person("erin", PROD, -5, ("70.114.202.9", "12.161.45.30"), (CLI_MAC,), "developer", 0.034),
    _Person("grace", PROD, 0, ("109.144.210.5", "62.252.101.33"), (CHROME_MAC,), "console", 0.017, console=True),
    _Person("frank", DATA, -3, ("177.37.40.8", "189.4.77.120"), (CLI_WINDOWS, BOTO_MAC), "data", 0.034),
    _Person("heidi", DATA, -4, ("99.227.5.60", "142.112.48.3"), (CLI_OLD,), "analyst", 0.029,
            upgrade=(30, CLI_MAC)),
    _Person("ivan", DATA, 11, ("1.144.10.77", "203.219.12.40"), (CLI_LINUX,), "ops", 0.023),
    _Person("judy", DATA, -5, ("98.226.40.10", "24.183.40.2"), (FIREFOX_WINDOWS,), "console", 0.017, console=True),
)
_BY_NAME = {person.name: person for person in _PEOPLE}
_CI_IP = "38.104.12.50"
_JENKINS = _Person("jenkins", ADMIN, -4, (_CI_IP,), (CLI_CI,), "ci", 0.0)  # builds: see _ci_day

_SHARES = {"ci-deploy": 0.070, "app-server": 0.400, "orders-processor": 0.240, "config": 0.025,
           "backup-operator": 0.004}


def _role_arn(account: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:role{path}{name}"


# --- Writing ----------------------------------------------------------------------------------


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def _iso_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def _expiration(ms: int) -> str:
    """STS's credentials.expiration as CloudTrail records it: "Oct 30, 2026, 6:05:12 PM"."""
    t = time.gmtime(ms // 1000)
    hour = t.tm_hour % 12 or 12
    return f"{time.strftime('%b', t)} {t.tm_mday}, {t.tm_year}, {hour}:{t.tm_min:02d}:{t.tm_sec:02d} " + (
        "AM" if t.tm_hour < 12 else "PM")


def _floor_hour(ms: int) -> int:
    return ms - ms % HOUR_MS


_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_NAME_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class _Session:
    """A role session: its identity block, reused by every call it makes."""

    def __init__(self, world: _World, account: str, role: str, name: str, created_ms: int, *,
                 mfa: bool = False, invoked_by: str = "", role_path: str = "/", ec2: bool = False) -> None:
        self.account = account
        self.role_arn = _role_arn(account, role, role_path)
        self.arn = f"arn:aws:sts::{account}:assumed-role/{role}/{name}"
        self.name = name
        self.key = world.key("ASIA")
        context: Json = {
            "sessionIssuer": {"type": "Role", "principalId": world.role_id(self.role_arn), "arn": self.role_arn,
                              "accountId": account, "userName": role},
            "attributes": {"creationDate": _iso(created_ms), "mfaAuthenticated": "true" if mfa else "false"},
        }
        if ec2:
            context["ec2RoleDelivery"] = "2.0"
        self.identity: Json = {"type": "AssumedRole", "principalId": f"{world.role_id(self.role_arn)}:{name}",
                               "arn": self.arn, "accountId": account, "accessKeyId": self.key,
                               "sessionContext": context}
        if invoked_by:
            self.identity["invokedBy"] = invoked_by


class _World:
    """The generator's state: the random source, ids, and the records by delivery file."""

    def __init__(self, rng: random.Random, start_ms: int, end_ms: int, file_ms: int) -> None:
        self.rng = rng
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.file_ms = file_ms
        self.files: dict[tuple[str, int], list[tuple[int, int, Record]]] = {}
        self.count = 0
        self.ids: dict[str, str] = {}
        self.user_identity: dict[str, Json] = {}  # each user's one long-term access key (AKIA...)
        for person in _PEOPLE + (_JENKINS,):
            self.user_identity[person.name] = {
                "type": "IAMUser", "principalId": self.principal_id(person.arn, "AIDA"), "arn": person.arn,
                "accountId": person.account, "accessKeyId": self.key("AKIA"), "userName": person.name,
            }

    # ids

    def key(self, prefix: str) -> str:
        return prefix + "".join(self.rng.choices(_ID_ALPHABET, k=16))

    def principal_id(self, arn: str, prefix: str) -> str:
        if arn not in self.ids:
            self.ids[arn] = prefix + "".join(self.rng.choices(_ID_ALPHABET, k=17))
        return self.ids[arn]

    def role_id(self, role_arn: str) -> str:
        return self.principal_id(role_arn, "AROA")

    def uuid(self) -> str:
        """A version 4 UUID from the seeded source (uuid.UUID() is three times slower here)."""
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"

    # records

    def add(self, account: str, ms: int, record: Record) -> None:
        if self.start_ms <= ms < self.end_ms:
            self.files.setdefault((account, ms // self.file_ms), []).append((ms, self.count, record))
            self.count += 1

    def call(self, account: str, ms: int, identity: Json, op: _Op, ip: str, agent: str, *,
             error: bool = False, request: Json | None = None, response: Json | None = None,
             console: bool = False) -> None:
        """One API call as CloudTrail records it in ``account``'s trail."""
        rng = self.rng
        res = _RESOURCES[account]
        if request is None:
            request = op.request(rng, res) if callable(op.request) else op.request
        record: Record = {
            "eventVersion": "1.10" if op.data else "1.09",
            "userIdentity": identity,
            "eventTime": _iso(ms),
            "eventSource": f"{op.service}.amazonaws.com",
            "eventName": op.name,
            "awsRegion": REGION,
            "sourceIPAddress": ip,
            "userAgent": agent,
        }
        if error:
            action = f"{op.service}:{op.name.rstrip('0123456789v')}"
            record["errorCode"] = _DENIED_CODE.get(op.service, "AccessDeniedException")
            record["errorMessage"] = "Access Denied" if op.service == "s3" else (
                f"User: {identity.get('arn', '')} is not authorized to perform: {action} because no "
                f"identity-based policy allows the {action} action")
        record["requestParameters"] = request
        if error or op.read_only:
            record["responseElements"] = None
        else:
            record["responseElements"] = op.response(rng, res) if callable(op.response) else op.response
        if op.data:
            record["additionalEventData"] = {
                "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0 if op.read_only else _within(rng, 200, 900_000),
                "AuthenticationMethod": "AuthHeader",
                "bytesTransferredOut": _within(rng, 200, 900_000) if op.read_only and not error else 0,
            }
            record["requestID"] = f"{rng.getrandbits(64):016X}"
        else:
            record["requestID"] = self.uuid()
        record["eventID"] = self.uuid()
        record["readOnly"] = op.read_only
        if op.data and request is not None:
            bucket = request["bucketName"]
            resources: list[Json] = []
            if "key" in request:
                resources.append({"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{request['key']}"})
            resources.append({"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"})
            record["resources"] = resources
        record["eventType"] = "AwsApiCall"
        record["managementEvent"] = not op.data
        record["recipientAccountId"] = account
        record["eventCategory"] = "Data" if op.data else "Management"
        if not ip.endswith(".amazonaws.com"):
            host = request.get("Host") if request else None
            record["tlsDetails"] = _tls(host) if host else _ENDPOINT_TLS[op.service]
        if console:
            record["sessionCredentialFromConsole"] = "true"
        self.add(account, ms, record)

    def assume_role(self, ms: int, caller: Json, caller_account: str, session: _Session, ip: str, agent: str,
                    duration_ms: int = SESSION_MS) -> None:
        """sts:AssumeRole by a user: recorded in the caller's account and, across accounts, in the role's."""
        request = {"roleArn": session.role_arn, "roleSessionName": session.name,
                   "durationSeconds": duration_ms // 1000}
        response = {
            "credentials": {"accessKeyId": session.key, "sessionToken": self._token(),
                            "expiration": _expiration(ms + duration_ms)},
            "assumedRoleUser": {"assumedRoleId": f"{self.role_id(session.role_arn)}:{session.name}",
                                "arn": session.arn},
        }
        shared = self.uuid()
        accounts = [caller_account] + ([session.account] if session.account != caller_account else [])
        for account in accounts:
            identity = caller if account == caller_account else {
                "type": "AWSAccount", "principalId": caller["principalId"], "accountId": caller_account}
            record: Record = {
                "eventVersion": "1.08", "userIdentity": identity, "eventTime": _iso(ms),
                "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": REGION,
                "sourceIPAddress": ip, "userAgent": agent, "requestParameters": request,
                "responseElements": response, "requestID": self.uuid(), "eventID": self.uuid(), "readOnly": True,
                "resources": [{"accountId": session.account, "type": "AWS::IAM::Role", "ARN": session.role_arn}],
                "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": account,
                "eventCategory": "Management",
                "tlsDetails": {**_TLS, "clientProvidedHostHeader": "sts.amazonaws.com"},
            }
            if len(accounts) > 1:
                record["sharedEventID"] = shared
            self.add(account, ms, record)

    def service_assume_role(self, ms: int, service: str, session: _Session, duration_ms: int) -> None:
        """An AWS service taking up the role it runs as (EC2 instance profiles, Lambda, Config)."""
        record: Record = {
            "eventVersion": "1.08", "userIdentity": {"type": "AWSService", "invokedBy": service},
            "eventTime": _iso(ms), "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
            "awsRegion": REGION, "sourceIPAddress": service, "userAgent": service,
            "requestParameters": {"roleArn": session.role_arn, "roleSessionName": session.name},
            "responseElements": {"credentials": {"accessKeyId": session.key, "sessionToken": self._token(),
                                                 "expiration": _expiration(ms + duration_ms)}},
            "requestID": self.uuid(), "eventID": self.uuid(), "readOnly": True,
            "resources": [{"accountId": session.account, "type": "AWS::IAM::Role", "ARN": session.role_arn}],
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": session.account,
            "sharedEventID": self.uuid(), "eventCategory": "Management",
        }
        self.add(session.account, ms, record)

    def console_login(self, ms: int, person: _Person, ip: str, agent: str, success: bool = True) -> None:
        identity = {"type": "IAMUser", "principalId": self.user_identity[person.name]["principalId"],
                    "arn": person.arn, "accountId": person.account, "userName": person.name}
        record: Record = {
            "eventVersion": "1.09", "userIdentity": identity, "eventTime": _iso(ms),
            "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "awsRegion": REGION,
            "sourceIPAddress": ip, "userAgent": agent,
        }
        if not success:
            record["errorMessage"] = "Failed authentication"
        record.update({
            "requestParameters": None,
            "responseElements": {"ConsoleLogin": "Success" if success else "Failure"},
            "additionalEventData": {
                "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
                "MobileVersion": "No", "MFAIdentifier": f"arn:aws:iam::{person.account}:mfa/{person.name}",
                "MFAUsed": "Yes" if success else "No"},
            "eventID": self.uuid(), "readOnly": False, "eventType": "AwsConsoleSignIn", "managementEvent": True,
            "recipientAccountId": person.account, "eventCategory": "Management",
            "tlsDetails": {**_TLS, "clientProvidedHostHeader": "signin.aws.amazon.com"},
        })
        self.add(person.account, ms, record)

    def _token(self) -> str:
        return "IQoJb3JpZ2luX2VjE" + "".join(self.rng.choices(_NAME_ALPHABET, k=96))

    # files

    def write(self, root: Path) -> int:
        """One delivery file per account and file_ms; gzip runs in threads (zlib lets go of the GIL)."""
        rng = self.rng
        written = 0
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            pending: deque[Future[None]] = deque()
            for (account, _slot), entries in sorted(self.files.items()):
                entries.sort()
                records = [record for _, _, record in entries]
                delivered = entries[-1][0] + rng.randrange(3, 13) * 60_000
                stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered // 1000))
                day = time.strftime("%Y/%m/%d", time.gmtime(delivered // 1000))
                suffix = "".join(rng.choices(_NAME_ALPHABET, k=16))
                path = root / "AWSLogs" / account / "CloudTrail" / REGION / day / (
                    f"{account}_CloudTrail_{REGION}_{stamp}_{suffix}.json.gz")
                pending.append(pool.submit(_write_gzip, path, orjson.dumps({"Records": records})))
                written += len(records)
                while len(pending) > 64:
                    pending.popleft().result()
            for future in pending:
                future.result()
        return written


def _write_gzip(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body, compresslevel=1, mtime=0))  # mtime=0: same bytes every run


# --- Ordinary life ----------------------------------------------------------------------------


def _mix(profile: str) -> tuple[list[_Op], list[float]]:
    ops = [op for op, _ in _PROFILES[profile]]
    weights: list[float] = []
    total = 0.0
    for _, weight in _PROFILES[profile]:
        total += weight
        weights.append(total)
    return ops, weights


def _spread(rng: random.Random, start_ms: int, count: int, gap_s: tuple[int, int] = (2, 40)) -> list[int]:
    """Moments of a burst of calls: one, then one every few seconds."""
    low, span = gap_s[0] * 1000, (gap_s[1] - gap_s[0]) * 1000
    times = []
    ms = start_ms
    for _ in range(count):
        times.append(ms)
        ms += low + int(rng.random() * span)
    return times


def _within(rng: random.Random, start_ms: int, end_ms: int) -> int:
    return start_ms + int(rng.random() * (end_ms - start_ms))


def _daily(world: _World, share: float, events_per_day: int, factor: float = 1.0) -> int:
    return max(0, round(events_per_day * share * factor * world.rng.uniform(0.75, 1.25)))


def _people_day(world: _World, day: int, day_ms: int, events_per_day: int, seen: dict[str, set[str]]) -> None:
    rng = world.rng
    for person in _PEOPLE:
        local_weekday = time.gmtime((day_ms + int(person.utc_offset * HOUR_MS) + 12 * HOUR_MS) // 1000).tm_wday
        factor = 1.35 if local_weekday < 5 else 0.06
        count = _daily(world, person.share, events_per_day, factor)
        if count == 0:
            continue
        unused = [ip for ip in person.ips if ip not in seen[person.name]]
        ip = unused[0] if unused else rng.choices(person.ips, weights=(3, 2)[: len(person.ips)])[0]
        seen[person.name].add(ip)
        agents = person.agents
        if person.upgrade is not None and day >= person.upgrade[0]:
            agents = (person.upgrade[1],)
        ops, weights = _mix(person.profile)
        identity = world.user_identity[person.name]
        if person.console:
            key = world.key("ASIA")
            identity = {**identity, "accessKeyId": key, "sessionContext": {"attributes": {
                "creationDate": "", "mfaAuthenticated": "true"}}}
        bursts = max(1, count // 12)
        for burst in range(bursts):
            size = count // bursts + (1 if burst < count % bursts else 0)
            local_hour = rng.uniform(8.5, 17.0)
            start = day_ms + int((local_hour - person.utc_offset) * HOUR_MS)
            agent = rng.choice(agents)
            if person.console and burst == 0:
                if rng.random() < 0.03:
                    world.console_login(start - 40_000, person, ip, agent, success=False)
                world.console_login(start - 20_000, person, ip, agent)
                identity["sessionContext"]["attributes"]["creationDate"] = _iso(start - 20_000)
            for ms, op in zip(_spread(rng, start, size), rng.choices(ops, cum_weights=weights, k=size), strict=True):
                used = S3_CONSOLE if person.console and op.service == "s3" else agent
                world.call(person.account, ms, identity, op, ip, used, error=rng.random() < ERROR_RATE,
                           console=person.console)
        if person.name == "carol" and local_weekday < 5 and rng.random() < 0.6:
            _admin_role_visit(world, person, day_ms, ip, agents[0], count)


def _admin_role_visit(world: _World, carol: _Person, day_ms: int, ip: str, agent: str, count: int) -> None:
    """carol switches into a member account's Admin role to look around."""
    rng = world.rng
    account = rng.choice((PROD, DATA))
    start = day_ms + int((rng.uniform(9.0, 16.0) - carol.utc_offset) * HOUR_MS)
    session = _Session(world, account, "Admin", carol.name, start, mfa=True)
    world.assume_role(start, world.user_identity[carol.name], ADMIN, session, ip, agent)
    ops, weights = _mix("admin-role")
    size = max(2, count // 3)
    for ms, op in zip(_spread(rng, start + 5_000, size), rng.choices(ops, cum_weights=weights, k=size), strict=True):
        world.call(account, ms, session.identity, op, ip, agent, error=rng.random() < ERROR_RATE)


def _ci_build(world: _World, start: int, number: int, size: int,
              ops: list[_Op] | None = None) -> tuple[_Session, list[int]]:
    """A Jenkins build: artifacts to its own bucket, then a deploy through ci-deploy in production."""
    rng = world.rng
    jenkins = world.user_identity["jenkins"]
    world.call(ADMIN, start, jenkins, STS_WHOAMI, _CI_IP, CLI_CI)
    world.call(ADMIN, start + 20_000, jenkins, S3_PUT, _CI_IP, CLI_CI)
    session = _Session(world, PROD, "ci-deploy", f"jenkins-build-{number}", start + 30_000)
    world.assume_role(start + 30_000, jenkins, ADMIN, session, _CI_IP, CLI_CI)
    if ops is None:
        mix, weights = _mix("ci")
        ops = rng.choices(mix, cum_weights=weights, k=size)
    times = _spread(rng, start + 35_000, len(ops), (3, 25))
    for ms, op in zip(times, ops, strict=True):
        world.call(PROD, ms, session.identity, op, _CI_IP, CLI_CI, error=rng.random() < 0.005)
    return session, [start, *times]


def _ci_day(world: _World, day_ms: int, events_per_day: int, build: list[int]) -> None:
    rng = world.rng
    weekday = time.gmtime(day_ms // 1000).tm_wday < 5
    per_build = 12
    builds = max(1, _daily(world, _SHARES["ci-deploy"], events_per_day, 1.3 if weekday else 0.2) // per_build)
    for _ in range(builds):
        local_hour = rng.uniform(9.0, 19.0) if rng.random() < 0.85 else rng.uniform(0.0, 24.0)
        build[0] += 1
        _ci_build(world, day_ms + int((local_hour + 4) * HOUR_MS) % DAY_MS, build[0],
                  rng.randint(per_build - 4, per_build + 4))


def _backup_session(world: _World, day_ms: int) -> tuple[_Session, int]:
    """The nightly backup: Jenkins assumes backup-operator in the data account at about 02:00 UTC."""
    rng = world.rng
    start = day_ms + 2 * HOUR_MS + rng.randrange(0, 5 * 60_000)
    name = "nightly-backup-" + time.strftime("%Y%m%d", time.gmtime(day_ms // 1000))
    session = _Session(world, DATA, "backup-operator", name, start)
    world.assume_role(start, world.user_identity["jenkins"], ADMIN, session, _CI_IP, CLI_CI)
    return session, start


def _backup_night(world: _World, day_ms: int, events_per_day: int) -> None:
    rng = world.rng
    session, start = _backup_session(world, day_ms)
    snapshots = max(1, _daily(world, _SHARES["backup-operator"], events_per_day) // 3)
    ops = [EC2_VOLUMES] + [EC2_CREATE_SNAPSHOT, EC2_CREATE_TAGS] * snapshots + [EC2_SNAPSHOTS, S3_PUT]
    for ms, op in zip(_spread(rng, start + 10_000, len(ops), (5, 30)), ops, strict=True):
        world.call(DATA, ms, session.identity, op, _CI_IP, CLI_CI)


def _machines_day(world: _World, day_ms: int, events_per_day: int) -> None:
    rng = world.rng
    # app-server: three instances, credentials rotated every six hours
    ops, weights = _mix("instance")
    per_window = _daily(world, _SHARES["app-server"], events_per_day) // (len(_INSTANCES) * 4)
    for instance, ip in _INSTANCES.items():
        for window in range(4):
            begin = day_ms + window * INSTANCE_CREDENTIALS_MS + rng.randrange(0, 10 * 60_000)
            session = _Session(world, PROD, "app-server", instance, begin, ec2=True)
            world.service_assume_role(begin, "ec2.amazonaws.com", session, INSTANCE_CREDENTIALS_MS)
            for op in rng.choices(ops, cum_weights=weights, k=per_window):
                ms = _within(rng, begin + 30_000, begin + INSTANCE_CREDENTIALS_MS - 15 * 60_000)
                world.call(PROD, ms, session.identity, op, ip, BOTO_EC2, error=rng.random() < 0.002)
    # orders-processor: Lambda environments, busier in US daytime
    ops, weights = _mix("lambda")
    total = _daily(world, _SHARES["orders-processor"], events_per_day)
    windows = DAY_MS // LAMBDA_CREDENTIALS_MS
    for window in range(windows):
        begin = day_ms + window * LAMBDA_CREDENTIALS_MS + rng.randrange(0, 60_000)
        session = _Session(world, DATA, "orders-processor", "orders-processor", begin)
        world.service_assume_role(begin, "lambda.amazonaws.com", session, LAMBDA_CREDENTIALS_MS)
        ip = rng.choice(_LAMBDA_IPS)
        busy = 1.5 if window in (3, 4) else 0.75
        for op in rng.choices(ops, cum_weights=weights, k=round(total / windows * busy)):
            ms = _within(rng, begin + 5_000, begin + LAMBDA_CREDENTIALS_MS - 60_000)
            world.call(DATA, ms, session.identity, op, ip, BOTO_LAMBDA)
    # AWS Config, in every account, describing resources four times a day
    ops, weights = _mix("config")
    per_sweep = max(1, _daily(world, _SHARES["config"], events_per_day) // 12)
    for account in (ADMIN, PROD, DATA):
        for sweep in range(4):
            begin = day_ms + sweep * 6 * HOUR_MS + rng.randrange(0, HOUR_MS)
            session = _Session(world, account, "AWSServiceRoleForConfig", "AWSConfig-Describe", begin,
                               invoked_by="config.amazonaws.com",
                               role_path="/aws-service-role/config.amazonaws.com/")
            world.service_assume_role(begin, "config.amazonaws.com", session, SESSION_MS)
            for ms, op in zip(_spread(rng, begin + 2_000, per_sweep, (1, 5)),
                              rng.choices(ops, cum_weights=weights, k=per_sweep), strict=True):
                world.call(account, ms, session.identity, op, "config.amazonaws.com", "config.amazonaws.com")


# --- Attacks ----------------------------------------------------------------------------------


def _scope(times: Iterable[int]) -> tuple[int, int]:
    moments = list(times)
    return _floor_hour(min(moments)) - HOUR_MS, _floor_hour(max(moments)) + 2 * HOUR_MS


def _attack_stolen_key(world: _World, start: int) -> tuple[Expected, tuple[int, int]]:
    """a: dave's access key, used from a VPS in Bucharest with an old Kali aws-cli."""
    dave = _BY_NAME["dave"]
    ip = "185.156.73.54"
    identity = world.user_identity["dave"]
    steps: list[tuple[_Op, bool]] = [
        (STS_WHOAMI, False), (_Op("iam", "GetUser"), False), (_Op("iam", "ListUsers"), False),
        (_Op("iam", "ListAttachedUserPolicies", request={"userName": "dave"}), True),
        (_Op("iam", "ListGroupsForUser", request={"userName": "dave"}), True),
        (_Op("iam", "GetAccountAuthorizationDetails", request={"filter": ["User", "Role", "Group"]}), True),
        (_Op("iam", "ListRoles"), False), (S3_LIST_BUCKETS, False),
        (_Op("secretsmanager", "ListSecrets"), True), (SECRET_VALUE, True),
        (_Op("organizations", "DescribeOrganization"), True), (_Op("guardduty", "ListDetectors"), True),
        (_Op("cloudtrail", "DescribeTrails", request={"includeShadowTrails": True}), True),
        (EC2_INSTANCES, False), (_Op("ec2", "DescribeKeyPairs"), True), (RDS_INSTANCES, True),
        (LAMBDA_LIST, False), (_Op("ssm", "DescribeParameters"), True), (DDB_LIST, True),
    ]
    steps += [(S3_LIST, False)] * 6 + [(S3_GET, False)] * 14 + [(S3_ACL, True)] * 3 + [(S3_POLICY, True)] * 3
    times = _spread(world.rng, start, len(steps), (20, 120))
    for ms, (op, denied) in zip(times, steps, strict=True):
        world.call(PROD, ms, identity, op, ip, ATTACKER_KALI, error=denied)
    low, high = _scope(times)
    expected = Expected(
        entity_arn=dave.arn, scope_start_ms=low, scope_end_ms=high,
        indicators={
            "NEW_GEOLOCATION": {ip}, "NEW_ASO": {_GEO[ip][6]}, "NEW_USER_AGENT": {ATTACKER_KALI},
            "FLAGGED_IP_ADDRESS": {ip},
            "TTP_OBSERVED": {"iam:GetAccountAuthorizationDetails", "iam:ListUsers", "s3:ListBuckets"},
            "RELATED_FINDING": {"UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
                                "Discovery:IAMUser/AnomalousBehavior"},
        },
        min_severity="HIGH",
        description="dave's access key used from a flagged VPS in Romania for IAM and S3 discovery",
    )
    return expected, (times[0], times[-1])


def _attack_impossible_travel(world: _World, start: int) -> Expected:
    """b: erin works from Austin, and 38 minutes later her key is used in Singapore."""
    rng = world.rng
    erin = _BY_NAME["erin"]
    home, far = "70.114.202.9", "116.86.200.31"
    identity = world.user_identity["erin"]
    ops, weights = _mix("developer")
    at_home = _spread(rng, start, 14)
    for ms, op in zip(at_home, rng.choices(ops, cum_weights=weights, k=len(at_home)), strict=True):
        world.call(PROD, ms, identity, op, home, CLI_MAC)
    abroad = _spread(rng, at_home[-1] + 38 * 60_000, 12, (10, 90))
    browsing = [STS_WHOAMI, S3_LIST_BUCKETS] + [S3_LIST, S3_GET, S3_GET] * 3 + [EC2_INSTANCES]
    for ms, op in zip(abroad, browsing, strict=True):
        world.call(PROD, ms, identity, op, far, CLI_MAC)
    low, high = _scope(at_home + abroad)
    return Expected(
        entity_arn=erin.arn, scope_start_ms=low, scope_end_ms=high,
        indicators={"IMPOSSIBLE_TRAVEL": {far}, "NEW_GEOLOCATION": {far}, "NEW_ASO": {_GEO[far][6]}},
        min_severity="MEDIUM",
        description="erin active in Austin and, 38 minutes later, in Singapore (about 15,700 km)",
    )


def _attack_privilege_escalation(world: _World, start: int) -> Expected:
    """c: frank, from his desk, makes himself administrator and a backdoor user."""
    frank = _BY_NAME["frank"]
    ip, agent = frank.ips[0], frank.agents[0]
    policy = f"arn:aws:iam::{DATA}:policy/data-engineering"
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    document = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')
    steps: list[tuple[_Op, bool, Json | None]] = [
        (_Op("iam", "ListAttachedUserPolicies"), False, {"userName": "frank"}),
        (_Op("iam", "GetPolicyVersion"), False, {"policyArn": policy, "versionId": "v2"}),
        (_Op("iam", "AttachUserPolicy", read_only=False), True, {"userName": "frank", "policyArn": admin}),
        (_Op("iam", "CreatePolicyVersion", read_only=False,
             response={"policyVersion": {"versionId": "v3", "isDefaultVersion": True}}), False,
         {"policyArn": policy, "policyDocument": document, "setAsDefault": True}),
        (_Op("iam", "SetDefaultPolicyVersion", read_only=False), False, {"policyArn": policy, "versionId": "v3"}),
        (_Op("iam", "AttachUserPolicy", read_only=False), False, {"userName": "frank", "policyArn": admin}),
        (_Op("iam", "CreateUser", read_only=False,
             response={"user": {"userName": "svc-support", "path": "/", "arn": f"arn:aws:iam::{DATA}:user/svc-support",
                                "userId": "AIDAZ3JQ4X6PDQ2SUPPRT", "createDate": ""}}),
         False, {"userName": "svc-support"}),
        (_Op("iam", "AttachUserPolicy", read_only=False), False, {"userName": "svc-support", "policyArn": admin}),
        (_Op("iam", "CreateAccessKey", read_only=False), False, {"userName": "svc-support"}),
        (_Op("iam", "CreateAccessKey", read_only=False), False, {"userName": "heidi"}),
    ]
    times = _spread(world.rng, start, len(steps), (30, 200))
    for ms, (op, denied, request) in zip(times, steps, strict=True):
        response = None
        if op.name == "CreateAccessKey" and not denied:
            response = {"accessKey": {"accessKeyId": world.key("AKIA"), "status": "Active",
                                      "userName": request["userName"] if request else "",
                                      "createDate": _expiration(ms)}}
        world.call(DATA, ms, world.user_identity["frank"], op, ip, agent, error=denied, request=request,
                   response=response)
    low, high = _scope(times)
    return Expected(
        entity_arn=frank.arn, scope_start_ms=low, scope_end_ms=high,
        indicators={"TTP_OBSERVED": {"iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AttachUserPolicy",
                                     "iam:CreateUser", "iam:CreateAccessKey"}},
        min_severity="HIGH",
        description="frank escalates to AdministratorAccess and creates keys for a new user and for heidi",
    )


def _attack_tampering(world: _World, start: int, build: list[int]) -> Expected:
    """d: a poisoned CI build uses ci-deploy to blind the production account."""
    detector = "c2b4e6f8a0c2e4f6a8b0c2d4e6f8a0b2"
    trail = f"arn:aws:cloudtrail:{REGION}:{PROD}:trail/prod-account-trail"
    ops = [
        CFN_STACKS,
        _Op("guardduty", "ListDetectors"),
        _Op("guardduty", "DeleteDetector", read_only=False, request={"detectorId": detector}),
        EC2_FLOW_LOGS,
        _Op("ec2", "DeleteFlowLogs", read_only=False,
            request={"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": "fl-0a1b2c3d4e5f67890"}}},
            response={"DeleteFlowLogsResponse": {"unsuccessful": ""}}),
        _Op("cloudtrail", "DescribeTrails", request={"includeShadowTrails": False}),
        _Op("cloudtrail", "StopLogging", read_only=False, request={"name": trail}),
        _Op("cloudtrail", "DeleteTrail", read_only=False, request={"name": trail}),
        LAMBDA_UPDATE,
    ]
    build[0] += 1
    session, times = _ci_build(world, start, build[0], len(ops), ops)
    low, high = _scope(times)
    return Expected(
        entity_arn=session.role_arn, scope_start_ms=low, scope_end_ms=high,
        indicators={"TTP_OBSERVED": {"cloudtrail:StopLogging", "cloudtrail:DeleteTrail",
                                     "guardduty:DeleteDetector", "ec2:DeleteFlowLogs"}},
        min_severity="HIGH",
        description="a CI build session of ci-deploy deletes the GuardDuty detector and flow logs, stops and "
                    "deletes the account trail",
    )


def _attack_exfiltration(world: _World, day_ms: int) -> Expected:
    """e: backup-operator's session credentials, stolen from the nightly job, share data out."""
    rng = world.rng
    session, begin = _backup_session(world, day_ms)
    for ms, op in zip(_spread(rng, begin + 10_000, 4, (5, 30)),
                      (EC2_VOLUMES, EC2_CREATE_SNAPSHOT, EC2_CREATE_TAGS, EC2_SNAPSHOTS), strict=True):
        world.call(DATA, ms, session.identity, op, _CI_IP, CLI_CI)
    ip = "159.223.11.87"
    bucket = "acme-datalake-curated-333333333333"
    snapshot = "snap-0f3e5d7c9b1a2e4d6"
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    share = {"add": {"items": [{"userId": FOREIGN}]}}
    steps: list[tuple[_Op, Json | None, Json | None]] = [
        (STS_WHOAMI, None, None),
        (EC2_VOLUMES, None, None),
        (EC2_CREATE_SNAPSHOT, {"volumeId": "vol-0f1e2d3c4b5a69788", "description": "tmp"},
         {"snapshotId": snapshot, "status": "pending", "volumeSize": 500, "encrypted": False, "progress": ""}),
        (EC2_SNAPSHOTS, None, None),
        (_Op("ec2", "ModifySnapshotAttribute", read_only=False),
         {"snapshotId": snapshot, "createVolumePermission": share, "attributeType": "CREATE_VOLUME_PERMISSION"},
         {"_return": True}),
        (_Op("ec2", "DescribeImages"), {"imagesSet": {}, "ownersSet": {"items": [{"owner": "self"}]}}, None),
        (_Op("ec2", "ModifyImageAttribute", read_only=False),
         {"imageId": _AMI, "launchPermission": share, "attributeType": "launchPermission"}, {"_return": True}),
        (S3_LIST_BUCKETS, None, None),
        (_Op("s3", "DeleteBucketPublicAccessBlock", read_only=False),
         {"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com", "publicAccessBlock": ""}, None),
        (_Op("s3", "PutBucketPolicy", read_only=False),
         {"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com", "bucketPolicy": policy,
          "policy": ""}, None),
    ]
    times = _spread(rng, begin + 14 * 60_000, len(steps), (15, 90))
    for ms, (op, request, response) in zip(times, steps, strict=True):
        world.call(DATA, ms, session.identity, op, ip, ATTACKER_BOTO, request=request, response=response)
    low, high = _scope([begin] + times)
    return Expected(
        entity_arn=session.role_arn, scope_start_ms=low, scope_end_ms=high,
        indicators={
            "NEW_GEOLOCATION": {ip}, "NEW_ASO": {_GEO[ip][6]}, "NEW_USER_AGENT": {ATTACKER_BOTO},
            "IMPOSSIBLE_TRAVEL": {ip},
            "TTP_OBSERVED": {"ec2:CreateSnapshot", "ec2:ModifySnapshotAttribute", "ec2:ModifyImageAttribute",
                             "s3:PutBucketPolicy", "s3:DeleteBucketPublicAccessBlock"},
        },
        min_severity="HIGH",
        description="backup-operator's nightly session used from Amsterdam 14 minutes after Boston to share a "
                    f"snapshot and an AMI with {FOREIGN} and make a bucket public",
    )


def _attack_instance_credentials(world: _World, start: int) -> Expected:
    """g: the credentials of one of the app servers, taken off the box (SSRF to the metadata
    service), used from a VPS in Moscow while the instance goes on working."""
    instance, ip = "i-03e5b7d9f1a2c4e68", "5.188.86.172"
    session = _Session(world, PROD, "app-server", instance, start - 20 * 60_000, ec2=True)
    steps = [STS_WHOAMI, IAM_ROLES, _Op("iam", "ListAttachedRolePolicies", request={"roleName": "app-server"}),
             S3_LIST_BUCKETS, _Op("secretsmanager", "ListSecrets"), SECRET_VALUE, SECRET_VALUE, SECRET_VALUE,
             _Op("ssm", "DescribeParameters")]
    times = _spread(world.rng, start, len(steps), (20, 90))
    for ms, op in zip(times, steps, strict=True):
        world.call(PROD, ms, session.identity, op, ip, ATTACKER_KALI)
    low, high = _scope(times)
    return Expected(
        entity_arn=session.role_arn, scope_start_ms=low, scope_end_ms=high,
        indicators={
            "INSTANCE_CREDENTIALS_OFF_INSTANCE": {ip}, "NEW_GEOLOCATION": {ip}, "NEW_ASO": {_GEO[ip][6]},
            "NEW_USER_AGENT": {ATTACKER_KALI},
            "TTP_OBSERVED": {"iam:ListRoles", "secretsmanager:ListSecrets", "secretsmanager:GetSecretValue"},
        },
        min_severity="HIGH",
        description=f"app-server's credentials of {instance}, taken off the instance, read secrets from Moscow",
    )


def _attack_role_chain(world: _World, start: int) -> Expected:
    """h: carol, from her own desk and tool, assumes the data account's Admin role as she often
    does, and leaves a backdoor user with administrator rights: only what the session did says so."""
    carol = _BY_NAME["carol"]
    ip, agent = carol.ips[0], carol.agents[0]
    session = _Session(world, DATA, "Admin", carol.name, start, mfa=True)
    world.assume_role(start, world.user_identity[carol.name], ADMIN, session, ip, agent)
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    steps: list[tuple[_Op, Json]] = [
        (_Op("iam", "CreateUser", read_only=False), {"userName": "svc-metrics"}),
        (_Op("iam", "AttachUserPolicy", read_only=False), {"userName": "svc-metrics", "policyArn": admin}),
        (_Op("iam", "CreateAccessKey", read_only=False), {"userName": "svc-metrics"}),
    ]
    times = _spread(world.rng, start + 30_000, len(steps), (20, 60))
    for ms, (op, request) in zip(times, steps, strict=True):
        world.call(DATA, ms, session.identity, op, ip, agent, request=request)
    low, high = _scope([start, *times])
    return Expected(
        entity_arn=carol.arn, scope_start_ms=low, scope_end_ms=high,
        indicators={"TTP_OBSERVED": {"iam:CreateUser", "iam:AttachUserPolicy", "iam:CreateAccessKey"}},
        min_severity="HIGH",
        description="carol, through the Admin role of 333333333333 she often assumes, creates an administrator "
                    "user with an access key",
    )


# --- GuardDuty --------------------------------------------------------------------------------

_DETECTORS = {PROD: "3ab4c5d6e7f8091a2b3c4d5e6f708192", DATA: "8e9f0a1b2c3d4e5f60718293a4b5c6d7"}


def _remote(ip: str) -> Json:
    city, country, code, lat, lon, asn, org = _GEO[ip]
    return {"ipAddressV4": ip, "organization": {"asn": str(asn), "asnOrg": org, "isp": org, "org": org},
            "country": {"countryName": country, "countryCode": code}, "city": {"cityName": city},
            "geoLocation": {"lat": lat, "lon": lon}}


def _finding(world: _World, account: str, kind: str, severity: float, title: str, description: str,
             resource: Json, action: Json, first_ms: int, last_ms: int, count: int) -> Json:
    """A finding as GuardDuty exports it to S3 (the API's lowerCamel members)."""
    finding_id = f"{world.rng.getrandbits(128):032x}"
    detector = _DETECTORS[account]
    return {
        "schemaVersion": "2.0", "accountId": account, "region": REGION, "partition": "aws", "id": finding_id,
        "arn": f"arn:aws:guardduty:{REGION}:{account}:detector/{detector}/finding/{finding_id}",
        "type": kind, "resource": resource,
        "service": {"serviceName": "guardduty", "detectorId": detector, "action": action,
                    "resourceRole": "TARGET", "additionalInfo": {"value": "{}", "type": "default"},
                    "eventFirstSeen": _iso_ms(first_ms), "eventLastSeen": _iso_ms(last_ms),
                    "archived": False, "count": count},
        "severity": severity, "createdAt": _iso_ms(first_ms + 5 * 60_000),
        "updatedAt": _iso_ms(last_ms + 5 * 60_000), "title": title, "description": description,
    }


def _bastion() -> Json:
    instance, public, private = _BASTION
    return {
        "resourceType": "Instance",
        "instanceDetails": {
            "instanceId": instance, "instanceType": "t3.micro", "instanceState": "running",
            "availabilityZone": "us-east-1a", "imageId": _AMI, "imageDescription": "Amazon Linux 2023 AMI",
            "launchTime": "2026-06-02T14:20:11.000Z", "platform": None, "productCodes": [],
            "tags": [{"key": "Name", "value": "bastion"}],
            "networkInterfaces": [{
                "networkInterfaceId": "eni-0a1b2c3d4e5f60789", "privateIpAddress": private,
                "privateDnsName": f"ip-{private.replace('.', '-')}.ec2.internal",
                "privateIpAddresses": [{"privateIpAddress": private,
                                        "privateDnsName": f"ip-{private.replace('.', '-')}.ec2.internal"}],
                "publicIp": public, "publicDnsName": f"ec2-{public.replace('.', '-')}.compute-1.amazonaws.com",
                "ipv6Addresses": [], "subnetId": "subnet-0f1e2d3c4b5a69788", "vpcId": "vpc-0a9b8c7d6e5f43210",
                "securityGroups": [{"groupId": "sg-0b1c2d3e4f5a6b7c8", "groupName": "bastion-ssh"}],
            }],
        },
    }


def _background_findings(world: _World) -> list[Json]:
    """Internet noise against the data account's bastion, every few days all along."""
    rng = world.rng
    _, _, private = _BASTION
    found = []
    ms = world.start_ms + rng.randrange(DAY_MS)
    while ms < world.end_ms - 5 * DAY_MS:
        last = ms + rng.randrange(HOUR_MS, 20 * HOUR_MS)
        if rng.random() < 0.5:
            scanner = rng.choice(("45.148.10.92", "193.42.33.15"))
            action = {"actionType": "PORT_PROBE", "portProbeAction": {"blocked": False, "portProbeDetails": [{
                "localPortDetails": {"port": 3389, "portName": "RDP"}, "localIpDetails": {"ipAddressV4": private},
                "remoteIpDetails": _remote(scanner)}]}}
            found.append(_finding(world, DATA, "Recon:EC2/PortProbeUnprotectedPort", 2.0,
                                  "Unprotected port on EC2 instance i-0e3c5a7b9d1f20486 is being probed.",
                                  "EC2 instance has an unprotected port which is being probed by a known "
                                  "malicious host.", _bastion(), action, ms, last, rng.randint(3, 60)))
        else:
            action = {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                "connectionDirection": "INBOUND", "protocol": "TCP", "blocked": False,
                "localPortDetails": {"port": 22, "portName": "SSH"}, "localIpDetails": {"ipAddressV4": private},
                "remoteIpDetails": _remote("218.92.0.112"),
                "remotePortDetails": {"port": rng.randrange(32768, 61000), "portName": "Unknown"}}}
            found.append(_finding(world, DATA, "UnauthorizedAccess:EC2/SSHBruteForce", 2.0,
                                  "218.92.0.112 is performing SSH brute force attacks against i-0e3c5a7b9d1f20486.",
                                  "218.92.0.112 is performing SSH brute force attacks against i-0e3c5a7b9d1f20486. "
                                  "Brute force attacks are used to gain unauthorized access to your instance.",
                                  _bastion(), action, ms, last, rng.randint(20, 400)))
        ms += rng.randrange(2 * DAY_MS, 5 * DAY_MS)
    return found


def _attack_findings(world: _World, first_ms: int, last_ms: int) -> list[Json]:
    """f: GuardDuty on attack a (the address is on the account's threat list)."""
    ip = "185.156.73.54"
    dave = world.user_identity["dave"]
    resource = {"resourceType": "AccessKey", "accessKeyDetails": {
        "accessKeyId": dave["accessKeyId"], "principalId": dave["principalId"], "userName": "dave",
        "userType": "IAMUser"}}

    def api_call(api: str, service: str) -> Json:
        return {"actionType": "AWS_API_CALL", "awsApiCallAction": {
            "api": api, "serviceName": service, "callerType": "Remote IP", "remoteIpDetails": _remote(ip),
            "affectedResources": {}}}

    return [
        _finding(world, PROD, "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", 5.0,
                 "API ListUsers was invoked from an IP address on a custom threat list.",
                 f"An API was used to access a resource from IP address {ip} that is on a custom threat list.",
                 resource, api_call("ListUsers", "iam.amazonaws.com"), first_ms, last_ms, 31),
        _finding(world, PROD, "Discovery:IAMUser/AnomalousBehavior", 5.0,
                 "The API GetAccountAuthorizationDetails was invoked using access key of user dave.",
                 "APIs commonly used in Discovery tactics were invoked by user dave under unusual circumstances.",
                 resource, api_call("GetAccountAuthorizationDetails", "iam.amazonaws.com"),
                 first_ms + 4 * 60_000, last_ms, 9),
    ]


def _write_findings(root: Path, findings: list[Json]) -> None:
    per_file = 10
    by_account: dict[str, list[Json]] = {}
    for finding in findings:
        by_account.setdefault(finding["accountId"], []).append(finding)
    for account, items in sorted(by_account.items()):
        folder = root / "guardduty" / account
        for n, offset in enumerate(range(0, len(items), per_file), 1):
            lines = b"".join(orjson.dumps(item) + b"\n" for item in items[offset: offset + per_file])
            _write_gzip(folder / f"findings-{n}.jsonl.gz", lines)


# --- The scenario -----------------------------------------------------------------------------

FLAGGED = [
    "# acme threat list: addresses seen in intrusions (plaintext, one IP or CIDR a line)",
    "185.156.73.54",
    "45.148.10.0/24",
    "218.92.0.0/16",
    "5.188.206.0/24",
]


def generate(root: Path, *, seed: int = 7, days: int = 60, events_per_day: int = 3000,
             end: datetime | None = None) -> Scenario:
    """Write the scenario's logs under ``root`` and say what an investigation should find."""
    # Hundreds of thousands of small dicts, all kept to the end: the cyclic collector's passes
    # over them would take a third of the time and free nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(root, seed, days, events_per_day, end)
    finally:
        if collecting:
            gc.enable()


def _generate(root: Path, seed: int, days: int, events_per_day: int, end: datetime | None) -> Scenario:
    end_ms = int((end or DEFAULT_END).timestamp() * 1000)
    end_ms -= end_ms % DAY_MS
    start_ms = end_ms - days * DAY_MS
    file_ms = FILE_MS if events_per_day >= SMALL_EVENTS_PER_DAY else SMALL_FILE_MS
    world = _World(random.Random(seed), start_ms, end_ms, file_ms)
    seen: dict[str, set[str]] = {person.name: set() for person in _PEOPLE}
    build = [1000]
    for day in range(days):
        day_ms = start_ms + day * DAY_MS
        _people_day(world, day, day_ms, events_per_day, seen)
        _machines_day(world, day_ms, events_per_day)
        _ci_day(world, day_ms, events_per_day, build)
        if day != days - 1:
            _backup_night(world, day_ms, events_per_day)

    a, (first, last) = _attack_stolen_key(world, end_ms - 4 * DAY_MS + 2 * HOUR_MS + 10 * 60_000)
    attacks = [
        a,
        _attack_impossible_travel(world, end_ms - 3 * DAY_MS + 19 * HOUR_MS + 5 * 60_000),
        _attack_privilege_escalation(world, end_ms - 3 * DAY_MS + 13 * HOUR_MS + 30 * 60_000),
        _attack_tampering(world, end_ms - 2 * DAY_MS + 3 * HOUR_MS + 20 * 60_000, build),
        _attack_exfiltration(world, end_ms - DAY_MS),
    ]
    findings = _background_findings(world) + _attack_findings(world, first, last)
    # Written after the others, so that the earlier attacks and findings draw the same numbers.
    attacks += [
        _attack_instance_credentials(world, end_ms - 4 * DAY_MS + 15 * HOUR_MS + 7 * 60_000),
        _attack_role_chain(world, end_ms - 3 * DAY_MS + 17 * HOUR_MS + 40 * 60_000),
    ]

    normal = [
        Expected(arn, end_ms - NORMAL_SCOPE_MS, end_ms, {}, "LOW", description)
        for arn, description in (
            (_BY_NAME["alice"].arn, "security engineer in Seattle, aws-cli"),
            (_BY_NAME["grace"].arn, "console user in London"),
            (_BY_NAME["judy"].arn, "console user between Chicago and Milwaukee"),
            (_BY_NAME["ivan"].arn, "operator in Sydney"),
            (_role_arn(PROD, "app-server"), "EC2 instance role of three app servers"),
            (_role_arn(DATA, "orders-processor"), "Lambda execution role"),
        )
    ]

    events = world.write(root)
    _write_findings(root, findings)
    return Scenario(
        root=root, admin_account=ADMIN, member_accounts=[PROD, DATA], region=REGION,
        start_ms=start_ms, end_ms=end_ms, geo=dict(_GEO), flagged=list(FLAGGED),
        attacks=attacks, normal=normal, events=events, findings=len(findings),
    )
