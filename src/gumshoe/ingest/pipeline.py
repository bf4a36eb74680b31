"""From source objects to behavior graphs, exactly once.

For each object not yet in the ledger (``ingest_objects``):

1. open it (gzip by magic number), let the readers sniff its first 64 KiB and pick one;
2. read it in batches; route each record to the graphs its account contributes to: the
   account is the graph's administrator or an ENABLED member, the record's datasource package
   is STARTED for that account in that graph, the record's Region is the graph's (a record
   without one takes the delivery layout's, and without that enters the account's graphs in
   every Region), and, with ``ingest_after_enabled``, it happened after the account joined;
3. load each graph's share in a DuckDB transaction that also marks the object loaded
   there, with its volume per account, day and package;
4. then, in one control-store transaction: add those volumes to ``volume_usage``, note each
   graph in ``object_graphs`` and the object in ``ingest_objects``.

Objects go through 3 and 4 in units (up to ``ingest_unit_bytes`` of them together: one transaction per
graph and one in the control store), because DuckDB's cost is per statement and commit, not
per row. When anything in a unit fails, nothing of it stays and its objects are loaded again
one at a time, so one bad object cannot hold back the others.

A crash between 3 and 4 loses nothing and doubles nothing: the next run finds the object
missing from the ledger, skips the graphs that already hold it (their ``loaded_objects``) and
completes step 4 from the volumes they recorded. Unreadable records go to
``<data_dir>/rejects/<day>.jsonl`` with their reason and are counted.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import shutil
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from gumshoe.graph.store import GraphStore, Load, split_volume_key
from gumshoe.ingest.readers import asff, cloudtrail, eks_audit, guardduty, vpcflow
from gumshoe.ingest.readers.base import Failing, Reject, Rejoined, read_head
from gumshoe.ingest.sources import SourceObject, list_objects
from gumshoe.jobs import now_ms
from gumshoe.store.db import ControlStore
from gumshoe.store.schema import (
    graphs,
    ingest_objects,
    ingest_states,
    members,
    object_graphs,
    volume_usage,
)

log = logging.getLogger("gumshoe.ingest")

# Sniffing order: the most specific formats first.
READERS: tuple[ModuleType, ...] = (cloudtrail, guardduty, asff, eks_audit, vpcflow)
SNIFF_BYTES = 65536
# Objects loaded in one transaction per graph (and one control-store transaction): up to
# ingest_unit_bytes of them (compressed) or this many. Fewer, larger loads are what DuckDB is
# fast at.
UNIT_OBJECTS = 1000


class GraphStores:
    """The open behavior-graph stores of a data directory, one DuckDB file per graph."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / "graphs"
        self._open: dict[str, GraphStore] = {}
        self._lock = threading.Lock()

    def path(self, graph_arn: str) -> Path:
        return self.folder / f"{graph_arn.rsplit(':', 1)[-1].rsplit('/', 1)[-1]}.duckdb"

    def get(self, graph_arn: str) -> GraphStore:
        with self._lock:
            store = self._open.get(graph_arn)
            if store is None:
                store = GraphStore(self.path(graph_arn))
                self._open[graph_arn] = store
            return store

    def opened(self, graph_arn: str) -> GraphStore | None:
        with self._lock:
            return self._open.get(graph_arn)

    def drop(self, graph_arn: str) -> None:
        """DeleteGraph: close the graph's store and delete its file. A load in progress holds
        the store, so the closing waits for it in a thread of its own, off the event loop."""
        with self._lock:
            store = self._open.pop(graph_arn, None)
        paths = (self.path(graph_arn), self.path(graph_arn).with_suffix(".duckdb.wal"))
        spill = self.path(graph_arn).with_suffix(".tmp")

        def close_and_delete() -> None:
            if store is not None:
                store.close()
            for path in paths:
                path.unlink(missing_ok=True)
            shutil.rmtree(spill, ignore_errors=True)

        if store is None or store.idle():
            close_and_delete()
        else:
            threading.Thread(target=close_and_delete, name="gumshoe-graph-drop", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            stores, self._open = list(self._open.values()), {}
        for store in stores:
            store.close()


@dataclass(frozen=True)
class Target:
    graph_arn: str
    region: str
    enabled_ms: int
    packages: frozenset[str]


def routes(conn: Connection) -> dict[str, list[Target]]:
    """account -> the graphs it contributes to now, with its STARTED packages in each."""
    started: dict[tuple[str, str], set[str]] = defaultdict(set)
    for graph_arn, account_id, package in conn.execute(
        select(ingest_states.c.graph_arn, ingest_states.c.account_id, ingest_states.c.package).where(
            ingest_states.c.state == "STARTED", ingest_states.c.account_id != ""
        )
    ):
        started[(graph_arn, account_id)].add(package)
    out: dict[str, list[Target]] = defaultdict(list)
    for graph_arn, account_id, region, enabled_ms in conn.execute(
        select(members.c.graph_arn, members.c.account_id, graphs.c.region, members.c.enabled_ms)
        .join(graphs, graphs.c.arn == members.c.graph_arn)
        .where(members.c.status == "ENABLED")
    ):
        packages = started.get((graph_arn, account_id))
        if packages:
            out[account_id].append(Target(graph_arn, region, enabled_ms or 0, frozenset(packages)))
    return dict(out)


@dataclass
class Tally:
    files: int = 0
    events: int = 0
    bytes: int = 0
    rejects: int = 0
    unrouted: int = 0  # readable records no graph takes


@dataclass
class ObjectResult:
    source: str
    key: str
    kind: str  # reader KIND, or "unknown"
    size: int = 0  # the object's size as stored (compressed)
    skipped: bool = False  # already ingested
    records: int = 0
    rejects: int = 0
    bytes: int = 0
    graphs: dict[str, int] = field(default_factory=dict)  # graph -> records loaded
    accounts: set[str] = field(default_factory=set)  # accounts its records belong to
    tallies: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    reject_list: list[Reject] = field(default_factory=list)


@dataclass
class Summary:
    objects: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)  # objects left for the next run, with why
    # (account, kind) -> tally; account "" for rejects and objects of unknown format
    tallies: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    graphs: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def to_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "skipped": self.skipped,
            "failed": self.failed,
            "byAccount": [
                {"account": account, "kind": kind, **vars(t)} for (account, kind), t in sorted(self.tallies.items())
            ],
            "graphs": dict(self.graphs),
        }


