"""The behavior-graph store: one DuckDB file per behavior graph.

    <data_dir>/graphs/<graph id>.duckdb

Raw tables keep every event for drill-down (``api_events``, ``flows``, ``findings``,
``k8s_events``, ``sh_findings``). Three derived tables serve entities, relationships and
profiles, and a fourth, sorted by time, the summary; each load appends its partial aggregates
and readers sum them:

    entities  (type, id, account_id, first_ms, last_ms, events)
    links     (src_type, src_id, kind, dst_type, dst_id, hour, count, bytes, first_ms, last_ms)
    hourly    (entity_type, entity_id, hour, dimension, value, success, failure, bytes)
    by_hour   (hour, panel, entity_type, entity_id, success, failure, bytes)

Compaction also writes copies of them made for one question each, and notes in
``store_meta`` how many rows of their source each holds (rows appended since are read from
the source itself, beside the copy):

    links_by_dst  links sorted by destination: what points at an entity   (links_sorted)
    firsts        each entity's first sighting, by time: newly observed   (entities_sorted)
    by_day        by_hour summed by day, each row ranked within its day,  (by_hour_sorted)
                  panel and entity type: the summary's busiest over long
                  scopes (graph/queries.py ``busiest``)
    names         the entities with their ids lowercased and stored       (names_sorted)
                  uncompressed, the busiest first: search by a part of an
                  id, which stops once it holds the busiest matches, where a
                  scan of ``entities`` decompresses millions of ids
                  (graph/queries.py ``find_by_part``)

A graph made by an older Gumshoe lacks the derived rows added since: opening it makes them
from its raw tables, once (``DERIVED_VERSION``); one compacted before ``by_day`` and ``names``
gets them when opened, too.

``loaded_objects`` makes a load exactly-once: an object's rows and its ``loaded_objects`` row
commit in one transaction, and a second load of the same object is refused. The object's
volume per (account, day, package) is kept there too, so the control store's volume figures
can be completed after a crash between the two stores.

All SQL of the data plane lives in this module and in ``graph/queries.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from gumshoe.formats import READERS, columns

log = logging.getLogger(__name__)
T = TypeVar("T")

# Per graph store, unless the memory_limit setting says otherwise. Less saves memory (128MB keeps
# a million-event load under 512 MiB) but runs out beside concurrent reads (docs/PERFORMANCE.md).
MEMORY_LIMIT = "256MB"
READERS_AT_ONCE = 2  # per graph store

# The derived tables and the store's own; each format's raw table comes with its reader.
DERIVED_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    type VARCHAR, id VARCHAR, account_id VARCHAR, first_ms BIGINT, last_ms BIGINT, events BIGINT, ekey UBIGINT
);
CREATE TABLE IF NOT EXISTS links (
    src_type VARCHAR, src_id VARCHAR, kind VARCHAR, dst_type VARCHAR, dst_id VARCHAR, hour BIGINT,
    count BIGINT, bytes BIGINT, first_ms BIGINT, last_ms BIGINT, skey UBIGINT, dkey UBIGINT
);
CREATE TABLE IF NOT EXISTS hourly (
    entity_type VARCHAR, entity_id VARCHAR, hour BIGINT, dimension VARCHAR, value VARCHAR,
    success BIGINT, failure BIGINT, bytes BIGINT, ekey UBIGINT
);
CREATE TABLE IF NOT EXISTS by_hour (
    hour BIGINT, panel VARCHAR, entity_type VARCHAR, entity_id VARCHAR, success BIGINT, failure BIGINT, bytes BIGINT
);
CREATE TABLE IF NOT EXISTS links_by_dst AS SELECT * FROM links LIMIT 0;
CREATE TABLE IF NOT EXISTS by_day (
    day BIGINT, panel VARCHAR, entity_type VARCHAR, entity_id VARCHAR, ekey UBIGINT,
    success BIGINT, failure BIGINT, bytes BIGINT, measure BIGINT, day_rank BIGINT
);
CREATE TABLE IF NOT EXISTS names (
    lid VARCHAR USING COMPRESSION uncompressed, type VARCHAR, id VARCHAR, ekey UBIGINT, account_id VARCHAR,
    first_ms BIGINT, last_ms BIGINT, events BIGINT
);
CREATE TABLE IF NOT EXISTS firsts (type VARCHAR, id VARCHAR, ekey UBIGINT, first_ms BIGINT);
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value BIGINT);
CREATE TABLE IF NOT EXISTS loaded_objects (
    object_ref VARCHAR PRIMARY KEY, loaded_ms BIGINT, records BIGINT, volume VARCHAR
);
"""
SCHEMA = "".join(reader.RAW_DDL for reader in READERS) + DERIVED_SCHEMA
# Which raw table each reader's records go to, and the columns taken from the record.
RAW_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {r.KIND: (r.RAW_TABLE, r.RAW_COLUMNS) for r in READERS}
# The columns that name a record once (CloudTrail's eventID in its account and Region), by kind.
DEDUP_KEYS: dict[str, tuple[str, ...]] = {r.KIND: r.DEDUP_KEY for r in READERS if hasattr(r, "DEDUP_KEY")}
DAY_MS = 86_400_000

