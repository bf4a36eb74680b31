"""From source objects to behavior graphs, exactly once.

For each object not yet in the ledger (``ingest_objects``), or the next part of a local line
file that grows (growing.py: each part is an object of its own):

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
completes step 4 from the volumes they recorded (a part of a growing file left so is taken
again with the same end, even if the file has grown since). Unreadable records go to
``<data_dir>/rejects/<day>.jsonl`` with their reason and are counted.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, Literal, NamedTuple

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, func, insert, select, update

from gumshoe.clock import now_ms
from gumshoe.config import Settings
from gumshoe.formats import READERS_BY_KIND
from gumshoe.formats.base import (
    MAX_OBJECT_BYTES,
    MAX_RECORD_BYTES,
    Limits,
    Reject,
    Rejoined,
)
from gumshoe.graph.store import Load, split_volume_key
from gumshoe.graph.stores import GraphStores
from gumshoe.ingest import decoding, growing
from gumshoe.ingest.access import Permit
from gumshoe.ingest.decoding import Decoded, Decoders
from gumshoe.ingest.growing import Part
from gumshoe.ingest.sources import GZIP_MAGIC, SourceObject, list_objects
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

SNIFF_BYTES = 65536
# Objects loaded in one transaction per graph (and one control-store transaction): up to
# ingest_unit_bytes of them (compressed) or this many. Fewer, larger loads are what DuckDB is
# fast at.
UNIT_OBJECTS = 1000


class Unreadable(Exception):
    """Reading an object failed as a whole (not one of its records: those are rejects)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


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
    refused: int = 0  # records of an account the caller may not load (Permit)


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
    duplicates: dict[str, int] = field(default_factory=dict)  # graph -> records it held already
    accounts: set[str] = field(default_factory=set)  # accounts its records belong to
    refused: dict[str, int] = field(default_factory=dict)  # account -> records refused (Permit)
    tallies: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    reject_list: list[Reject] = field(default_factory=list)


@dataclass(frozen=True)
class LineStep:
    """What a run does with a local file: read it ``whole`` (not a line file), ``wait`` (not a
    line file, and perhaps still being written), or read its next ``parts``."""

    action: Literal["whole", "wait", "parts"]
    parts: tuple[SourceObject, ...] = ()  # the next parts (usually one); none: nothing new yet
    going_on: bool = False  # its earlier parts are still in the file (readable again for a new graph)


class _Start(NamedTuple):
    """Where the next part of a line file starts."""

    obj: SourceObject
    reading: int
    start: int
    kind: str
    going_on: bool


@dataclass
class Summary:
    objects: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)  # objects that could not be read, with why
    failed_before: list[str] = field(default_factory=list)  # failed in an earlier run, unchanged since
    refused: dict[str, str] = field(default_factory=dict)  # account -> why its records were refused
    # (account, kind) -> tally; account "" for rejects and objects of unknown format
    tallies: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    graphs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicates: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # graph -> records it held already

    def merge(self, other: Summary) -> Summary:
        """Add another run's figures to these (one answer for a request of several runs)."""
        self.objects += other.objects
        self.skipped += other.skipped
        self.failed.extend(other.failed)
        self.failed_before.extend(other.failed_before)
        self.refused.update(other.refused)
        for key, tally in other.tallies.items():
            _add_tally(self.tallies[key], tally)
        for arn, count in other.graphs.items():
            self.graphs[arn] += count
        for arn, count in other.duplicates.items():
            self.duplicates[arn] += count
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "objects": self.objects,
            "skipped": self.skipped,
            "failed": self.failed,
            "failedBefore": self.failed_before,
            "byAccount": [
                {"account": account, "kind": kind, **vars(t)} for (account, kind), t in sorted(self.tallies.items())
            ],
            "graphs": dict(self.graphs),
            "duplicates": dict(self.duplicates),
            "refused": [{"account": a, "reason": r} for a, r in sorted(self.refused.items())],
        }


