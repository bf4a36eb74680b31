"""Serialized MemberDetail objects per graph, reused until the graph's revision moves.

ListMembers and GetMembers answer from here: a page of 200 members is a slice of prebuilt
JSON fragments instead of 200 rows read, joined with their ingest states and volumes, and
serialized again. Correctness rests on ``graph_revisions``: SQLite triggers bump a graph's
revision on every change to its members, ingest states or volume, from any code path or
process, and the revision is read in the same read transaction as the graph itself, so a
cached entry is served only for exactly the state it was built from. Without triggers (other
databases) ``revision`` is None and callers build their answer the ordinary way.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import bindparam, select

from gumshoe.api._details import member_details
from gumshoe.protocol.model import service_model
from gumshoe.protocol.serializer import compile_output
from gumshoe.store.queries import Query, Snapshot
from gumshoe.store.schema import graph_revisions, members

_REVISION = Query(select(graph_revisions.c.rev).where(graph_revisions.c.graph_arn == bindparam("arn")))
_ALL_MEMBERS = Query(select(members).where(members.c.graph_arn == bindparam("arn")).order_by(members.c.seq))


@dataclass(frozen=True)
class GraphMembers:
    """All of one graph's members in invitation order, each as its serialized MemberDetail."""

    revision: int
    graph_limit: int
    seqs: list[int]
    fragments: list[bytes]
    by_account: dict[str, int]

    def page_after(self, after_seq: int | None, limit: int) -> tuple[list[bytes], int | None]:
        """Up to ``limit`` fragments after a sequence number, and the last one's sequence
        number when more follow."""
        start = 0 if after_seq is None else bisect.bisect_right(self.seqs, after_seq)
        end = start + limit
        more = end < len(self.seqs)
        return self.fragments[start:end], self.seqs[end - 1] if more else None


class MemberDetailCache:
    def __init__(self, max_graphs: int = 64) -> None:
        self.max_graphs = max_graphs
        self._entries: OrderedDict[str, GraphMembers] = OrderedDict()
        self._write = compile_output(service_model().shape_for("MemberDetail"))

    @staticmethod
    def revision(snap: Snapshot, arn: str) -> int | None:
        revision = snap.scalar(_REVISION, arn=arn)
        return int(revision) if revision is not None else None

    def get(self, snap: Snapshot, arn: str, revision: int, graph_limit: int) -> GraphMembers:
        entry = self._entries.get(arn)
        if entry is not None and entry.revision == revision and entry.graph_limit == graph_limit:
            self._entries.move_to_end(arn)
            return entry
        rows = snap.all(_ALL_MEMBERS, arn=arn)
        details = member_details(snap, rows, graph_limit)
        write = self._write
        entry = GraphMembers(
            revision=revision,
            graph_limit=graph_limit,
            seqs=[r.seq for r in rows],
            fragments=[orjson.dumps(write(d)) for d in details],
            by_account={r.account_id: i for i, r in enumerate(rows)},
        )
        self._entries[arn] = entry
        self._entries.move_to_end(arn)
        while len(self._entries) > self.max_graphs:
            self._entries.popitem(last=False)
        return entry

    def forget(self, arn: str) -> None:
        self._entries.pop(arn, None)


def json_array(fragments: list[bytes]) -> bytes:
    return b"[" + b",".join(fragments) + b"]"


def json_object(**members: Any) -> bytes:
    """An object from prebuilt member values (bytes) and plain ones (serialized here);
    None values are left out, as the serializer does."""
    parts = []
    for name, value in members.items():
        if value is None:
            continue
        encoded = value if isinstance(value, bytes) else orjson.dumps(value)
        parts.append(orjson.dumps(name) + b":" + encoded)
    return b"{" + b",".join(parts) + b"}"
