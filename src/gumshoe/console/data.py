"""The questions behind the console's pages, asked of one behavior graph's DuckDB store.

Figures are exact: they sum every partial row of the hourly aggregates (``hourly``,
``links``, ``entities``) or count raw events (``api_events``, ``flows``), with no sampling
and no top-N cut before the sums (Detective's summary keeps the top 1,000 entities an hour).

Times are epoch milliseconds; a scope is [start, end). Hourly aggregates count an hour when
any of it is in the scope, as the profiles of ``graph/queries.py`` do.
"""

from __future__ import annotations

from typing import Any

from gumshoe.clock import HOUR_MS
from gumshoe.graph.queries import busiest, complete_ids, entities_sorted, find_by_part, links_sorted, links_to
from gumshoe.graph.store import GraphStore
from gumshoe.investigate.geo import GeoIP

PRINCIPAL_TYPES = ("aws_user", "aws_role", "role_session", "federated_user")
INVESTIGABLE_TYPES = ("aws_user", "aws_role")

# Which api_events rows belong to an entity of each type.
_EVENT_FILTER = {
    "aws_user": "principal_type = 'aws_user' AND principal_id = $id",
    "role_session": "principal_type = 'role_session' AND principal_id = $id",
    "federated_user": "principal_type = 'federated_user' AND principal_id = $id",
    "aws_role": "principal_type = 'role_session' AND role_arn = $id",
    "aws_account": "account_id = $id",
    "ip_address": "source_ip = $id",
    "user_agent": "user_agent = $id",
    "s3_bucket": "bucket = $id",
    "ec2_instance": "instance_id = $id",
}
_FLOW_FILTER = {
    "ip_address": "(src_addr = $id OR dst_addr = $id)",
    "ec2_instance": "instance_id = $id",
}


def _hours(start_ms: int, end_ms: int) -> tuple[int, int]:
    return start_ms // HOUR_MS, (end_ms - 1) // HOUR_MS


def entity(store: GraphStore, entity_id: str) -> dict[str, Any] | None:
    """An entity's type, account and lifetime in the graph (all time), or None."""
    with store.cursor() as conn:
        row = conn.execute(
            "SELECT type, any_value(account_id), min(first_ms), max(last_ms), sum(events) FROM entities "
            "WHERE ekey = hash($id) AND id = $id GROUP BY type ORDER BY sum(events) DESC LIMIT 1",
            {"id": entity_id},
        ).fetchone()
    if row is None:
        return None
    return {"type": row[0], "id": entity_id, "accountId": row[1], "firstSeen": row[2], "lastSeen": row[3],
            "events": int(row[4])}


