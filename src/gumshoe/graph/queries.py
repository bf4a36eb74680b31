"""Questions asked of a behavior graph: its entities, and the profile of one entity.

A profile is a set of panels over a time scope, each from the hourly aggregates (summed
over the partial rows the loads appended):

    api          API calls by service:API, with successes and failures
    ip_address   source IP addresses, user_agent, console_login   (principals)
    principal    who called from an IP address                    (IP addresses)
    flow_peer    VPC flow peers with bytes, flow_port             (IP addresses, instances)
    related      relationships from and to the entity, with counts and first / last seen

For a role, the panels sum the activity of all its role sessions.
"""

from __future__ import annotations

from typing import Any

from gumshoe.clock import HOUR_MS
from gumshoe.graph.store import MEASURE, GraphStore

ENTITY_TYPES = (
    "aws_account", "aws_user", "aws_role", "role_session", "federated_user", "ec2_instance",
    "ip_address", "user_agent", "s3_bucket", "finding",
    "eks_cluster", "kubernetes_user",  # from EKS audit logs, while EKS_AUDIT is started
)


# The hourly rows of an entity's panels, in a scope of whole hours (``rows``). A role's rows
# are its sessions' summed at load time (formats/cloudtrail.py): an instance role has tens of
# thousands of sessions, whose rows lie all over the table (sorted by entity key).
ENTITY_ROWS = """WITH rows AS (SELECT hour, dimension, value, success, failure, bytes FROM hourly
                                WHERE ekey = hash($id) AND entity_id = $id AND hour BETWEEN $first AND $last)"""
def _mark(conn: Any, key: str) -> int:
    """How many rows of its source a copy compaction wrote holds (``store_meta``, graph/store.py)."""
    rows = conn.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchall()
    return int(rows[0][0]) if rows else 0


def links_sorted(conn: Any) -> int:
    """How many of ``links``' rows ``links_by_dst`` holds (the rest came after the last compaction)."""
    return _mark(conn, "links_sorted")


def entities_sorted(conn: Any) -> int:
    """How many of ``entities``' rows ``firsts`` was made from (the rest came after the last compaction)."""
    return _mark(conn, "entities_sorted")


def links_to(ids: str) -> str:
    """The links pointing at any of the ids in the parameter ``ids`` (a list): those sorted by
    destination, and those appended since (``$sorted``: ``links_sorted``)."""
    keys = f"(SELECT hash(unnest(${ids}::VARCHAR[])))"
    wanted = f"dkey IN {keys} AND dst_id IN (SELECT unnest(${ids}::VARCHAR[]))"
    return (f"(SELECT * FROM links_by_dst WHERE {wanted} "
            f"UNION ALL SELECT * FROM links WHERE rowid >= $sorted AND {wanted})")


# The top of each summary panel from ``sums``: principals' calls, addresses' calls, instances'
# traffic, addresses' traffic (each apart: a window over a day's groups ranks them several times slower).
_TOP_OF_EACH_PANEL = " UNION ALL ".join(
    f"""(SELECT panel, entity_type, entity_id, success, failure, bytes FROM sums
         WHERE panel = '{panel}' AND entity_type {op} 'ip_address' ORDER BY measure DESC, entity_id, entity_type LIMIT $top)"""
    for panel in ("calls", "traffic") for op in ("<>", "="))


# The parts of a scope of whole days that by_day does not hold, summed: the hours before its
# first whole day and after its last, and the rows appended since by_day was rolled up.
_REST = f"""rest AS MATERIALIZED (
                SELECT *, {MEASURE} AS measure FROM (
                    SELECT panel, entity_type, entity_id, hash(entity_id) AS ekey, CAST(sum(success) AS BIGINT) AS success,
                           CAST(sum(failure) AS BIGINT) AS failure, CAST(sum(bytes) AS BIGINT) AS bytes
                    FROM (SELECT * FROM by_hour WHERE hour BETWEEN $first AND $inner_first - 1
                          UNION ALL SELECT * FROM by_hour WHERE hour BETWEEN $inner_last + 1 AND $last
                          UNION ALL SELECT * FROM by_hour WHERE rowid >= $mark AND hour BETWEEN $inner_first AND $inner_last)
                    GROUP BY ALL))"""
# Each panel's bar, as a parameter: (panel, its addresses or the rest).
_BARS = {"calls_of_principals": ("calls", False), "calls_of_addresses": ("calls", True),
         "traffic_of_instances": ("traffic", False), "traffic_of_addresses": ("traffic", True)}


