"""The behavior-graph store: one DuckDB file per behavior graph.

    <data_dir>/graphs/<graph id>.duckdb

Raw tables keep every event for drill-down (``api_events``, ``flows``, ``findings``,
``k8s_events``, ``sh_findings``). Three derived tables serve entities, relationships and
profiles; each load appends its partial aggregates and readers sum them:

    entities  (type, id, account_id, first_ms, last_ms, events)
    links     (src_type, src_id, kind, dst_type, dst_id, hour, count, bytes, first_ms, last_ms)
    hourly    (entity_type, entity_id, hour, dimension, value, success, failure, bytes)

``loaded_objects`` makes a load exactly-once: an object's rows and its ``loaded_objects`` row
commit in one transaction, and a second load of the same object is refused. The object's
volume per (account, day, package) is kept there too, so the control store's volume figures
can be completed after a crash between the two stores.

All SQL of the data plane lives in this module and in ``graph/queries.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import orjson
import pyarrow as pa

HOUR_MS = 3_600_000
MEMORY_LIMIT = "512MB"  # per graph store

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_events (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, event_id VARCHAR,
    event_source VARCHAR, event_name VARCHAR, event_type VARCHAR, read_only BOOLEAN, error_code VARCHAR,
    source_ip VARCHAR, user_agent VARCHAR, identity_type VARCHAR, principal_type VARCHAR, principal_id VARCHAR,
    principal_account VARCHAR, access_key_id VARCHAR, role_arn VARCHAR, session_name VARCHAR, mfa BOOLEAN,
    target_role_arn VARCHAR, target_session_arn VARCHAR, login_result VARCHAR, bucket VARCHAR,
    instance_id VARCHAR, vpc_endpoint_id VARCHAR, request_flags VARCHAR
);
-- Graphs made before request_flags existed.
ALTER TABLE api_events ADD COLUMN IF NOT EXISTS request_flags VARCHAR DEFAULT '';
CREATE TABLE IF NOT EXISTS flows (
    object_ref VARCHAR, time_ms BIGINT, end_ms BIGINT, account_id VARCHAR, region VARCHAR,
    interface_id VARCHAR, instance_id VARCHAR, vpc_id VARCHAR, subnet_id VARCHAR,
    src_addr VARCHAR, dst_addr VARCHAR, src_port INTEGER, dst_port INTEGER, protocol INTEGER,
    packets BIGINT, bytes BIGINT, action VARCHAR, flow_direction VARCHAR
);
CREATE TABLE IF NOT EXISTS findings (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, id VARCHAR, arn VARCHAR,
    type VARCHAR, title VARCHAR, severity DOUBLE, created_ms BIGINT, updated_ms BIGINT,
    first_seen_ms BIGINT, last_seen_ms BIGINT, resource_type VARCHAR, instance_id VARCHAR,
    access_key_id VARCHAR, principal_id VARCHAR, user_name VARCHAR, remote_ips VARCHAR[],
    local_ips VARCHAR[], buckets VARCHAR[], raw VARCHAR
);
CREATE TABLE IF NOT EXISTS k8s_events (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, cluster VARCHAR,
    audit_id VARCHAR, verb VARCHAR, request_uri VARCHAR, username VARCHAR, user_agent VARCHAR,
    source_ips VARCHAR[], resource VARCHAR, namespace VARCHAR, name VARCHAR, response_code INTEGER
);
CREATE TABLE IF NOT EXISTS sh_findings (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, id VARCHAR,
    product_arn VARCHAR, types VARCHAR[], title VARCHAR, severity_label VARCHAR, ips VARCHAR[], raw VARCHAR
);
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
CREATE TABLE IF NOT EXISTS links_by_dst AS SELECT * FROM links LIMIT 0;
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value BIGINT);
CREATE TABLE IF NOT EXISTS loaded_objects (
    object_ref VARCHAR PRIMARY KEY, loaded_ms BIGINT, records BIGINT, volume VARCHAR
);
"""