def types_of(store: GraphStore, ids: list[str]) -> dict[str, str]:
    """The entity type of each id that is an entity of the graph (for links)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    # By key alone: DuckDB then filters the scan with the keys' Bloom filter; the ids are
    # compared here (a key may be another id's too).
    with store.cursor() as conn:
        rows = conn.execute(
            "SELECT DISTINCT id, type FROM entities WHERE ekey IN (SELECT hash(unnest($ids::VARCHAR[])))",
            {"ids": wanted},
        ).fetchall()
    asked = set(wanted)
    return {i: t for i, t in rows if i in asked}


def graph_extent(store: GraphStore) -> tuple[int, int] | None:
    """The first and last event time of the whole graph, or None when it holds nothing."""
    def compute() -> tuple[int, int] | None:
        with store.cursor() as conn:
            row = conn.execute("SELECT min(first_ms), max(last_ms) FROM entities").fetchone()
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])
    return store.remembered("extent", compute)


# Entities first seen in a scope (``new``). Those with no row since the last compaction have
# their first sighting in ``firsts`` (sorted by time: the scope's row groups only); those with
# rows since (the tail of ``entities``) take the earlier of both. Not materialized: a month
# holds millions of first sightings, and counting them twice costs less than keeping them.
_NEW_AT_COMPACTION = """new AS NOT MATERIALIZED (SELECT type, id, first_ms AS first FROM firsts WHERE first_ms >= $start AND first_ms < $end)"""
_NEW_SINCE_COMPACTION = """tail AS (SELECT type, id, any_value(ekey) AS ekey, min(first_ms) AS first FROM entities
                     WHERE rowid >= $sorted GROUP BY type, id),
    settled AS (SELECT f.type, f.id, f.first_ms AS first FROM firsts f
                WHERE f.first_ms >= $start AND f.first_ms < $end
                  AND NOT EXISTS (SELECT 1 FROM tail t WHERE t.ekey = f.ekey AND t.type = f.type AND t.id = f.id)),
    moved AS (SELECT t.type, t.id, least(t.first, min(f.first_ms)) AS first FROM tail t
              LEFT JOIN (SELECT * FROM firsts WHERE ekey IN (SELECT ekey FROM tail)) f
                   ON f.ekey = t.ekey AND f.type = t.type AND f.id = t.id
              GROUP BY t.type, t.id, t.first),
    new AS (SELECT * FROM settled UNION ALL SELECT * FROM moved WHERE first >= $start AND first < $end)"""


def summary(store: GraphStore, start_ms: int, end_ms: int, top: int = 10) -> dict[str, Any]:
    """The summary page's panels for a scope."""
    first, last = _hours(start_ms, end_ms)
    with store.cursor() as conn:
        # The busiest of each panel (graph/queries.py): a role's calls are its sessions' calls;
        # addresses are those of formats/vpcflow.py's traffic, as either end.
        rows = busiest(conn, first, last, top)
        calls = sorted((r for r in rows if r[0] == "calls"), key=lambda r: (-(r[3] + r[4]), r[2], r[1]))
        principals = [(t, i, ok, failed) for _, t, i, ok, failed, _ in calls if t != "ip_address"]
        addresses = [(i, ok, failed) for _, t, i, ok, failed, _ in calls if t == "ip_address"]
        roles = [i for t, i, _, _ in principals if t == "aws_role"]
        # A role's sessions active in the scope: its session_of links (sorted by destination),
        # counted by key (the ids' hashes: reading the ids themselves tripled the time), the
        # keys written out so that DuckDB skips the row groups of other destinations.
        keys = dict(conn.execute("SELECT hash(r), r FROM unnest(?::VARCHAR[]) AS t(r)", [roles]).fetchall()) \
            if roles else {}
        listed = ", ".join(str(int(k)) for k in keys)
        sessions = {keys[k]: n for k, n in conn.execute(
            f"""SELECT dkey, count(DISTINCT skey) FROM (
                    SELECT dkey, skey, kind, hour FROM links_by_dst WHERE dkey IN ({listed})
                    UNION ALL SELECT dkey, skey, kind, hour FROM links WHERE rowid >= $sorted AND dkey IN ({listed}))
                WHERE kind = 'session_of' AND hour BETWEEN $first AND $last GROUP BY dkey""",
            {"first": first, "last": last, "sorted": links_sorted(conn)},
        ).fetchall()} if keys else {}
        flows = [(t, i, b, a, r) for p, t, i, a, r, b in rows if p == "traffic"]
        traffic = {kind: sorted((r for r in flows if r[0] == kind), key=lambda r: (-r[2], r[1]))
                   for kind in ("ec2_instance", "ip_address")}
        # New in the scope: first seen in it (_NEW_AT_COMPACTION, _NEW_SINCE_COMPACTION).
        sorted_rows = entities_sorted(conn)
        tail_rows = conn.execute("SELECT count(*) FROM entities WHERE rowid >= ?", [sorted_rows]).fetchone()
        new = conn.execute(
            f"""WITH {_NEW_SINCE_COMPACTION if tail_rows and tail_rows[0] else _NEW_AT_COMPACTION}
               SELECT type, NULL, NULL, count(*) FROM new GROUP BY type
               UNION ALL (SELECT type, id, first, NULL FROM new ORDER BY first DESC, type, id LIMIT $top)""",
            {"start": start_ms, "end": end_ms, "top": top * 2}
            | ({"sorted": sorted_rows} if tail_rows and tail_rows[0] else {}),
        ).fetchall()
        new_counts = sorted(((t, n) for t, i, _, n in new if i is None), key=lambda r: (-r[1], r[0]))
        newest = sorted(((t, i, seen) for t, i, seen, _ in new if i is not None), key=lambda r: (-r[2], r[0], r[1]))
        findings = conn.execute(
            """SELECT COALESCE(NULLIF(arn, ''), id), any_value(title), max(severity), any_value(type),
                      min(first_seen_ms), max(last_seen_ms)
               FROM findings WHERE last_seen_ms >= $start AND first_seen_ms < $end
               GROUP BY 1 ORDER BY max(severity) DESC, max(last_seen_ms) DESC LIMIT $top""",
            {"start": start_ms, "end": end_ms, "top": top},
        ).fetchall()
    instances, peers = traffic["ec2_instance"], traffic["ip_address"]
    return {
        "principals": [{"type": t, "id": i, "success": int(s), "failure": int(f), "sessions": int(sessions.get(i, 0))
                        if t == "aws_role" else 0} for t, i, s, f in principals],
        "ipAddresses": [{"type": "ip_address", "id": i, "success": int(s), "failure": int(f)} for i, s, f in addresses],
        "instances": [{"type": t, "id": i, "bytes": int(b), "accepted": int(a), "rejected": int(r)}
                      for t, i, b, a, r in instances],
        "flowAddresses": [{"type": t, "id": i, "bytes": int(b), "accepted": int(a), "rejected": int(r)}
                          for t, i, b, a, r in peers],
        "newCounts": [{"type": t, "count": int(n)} for t, n in new_counts],
        "newEntities": [{"type": t, "id": i, "firstSeen": int(seen)} for t, i, seen in newest],
        "findings": [{"type": "finding", "id": i, "title": title, "severity": sev, "findingType": kind,
                      "firstSeen": fs, "lastSeen": ls} for i, title, sev, kind, fs, ls in findings],
    }