class Ingestor:
    def __init__(self, store: ControlStore, graph_stores: GraphStores, data_dir: Path, *,
                 after_enabled: bool = False, s3_endpoint_url: str = "", unit_bytes: int = 32 << 20,
                 max_object_bytes: int = MAX_OBJECT_BYTES, max_record_bytes: int = MAX_RECORD_BYTES,
                 workers: int | None = None) -> None:
        self.unit_bytes = unit_bytes
        # Processes decoding a large run's objects (0: in this one); None: every core but one.
        self.workers = decoding.default_workers() if workers is None or workers < 0 else workers
        decoding.return_memory_promptly()
        self.max_object_bytes = max_object_bytes  # unpacked, one object (or one part of a line file)
        self.limits = Limits(max_record_bytes=max_record_bytes)
        self.store = store
        self.graph_stores = graph_stores
        self.rejects_dir = data_dir / "rejects"
        self.after_enabled = after_enabled
        self.s3_endpoint_url = s3_endpoint_url
        self._lock = threading.Lock()  # one ingestion at a time per process
        self._routes_seen: frozenset[Any] | None = None
        # Line files whose parts in the graphs are all in the ledger: a process may die
        # between the two, so none at start, and none again after a run that failed.
        self._checked: set[str] = set()
        self._permit: Permit | None = None  # the permit of the run in progress (one at a time)

    @classmethod
    def for_settings(cls, store: ControlStore, graph_stores: GraphStores, settings: Settings) -> Ingestor:
        return cls(store, graph_stores, settings.data_dir, after_enabled=settings.ingest_after_enabled,
                   s3_endpoint_url=settings.s3_endpoint_url, unit_bytes=settings.ingest_unit_bytes,
                   max_object_bytes=settings.max_object_bytes, max_record_bytes=settings.max_record_bytes,
                   workers=settings.ingest_workers)

    def objects(self, locations: Iterable[str]) -> Iterator[SourceObject]:
        for location in locations:
            try:
                yield from list_objects(location, s3_endpoint_url=self.s3_endpoint_url)
            except (OSError, ValueError):
                raise
            except Exception as exc:  # botocore's errors: a missing bucket, no credentials ...
                raise ValueError(f"{location}: {exc}") from exc

    def run(self, locations: Iterable[str], progress: Callable[[ObjectResult, Summary], None] | None = None,
            plan: Callable[[int, int], None] | None = None, settle_seconds: float = 0.0,
            tail_settle_seconds: float = 0.0, permit: Permit | None = None,
            objects: Iterable[SourceObject] = ()) -> Summary:
        """Ingest every object of the locations not yet ingested, the new lines of line files
        that grew, and objects read before whose accounts have joined a graph since; ``plan``
        hears the number and total size of the objects first, ``progress`` each object (or
        part) as it is done. A local file changed in the last ``settle_seconds`` may still be
        being written: only its complete lines are read (a line file), or it waits for a later
        run. A last line without its newline waits until the file has not changed for
        ``tail_settle_seconds``. With a ``permit`` (an API caller's ingestion) each record is
        checked against it; ``objects`` are objects given as they are (uploads)."""
        with self._lock:
            listed = [*self.objects(locations), *objects]
            if permit is not None:
                listed = [dataclasses.replace(o, owner=permit.caller) for o in listed]
            self._permit = permit
            if plan is not None:
                plan(len(listed), sum(o.size for o in listed))
            batch = _Run(self, progress)
            done = self._ledger({o.ref for o in listed}, batch.failed_before)
            steps = self._line_steps([o for o in listed if o.local and o.ref not in done],
                                     _changed_before(settle_seconds), _changed_before(tail_settle_seconds))
            batch.considered, again = self._to_read_again(listed, done, steps, remember=permit is None)
            for obj in listed:
                step = steps.get(obj.ref)
                if step is None:  # in the ledger, or an S3 object
                    if obj.ref in done and obj.ref not in batch.considered:
                        batch.skip(obj)
                    else:
                        batch.add(obj)
                elif step.action == "whole":
                    batch.add(obj)
                elif step.action == "parts":
                    pieces = [dataclasses.replace(obj, part=p, size=p.end - p.start)
                              for p in sorted(again.get(obj.location, ()), key=lambda p: p.start)]
                    pieces.extend(step.parts)
                    for piece in pieces:
                        batch.add(piece)
                    if not pieces:
                        batch.skip(obj)
            batch.flush()
            summary = batch.summary
            if summary.failed:
                self._routes_seen = None  # look for objects to catch up again on the next run
                self._checked.clear()
            for arn in summary.graphs:
                store = self.graph_stores.opened(arn)  # not one DeleteGraph dropped meanwhile
                if store is not None:
                    try:
                        store.compact()
                    except duckdb.Error as exc:
                        # What the run loaded is committed and read correctly without it:
                        # compaction only makes reads faster, and the next run tries again.
                        log.warning("could not compact the graph %s (%s); its loads stay as they are, and the "
                                    "next ingestion tries again (a larger memory_limit helps)", arn, exc)
        return summary

    def _to_read_again(self, listed: list[SourceObject], done: dict[str, list[str]], steps: dict[str, LineStep],
                       remember: bool) -> tuple[dict[str, set[str]], dict[str, list[Part]]]:
        """Ledgered objects a graph of their accounts has not considered yet (ref -> graphs
        that have), and the ledgered parts of growing files to read again for them (by file)."""
        with self.store.read() as conn:
            table = routes(conn)
        earlier_parts: dict[str, Part] = {}  # ledgered parts of readings that go on, by ref
        if _signature(table) != self._routes_seen:
            going_on = [o.location for o in listed if o.ref in steps and steps[o.ref].going_on]
            for ref, part, accounts in self._reading_parts(going_on):
                earlier_parts[ref] = part
                done[ref] = accounts
        considered = self._catch_up(done, table, remember=remember)
        again: dict[str, list[Part]] = defaultdict(list)  # location -> its parts to read for a new graph
        for ref in considered:
            if ref in earlier_parts:
                again[ref.rpartition("|")[0]].append(earlier_parts[ref])
        return considered, again

    def _ledger(self, refs: set[str], failures: dict[str, str] | None = None) -> dict[str, list[str]]:
        """The ledgered objects among ``refs``, with the accounts of their records; those that
        failed go into ``failures`` too, with why."""
        found: dict[str, list[str]] = {}
        ordered = sorted(refs)
        c = ingest_objects.c
        with self.store.read() as conn:
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                for ref, accounts, failure in conn.execute(
                        select(c.object_ref, c.accounts, c.failure).where(c.object_ref.in_(chunk))):
                    found[ref] = [a for a in (accounts or "").split(",") if a]
                    if failure and failures is not None:
                        failures[ref] = failure
        return found

    def _catch_up(self, done: dict[str, list[str]], table: dict[str, list[Target]],
                  remember: bool = True) -> dict[str, set[str]]:
        """Ledgered objects that a graph of their accounts has not considered yet (the account
        joined it, or it was created, after the object was read): ref -> graphs that have.
        Checked when the routes changed since this ingestor last looked at the configured
        sources (``remember``); a caller's own objects are few, and checked every time."""
        signature = _signature(table)
        if (remember and signature == self._routes_seen) or not done:
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
        if remember:
            self._routes_seen = signature
        return {ref: have[ref] for ref, arns in wanted.items() if arns - have[ref]}

    # --- line files that grow: read in parts (growing.py) --------------------------------

    def _line_steps(self, objects: list[SourceObject], settled_ns: int, tail_ns: int) -> dict[str, LineStep]:
        """What this run does with each local file not in the ledger as it is now (by ref)."""
        if not objects:
            return {}
        latest = self._latest_parts({o.location for o in objects})
        steps: dict[str, LineStep] = {}
        starts: dict[str, _Start] = {}
        for obj in objects:
            try:
                found = self._line_start(obj, latest.get(obj.location), settled_ns, tail_ns)
            except OSError:  # gone or unreadable since the listing: reading it says so
                found = LineStep("whole")
            if isinstance(found, LineStep):
                steps[obj.ref] = found
            else:
                starts[obj.ref] = found
        left = self._left_in_graphs({ref: b for ref, b in starts.items() if b.obj.location not in self._checked})
        self._checked.update(b.obj.location for b in starts.values())
        for ref, begin in starts.items():
            obj = begin.obj
            parts = left.get(ref, [])
            start = parts[-1].end if parts else begin.start
            try:
                with obj.open_raw() as file:
                    parts.extend(self._new_parts(file, obj, begin, start, tail_ns))
            except OSError:
                steps[ref] = LineStep("whole")
                continue
            steps[ref] = LineStep("parts", tuple(dataclasses.replace(obj, part=p, size=p.end - p.start) for p in parts),
                                  begin.going_on)
        return steps

    def _new_parts(self, file: BinaryIO, obj: SourceObject, begin: _Start, start: int, tail_ns: int) -> list[Part]:
        """The parts of a line file from ``start`` on: each ends after a complete line (the
        last one at the file's end once the file has settled) and holds at most
        ``max_object_bytes``, so that memory is bounded however large the file is. A single
        line longer than that is cut (its pieces are rejects: longer than a record may be)."""
        parts = []
        while start < obj.size:
            stop = min(obj.size, start + self.max_object_bytes)
            end = stop if stop == obj.size and obj.modified_ns <= tail_ns else growing.last_line_end(file, start, stop)
            if end <= start:
                if stop == obj.size:
                    break  # only an unfinished last line: it waits
                end = stop
            parts.append(Part(begin.reading, start, end, growing.fingerprint(file, end), obj.modified_ns, begin.kind))
            start = end
        return parts

    def _line_start(self, obj: SourceObject, latest: Part | None, settled_ns: int, tail_ns: int) -> LineStep | _Start:
        """Where the file's next part starts, or what else to do with the file."""
        if (latest is not None and latest.modified_ns == obj.modified_ns and obj.location in self._checked
                and (obj.size == latest.end or obj.modified_ns > tail_ns)):
            return LineStep("parts", going_on=True)  # not changed since its last part (or only its tail)
        with obj.open_raw() as file:
            if latest is not None and obj.size >= latest.end and growing.fingerprint(file, latest.end) == latest.fingerprint:
                return _Start(obj, latest.reading, latest.end, latest.kind, True)
            # Never read in parts, replaced or truncated: from byte 0, if it is a line file.
            file.seek(0)
            head = file.read(SNIFF_BYTES)
        reader = None
        if head[:2] != GZIP_MAGIC and head.strip():
            reader = decoding.sniff(head, obj.key)
        if reader is None or not growing.reads_lines(head):
            return LineStep("whole" if obj.modified_ns <= settled_ns else "wait")
        return _Start(obj, latest.reading + 1 if latest is not None else 0, 0, reader.KIND, False)

    def _left_in_graphs(self, starts: dict[str, _Start]) -> dict[str, list[Part]]:
        """Parts that a run which stopped between a graph's commit and the ledger's left in
        the graphs, where the files' next parts start: they are taken again as they were (the
        same end), so that no graph gets their lines twice."""
        if not starts:
            return {}
        with self.store.read() as conn:
            arns = [arn for (arn,) in conn.execute(select(graphs.c.arn))]
        stores = [self.graph_stores.get(arn) for arn in arns if self.graph_stores.path(arn).exists()]
        found: dict[str, list[Part]] = defaultdict(list)
        pending = dict(starts)
        while pending and stores:
            wanted = {growing.prefix(b.obj.location, b.reading, b.start): ref for ref, b in pending.items()}
            refs = {r for store in stores for r in store.loaded_parts(sorted(wanted))}
            ledgered = self._ledger(refs)
            after: dict[str, _Start] = {}
            for left in sorted(refs - ledgered.keys()):
                part = Part.parse(left)
                ref = wanted.get(growing.prefix(left.rpartition("|")[0], part.reading, part.start)) if part else None
                if part is None or ref is None or ref in after:
                    continue
                begin = pending[ref]
                with begin.obj.open_raw() as file:
                    if part.end > begin.obj.size or growing.fingerprint(file, part.end) != part.fingerprint:
                        continue  # of a file that was replaced since
                found[ref].append(dataclasses.replace(part, kind=begin.kind))
                after[ref] = begin._replace(start=part.end)
            pending = after
        return found

    def _latest_parts(self, locations: set[str]) -> dict[str, Part]:
        """The last part read of each file's current reading."""
        found: dict[str, Part] = {}
        ordered = sorted(locations)
        c = ingest_objects.c
        with self.store.read() as conn:
            for start in range(0, len(ordered), 500):
                ranked = select(c.stream, c.object_ref, c.kind, func.row_number().over(
                    partition_by=c.stream, order_by=c.size.desc()).label("n")).where(
                    c.stream.in_(ordered[start : start + 500])).subquery()
                for location, ref, kind in conn.execute(
                        select(ranked.c.stream, ranked.c.object_ref, ranked.c.kind).where(ranked.c.n == 1)):
                    part = Part.parse(ref, kind)
                    if part is not None:
                        found[location] = part
        return found

    def _reading_parts(self, locations: list[str]) -> Iterator[tuple[str, Part, list[str]]]:
        """Every part of the files' current readings: (ref, part, accounts)."""
        c = ingest_objects.c
        with self.store.read() as conn:
            for start in range(0, len(locations), 500):
                for ref, kind, accounts in conn.execute(select(c.object_ref, c.kind, c.accounts).where(
                        c.stream.in_(locations[start : start + 500]))):
                    part = Part.parse(ref, kind)
                    if part is not None:
                        yield ref, part, [a for a in (accounts or "").split(",") if a]

    # --- units: objects loaded together --------------------------------------------------

    def _run_unit(self, objects: list[SourceObject], summary: Summary,
                  progress: Callable[[ObjectResult, Summary], None] | None,
                  considered: dict[str, set[str]], decoders: Decoders | None = None) -> None:
        try:
            results = self._load_unit(objects, considered, decoders)
        except Exception as exc:
            if len(objects) > 1:
                # Nothing of the unit stayed: load its objects one by one to set the bad one apart.
                log.warning("a load of %d objects failed (%s); loading them one by one", len(objects), exc)
                for obj in objects:
                    self._run_unit([obj], summary, progress, considered)  # read here, this time
                return
            obj = objects[0]
            if isinstance(exc, Unreadable):
                # The object itself cannot be read: one line, not a traceback each poll; it is
                # ledgered as failed and read again when it changes or on a reload.
                reason = f"{type(exc.error).__name__}: {exc.error}"
                log.warning("could not read %s/%s (%s); it is read again when it changes, or after "
                            "gumshoe reload", obj.source, obj.key, reason)
                log.debug("the failure of %s/%s", obj.source, obj.key, exc_info=True)
                self._ledger_failure(obj, reason)
            else:  # the stores failed (a full disk ...): nothing is ledgered, the next run tries again
                reason = f"{type(exc).__name__}: {exc}"
                log.exception("could not ingest %s/%s; it is retried on the next run", obj.source, obj.key)
            summary.failed.append(f"{obj.source}/{obj.key}: {reason}")
            if progress is not None:
                progress(ObjectResult(obj.source, obj.key, "unknown", obj.size), summary)
            return
        for result in results:
            summary.objects += 1
            if self._permit is not None:
                for account in result.refused:
                    summary.refused[account] = self._permit.reason(account)
            for key, tally in result.tallies.items():
                _add_tally(summary.tallies[key], tally)
            for arn, count in result.graphs.items():
                summary.graphs[arn] += count
            for arn, count in result.duplicates.items():
                summary.duplicates[arn] += count
            if progress is not None:
                progress(result, summary)

    def _load_unit(self, objects: list[SourceObject], considered: dict[str, set[str]],
                   decoders: Decoders | None) -> list[ObjectResult]:
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
                try:
                    decoded = decoders.take(obj) if decoders is not None else None
                    results.append(self._read_object(obj, targets, loads, earlier, stamp, considered.get(obj.ref, set()),
                                                     decoded))
                except Exception as exc:
                    raise Unreadable(exc) from exc
            for load in loads.values():
                load.commit()
        except BaseException:
            for load in loads.values():
                load.rollback()
            raise
        volumes: dict[tuple[str, str], dict[str, int]] = dict(earlier)
        by_ref = {obj.ref: result for obj, result in zip(objects, results, strict=True)}
        for arn, load in loads.items():
            for ref, entry in load.objects.items():
                volumes[(ref, arn)] = entry["volume"]
                if entry["duplicates"]:  # already in the graph: read, not loaded
                    by_ref[ref].graphs[arn] -= entry["duplicates"]
                    by_ref[ref].duplicates[arn] = entry["duplicates"]
        for obj, result in zip(objects, results, strict=True):
            # Before the ledger: a crash in between sets them aside twice rather than never.
            refusals = [Reject(f"records of account {account}", f"{count} records refused: {self._permit.reason(account)}")
                        for account, count in result.refused.items()] if self._permit is not None else []
            if (result.reject_list or refusals) and obj.ref not in considered:  # read again for a new graph: already set aside
                self._set_aside(obj, result.kind, result.reject_list + refusals)
        self._finish(objects, results, volumes, targets)
        return results

    def _read_object(self, obj: SourceObject, targets: dict[str, list[Target]], loads: dict[str, Load],
                     earlier: dict[tuple[str, str], dict[str, int]], stamp: int, skip: set[str],
                     decoded: list[Decoded] | None) -> ObjectResult:
        """Route an object's records, decoded by the pool (``decoded``) or read here."""
        if decoded is not None:
            return self._route_pieces(obj, iter(decoded), targets, loads, earlier, stamp, skip)
        stream = obj.open(limit=self.max_object_bytes)
        try:
            if obj.part is not None:
                return self._read_part(obj, stream, targets, loads, earlier, stamp, skip)
            return self._route_pieces(obj, decoding.decode(stream, obj.key, self.limits), targets, loads, earlier,
                                      stamp, skip)
        finally:
            stream.close()

    def _route_pieces(self, obj: SourceObject, pieces: Iterator[Decoded], targets: dict[str, list[Target]],
                      loads: dict[str, Load], earlier: dict[tuple[str, str], dict[str, int]], stamp: int,
                      skip: set[str]) -> ObjectResult:
        first = next(pieces)
        result = ObjectResult(obj.source, obj.key, first.kind, obj.size)
        if first.not_a_log:
            log.info("%s/%s is not a log Gumshoe reads (CloudTrail, VPC Flow Logs, GuardDuty, EKS audit, "
                     "Security Hub findings); skipped", obj.source, obj.key)
        reader = READERS_BY_KIND.get(first.kind)
        for piece in itertools.chain([first], pieces):
            result.reject_list.extend(piece.rejects)
            if reader is not None:
                self._route(obj, reader, piece.table, targets, loads, earlier, result, stamp, skip)
        return _counted(obj, result)

    def _read_part(self, obj: SourceObject, stream: Any, targets: dict[str, list[Target]], loads: dict[str, Load],
                   earlier: dict[tuple[str, str], dict[str, int]], stamp: int, skip: set[str]) -> ObjectResult:
        part = obj.part
        assert part is not None
        reader = READERS_BY_KIND[part.kind]
        result = ObjectResult(obj.source, obj.key, reader.KIND, obj.size)
        preamble = _preamble(obj, reader) if part.start else b""
        lines = preamble.count(b"\n")
        for piece in decoding.decode_with(reader, Rejoined(preamble, stream), obj.key, self.limits):
            if part.start:
                result.reject_list.extend(growing.placed(r, part, lines, len(preamble)) for r in piece.rejects)
            else:
                result.reject_list.extend(piece.rejects)
            self._route(obj, reader, piece.table, targets, loads, earlier, result, stamp, skip)
        return _counted(obj, result)

    def _route(self, obj: SourceObject, reader: ModuleType, rows: pa.Table | None, targets: dict[str, list[Target]],
               loads: dict[str, Load], earlier: dict[tuple[str, str], dict[str, int]], result: ObjectResult,
               stamp: int, skip: set[str]) -> None:
        """Send a table of an object's records to the graphs their accounts contribute to."""
        if rows is None or not rows.num_rows:
            return
        rows = _with_hints(rows, *obj.hint)
        package = reader.PACKAGE
        kind = reader.KIND
        per_graph: dict[str, list[pa.Table]] = defaultdict(list)
        after_enabled = self.after_enabled
        permit = self._permit
        account_ids = rows.column("account_id")
        for account, of_account in _by_value(rows, account_ids):
            count = of_account.num_rows
            tally = result.tallies[(account, kind)]
            if permit is not None and permit.refuses(account):
                tally.refused += count
                result.refused[account] = result.refused.get(account, 0) + count
                continue
            result.accounts.add(account)
            size = pc.sum(of_account.column("size")).as_py() or 0
            tally.events += count
            tally.bytes += size
            result.records += count
            result.bytes += size
            taken: pa.ChunkedArray | None = None
            for target in targets.get(account, ()):
                if package not in target.packages or target.graph_arn in skip:
                    continue
                if permit is not None and not permit.allows(account, target.graph_arn):
                    continue
                chosen = _in_graph(of_account, target.region, target.enabled_ms if after_enabled else None)
                per_graph[target.graph_arn].append(of_account.filter(chosen))
                taken = chosen if taken is None else pc.or_(taken, chosen)
            tally.unrouted += count - (pc.sum(taken).as_py() or 0 if taken is not None else 0)
        for arn, tables in per_graph.items():
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
            for table in tables:
                load.add(obj.ref, kind, package, table)
                result.graphs[arn] = result.graphs.get(arn, 0) + table.num_rows

    def _finish(self, objects: list[SourceObject], results: list[ObjectResult],
                volumes: dict[tuple[str, str], dict[str, int]], targets: dict[str, list[Target]]) -> None:
        stamp = now_ms()
        with self.store.write() as conn:
            marks = set(volumes)
            for obj, result in zip(objects, results, strict=True):
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
                dict(object_ref=obj.ref, source=obj.source, key=obj.key, kind=result.kind,
                     size=obj.part.end if obj.part is not None else obj.size,
                     records=result.records, rejects=result.rejects, finished_ms=stamp,
                     accounts=",".join(sorted(a for a in result.accounts if a)),
                     stream=obj.location if obj.part is not None else "")
                for obj, result in zip(objects, results, strict=True) if obj.ref not in known
            ]
            for obj in objects:
                if obj.part is not None and obj.part.start == 0 and obj.ref not in known:
                    # A new reading of the file (it was replaced or truncated): the parts
                    # of the one before are no longer in it.
                    conn.execute(update(ingest_objects).where(ingest_objects.c.stream == obj.location)
                                 .values(stream=""))
            if new:
                conn.execute(insert(ingest_objects), new)

    def _ledger_failure(self, obj: SourceObject, reason: str) -> None:
        """Ledger an object that could not be read at all, with why (nothing of it was loaded:
        its unit rolled back)."""
        with self.store.write() as conn:
            if conn.execute(select(ingest_objects.c.object_ref).where(ingest_objects.c.object_ref == obj.ref)).first():
                return
            conn.execute(insert(ingest_objects).values(
                object_ref=obj.ref, source=obj.source, key=obj.key, kind="unknown", size=obj.size, records=0,
                rejects=0, finished_ms=now_ms(), accounts="", stream="", failure=reason[:2000]))

    def retry_failed(self) -> int:
        """Forget the objects that failed, so that the next run reads them again (a reload)."""
        with self.store.write() as conn:
            return int(conn.execute(delete(ingest_objects).where(ingest_objects.c.failure != "")).rowcount or 0)

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


