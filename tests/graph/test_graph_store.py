"""The behavior-graph store on real DuckDB files: loads that commit or roll back as a whole,
exactly-once per object, partial aggregates that sum the same before and after compaction,
a file that keeps everything across reopening, and GraphStores opening and dropping files.

Records come from the real readers run on a few lines of input."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gumshoe.formats import cloudtrail, vpcflow
from gumshoe.graph import queries
from gumshoe.graph.store import GraphStore
from gumshoe.graph.stores import GraphStores

ACCOUNT = "111122223333"
REGION = "us-east-1"
T0 = 1_793_000_000_000  # 2026-10-26T09:33:20Z
DAY = "2026-10-26"
HOUR = 3_600_000
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
IP = "198.51.100.1"
AGENT = "aws-cli/2"
INSTANCE_IP = "10.0.1.5"
PEER = "172.31.16.139"
SCOPE = (T0 - 24 * HOUR, T0 + 24 * HOUR)
GRAPH = f"arn:aws:detective:{REGION}:{ACCOUNT}:graph:0123456789abcdef"
OTHER_GRAPH = f"arn:aws:detective:{REGION}:{ACCOUNT}:graph:fedcba9876543210"

RAW_TABLES = ("api_events", "flows", "findings", "k8s_events", "sh_findings")
DERIVED_TABLES = ("entities", "links", "hourly", "links_by_dst", "loaded_objects")


def ct_line(n: int, *, user: str = "alice", name: str = "ListBuckets", error: str | None = None) -> bytes:
    when = dt.datetime.fromtimestamp((T0 + n * 60_000) / 1000, dt.UTC)
    event: dict[str, Any] = {
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "s3.amazonaws.com", "eventName": name,
        "awsRegion": REGION, "sourceIPAddress": IP, "userAgent": AGENT, "eventID": f"{user}-{n}",
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "accountId": ACCOUNT},
    }
    if error is not None:
        event["errorCode"] = error
    return json.dumps(event).encode()


def api_events(lines: list[bytes]) -> list[cloudtrail.ApiEvent]:
    data = b"".join(line + b"\n" for line in lines)
    batches = list(cloudtrail.read(io.BytesIO(data), "x.json"))
    assert not [r for b in batches for r in b.rejects]
    records = [r for b in batches for r in b.records]
    assert len(records) == len(lines)
    return records


def flow_records(*nbytes: int) -> list[vpcflow.FlowRecord]:
    start = T0 // 1000
    text = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
    text += "".join(
        f"2 {ACCOUNT} eni-0abc {INSTANCE_IP} {PEER} 49761 443 6 10 {n} {start} {start + 60} ACCEPT OK\n" for n in nbytes
    )
    batches = list(vpcflow.read(io.BytesIO(text.encode()), "flow.log"))
    records = [r for b in batches for r in b.records]
    assert len(records) == len(nbytes)
    return records


def count(store: GraphStore, table: str) -> int:
    with store.cursor() as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def load(store: GraphStore, ref: str, records: list[Any], kind: str = "cloudtrail", package: str = cloudtrail.PACKAGE) -> None:
    batch = store.begin(T0)
    batch.add(ref, kind, package, records)
    batch.commit()


def entities(store: GraphStore) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["type"], e["id"]): e for e in queries.list_entities(store)}


def profile(store: GraphStore, entity_id: str) -> dict[str, Any]:
    found = queries.profile(store, entity_id, *SCOPE)
    assert found is not None, entity_id
    return found


def related(store: GraphStore, entity_id: str) -> dict[tuple[str, str, str], tuple[int, int]]:
    return {(r["direction"], r["kind"], r["id"]): (r["count"], r["bytes"]) for r in profile(store, entity_id)["related"]}


def panel(store: GraphStore, entity_id: str, dimension: str) -> dict[str, tuple[int, int, int]]:
    return {p["value"]: (p["success"], p["failure"], p["bytes"]) for p in profile(store, entity_id)["panels"][dimension]}


@pytest.fixture
def store(tmp_path: Path):
    graph = GraphStore(tmp_path / "g.duckdb")
    yield graph
    graph.close()


# --- one load ---------------------------------------------------------------------------


def test_a_committed_load_is_visible_in_raw_and_derived_tables(store):
    lines = [ct_line(0), ct_line(1), ct_line(2, error="AccessDenied")]
    batch = store.begin(T0 + 5)
    batch.add("s3://logs/a.json", "cloudtrail", cloudtrail.PACKAGE, api_events(lines))
    assert store.loaded("s3://logs/a.json") is None  # not before the commit
    batch.commit()

    with store.cursor() as conn:
        rows = conn.execute(
            "SELECT object_ref, principal_id, source_ip, event_name, error_code FROM api_events ORDER BY time_ms"
        ).fetchall()
        loaded_ms = conn.execute("SELECT loaded_ms FROM loaded_objects").fetchall()
    assert rows == [
        ("s3://logs/a.json", ALICE, IP, "ListBuckets", ""),
        ("s3://logs/a.json", ALICE, IP, "ListBuckets", ""),
        ("s3://logs/a.json", ALICE, IP, "ListBuckets", "AccessDenied"),
    ]
    assert loaded_ms == [(T0 + 5,)]

    found = entities(store)
    assert set(found) == {("aws_user", ALICE), ("ip_address", IP), ("user_agent", AGENT), ("aws_account", ACCOUNT)}
    alice = found[("aws_user", ALICE)]
    assert (alice["accountId"], alice["events"], alice["firstSeen"], alice["lastSeen"]) == (ACCOUNT, 3, T0, T0 + 120_000)

    assert related(store, ALICE) == {
        ("out", "connected_from", IP): (3, 0),
        ("out", "used_user_agent", AGENT): (3, 0),
        ("out", "belongs_to", ACCOUNT): (3, 0),
    }
    assert related(store, IP) == {("in", "connected_from", ALICE): (3, 0)}
    assert panel(store, ALICE, "api") == {"s3.amazonaws.com:ListBuckets": (2, 1, 0)}
    assert panel(store, IP, "principal") == {ALICE: (2, 1, 0)}
    hour = T0 // HOUR * HOUR
    assert profile(store, ALICE)["hourlyApiVolume"] == [{"hour": hour, "success": 2, "failure": 1}]

    # The volume counts each event's bytes (here: its line) on its account and day.
    assert store.loaded("s3://logs/a.json") == {
        "records": 3, "volume": {f"{ACCOUNT}|{DAY}|{cloudtrail.PACKAGE}": sum(len(line) for line in lines)},
    }
    assert store.loaded("s3://logs/other.json") is None


def test_one_load_holds_several_objects_and_kinds_each_with_its_own_volume(store):
    trail = api_events([ct_line(0), ct_line(1)])
    flows = flow_records(1000, 234)
    empty_ref = "s3://logs/empty.json"
    batch = store.begin(T0)
    batch.add("s3://logs/a.json", "cloudtrail", cloudtrail.PACKAGE, trail)
    batch.add("s3://flows/f.log", "vpcflow", vpcflow.PACKAGE, flows)
    batch.add(empty_ref, "cloudtrail", cloudtrail.PACKAGE, [])
    batch.commit()

    assert (count(store, "api_events"), count(store, "flows")) == (2, 2)
    assert store.loaded("s3://logs/a.json") == {
        "records": 2, "volume": {f"{ACCOUNT}|{DAY}|{cloudtrail.PACKAGE}": sum(r.size for r in trail)},
    }
    assert store.loaded("s3://flows/f.log") == {
        "records": 2, "volume": {f"{ACCOUNT}|{DAY}|{vpcflow.PACKAGE}": sum(r.size for r in flows)},
    }
    # An object with no records is still marked loaded, so it is not read again.
    assert store.loaded(empty_ref) == {"records": 0, "volume": {}}
    assert related(store, PEER) == {("in", "flow_accepted", INSTANCE_IP): (2, 1234)}
    assert panel(store, INSTANCE_IP, "flow_peer") == {PEER: (2, 0, 1234)}


def test_an_object_added_in_several_parts_sums_its_records_and_volume(store):
    first, second = [ct_line(0), ct_line(1)], [ct_line(2)]
    batch = store.begin(T0)
    batch.add("s3://logs/a.json", "cloudtrail", cloudtrail.PACKAGE, api_events(first))
    batch.add("s3://logs/a.json", "cloudtrail", cloudtrail.PACKAGE, api_events(second))
    batch.commit()

    assert store.loaded("s3://logs/a.json") == {
        "records": 3, "volume": {f"{ACCOUNT}|{DAY}|{cloudtrail.PACKAGE}": sum(len(line) for line in first + second)},
    }
    with store.cursor() as conn:
        assert conn.execute("SELECT count(*) FROM loaded_objects").fetchone() == (1,)
    assert entities(store)[("aws_user", ALICE)]["events"] == 3


def test_a_rolled_back_load_leaves_nothing(store):
    batch = store.begin(T0)
    batch.add("s3://logs/a.json", "cloudtrail", cloudtrail.PACKAGE, api_events([ct_line(0), ct_line(1)]))
    batch.add("s3://flows/f.log", "vpcflow", vpcflow.PACKAGE, flow_records(10))
    batch.flush()  # the rows are written inside the transaction before it is rolled back
    batch.rollback()

    for table in RAW_TABLES + DERIVED_TABLES:
        assert count(store, table) == 0, table
    assert store.loaded("s3://logs/a.json") is None
    assert store.loaded("s3://flows/f.log") is None
    assert queries.list_entities(store) == []
    assert queries.profile(store, ALICE, *SCOPE) is None

    # The store is free again: the next load goes through.
    load(store, "s3://logs/a.json", api_events([ct_line(0)]))
    assert count(store, "api_events") == 1
    assert store.loaded("s3://logs/a.json") is not None


def test_a_second_load_of_the_same_object_is_refused_and_changes_nothing(store):
    load(store, "s3://logs/a.json", api_events([ct_line(0), ct_line(1)]))
    before = {table: count(store, table) for table in RAW_TABLES + DERIVED_TABLES}

    batch = store.begin(T0 + 1)
    batch.add("s3://logs/b.json", "cloudtrail", cloudtrail.PACKAGE, api_events([ct_line(5)]))
    batch.add("s3://logs/a.json", "cloudtrail", cloudtrail.PACKAGE, api_events([ct_line(0), ct_line(1)]))
    with pytest.raises(duckdb.ConstraintException):
        batch.commit()

    assert {table: count(store, table) for table in RAW_TABLES + DERIVED_TABLES} == before
    assert store.loaded("s3://logs/b.json") is None  # the whole load went, not just the duplicate
    assert store.loaded("s3://logs/a.json")["records"] == 2  # type: ignore[index]
    assert entities(store)[("aws_user", ALICE)]["events"] == 2
    assert store.idle()


def test_a_load_holds_the_store_until_it_ends(store):
    def idle_elsewhere() -> bool:
        answer: list[bool] = []
        thread = threading.Thread(target=lambda: answer.append(store.idle()))
        thread.start()
        thread.join(10)
        return answer[0]

    assert idle_elsewhere()
    batch = store.begin(T0)
    assert not idle_elsewhere()
    batch.add("s3://logs/a.json", "cloudtrail", cloudtrail.PACKAGE, api_events([ct_line(0)]))
    batch.commit()
    assert idle_elsewhere()
    batch = store.begin(T0)
    batch.rollback()
    batch.rollback()  # a second rollback is a no-op, not a second release
    assert idle_elsewhere()


def test_reads_during_a_load_answer_at_once_with_what_was_committed(store):
    load(store, "a", api_events([ct_line(0)]))
    batch = store.begin(T0)
    batch.add("b", "cloudtrail", cloudtrail.PACKAGE, api_events([ct_line(1), ct_line(2, user="bob")]))
    batch.flush()  # the load's rows are in its open transaction

    def read_elsewhere() -> tuple[int, list[str]]:
        pool = ThreadPoolExecutor(1)  # another thread, as a request's would be
        answer = pool.submit(lambda: (count(store, "api_events"), sorted(e["id"] for e in queries.list_entities(store))))
        try:
            return answer.result(timeout=30)
        except TimeoutError:
            batch.rollback()  # lets the waiting read (and the fixture's close) go on
            raise AssertionError("a read waited for the load") from None
        finally:
            pool.shutdown(wait=False)

    events, ids = read_elsewhere()
    assert events == 1 and BOB not in ids and ALICE in ids
    batch.commit()
    events, ids = read_elsewhere()
    assert events == 3 and BOB in ids


def test_a_read_block_sees_one_snapshot_even_when_a_load_commits_meanwhile(store):
    load(store, "a", api_events([ct_line(0)]))
    with store.cursor() as conn:
        before = conn.execute("SELECT count(*) FROM api_events").fetchone()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(load, store, "b", api_events([ct_line(1)])).result(timeout=30)
        assert conn.execute("SELECT count(*) FROM api_events").fetchone() == before
    assert count(store, "api_events") == 2


# --- partial aggregates and compaction ------------------------------------------------


def summary(store: GraphStore) -> dict[str, Any]:
    """Everything readers see of the derived tables."""
    return {
        "entities": queries.list_entities(store),
        "alice": profile(store, ALICE),
        "bob": profile(store, BOB),
        "ip": profile(store, IP),
        "instance": profile(store, INSTANCE_IP),
        "peer": profile(store, PEER),
    }


def test_partial_aggregates_of_two_loads_sum_the_same_before_and_after_compaction(store):
    load(store, "a", api_events([ct_line(0), ct_line(1), ct_line(2, user="bob")]))
    load(store, "b", api_events([ct_line(3), ct_line(4, error="AccessDenied"), ct_line(5, name="GetObject")]))
    load(store, "f1", flow_records(100), "vpcflow", vpcflow.PACKAGE)
    load(store, "f2", flow_records(20, 3), "vpcflow", vpcflow.PACKAGE)

    # Each load appended its own partial rows.
    with store.cursor() as conn:
        partial = conn.execute("SELECT count(*) FROM entities WHERE type = 'aws_user' AND id = ?", [ALICE]).fetchone()
    assert partial == (2,)

    before = summary(store)
    alice = {e["id"]: e for e in before["entities"]}[ALICE]
    assert (alice["events"], alice["firstSeen"], alice["lastSeen"]) == (5, T0, T0 + 5 * 60_000)
    assert {e["id"]: e["events"] for e in before["entities"]}[IP] == 6
    assert panel(store, ALICE, "api") == {"s3.amazonaws.com:ListBuckets": (3, 1, 0), "s3.amazonaws.com:GetObject": (1, 0, 0)}
    assert related(store, IP) == {("in", "connected_from", ALICE): (5, 0), ("in", "connected_from", BOB): (1, 0)}
    assert related(store, PEER) == {("in", "flow_accepted", INSTANCE_IP): (3, 123)}
    assert before["alice"]["hourlyApiVolume"] == [{"hour": T0 // HOUR * HOUR, "success": 4, "failure": 1}]

    assert store.compact() is False  # far below the threshold: nothing to do
    assert count(store, "links_by_dst") == 0
    assert store.compact(force=True) is True

    # One row per key now, and the readers' sums unchanged.
    with store.cursor() as conn:
        for table, key in (("entities", "type, id"), ("links", "src_id, kind, dst_id, hour"),
                           ("hourly", "entity_type, entity_id, hour, dimension, value"),
                           ("by_hour", "hour, panel, entity_type, entity_id")):
            duplicates = conn.execute(f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)").fetchone()
            assert duplicates == (0,), table
        assert conn.execute("SELECT count(*) FROM entities WHERE id = ?", [ALICE]).fetchone() == (1,)
    assert count(store, "links_by_dst") == count(store, "links")
    assert summary(store) == before


def test_loads_after_a_compaction_add_to_the_compacted_sums(store):
    load(store, "a", api_events([ct_line(0), ct_line(1)]))
    load(store, "f1", flow_records(100), "vpcflow", vpcflow.PACKAGE)
    assert store.compact(force=True)
    load(store, "b", api_events([ct_line(2), ct_line(3, user="bob")]))
    load(store, "f2", flow_records(50), "vpcflow", vpcflow.PACKAGE)

    def check() -> None:
        found = entities(store)
        assert found[("aws_user", ALICE)]["events"] == 3
        assert found[("aws_user", BOB)]["events"] == 1
        # Incoming links: the compacted ones (links_by_dst) plus those appended since (links).
        assert related(store, IP) == {("in", "connected_from", ALICE): (3, 0), ("in", "connected_from", BOB): (1, 0)}
        assert related(store, PEER) == {("in", "flow_accepted", INSTANCE_IP): (2, 150)}
        assert panel(store, ALICE, "ip_address") == {IP: (3, 0, 0)}

    check()
    assert store.compact(force=True)
    check()


# --- reopening ------------------------------------------------------------------------


def test_reopening_the_file_keeps_everything(tmp_path):
    path = tmp_path / "graphs" / "g.duckdb"
    first = GraphStore(path)
    load(first, "a", api_events([ct_line(0), ct_line(1)]))
    load(first, "f1", flow_records(100), "vpcflow", vpcflow.PACKAGE)
    first.compact(force=True)
    load(first, "b", api_events([ct_line(2, user="bob")]))
    before = summary(first)
    loaded = {ref: first.loaded(ref) for ref in ("a", "b", "f1")}
    rows = {table: count(first, table) for table in RAW_TABLES + DERIVED_TABLES}
    first.close()

    again = GraphStore(path)
    try:
        assert {table: count(again, table) for table in RAW_TABLES + DERIVED_TABLES} == rows
        assert rows["api_events"] == 3
        assert summary(again) == before
        assert {ref: again.loaded(ref) for ref in ("a", "b", "f1")} == loaded
        assert all(v is not None for v in loaded.values())
        # Still exactly-once after the reopening.
        batch = again.begin(T0)
        batch.add("a", "cloudtrail", cloudtrail.PACKAGE, api_events([ct_line(0)]))
        with pytest.raises(duckdb.ConstraintException):
            batch.commit()
        assert count(again, "api_events") == 3
    finally:
        again.close()


CRASHING_LOAD = """
import os, sys
from pathlib import Path
sys.path[:0] = [{tests!r}]
from test_graph_store import GRAPH, api_events, ct_line, load
from gumshoe.graph.stores import GraphStores
store = GraphStores(Path({data!r})).get(GRAPH)
load(store, "a", api_events([ct_line(0), ct_line(1)]))
os._exit(0)  # no close: the committed load is only in the WAL
"""


def crash_after_a_load(data_dir: Path) -> None:
    script = CRASHING_LOAD.format(tests=str(Path(__file__).parent), data=str(data_dir))
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True, timeout=120)


def test_a_load_committed_before_a_crash_is_kept(tmp_path):
    crash_after_a_load(tmp_path)
    stores = GraphStores(tmp_path)
    assert stores.path(GRAPH).with_suffix(".duckdb.wal").exists()
    try:
        store = stores.get(GRAPH)
        assert store.loaded("a") is not None
        assert count(store, "api_events") == 2
        assert entities(store)[("aws_user", ALICE)]["events"] == 2
    finally:
        stores.close()


# --- GraphStores ------------------------------------------------------------------------


def test_graph_stores_open_one_file_per_graph_once(tmp_path):
    stores = GraphStores(tmp_path)
    try:
        assert stores.path(GRAPH) == tmp_path / "graphs" / "0123456789abcdef.duckdb"
        assert stores.opened(GRAPH) is None
        assert not stores.path(GRAPH).exists()  # opened() does not create the store
        store = stores.get(GRAPH)
        assert stores.get(GRAPH) is store
        assert stores.opened(GRAPH) is store
        assert store.path == stores.path(GRAPH) and store.path.exists()

        load(store, "a", api_events([ct_line(0)]))
        other = stores.get(OTHER_GRAPH)
        assert other is not store and other.path == tmp_path / "graphs" / "fedcba9876543210.duckdb"
        assert count(other, "api_events") == 0 and other.loaded("a") is None
    finally:
        stores.close()
    assert stores.opened(GRAPH) is None and stores.opened(OTHER_GRAPH) is None

    again = GraphStores(tmp_path)
    try:
        assert again.get(GRAPH).loaded("a") == {"records": 1, "volume": {f"{ACCOUNT}|{DAY}|{cloudtrail.PACKAGE}": len(ct_line(0))}}
    finally:
        again.close()


def test_drop_deletes_the_file_and_a_later_get_starts_empty(tmp_path):
    stores = GraphStores(tmp_path)
    try:
        store = stores.get(GRAPH)
        load(store, "a", api_events([ct_line(0), ct_line(1)]))
        keep = stores.get(OTHER_GRAPH)
        load(keep, "k", api_events([ct_line(9)]))
        path = stores.path(GRAPH)
        wal = path.with_suffix(".duckdb.wal")
        spill = path.with_suffix(".tmp")
        spill.mkdir(exist_ok=True)
        (spill / "spill.block").write_bytes(b"x")
        assert path.exists() and wal.exists()  # the load is still in the WAL

        stores.drop(GRAPH)

        assert not path.exists() and not wal.exists() and not spill.exists()
        assert stores.opened(GRAPH) is None
        fresh = stores.get(GRAPH)
        assert fresh is not store
        assert fresh.loaded("a") is None
        assert count(fresh, "api_events") == 0 and queries.list_entities(fresh) == []
        # The other graph is untouched.
        assert stores.opened(OTHER_GRAPH) is keep and keep.loaded("k") is not None
        stores.drop(OTHER_GRAPH)
        assert not stores.path(OTHER_GRAPH).exists()
        stores.drop(OTHER_GRAPH)  # dropping a graph that is gone is harmless
    finally:
        stores.close()


def test_drop_of_a_graph_not_open_deletes_its_file_and_leftover_wal(tmp_path):
    crash_after_a_load(tmp_path)
    stores = GraphStores(tmp_path)
    path = stores.path(GRAPH)
    wal = path.with_suffix(".duckdb.wal")
    assert path.exists() and wal.exists()
    try:
        assert stores.opened(GRAPH) is None
        stores.drop(GRAPH)
        assert not path.exists() and not wal.exists()
        fresh = stores.get(GRAPH)  # a leftover WAL would bring the old load back here
        assert fresh.loaded("a") is None
        assert count(fresh, "api_events") == 0 and queries.list_entities(fresh) == []
    finally:
        stores.close()


def test_drop_during_a_load_deletes_the_file_once_the_load_ends(tmp_path):
    stores = GraphStores(tmp_path)
    store = stores.get(GRAPH)
    load(store, "a", api_events([ct_line(0)]))
    started, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def loader() -> None:
        try:
            batch = store.begin(T0)
            batch.add("b", "cloudtrail", cloudtrail.PACKAGE, api_events([ct_line(1)]))
            started.set()
            assert finish.wait(30)
            batch.commit()
        except BaseException as exc:
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=loader)
    thread.start()
    try:
        assert started.wait(30)
        before = {t.ident for t in threading.enumerate()}
        # drop() returns at once, without waiting for the load (in a thread, so that a drop
        # which did wait fails here instead of hanging).
        call = threading.Thread(target=stores.drop, args=(GRAPH,))
        call.start()
        call.join(10)
        assert not call.is_alive()
        # The store is held by the load: it is forgotten at once, closed and deleted later.
        assert stores.opened(GRAPH) is None
        assert stores.path(GRAPH).exists()
        droppers = [t for t in threading.enumerate() if t.name == "gumshoe-graph-drop" and t.ident not in before]
        assert len(droppers) == 1
    finally:
        finish.set()
        thread.join(30)
    droppers[0].join(30)
    assert not droppers[0].is_alive()
    assert errors == []
    assert not stores.path(GRAPH).exists()
    assert not stores.path(GRAPH).with_suffix(".duckdb.wal").exists()
    try:
        assert stores.get(GRAPH).loaded("a") is None
    finally:
        stores.close()


def session_line(n: int, session: str, *, ip: str, agent: str, error: str | None = None) -> bytes:
    when = dt.datetime.fromtimestamp((T0 + n * 20 * 60_000) / 1000, dt.UTC)
    role = f"arn:aws:iam::{ACCOUNT}:role/Deploy"
    event: dict[str, Any] = {
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances" if n % 3 else "DescribeInstances", "awsRegion": REGION, "sourceIPAddress": ip,
        "userAgent": agent, "eventID": f"{session}-{n}", "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/{session}",
                         "accountId": ACCOUNT, "principalId": f"AROAEXAMPLE:{session}",
                         "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": ACCOUNT}}},
    }
    if error is not None:
        event["errorCode"] = error
    return json.dumps(event).encode()


def test_a_role_profile_is_the_sum_of_its_sessions_profiles(tmp_path: Path) -> None:
    """A role's panels and hourly volume (its own hourly rows, made from its sessions' events)
    are the sums of the sessions' own profiles, partial rows and all."""
    store = GraphStore(tmp_path / "g.duckdb")
    sessions = ("i-0aaa", "deploy-1", "deploy-2")
    for part in range(2):  # two loads: partial rows to sum
        lines = [session_line(n, sessions[n % 3], ip=f"198.51.100.{n % 4}", agent=f"agent/{n % 2}",
                              error="AccessDenied" if n % 5 == 0 else None) for n in range(part * 20, part * 20 + 20)]
        load(store, f"part{part}", api_events(lines))
    role = profile(store, f"arn:aws:iam::{ACCOUNT}:role/Deploy")
    summed: dict[tuple[str, str], list[int]] = {}
    hours: dict[int, list[int]] = {}
    for session in sessions:
        found = profile(store, f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/{session}")
        for dimension, rows in found["panels"].items():
            for r in rows:
                total = summed.setdefault((dimension, r["value"]), [0, 0])
                total[0] += r["success"]
                total[1] += r["failure"]
        for h in found["hourlyApiVolume"]:
            total = hours.setdefault(h["hour"], [0, 0])
            total[0] += h["success"]
            total[1] += h["failure"]
    assert role["sessions"] == 3 and set(role["panels"]) == {"api", "ip_address", "user_agent"}
    assert {(d, r["value"]): [r["success"], r["failure"]] for d, rows in role["panels"].items() for r in rows} == summed
    assert {h["hour"]: [h["success"], h["failure"]] for h in role["hourlyApiVolume"]} == hours
    assert sum(f for (d, _), (_, f) in summed.items() if d == "api") == 8  # the failed calls count as failures
    store.close()


def test_a_profile_lists_the_busiest_of_each_relationship_and_counts_them_all(tmp_path: Path) -> None:
    """An instance role's thousands of sessions would crowd out its other relationships: each
    relationship lists its busiest (four times the panels' top) and says how many it has."""
    store = GraphStore(tmp_path / "g.duckdb")
    # Session k makes k + 1 calls: the busiest are the last ones.
    lines = [session_line(n, f"s{k:02d}", ip="198.51.100.7", agent="aws-cli/2") for k in range(12) for n in range(k + 1)]
    load(store, "sessions", api_events(lines))
    role = queries.profile(store, f"arn:aws:iam::{ACCOUNT}:role/Deploy", *SCOPE, top=2)
    assert role is not None
    sessions = [r for r in role["related"] if (r["direction"], r["kind"]) == ("in", "session_of")]
    assert [r["id"].rsplit("/", 1)[1] for r in sessions] == [f"s{k:02d}" for k in range(11, 3, -1)]
    assert [r["count"] for r in sessions] == list(range(12, 4, -1))
    totals = {(t["direction"], t["kind"]): t["count"] for t in role["relatedTotals"]}
    assert totals[("in", "session_of")] == 12
    assert {k for k in totals if k != ("in", "session_of")} == {(r["direction"], r["kind"]) for r in role["related"]
                                                                if r["kind"] != "session_of"}
    store.close()


def test_search_by_a_part_of_an_id_sums_compacted_and_appended_rows(store):
    """Search reads ``names`` (the compacted entities, the busiest first) and the rows
    appended since: an entity in both has its figures summed, one only appended is found."""
    load(store, "one", api_events([ct_line(n) for n in range(3)] + [ct_line(n, user="bob") for n in range(5)]))
    assert store.compact(force=True)
    load(store, "two", api_events([ct_line(n, user="alice") for n in range(10, 14)]
                                  + [ct_line(n, user="Carol") for n in range(20, 22)]))
    found = {r[1]: r for r in queries.find_by_part(store, None, "USER/")}
    assert [found[u][5] for u in (ALICE, BOB)] == [7, 5]  # alice: 3 compacted + 4 appended
    carol = f"arn:aws:iam::{ACCOUNT}:user/Carol"
    assert found[carol][5] == 2
    assert [r[1] for r in queries.find_by_part(store, "aws_user", "user/")] == [ALICE, BOB, carol]  # the busiest first
    exact = queries.find_by_part(store, None, BOB)
    assert exact[0][1] == BOB and exact[0][6] and not any(r[6] for r in exact[1:])
    assert queries.find_by_part(store, None, "nobody") == []
    # Completion: ids starting with the text in any case, in order.
    assert queries.complete_ids(store, None, f"ARN:aws:iam::{ACCOUNT}:USER/") == [
        ("aws_user", ALICE), ("aws_user", BOB), ("aws_user", carol)]
    assert queries.complete_ids(store, "aws_user", f"arn:aws:iam::{ACCOUNT}:user/c") == [("aws_user", carol)]


def derived_rows_of_version_2(store: GraphStore) -> dict[str, list[tuple[Any, ...]]]:
    """The rows derived version 2 added (the summary's rollups and the roles' own hourly rows), summed."""
    with store.cursor() as conn:
        return {
            "by_hour": conn.execute("SELECT hour, panel, entity_type, entity_id, sum(success), sum(failure), sum(bytes) "
                                    "FROM by_hour GROUP BY ALL ORDER BY ALL").fetchall(),
            "roles": conn.execute("SELECT entity_id, hour, dimension, value, sum(success), sum(failure) FROM hourly "
                                  "WHERE entity_type = 'aws_role' GROUP BY ALL ORDER BY ALL").fetchall(),
        }


def test_a_graph_made_before_the_rollups_gets_them_from_its_raw_tables_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "g.duckdb"
    store = GraphStore(path)
    load(store, "a", api_events([ct_line(0), ct_line(1, error="AccessDenied"), ct_line(2, user="bob")]
                                + [session_line(n, f"s-{n % 2}", ip=IP, agent=AGENT) for n in range(4)]))
    load(store, "f", flow_records(100, 7), "vpcflow", vpcflow.PACKAGE)
    made_by_loads = derived_rows_of_version_2(store)
    role = profile(store, f"arn:aws:iam::{ACCOUNT}:role/Deploy")
    assert made_by_loads["roles"] and {r[1] for r in made_by_loads["by_hour"]} == {"calls", "traffic"}
    # What an older Gumshoe's graph looks like: none of those rows, and no version.
    with store.writing() as conn:
        conn.execute("DELETE FROM by_hour")
        conn.execute("DELETE FROM hourly WHERE entity_type = 'aws_role'")
        conn.execute("DELETE FROM store_meta WHERE key = 'derived_version'")
    store.close()

    again = GraphStore(path)
    try:
        assert derived_rows_of_version_2(again) == made_by_loads
        assert profile(again, f"arn:aws:iam::{ACCOUNT}:role/Deploy") == role
    finally:
        again.close()
    # Once: a third opening makes nothing more.
    third = GraphStore(path)
    try:
        assert derived_rows_of_version_2(third) == made_by_loads
    finally:
        third.close()
