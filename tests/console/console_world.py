"""The console tests' small world (not collected: no ``test_`` prefix): a few hours of one
account's CloudTrail written by hand, a VPC flow log and a GuardDuty finding, all in the
last hours before now, so the console's default scope (the last 24 hours) shows them.

    alice   arn:aws:iam::111111111111:user/alice   lists buckets, reads a bucket, describes
            instances from two addresses, is denied CreateUser twice, calls once with a user
            agent that is an HTML payload, and assumes the role Deployer
    Deployer's session  lists a second bucket
    a finding whose title is a script tag, a flow log of an instance
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ingest_fixtures as fx

ADMIN = "111111111111"
MEMBER = "222222222222"
OUTSIDER = "999999999999"
REGION = "us-east-1"
XSS_AGENT = "<img src=x onerror=alert(1)>"
XSS_TITLE = "<script>alert(2)</script> probing"
ALICE = f"arn:aws:iam::{ADMIN}:user/alice"
ROLE = f"arn:aws:iam::{ADMIN}:role/Deployer"
SESSION = f"arn:aws:sts::{ADMIN}:assumed-role/Deployer/alice-deploy"
IP_HOME, IP_AWAY = "198.51.100.10", "203.0.113.77"
BUCKET, BUCKET2 = "acme-reports", "acme-deploy"
INSTANCE = "i-0a11c0ffee0000001"
HOUR = dt.timedelta(hours=1)
# Where the addresses are, for GeoIP test databases (mmdb_writer.build_geo_dbs): alice's home
# network in Paris, the other in Lagos, 4,700 km apart, so her calls from both within minutes
# are impossible travel. The second organization's name is markup, shown as its text.
PARIS, LAGOS = (48.8566, 2.3522), (6.5244, 3.3792)
HOME_ASO, AWAY_ASO = "Example Home Networks", "<b>Example</b> Transit & Co"
PLACES = {
    "198.51.100.0/24": ("Paris", "France", "FR", *PARIS, 64500, HOME_ASO),
    "203.0.113.0/24": ("Lagos", "Nigeria", "NG", *LAGOS, 64511, AWAY_ASO),
}


@dataclass
class World:
    start: dt.datetime  # the first hour of activity (whole hour, UTC)
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, arn: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["userIdentity"].get("arn") == arn]

    def in_hour(self, events: list[dict[str, Any]], hour: dt.datetime) -> list[dict[str, Any]]:
        stamp = hour.strftime("%Y-%m-%dT%H")
        return [e for e in events if e["eventTime"].startswith(stamp)]

    @property
    def busiest_hour(self) -> dt.datetime:
        return self.start + HOUR


def activity(now: dt.datetime | None = None) -> World:
    """Alice's and her role session's calls over three hours, ending an hour before now."""
    now = now or dt.datetime.now(dt.UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - 4 * HOUR
    world = World(start)
    alice = fx.iam_user(ADMIN, "alice")
    session = fx.assumed_role(ADMIN, "Deployer", "alice-deploy")
    n = 0

    def add(when: dt.datetime, identity: dict[str, Any], source: str, name: str, ip: str, agent: str = fx.UA_CLI,
            **kw: Any) -> None:
        nonlocal n
        n += 1
        world.events.append(fx.ct_event(ADMIN, REGION, when, identity, source, name, ip=ip, agent=agent,
                                        event_id=f"00000000-0000-4000-8000-{n:012d}", **kw))

    t = start + dt.timedelta(minutes=5)
    add(t, alice, "s3.amazonaws.com", "ListBuckets", IP_HOME, request={"Host": "s3.amazonaws.com"})
    for i in range(6):
        add(t + dt.timedelta(minutes=5 * (i + 1)), alice, "ec2.amazonaws.com", "DescribeInstances", IP_HOME,
            agent=fx.UA_BOTO, request={"instancesSet": {}, "filterSet": {}})
    busy = start + HOUR
    for i in range(12):
        add(busy + dt.timedelta(minutes=4 * i + 1), alice, "s3.amazonaws.com", "GetObject",
            IP_AWAY if i % 3 == 0 else IP_HOME,
            request={"bucketName": BUCKET, "Host": f"{BUCKET}.s3.amazonaws.com", "key": f"q/{i}.csv"})
    add(busy + dt.timedelta(minutes=50), alice, "iam.amazonaws.com", "CreateUser", IP_AWAY,
        request={"userName": "backdoor"}, error="AccessDenied", read_only=False)
    add(busy + dt.timedelta(minutes=51), alice, "iam.amazonaws.com", "CreateUser", IP_AWAY,
        request={"userName": "backdoor2"}, error="AccessDenied", read_only=False)
    add(busy + dt.timedelta(minutes=52), alice, "sts.amazonaws.com", "GetCallerIdentity", IP_AWAY, agent=XSS_AGENT)
    later = start + 2 * HOUR
    add(later + dt.timedelta(minutes=3), alice, "sts.amazonaws.com", "AssumeRole", IP_HOME, agent=fx.UA_BOTO,
        request={"roleArn": ROLE, "roleSessionName": "alice-deploy", "durationSeconds": 3600},
        response={"credentials": {"accessKeyId": session["accessKeyId"], "expiration": "Jan 1, 2030, 1:00:00 AM",
                                  "sessionToken": "IQoJb3JpZ2luX2VjE"},
                  "assumedRoleUser": {"assumedRoleId": session["principalId"], "arn": SESSION}})
    for i in range(4):
        add(later + dt.timedelta(minutes=10 + i), session, "s3.amazonaws.com", "ListObjects", IP_HOME, agent=fx.UA_BOTO,
            request={"bucketName": BUCKET2, "Host": f"{BUCKET2}.s3.amazonaws.com", "prefix": "logs/"})
    return world


def write_logs(folder: Path, world: World) -> None:
    """The world's CloudTrail, a VPC flow log of an instance and a GuardDuty finding, in AWS's
    delivery layout under ``folder``."""
    fx.write_cloudtrail(folder, ADMIN, REGION, world.events, world.start)
    fx.put(folder, fx.flow_key(ADMIN, REGION, world.busiest_hour), gzip.compress(flow_log(world).encode()))
    finding = fx.gd_finding(ADMIN, REGION, world.start + HOUR, 0, remote_ip="198.51.100.250", instance=INSTANCE)
    finding["title"] = XSS_TITLE
    fx.write_guardduty(folder, ADMIN, REGION, [finding], world.start)


FLOW_FIELDS = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
               "action log-status instance-id flow-direction")


def flow_log(world: World) -> str:
    """A custom-format VPC flow log of the instance in the busiest hour: HTTPS out (accepted),
    SSH in from a scanner (rejected)."""
    t0 = int(world.busiest_hour.timestamp())
    rows = []
    for i in range(10):
        s = t0 + 60 * i
        if i % 2:
            rows.append(f"5 {ADMIN} eni-0a1b2c3d4e5f60000 203.0.113.66 10.0.1.5 {40000 + i} 22 6 3 180 {s} {s + 50} "
                        f"REJECT OK {INSTANCE} ingress")
        else:
            rows.append(f"5 {ADMIN} eni-0a1b2c3d4e5f60000 10.0.1.5 198.51.100.77 {50000 + i} 443 6 20 {4000 + i} "
                        f"{s} {s + 50} ACCEPT OK {INSTANCE} egress")
    return FLOW_FIELDS + "\n" + "\n".join(rows) + "\n"


def calls(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(successful, failed) calls among events."""
    failed = sum(1 for e in events if e.get("errorCode"))
    return len(events) - failed, failed