# Which raw table each reader's records go to, and the columns taken from the record
# (attribute names equal column names unless mapped).
RAW_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cloudtrail": ("api_events", (
        "time_ms", "account_id", "region", "event_id", "event_source", "event_name", "event_type", "read_only",
        "error_code", "source_ip", "user_agent", "identity_type", "principal_type", "principal_id",
        "principal_account", "access_key_id", "role_arn", "session_name", "mfa", "target_role_arn",
        "target_session_arn", "login_result", "bucket", "instance_id", "vpc_endpoint_id", "request_flags",
    )),
    "vpcflow": ("flows", (
        "time_ms", "end_ms", "account_id", "region", "interface_id", "instance_id", "vpc_id", "subnet_id",
        "src_addr", "dst_addr", "src_port", "dst_port", "protocol", "packets", "bytes", "action", "flow_direction",
    )),
    "guardduty": ("findings", (
        "time_ms", "account_id", "region", "id", "arn", "type", "title", "severity", "created_ms", "updated_ms",
        "first_seen_ms", "last_seen_ms", "resource_type", "instance_id", "access_key_id", "principal_id",
        "user_name", "remote_ips", "local_ips", "buckets", "raw",
    )),
    "eks_audit": ("k8s_events", (
        "time_ms", "account_id", "region", "cluster", "audit_id", "verb", "request_uri", "username",
        "user_agent", "source_ips", "resource", "namespace", "name", "response_code",
    )),
    "asff": ("sh_findings", (
        "time_ms", "account_id", "region", "id", "product_arn", "types", "title", "severity_label", "ips", "raw",
    )),
}

# An address, not a service name ("ec2.amazonaws.com"), "AWS Internal" or a forged value
# ("999.999.1.1"): a valid IPv4 address, or an IPv6 address in any of its RFC 4291 forms
# (with an embedded IPv4 tail). RE2 (DuckDB's regexp) matches in linear time.
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_H = "[0-9a-fA-F]{1,4}"
_IPV6 = "|".join((
    rf"({_H}:){{7}}{_H}",
    rf"({_H}:){{1,7}}:",
    rf"({_H}:){{1,6}}:{_H}",
    rf"({_H}:){{1,5}}(:{_H}){{1,2}}",
    rf"({_H}:){{1,4}}(:{_H}){{1,3}}",
    rf"({_H}:){{1,3}}(:{_H}){{1,4}}",
    rf"({_H}:){{1,2}}(:{_H}){{1,5}}",
    rf"{_H}:(:{_H}){{1,6}}",
    rf":((:{_H}){{1,7}}|:)",
    rf"({_H}:){{6}}{_IPV4}",
    rf"({_H}:){{0,5}}:{_IPV4}",
    rf"::({_H}:){{0,5}}{_IPV4}",
))
_IP_PATTERN = f"{_IPV4}|{_IPV6}"


def _is_ip(column: str) -> str:
    """The SQL test that a column holds an IP address."""
    return f"regexp_full_match({column}, '{_IP_PATTERN}')"

