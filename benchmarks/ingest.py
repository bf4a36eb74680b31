"""Ingestion benchmark: CloudTrail S3-delivery files into a behavior graph, and a profile query.

    .venv/bin/python benchmarks/ingest.py [--events 1000000] [--profile-events 10000000] [--quick]

1. Generates --events realistic CloudTrail events (several accounts' users, roles and sessions,
   a few hundred APIs, IPv4 and IPv6 addresses, user agents, errors, request and response
   bodies) as gzip ``{"Records": [...]}`` files in AWS's layout, 2,000 events a file.
2. Floor: gunzip + decode of the same files with the CloudTrail reader's decoder, no graph.
3. End to end: ``gumshoe ingest --data-dir`` on a fresh data directory with one graph whose
   administrator owns the events: events/s, MB/s (compressed and raw) and the process's peak RSS.
4. Profile query: one user's profile over 30 days on a graph of --profile-events events
   (loaded from the same generator, 60 days of activity), median of 20 runs.
5. Investigations on that graph through a live server (boto3), with GeoIP databases covering
   every address: StartInvestigation to SUCCESSFUL for the busiest users and roles over the
   last 10 days with the full 45-day baseline before them; ListIndicators p50 / p99.

Prints a table and writes it to docs/PERFORMANCE.md between the bench:ingest markers.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PERFORMANCE.md"
START_MARKER = "<!-- bench:ingest:start -->"
END_MARKER = "<!-- bench:ingest:end -->"
ADMIN = "111111111111"
REGION = "us-east-1"
PER_FILE = 2000
DAY_MS = 86_400_000
START_MS = 1_790_000_000_000  # 2026-09-21
SPAN_MS = 60 * DAY_MS  # a 10-day investigation scope after a full 45-day baseline

console = Console(soft_wrap=True)

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


def decode_floor(folder: Path) -> tuple[int, float, int]:
    """Events, seconds and raw bytes of gunzip + decode into the reader's event records."""
    from gumshoe.formats import cloudtrail

    events = raw = 0
    start = time.perf_counter()
    for path in sorted(folder.rglob("*.json.gz")):
        data = gzip.decompress(path.read_bytes())
        raw += len(data)
        for batch in cloudtrail.read(io.BytesIO(data), path.name):
            events += len(batch.records)
    return events, time.perf_counter() - start, raw


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