@dataclass
class IngestedGraph:
    """A small world's logs run through the real pipeline into a real graph store."""

    store: Any
    arn: str
    w: World
    scope: tuple[int, int]  # the world's hours, with room around them (ms)


@contextlib.contextmanager
def ingested_graph(base: Path, world: World, write: Any = None) -> Iterator[IngestedGraph]:
    """``write(folder, world)`` puts the logs in the folder (default: ``write_logs``)."""
    from api_harness import Env

    from gumshoe.graph.stores import GraphStores
    from gumshoe.ingest.pipeline import Ingestor

    (base / "env").mkdir()
    env = Env(base / "env", job_delay=0)
    arn = env.graph(ADMIN)
    (write or write_logs)(base / "logs", world)
    stores = GraphStores(env.tmp_path / "data")
    try:
        summary = Ingestor(env.store, stores, env.tmp_path / "data").run([str(base / "logs")])
        assert not summary.failed, summary.failed
        start = int(world.start.timestamp() * 1000)
        yield IngestedGraph(stores.get(arn), arn, world, (start - 2 * 3_600_000, start + 6 * 3_600_000))
    finally:
        stores.close()
        env.close()


@contextlib.contextmanager
def located_graph(base: Path, world: World) -> Iterator[IngestedGraph]:
    """``ingested_graph`` of the world's logs, its addresses located (``ip_geo``) as the server's
    background runner does, with GeoIP test databases of PLACES; the GeoIP is ``graph.geo``."""
    from mmdb_writer import build_geo_dbs

    from gumshoe.investigate.geo import GeoIP
    from gumshoe.investigate.located import locate_addresses

    (base / "geo").mkdir(parents=True)
    (base / "graph").mkdir()
    geo = GeoIP(*build_geo_dbs(base / "geo", PLACES))
    try:
        with ingested_graph(base / "graph", world) as graph:
            with graph.store.writing() as main, main.cursor() as conn:
                locate_addresses(conn, geo)
            graph.geo = geo  # type: ignore[attr-defined]
            graph.geo_dir = base / "geo"  # type: ignore[attr-defined]
            yield graph
    finally:
        geo.close()
