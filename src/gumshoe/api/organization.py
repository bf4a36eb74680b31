"""The Organizations integration: the management account designates the Detective
administrator account; that account's graph becomes the organization behavior graph.

- Enable/Disable/ListOrganizationAdminAccounts: only the organization's management account.
- Describe/UpdateOrganizationConfiguration: only the delegated administrator, on its graph.
- An existing graph of the designated account becomes the organization graph as it is: its
  invited members keep InvitationType INVITATION; organization accounts join only when the
  administrator enables them with CreateMembers, or by AutoEnable when they join later.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from gumshoe.api._context import Context, Services
from gumshoe.api._details import count_members
from gumshoe.api._graphs import graph_of_admin
from gumshoe.api._paging import page_list
from gumshoe.api.graphs import create_graph_for, delete_graph_rows
from gumshoe.api.members import (
    ENABLE_ORGANIZATION_MEMBER,
    MAX_MEMBERS_PER_GRAPH,
    last_seq,
    new_member_row,
)
from gumshoe.clock import now_ms
from gumshoe.errors import AccessDeniedException, ValidationException
from gumshoe.jobs import enqueue
from gumshoe.store.db import ControlStore
from gumshoe.store.queries import SqlAlchemySnapshot as tx
from gumshoe.store.schema import graphs, members, meta, organization_admins

log = logging.getLogger("gumshoe.organization")


def _require_management(ctx: Context) -> None:
    if not ctx.directory.is_management_account(ctx.caller.account_id):
        raise AccessDeniedException(
            f"Account {ctx.caller.account_id} is not the management account of an organization. Only the "
            "organization management account can manage the Detective administrator account."
        )


def enable_organization_admin_account(ctx: Context, params: dict[str, Any]) -> None:
    _require_management(ctx)
    account_id = params["AccountId"]
    region = ctx.caller.region
    if not ctx.directory.in_organization(account_id):
        raise ValidationException(
            f"Account {account_id} is not an account of the organization.", error_code="INVALID_REQUEST_BODY"
        )
    with ctx.store.write() as conn:
        designated = conn.execute(select(organization_admins)).all()
        for row in designated:
            if row.account_id != account_id:
                where = "this Region" if row.region == region else f"Region {row.region}"
                raise ValidationException(
                    f"Account {row.account_id} is already the Detective administrator account for the organization "
                    f"in {where}. The administrator account must be the same in all Regions: remove it with "
                    "DisableOrganizationAdminAccount in every Region first.",
                    error_code="INVALID_REQUEST_BODY",
                )
        if any(row.region == region for row in designated):
            return
        graph = graph_of_admin(tx(conn), account_id, region)
        if graph is None:
            arn = create_graph_for(conn, account_id, region, ctx.now_ms, organization=True)
        else:
            arn = graph.arn
            conn.execute(update(graphs).where(graphs.c.arn == arn).values(is_organization_graph=True))
        conn.execute(
            insert(organization_admins).values(region=region, account_id=account_id, graph_arn=arn, delegation_ms=ctx.now_ms)
        )


def disable_organization_admin_account(ctx: Context, params: dict[str, Any]) -> None:
    _require_management(ctx)
    region = ctx.caller.region
    with ctx.store.write() as conn:
        row = conn.execute(select(organization_admins).where(organization_admins.c.region == region)).first()
        if row is None:
            raise ValidationException(
                "No Detective administrator account is designated for the organization in this Region.",
                error_code="INVALID_REQUEST_BODY",
            )
        conn.execute(delete(organization_admins).where(organization_admins.c.region == region))
        graph = graph_of_admin(tx(conn), row.account_id, region)
        deleted = None
        if graph is not None:
            delete_graph_rows(conn, graph.arn)
            deleted = graph.arn
    if deleted:
        ctx.services.graph_deleted(deleted)


def list_organization_admin_accounts(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _require_management(ctx)
    region = ctx.caller.region
    with ctx.store.read() as conn:
        rows = conn.execute(select(organization_admins).where(organization_admins.c.region == region)).all()
        admins = []
        for row in rows:
            graph = graph_of_admin(tx(conn), row.account_id, region)
            admins.append(
                {
                    "AccountId": row.account_id,
                    "GraphArn": graph.arn if graph is not None else None,
                    "DelegationTime": row.delegation_ms / 1000,
                }
            )
    chunk, token = page_list(ctx, admins, params, binding=("ListOrganizationAdminAccounts",))
    return {"Administrators": chunk, "NextToken": token}


def _organization_graph(ctx: Context, conn: Connection, arn: str) -> Any:
    caller = ctx.caller
    row = conn.execute(select(graphs).where(graphs.c.arn == arn)).first()
    delegated = conn.execute(
        select(organization_admins.c.account_id).where(organization_admins.c.region == caller.region)
    ).scalar()
    if row is None or row.administrator_id != caller.account_id or delegated != caller.account_id or row.region != caller.region:
        raise AccessDeniedException(
            f"Only the Detective administrator account for the organization can manage the configuration of "
            f"the organization behavior graph, and {arn} is not that account's organization behavior graph."
        )
    return row


def organization_graph_of(store: ControlStore, account_id: str, region: str) -> str | None:
    """The graph that Describe/UpdateOrganizationConfiguration accept from ``account_id`` in
    ``region`` (the account is the organization's Detective administrator there and
    administers that graph), or None. For callers that show the organization's part of a
    page only to that account, before asking the api functions themselves."""
    with store.read() as conn:
        delegated = conn.execute(
            select(organization_admins.c.account_id).where(organization_admins.c.region == region)
        ).scalar()
        if delegated != account_id:
            return None
        graph = graph_of_admin(tx(conn), account_id, region)
    return str(graph.arn) if graph is not None else None


def describe_organization_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = _organization_graph(ctx, conn, params["GraphArn"])
    return {"AutoEnable": bool(row.auto_enable)}


def update_organization_configuration(ctx: Context, params: dict[str, Any]) -> None:
    with ctx.store.write() as conn:
        row = _organization_graph(ctx, conn, params["GraphArn"])
        conn.execute(update(graphs).where(graphs.c.arn == row.arn).values(auto_enable=bool(params.get("AutoEnable", False))))


_SNAPSHOT_KEY = "organization_accounts"


def sync_organization(services: Services) -> int:
    """Enable accounts that joined the organization since the last look, where AutoEnable is on.

    The last seen set of organization accounts is kept in the store, so an account added while
    the server was down is still found new at the next start.
    """
    current = set(services.directory.organization_accounts())
    started = 0
    ts = now_ms()
    with services.store.write() as conn:
        raw = conn.execute(select(meta.c.value).where(meta.c.key == _SNAPSHOT_KEY)).scalar()
        previous = set(orjson.loads(raw)) if raw is not None else None
        snapshot = orjson.dumps(sorted(current)).decode()
        if raw is None:
            conn.execute(insert(meta).values(key=_SNAPSHOT_KEY, value=snapshot))
        else:
            conn.execute(update(meta).where(meta.c.key == _SNAPSHOT_KEY).values(value=snapshot))
        if previous is None:
            return 0
        joined = sorted(current - previous)
        if not joined:
            return 0
        org_graphs = conn.execute(
            select(graphs).where(graphs.c.is_organization_graph.is_(True), graphs.c.auto_enable.is_(True))
        ).all()
        for graph in org_graphs:
            for account_id in joined:
                if account_id == graph.administrator_id:
                    continue
                present = conn.execute(
                    select(func.count()).select_from(members).where(
                        members.c.graph_arn == graph.arn, members.c.account_id == account_id
                    )
                ).scalar_one()
                if present:
                    continue
                if count_members(conn, graph.arn, graph.administrator_id) >= MAX_MEMBERS_PER_GRAPH:
                    log.warning("auto-enable skipped account=%s graph=%s reason=member-quota", account_id, graph.arn)
                    continue
                row = new_member_row(
                    graph.arn, account_id, graph.administrator_id, graph.region, last_seq(conn, graph.arn) + 1, ts,
                    email=services.directory.email_of(account_id), organization=True,
                )
                conn.execute(insert(members).values(**row))
                enqueue(conn, ENABLE_ORGANIZATION_MEMBER, {"graph": graph.arn, "account": account_id},
                        delay=services.settings.job_delay)
                started += 1
                log.info("auto-enable account=%s graph=%s", account_id, graph.arn)
    return started
