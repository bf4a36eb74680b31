"""The VPC flow drill-down of an IP address or an EC2 instance (Detective's "Overall VPC flow
volume" details): its flow records in a window, one row per conversation, with the exact sums
of the raw ``flows`` table; and, for the rows an analyst ticks, their bytes per hour.

A flow record is one direction of traffic. Seen from the entity, it has a local side and a
remote side::

    ip_address X     the side whose address is X (src_addr = X: sent by X, "out")
    ec2_instance I   flow_direction: egress (or none, as the profile's peers panel takes it)
                     is sent by the instance, "out"; ingress is received, "in"

A row is (local address, local port, remote address, remote port, protocol, direction):
both directions of a conversation meet in one row, their bytes as *bytes out* (sent by the
local side) and *bytes in* (received). The direction is who opened the conversation, read
from the ports: the side with the lower port is the service, so local 22 / remote 41000 is
inbound and local 50000 / remote 443 outbound. Where the ports do not say (equal, or absent
as for ICMP), the record's own direction is the row's. Accepted counts the records whose
action is not REJECT (as the profile's chart and panels count them), rejected the others.

Every figure is one GROUP BY of the raw records in the window; a page is LIMIT / OFFSET of
it, sorted by a whitelisted column. A row names its records as raw-event searches
(console/events.py's page): the records it received, and the ones it sent.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from gumshoe.clock import HOUR_MS
from gumshoe.console.names import protocol_label
from gumshoe.graph.store import GraphStore

ENTITY_TYPES = ("ip_address", "ec2_instance")
PAGE_SIZE = 50
MAX_PLOTTED = 8  # series on one chart, each with its own colour
# Colours of the plotted rows (Okabe and Ito's palette, told apart with most colour blindness).
COLORS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#6a3d9a", "#444444")

# Which records are the entity's, and which of them its own side sent.
_RECORDS = {
    "ip_address": "(src_addr = $id OR dst_addr = $id)",
    "ec2_instance": "instance_id = $id",
}
_SENT = {
    "ip_address": "src_addr = $id",
    "ec2_instance": "flow_direction <> 'ingress'",
}
# Sort keys of the page -> their SQL (never the request's text).
SORTS = {
    "bytes": "bytes_in + bytes_out",
    "bytes_in": "bytes_in",
    "bytes_out": "bytes_out",
    "accepted": "accepted",
    "rejected": "rejected",
}
SORT_LABELS = {"bytes": "bytes in and out", "bytes_in": "bytes in", "bytes_out": "bytes out",
               "accepted": "accepted records", "rejected": "rejected records"}
DIRECTIONS = {"in": "inbound", "out": "outbound"}
_KEY = ("local_addr", "local_port", "remote_addr", "remote_port", "protocol", "direction")


@dataclass(frozen=True, order=True)
class Conversation:
    """The key of a drill-down row."""

    local: str
    local_port: int  # -1: the records had none
    remote: str
    remote_port: int
    protocol: int
    direction: str  # "in" | "out"

    @property
    def token(self) -> str:
        """The row in a URL (``plot=``): its six parts, comma-separated."""
        return ",".join((self.local, str(self.local_port), self.remote, str(self.remote_port), str(self.protocol),
                         self.direction))

    @property
    def by_ports(self) -> bool:
        """Whether the ports told the direction (so both directions' records are the row's)."""
        return self.local_port > 0 and self.remote_port > 0 and self.local_port != self.remote_port

    @property
    def label(self) -> str:
        """The row in words, for a chart's legend: ``10.0.1.5:22 ← 203.0.113.66:40001 6 TCP``."""
        arrow = "←" if self.direction == "in" else "→"
        return (f"{_endpoint(self.local, self.local_port)} {arrow} {_endpoint(self.remote, self.remote_port)} "
                f"{protocol_label(self.protocol)}")


def _endpoint(address: str, port: int) -> str:
    shown = f"[{address}]" if ":" in address else (address or "-")
    return shown if port < 0 else f"{shown}:{port}"