def busiest(conn: Any, first_hour: int, last_hour: int, top: int) -> list[tuple[str, str, str, int, int, int]]:
    """The ``top`` entities of each summary panel over whole hours ``first_hour`` to
    ``last_hour``: (panel, entity_type, entity_id, success, failure, bytes), exact, ranked by
    the panel's measure (graph/store.py ``MEASURE``), a panel's addresses apart from the rest.

    A scope of whole days would group millions of rows to sum every entity. Instead it is cut
    in parts (each whole day from ``by_day``; the rest of its hours, and the rows appended
    since ``by_day`` was rolled up, summed from ``by_hour``) and a threshold picks the entities
    worth summing (after TPUT, Cao and Wang 2004): the top-th best of the leaders' sums over
    the days they lead (each of a day's first ``top``) is a bar T no higher than the true
    top-th total; an entity whose total reaches T reaches, in some part, that part's share
    of T (its hours over the scope's), so only those are summed. On the benchmark's graph,
    30 days are ~50 ms this way and ~550 ms summed whole."""
    day_first, day_last = -(-first_hour // 24), (last_hour + 1) // 24 - 1
    days = max(0, day_last - day_first + 1)
    params: dict[str, Any] = {"first": first_hour, "last": last_hour, "top": top}
    if not days:  # hours of one or two days: summing them is quicker than the parts
        return _rows(conn.execute(
            f"""WITH sums AS MATERIALIZED (
                    SELECT *, {MEASURE} AS measure FROM (
                        SELECT panel, entity_type, entity_id, sum(success) AS success, sum(failure) AS failure,
                               sum(bytes) AS bytes FROM by_hour WHERE hour BETWEEN $first AND $last GROUP BY ALL))
                {_TOP_OF_EACH_PANEL}""", params).fetchall())
    hours = last_hour - first_hour + 1
    params |= {"day_first": day_first, "day_last": day_last, "inner_first": day_first * 24,
               "inner_last": (day_last + 1) * 24 - 1, "mark": _mark(conn, "by_hour_sorted")}
    # Two statements: the bars come out as numbers, so the second filters its scans by
    # constants (a join to the bars would read every column of every row). A leader's sum over
    # the days it leads is no more than its total: the bar made of those sums is no higher than
    # the true top-th total (a lower bar admits more), and costs a read of the days' leaders.
    bars = {(panel, ip): int(total) for panel, ip, total in conn.execute(
        """WITH leaders AS (
                SELECT panel, entity_type = 'ip_address' AS ip, sum(measure) AS total FROM by_day
                WHERE day BETWEEN $day_first AND $day_last AND day_rank <= $top GROUP BY panel, entity_type, ekey)
            SELECT panel, ip, CASE WHEN count(*) >= $top THEN min(total) ELSE 0 END FROM (
                SELECT *, row_number() OVER (PARTITION BY panel, ip ORDER BY total DESC) AS place FROM leaders)
            WHERE place <= $top GROUP BY ALL""",
        {k: params[k] for k in ("day_first", "day_last", "top")}).fetchall()}
    params |= {"rest_hours": hours - 24 * days, "hours": hours}
    params |= {name: bars.get(group, 0) for name, group in _BARS.items()}
    bar = "CASE " + " ".join(f"WHEN panel = '{panel}' AND entity_type {'=' if ip else '<>'} 'ip_address' THEN ${name}"
                             for name, (panel, ip) in _BARS.items()) + " END"
    return _rows(conn.execute(
        f"""WITH {_REST},
            reaching AS (
                SELECT ekey FROM by_day WHERE day BETWEEN $day_first AND $day_last AND measure * $hours >= {bar} * 24
                UNION SELECT ekey FROM rest WHERE measure * $hours >= {bar} * $rest_hours),
            -- Grouped by key: a key's rows of other panels are summed too, and harmless.
            sums AS MATERIALIZED (
                SELECT panel, entity_type, any_value(entity_id) AS entity_id, sum(success) AS success,
                       sum(failure) AS failure, sum(bytes) AS bytes, sum(measure) AS measure FROM (
                    SELECT panel, entity_type, entity_id, ekey, success, failure, bytes, measure FROM by_day
                    WHERE day BETWEEN $day_first AND $day_last AND ekey IN (SELECT ekey FROM reaching)
                    UNION ALL
                    SELECT panel, entity_type, entity_id, ekey, success, failure, bytes, measure FROM rest
                    WHERE ekey IN (SELECT ekey FROM reaching))
                GROUP BY panel, entity_type, ekey)
            -- A window over these few (the top queries of _TOP_OF_EACH_PANEL read them four times).
            SELECT panel, entity_type, entity_id, success, failure, bytes FROM (
                SELECT *, row_number() OVER (PARTITION BY panel, entity_type = 'ip_address'
                                             ORDER BY measure DESC, entity_id, entity_type) AS place FROM sums)
            WHERE place <= $top""",
        params,
    ).fetchall())


def _rows(rows: list[tuple[Any, ...]]) -> list[tuple[str, str, str, int, int, int]]:
    return [(p, t, i, int(ok), int(failed), int(b)) for p, t, i, ok, failed, b in rows]


Figures = tuple[str, str, str, int, int, int]  # type, id, account, first, last, events


def _by_part(conn: Any, match: str, order: str, params: dict[str, Any], entity_type: str | None,
             limit: int, also: str = "", also_params: dict[str, Any] | None = None) -> list[Figures]:
    """The entities whose lowercased id ``lid`` passes ``match`` that can be among the first
    ``limit`` in ``order``: the first of ``names`` (the compacted entities, graph/store.py),
    and every entity the rows appended since touch (or ``also`` names: a subquery of keys),
    with figures summed over all its rows."""
    typed = " AND type = $type" if entity_type else ""
    params = params | ({"type": entity_type} if entity_type else {})
    listed = conn.execute(
        f"SELECT type, id, account_id, first_ms, last_ms, events FROM names WHERE {match}{typed} "
        f"ORDER BY {order} LIMIT {int(limit)}", params).fetchall()
    touched = (f"SELECT ekey FROM (SELECT *, lower(id) AS lid FROM entities WHERE rowid >= {_mark(conn, 'names_sorted')}) "
               f"WHERE {match}{typed}" + (f" UNION {also}" if also else ""))
    summed = conn.execute(
        f"""SELECT type, id, min(account_id), min(first_ms), max(last_ms), sum(events) FROM (
                SELECT *, lower(id) AS lid FROM entities WHERE ekey IN ({touched}))
            WHERE {match}{typed} GROUP BY type, id""", params | (also_params or {})).fetchall()
    found = {(r[0], r[1]): r for r in listed} | {(r[0], r[1]): r for r in summed}
    return [(t, i, a, f, last, int(n)) for t, i, a, f, last, n in found.values()]


def find_by_part(store: GraphStore, entity_type: str | None, text: str, limit: int = 50) -> list[tuple[Any, ...]]:
    """(type, id, account, first, last, events, exact) of the entities whose id is ``text`` or
    contains it (case-insensitive): the exact match first, then the busiest."""
    with store.cursor() as conn:
        found = _by_part(conn, "contains(lid, $part)", "events DESC, id", {"part": text.lower()}, entity_type, limit,
                         also="SELECT hash($text)", also_params={"text": text})
    ranked = sorted(((*f, f[1] == text) for f in found), key=lambda r: (not r[6], -r[5], r[1]))
    return ranked[:limit]


def complete_ids(store: GraphStore, entity_type: str | None, prefix: str, limit: int = 20) -> list[tuple[str, str]]:
    """(type, id) of the entities whose id starts with ``prefix`` (case-insensitive), in order."""
    with store.cursor() as conn:
        found = _by_part(conn, "starts_with(lid, $start)", "lid, id, type", {"start": prefix.lower()}, entity_type, limit)
    return sorted(((f[0], f[1]) for f in found), key=lambda r: (r[1].lower(), r[1], r[0]))[:limit]


def list_entities(store: GraphStore, entity_type: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    sql = (
        "SELECT type, id, min(account_id), min(first_ms), max(last_ms), sum(events) FROM entities "
        + ("WHERE type = ? " if entity_type else "")
        + "GROUP BY type, id ORDER BY type, id LIMIT ?"
    )
    params: list[Any] = [entity_type, limit] if entity_type else [limit]
    with store.cursor() as conn:
        rows = conn.execute(sql, params).fetchall()
    return [
        {"type": t, "id": i, "accountId": a, "firstSeen": first, "lastSeen": last, "events": int(n)}
        for t, i, a, first, last, n in rows
    ]


def find_entity(store: GraphStore, entity_id: str) -> tuple[str, str] | None:
    with store.cursor() as conn:
        row = conn.execute("SELECT type, id FROM entities WHERE ekey = hash(?) AND id = ? LIMIT 1",
                           [entity_id, entity_id]).fetchone()
    return (row[0], row[1]) if row else None


def profile(store: GraphStore, entity_id: str, start_ms: int, end_ms: int, top: int = 50) -> dict[str, Any] | None:
    """The panels of one entity between two times (end exclusive), or None if unknown."""
    found = find_entity(store, entity_id)
    if found is None:
        return None
    entity_type, _ = found
    first_hour, last_hour = start_ms // HOUR_MS, (end_ms - 1) // HOUR_MS
    with store.cursor() as conn:
        sorted_links = links_sorted(conn)
        incoming = f"""(SELECT * FROM links_by_dst WHERE dkey = hash($id) AND dst_id = $id
                        UNION ALL SELECT * FROM links WHERE rowid >= {int(sorted_links)} AND dkey = hash($id) AND dst_id = $id)"""
        sessions = 0
        if entity_type == "aws_role":
            sessions = conn.execute(
                f"SELECT count(DISTINCT src_id) FROM {incoming} WHERE kind = 'session_of' AND src_type = 'role_session'",
                {"id": entity_id},
            ).fetchone()[0]  # type: ignore[index]
        params = {"id": entity_id, "first": first_hour, "last": last_hour}
        # The panels (the top of each dimension) and the API calls per hour, in one statement
        # over the rows read once.
        both = conn.execute(
            f"""{ENTITY_ROWS}
                SELECT * FROM (
                    SELECT 0 AS part, dimension, value, sum(success) AS ok, sum(failure) AS failed, sum(bytes),
                           min(hour), max(hour) AS hour
                    FROM rows GROUP BY dimension, value
                    QUALIFY row_number() OVER (PARTITION BY dimension ORDER BY sum(success) + sum(failure) DESC, value) <= $top
                    UNION ALL
                    SELECT 1, '', '', sum(success), sum(failure), 0, hour, hour FROM rows WHERE dimension = 'api' GROUP BY hour)
                ORDER BY part, dimension, CASE WHEN part = 0 THEN -(ok + failed) ELSE hour END, value""",
            {**params, "top": top},
        ).fetchall()
        rows = [r[1:] for r in both if r[0] == 0]
        volume = [(r[6], r[3], r[4]) for r in both if r[0] == 1]
        # The busiest related entities of each relationship (an instance role has thousands of
        # sessions), with how many there are in all.
        related = conn.execute(
            f"""SELECT direction, kind, other_type, other_id, sum(count), sum(bytes), min(first_ms), max(last_ms),
                       count(*) OVER (PARTITION BY direction, kind) FROM (
                   SELECT 'out' AS direction, kind, dst_type AS other_type, dst_id AS other_id, count, bytes, first_ms, last_ms, hour
                       FROM links WHERE skey = hash($id) AND src_id = $id
                   UNION ALL
                   SELECT 'in', kind, src_type, src_id, count, bytes, first_ms, last_ms, hour FROM {incoming}
               ) WHERE hour BETWEEN $first AND $last
               GROUP BY direction, kind, other_type, other_id
               QUALIFY row_number() OVER (PARTITION BY direction, kind ORDER BY sum(count) DESC, other_id) <= $shown
               ORDER BY kind, sum(count) DESC, other_id, direction""",
            {"id": entity_id, "first": first_hour, "last": last_hour, "shown": top * 4},
        ).fetchall()
    panels: dict[str, list[dict[str, Any]]] = {}
    for dimension, value, success, failure, nbytes, first, last in rows:
        panels.setdefault(dimension, []).append({
            "value": value, "success": int(success), "failure": int(failure), "bytes": int(nbytes),
            "firstSeen": first * HOUR_MS, "lastSeen": (last + 1) * HOUR_MS,
        })
    return {
        "type": entity_type,
        "id": entity_id,
        "scope": {"start": start_ms, "end": end_ms},
        "sessions": int(sessions) if entity_type == "aws_role" else None,
        "panels": panels,
        "hourlyApiVolume": [{"hour": h * HOUR_MS, "success": int(s), "failure": int(f)} for h, s, f in volume],
        "related": [
            {"direction": d, "kind": k, "type": t, "id": i, "count": int(c), "bytes": int(b),
             "firstSeen": first, "lastSeen": last}
            for d, k, t, i, c, b, first, last, _ in related
        ],
        "relatedTotals": [{"direction": d, "kind": k, "count": n}
                          for d, k, n in sorted({(d, k, int(n)) for d, k, *_, n in related})],
    }