class Ingestor:
    def __init__(self, store: ControlStore, graph_stores: GraphStores, data_dir: Path, *,
                 after_enabled: bool = False, s3_endpoint_url: str = "", unit_bytes: int = 32 << 20) -> None:
        self.unit_bytes = unit_bytes
        self.store = store
        self.graph_stores = graph_stores
        self.rejects_dir = data_dir / "rejects"
        self.after_enabled = after_enabled
        self.s3_endpoint_url = s3_endpoint_url
        self._lock = threading.Lock()  # one ingestion at a time per process
        self._routes_seen: frozenset[Any] | None = None

    def objects(self, locations: Iterable[str], settle_seconds: float = 0.0) -> Iterator[SourceObject]:
        for location in locations:
            try:
                yield from list_objects(location, s3_endpoint_url=self.s3_endpoint_url, settle_seconds=settle_seconds)
            except (OSError, ValueError):
                raise
            except Exception as exc:  # botocore's errors: a missing bucket, no credentials ...
                raise ValueError(f"{location}: {exc}") from exc

    def run(self, locations: Iterable[str], progress: Callable[[ObjectResult, Summary], None] | None = None,
            plan: Callable[[int, int], None] | None = None, settle_seconds: float = 0.0) -> Summary:
        """Ingest every object of the locations not yet ingested, and objects read before
        whose accounts have joined a graph since; ``plan`` hears the number and total size of
        the objects first, ``progress`` each object as it is done."""
        summary = Summary()
        with self._lock:
            objects = list(self.objects(locations, settle_seconds))
            if plan is not None:
                plan(len(objects), sum(o.size for o in objects))
            done = self._ledger({o.ref for o in objects})
            considered = self._catch_up(done)
            unit: list[SourceObject] = []
            unit_bytes = 0
            for obj in objects:
                if obj.ref in done and obj.ref not in considered:
                    summary.skipped += 1
                    if progress is not None:
                        progress(ObjectResult(obj.source, obj.key, "", obj.size, skipped=True), summary)
                    continue
                unit.append(obj)
                unit_bytes += obj.size
                if unit_bytes >= self.unit_bytes or len(unit) >= UNIT_OBJECTS:
                    self._run_unit(unit, summary, progress, considered)
                    unit, unit_bytes = [], 0
            if unit:
                self._run_unit(unit, summary, progress, considered)
            if summary.failed:
                self._routes_seen = None  # look for objects to catch up again on the next run
            for arn in summary.graphs:
                store = self.graph_stores.opened(arn)  # not one DeleteGraph dropped meanwhile
                if store is not None:
                    store.compact()
        return summary

    def _ledger(self, refs: set[str]) -> dict[str, list[str]]:
        """The ledgered objects among ``refs``, with the accounts of their records."""
        found: dict[str, list[str]] = {}
        ordered = sorted(refs)
        with self.store.read() as conn:
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                for ref, accounts in conn.execute(
                    select(ingest_objects.c.object_ref, ingest_objects.c.accounts).where(
                        ingest_objects.c.object_ref.in_(chunk))):
                    found[ref] = [a for a in (accounts or "").split(",") if a]
        return found

    def _catch_up(self, done: dict[str, list[str]]) -> dict[str, set[str]]:
        """Ledgered objects that a graph of their accounts has not considered yet (the account
        joined it, or it was created, after the object was read): ref -> graphs that have.
        Checked when the routes changed since this ingestor last looked."""
        with self.store.read() as conn:
            table = routes(conn)
        signature = frozenset((a, t) for a, ts in table.items() for t in ts)
        if signature == self._routes_seen or not done:
            return {}
        wanted = {ref: {t.graph_arn for a in accounts for t in table.get(a, ())} for ref, accounts in done.items()}
        wanted = {ref: arns for ref, arns in wanted.items() if arns}
        have: dict[str, set[str]] = defaultdict(set)
        ordered = sorted(wanted)
        with self.store.read() as conn:
            for start in range(0, len(ordered), 500):
                for ref, arn in conn.execute(select(object_graphs.c.object_ref, object_graphs.c.graph_arn).where(
                        object_graphs.c.object_ref.in_(ordered[start : start + 500]))):
                    have[ref].add(arn)
        self._routes_seen = signature
        return {ref: have[ref] for ref, arns in wanted.items() if arns - have[ref]}

    # --- units: objects loaded together --------------------------------------------------

    def _run_unit(self, objects: list[SourceObject], summary: Summary,
                  progress: Callable[[ObjectResult, Summary], None] | None,
                  considered: dict[str, set[str]]) -> None:
        try:
            results = self._load_unit(objects, considered)
        except Exception as exc:
            if len(objects) > 1:
                # Nothing of the unit stayed: load its objects one by one to set the bad one apart.
                log.warning("a load of %d objects failed (%s); loading them one by one", len(objects), exc)
                for obj in objects:
                    self._run_unit([obj], summary, progress, considered)
                return
            obj = objects[0]
            log.exception("could not ingest %s/%s; it is retried on the next run", obj.source, obj.key)
            summary.failed.append(f"{obj.source}/{obj.key}: {exc}")
            if progress is not None:
                progress(ObjectResult(obj.source, obj.key, "unknown", obj.size), summary)
            return
        for result in results:
            summary.objects += 1
            for key, tally in result.tallies.items():
                total = summary.tallies[key]
                for name, value in vars(tally).items():
                    setattr(total, name, getattr(total, name) + value)
            for arn, count in result.graphs.items():
                summary.graphs[arn] += count
            if progress is not None:
                progress(result, summary)

    def _load_unit(self, objects: list[SourceObject], considered: dict[str, set[str]]) -> list[ObjectResult]:
        """Load the objects into their graphs (one transaction per graph), then record them
        in the control store; all or nothing until the graphs commit."""
        with self.store.read() as conn:
            targets = routes(conn)
        loads: dict[str, Load] = {}
        earlier: dict[tuple[str, str], dict[str, int]] = {}  # (object, graph) loaded by a run that crashed
        results: list[ObjectResult] = []
        stamp = now_ms()
        try:
            for obj in objects:
                results.append(self._read_object(obj, targets, loads, earlier, stamp, considered.get(obj.ref, set())))
            for load in loads.values():
                load.commit()
        except BaseException:
            for load in loads.values():
                load.rollback()
            raise
        volumes: dict[tuple[str, str], dict[str, int]] = dict(earlier)
        for arn, load in loads.items():
            for ref, entry in load.objects.items():
                volumes[(ref, arn)] = entry["volume"]
        for obj, result in zip(objects, results):
            # Before the ledger: a crash in between sets them aside twice rather than never.
            if result.reject_list and obj.ref not in considered:  # read again for a new graph: already set aside
                self._set_aside(obj, result.kind, result.reject_list)
        self._finish(objects, results, volumes, targets)
        return results

    def _read_object(self, obj: SourceObject, targets: dict[str, list[Target]], loads: dict[str, Load],
                     earlier: dict[tuple[str, str], dict[str, int]], stamp: int, skip: set[str]) -> ObjectResult:
        stream = obj.open()
        try:
            head, error = read_head(stream, SNIFF_BYTES)
            reader = next((r for r in READERS if r.sniff(head, obj.key)), None) if head.strip() else None
            result = ObjectResult(obj.source, obj.key, reader.KIND if reader else "unknown", obj.size)
            if reader is None:
                if error is not None:
                    result.reject_list.append(Reject("byte 0", f"the object cannot be read: {error}"))
                elif head.strip():
                    log.info("%s/%s is not a log Gumshoe reads (CloudTrail, VPC Flow Logs, GuardDuty, EKS audit, "
                             "Security Hub findings); skipped", obj.source, obj.key)
            else:
                rest = Rejoined(head, Failing(error) if error is not None else stream)
                for batch in reader.read(rest, obj.key):
                    result.reject_list.extend(batch.rejects)
                    self._route(obj, reader, batch.records, targets, loads, earlier, result, stamp, skip)
        finally:
            stream.close()
        result.rejects = len(result.reject_list)
        accounts = result.accounts or {obj.hint[0]}
        for account in accounts:
            result.tallies[(account, result.kind)].files += 1
        if result.rejects:
            result.tallies[(next(iter(sorted(accounts))), result.kind)].rejects += result.rejects
        return result

    def _route(self, obj: SourceObject, reader: ModuleType, records: list[Any], targets: dict[str, list[Target]],
               loads: dict[str, Load], earlier: dict[tuple[str, str], dict[str, int]], result: ObjectResult,
               stamp: int, skip: set[str]) -> None:
        hint_account, hint_region = obj.hint
        package = reader.PACKAGE
        kind = reader.KIND
        by_account: dict[str, list[Any]] = defaultdict(list)
        for record in records:
            if not record.account_id:
                record.account_id = hint_account
            if not record.region:
                record.region = hint_region
            by_account[record.account_id].append(record)
        per_graph: dict[str, list[Any]] = defaultdict(list)
        after_enabled = self.after_enabled
        for account, rows in by_account.items():
            result.accounts.add(account)
            tally = result.tallies[(account, kind)]
            size = sum(r.size for r in rows)
            tally.events += len(rows)
            tally.bytes += size
            result.records += len(rows)
            result.bytes += size
            taken: set[int] = set()
            for target in targets.get(account, ()):
                if package not in target.packages or target.graph_arn in skip:
                    continue
                region, since = target.region, target.enabled_ms if after_enabled else None
                chosen = [r for r in rows if (not r.region or r.region == region) and (since is None or r.time_ms >= since)]
                per_graph[target.graph_arn].extend(chosen)
                taken.update(map(id, chosen))
            tally.unrouted += len(rows) - len(taken)
        for arn, rows in per_graph.items():
            if (obj.ref, arn) in earlier:
                continue
            load = loads.get(arn)
            store = self.graph_stores.get(arn)
            if load is None or obj.ref not in load.objects:
                before = store.loaded(obj.ref)
                if before is not None:
                    earlier[(obj.ref, arn)] = before["volume"]  # a run that crashed after this graph's commit
                    continue
            if load is None:
                load = loads[arn] = store.begin(stamp)
            load.add(obj.ref, kind, package, rows)
            result.graphs[arn] = result.graphs.get(arn, 0) + len(rows)

    def _finish(self, objects: list[SourceObject], results: list[ObjectResult],
                volumes: dict[tuple[str, str], dict[str, int]], targets: dict[str, list[Target]]) -> None:
        stamp = now_ms()
        with self.store.write() as conn:
            marks = set(volumes)
            for obj, result in zip(objects, results):
                marks.update((obj.ref, t.graph_arn) for a in result.accounts for t in targets.get(a, ()))
            live = {arn for (arn,) in conn.execute(
                select(graphs.c.arn).where(graphs.c.arn.in_(sorted({arn for _, arn in marks}))))}
            totals: dict[tuple[str, str, str, str], int] = defaultdict(int)
            for ref, arn in sorted(marks):
                if arn not in live:
                    continue  # deleted meanwhile
                if conn.execute(select(object_graphs).where(object_graphs.c.object_ref == ref,
                                                            object_graphs.c.graph_arn == arn)).first():
                    continue
                for key, nbytes in volumes.get((ref, arn), {}).items():
                    totals[(arn, *split_volume_key(key))] += nbytes
                conn.execute(insert(object_graphs).values(object_ref=ref, graph_arn=arn))
            for (arn, account, day, package), nbytes in totals.items():
                _add_volume(conn, arn, account, day, package, nbytes, stamp)
            known = {r for (r,) in conn.execute(select(ingest_objects.c.object_ref).where(
                ingest_objects.c.object_ref.in_([o.ref for o in objects])))}
            new = [
                dict(object_ref=obj.ref, source=obj.source, key=obj.key, kind=result.kind, size=obj.size,
                     records=result.records, rejects=result.rejects, finished_ms=stamp,
                     accounts=",".join(sorted(a for a in result.accounts if a)))
                for obj, result in zip(objects, results) if obj.ref not in known
            ]
            if new:
                conn.execute(insert(ingest_objects), new)

    def _set_aside(self, obj: SourceObject, kind: str, rejects: list[Reject]) -> None:
        self.rejects_dir.mkdir(parents=True, exist_ok=True)
        path = self.rejects_dir / f"{dt.datetime.now(dt.UTC):%Y-%m-%d}.jsonl"
        lines = []
        for reject in rejects:
            entry: dict[str, Any] = {"source": obj.source, "key": obj.key, "kind": kind,
                                     "position": reject.position, "reason": reject.reason}
            try:
                entry["raw"] = reject.raw.decode("utf-8")
            except UnicodeDecodeError:
                entry["rawBase64"] = base64.b64encode(reject.raw).decode()
            lines.append(orjson.dumps(entry) + b"\n")
        with path.open("ab") as out:
            out.write(b"".join(lines))
        log.info("%d unreadable records of %s/%s set aside in %s", len(rejects), obj.source, obj.key, path)


def _add_volume(conn: Connection, arn: str, account: str, day: str, package: str, nbytes: int, stamp: int) -> None:
    key = (volume_usage.c.graph_arn == arn, volume_usage.c.account_id == account,
           volume_usage.c.package == package, volume_usage.c.day == day)
    changed = conn.execute(
        update(volume_usage).where(*key).values(bytes=volume_usage.c.bytes + nbytes, updated_ms=stamp)
    ).rowcount
    if not changed:
        conn.execute(insert(volume_usage).values(graph_arn=arn, account_id=account, package=package, day=day,
                                                 bytes=nbytes, updated_ms=stamp))
