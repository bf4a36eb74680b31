"""Graph lookups and access rules shared by the api modules.

Access rule: a graph ARN the caller does not administer answers ResourceNotFoundException,
exactly as a graph that does not exist, so that no caller learns about another's graphs.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select

from gumshoe.errors import ResourceNotFoundException
from gumshoe.store.queries import Query, Snapshot
from gumshoe.store.schema import graphs, members

GRAPH_BY_ARN = Query(select(graphs).where(graphs.c.arn == bindparam("arn")))
GRAPH_OF_ADMIN = Query(
    select(graphs).where(graphs.c.administrator_id == bindparam("account"), graphs.c.region == bindparam("region"))
)
MEMBER = Query(
    select(members).where(members.c.graph_arn == bindparam("arn"), members.c.account_id == bindparam("account"))
)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def new_graph_arn(region: str, account_id: str) -> str:
    return f"arn:{partition_of(region)}:detective:{region}:{account_id}:graph:{uuid.uuid4().hex}"


def arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def graph_not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"The behavior graph {arn} does not exist in this Region, or the calling account is not its "
        "administrator account."
    )


def administered_graph(snap: Snapshot, arn: str, account_id: str, region: str) -> Any:
    row = snap.first(GRAPH_BY_ARN, arn=arn)
    if row is None or row.administrator_id != account_id or row.region != region:
        raise graph_not_found(arn)
    return row


def graph_of_admin(snap: Snapshot, account_id: str, region: str) -> Any:
    return snap.first(GRAPH_OF_ADMIN, account=account_id, region=region)


def membership(snap: Snapshot, arn: str, account_id: str, region: str) -> Any:
    """The caller's own membership in a graph it was invited to or enabled in."""
    row = snap.first(MEMBER, arn=arn, account=account_id)
    if row is None or row.region != region or row.administrator_id == account_id:
        raise ResourceNotFoundException(
            f"The calling account has no invitation to or membership in the behavior graph {arn} in this Region."
        )
    return row