# Derived tables carry integer keys (DuckDB's hash of the ids): compacted tables are sorted by
# them, so a lookup by key skips every row group but the entity's own (string statistics keep
# only a prefix, and every ARN starts alike).
DERIVED_COLUMNS = {
    "entities": ("type", "id", "account_id", "first_ms", "last_ms", "events"),
    "links": ("src_type", "src_id", "kind", "dst_type", "dst_id", "hour", "count", "bytes", "first_ms", "last_ms"),
    "hourly": ("entity_type", "entity_id", "hour", "dimension", "value", "success", "failure", "bytes"),
    "by_hour": ("hour", "panel", "entity_type", "entity_id", "success", "failure", "bytes"),
}
KEYS = {"entities": "hash(id)", "links": "hash(src_id), hash(dst_id)", "hourly": "hash(entity_id)"}
KEY_COLUMNS = {"entities": ("ekey",), "links": ("skey", "dkey"), "hourly": ("ekey",), "by_hour": ()}
# by_hour is read by time ranges (the summary's scope), the others by entity.
SORT = {"entities": "ekey", "links": "skey, hour", "hourly": "ekey, hour", "by_hour": "hour, panel"}
_INSERT = re.compile(r"^\s*INSERT INTO (\w+)\s+", re.DOTALL)


def _keyed(statement: str) -> str:
    """``INSERT INTO t SELECT ...`` with the key columns of ``t`` added."""
    match = _INSERT.match(statement)
    assert match is not None, statement
    table = match.group(1)
    select = statement[match.end():]
    keys = f", {KEYS[table]}" if table in KEYS else ""
    return f"INSERT INTO {table} SELECT *{keys} FROM ({select}) AS s({', '.join(DERIVED_COLUMNS[table])})"


DERIVED: dict[str, list[str]] = {r.KIND: [_keyed(statement) for statement in r.DERIVED] for r in READERS}
# The derived rows' version: each reader's DERIVED_ADDED names the statements (of its DERIVED)
# added at a version, which opening an older graph runs over the raw table.
DERIVED_VERSION = 2
BACKFILLS: dict[int, list[tuple[str, str]]] = {}
for _reader in READERS:
    for _version, _statements in getattr(_reader, "DERIVED_ADDED", {}).items():
        assert _version <= DERIVED_VERSION and all(s in _reader.DERIVED for s in _statements), _reader.KIND
        BACKFILLS.setdefault(_version, []).extend((_reader.RAW_TABLE, _keyed(s)) for s in _statements)

# by_hour summed by UTC day. ``measure`` is what the summary ranks a panel's rows by: calls for
# principals and addresses, bytes for traffic.
MEASURE = "CASE panel WHEN 'traffic' THEN bytes ELSE success + failure END"
ROLL_UP_DAYS = f"""CREATE OR REPLACE TABLE by_day AS
    SELECT *, row_number() OVER (PARTITION BY day, panel, entity_type ORDER BY measure DESC, entity_id) AS day_rank
    FROM (SELECT *, {MEASURE} AS measure FROM (
        SELECT hour // 24 AS day, panel, entity_type, entity_id, hash(entity_id) AS ekey, CAST(sum(success) AS BIGINT)
               AS success, CAST(sum(failure) AS BIGINT) AS failure, CAST(sum(bytes) AS BIGINT) AS bytes
        FROM by_hour GROUP BY ALL))
    ORDER BY day, day_rank"""