# Derived rows from a staged batch of api_events (the view ``batch``).
_API_DERIVED = [
    # entities
    f"""INSERT INTO entities
    SELECT t, i, any_value(a), min(time_ms), max(time_ms), count(*) FROM (
        SELECT principal_type AS t, principal_id AS i, COALESCE(NULLIF(principal_account, ''), account_id) AS a, time_ms
            FROM batch WHERE principal_type <> '' AND principal_id <> ''
        UNION ALL SELECT 'aws_account', account_id, account_id, time_ms FROM batch
        UNION ALL SELECT 'aws_account', principal_account, principal_account, time_ms FROM batch
            WHERE principal_account <> '' AND principal_account <> account_id
        UNION ALL SELECT 'aws_role', role_arn, COALESCE(NULLIF(principal_account, ''), account_id), time_ms FROM batch WHERE role_arn <> ''
        UNION ALL SELECT 'aws_role', target_role_arn, account_id, time_ms FROM batch WHERE target_role_arn <> ''
        UNION ALL SELECT 'role_session', target_session_arn, account_id, time_ms FROM batch
            WHERE target_session_arn LIKE 'arn:%:assumed-role/%' AND error_code = ''
        UNION ALL SELECT 'federated_user', target_session_arn, account_id, time_ms FROM batch
            WHERE target_session_arn LIKE 'arn:%:federated-user/%' AND error_code = ''
        UNION ALL SELECT 'ip_address', source_ip, account_id, time_ms FROM batch WHERE {_is_ip('source_ip')}
        UNION ALL SELECT 'user_agent', user_agent, account_id, time_ms FROM batch WHERE user_agent <> ''
        UNION ALL SELECT 's3_bucket', bucket, account_id, time_ms FROM batch WHERE bucket <> ''
        UNION ALL SELECT 'ec2_instance', instance_id, account_id, time_ms FROM batch WHERE instance_id <> ''
    ) GROUP BY t, i""",
    # links
    f"""INSERT INTO links
    SELECT st, si, k, dt, di, time_ms // {HOUR_MS}, count(*), 0, min(time_ms), max(time_ms) FROM (
        SELECT principal_type AS st, principal_id AS si, 'connected_from' AS k, 'ip_address' AS dt, source_ip AS di, time_ms
            FROM batch WHERE principal_id <> '' AND {_is_ip('source_ip')}
        UNION ALL SELECT principal_type, principal_id, 'used_user_agent', 'user_agent', user_agent, time_ms
            FROM batch WHERE principal_id <> '' AND user_agent <> ''
        UNION ALL SELECT 'role_session', principal_id, 'session_of', 'aws_role', role_arn, time_ms
            FROM batch WHERE principal_type = 'role_session' AND role_arn <> ''
        UNION ALL SELECT principal_type, principal_id, 'assumed', 'role_session', target_session_arn, time_ms
            FROM batch WHERE principal_id <> '' AND target_session_arn LIKE 'arn:%:assumed-role/%' AND error_code = ''
        UNION ALL SELECT 'role_session', target_session_arn, 'session_of', 'aws_role', target_role_arn, time_ms
            FROM batch WHERE target_session_arn LIKE 'arn:%:assumed-role/%' AND target_role_arn <> '' AND error_code = ''
        UNION ALL SELECT principal_type, principal_id, 'accessed', 's3_bucket', bucket, time_ms
            FROM batch WHERE principal_id <> '' AND bucket <> ''
        UNION ALL SELECT 'role_session', principal_id, 'credentials_of', 'ec2_instance', instance_id, time_ms
            FROM batch WHERE principal_type = 'role_session' AND instance_id <> '' AND session_name = instance_id
        UNION ALL SELECT principal_type, principal_id, 'belongs_to', 'aws_account',
            COALESCE(NULLIF(principal_account, ''), account_id), time_ms
            FROM batch WHERE principal_type IN ('aws_user', 'aws_role', 'role_session', 'federated_user')
    ) GROUP BY ALL""",
    # hourly profile panels of principals and IP addresses
    f"""INSERT INTO hourly
    SELECT et, ei, time_ms // {HOUR_MS}, d, v, count(*) FILTER (WHERE error_code = ''),
           count(*) FILTER (WHERE error_code <> ''), 0 FROM (
        SELECT principal_type AS et, principal_id AS ei, 'api' AS d, event_source || ':' || event_name AS v, time_ms, error_code
            FROM batch WHERE principal_id <> ''
        UNION ALL SELECT principal_type, principal_id, 'ip_address', source_ip, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND source_ip <> ''
        UNION ALL SELECT principal_type, principal_id, 'user_agent', user_agent, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND user_agent <> ''
        UNION ALL SELECT principal_type, principal_id, 'console_login', login_result, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND login_result <> ''
        UNION ALL SELECT 'ip_address', source_ip, 'api', event_source || ':' || event_name, time_ms, error_code
            FROM batch WHERE {_is_ip('source_ip')}
        UNION ALL SELECT 'ip_address', source_ip, 'principal', principal_id, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND {_is_ip('source_ip')}
        UNION ALL SELECT 'aws_account', account_id, 'api', event_source || ':' || event_name, time_ms, error_code FROM batch
    ) GROUP BY ALL""",
]

