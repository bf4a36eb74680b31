"""A behavior graph's finding groups, as the console shows them: the list for a scope, and one
group's findings with the entities they involve as a graph of nodes and edges.

A group is what the investigation engine calls one (``investigate.engine.finding_groups``):
GuardDuty findings linked through a shared entity (access key, principal, user, instance,
public address) within 14 days of each other, two findings or more; its id is the engine's
``group_id``, stable while the group's earliest finding stays its earliest.

The group's graph:

    finding type ──involves──> instance, address, bucket, access key, account, user   (``links``, kind ``involves``)
    access key ───used_by───> the users and roles that called with it                  (``api_events``)

Findings of the same type are one node, with their count (Detective's "similar findings").
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Any

from gumshoe.graph.store import GraphStore
from gumshoe.investigate import engine
from gumshoe.investigate.ttp import TtpMap, TtpMapError

FINDING_TYPE = "finding_type"  # the node of the findings of one type


@lru_cache(maxsize=1)
def _ttps() -> TtpMap | None:
    try:
        return TtpMap.load()
    except TtpMapError:
        return None


def tactics_of(finding_type: str) -> list[str]:
    """The ATT&CK tactics of a GuardDuty finding type (investigate/data/ttp.toml); without a
    mapping for it, the type's threat purpose (``Recon`` of ``Recon:EC2/PortProbe...``)."""
    ttps = _ttps()
    mapped = ttps.for_finding(finding_type) if ttps is not None else ()
    if mapped:
        return sorted({t.tactic for t in mapped})
    purpose = finding_type.split(":", 1)[0] if ":" in finding_type else ""
    return [purpose] if purpose else []


def severity_label(severity: float) -> str:
    """GuardDuty's words for its severity numbers."""
    if severity >= 9:
        return "Critical"
    if severity >= 7:
        return "High"
    if severity >= 4:
        return "Medium"
    return "Low"


def _entity_id(finding: Any) -> str:
    """A finding's entity in the graph: its ARN when it has one (as the GuardDuty reader names it)."""
    return str(finding.arn or finding.id)


def _groups(store: GraphStore, graph_arn: str) -> list[tuple[str, list[Any]]]:
    with store.cursor() as conn:
        findings = engine._read_findings(conn)
    return [(engine.group_id(graph_arn, g), g) for g in engine.finding_groups(findings)]


def _summary(gid: str, group: list[Any]) -> dict[str, Any]:
    severity = max(f.severity for f in group)
    return {
        "id": gid, "severity": severity, "severityLabel": severity_label(severity), "count": len(group),
        "tactics": sorted({t for f in group for t in tactics_of(f.type)}),
        "types": sorted({f.type for f in group}),
        "firstSeen": min(f.start_ms for f in group), "lastSeen": max(f.end_ms for f in group),
    }