def _has_table(conn: Any, name: str) -> bool:
    return bool(conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[0])


def _located(conn: Any, column: str) -> bool:
    """Whether investigations have located any address of the graph with this ``ip_geo`` column
    (``location``: a GeoIP City database; ``aso``: an ASN one)."""
    if not _has_table(conn, "ip_geo"):
        return False
    return bool(conn.execute(f"SELECT EXISTS (SELECT 1 FROM ip_geo WHERE {column} <> '')").fetchone()[0])


# Each located address with its first time in the graph (from any log, as newly observed
# entities count it): ``entities`` has a row per address where the raw events have one per
# call, so a place's or network's first sighting is a join of the two, not a scan of the events.
_SEEN = """seen AS (SELECT g.{column}, g.ip, e.first_ms AS first FROM ip_geo g
                     JOIN entities e ON e.ekey = hash(g.ip) AND e.id = g.ip AND e.type = 'ip_address'
                     WHERE g.{column} <> '' {only})"""


def _first_sightings(store: GraphStore, column: str) -> list[tuple[str, int, str]] | None:
    """Every place (``location``) or network (``aso``) of the graph's located addresses with its
    first time and first address, newest first; None when no address was located with that
    database. All time, so kept until the graph changes (a join of every located address)."""
    def compute() -> list[tuple[str, int, str]] | None:
        with store.cursor() as conn:
            if not _located(conn, column):
                return None
            return [(name, int(first), ip) for name, first, ip in conn.execute(
                f"""WITH {_SEEN.format(column=column, only="")}
                    SELECT {column}, min(first), arg_min(ip, first) FROM seen GROUP BY 1 ORDER BY 2 DESC, 1""",
            ).fetchall()]
    return store.remembered(f"first_sightings:{column}", compute)


def _first_seen_in(store: GraphStore, column: str, start_ms: int, end_ms: int,
                   top: int) -> list[tuple[str, int, str]] | None:
    """The places or networks (``column``) first seen in the scope, newest first, the first
    ``top``; None when no address was located with that database."""
    sightings = _first_sightings(store, column)
    if sightings is None:
        return None
    return [s for s in sightings if start_ms <= s[1] < end_ms][:top]