class _Run:
    """One run's objects, loaded in units (up to ``unit_bytes`` or UNIT_OBJECTS of them) once
    all are known (so that the pool decodes ahead across units), and the run's summary."""

    def __init__(self, ingestor: Ingestor, progress: Callable[[ObjectResult, Summary], None] | None) -> None:
        self.ingestor = ingestor
        self.progress = progress
        self.summary = Summary()
        self.considered: dict[str, set[str]] = {}
        self.failed_before: dict[str, str] = {}
        self.todo: list[SourceObject] = []

    def add(self, obj: SourceObject) -> None:
        self.todo.append(obj)

    def flush(self) -> None:
        todo, self.todo = self.todo, []
        ingestor = self.ingestor
        decoders = Decoders.for_run(todo, ingestor.workers, ingestor.max_object_bytes, ingestor.limits)
        try:
            unit: list[SourceObject] = []
            size = 0
            for obj in todo:
                unit.append(obj)
                size += obj.size
                if size >= ingestor.unit_bytes or len(unit) >= UNIT_OBJECTS:
                    ingestor._run_unit(unit, self.summary, self.progress, self.considered, decoders)
                    unit, size = [], 0
            if unit:
                ingestor._run_unit(unit, self.summary, self.progress, self.considered, decoders)
        finally:
            if decoders is not None:
                decoders.close()

    def skip(self, obj: SourceObject) -> None:
        self.summary.skipped += 1
        if obj.ref in self.failed_before:
            self.summary.failed_before.append(f"{obj.source}/{obj.key}: {self.failed_before[obj.ref]}")
        if self.progress is not None:
            self.progress(ObjectResult(obj.source, obj.key, "", obj.size, skipped=True), self.summary)