def finding_groups(store: GraphStore, graph_arn: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """The groups with a finding active in [start, end): the most severe first, then the latest."""
    out = [_summary(gid, g) for gid, g in _groups(store, graph_arn)
           if any(f.start_ms < end_ms and f.end_ms >= start_ms for f in g)]
    out.sort(key=lambda s: (-s["severity"], -s["lastSeen"], s["id"]))
    return out


def _titles(conn: Any, ids: list[str]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT id, arg_max(title, updated_ms) FROM findings WHERE id IN (SELECT unnest($ids::VARCHAR[])) GROUP BY id",
        {"ids": ids},
    ).fetchall()
    return {i: t or "" for i, t in rows}


def _involved(conn: Any, finding_ids: list[str]) -> list[tuple[str, str, str]]:
    """(finding entity, entity type, entity id) of the ``involves`` links of these findings."""
    rows = conn.execute(
        """SELECT DISTINCT l.src_id, l.dst_type, l.dst_id FROM links l
           JOIN (SELECT unnest($ids::VARCHAR[]) AS id) w ON l.skey = hash(w.id) AND l.src_id = w.id
           WHERE l.src_type = 'finding' AND l.kind = 'involves' AND l.dst_id <> ''""",
        {"ids": finding_ids},
    ).fetchall()
    return [(s, t, i) for s, t, i in rows]


def _users(conn: Any, findings: list[Any]) -> list[tuple[str, str]]:
    """(finding entity, user ARN) of findings that name an IAM user known to the graph."""
    wanted = {(f.account_id, f.user_name): _entity_id(f) for f in findings if f.user_name and f.account_id}
    if not wanted:
        return []
    rows = conn.execute(
        "SELECT DISTINCT id, account_id FROM entities WHERE type = 'aws_user' AND account_id IN "
        "(SELECT unnest($accounts::VARCHAR[]))",
        {"accounts": sorted({a for a, _ in wanted})},
    ).fetchall()
    out = []
    for arn, account in rows:
        name = arn.rsplit("/", 1)[-1]
        if (account, name) in wanted:
            out.append((wanted[account, name], arn))
    return out


def _key_owners(conn: Any, keys: list[str]) -> list[tuple[str, str, str]]:
    """(access key, principal type, principal id) of the users and roles that called with a key."""
    if not keys or not conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'api_events'").fetchone()[0]:
        return []
    rows = conn.execute(
        """SELECT DISTINCT access_key_id,
                  CASE WHEN principal_type = 'role_session' THEN 'aws_role' ELSE principal_type END,
                  CASE WHEN principal_type = 'role_session' THEN role_arn ELSE principal_id END
           FROM api_events WHERE access_key_id IN (SELECT unnest($keys::VARCHAR[]))
             AND principal_type IN ('aws_user', 'role_session') AND principal_id <> ''""",
        {"keys": keys},
    ).fetchall()
    return [(k, t, i) for k, t, i in rows if i]


def group(store: GraphStore, graph_arn: str, gid: str) -> dict[str, Any] | None:
    """One group: its summary, its findings by time, and its graph (nodes and edges); None if
    the graph has no such group."""
    found = next((g for i, g in _groups(store, graph_arn) if i == gid), None)
    if found is None:
        return None
    by_entity = {_entity_id(f): f for f in found}
    with store.cursor() as conn:
        titles = _titles(conn, [f.id for f in found])
        involved = _involved(conn, list(by_entity))
        users = _users(conn, found)
        owners = _key_owners(conn, sorted({i for _, t, i in involved if t == "access_key"}))
        known = {i: t for i, t in conn.execute(
            "SELECT DISTINCT e.id, e.type FROM entities e JOIN (SELECT unnest($ids::VARCHAR[]) AS id) w "
            "ON e.ekey = hash(w.id) AND e.id = w.id",
            {"ids": sorted({i for _, _, i in involved} | {i for _, _, i in owners} | {u for _, u in users})},
        ).fetchall()}

    findings = sorted(
        ({"id": f.id, "entityId": _entity_id(f), "type": f.type, "title": titles.get(f.id, ""),
          "severity": f.severity, "severityLabel": severity_label(f.severity), "tactics": tactics_of(f.type),
          "firstSeen": f.start_ms, "lastSeen": f.end_ms} for f in found),
        key=lambda f: (f["firstSeen"], f["id"]))

    nodes: dict[str, dict[str, Any]] = {}
    for f in findings:
        key = f"{FINDING_TYPE}:{f['type']}"
        node = nodes.setdefault(key, {"key": key, "type": FINDING_TYPE, "id": f["type"], "label": f["type"],
                                      "count": 0, "severity": 0.0, "findings": [], "link": None})
        node["count"] += 1
        node["findings"].append(f["entityId"])
        if f["severity"] >= node["severity"]:
            node["severity"] = f["severity"]
            node["link"] = {"type": "finding", "id": f["entityId"]}  # the most severe of them
    type_of = {f["entityId"]: f"{FINDING_TYPE}:{f['type']}" for f in findings}

    edges: dict[tuple[str, str, str], set[str]] = defaultdict(set)

    def entity_node(entity_type: str, entity_id: str) -> str:
        key = f"{entity_type}:{entity_id}"
        if key not in nodes:
            linked = known.get(entity_id)
            nodes[key] = {"key": key, "type": linked or entity_type, "id": entity_id, "label": entity_id, "count": 1,
                          "severity": None, "findings": [],
                          "link": {"type": linked, "id": entity_id} if linked else None}
        return key

    for finding_entity, entity_type, entity_id in involved:
        edges[type_of[finding_entity], entity_node(entity_type, entity_id), "involves"].add(finding_entity)
    for finding_entity, user in users:
        edges[type_of[finding_entity], entity_node("aws_user", user), "involves"].add(finding_entity)
    for key_id, principal_type, principal_id in owners:
        edges[f"access_key:{key_id}", entity_node(principal_type, principal_id), "used_by"].add(key_id)

    return {
        **_summary(gid, found),
        "findings": findings,
        "nodes": sorted(nodes.values(), key=lambda n: (n["type"] != FINDING_TYPE, n["type"], n["id"])),
        "edges": [{"source": s, "target": t, "kind": k, "count": len(why) if k == "involves" else 1}
                  for (s, t, k), why in sorted(edges.items())],
    }