def parse_token(text: str) -> Conversation | None:
    """The row a ``plot=`` value names, or None when it names none."""
    parts = text.split(",")
    if len(parts) != 6 or parts[5] not in DIRECTIONS:
        return None
    local, local_port, remote, remote_port, protocol, direction = parts
    for address in (local, remote):
        if address:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return None
    numbers = []
    for value, high in ((local_port, 65535), (remote_port, 65535), (protocol, 255)):
        if value != "-1" and not (value.isascii() and value.isdigit() and len(value) <= 5 and int(value) <= high):
            return None
        numbers.append(int(value))
    return Conversation(local, numbers[0], remote, numbers[1], numbers[2], direction)


def _keyed(entity_type: str) -> str:
    """The entity's records in the window (``$id``, ``$start``, ``$end``) with their row's key,
    whether the local side sent them (``sent``), their bytes, action and times."""
    sent = _SENT[entity_type]
    return f"""
        oriented AS (
            SELECT time_ms, end_ms, bytes, action, protocol, sent,
                   CASE WHEN sent THEN src_addr ELSE dst_addr END AS local_addr,
                   CASE WHEN sent THEN src_port ELSE dst_port END AS local_port,
                   CASE WHEN sent THEN dst_addr ELSE src_addr END AS remote_addr,
                   CASE WHEN sent THEN dst_port ELSE src_port END AS remote_port
            FROM (SELECT *, COALESCE({sent}, true) AS sent FROM flows
                  WHERE time_ms >= $start AND time_ms < $end AND {_RECORDS[entity_type]})),
        keyed AS (
            SELECT *, CASE WHEN local_port > 0 AND remote_port > 0 AND local_port <> remote_port
                           THEN CASE WHEN local_port < remote_port THEN 'in' ELSE 'out' END
                           WHEN sent THEN 'out' ELSE 'in' END AS direction
            FROM oriented)"""