_FLOW_DERIVED = [
    """INSERT INTO entities
    SELECT t, i, any_value(a), min(time_ms), max(time_ms), count(*) FROM (
        SELECT 'ip_address' AS t, src_addr AS i, account_id AS a, time_ms FROM batch
        UNION ALL SELECT 'ip_address', dst_addr, account_id, time_ms FROM batch
        UNION ALL SELECT 'ec2_instance', instance_id, account_id, time_ms FROM batch WHERE instance_id <> ''
        UNION ALL SELECT 'aws_account', account_id, account_id, time_ms FROM batch
    ) GROUP BY t, i""",
    f"""INSERT INTO links
    SELECT st, si, k, 'ip_address', di, time_ms // {HOUR_MS}, count(*), sum(bytes), min(time_ms), max(time_ms) FROM (
        SELECT CASE WHEN instance_id <> '' THEN 'ec2_instance' ELSE 'ip_address' END AS st,
               CASE WHEN instance_id <> '' THEN instance_id ELSE src_addr END AS si,
               CASE WHEN action = 'REJECT' THEN 'flow_rejected' ELSE 'flow_accepted' END AS k,
               CASE WHEN instance_id <> '' AND flow_direction = 'ingress' THEN src_addr ELSE dst_addr END AS di,
               time_ms, bytes FROM batch
    ) GROUP BY ALL""",
    f"""INSERT INTO hourly
    SELECT et, ei, time_ms // {HOUR_MS}, d, v, count(*) FILTER (WHERE action <> 'REJECT'),
           count(*) FILTER (WHERE action = 'REJECT'), sum(bytes) FROM (
        SELECT 'ip_address' AS et, src_addr AS ei, 'flow_peer' AS d, dst_addr AS v, time_ms, action, bytes FROM batch
        UNION ALL SELECT 'ip_address', dst_addr, 'flow_peer', src_addr, time_ms, action, bytes FROM batch
        UNION ALL SELECT 'ip_address', dst_addr, 'flow_port', CAST(dst_port AS VARCHAR) || '/' || CAST(protocol AS VARCHAR),
            time_ms, action, bytes FROM batch WHERE dst_port >= 0
        UNION ALL SELECT 'ec2_instance', instance_id, 'flow_peer',
            CASE WHEN flow_direction = 'ingress' THEN src_addr ELSE dst_addr END, time_ms, action, bytes
            FROM batch WHERE instance_id <> ''
        UNION ALL SELECT 'ec2_instance', instance_id, 'flow_port', CAST(dst_port AS VARCHAR) || '/' || CAST(protocol AS VARCHAR),
            time_ms, action, bytes FROM batch WHERE instance_id <> '' AND dst_port >= 0
    ) GROUP BY ALL""",
]

