"""CreateGraph, DeleteGraph, ListGraphs."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, insert, select

from gumshoe.api._context import Context
from gumshoe.api._details import (
    GRAPH_LEVEL,
    PACKAGES,
    PACKAGES_ON_CREATE,
    set_ingest_state,
)
from gumshoe.api._graphs import administered_graph, graph_of_admin, new_graph_arn
from gumshoe.api._paging import PagedQuery, page_prepared
from gumshoe.errors import AccessDeniedException, ServiceQuotaExceededException
from gumshoe.protocol.model import service_model
from gumshoe.protocol.serializer import compile_output
from gumshoe.store.queries import SqlAlchemySnapshot as tx
from gumshoe.store.schema import (
    graph_revisions,
    graph_tags,
    graphs,
    ingest_history,
    ingest_states,
    investigation_indicators,
    investigations,
    members,
    organization_admins,
    volume_usage,
)


def create_graph_for(conn: Connection, account_id: str, region: str, now_ms: int, *, organization: bool) -> str:
    arn = new_graph_arn(region, account_id)
    conn.execute(
        insert(graphs).values(
            arn=arn, administrator_id=account_id, region=region, created_ms=now_ms,
            is_organization_graph=organization, auto_enable=False,
        )
    )
    # The administrator account contributes to its own graph from the start.
    conn.execute(
        insert(members).values(
            graph_arn=arn, account_id=account_id, administrator_id=account_id, region=region,
            email=None, status="ENABLED", disabled_reason=None, invitation_type=None,
            invited_ms=None, updated_ms=now_ms, seq=0, enabled_ms=now_ms, email_notification=False,
        )
    )
    for package in PACKAGES:
        state = "STARTED" if package in PACKAGES_ON_CREATE else "DISABLED"
        set_ingest_state(conn, arn, GRAPH_LEVEL, package, state, now_ms)
        set_ingest_state(conn, arn, account_id, package, state, now_ms)
    return arn


def delete_graph_rows(conn: Connection, arn: str) -> None:
    for table in (graph_tags,):
        conn.execute(delete(table).where(table.c.graph_arn == arn))
    for table in (members, ingest_states, ingest_history, volume_usage, graph_revisions):
        conn.execute(delete(table).where(table.c.graph_arn == arn))
    ids = select(investigations.c.investigation_id).where(investigations.c.graph_arn == arn)
    conn.execute(delete(investigation_indicators).where(investigation_indicators.c.investigation_id.in_(ids)))
    conn.execute(delete(investigations).where(investigations.c.graph_arn == arn))
    conn.execute(delete(graphs).where(graphs.c.arn == arn))


def create_graph(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    caller = ctx.caller
    if not ctx.directory.guardduty_enrolled(caller.account_id):
        raise AccessDeniedException(
            f"Account {caller.account_id} is not enrolled in Amazon GuardDuty, which Detective requires "
            "before it can be enabled. Enroll the account (guardduty = true in the account directory) and retry."
        )
    with ctx.store.write() as conn:
        existing = graph_of_admin(tx(conn), caller.account_id, caller.region)
        if existing is not None:
            # One graph per administrator and Region: a repeat call answers the same ARN.
            return {"GraphArn": existing.arn}
        # Detective checks the account's own data volume against the graph quota first.
        volume = ctx.directory.estimated_daily_volume(caller.account_id) or 0
        if volume > ctx.settings.graph_volume_limit:
            raise ServiceQuotaExceededException(
                f"Account {caller.account_id} produces about {volume} bytes of data a day, more than the "
                f"{ctx.settings.graph_volume_limit} bytes a behavior graph may ingest, so Detective cannot be enabled.",
                resources=[caller.account_id],
            )
        delegated = conn.execute(
            select(organization_admins.c.account_id).where(organization_admins.c.region == caller.region)
        ).scalar()
        arn = create_graph_for(
            conn, caller.account_id, caller.region, ctx.now_ms, organization=delegated == caller.account_id
        )
        for key, value in (params.get("Tags") or {}).items():
            conn.execute(insert(graph_tags).values(graph_arn=arn, key=key, value=value))
    return {"GraphArn": arn}


def delete_graph(ctx: Context, params: dict[str, Any]) -> None:
    arn = params["GraphArn"]
    with ctx.store.write() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        delete_graph_rows(conn, arn)
    ctx.services.graph_deleted(arn)


_LIST_GRAPHS = PagedQuery(
    select(graphs.c.arn, graphs.c.created_ms).where(
        graphs.c.administrator_id == bindparam("account"), graphs.c.region == bindparam("region")
    ),
    (graphs.c.created_ms, graphs.c.arn),
)


_LIST_GRAPHS_OUTPUT = compile_output(service_model().operation_model("ListGraphs").output_shape)
_LIST_GRAPHS_ANSWERS = 4096


def list_graphs(ctx: Context, params: dict[str, Any]) -> bytes:
    """The caller's graphs. The hottest read of automation that polls: its serialized answer is
    kept per caller and page until the database changes (ControlStore.data_version)."""
    caller = ctx.caller
    key = (caller.account_id, caller.region, params.get("MaxResults"), params.get("NextToken"))
    answers = ctx.services.list_graphs_answers
    version = ctx.store.data_version()
    if version is not None:
        hit = answers.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
    with ctx.store.single() as snap:  # one statement
        rows, token = page_prepared(
            ctx, snap, _LIST_GRAPHS, params, binding=("ListGraphs",), account=caller.account_id, region=caller.region
        )
    payload = orjson.dumps(_LIST_GRAPHS_OUTPUT({
        "GraphList": [{"Arn": r.arn, "CreatedTime": r.created_ms / 1000} for r in rows],
        "NextToken": token,
    }))
    if version is not None:
        if len(answers) >= _LIST_GRAPHS_ANSWERS:
            answers.clear()
        answers[key] = (version, payload)
    return payload