# Compaction: derived rows appended since the last one, past this many (or a quarter of the
# table), are summed and the tables rewritten in key order.
COMPACT_MIN_ROWS = 200_000


class StoreClosed(Exception):
    """The graph's store was closed (its graph deleted) while a reader asked for it."""


class _Reader(threading.local):
    """A thread's own connection to a store, and how deep its ``cursor()`` blocks nest."""

    conn: duckdb.DuckDBPyConnection | None = None
    depth: int = 0


class GraphStore:
    """One behavior graph's DuckDB file.

    Loads (and the few writes of other parts, ``writing()``) go through one connection, one at
    a time. Reads (``cursor()``) run on a connection of each thread's own, in a read
    transaction: DuckDB's MVCC shows them the last committed state, so they never wait for a
    load, and a load's uncommitted rows never show.
    """

    def __init__(self, path: Path, memory_limit: str = MEMORY_LIMIT) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB would take 80% of the machine's memory for its sorts and aggregates; a graph
        # store shares the process with the API and other graphs, and spills to disk instead.
        self._conn = duckdb.connect(str(path), config={
            "memory_limit": memory_limit, "preserve_insertion_order": False,
            "temp_directory": str(path.with_suffix(".tmp")),
        })
        self._lock = threading.RLock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gumshoe-graph-writer")
        self._conn.execute("SET enable_progress_bar = false")  # DuckDB's bar would print amid a command's output
        # A file with store_meta already was made before, perhaps by an older Gumshoe.
        made = self._conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'store_meta'").fetchone()
        self._conn.execute(SCHEMA)
        self._bring_up_to_date(old=bool(made and made[0]))
        self._sorted_copies_if_missing()
        self._reader = _Reader()
        self._readers: list[duckdb.DuckDBPyConnection] = []
        self._reads = threading.Condition()
        self._active_reads = 0
        # Read transactions at once: DuckDB's memory_limit is the whole store's, and more
        # readers beside a load would run it out of memory (DuckDB fails, it does not wait).
        self._read_slots = threading.BoundedSemaphore(READERS_AT_ONCE)
        self._closed = False
        # What loads and writes have committed, counted: answers remembered for one count
        # (``remembered``) are good until the next.
        self.generation = 0
        self._remembered: dict[str, tuple[int, Any]] = {}

    def _bring_up_to_date(self, old: bool) -> None:
        """Make the derived rows a graph made by an older Gumshoe lacks, from its raw tables."""
        conn = self._conn
        row = conn.execute("SELECT value FROM store_meta WHERE key = 'derived_version'").fetchone()
        if row is not None and row[0] >= DERIVED_VERSION:
            return
        # No version: a new file (nothing to make), or one from before versions were kept (1).
        version = row[0] if row else (1 if old else DERIVED_VERSION)
        started = time.monotonic()
        with _transaction(conn):
            for added in range(version + 1, DERIVED_VERSION + 1):
                for raw_table, statement in BACKFILLS.get(added, []):
                    conn.execute(f"CREATE OR REPLACE TEMP VIEW batch AS SELECT * FROM {raw_table}")
                    conn.execute(statement)
            conn.execute("DROP VIEW IF EXISTS batch")
            conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('derived_version', ?)", [DERIVED_VERSION])
        if version < DERIVED_VERSION:
            log.info("graph store %s: derived rows brought from version %d to %d in %.1f s", self.path.name,
                     version, DERIVED_VERSION, time.monotonic() - started)

    def _write_sorted_copies(self) -> None:
        """Write ``by_day`` from ``by_hour`` and ``names`` from ``entities`` as they are now (in
        the caller's transaction), and note how many rows of each they hold."""
        conn = self._conn
        conn.execute(ROLL_UP_DAYS)
        conn.execute("DELETE FROM names")
        conn.execute("INSERT INTO names SELECT lower(id), type, id, any_value(ekey), min(account_id), min(first_ms), "
                     "max(last_ms), sum(events) FROM entities GROUP BY type, id ORDER BY sum(events) DESC, id")
        conn.execute("INSERT OR REPLACE INTO store_meta SELECT 'by_hour_sorted', count(*) FROM by_hour")
        conn.execute("INSERT OR REPLACE INTO store_meta SELECT 'names_sorted', count(*) FROM entities")

    def _sorted_copies_if_missing(self) -> None:
        """A graph compacted by a Gumshoe before ``by_day`` and ``names``: write them now, once,
        rather than wait for the next compaction (which a graph no longer loaded never has)."""
        conn = self._conn
        keys = {k for (k,) in conn.execute("SELECT key FROM store_meta").fetchall()}
        if "hourly_sorted" not in keys or {"by_hour_sorted", "names_sorted"} <= keys:
            return
        started = time.monotonic()
        with _transaction(conn):
            self._write_sorted_copies()
        log.info("graph store %s: the day rollup and the search copy written in %.1f s", self.path.name,
                 time.monotonic() - started)

    def close(self) -> None:
        with self._reads:
            self._closed = True
            self._reads.wait_for(lambda: self._active_reads == 0)
            readers, self._readers = self._readers, []
        with self._lock:
            self._writer.shutdown(wait=True)
            for reader in readers:
                with contextlib.suppress(duckdb.Error):
                    reader.close()
            self._conn.close()

    def idle(self) -> bool:
        """Whether no load or write holds the store right now."""
        if self._lock.acquire(blocking=False):
            self._lock.release()
            return True
        return False

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """This thread's connection, in one read transaction for the whole block (nested
        blocks share it): a consistent snapshot of what loads have committed."""
        reader = self._reader
        with self._reads:
            if self._closed:
                raise StoreClosed(str(self.path))
            if reader.conn is None:
                reader.conn = self._conn.cursor()
                reader.conn.execute("SET enable_progress_bar = false")
                self._readers.append(reader.conn)
            self._active_reads += 1
        conn = reader.conn
        outermost = reader.depth == 0
        if outermost:
            self._read_slots.acquire()
        try:
            if outermost:
                conn.execute("BEGIN TRANSACTION")
            reader.depth += 1
            try:
                yield conn
            except BaseException:
                reader.depth -= 1
                if reader.depth == 0:
                    conn.execute("ROLLBACK")
                raise
            reader.depth -= 1
            if reader.depth == 0:
                conn.execute("COMMIT")  # reads commit nothing; a test's rows put in by hand do
        finally:
            if outermost:
                self._read_slots.release()
            with self._reads:
                self._active_reads -= 1
                self._reads.notify_all()

    @contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The store's write connection, between loads (geolocations kept beside the graph)."""
        with self._lock:
            try:
                yield self._conn
            finally:
                self.changed()

    def changed(self) -> None:
        """Note a write made outside ``writing()`` and loads, so remembered answers are made again."""
        self.generation += 1

    def remembered(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``'s answer, made once while the graph's data does not change: for
        all-time facts many pages ask of a graph (its extent, where each place was first seen).
        The answer may come from data newer than the count it is kept under, never older."""
        generation = self.generation
        kept = self._remembered.get(key)
        if kept is not None and kept[0] == generation:
            return cast(T, kept[1])
        value = compute()
        self._remembered[key] = (generation, value)
        return value

    # --- loading -------------------------------------------------------------------

    def loaded(self, object_ref: str) -> dict[str, Any] | None:
        """The load record of an object (records, volume), or None when not loaded."""
        # Its own cursor: a load's writer thread may be using the main connection, and what
        # counts here is what earlier runs committed.
        with self._lock, self._conn.cursor() as cursor:
            row = cursor.execute(
                "SELECT records, volume FROM loaded_objects WHERE object_ref = ?", [object_ref]
            ).fetchone()
        if row is None:
            return None
        return {"records": row[0], "volume": orjson.loads(row[1])}

    def loaded_parts(self, prefixes: Sequence[str]) -> list[str]:
        """Loaded parts of growing files (``<location>|lines.<reading>:<start>-<end>...``, see
        ingest/growing.py) whose refs start with one of ``prefixes`` (``...:<start>-``)."""
        if not prefixes:
            return []
        locations = [p.rpartition("|")[0] for p in prefixes]
        with self._lock, self._conn.cursor() as cursor:
            rows = cursor.execute(
                "SELECT l.object_ref FROM loaded_objects l"
                " JOIN (SELECT unnest(?::VARCHAR[]) AS location, unnest(?::VARCHAR[]) AS prefix) w"
                " ON l.object_ref[1 : len(l.object_ref) - strpos(reverse(l.object_ref), '|')] = w.location"
                " WHERE contains(l.object_ref, '|lines.') AND starts_with(l.object_ref, w.prefix)",
                [locations, list(prefixes)],
            ).fetchall()
        return [ref for (ref,) in rows]

    def compact(self, force: bool = False) -> bool:
        """Sum the derived tables' partial rows and rewrite them in key order, when enough
        rows were appended since the last time (or ``force``)."""
        with self._lock:
            conn = self._conn
            rows = conn.execute("SELECT count(*) FROM hourly").fetchone()[0]  # type: ignore[index]
            done = conn.execute("SELECT value FROM store_meta WHERE key = 'hourly_sorted'").fetchone()
            sorted_rows = done[0] if done else 0
            if not force and rows - sorted_rows < max(COMPACT_MIN_ROWS, sorted_rows // 4):
                return False
            with _transaction(conn):
                for table, columns in DERIVED_COLUMNS.items():
                    sums = {"events": "sum(events)", "count": "sum(count)", "bytes": "sum(bytes)",
                            "success": "sum(success)", "failure": "sum(failure)",
                            "first_ms": "min(first_ms)", "last_ms": "max(last_ms)", "account_id": "min(account_id)"}
                    select = ", ".join([*(f"CAST({sums[c]} AS BIGINT) AS {c}" if c in sums and c != "account_id"
                                          else (f"{sums[c]} AS {c}" if c in sums else c) for c in columns),
                                        *KEY_COLUMNS[table]])
                    group = ", ".join(c for c in columns if c not in sums)
                    if _sums_shrink(conn, table, group):
                        conn.execute(f"CREATE TABLE {table}_compacted AS SELECT {select} FROM {table} "
                                     f"GROUP BY {', '.join([group, *KEY_COLUMNS[table]])} ORDER BY {SORT[table]}")
                    else:  # loads of other hours: summing would cost a grouping and save nothing
                        conn.execute(f"CREATE TABLE {table}_compacted AS SELECT * FROM {table} ORDER BY {SORT[table]}")
                    conn.execute(f"DROP TABLE {table}")
                    conn.execute(f"ALTER TABLE {table}_compacted RENAME TO {table}")
                # The same links sorted by their destination, for "what points at this entity";
                # links appended later (rowid past links_sorted) are read from links itself.
                conn.execute("CREATE OR REPLACE TABLE links_by_dst AS SELECT * FROM links ORDER BY dkey, hour")
                # Each entity's first sighting, sorted by time, for "newly observed in a scope";
                # entities appended later (rowid past entities_sorted) are read from entities.
                conn.execute("CREATE OR REPLACE TABLE firsts AS SELECT type, id, ekey, min(first_ms) AS first_ms "
                             "FROM entities GROUP BY ALL ORDER BY first_ms")
                self._write_sorted_copies()
                after = conn.execute("SELECT count(*) FROM hourly").fetchone()[0]  # type: ignore[index]
                links = conn.execute("SELECT count(*) FROM links").fetchone()[0]  # type: ignore[index]
                entities = conn.execute("SELECT count(*) FROM entities").fetchone()[0]  # type: ignore[index]
                conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('hourly_sorted', ?), ('links_sorted', ?), "
                             "('entities_sorted', ?)", [after, links, entities])
            return True

    def begin(self, now_ms: int) -> Load:
        """A load transaction: ``add`` the records of any number of objects, then ``commit``
        (each object is marked loaded, with its volume) or ``rollback`` (nothing stays)."""
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN TRANSACTION")
        except BaseException:
            self._lock.release()
            raise
        return Load(self, now_ms)


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """A write transaction on the store's connection: committed if the block ends, else rolled back."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _sums_shrink(conn: duckdb.DuckDBPyConnection, table: str, group: str) -> bool:
    """Whether summing a derived table's partial rows would make it a tenth smaller or more
    (by HyperLogLog's estimate of its groups): loads of the same hours, as a watched trail's
    deliveries every few minutes are. Readers sum partial rows anyway; compaction sorts."""
    rows, groups = conn.execute(f"SELECT count(*), approx_count_distinct(hash({group})) FROM {table}").fetchall()[0]
    return bool(groups < rows * 0.9)


class Written(NamedTuple):
    """What one write kept of an object's records of one account and day."""

    object_ref: str
    account_id: str
    day: int  # days since the epoch
    package: str
    kept: int
    duplicates: int  # already in the graph, or twice in the write
    bytes: int  # of the records kept


class Load:
    """Records entering one graph inside one transaction, buffered into large inserts.

    Each buffer is written in three steps, in the store's writer thread:

        incoming (Arrow)  ->  batch (temp table): the records not already in the graph
        batch  ->  the raw table, the derived tables (GROUP BY over the batch)
        batch  ->  records and volume per object, account and day (what the load counts)
    """

    FLUSH_RECORDS = 125_000  # past a row group (122,880): DuckDB writes it to the file, not the WAL

    def __init__(self, store: GraphStore, now_ms: int) -> None:
        self._store = store
        self._conn = store._conn
        self.now_ms = now_ms
        # object_ref -> {"records": n, "duplicates": n, "volume": {key: bytes}}, as written
        self.objects: dict[str, dict[str, Any]] = {}
        self._buffers: dict[str, list[pa.Table]] = {}
        self._packages: dict[str, str] = {}
        self._buffered = 0
        self._open = True
        # DuckDB works without the GIL: the inserts of one buffer run in the store's writer
        # thread while the caller decodes the next one. One write in flight at a time.
        self._writing: Future[list[Written]] | None = None

    def add(self, object_ref: str, kind: str, package: str, records: pa.Table | Sequence[Any]) -> None:
        """Add an object's records (a table of ``columns.COLUMNS[kind]``, or the reader's
        records); ``commit`` makes it loaded, even with none."""
        self.objects.setdefault(object_ref, {"records": 0, "duplicates": 0, "volume": {}})
        rows = records if isinstance(records, pa.Table) else (columns.to_table(kind, records) if records else None)
        if rows is None or not rows.num_rows:
            return
        refs = pa.repeat(pa.scalar(object_ref, pa.string()), rows.num_rows)
        self._buffers.setdefault(kind, []).append(rows.append_column("object_ref", refs))
        self._packages[kind] = package
        self._buffered += rows.num_rows
        if self._buffered >= self.FLUSH_RECORDS:
            self.flush()

    def flush(self) -> None:
        tables = [(kind, columns.concat(chunks)) for kind, chunks in self._buffers.items()]
        self._buffers = {}
        self._buffered = 0
        self._wait()
        if tables:
            self._writing = self._store._writer.submit(self._write, tables)

    def _write(self, tables: list[tuple[str, pa.Table]]) -> list[Written]:
        """Write the buffers (in the writer thread); what was kept and skipped, per object,
        account and day."""
        written: list[Written] = []
        for kind, incoming in tables:
            table, _ = RAW_TABLES[kind]
            package = self._packages[kind]
            self._conn.register("incoming", incoming)
            fresh = None
            try:
                fresh = _fresh(self._conn, kind, incoming)
                if fresh is None:  # nothing to skip: the batch is what came in
                    self._conn.register("batch", incoming)
                else:
                    self._conn.execute(f"CREATE TEMP TABLE batch AS {fresh}")
                self._conn.execute(f"INSERT INTO {table} BY NAME SELECT * EXCLUDE (size) FROM batch")
                for statement in DERIVED[kind]:
                    self._conn.execute(statement)
                rows = self._conn.execute(
                    f"""SELECT object_ref, account_id, day, sum(kept), sum(read) - sum(kept), sum(bytes) FROM (
                            SELECT object_ref, account_id, time_ms // {DAY_MS} AS day, count(*) AS kept, 0 AS read,
                                   sum(size) AS bytes FROM batch GROUP BY ALL
                            UNION ALL SELECT object_ref, account_id, time_ms // {DAY_MS}, 0, count(*), 0
                                FROM incoming GROUP BY ALL
                        ) GROUP BY ALL""").fetchall()
            finally:
                if fresh is None:
                    self._conn.unregister("batch")
                else:
                    self._conn.execute("DROP TABLE IF EXISTS batch")
                self._conn.unregister("incoming")
            written.extend(Written(ref, account, int(day), package, int(kept), int(dups), int(nbytes))
                           for ref, account, day, kept, dups, nbytes in rows)
        return written

    def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is None:
            return
        for w in writing.result():
            entry = self.objects[w.object_ref]
            entry["records"] += w.kept
            entry["duplicates"] += w.duplicates
            if w.kept:
                volume = entry["volume"]
                key = volume_key(w.account_id, day_of(w.day * DAY_MS), w.package)
                volume[key] = volume.get(key, 0) + w.bytes

    def commit(self) -> None:
        try:
            self.flush()
            self._wait()
            for ref, entry in self.objects.items():
                self._conn.execute(
                    "INSERT INTO loaded_objects VALUES (?, ?, ?, ?)",
                    [ref, self.now_ms, entry["records"], orjson.dumps(entry["volume"]).decode()],
                )
            self._conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        self._store.changed()
        self._close()

    def rollback(self) -> None:
        if self._open:
            try:
                with contextlib.suppress(Exception):
                    self._wait()
                self._conn.execute("ROLLBACK")
            finally:
                self._close()

    def _close(self) -> None:
        if self._open:
            self._open = False
            self._store._lock.release()


def _fresh(conn: duckdb.DuckDBPyConnection, kind: str, incoming: pa.Table) -> str | None:
    """The SELECT of the incoming records (the view ``incoming``) not already in the graph,
    by the reader's ``DEDUP_KEY``, each once; None when that is all of them."""
    key = DEDUP_KEYS.get(kind)
    if key is None:
        return None
    table, _ = RAW_TABLES[kind]
    ident = key[-1]
    low, high = pc.min_max(incoming.column("time_ms")).values()
    # A copy has the same time: only the graph's rows of the batch's time range are looked at
    # (zone maps skip the rest, and loads come mostly in time order).
    same = " AND ".join(f"g.{c} = i.{c}" for c in key)
    held = f"""i.{ident} <> '' AND EXISTS (SELECT 1 FROM {table} g WHERE g.time_ms BETWEEN {int(low.as_py())}
               AND {int(high.as_py())} AND g.time_ms = i.time_ms AND {same})"""
    twice = _repeats(incoming, key)
    if not twice and not conn.execute(f"SELECT count(*) FROM incoming i WHERE {held}").fetchall()[0][0]:
        return None  # the usual case
    select = f"SELECT * FROM incoming i WHERE NOT ({held})"
    if twice:
        select += (f" QUALIFY i.{ident} = '' OR row_number() OVER "
                   f"(PARTITION BY {', '.join(f'i.{c}' for c in key)}, i.{ident} = '' ORDER BY i.object_ref) = 1")
    return select


def _repeats(incoming: pa.Table, key: tuple[str, ...]) -> bool:
    """Whether a record (with an id) comes twice in the batch; counted by Arrow on the id
    alone first, as ids are unique across accounts and Regions but for copies."""
    ids = incoming.column(key[-1])
    with_id = incoming.num_rows - pc.sum(pc.equal(ids, "")).as_py()
    distinct = pc.count_distinct(ids, mode="only_valid").as_py() - (1 if with_id < incoming.num_rows else 0)
    if distinct == with_id:
        return False
    keys = incoming.select(list(key)).filter(pc.not_equal(ids, ""))
    return bool(keys.group_by(list(key)).aggregate([]).num_rows < with_id)


_DAYS: dict[int, str] = {}


def day_of(time_ms: int) -> str:
    day = time_ms // DAY_MS
    text = _DAYS.get(day)
    if text is None:
        text = dt.datetime.fromtimestamp(day * 86_400, dt.UTC).strftime("%Y-%m-%d")
        _DAYS[day] = text
    return text


def volume_key(account_id: str, day: str, package: str) -> str:
    return f"{account_id}|{day}|{package}"


def split_volume_key(key: str) -> tuple[str, str, str]:
    account, day, package = key.split("|")
    return account, day, package