_FINDING_DERIVED = [
    """INSERT INTO entities
    SELECT t, i, any_value(a), min(time_ms), max(time_ms), count(*) FROM (
        SELECT 'finding' AS t, COALESCE(NULLIF(arn, ''), id) AS i, account_id AS a, time_ms FROM batch
        UNION ALL SELECT 'ip_address', unnest(remote_ips), account_id, time_ms FROM batch
        UNION ALL SELECT 'ec2_instance', instance_id, account_id, time_ms FROM batch WHERE instance_id <> ''
        UNION ALL SELECT 's3_bucket', unnest(buckets), account_id, time_ms FROM batch
        UNION ALL SELECT 'aws_account', account_id, account_id, time_ms FROM batch
    ) GROUP BY t, i""",
    f"""INSERT INTO links
    SELECT 'finding', f, 'involves', dt, di, time_ms // {HOUR_MS}, count(*), 0, min(time_ms), max(time_ms) FROM (
        SELECT COALESCE(NULLIF(arn, ''), id) AS f, 'ip_address' AS dt, unnest(remote_ips) AS di, time_ms FROM batch
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 'ec2_instance', instance_id, time_ms FROM batch WHERE instance_id <> ''
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 's3_bucket', unnest(buckets), time_ms FROM batch
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 'access_key', access_key_id, time_ms FROM batch WHERE access_key_id <> ''
        UNION ALL SELECT COALESCE(NULLIF(arn, ''), id), 'aws_account', account_id, time_ms FROM batch
    ) GROUP BY ALL""",
]

_K8S_DERIVED = [
    """INSERT INTO entities
    SELECT t, i, any_value(a), min(time_ms), max(time_ms), count(*) FROM (
        SELECT 'eks_cluster' AS t, cluster AS i, account_id AS a, time_ms FROM batch WHERE cluster <> ''
        UNION ALL SELECT 'kubernetes_user', username, account_id, time_ms FROM batch WHERE username <> ''
        UNION ALL SELECT 'ip_address', unnest(source_ips), account_id, time_ms FROM batch
    ) GROUP BY t, i""",
    f"""INSERT INTO links
    SELECT st, si, k, dt, di, time_ms // {HOUR_MS}, count(*), 0, min(time_ms), max(time_ms) FROM (
        SELECT 'kubernetes_user' AS st, username AS si, 'called' AS k, 'eks_cluster' AS dt, cluster AS di, time_ms
            FROM batch WHERE username <> '' AND cluster <> ''
        UNION ALL SELECT 'kubernetes_user', username, 'connected_from', 'ip_address', unnest(source_ips), time_ms
            FROM batch WHERE username <> ''
    ) GROUP BY ALL""",
    f"""INSERT INTO hourly
    SELECT et, ei, time_ms // {HOUR_MS}, d, v, count(*) FILTER (WHERE response_code < 400),
           count(*) FILTER (WHERE response_code >= 400), 0 FROM (
        SELECT 'kubernetes_user' AS et, username AS ei, 'kubernetes_api' AS d,
               verb || ' ' || COALESCE(NULLIF(resource, ''), request_uri) AS v, time_ms, response_code
            FROM batch WHERE username <> ''
        UNION ALL SELECT 'kubernetes_user', username, 'user_agent', user_agent, time_ms, response_code
            FROM batch WHERE username <> '' AND user_agent <> ''
        UNION ALL SELECT 'eks_cluster', cluster, 'kubernetes_api', verb || ' ' || COALESCE(NULLIF(resource, ''), request_uri),
            time_ms, response_code FROM batch WHERE cluster <> ''
    ) GROUP BY ALL""",
]

_SH_DERIVED = [
    """INSERT INTO entities
    SELECT 'finding', id, any_value(account_id), min(time_ms), max(time_ms), count(*) FROM batch GROUP BY id""",
]

# Derived tables carry integer keys (DuckDB's hash of the ids): compacted tables are sorted by
# them, so a lookup by key skips every row group but the entity's own (string statistics keep
# only a prefix, and every ARN starts alike).
DERIVED_COLUMNS = {
    "entities": ("type", "id", "account_id", "first_ms", "last_ms", "events"),
    "links": ("src_type", "src_id", "kind", "dst_type", "dst_id", "hour", "count", "bytes", "first_ms", "last_ms"),
    "hourly": ("entity_type", "entity_id", "hour", "dimension", "value", "success", "failure", "bytes"),
}
KEYS = {"entities": "hash(id)", "links": "hash(src_id), hash(dst_id)", "hourly": "hash(entity_id)"}
SORT = {"entities": "ekey", "links": "skey, hour", "hourly": "ekey, hour"}
_INSERT = re.compile(r"^\s*INSERT INTO (\w+)\s+", re.DOTALL)


