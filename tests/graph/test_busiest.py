"""The summary's busiest entities (graph/queries.py ``busiest``) against sums made in Python
from the records themselves, over scopes of every shape: whole days from the day rollup
(``by_day``), the hours around them, rows loaded after the rollup, ties at the cut.

Records come from the real readers run on generated lines; the store is a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from test_graph_store import ACCOUNT, REGION, api_events, load

from gumshoe.formats import vpcflow
from gumshoe.graph import queries
from gumshoe.graph.store import GraphStore

HOUR = 3_600_000
DAY0 = 1_792_972_800_000 // (24 * HOUR) * 24  # the first hour of 2026-10-26 (hours since the epoch)
DAYS = 9
ENI = "eni-0abc"

Key = tuple[str, str, str]  # (panel, entity_type, entity_id)


def weighted(rng: random.Random, n: int) -> int:
    """0 .. n-1, the low ones far likelier: a few busy entities and a long tail of quiet ones."""
    return min(int(rng.paretovariate(1.2)) - 1, n - 1)


def call_lines(rng: random.Random, count: int) -> tuple[list[bytes], list[tuple[int, Key, bool]]]:
    """CloudTrail lines, and what each counts for: (hour, key, success) per panel row."""
    lines, counted = [], []
    for n in range(count):
        hour = DAY0 + rng.randrange(DAYS * 24)
        user = f"arn:aws:iam::{ACCOUNT}:user/u{weighted(rng, 40)}"
        ip = f"198.51.{weighted(rng, 200) // 100}.{weighted(rng, 200) % 100}"
        failed = rng.random() < 0.1
        when = dt.datetime.fromtimestamp((hour * HOUR + rng.randrange(HOUR)) / 1000, dt.UTC)
        event: dict[str, Any] = {
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "s3.amazonaws.com",
            "eventName": "ListBuckets", "awsRegion": REGION, "sourceIPAddress": ip, "userAgent": "aws-cli/2",
            "eventID": f"e-{rng.random()}-{n}", "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "IAMUser", "arn": user, "accountId": ACCOUNT},
        }
        if failed:
            event["errorCode"] = "AccessDenied"
        lines.append(json.dumps(event).encode())
        counted += [(hour, ("calls", "aws_user", user), not failed), (hour, ("calls", "ip_address", ip), not failed)]
    return lines, counted


def flow_lines(rng: random.Random, count: int) -> tuple[list[vpcflow.FlowRecord], list[tuple[int, Key, bool, int]]]:
    """VPC flow records, and what each counts for: (hour, key, accepted, bytes) per end."""
    text = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
    counted = []
    for _ in range(count):
        hour = DAY0 + rng.randrange(DAYS * 24)
        start = (hour * HOUR + rng.randrange(HOUR - 60_000)) // 1000
        src, dst = f"10.0.0.{weighted(rng, 60)}", f"203.0.113.{weighted(rng, 60)}"
        nbytes = rng.choice((40, 1500, 9000)) * (1 + weighted(rng, 50))
        action = "REJECT" if rng.random() < 0.2 else "ACCEPT"
        text += f"2 {ACCOUNT} {ENI} {src} {dst} 49761 443 6 10 {nbytes} {start} {start + 60} {action} OK\n"
        counted += [(hour, ("traffic", "ip_address", address), action == "ACCEPT", nbytes) for address in (src, dst)]
    records = [r for b in vpcflow.read(io.BytesIO(text.encode()), "flow.log") for r in b.records]
    assert len(records) == count
    return records, counted


def expected(calls: list[tuple[int, Key, bool]], flows: list[tuple[int, Key, bool, int]],
             first: int, last: int, top: int) -> list[tuple[str, str, str, int, int, int]]:
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    for hour, key, ok in calls:
        if first <= hour <= last:
            sums[key][0 if ok else 1] += 1
    for hour, key, ok, nbytes in flows:
        if first <= hour <= last:
            sums[key][0 if ok else 1] += 1
            sums[key][2] += nbytes
    out = []
    for panel in ("calls", "traffic"):
        for addresses in (False, True):
            rows = [(k, v) for k, v in sums.items() if k[0] == panel and (k[1] == "ip_address") == addresses]
            measure = (lambda v: v[2]) if panel == "traffic" else (lambda v: v[0] + v[1])
            rows.sort(key=lambda kv: (-measure(kv[1]), kv[0][2], kv[0][1]))
            out += [(*k, *v) for k, v in rows[:top]]
    return sorted(out)


def busiest(store: GraphStore, first: int, last: int, top: int) -> list[tuple[str, str, str, int, int, int]]:
    with store.cursor() as conn:
        return sorted(queries.busiest(conn, first, last, top))


SCOPES = [  # (first hour, last hour) from DAY0
    (0, DAYS * 24 - 1), (0, 23), (5, 5), (3, 50), (24, 71), (13, 24 * 7 + 2), (23, 24 * 8), (-30, DAYS * 24 + 30),
    (1, 24 * 7 - 2), (24 * 5 + 1, 24 * 5 + 23), (DAYS * 24 + 5, DAYS * 24 + 90),
]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory):
    """Three loads, a compaction (the day rollup), then two loads more; what each counts for."""
    rng = random.Random(2026)
    store = GraphStore(tmp_path_factory.mktemp("busiest") / "g.duckdb")
    calls, flows = [], []
    for n in range(5):
        lines, counted = call_lines(rng, 1500)
        records, flowed = flow_lines(rng, 400)
        load(store, f"calls-{n}", api_events(lines))
        load(store, f"flows-{n}", records, kind="vpcflow", package=vpcflow.PACKAGE)
        calls += counted
        flows += flowed
        if n == 2:
            assert store.compact(force=True)
    yield store, calls, flows
    store.close()


@pytest.mark.parametrize(("first", "last"), SCOPES)
@pytest.mark.parametrize("top", [1, 3, 10])
def test_the_busiest_of_each_panel_are_the_sums_of_the_records(graph, first, last, top):
    store, calls, flows = graph
    got = busiest(store, DAY0 + first, DAY0 + last, top)
    assert got == expected(calls, flows, DAY0 + first, DAY0 + last, top)


def test_the_scopes_cover_whole_days_and_the_rollup_holds_days_ranked(graph):
    store, _, _ = graph
    with store.cursor() as conn:
        days, ranked = conn.execute("SELECT count(DISTINCT day), bool_and(day_rank >= 1) FROM by_day").fetchone()
        mark = conn.execute("SELECT value FROM store_meta WHERE key = 'by_hour_sorted'").fetchone()[0]
        total = conn.execute("SELECT count(*) FROM by_hour").fetchone()[0]
    assert days == DAYS and ranked
    assert 0 < mark < total  # rows were loaded after the rollup: the tail is read from by_hour


def test_a_graph_compacted_before_the_day_rollup_gets_it_when_opened(tmp_path: Path):
    rng = random.Random(7)
    path = tmp_path / "g.duckdb"
    store = GraphStore(path)
    lines, calls = call_lines(rng, 800)
    load(store, "calls", api_events(lines))
    assert store.compact(force=True)
    with store.writing() as conn:  # as an older Gumshoe left it
        conn.execute("DELETE FROM by_day")
        conn.execute("DELETE FROM store_meta WHERE key = 'by_hour_sorted'")
    store.close()
    store = GraphStore(path)
    try:
        with store.cursor() as conn:
            assert conn.execute("SELECT count(*) FROM by_day").fetchone()[0] > 0
        assert busiest(store, DAY0 + 2, DAY0 + 24 * 6, 5) == expected(calls, [], DAY0 + 2, DAY0 + 24 * 6, 5)
    finally:
        store.close()
