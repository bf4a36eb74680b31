"""Ingestion benchmark: CloudTrail and VPC Flow Logs S3-delivery files into behavior graphs,
against their decode floors, with the peak memory of each process and the latency of reads
while a load runs at full speed; then a profile query and investigations on a large graph.

    .venv/bin/python benchmarks/ingest.py [--events 1000000] [--flows N] [--profile-events 10000000] [--quick]
    .venv/bin/python benchmarks/ingest.py --py-spy 200000      where the time of an ingest goes

1. Generates --events realistic CloudTrail events (several principals' users, roles and
   sessions, 30 APIs, IPv4 and IPv6 addresses, user agents, errors, request and response
   bodies; ~1.2 KB each) as gzip ``{"Records": [...]}`` files in AWS's layout, 2,000 events a
   file, and --flows (default: as many) VPC flow log rows in AWS's delivery layout (default
   version 2 format with its header line, 48 network interfaces of web, app, database and
   bastion hosts, internet clients, scanners, DNS, ICMP, some IPv6, ~9% REJECT and ~1% NODATA /
   SKIPDATA rows), 5,000 rows a file. Both cached on disk between runs (--cache).
2. Floors, one process, median of --repeat passes over the same files:
   - CloudTrail decode floor: gunzip + msgspec typed decoding of the fields a behavior graph
     needs (the CloudTrail reader's ``_Document`` decoder), no normalization;
   - CloudTrail reader floor: gunzip + ``cloudtrail.read`` (decoding and normalizing);
   - flow log decode floor: gunzip + Arrow's CSV reader (one thread) into typed columns of
     the 14 fields, ``-`` read as null, no checks;
   - flow log reader floor: gunzip + ``vpcflow.read`` (checked and normalized records).
3. End to end through a running server: ``gumshoe serve`` (--auth open) on a fresh data
   directory; one graph made through the API (boto3 CreateGraph with the events' account as
   the access key id) with 200 invited members; ``gumshoe ingest --endpoint-url URL FOLDER``
   (the client tars the files and uploads them). Events/s, the ratio to the decode floor, peak
   RSS (VmHWM) of the server, of its decoding workers and of the client.
4. Reads while the server ingests: three wrk processes, 16 keep-alive connections in all
   (ListMembers 6, ``/_gumshoe/v1/entities`` 5, ``/_gumshoe/v1/profile`` 5, open-mode
   Authorization headers naming the account), first for 5 s on the idle server, then for the
   whole of a second ``gumshoe ingest`` of another --events events (seed 8) into the same
   graph: p50 / p99 / max latency of each and how many requests finished during the ingest.
5. End to end with ``gumshoe ingest --data-dir``: fresh data directory with one graph; the
   same figures; then the flow logs the same way.
6. Profile query: one user's profile over 30 days on a graph of --profile-events events
   (``--data-dir`` load of the same generator, 60 days of activity), median of 20 runs.
7. Investigations on that graph through a live server (boto3), with GeoIP databases covering
   every address: StartInvestigation to SUCCESSFUL for the busiest users and roles over the
   last 10 days with the full 45-day baseline before them; ListIndicators p50 / p99.

Peak RSS: a process's own VmHWM from /proc/<pid>/status (the ``gumshoe ingest`` processes run
through a wrapper that reads its own just before it exits; the server's is read before it is
stopped); its children (the decoding pool's processes) are sampled every 0.2 s.

Prints a table and writes it to docs/PERFORMANCE.md between the bench:ingest markers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DOC = ROOT / "docs" / "PERFORMANCE.md"
START_MARKER = "<!-- bench:ingest:start -->"
END_MARKER = "<!-- bench:ingest:end -->"
ADMIN = "111111111111"
REGION = "us-east-1"
PER_FILE = 2000
DAY_MS = 86_400_000
START_MS = 1_790_000_000_000  # 2026-09-21
SPAN_MS = 60 * DAY_MS  # a 10-day investigation scope after a full 45-day baseline
GUMSHOE = Path(sys.executable).parent / "gumshoe"
MIB = 2**20
RSS_GOAL = 512 * MIB
RATIO_GOAL = 0.40
# Reads during an ingest: connections per request, 16 in all, and their p99 goals (ms).
READERS = {"ListMembers": (6, 50.0), "entities": (5, 100.0), "profile": (5, 100.0)}
MEMBERS = 200  # invited members of the server's graph, for ListMembers (MaxResults 200)

console = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 150)

# --- CloudTrail events -----------------------------------------------------------------

APIS = [
    ("s3.amazonaws.com", name) for name in ("GetObject", "PutObject", "ListBuckets", "GetBucketAcl", "HeadObject", "ListObjects")
] + [
    ("ec2.amazonaws.com", name) for name in ("DescribeInstances", "RunInstances", "StopInstances", "DescribeSecurityGroups",
                                             "CreateNetworkInterface", "DescribeVolumes")
] + [
    ("iam.amazonaws.com", name) for name in ("GetUser", "ListRoles", "CreateAccessKey", "AttachUserPolicy", "ListUsers")
] + [
    ("sts.amazonaws.com", "AssumeRole"), ("sts.amazonaws.com", "GetCallerIdentity"),
    ("kms.amazonaws.com", "Decrypt"), ("kms.amazonaws.com", "GenerateDataKey"),
    ("cloudtrail.amazonaws.com", "LookupEvents"), ("logs.amazonaws.com", "PutLogEvents"),
    ("lambda.amazonaws.com", "Invoke"), ("dynamodb.amazonaws.com", "GetItem"),
]
AGENTS = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 cfg/retry-mode#legacy",
    "console.amazonaws.com", "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux api/ec2#1.150.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Safari/537.36",
    "terraform-provider-aws/5.42.0 (+https://registry.terraform.io) aws-sdk-go-v2/1.25.3",
]


def _address(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
    return f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"


# Each principal works from a few usual addresses and tools, now and then from a new one.
_HABITS: dict[str, tuple[list[str], list[str]]] = {}


def _habits(rng: random.Random, principal: str) -> tuple[str, str]:
    habit = _HABITS.get(principal)
    if habit is None:
        habit = _HABITS[principal] = ([_address(rng) for _ in range(rng.randrange(1, 4))], rng.sample(AGENTS, 2))
    addresses, agents = habit
    address = _address(rng) if rng.random() < 0.02 else rng.choice(addresses)
    return address, rng.choice(agents)


def _identity(rng: random.Random) -> dict:
    if rng.random() < 0.6:
        name = f"user{rng.randrange(200)}"
        return {"type": "IAMUser", "principalId": f"AIDA{rng.randrange(10**12):012d}", "arn": f"arn:aws:iam::{ADMIN}:user/{name}",
                "accountId": ADMIN, "accessKeyId": f"AKIA{rng.randrange(10**12):012d}", "userName": name}
    role = f"role{rng.randrange(40)}"
    session = f"i-{rng.randrange(16**17):017x}" if rng.random() < 0.3 else f"session{rng.randrange(500)}"
    return {
        "type": "AssumedRole", "principalId": f"AROA{rng.randrange(10**12):012d}:{session}",
        "arn": f"arn:aws:sts::{ADMIN}:assumed-role/{role}/{session}", "accountId": ADMIN,
        "accessKeyId": f"ASIA{rng.randrange(10**12):012d}",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": f"arn:aws:iam::{ADMIN}:role/{role}",
                              "accountId": ADMIN, "userName": role},
            "webIdFederationData": {}, "attributes": {"creationDate": "2026-09-21T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def _event(rng: random.Random, time_ms: int) -> dict:
    source, name = rng.choice(APIS)
    identity = _identity(rng)
    ip, agent = _habits(rng, identity["arn"])
    seconds = time_ms // 1000
    event = {
        "eventVersion": "1.09", "userIdentity": identity,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)),
        "eventSource": source, "eventName": name, "awsRegion": REGION, "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": {"bucketName": f"bucket-{rng.randrange(30)}", "key": f"data/{rng.randrange(10**6)}.parquet"}
        if source == "s3.amazonaws.com" else {"maxResults": 100, "filterSet": {"items": [{"name": "tag:env", "valueSet": {"items": [{"value": "prod"}]}}]}},
        "responseElements": None if rng.random() < 0.7 else {"requestId": f"{rng.randrange(16**32):032x}", "status": "ok"},
        "requestID": f"{rng.randrange(16**32):032x}", "eventID": f"{rng.randrange(16**32):032x}",
        "readOnly": name.startswith(("Get", "List", "Describe", "Head")), "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ADMIN, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": f"{source.split('.')[0]}.{REGION}.amazonaws.com"},
    }
    if rng.random() < 0.05:
        event["errorCode"] = "AccessDenied"
        event["errorMessage"] = "User is not authorized to perform this operation"
    return event


def generate(folder: Path, events: int, seed: int = 7) -> tuple[int, int]:
    """Write the files (cached by size in ``folder``); return (files, compressed bytes)."""
    marker = folder / f".complete-{events}-v3"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        rng = random.Random(seed)
        _HABITS.clear()  # the same files for the same seed, whatever was generated before
        span = SPAN_MS
        files = (events + PER_FILE - 1) // PER_FILE
        for index in range(files):
            base = START_MS + span * index // files
            count = min(PER_FILE, events - index * PER_FILE)
            records = [_event(rng, base + i * 300) for i in range(count)]
            day = time.gmtime(base // 1000)
            path = folder / "AWSLogs" / ADMIN / "CloudTrail" / REGION / f"{day.tm_year}/{day.tm_mon:02d}/{day.tm_mday:02d}"
            path.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%MZ", day)
            (path / f"{ADMIN}_CloudTrail_{REGION}_{stamp}_{index:06d}.json.gz").write_bytes(
                gzip.compress(json.dumps({"Records": records}).encode(), compresslevel=6))
        marker.write_text("ok")
    paths = [p for p in folder.rglob("*.json.gz")]
    return len(paths), sum(p.stat().st_size for p in paths)


# --- VPC flow logs ---------------------------------------------------------------------

FLOW_PER_FILE = 5000
FLOW_WINDOW_S = 600  # one file per 10-minute window, as S3 delivery with the default interval
FLOW_LOG_ID = "fl-0c4e2a9b7d13f5e68"
FLOW_FIELDS = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
               "start end action log-status")
SCAN_PORTS = (22, 23, 445, 1433, 3306, 3389, 5900, 6379, 8080, 9200)


@dataclass
class _Interface:
    eni: str
    address: str
    role: str  # web, app, db, cache, bastion
    address6: str = ""


def _network(rng: random.Random) -> tuple[list[_Interface], list[str], list[str], list[str]]:
    """The VPC's interfaces, and the internet's clients, services and scanners."""
    roles = ["web"] * 10 + ["app"] * 20 + ["db"] * 6 + ["cache"] * 4 + ["bastion"] * 2 + ["batch"] * 6
    interfaces = []
    for index, role in enumerate(roles):
        subnet = {"web": 1, "bastion": 1}.get(role, 16 + index % 3)
        address6 = f"2600:1f18:4a3:{subnet:x}00:{rng.randrange(65536):x}:{rng.randrange(65536):x}:{rng.randrange(65536):x}:{rng.randrange(65536):x}" \
            if role in ("web", "app") and rng.random() < 0.5 else ""
        interfaces.append(_Interface(f"eni-{rng.randrange(16**17):017x}", f"10.0.{subnet}.{rng.randrange(4, 250)}", role,
                                     address6))

    def public() -> str:
        while True:
            first = rng.randrange(1, 224)
            if first not in (10, 127, 172, 192):
                return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    clients = [public() for _ in range(4000)]
    services = [f"{rng.choice((3, 18, 34, 35, 44, 52, 54))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                for _ in range(300)]
    scanners = [public() for _ in range(600)]
    return interfaces, clients, services, scanners


def _flow_rows(rng: random.Random, net: tuple[list[_Interface], list[str], list[str], list[str]],
               window: int, count: int) -> tuple[list[str], int]:
    """``count`` rows captured in the 10 minutes from ``window`` (Unix s), and how many are OK."""
    interfaces, clients, services, scanners = net
    by_role: dict[str, list[_Interface]] = {}
    for interface in interfaces:
        by_role.setdefault(interface.role, []).append(interface)
    rows, ok = [], 0
    for _ in range(count):
        eni = rng.choice(interfaces)
        start = window + rng.randrange(FLOW_WINDOW_S - 60)
        end = start + rng.randrange(5, 61)
        kind = rng.random()
        if kind < 0.011:  # an interface with no traffic, or records the capture dropped
            status = "NODATA" if kind < 0.01 else "SKIPDATA"
            rows.append(f"2 {ADMIN} {eni.eni} - - - - - - - {start} {end} - {status}")
            continue
        packets = min(10**6, int(rng.lognormvariate(2.5, 1.6)) + 1)
        size = rng.randrange(52, 1500)
        action = "ACCEPT"
        ephemeral = rng.randrange(32768, 61000)
        if kind < 0.09:  # scanners knocking on the security groups
            src, dst, sport, dport, proto = rng.choice(scanners), eni.address, rng.randrange(1024, 65536), rng.choice(SCAN_PORTS), 6
            packets, size, action = rng.randrange(1, 4), rng.randrange(40, 61), "REJECT"
        elif kind < 0.13:  # DNS to the VPC resolver
            src, dst, sport, dport, proto, packets, size = eni.address, "10.0.0.2", ephemeral, 53, 17, rng.randrange(1, 5), 80
        elif kind < 0.15:  # ICMP
            src, dst, sport, dport, proto = rng.choice(clients), eni.address, 0, 0, 1
            action = "REJECT" if rng.random() < 0.3 else "ACCEPT"
        elif kind < 0.18 and eni.address6:  # IPv6 egress
            src, dst, sport, dport, proto = eni.address6, f"2606:4700:{rng.randrange(65536):x}::{rng.randrange(65536):x}", ephemeral, 443, 6
        elif eni.role == "web":  # clients on 443 / 80, in and back out
            client, port = rng.choice(clients), rng.choice((443, 443, 443, 80))
            if rng.random() < 0.5:
                src, dst, sport, dport = client, eni.address, rng.randrange(1024, 65536), port
            else:
                src, dst, sport, dport = eni.address, client, port, rng.randrange(1024, 65536)
            proto = 6
        elif eni.role == "bastion":  # administrators over SSH, and a few refused
            src, dst, sport, dport, proto = clients[rng.randrange(8)], eni.address, rng.randrange(1024, 65536), 22, 6
            if rng.random() < 0.1:
                src, action = rng.choice(scanners), "REJECT"
        elif eni.role in ("db", "cache"):  # the apps' connections
            app = rng.choice(by_role["app"])
            port = 5432 if eni.role == "db" else 6379
            src, dst, sport, dport, proto = app.address, eni.address, ephemeral, port, 6
        else:  # app and batch: to the databases, to each other, to AWS and other services
            choice = rng.random()
            if choice < 0.5:
                peer = rng.choice(by_role["db"] + by_role["cache"])
                src, dst, sport, dport = eni.address, peer.address, ephemeral, 5432 if peer.role == "db" else 6379
            elif choice < 0.7:
                src, dst, sport, dport = rng.choice(by_role["web"]).address, eni.address, ephemeral, 8080
            else:
                src, dst, sport, dport = eni.address, rng.choice(services), ephemeral, 443
            proto = 6
        rows.append(f"2 {ADMIN} {eni.eni} {src} {dst} {sport} {dport} {proto} {packets} {packets * size} {start} {end} "
                    f"{action} OK")
        ok += 1
    return rows, ok


def generate_flows(folder: Path, records: int, seed: int = 9) -> tuple[int, int, int]:
    """Write the flow log files (cached by size in ``folder``); (files, compressed bytes, OK rows)."""
    marker = folder / f".complete-{records}-v1"
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        rng = random.Random(seed)
        net = _network(rng)
        ok = 0
        for index in range((records + FLOW_PER_FILE - 1) // FLOW_PER_FILE):
            window = START_MS // 1000 + index * FLOW_WINDOW_S
            rows, ok_rows = _flow_rows(rng, net, window, min(FLOW_PER_FILE, records - index * FLOW_PER_FILE))
            ok += ok_rows
            day = time.gmtime(window + FLOW_WINDOW_S)  # delivered after the window
            path = folder / "AWSLogs" / ADMIN / "vpcflowlogs" / REGION / f"{day.tm_year}/{day.tm_mon:02d}/{day.tm_mday:02d}"
            path.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%MZ", day)
            digest = hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:8]
            (path / f"{ADMIN}_vpcflowlogs_{REGION}_{FLOW_LOG_ID}_{stamp}_{digest}.log.gz").write_bytes(
                gzip.compress(("\n".join([FLOW_FIELDS, *rows]) + "\n").encode(), compresslevel=6))
        marker.write_text(str(ok))
    paths = [p for p in folder.rglob("*.log.gz")]
    return len(paths), sum(p.stat().st_size for p in paths), int(marker.read_text())


# --- floors ------------------------------------------------------------------------------


@dataclass
class Floor:
    events: int
    seconds: float  # median of the passes
    raw: int  # bytes after gunzip

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def floor(paths: list[Path], decode: Callable[[bytes, str], int], repeat: int) -> Floor:
    """gunzip + ``decode`` of every file, in this process: the median of ``repeat`` passes."""
    times, events, raw = [], 0, 0
    for _ in range(repeat):
        events = raw = 0
        start = time.perf_counter()
        for path in paths:
            data = gzip.decompress(path.read_bytes())
            raw += len(data)
            events += decode(data, str(path))
        times.append(time.perf_counter() - start)
    return Floor(events, statistics.median(times), raw)


def ct_document(data: bytes, key: str) -> int:
    """msgspec typed decoding of the fields a graph needs (``_Event`` Structs), nothing else."""
    from gumshoe.formats import cloudtrail

    return len(cloudtrail._document.decode(data).Records)


def ct_reader(data: bytes, key: str) -> int:
    from gumshoe.formats import cloudtrail

    return sum(len(batch.records) for batch in cloudtrail.read(io.BytesIO(data), key))


def flow_arrow(data: bytes, key: str) -> int:
    """Arrow's CSV reader, one thread, typed columns of the 14 fields, ``-`` as null."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = FLOW_FIELDS.split()
    types = {name: pa.int64() for name in ("srcport", "dstport", "protocol", "packets", "bytes", "start", "end")}
    types["version"] = pa.int8()
    table = pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(use_threads=False, block_size=8 << 20),
                           parse_options=pacsv.ParseOptions(delimiter=" "),
                           convert_options=pacsv.ConvertOptions(column_types=types, null_values=["-"],
                                                                strings_can_be_null=True, include_columns=names))
    return table.num_rows