def _keyed(statement: str) -> str:
    """``INSERT INTO t SELECT ...`` with the key columns of ``t`` added."""
    match = _INSERT.match(statement)
    assert match is not None, statement
    table = match.group(1)
    select = statement[match.end():]
    return (f"INSERT INTO {table} SELECT *, {KEYS[table]} FROM ({select}) "
            f"AS s({', '.join(DERIVED_COLUMNS[table])})")


DERIVED: dict[str, list[str]] = {
    kind: [_keyed(statement) for statement in statements]
    for kind, statements in {
        "cloudtrail": _API_DERIVED,
        "vpcflow": _FLOW_DERIVED,
        "guardduty": _FINDING_DERIVED,
        "eks_audit": _K8S_DERIVED,
        "asff": _SH_DERIVED,
    }.items()
}

# Compaction: derived rows appended since the last one, past this many (or a quarter of the
# table), are summed and the tables rewritten in key order.
COMPACT_MIN_ROWS = 200_000


def _column(records: Sequence[Any], name: str) -> list[Any]:
    if name == "raw":
        return [r.raw.decode("utf-8", "replace") if isinstance(r.raw, bytes) else r.raw for r in records]
    return [getattr(r, name) for r in records]


_SCALARS = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64()}
_FLAT_TYPES: dict[type, pa.StructType | None] = {}


def _flat_type(record_type: type) -> pa.StructType | None:
    """An Arrow struct type for a record type whose fields are all scalars, else None."""
    if record_type not in _FLAT_TYPES:
        fields = msgspec.structs.fields(record_type)
        flat = all(f.type in _SCALARS for f in fields)
        _FLAT_TYPES[record_type] = pa.struct([(f.name, _SCALARS[f.type]) for f in fields]) if flat else None
    return _FLAT_TYPES[record_type]


def to_arrow(kind: str, chunks: Sequence[tuple[str, Sequence[Any]]]) -> pa.Table:
    """Columns of the raw table from (object_ref, records) chunks."""
    _, columns = RAW_TABLES[kind]
    records = [r for _, part in chunks for r in part] if len(chunks) > 1 else list(chunks[0][1])
    refs = pa.array([ref for ref, part in chunks for _ in range(len(part))], pa.string())
    flat = _flat_type(type(records[0]))
    if flat is not None:
        # Records of scalars go to Arrow as tuples in one C++ pass: half the cost of a
        # Python list per column.
        astuple = msgspec.structs.astuple
        batch = pa.RecordBatch.from_struct_array(pa.array([astuple(r) for r in records], type=flat))
        table = pa.Table.from_batches([batch]).select(list(columns))
        return table.add_column(0, "object_ref", refs)
    data: dict[str, Any] = {"object_ref": refs}
    for name in columns:
        data[name] = _column(records, name)
    return pa.table(data)