def _add_tally(total: Tally, tally: Tally) -> None:
    for name, value in vars(tally).items():
        setattr(total, name, getattr(total, name) + value)


def _counted(obj: SourceObject, result: ObjectResult) -> ObjectResult:
    result.rejects = len(result.reject_list)
    accounts = result.accounts or {obj.hint[0]}
    for account in accounts:
        result.tallies[(account, result.kind)].files += 1
    if result.rejects:
        result.tallies[(next(iter(sorted(accounts))), result.kind)].rejects += result.rejects
    return result


def _changed_before(seconds: float) -> int:
    """The modification time (ns) of a file that has not changed for ``seconds``; with 0,
    any file's (even one dated in the future)."""
    return time.time_ns() - int(seconds * 1e9) if seconds else 1 << 80


def _signature(table: dict[str, list[Target]]) -> frozenset[Any]:
    return frozenset((a, t) for a, ts in table.items() for t in ts)


def _preamble(obj: SourceObject, reader: ModuleType) -> bytes:
    """What a part read from further on than byte 0 is read after (a flow log's header)."""
    preamble = getattr(reader, "preamble", None)
    if preamble is None:
        return b""
    with obj.open_raw() as file:
        return bytes(preamble(file.read(SNIFF_BYTES)))


def _add_volume(conn: Connection, arn: str, account: str, day: str, package: str, nbytes: int, stamp: int) -> None:
    key = (volume_usage.c.graph_arn == arn, volume_usage.c.account_id == account,
           volume_usage.c.package == package, volume_usage.c.day == day)
    changed = conn.execute(
        update(volume_usage).where(*key).values(bytes=volume_usage.c.bytes + nbytes, updated_ms=stamp)
    ).rowcount
    if not changed:
        conn.execute(insert(volume_usage).values(graph_arn=arn, account_id=account, package=package, day=day,
                                                 bytes=nbytes, updated_ms=stamp))