def ingest(data_dir: Path, folder: Path) -> tuple[float, int, dict]:
    """Seconds, peak RSS (bytes) and the summary of ``gumshoe ingest --data-dir``."""
    gumshoe = Path(sys.executable).parent / "gumshoe"
    start = time.perf_counter()
    proc = subprocess.run([str(gumshoe), "ingest", "--data-dir", str(data_dir), "--json", str(folder)],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"gumshoe ingest failed:\n{proc.stdout}\n{proc.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return seconds, peak, json.loads(proc.stdout)


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
    import socket
    import urllib.request

    import boto3
    import botocore.config

    city, asn = _geo_databases(work / "geo")
    # The busiest principals, read before the server holds the graph's file.
    stores_path = data_dir / "graphs"
    import duckdb
    graph_file = next(stores_path.glob("*.duckdb"))
    with duckdb.connect(str(graph_file), read_only=True) as conn:
        users = [r[0] for r in conn.execute(
            "SELECT principal_id FROM api_events WHERE principal_type = 'aws_user' GROUP BY 1 ORDER BY count(*) DESC LIMIT 3").fetchall()]
        roles = [r[0] for r in conn.execute(
            "SELECT role_arn FROM api_events WHERE principal_type = 'role_session' GROUP BY 1 ORDER BY count(*) DESC LIMIT 3").fetchall()]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gumshoe = Path(sys.executable).parent / "gumshoe"
    log = open(work / "serve.log", "w")  # noqa: SIM115 -- the server's log while it runs, closed after
    server = subprocess.Popen([str(gumshoe), "serve", "--port", str(port), "--data-dir", str(data_dir),
                               "--geoip-city", str(city), "--geoip-asn", str(asn), "--log-level", "warning"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        ready = time.perf_counter()
        while True:  # up, then done geolocating the graph's addresses in the background
            try:
                with urllib.request.urlopen(url + "/_gumshoe/health", timeout=1) as response:
                    if not json.loads(response.read()).get("geolocating"):
                        break
            except OSError:
                pass
            time.sleep(0.2)
        located_s = time.perf_counter() - ready
        client = boto3.client("detective", endpoint_url=url, region_name=REGION, aws_access_key_id=ADMIN,
                              aws_secret_access_key="x", config=botocore.config.Config(retries={"max_attempts": 1}))
        import datetime as dt
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
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--profile-events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 events; profile on 1,000,000")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "gumshoe-bench-logs"))
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.events, args.profile_events = 100_000, 1_000_000
    cache = Path(args.cache)
    console.print(f"generating {args.events:,} events in {cache} (cached between runs) ...")
    folder = cache / f"ct-{args.events}"
    files, compressed = generate(folder, args.events)
    events, floor_s, raw = decode_floor(folder)
    console.print(f"  floor   {events / floor_s:>12,.0f} events/s  ({files} files, {raw / 1e6:,.0f} MB raw)")
    work = Path(tempfile.mkdtemp(prefix="gumshoe-ingest-bench-"))
    try:
        data_dir = work / "data"
        arn = make_graph(data_dir)
        seconds, peak, summary = ingest(data_dir, folder)
        loaded = summary["graphs"].get(arn, 0)
        if loaded != events:
            raise SystemExit(f"the graph took {loaded:,} events of {events:,}")
        console.print(f"  ingest  {events / seconds:>12,.0f} events/s  ({raw / 1e6 / seconds:,.1f} MB/s raw, peak RSS {peak / 2**20:,.0f} MiB)")
        big_dir = data_dir
        if args.profile_events > args.events:
            big_folder = cache / f"ct-{args.profile_events}"
            console.print(f"generating {args.profile_events:,} events for the profile query ...")
            generate(big_folder, args.profile_events)
            big_dir = work / "big"
            big_arn = make_graph(big_dir)
            ingest(big_dir, big_folder)
        else:
            big_arn = arn
        median, user, total = profile_query(big_dir, big_arn)
        console.print(f"  profile {median * 1000:>12.1f} ms median  (one user over 30 days, graph of {total:,} events)")
        inv = investigations(big_dir, big_arn, work)
        console.print(f"  geolocated the graph's addresses in {inv['located_s']:.1f} s after start-up")
        console.print(f"  investigation {inv['median']:.2f} s median, {inv['max']:.2f} s max to SUCCESSFUL; "
                      f"ListIndicators p50 {inv['p50'] * 1000:.1f} ms, p99 {inv['p99'] * 1000:.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = Table(title="Gumshoe ingestion benchmark")
    for column in ("measure", "result", "goal"):
        table.add_column(column)
    rows = [
        ("decode-only floor (gunzip + reader)", f"{events / floor_s:,.0f} events/s", ""),
        (f"end to end, {events:,} events in {files} files", f"{events / seconds:,.0f} events/s, {raw / 1e6 / seconds:,.1f} MB/s raw, "
         f"{compressed / 1e6 / seconds:,.1f} MB/s gzip", "≥ 150,000 events/s"),
        ("peak RSS of gumshoe ingest", f"{peak / 2**20:,.0f} MiB", "< 1 GiB"),
        (f"profile of one user, 30 days, graph of {total:,} events", f"{median * 1000:.1f} ms (median of 20)", "< 50 ms"),
        (f"StartInvestigation to SUCCESSFUL, 10-day scope + 45-day baseline, graph of {total:,} events "
         f"({inv['runs']} busiest users and roles)", f"{inv['median']:.2f} s median, {inv['max']:.2f} s max "
         f"(after {inv['located_s']:.0f} s of background geolocation at start-up)", "< 2 s"),
        (f"ListIndicators, {inv['indicators']} indicators, MaxResults 100 (boto3, 300 calls)",
         f"p50 {inv['p50'] * 1000:.1f} ms, p99 {inv['p99'] * 1000:.1f} ms", "p99 < 20 ms"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not args.no_doc:
        lines = ["| measure | result | goal |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
        text = DOC.read_text()
        block = f"{START_MARKER}\n" + "\n".join(lines) + f"\n\nMeasured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores.\n{END_MARKER}"
        if START_MARKER in text:
            head, rest = text.split(START_MARKER, 1)
            text = head + block + rest.split(END_MARKER, 1)[1]
        else:
            text += "\n## Ingestion\n\n" + block + "\n"
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