def drilldown(store: GraphStore, entity_type: str, entity_id: str, start_ms: int, end_ms: int,
              sort: str = "bytes", descending: bool = True, offset: int = 0, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """A page of the entity's conversations in [start, end), sorted, with the window's totals:
    {"rows": [...], "total": rows in all, "records": ..., "bytes": ...}."""
    if entity_type not in _RECORDS:
        return {"rows": [], "total": 0, "records": 0, "bytes": 0}
    order = SORTS.get(sort, SORTS["bytes"]) + (" DESC" if descending else " ASC")
    params = {"id": entity_id, "start": start_ms, "end": end_ms, "limit": limit, "offset": offset}
    sql = f"""WITH {_keyed(entity_type)}
        SELECT {", ".join(_KEY)}, bytes_in, bytes_out, records_in, records_out, accepted, rejected, first_ms,
               last_ms, count(*) OVER () AS total, sum(records_in + records_out) OVER () AS records,
               sum(bytes_in + bytes_out) OVER () AS all_bytes
        FROM (SELECT {", ".join(_KEY)},
                     COALESCE(sum(bytes) FILTER (WHERE NOT sent), 0) AS bytes_in,
                     COALESCE(sum(bytes) FILTER (WHERE sent), 0) AS bytes_out,
                     count(*) FILTER (WHERE NOT sent) AS records_in, count(*) FILTER (WHERE sent) AS records_out,
                     count(*) FILTER (WHERE action <> 'REJECT') AS accepted,
                     count(*) FILTER (WHERE action = 'REJECT') AS rejected,
                     min(time_ms) AS first_ms, max(end_ms) AS last_ms
              FROM keyed GROUP BY {", ".join(_KEY)})
        ORDER BY {order}, {", ".join(_KEY)} LIMIT $limit OFFSET $offset"""
    with store.cursor() as conn:
        rows = conn.execute(sql, params).fetchall()
        if not rows and offset > 0:  # past the last page: the totals still
            rows = conn.execute(sql, {**params, "offset": 0, "limit": 1}).fetchall()
            found = rows[0][-3:] if rows else (0, 0, 0)
            return {"rows": [], "total": int(found[0]), "records": int(found[1]), "bytes": int(found[2])}
    out = []
    for row in rows:
        key = Conversation(*row[:6])
        bytes_in, bytes_out, records_in, records_out, accepted, rejected, first, last = row[6:14]
        out.append({"key": key, "token": key.token, "label": key.label, "bytesIn": int(bytes_in),
                    "bytesOut": int(bytes_out), "recordsIn": int(records_in), "recordsOut": int(records_out),
                    "accepted": int(accepted), "rejected": int(rejected), "firstSeen": first, "lastSeen": last})
    total, records, all_bytes = rows[0][-3:] if rows else (0, 0, 0)
    return {"rows": out, "total": int(total), "records": int(records or 0), "bytes": int(all_bytes or 0)}


def series(store: GraphStore, entity_type: str, entity_id: str, start_ms: int, end_ms: int,
           keys: list[Conversation]) -> dict[Conversation, dict[int, int]]:
    """The bytes (in and out) of each of these rows per hour in [start, end): {row: {hour ms: bytes}},
    hours by the records' start, as the hourly aggregates count them."""
    wanted = sorted(set(keys))
    if entity_type not in _RECORDS or not wanted:
        return {}
    params: dict[str, Any] = {"id": entity_id, "start": start_ms, "end": end_ms}
    values = []
    for i, key in enumerate(wanted):
        params.update({f"l{i}": key.local, f"lp{i}": key.local_port, f"r{i}": key.remote, f"rp{i}": key.remote_port,
                       f"p{i}": key.protocol, f"d{i}": key.direction})
        values.append(f"({i}, $l{i}::VARCHAR, $lp{i}::INTEGER, $r{i}::VARCHAR, $rp{i}::INTEGER, $p{i}::INTEGER, "
                      f"$d{i}::VARCHAR)")
    sql = f"""WITH {_keyed(entity_type)}
        SELECT w.i, keyed.time_ms // {HOUR_MS}, sum(keyed.bytes)
        FROM keyed JOIN (VALUES {", ".join(values)}) AS w(i, l, lp, r, rp, p, d)
          ON keyed.local_addr = w.l AND keyed.local_port = w.lp AND keyed.remote_addr = w.r
         AND keyed.remote_port = w.rp AND keyed.protocol = w.p AND keyed.direction = w.d
        GROUP BY 1, 2 ORDER BY 1, 2"""
    with store.cursor() as conn:
        rows = conn.execute(sql, params).fetchall()
    out: dict[Conversation, dict[int, int]] = {key: {} for key in wanted}
    for i, hour, nbytes in rows:
        out[wanted[i]][hour * HOUR_MS] = int(nbytes)
    return out


def record_searches(entity_type: str, entity_id: str, key: Conversation) -> dict[str, dict[str, str]]:
    """The raw-event searches of a row's records: {"in": params, "out": params} (URL
    parameters of console/events.py's page, without the scope time), the records it
    received and those it sent; only its own direction's when the ports did not tell it.
    For an instance the searches name it too; its traffic between two of its own addresses,
    recorded by both interfaces, is found by both rows' searches."""
    out = {}
    for direction, (src, sport, dst, dport) in (
            ("in", (key.remote, key.remote_port, key.local, key.local_port)),
            ("out", (key.local, key.local_port, key.remote, key.remote_port))):
        if not key.by_ports and direction != key.direction:
            continue
        filters = [("instance_id", entity_id)] if entity_type == "ec2_instance" else []
        filters += [("src_addr", src), ("src_port", str(sport)), ("dst_addr", dst), ("dst_port", str(dport)),
                    ("protocol", str(key.protocol))]
        params = {"source": "flows", "join": "and"}
        for i, (field, value) in enumerate(filters):
            params.update({f"f{i}": field, f"o{i}": "equals", f"v{i}": value})
        out[direction] = params
    return out