def _with_hints(rows: pa.Table, account: str, region: str) -> pa.Table:
    """Records without an account or Region take the delivery layout's (``obj.hint``)."""
    for name, hint in (("account_id", account), ("region", region)):
        column = rows.column(name)
        if hint and pc.any(pc.equal(column, "")).as_py():
            filled = pc.if_else(pc.equal(column, ""), pa.scalar(hint), column)
            rows = rows.set_column(rows.schema.get_field_index(name), name, filled)
    return rows


def _by_value(rows: pa.Table, column: pa.ChunkedArray) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each value of a column (one account's records, mostly all of them)."""
    values = pc.unique(column).to_pylist()
    if len(values) == 1:
        yield values[0], rows
        return
    for value in values:
        yield value, rows.filter(pc.equal(column, value))


def _in_graph(rows: pa.Table, region: str, since_ms: int | None) -> pa.ChunkedArray:
    """Which of an account's records a graph takes: of its Region (or of none), and with
    ``ingest_after_enabled``, not before the account joined."""
    regions = rows.column("region")
    chosen = pc.or_(pc.equal(regions, ""), pc.equal(regions, region))
    if since_ms is not None:
        chosen = pc.and_(chosen, pc.greater_equal(rows.column("time_ms"), since_ms))
    return chosen
