"""The pool of decoding processes builds the same graph as decoding in the pipeline's own
process: every raw and derived row, the volume, the summary and the rejects, on a corpus of
CloudTrail (with copies and bad records), VPC flow logs and an object of no known format."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from api_harness import ADMIN, Env

from gumshoe.formats.base import Limits
from gumshoe.graph.stores import GraphStores
from gumshoe.ingest import decoding
from gumshoe.ingest.pipeline import Ingestor
from gumshoe.ingest.sources import list_objects

MEMBER = "222222222222"
REGION = "us-east-1"
T0 = 1_793_000_000_000  # 2026-10-26T09:33:20Z
TABLES = {  # table -> its columns in a stable order
    "api_events": "account_id, event_id, time_ms, principal_id, source_ip, event_name, error_code, object_ref",
    "flows": "account_id, time_ms, src_addr, dst_addr, src_port, dst_port, bytes, action, object_ref",
    "entities": "type, id, account_id, first_ms, last_ms, events",
    "links": "src_type, src_id, kind, dst_type, dst_id, hour, count, bytes, first_ms, last_ms",
    "hourly": "entity_type, entity_id, hour, dimension, value, success, failure, bytes",
    "loaded_objects": "object_ref, records, volume",
}


def event(account: str, n: int, **extra: Any) -> dict[str, Any]:
    when = dt.datetime.fromtimestamp((T0 + n * 97_000) / 1000, dt.UTC)
    who = f"arn:aws:iam::{account}:user/user{n % 4}"
    return {"eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "ec2.amazonaws.com",
            "eventName": ("DescribeInstances", "RunInstances", "StopInstances")[n % 3], "awsRegion": REGION,
            "sourceIPAddress": f"198.51.100.{n % 7}", "userAgent": f"aws-cli/2.{n % 2}", "eventID": f"{account}-{n}",
            "recipientAccountId": account, "errorCode": "AccessDenied" if n % 5 == 0 else None,
            "userIdentity": {"type": "IAMUser", "arn": who, "accountId": account}, **extra}


def write_corpus(logs: Path) -> None:
    for account in (ADMIN, MEMBER):
        folder = logs / "AWSLogs" / account / "CloudTrail" / REGION / "2026" / "10" / "26"
        folder.mkdir(parents=True)
        for index in range(6):
            events = [event(account, index * 50 + i) for i in range(50)]
            if index == 5:
                events += [event(account, i) for i in range(10)]  # copies of the first file's
            (folder / f"{account}_CloudTrail_{REGION}_{index}.json.gz").write_bytes(
                gzip.compress(json.dumps({"Records": events}).encode()))
    lines = [json.dumps(event(ADMIN, 1000 + i)) for i in range(20)] + ["{not json", '{"eventTime": 3}']
    (logs / "lines.jsonl").write_text("\n".join(lines) + "\n")
    flows = logs / "AWSLogs" / ADMIN / "vpcflowlogs" / REGION / "2026" / "10" / "26"
    flows.mkdir(parents=True)
    start = T0 // 1000
    for index in range(3):
        text = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
        text += "".join(f"2 {ADMIN} eni-0abc 10.0.1.{index} 203.0.113.{i % 9} {40000 + i} 443 6 10 {100 * i} "
                        f"{start + i * 60} {start + i * 60 + 59} {'ACCEPT' if i % 4 else 'REJECT'} OK\n" for i in range(40))
        (flows / f"{ADMIN}_vpcflowlogs_{REGION}_fl-1_{index}.log.gz").write_bytes(gzip.compress(text.encode()))
    (logs / "notes.csv").write_text("a,b\n1,2\n")


def ingest(tmp: Path, logs: Path, workers: int) -> tuple[dict[str, Any], dict[str, list[tuple[Any, ...]]], Any, list[Any]]:
    env = Env(tmp, job_delay=0)
    try:
        arn = env.graph(ADMIN)
        env.invite(arn, ADMIN, MEMBER)
        env.accept(arn, MEMBER)
        stores = GraphStores(tmp / "data")
        try:
            summary = Ingestor(env.store, stores, tmp / "data", workers=workers).run([str(logs)]).to_json()
            store = stores.get(arn)
            store.compact(force=True)
            with store.cursor() as conn:
                rows = {table: conn.execute(f"SELECT {cols} FROM {table} ORDER BY ALL").fetchall()
                        for table, cols in TABLES.items()}
        finally:
            stores.close()
        volume = {a: env.member(arn, ADMIN, a).get("VolumeUsageInBytes") for a in (ADMIN, MEMBER)}
        rejects = sorted(line for path in (tmp / "data" / "rejects").glob("*.jsonl") for line in path.read_text().splitlines())
        summary["graphs"] = sorted(summary["graphs"].values())
        summary["duplicates"] = sorted(summary["duplicates"].values())
        return summary, rows, volume, rejects
    finally:
        env.close()


def test_the_pool_builds_the_graph_the_pipeline_builds_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    write_corpus(logs)
    alone = ingest(tmp_path / "alone", logs, workers=0)
    from_pool: list[str] = []
    take = decoding.Decoders.take

    def counted(self: decoding.Decoders, obj: Any) -> list[decoding.Decoded] | None:
        pieces = take(self, obj)
        if pieces is not None:
            from_pool.append(obj.key)
        return pieces

    monkeypatch.setattr(decoding.Decoders, "take", counted)
    pooled = ingest(tmp_path / "pooled", logs, workers=2)
    # Every object but the line file (local line files are read in parts, here): 12 CloudTrail
    # files, 3 flow logs and the CSV.
    assert len(from_pool) == 16
    summary, rows, volume, rejects = pooled
    assert summary == alone[0] and volume == alone[2] and rejects == alone[3]
    for table in TABLES:
        assert rows[table] == alone[1][table], table
    # What the corpus holds, once: 2 accounts x 300 events, 20 lines, 120 flows; 20 copies; 2 rejects.
    assert len(rows["api_events"]) == 620 and len(rows["flows"]) == 120
    assert summary["duplicates"] == [20] and len(rejects) == 2
    assert volume[ADMIN] and volume[MEMBER]


def test_a_run_of_few_objects_is_decoded_here_and_large_ones_always_are(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_corpus(logs)
    objects = list(list_objects(str(logs)))
    limits = Limits()
    assert decoding.Decoders.for_run(objects[: decoding.POOL_MIN_OBJECTS - 1], 1, 1 << 20, limits) is None
    assert decoding.Decoders.for_run(objects, 0, 1 << 20, limits) is None
    small = objects[0]
    assert decoding.takes(small)
    assert not decoding.takes(dataclasses.replace(small, size=decoding.POOL_OBJECT_BYTES + 1))


def test_a_large_load_completes_within_a_small_memory_limit(tmp_path: Path) -> None:
    """DuckDB spills to the graph's temp folder instead of failing: 60,000 events, a load and
    a compaction of them, in a store held to 64 MB."""
    logs = tmp_path / "logs"
    folder = logs / "AWSLogs" / ADMIN / "CloudTrail" / REGION / "2026" / "10" / "26"
    folder.mkdir(parents=True)
    for index in range(12):
        events = [event(ADMIN, index * 5000 + i) for i in range(5000)]
        (folder / f"{ADMIN}_CloudTrail_{REGION}_{index}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": events}).encode()))
    env = Env(tmp_path, job_delay=0)
    stores = GraphStores(tmp_path / "data", memory_limit="64MB")
    try:
        arn = env.graph(ADMIN)
        summary = Ingestor(env.store, stores, tmp_path / "data", workers=0).run([str(logs)])
        store = stores.get(arn)
        store.compact(force=True)
        with store.cursor() as conn:
            limit = conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
            events, users = conn.execute(
                "SELECT count(*), count(DISTINCT principal_id) FROM api_events").fetchall()[0]
            hourly = conn.execute("SELECT sum(success) + sum(failure) FROM hourly WHERE dimension = 'api' "
                                  "AND entity_type = 'aws_user'").fetchall()[0][0]
    finally:
        stores.close()
        env.close()
    assert limit == "61.0 MiB"  # DuckDB says 64 MB in MiB
    assert summary.failed == [] and summary.graphs == {arn: 60_000}
    assert events == 60_000 and users == 4 and hourly == 60_000