def flow_reader(data: bytes, key: str) -> int:
    """``vpcflow.read``: the rows it reads (OK records, and the NODATA / SKIPDATA rows it skips)."""
    from gumshoe.formats import vpcflow

    return sum(len(batch.records) + batch.skipped for batch in vpcflow.read(io.BytesIO(data), key)) - 1  # the header


def decode_floor(folder: Path) -> tuple[int, float, int]:
    """Events, seconds and raw bytes of gunzip + decode into the reader's event records."""
    result = floor(sorted(folder.rglob("*.json.gz")), ct_reader, 1)
    return result.events, result.seconds, result.raw


# --- processes and their memory ----------------------------------------------------------


def vm_hwm(pid: int | str) -> int:
    """Peak resident memory of a process so far (bytes), 0 when it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _rss(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children.get(child, ()))
    return out


@dataclass
class Peak:
    main: int = 0  # VmHWM of the process itself (bytes)
    workers: int = 0  # the highest VmHWM of any of its children (sampled)
    total: int = 0  # the highest sum of VmRSS over the process and its children (sampled)
    worker_count: int = 0


class Sampler:
    """Samples a process tree's memory every ``interval`` seconds while it runs."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.peak = Peak()
        self._workers: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def sample(self) -> None:
        children = descendants(self.pid)
        self.peak.total = max(self.peak.total, _rss(self.pid) + sum(_rss(c) for c in children))
        for child in children:
            self._workers[child] = max(self._workers.get(child, 0), vm_hwm(child))
        self.peak.workers = max(self._workers.values(), default=0)
        self.peak.worker_count = len(self._workers)
        self.peak.main = max(self.peak.main, vm_hwm(self.pid))

    def stop(self) -> Peak:
        self._stop.set()
        self._thread.join()
        return self.peak