def new_geolocations(store: GraphStore, start_ms: int, end_ms: int, top: int = 10) -> list[dict[str, Any]] | None:
    """Places (GeoIP city, as investigations locate addresses, kept in ``ip_geo``) first seen in
    the scope: none of their addresses was seen before it. Each with its first address, the
    principal of the first API call from there and the calls from there since the scope began;
    None when the graph's addresses were never located (no GeoIP database)."""
    new = _first_seen_in(store, "location", start_ms, end_ms, top)
    if not new:
        return None if new is None else []
    first_hour, _ = _hours(start_ms, end_ms)
    with store.cursor() as conn:
        addresses = conn.execute(
            "SELECT DISTINCT location, ip FROM ip_geo WHERE location IN (SELECT unnest($places::VARCHAR[]))",
            {"places": [loc for loc, _, _ in new]},
        ).fetchall()
        calls = {loc: (pt, pid, n) for loc, pt, pid, n in conn.execute(
            f"""SELECT a.location, arg_min(k.src_type, k.first_ms), arg_min(k.src_id, k.first_ms), sum(k.count)
                FROM {links_to("ips")} k JOIN (SELECT unnest($places::VARCHAR[]) AS location,
                                                     unnest($ips::VARCHAR[]) AS ip) a ON a.ip = k.dst_id
                WHERE k.kind = 'connected_from' AND k.dst_type = 'ip_address' AND k.hour >= $first_hour
                GROUP BY a.location""",
            {"places": [loc for loc, _ in addresses], "ips": [ip for _, ip in addresses], "first_hour": first_hour,
             "sorted": links_sorted(conn)},
        ).fetchall()} if addresses else {}
    found = []
    for loc, first, ip in new:
        principal_type, principal_id, n = calls.get(loc, (None, None, 0))
        found.append({"location": loc, "ip": ip, "principalType": principal_type, "principalId": principal_id,
                      "firstSeen": first, "calls": int(n)})
    return found


def new_asos(store: GraphStore, start_ms: int, end_ms: int, top: int = 10, listed: int = 5) -> list[dict[str, Any]] | None:
    """Autonomous system organizations (GeoIP ASN, kept in ``ip_geo``) first seen in the scope:
    none of their addresses was seen before it. Each with its addresses first seen in the
    scope and the principals whose API calls came from them in the scope (the first
    ``listed`` of each, by first time, and how many in all), and those calls; None when no
    address of the graph was located with an ASN database."""
    new = _first_seen_in(store, "aso", start_ms, end_ms, top)
    if not new:
        return None if new is None else []
    first_hour, last_hour = _hours(start_ms, end_ms)
    with store.cursor() as conn:
        addresses = conn.execute(
            f"""WITH {_SEEN.format(column="aso", only="AND g.aso IN (SELECT unnest($asos::VARCHAR[]))")}
                SELECT aso, ip, min(first) FROM seen GROUP BY ALL HAVING min(first) < $end""",
            {"asos": [aso for aso, _, _ in new], "end": end_ms},
        ).fetchall()
        rows = conn.execute(
            f"""WITH addresses AS (SELECT unnest($asos::VARCHAR[]) AS aso, unnest($ips::VARCHAR[]) AS ip,
                                          unnest($firsts::BIGINT[]) AS first),
               calls AS (SELECT a.aso, k.src_type AS pt, k.src_id AS pid, min(k.first_ms) AS first, sum(k.count) AS n
                         FROM {links_to("ips")} k JOIN addresses a ON a.ip = k.dst_id
                         WHERE k.kind = 'connected_from' AND k.dst_type = 'ip_address'
                           AND k.hour BETWEEN $first_hour AND $last_hour
                         GROUP BY ALL),
               by_address AS (SELECT aso, count(*) AS addresses, list(ip ORDER BY first, ip)[1:$listed] AS ips
                              FROM addresses GROUP BY aso),
               by_principal AS (SELECT aso, count(*) AS principals, sum(n) AS calls,
                                       list([pt, pid] ORDER BY first, pt, pid)[1:$listed] AS who
                                FROM calls GROUP BY aso)
               SELECT a.aso, a.addresses, a.ips, COALESCE(p.principals, 0), COALESCE(p.calls, 0), COALESCE(p.who, [])
               FROM by_address a LEFT JOIN by_principal p USING (aso)""",
            {"asos": [a for a, _, _ in addresses], "ips": [ip for _, ip, _ in addresses],
             "firsts": [int(f) for _, _, f in addresses], "listed": listed, "first_hour": first_hour,
             "last_hour": last_hour, "sorted": links_sorted(conn)},
        ).fetchall() if addresses else []
    found = {aso: rest for aso, *rest in rows}
    return [{"aso": aso, "firstSeen": first, "addressCount": int(found[aso][0]), "addresses": list(found[aso][1]),
             "principalCount": int(found[aso][2]), "calls": int(found[aso][3]),
             "principals": [{"type": t, "id": i} for t, i in found[aso][4]]}
            for aso, first, _ in new if aso in found]