class GraphStore:
    """One behavior graph's DuckDB file. Thread-safe: one connection, calls serialized."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB would take 80% of the machine's memory for its sorts and aggregates; a graph
        # store shares the process with the API and other graphs, and spills to disk instead.
        self._conn = duckdb.connect(str(path), config={
            "memory_limit": MEMORY_LIMIT, "preserve_insertion_order": False,
            "temp_directory": str(path.with_suffix(".tmp")),
        })
        self._lock = threading.RLock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gumshoe-graph-writer")
        self._conn.execute(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._writer.shutdown(wait=True)
            self._conn.close()

    def idle(self) -> bool:
        """Whether no load or query holds the store right now."""
        if self._lock.acquire(blocking=False):
            self._lock.release()
            return True
        return False

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            yield self._conn

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
            conn.execute("BEGIN TRANSACTION")
            try:
                for table, columns in DERIVED_COLUMNS.items():
                    keys = "ekey" if table != "links" else "skey, dkey"
                    sums = {"events": "sum(events)", "count": "sum(count)", "bytes": "sum(bytes)",
                            "success": "sum(success)", "failure": "sum(failure)",
                            "first_ms": "min(first_ms)", "last_ms": "max(last_ms)", "account_id": "any_value(account_id)"}
                    select = ", ".join(f"CAST({sums[c]} AS BIGINT) AS {c}" if c in sums and c != "account_id"
                                       else (f"{sums[c]} AS {c}" if c in sums else c) for c in columns)
                    group = ", ".join(c for c in columns if c not in sums)
                    conn.execute(f"CREATE TABLE {table}_compacted AS SELECT {select}, {keys} FROM {table} "
                                 f"GROUP BY {group}, {keys} ORDER BY {SORT[table]}")
                    conn.execute(f"DROP TABLE {table}")
                    conn.execute(f"ALTER TABLE {table}_compacted RENAME TO {table}")
                # The same links sorted by their destination, for "what points at this entity";
                # links appended later (rowid past links_sorted) are read from links itself.
                conn.execute("CREATE OR REPLACE TABLE links_by_dst AS SELECT * FROM links ORDER BY dkey, hour")
                after = conn.execute("SELECT count(*) FROM hourly").fetchone()[0]  # type: ignore[index]
                links = conn.execute("SELECT count(*) FROM links").fetchone()[0]  # type: ignore[index]
                conn.execute("INSERT OR REPLACE INTO store_meta VALUES ('hourly_sorted', ?), ('links_sorted', ?)",
                             [after, links])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
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


class Load:
    """Records entering one graph inside one transaction, buffered into large inserts."""

    FLUSH_RECORDS = 125_000  # past a row group (122,880): DuckDB writes it to the file, not the WAL

    def __init__(self, store: GraphStore, now_ms: int) -> None:
        self._store = store
        self._conn = store._conn
        self.now_ms = now_ms
        self.objects: dict[str, dict[str, Any]] = {}  # object_ref -> {"records": n, "volume": {key: bytes}}
        self._buffers: dict[str, list[tuple[str, Sequence[Any]]]] = {}
        self._buffered = 0
        self._open = True
        # DuckDB works without the GIL: the inserts of one buffer run in the store's writer
        # thread while the caller decodes the next one. One write in flight at a time.
        self._writing: Future[None] | None = None

    def add(self, object_ref: str, kind: str, package: str, records: Sequence[Any]) -> None:
        entry = self.objects.setdefault(object_ref, {"records": 0, "volume": {}})
        if not records:
            return
        self._buffers.setdefault(kind, []).append((object_ref, records))
        self._buffered += len(records)
        entry["records"] += len(records)
        # Volume counts on the day the event happened (docs/INGESTION.md).
        days: dict[tuple[str, int], int] = defaultdict(int)
        for r in records:
            days[(r.account_id, r.time_ms // 86_400_000)] += r.size
        volume = entry["volume"]
        for (account, day), nbytes in days.items():
            key = volume_key(account, day_of(day * 86_400_000), package)
            volume[key] = volume.get(key, 0) + nbytes
        if self._buffered >= self.FLUSH_RECORDS:
            self.flush()

    def flush(self) -> None:
        tables = [(kind, to_arrow(kind, chunks)) for kind, chunks in self._buffers.items()]
        self._buffers = {}
        self._buffered = 0
        self._wait()
        if tables:
            self._writing = self._store._writer.submit(self._write, tables)

    def _write(self, tables: list[tuple[str, pa.Table]]) -> None:
        for kind, batch in tables:
            table, _ = RAW_TABLES[kind]
            self._conn.register("batch", batch)
            try:
                self._conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch")
                for statement in DERIVED[kind]:
                    self._conn.execute(statement)
            finally:
                self._conn.unregister("batch")

    def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

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


_DAYS: dict[int, str] = {}


def day_of(time_ms: int) -> str:
    day = time_ms // 86_400_000
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