# ``gumshoe`` in this process, which writes its own VmHWM to a file as it exits (one line: the
# process's command line is what py-spy names it by).
WRAPPER = ("import atexit, os, sys; from gumshoe.cli import main; "
           "atexit.register(lambda: open(os.environ['GUMSHOE_BENCH_PEAK'], 'w').write("
           "next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')))); "
           "sys.exit(main(sys.argv[1:]))")


@dataclass
class Ran:
    seconds: float
    peak: Peak
    summary: dict[str, Any]
    error: str = ""  # why it failed (with check=False)


def run_gumshoe(argv: list[str], env: dict[str, str] | None = None, check: bool = True) -> Ran:
    """``gumshoe ARGV`` (which prints a JSON summary), timed, with its peak memory; a failure
    ends the run, or with ``check=False`` is the result's ``error``."""
    with tempfile.NamedTemporaryFile(prefix="gumshoe-peak-", delete=False) as file:
        peak_file = Path(file.name)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", WRAPPER, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**(env or os.environ), "GUMSHOE_BENCH_PEAK": str(peak_file)}, text=True)
        sampler = Sampler(proc.pid)
        out, err = proc.communicate()
        seconds = time.perf_counter() - start
        peak = sampler.stop()
        text = peak_file.read_text()
        peak.main = int(text.split()[1]) * 1024 if text else peak.main
        if proc.returncode != 0:
            if check:
                raise SystemExit(f"gumshoe {' '.join(argv)} failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
            said = [ln.strip() for ln in err.splitlines() if ln.strip()]
            raised = [ln for ln in said if re.match(r"[\w.]+(Exception|Error): ", ln)]  # a traceback's last line
            told = " ".join(said[next((i for i, ln in enumerate(said) if ln.startswith("gumshoe:")), len(said)):])
            reason = " ".join([*raised[-1:], told]).strip()
            return Ran(seconds, peak, {}, reason[:500] or f"exit {proc.returncode}")
    finally:
        peak_file.unlink(missing_ok=True)
    return Ran(seconds, peak, _summary(out))


def _summary(out: str) -> dict[str, Any]:
    """The JSON summary ``gumshoe ingest --json`` printed, past anything printed before it
    (DuckDB's progress bars of queries that take more than 2 s go to stdout as well)."""
    match = re.search(r"^\{$", out, re.M)
    if match is None:
        raise SystemExit(f"no JSON summary in the output of gumshoe ingest:\n{out[-3000:]}")
    return dict(json.JSONDecoder().raw_decode(out, match.start())[0])


def make_graph(data_dir: Path) -> str:
    """A data directory with one graph administered by ADMIN, made through the API code."""
    code = (
        "import sys; from pathlib import Path; from gumshoe.app import create_app; from gumshoe.config import Settings;"
        "from gumshoe.api._context import Context; from gumshoe.api import graphs; from gumshoe.identity.accounts import Caller;"
        f"app = create_app(Settings(data_dir=Path({str(data_dir)!r})));"
        f"ctx = Context(caller=Caller({ADMIN!r}, {REGION!r}, None, None, None), services=app.services, now_ms=0);"
        "print(graphs.create_graph(ctx, {})['GraphArn']); app.store.close()"
    )
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def ingest_run(data_dir: Path, folder: Path) -> Ran:
    """``gumshoe ingest --data-dir``: seconds, peak memory and summary."""
    return run_gumshoe(["ingest", "--data-dir", str(data_dir), "--json", str(folder)])


def ingest(data_dir: Path, folder: Path) -> tuple[float, int, dict]:
    """Seconds, peak RSS (bytes: the process's own VmHWM) and the summary of ``gumshoe ingest --data-dir``."""
    ran = ingest_run(data_dir, folder)
    return ran.seconds, ran.peak.main, ran.summary


def _loaded(summary: dict[str, Any], arn: str, expected: int, what: str) -> None:
    loaded = summary["graphs"].get(arn, 0)
    if loaded != expected:
        raise SystemExit(f"{what}: the graph took {loaded:,} records of {expected:,}: {json.dumps(summary)[:2000]}")


# --- a running server --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``gumshoe serve`` on a data directory (--auth open), for as long as the block runs."""

    def __init__(self, data_dir: Path, log: Path, *extra: str, keep: Path | None = None) -> None:
        self.keep = keep  # where the log is copied when the server stops
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.argv = [str(GUMSHOE), "serve", "--port", str(self.port), "--data-dir", str(data_dir),
                     "--log-level", "warning", *extra]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gumshoe serve exited at start-up:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/_gumshoe/health", timeout=1):
                return self
            time.sleep(0.1)
        raise SystemExit("gumshoe serve did not answer within 60 s")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_gumshoe/health", timeout=5) as response:
            return dict(json.loads(response.read()))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # our own child, by its pid
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if self.keep is not None:
            shutil.copy(self.log_path, self.keep)

    def problems(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [ln for ln in lines if "level=ERROR" in ln or "level=CRITICAL" in ln or ln.startswith("Traceback")]


def detective(url: str, account: str = ADMIN) -> Any:
    import boto3
    import botocore.config

    return boto3.client("detective", endpoint_url=url, region_name=REGION, aws_access_key_id=account,
                        aws_secret_access_key="x", config=botocore.config.Config(retries={"max_attempts": 1}))


def client_env(account: str = ADMIN) -> dict[str, str]:
    """The environment of ``gumshoe ingest --endpoint-url``: the account's key and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "AWS_ACCESS_KEY_ID": account, "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


# --- reads under wrk ---------------------------------------------------------------------

CHECKS = {
    "ListMembers": '"MemberDetails"',
    "entities": '"entities"',
    "profile": '"panels"',
}


@dataclass
class Reads:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int = 0  # non-2xx answers, unexpected bodies and socket errors

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def read_scripts(work: Path, arn: str, entity: str) -> dict[str, Path]:
    """One wrk script per request, with an open-mode Authorization header naming ADMIN."""
    sys.path.insert(0, str(BENCH_DIR))
    from run import WRK_DIR, lua_string

    now = dt.datetime.now(dt.UTC)
    headers = {"X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
               "Authorization": f"AWS4-HMAC-SHA256 Credential={ADMIN}/{now:%Y%m%d}/{REGION}/detective/aws4_request, "
                                "SignedHeaders=host;x-amz-date, Signature=00"}
    end = START_MS + SPAN_MS
    requests = {
        "ListMembers": ("POST", "/graph/members/list", json.dumps({"GraphArn": arn, "MaxResults": 200})),
        "entities": ("GET", "/_gumshoe/v1/entities?" + urlencode({"graph": arn, "limit": 1000}), ""),
        "profile": ("GET", "/_gumshoe/v1/profile?" + urlencode({"graph": arn, "entity": entity,
                                                               "from": end - 30 * DAY_MS, "to": end}), ""),
    }
    scripts = {}
    for name, (method, path, body) in requests.items():
        lines = ["-- generated by benchmarks/ingest.py", f"wrk.method = {lua_string(method)}", f"wrk.path = {lua_string(path)}",
                 f"wrk.body = {lua_string(body)}"]
        for key, value in {**headers, **({"Content-Type": "application/json"} if body else {})}.items():
            lines.append(f"wrk.headers[{lua_string(key)}] = {lua_string(value)}")
        lines.append(f"function check_body(body) return string.find(body, {lua_string(CHECKS[name])}, 1, true) ~= nil end")
        text = "\n".join(lines) + "\n" + (WRK_DIR / "static.lua").read_text() + "\n" + (WRK_DIR / "report.lua").read_text()
        scripts[name] = work / f"read-{name}.lua"
        scripts[name].write_text(text)
    return scripts


def start_reads(port: int, scripts: dict[str, Path], seconds: int = 24 * 3600,
                connections: int | None = None) -> dict[str, subprocess.Popen[str]]:
    """wrk on each script (READERS' connections each, or ``connections``), at once."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    return {name: subprocess.Popen([wrk, "-t1", f"-c{connections or READERS[name][0]}", f"-d{seconds}s", "--timeout", "120s", "-s", str(script),
                                    f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, script in scripts.items()}


def stop_reads(procs: dict[str, subprocess.Popen[str]]) -> dict[str, Reads]:
    """Stop the wrk processes (SIGINT: each reports what it measured) and read their figures."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        match = re.search(r"^GUMSHOE_BENCH (\{.*\})$", stdout, re.M)
        if match is None:
            raise SystemExit(f"wrk ({name}) reported nothing (exit {proc.returncode}):\n{stdout}\n{stderr}")
        data = json.loads(match.group(1))
        errors = {k: data[k] for k in ("non2xx", "bad_body", "connect", "read", "write", "timeout") if data[k]}
        if not data["requests"]:
            raise SystemExit(f"wrk ({name}): no request finished {errors}\n{stderr.strip()}")
        if errors:  # counted against the goal, and said, rather than losing the whole run
            console.print(f"[red]    {name}: {errors}[/] {stderr.strip()[:600]}", markup=True)
        out[name] = Reads(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000,
                          data["max_us"] / 1000, sum(errors.values()))
    return out


def timed_reads(port: int, scripts: dict[str, Path], seconds: int) -> dict[str, Reads]:
    procs = start_reads(port, scripts, seconds)
    for proc in procs.values():
        proc.wait(seconds + 120)
    return stop_reads(procs)


def alone_reads(port: int, scripts: dict[str, Path], seconds: int) -> dict[str, Reads]:
    """Each request on its own, one connection: what it costs without waiting for others."""
    out = {}
    for name, script in scripts.items():
        procs = start_reads(port, {name: script}, seconds, connections=1)
        procs[name].wait(seconds + 120)
        out.update(stop_reads(procs))
    return out


def _print_reads(title: str, reads: dict[str, Reads]) -> None:
    for name, r in reads.items():
        console.print(f"    {title:<14} {name:<12} p50 {r.p50_ms:8.1f} ms  p99 {r.p99_ms:8.1f} ms  max {r.max_ms:8.1f} ms  "
                      f"({r.requests:,} requests, {r.rate:,.0f}/s{f', {r.errors} errors' if r.errors else ''})")


# --- end to end through a server -------------------------------------------------------


@dataclass
class ServerRun:
    clean: Ran  # the first ingest, nothing else running
    server_peak_clean: int  # the server's VmHWM after it
    workers_clean: int
    loaded: Ran  # the second ingest, under reads
    alone: dict[str, Reads]  # each request alone on the idle server, one connection
    idle: dict[str, Reads]  # the 16 connections on the idle server
    during: dict[str, Reads]
    server_peak: int  # the server's VmHWM at the end
    workers: int
    entity: str
    problems: list[str] = field(default_factory=list)


def through_server(work: Path, folder: Path, events: int, second: Path) -> ServerRun:
    data_dir = work / "served"
    with Server(data_dir, work / "serve.log", keep=folder.parent / "serve-ingest-bench.log") as server:
        client = detective(server.url)
        arn = client.create_graph()["GraphArn"]
        members = [f"{222200000000 + i:012d}" for i in range(MEMBERS)]
        for chunk in range(0, MEMBERS, 50):
            client.create_members(GraphArn=arn, DisableEmailNotification=True, Accounts=[
                {"AccountId": a, "EmailAddress": f"member-{a}@example.com"} for a in members[chunk:chunk + 50]])
        console.print(f"  server {server.url}: graph {arn}")
        sampler = Sampler(server.pid)
        clean = run_gumshoe(["ingest", "--endpoint-url", server.url, "--json", str(folder)], client_env())
        _loaded(clean.summary, arn, events, "through the server")
        sampler.sample()
        peak_clean, workers_clean = vm_hwm(server.pid), sampler.peak.workers
        console.print(f"  through the server  {events / clean.seconds:>10,.0f} events/s  ({clean.seconds:.1f} s; peak RSS: "
                      f"server {peak_clean / MIB:,.0f} MiB, its decoding workers {workers_clean / MIB:,.0f} MiB, "
                      f"client {clean.peak.main / MIB:,.0f} MiB)")
        # The busiest user, through the API, for the profile reads.
        with urllib.request.urlopen(urllib.request.Request(
                server.url + "/_gumshoe/v1/entities?" + urlencode({"graph": arn, "type": "aws_user", "limit": 10000}),
                headers=_open_headers()), timeout=60) as response:
            users = json.loads(response.read())["entities"]
        entity = max(users, key=lambda e: e["events"])["id"]
        scripts = read_scripts(work, arn, entity)
        alone = alone_reads(server.port, scripts, 3)
        _print_reads("one client", alone)
        idle = timed_reads(server.port, scripts, 5)
        _print_reads("idle server", idle)
        procs = start_reads(server.port, scripts)
        try:
            loaded = run_gumshoe(["ingest", "--endpoint-url", server.url, "--json", str(second)], client_env(), check=False)
        finally:
            during = stop_reads(procs)
        if loaded.error:
            console.print(f"[red]  the ingest under reads failed after {loaded.seconds:.1f} s: {loaded.error}[/]")
        else:
            _loaded(loaded.summary, arn, events, "through the server, under reads")
        _print_reads("during ingest", during)
        sampler.sample()
        peak = sampler.stop()
        server_peak = vm_hwm(server.pid)
        rate = f"{events / loaded.seconds:>10,.0f} events/s" if not loaded.error else "    failed"
        console.print(f"  under reads         {rate}  ({loaded.seconds:.1f} s; server peak RSS {server_peak / MIB:,.0f} MiB)")
        problems = server.problems()
    return ServerRun(clean, peak_clean, workers_clean, loaded, alone, idle, during, server_peak, peak.workers, entity,
                     problems)


def _open_headers() -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    return {"X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
            "Authorization": f"AWS4-HMAC-SHA256 Credential={ADMIN}/{now:%Y%m%d}/{REGION}/detective/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=00"}


# --- the profile query and investigations on a large graph -------------------------------


def profile_query(data_dir: Path, arn: str) -> tuple[float, str, int]:
    from gumshoe.graph import queries
    from gumshoe.graph.stores import GraphStores

    stores = GraphStores(data_dir)
    store = stores.get(arn)
    with store.cursor() as conn:
        user, events = conn.execute(
            "SELECT principal_id, count(*) FROM api_events WHERE principal_type = 'aws_user' GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()
        total = conn.execute("SELECT count(*) FROM api_events").fetchone()[0]
    end = START_MS + SPAN_MS
    times = []
    for _ in range(20):
        start = time.perf_counter()
        result = queries.profile(store, user, end - 30 * DAY_MS, end)
        times.append(time.perf_counter() - start)
        assert result is not None and result["panels"]["api"]
    stores.close()
    return statistics.median(times), user, total


def _geo_databases(folder: Path) -> tuple[Path, Path]:
    """City and ASN databases giving every IPv4 /8 and the IPv6 documentation range a place."""
    sys.path.insert(0, str(ROOT / "tests" / "investigate"))
    from mmdb_writer import build_geo_dbs

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    cities = [("Seattle", "United States", "US", 47.6, -122.3), ("Frankfurt am Main", "Germany", "DE", 50.1, 8.7),
              ("Sydney", "Australia", "AU", -33.9, 151.2), ("São Paulo", "Brazil", "BR", -23.5, -46.6),
              ("Tokyo", "Japan", "JP", 35.7, 139.7), ("Dublin", "Ireland", "IE", 53.3, -6.3)]
    table = {}
    for first in range(1, 224):
        city = rng.choice(cities)
        table[f"{first}.0.0.0/8"] = (*city, 64500 + first, f"NET-{first}")
    table["2001:db8::/32"] = (*cities[0], 64999, "NET-V6")
    return build_geo_dbs(folder, table)


def investigations(data_dir: Path, arn: str, work: Path) -> dict[str, float]:
    """StartInvestigation -> SUCCESSFUL seconds and ListIndicators latencies, through a live server."""
    import duckdb

    city, asn = _geo_databases(work / "geo")
    # The busiest principals, read before the server holds the graph's file.
    graph_file = next((data_dir / "graphs").glob("*.duckdb"))
    with duckdb.connect(str(graph_file), read_only=True) as conn:
        users = [r[0] for r in conn.execute(
            "SELECT principal_id FROM api_events WHERE principal_type = 'aws_user' GROUP BY 1 ORDER BY count(*) DESC LIMIT 3").fetchall()]
        roles = [r[0] for r in conn.execute(
            "SELECT role_arn FROM api_events WHERE principal_type = 'role_session' GROUP BY 1 ORDER BY count(*) DESC LIMIT 3").fetchall()]
    with Server(data_dir, work / "serve-big.log", "--geoip-city", str(city), "--geoip-asn", str(asn)) as server:
        ready = time.perf_counter()
        while server.health().get("geolocating"):  # done geolocating the graph's addresses in the background
            time.sleep(0.2)
        located_s = time.perf_counter() - ready
        client = detective(server.url)
        scope_end = dt.datetime.fromtimestamp((START_MS + SPAN_MS) / 1000, dt.UTC)
        scope_start = scope_end - dt.timedelta(days=10)
        durations, most, most_id = [], -1, ""
        for entity in users + roles:
            begin = time.perf_counter()
            investigation_id = client.start_investigation(GraphArn=arn, EntityArn=entity, ScopeStartTime=scope_start,
                                                          ScopeEndTime=scope_end)["InvestigationId"]
            while client.get_investigation(GraphArn=arn, InvestigationId=investigation_id)["Status"] == "RUNNING":
                time.sleep(0.005)
            durations.append(time.perf_counter() - begin)
            count = len(client.list_indicators(GraphArn=arn, InvestigationId=investigation_id, MaxResults=100)["Indicators"])
            if count > most:
                most, most_id = count, investigation_id
        latencies = []
        for _ in range(300):
            begin = time.perf_counter()
            client.list_indicators(GraphArn=arn, InvestigationId=most_id, MaxResults=100)
            latencies.append(time.perf_counter() - begin)
        latencies.sort()
        return {"median": statistics.median(durations), "max": max(durations), "runs": len(durations),
                "located_s": located_s,
                "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99) - 1], "indicators": most}


# --- where the time goes -----------------------------------------------------------------


def where_the_time_goes(cache: Path, events: int, work: Path, top: int) -> None:
    """py-spy (``pip install py-spy``) on ``gumshoe ingest --data-dir`` of ``events`` events:
    self time by frame, per process, and the run's wall time."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    folder = cache / f"ct-{events}"
    generate(folder, events)
    data_dir = work / "spy"
    arn = make_graph(data_dir)
    raw = cache / f"py-spy-ingest-{events}.raw"  # kept, to look at again
    with tempfile.NamedTemporaryFile(prefix="gumshoe-peak-") as peak:
        env = {**os.environ, "GUMSHOE_BENCH_PEAK": peak.name}
        start = time.perf_counter()
        subprocess.run([spy, "record", "-r", "200", "-f", "raw", "--subprocesses", "-o", str(raw), "--",
                        sys.executable, "-c", WRAPPER, "ingest", "--data-dir", str(data_dir), "--json", str(folder)],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    console.print(f"py-spy record of gumshoe ingest --data-dir, {events:,} events into {arn}: {seconds:.1f} s "
                  f"(sampling slows it)")
    own: dict[str, Counter[str]] = {}  # process -> frame -> samples where it is the leaf (self time)
    within: dict[str, Counter[str]] = {}  # process -> function -> samples with it on the stack
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        role = "decoding worker" if "spawn_main" in stack else "main process"
        # Python frames only: "function (file:line)" (a process's command line holds ";" too).
        frames = [f for f in stack.split(";") if re.fullmatch(r"\S.* \(.+:\d+\)", f)]
        if not frames:
            continue
        leaf = re.sub(r" \((.*?):\d+\)$", r" (\1)", frames[-1])
        leaf = leaf.replace(str(ROOT / "src") + "/", "").replace(str(Path(sys.prefix)) + "/", "")
        own.setdefault(role, Counter())[leaf] += int(count)
        for function in {f.split(" (", 1)[0] for f in frames}:
            within.setdefault(role, Counter())[function] += int(count)
    waits = ("Condition.wait", "Event.wait", "Queue.get", "_PollLikeSelector.select", "_worker", "wait")
    for role, counter in own.items():
        total = sum(counter.values())
        waiting = sum(n for frame, n in counter.items() if frame.split(" (", 1)[0] in waits)
        console.print(f"{role}: {total / 200:.1f} s sampled over its threads, of which {waiting / 200:.1f} s blocked "
                      "waiting (futures, queues, the pool's threads)")
        for title, counts in (("self time by frame", counter), ("time within each function", within[role])):
            table = Table(title=f"{role}: {title}, {total / 200:.1f} s sampled (all threads)")
            for column in ("frame" if counts is counter else "function", "s", "%"):
                table.add_column(column, justify="right" if column in ("s", "%") else "left")
            for frame, count in counts.most_common(top):
                table.add_row(frame, f"{count / 200:.2f}", f"{100 * count / total:.1f}")
            console.print(table)


# --- the run -----------------------------------------------------------------------------


def _mib(value: int) -> str:
    return f"{value / MIB:,.0f} MiB"


@dataclass
class Measured:
    """Everything one run measured, for the table and the goals."""

    args: argparse.Namespace
    files: int
    flow_files: int
    flow_ok: int
    flows: int
    events: int
    document: Floor
    reader: Floor
    arrow: Floor
    flow_read: Floor
    served: ServerRun
    local: Ran
    flow_run: Ran
    big: Ran | None
    median: float
    total: int
    inv: dict[str, float]


def tabulate(m: Measured) -> tuple[list[tuple[str, str, str]], list[tuple[str, bool]]]:
    """The table's rows (measure, result, goal) and the goals, met or not."""
    args, files, flow_files, flow_ok, flows, events, document, reader, arrow, flow_read, served, local, flow_run, big, median, total, inv = (
        m.args, m.files, m.flow_files, m.flow_ok, m.flows, m.events, m.document, m.reader, m.arrow, m.flow_read, m.served, m.local, m.flow_run, m.big, m.median, m.total, m.inv)
    floor_rate = document.rate
    server_rate = events / served.clean.seconds
    local_rate = events / local.seconds
    flow_rate = flows / flow_run.seconds
    goals: list[tuple[str, bool]] = [
        (f"end to end through the server: {server_rate / floor_rate:.2f} of the CloudTrail decode floor (goal ≥ {RATIO_GOAL:.2f})",
         server_rate / floor_rate >= RATIO_GOAL),
        (f"end to end with --data-dir: {local_rate / floor_rate:.2f} of the CloudTrail decode floor (goal ≥ {RATIO_GOAL:.2f})",
         local_rate / floor_rate >= RATIO_GOAL),
        (f"flow logs with --data-dir: {flow_rate / arrow.rate:.2f} of the flow log decode floor (goal ≥ {RATIO_GOAL:.2f})",
         flow_rate / arrow.rate >= RATIO_GOAL),
        (f"server peak RSS {_mib(served.server_peak)} (goal < 512 MiB)", served.server_peak < RSS_GOAL),
        (f"--data-dir peak RSS {_mib(local.peak.main)}, flow logs {_mib(flow_run.peak.main)}"
         + (f", {args.profile_events:,}-event load {_mib(big.peak.main)}" if big else "") + " (goal < 512 MiB)",
         max(local.peak.main, flow_run.peak.main, big.peak.main if big else 0) < RSS_GOAL),
    ]
    for name, (_, goal_ms) in READERS.items():
        r = served.during[name]
        failed = sum(x.errors for x in (r, served.idle[name], served.alone[name]))
        goals.append((f"{name} during the ingest: p99 {r.p99_ms:,.1f} ms (goal < {goal_ms:.0f} ms)"
                      + (f"; {failed} requests failed" if failed else ""), r.p99_ms < goal_ms and not failed))
    goals.append(("the ingest under 16 readers completed" + (f": no, {served.loaded.error}" if served.loaded.error else ""),
                  not served.loaded.error))
    goals += [
        (f"profile query on {total:,} events: {median * 1000:.1f} ms (goal < 50 ms)", median < 0.05),
        (f"investigation on {total:,} events: {inv['max']:.2f} s max (goal < 2 s)", inv["max"] < 2),
    ]

    rows = [
        ("CloudTrail decode floor: gunzip + msgspec `_Document` (the graph's fields, typed), one process",
         f"{floor_rate:,.0f} events/s ({document.raw / 1e6 / document.seconds:,.0f} MB/s raw)", ""),
        ("CloudTrail reader floor: gunzip + `cloudtrail.read` (decoded and normalized), one process",
         f"{reader.rate:,.0f} events/s ({reader.rate / floor_rate:.2f} of the floor)", ""),
        (f"end to end through `gumshoe serve`: `gumshoe ingest --endpoint-url` (client uploads), {events:,} events in {files} files",
         f"{server_rate:,.0f} events/s, {server_rate / floor_rate:.2f} of the floor ({served.clean.seconds:.1f} s)",
         f"≥ {RATIO_GOAL:.2f} of the floor"),
        ("peak RSS: server (its decoding workers), after the first ingest / at the end; client",
         f"{_mib(served.server_peak_clean)} ({_mib(served.workers_clean)}) / {_mib(served.server_peak)} "
         f"({_mib(served.workers)}); client {_mib(served.clean.peak.main)}", "server < 512 MiB"),
        (f"end to end `gumshoe ingest --data-dir`, {events:,} events",
         f"{local_rate:,.0f} events/s, {local_rate / floor_rate:.2f} of the floor ({local.seconds:.1f} s)",
         f"≥ {RATIO_GOAL:.2f} of the floor"),
        ("peak RSS of `gumshoe ingest --data-dir` (its decoding workers)",
         f"{_mib(local.peak.main)} ({_mib(local.peak.workers)})", "< 512 MiB"),
        ("flow log decode floor: gunzip + Arrow CSV (14 typed columns, one thread), one process",
         f"{arrow.rate:,.0f} rows/s ({arrow.raw / 1e6 / arrow.seconds:,.0f} MB/s raw)", ""),
        ("flow log reader floor: gunzip + `vpcflow.read` (checked and normalized), one process",
         f"{flow_read.rate:,.0f} rows/s ({flow_read.rate / arrow.rate:.2f} of the floor)", ""),
        (f"end to end `gumshoe ingest --data-dir`, {flows:,} flow log rows ({flow_ok:,} OK) in {flow_files} files",
         f"{flow_rate:,.0f} rows/s, {flow_rate / arrow.rate:.2f} of the floor, {flow_rate / flow_read.rate:.2f} of the reader "
         f"floor ({flow_run.seconds:.1f} s)", f"≥ {RATIO_GOAL:.2f} of the floor"),
        ("peak RSS of `gumshoe ingest --data-dir`, flow logs (its decoding workers)",
         f"{_mib(flow_run.peak.main)} ({_mib(flow_run.peak.workers)})", "< 512 MiB"),
    ]
    for name, (connections, goal_ms) in READERS.items():
        alone, idle, r = served.alone[name], served.idle[name], served.during[name]
        rows.append((f"{name} ({connections} connections of 16) during a second ingest of {events:,} events "
                     f"into the same graph ({served.loaded.seconds:.1f} s)",
                     f"p50 {r.p50_ms:,.1f} ms, p99 {r.p99_ms:,.1f} ms, max {r.max_ms:,.1f} ms; {r.requests:,} requests "
                     f"finished (idle server: p50 {idle.p50_ms:,.1f}, p99 {idle.p99_ms:,.1f} ms; alone on one connection: "
                     f"p50 {alone.p50_ms:,.1f} ms)" + (f"; {r.errors} failed" if r.errors else ""),
                     f"p99 < {goal_ms:.0f} ms"))
    if served.loaded.error:
        rows.append(("that ingest, under the 16 readers", f"**failed** after {served.loaded.seconds:.1f} s: "
                     f"{served.loaded.error}", "completes"))
    else:
        rows.append(("that ingest, under the 16 readers", f"{events / served.loaded.seconds:,.0f} events/s, "
                     f"{events / served.loaded.seconds / floor_rate:.2f} of the floor", "completes"))
    if big is not None:
        failed = f"; **failed** at the end ({big.error}), with {total:,} events in the graph" if big.error else ""
        rows.append((f"`gumshoe ingest --data-dir`, {args.profile_events:,} events (the profile graph)",
                     f"{args.profile_events / big.seconds:,.0f} events/s; peak RSS {_mib(big.peak.main)} "
                     f"(workers {_mib(big.peak.workers)}){failed}", "< 512 MiB"))
        goals.append((f"--data-dir load of {args.profile_events:,} events completed"
                      + (f": no, {big.error}" if big.error else ""), not big.error))
    rows += [
        (f"profile of one user, 30 days, graph of {total:,} events", f"{median * 1000:.1f} ms (median of 20)", "< 50 ms"),
        (f"StartInvestigation to SUCCESSFUL, 10-day scope + 45-day baseline, graph of {total:,} events "
         f"({inv['runs']} busiest users and roles)", f"{inv['median']:.2f} s median, {inv['max']:.2f} s max "
         f"(after {inv['located_s']:.0f} s of background geolocation at start-up)", "< 2 s"),
        (f"ListIndicators, {inv['indicators']} indicators, MaxResults 100 (boto3, 300 calls)",
         f"p50 {inv['p50'] * 1000:.1f} ms, p99 {inv['p99'] * 1000:.1f} ms", "p99 < 20 ms"),
    ]
    return rows, goals


def write_doc(rows: list[tuple[str, str, str]], goals: list[tuple[str, bool]], info: dict[str, str], busy: float,
              elapsed: float, repeat: int) -> None:
    """The table and the goals into docs/PERFORMANCE.md, between the bench:ingest markers."""
    command = "make bench" if len(sys.argv) == 1 else "benchmarks/ingest.py " + " ".join(sys.argv[1:])
    busy_note = f" The machine was {100 * busy:.0f}% busy before the run: figures are noisy." if busy > 0.15 else ""
    lines = [f"Last run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, `{command}`, {elapsed / 60:.0f} min; "
             f"{info['nproc']} × {info['cpu']}, Python {info['python']}; floors are the median of {repeat} "
             f"passes.{busy_note}", "",
             "| measure | result | goal |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += [""] + [f"- {'✅' if met else '❌'} {text}" for text, met in goals]
    text = DOC.read_text()
    block = f"{START_MARKER}\n" + "\n".join(lines) + f"\n{END_MARKER}"
    if START_MARKER in text:
        head, rest = text.split(START_MARKER, 1)
        text = head + block + rest.split(END_MARKER, 1)[1]
    else:
        text += "\n## Ingestion\n\n" + block + "\n"
    DOC.write_text(text)
    console.print(f"wrote {DOC.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--flows", type=int, default=None, help="flow log rows (default: --events)")
    parser.add_argument("--profile-events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 events and flow rows; profile on 1,000,000")
    parser.add_argument("--repeat", type=int, default=3, help="passes of each floor (the median is kept)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "gumshoe-bench-logs"))
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--memory-limit", default=None,
                        help="memory_limit of every server and ingest (GUMSHOE_MEMORY_LIMIT; default: Gumshoe's own)")
    parser.add_argument("--py-spy", type=int, metavar="EVENTS", default=0,
                        help="only profile gumshoe ingest --data-dir of EVENTS events with py-spy, and print where the time goes")
    args = parser.parse_args()
    if args.quick:
        args.events, args.profile_events = 100_000, 1_000_000
    if args.memory_limit:
        os.environ["GUMSHOE_MEMORY_LIMIT"] = args.memory_limit
    flows = args.flows or args.events
    cache = Path(args.cache)
    work = Path(tempfile.mkdtemp(prefix="gumshoe-ingest-bench-"))
    if args.py_spy:
        try:
            where_the_time_goes(cache, args.py_spy, work, 30)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    sys.path.insert(0, str(BENCH_DIR))
    from run import cpu_busy, machine

    began = time.monotonic()
    info = machine()
    busy = cpu_busy(2.0)
    console.print(f"[bold]Gumshoe ingestion benchmark[/]: {info['nproc']} × {info['cpu']}, {100 * busy:.0f}% busy before the run")
    console.print(f"generating {args.events:,} + {args.events:,} events and {flows:,} flow rows in {cache} (cached between runs) ...")
    folder = cache / f"ct-{args.events}"
    files, compressed = generate(folder, args.events)
    second = cache / f"ct-{args.events}-seed8"
    generate(second, args.events, seed=8)
    flow_folder = cache / f"flows-{flows}"
    flow_files, flow_compressed, flow_ok = generate_flows(flow_folder, flows)

    paths = sorted(folder.rglob("*.json.gz"))
    document = floor(paths, ct_document, args.repeat)
    console.print(f"  CloudTrail decode floor  {document.rate:>10,.0f} events/s  ({files} files, {compressed / 1e6:,.0f} MB gzip, "
                  f"{document.raw / 1e6:,.0f} MB raw)")
    reader = floor(paths, ct_reader, args.repeat)
    console.print(f"  CloudTrail reader floor  {reader.rate:>10,.0f} events/s")
    flow_paths = sorted(flow_folder.rglob("*.log.gz"))
    arrow = floor(flow_paths, flow_arrow, args.repeat)
    console.print(f"  flow log decode floor    {arrow.rate:>10,.0f} rows/s  ({flow_files} files, {flow_compressed / 1e6:,.0f} MB gzip, "
                  f"{arrow.raw / 1e6:,.0f} MB raw)")
    flow_read = floor(flow_paths, flow_reader, args.repeat)
    console.print(f"  flow log reader floor    {flow_read.rate:>10,.0f} rows/s")
    for measured, expected in ((document.events, args.events), (reader.events, args.events), (arrow.events, flows),
                               (flow_read.events, flows)):
        if measured != expected:
            raise SystemExit(f"a floor read {measured:,} records of {expected:,}")
    events = args.events
    try:
        served = through_server(work, folder, events, second)

        data_dir = work / "data"
        arn = make_graph(data_dir)
        local = ingest_run(data_dir, folder)
        _loaded(local.summary, arn, events, "--data-dir")
        console.print(f"  --data-dir          {events / local.seconds:>10,.0f} events/s  ({local.seconds:.1f} s; peak RSS "
                      f"{_mib(local.peak.main)}, decoding workers {_mib(local.peak.workers)})")
        flow_dir = work / "flows"
        flow_arn = make_graph(flow_dir)
        flow_run = ingest_run(flow_dir, flow_folder)
        _loaded(flow_run.summary, flow_arn, flow_ok, "flow logs, --data-dir")
        console.print(f"  flows --data-dir    {flows / flow_run.seconds:>10,.0f} rows/s  ({flow_run.seconds:.1f} s; peak RSS "
                      f"{_mib(flow_run.peak.main)}, decoding workers {_mib(flow_run.peak.workers)})")
        shutil.rmtree(flow_dir, ignore_errors=True)

        big: Ran | None = None
        big_dir, big_arn = data_dir, arn
        if args.profile_events > args.events:
            big_folder = cache / f"ct-{args.profile_events}"
            console.print(f"generating {args.profile_events:,} events for the profile query ...")
            generate(big_folder, args.profile_events)
            shutil.rmtree(data_dir, ignore_errors=True)
            big_dir = work / "big"
            big_arn = make_graph(big_dir)
            big = run_gumshoe(["ingest", "--data-dir", str(big_dir), "--json", str(big_folder)], check=False)
            if big.error:  # measured all the same on what it loaded
                console.print(f"[red]  the load of {args.profile_events:,} events failed after {big.seconds:.0f} s: {big.error}[/]")
            else:
                _loaded(big.summary, big_arn, args.profile_events, "the profile graph")
            console.print(f"  --data-dir, {args.profile_events:,} events  {args.profile_events / big.seconds:>10,.0f} events/s  "
                          f"({big.seconds:.0f} s; peak RSS {_mib(big.peak.main)}, decoding workers {_mib(big.peak.workers)})")
        median, user, total = profile_query(big_dir, big_arn)
        console.print(f"  profile {median * 1000:>12.1f} ms median  (one user over 30 days, graph of {total:,} events)")
        inv = investigations(big_dir, big_arn, work)
        console.print(f"  geolocated the graph's addresses in {inv['located_s']:.1f} s after start-up")
        console.print(f"  investigation {inv['median']:.2f} s median, {inv['max']:.2f} s max to SUCCESSFUL; "
                      f"ListIndicators p50 {inv['p50'] * 1000:.1f} ms, p99 {inv['p99'] * 1000:.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows, goals = tabulate(Measured(args, files, flow_files, flow_ok, flows, events, document, reader, arrow, flow_read,
                                    served, local, flow_run, big, median, total, inv))
    table = Table(title="Gumshoe ingestion benchmark")
    for column in ("measure", "result", "goal"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for text, met in goals:
        console.print(f"  {'[green]met[/]' if met else '[red]NOT met[/]'}  {text}")
    if served.problems:
        console.print(f"[yellow]the server logged {len(served.problems)} error lines, e.g. {served.problems[0]} "
                      f"(its log: {Path(args.cache) / 'serve-ingest-bench.log'})[/]")
    elapsed = time.monotonic() - began
    console.print(f"total {elapsed / 60:.1f} min")
    if not args.no_doc:
        write_doc(rows, goals, info, busy, elapsed, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