def places(store: GraphStore, ips: list[str], geo: GeoIP | None = None) -> dict[str, dict[str, str]]:
    """The place and ASO of each address. With the server's GeoIP databases (``geo``) they are
    looked up there: the same answers ``ip_geo`` keeps for them, microseconds an address,
    where a join would read all of ``ip_geo``. Without, as investigations located them
    before (``ip_geo``)."""
    wanted = sorted(set(ips))
    if not wanted:
        return {}
    if geo is not None:
        return {ip: {"location": loc, "aso": aso} for ip, (loc, aso) in zip(wanted, geo.locate_many(wanted), strict=True)
                if loc or aso}
    with store.cursor() as conn:
        if not _has_table(conn, "ip_geo"):
            return {}
        rows = conn.execute(
            "SELECT DISTINCT g.ip, g.location, g.aso FROM ip_geo g JOIN (SELECT unnest($ips::VARCHAR[]) AS ip) w "
            "ON g.ip = w.ip WHERE g.location <> '' OR g.aso <> ''",
            {"ips": wanted},
        ).fetchall()
    return {ip: {"location": loc or "", "aso": aso or ""} for ip, loc, aso in rows}


def hourly_series(rows: list[dict[str, Any]], start_ms: int, end_ms: int, a: str, b: str) -> dict[str, list[int]]:
    """Hourly rows zero-filled over the scope: {"hours": [...], a: [...], b: [...]} for a chart."""
    first, last = _hours(start_ms, end_ms)
    by_hour = {r["hour"] // HOUR_MS: r for r in rows}
    hours = list(range(first, last + 1))
    return {
        "hours": [h * HOUR_MS for h in hours],
        a: [int(by_hour[h][a]) if h in by_hour else 0 for h in hours],
        b: [int(by_hour[h][b]) if h in by_hour else 0 for h in hours],
    }


def flow_volume(store: GraphStore, entity_type: str, entity_id: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """VPC flows of an address or instance per hour: accepted and rejected, and bytes."""
    if entity_type not in _FLOW_FILTER:
        return []
    first, last = _hours(start_ms, end_ms)
    with store.cursor() as conn:
        rows = conn.execute(
            """SELECT hour, sum(success), sum(failure), sum(bytes) FROM hourly
               WHERE ekey = hash($id) AND entity_id = $id AND entity_type = $type AND dimension = 'flow_peer'
                 AND hour BETWEEN $first AND $last GROUP BY hour ORDER BY hour""",
            {"id": entity_id, "type": entity_type, "first": first, "last": last},
        ).fetchall()
    return [{"hour": h * HOUR_MS, "accepted": int(a), "rejected": int(r), "bytes": int(b)} for h, a, r, b in rows]


def has_raw_events(entity_type: str) -> bool:
    return entity_type in _EVENT_FILTER


def raw_events(store: GraphStore, entity_type: str, entity_id: str, start_ms: int, end_ms: int,
               offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """The CloudTrail events behind an entity's panels in a window, oldest first, a page at a time."""
    where = _EVENT_FILTER.get(entity_type)
    if where is None:
        return {"events": [], "total": 0}
    total, rows = _page(store, "api_events", "event_id, time_ms, event_source, event_name, source_ip, user_agent, "
                        "error_code, principal_type, principal_id, access_key_id, account_id", where, "time_ms, event_id",
                        {"id": entity_id, "start": start_ms, "end": end_ms}, offset, limit)
    return {
        "total": total,
        "events": [
            {"eventId": e, "time": t, "service": s, "api": n, "sourceIp": ip, "userAgent": ua, "errorCode": err,
             "principalType": pt, "principalId": pid, "accessKeyId": key, "accountId": acct}
            for e, t, s, n, ip, ua, err, pt, pid, key, acct in rows
        ],
    }


def _page(store: GraphStore, table: str, columns: str, where: str, order: str, params: dict[str, Any],
          offset: int, limit: int) -> tuple[int, list[Any]]:
    """One page of a raw table's rows in a window (``$start``, ``$end``) that match ``where``
    (the console's own SQL, never user text), and how many match in all."""
    window = f"FROM {table} WHERE time_ms >= $start AND time_ms < $end AND {where}"
    with store.cursor() as conn:
        total = conn.execute(f"SELECT count(*) {window}", params).fetchone()
        rows = conn.execute(f"SELECT {columns} {window} ORDER BY {order} LIMIT $limit OFFSET $offset",
                            {**params, "limit": limit, "offset": offset}).fetchall()
    return (int(total[0]) if total else 0), rows


def call_breakdown(store: GraphStore, entity_type: str, entity_id: str, start_ms: int, end_ms: int,
                   limit: int = 200) -> list[dict[str, Any]]:
    """An entity's API calls in a window by source address, API and access key (and bucket),
    with successes and failures: Detective's API-volume drill-down."""
    where = _EVENT_FILTER.get(entity_type)
    if where is None:
        return []
    with store.cursor() as conn:
        rows = conn.execute(
            f"""SELECT source_ip, event_source || ':' || event_name, access_key_id, bucket,
                       count(*) FILTER (WHERE error_code = ''), count(*) FILTER (WHERE error_code <> ''),
                       min(time_ms), max(time_ms)
                FROM api_events WHERE time_ms >= $start AND time_ms < $end AND {where}
                GROUP BY ALL ORDER BY count(*) DESC, 1, 2, 3, 4 LIMIT $limit""",
            {"id": entity_id, "start": start_ms, "end": end_ms, "limit": limit},
        ).fetchall()
    return [{"sourceIp": ip, "api": api, "accessKeyId": key, "bucket": bucket, "success": int(ok),
             "failure": int(failed), "firstSeen": first, "lastSeen": last}
            for ip, api, key, bucket, ok, failed, first, last in rows]


def raw_flows(store: GraphStore, entity_type: str, entity_id: str, start_ms: int, end_ms: int,
              offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """The VPC flow records of an address or instance in a window, oldest first."""
    where = _FLOW_FILTER.get(entity_type)
    if where is None:
        return {"flows": [], "total": 0}
    total, rows = _page(store, "flows", "time_ms, interface_id, instance_id, src_addr, src_port, dst_addr, dst_port, "
                        "protocol, packets, bytes, action, flow_direction", where, "time_ms, src_addr, dst_addr",
                        {"id": entity_id, "start": start_ms, "end": end_ms}, offset, limit)
    names = ("time", "interfaceId", "instanceId", "srcAddr", "srcPort", "dstAddr", "dstPort", "protocol",
             "packets", "bytes", "action", "direction")
    return {"total": total, "flows": [dict(zip(names, row, strict=True)) for row in rows]}


def finding(store: GraphStore, finding_id: str) -> dict[str, Any] | None:
    """A GuardDuty finding's details (by ARN or id), its latest version."""
    with store.cursor() as conn:
        row = conn.execute(
            """SELECT id, arn, type, title, severity, created_ms, updated_ms, first_seen_ms, last_seen_ms,
                      resource_type, instance_id, access_key_id, principal_id, user_name, remote_ips, buckets,
                      account_id, region
               FROM findings WHERE arn = $id OR id = $id ORDER BY updated_ms DESC LIMIT 1""",
            {"id": finding_id},
        ).fetchone()
    if row is None:
        return None
    names = ("id", "arn", "type", "title", "severity", "createdTime", "updatedTime", "firstSeen", "lastSeen",
             "resourceType", "instanceId", "accessKeyId", "principalId", "userName", "remoteIps", "buckets",
             "accountId", "region")
    return dict(zip(names, row, strict=True))


def finding_arn(store: GraphStore, finding_id: str) -> str | None:
    """The entity id (its ARN when it has one) of a finding named by its id."""
    details = finding(store, finding_id)
    if details is None:
        return None
    return str(details["arn"] or details["id"])


def complete(store: GraphStore, entity_type: str | None, prefix: str, limit: int = 20) -> list[dict[str, str]]:
    """Entities whose id starts with ``prefix``, in any case (for the search box's completion)."""
    if not prefix:
        return []
    return [{"type": t, "id": i} for t, i in complete_ids(store, entity_type, prefix, limit)]


def search(store: GraphStore, entity_type: str | None, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """Entities whose id is ``text`` or contains it (case-insensitive), exact matches first,
    then the most active (graph/queries.py ``find_by_part``)."""
    if not text:
        return []
    return [{"type": t, "id": i, "accountId": a, "firstSeen": f, "lastSeen": last, "events": int(n), "exact": bool(x)}
            for t, i, a, f, last, n, x in find_by_part(store, entity_type, text, limit)]
