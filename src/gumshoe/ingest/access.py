"""Who may ingest what (docs/INGESTION.md, "Security").

Server-side locations (folders, files, ``s3://`` prefixes) are the operator's. Through the
API a caller may name only locations inside the configured ``sources`` (read as the watch
reads them: trusted) or under the configured ``ingest_roots`` (read with the caller's
``Permit``); a path is resolved, symlinks and ``..`` included, before it is checked, and a
refusal says the same whether the path exists or not. Anything else a caller wants loaded it
uploads: the client reads its own files and sends them (``POST /_gumshoe/v1/upload``), and
their records are checked against the caller's ``Permit`` too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from gumshoe.store.schema import graphs, members


@dataclass(frozen=True)
class Permit:
    """Whose records an ingestion asked for through the API may load, and into which graphs.

    A record of the caller's own account enters the graphs that account contributes to; a
    record of an account that is a member of a graph the caller administers enters only the
    graphs the caller administers (an administrator may load its members' logs, as an
    organization trail holds them); any other record is refused. The operator's configured
    sources, and ``gumshoe ingest --data-dir``, run with no permit: trusted.
    """

    caller: str
    administered: frozenset[str]  # graph ARNs
    members: frozenset[str]  # accounts that are members of those graphs

    def refuses(self, account: str) -> bool:
        return bool(account) and account != self.caller and account not in self.members

    def allows(self, account: str, graph_arn: str) -> bool:
        return account == self.caller or graph_arn in self.administered

    def reason(self, account: str) -> str:
        return f"account {account} is not yours ({self.caller}) or a member of a graph you administer"


def permit_for(conn: Connection, account: str) -> Permit:
    administered = frozenset(arn for (arn,) in conn.execute(
        select(graphs.c.arn).where(graphs.c.administrator_id == account)))
    members_of = frozenset(a for (a,) in conn.execute(
        select(members.c.account_id).where(members.c.graph_arn.in_(sorted(administered))))) if administered else frozenset()
    return Permit(account, administered, members_of)




@dataclass(frozen=True)
class Grant:
    """A location a caller may have the server read, and whether it is trusted."""

    location: str
    trusted: bool  # inside a configured source: read as the watch reads it


class LocationRefused(Exception):
    """A location outside the configured sources and ingest roots."""


def grant(location: str, sources: tuple[str, ...], roots: tuple[str, ...]) -> Grant:
    """Whether an API caller may name ``location``: inside a source (trusted), under an
    ingest root (checked against the caller), or not at all (``LocationRefused``, with the
    same message whether or not the location exists)."""
    if location.startswith("s3://"):
        if any(_s3_inside(location, s) for s in sources if s.startswith("s3://")):
            return Grant(location, True)
        if any(_s3_inside(location, r) for r in roots if r.startswith("s3://")):
            return Grant(location, False)
    else:
        path = _resolved(location)
        if path is not None:
            if any(_path_inside(path, s) for s in sources if not s.startswith("s3://")):
                return Grant(str(path), True)
            if any(_path_inside(path, r) for r in roots if not r.startswith("s3://")):
                return Grant(str(path), False)
    raise LocationRefused(
        f"{location} is not inside a source or ingest root of this server. To load your own files, "
        "upload them (gumshoe ingest PATH sends them to the server); an operator can list server "
        "folders callers may name in ingest_roots."
    )


def _resolved(location: str) -> Path | None:
    if not location or "\x00" in location:
        return None
    try:
        # Absolute, symlinks and ".." resolved as far as the path exists: the check is on
        # where a read would really go.
        return Path(os.path.realpath(Path(location).expanduser()))
    except (OSError, ValueError, RuntimeError):
        return None


def _path_inside(path: Path, root: str) -> bool:
    base = _resolved(root)
    return base is not None and (path == base or path.is_relative_to(base))


def _s3_inside(location: str, root: str) -> bool:
    """An S3 location inside a root prefix: the same bucket, and the key prefix extends the
    root's at a "/" (``s3://b/logs`` holds ``s3://b/logs/x``, not ``s3://b/logs2``)."""
    root = root.rstrip("/")
    return location == root or location.startswith(root + "/")
