"""The member account's side: ListInvitations, AcceptInvitation, RejectInvitation,
DisassociateMembership."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select

from gumshoe.api._context import Context
from gumshoe.api._details import forget_member, member_details
from gumshoe.api._graphs import membership
from gumshoe.api._paging import PagedQuery, page_prepared
from gumshoe.api.members import CHECK_VOLUME, _transition
from gumshoe.errors import ConflictException
from gumshoe.jobs import enqueue
from gumshoe.store.queries import SqlAlchemySnapshot as tx
from gumshoe.store.schema import members

# Open and accepted invitations; accounts still being verified have received nothing yet.
VISIBLE_TO_MEMBER = ("INVITED", "ENABLED", "ACCEPTED_BUT_DISABLED")


_LIST_INVITATIONS = PagedQuery(
    select(members).where(
        members.c.account_id == bindparam("account"),
        members.c.region == bindparam("region"),
        members.c.administrator_id != bindparam("account"),
        members.c.status.in_(VISIBLE_TO_MEMBER),
    ),
    (members.c.graph_arn,),
)


def list_invitations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    caller = ctx.caller
    with ctx.store.snapshot() as snap:
        rows, token = page_prepared(
            ctx, snap, _LIST_INVITATIONS, params, binding=("ListInvitations",),
            account=caller.account_id, region=caller.region,
        )
        details = member_details(snap, rows, ctx.settings.graph_volume_limit, by_graph=False)
    return {"Invitations": details, "NextToken": token}


def _conflict(row: Any, action: str, needed: str) -> ConflictException:
    return ConflictException(
        f"Cannot {action}: the calling account's status in the behavior graph {row.graph_arn} is {row.status}, "
        f"and the operation needs {needed}."
    )


def accept_invitation(ctx: Context, params: dict[str, Any]) -> None:
    caller = ctx.caller
    arn = params["GraphArn"]
    with ctx.store.write() as conn:
        row = membership(tx(conn), arn, caller.account_id, caller.region)
        if row.status != "INVITED" or not _transition(
            conn, arn, caller.account_id, "INVITED", ctx.now_ms, status="ACCEPTED_BUT_DISABLED"
        ):
            raise _conflict(row, "accept the invitation", "INVITED")
        enqueue(conn, CHECK_VOLUME, {"graph": arn, "account": caller.account_id}, delay=ctx.settings.job_delay)
    if ctx.settings.job_delay <= 0:
        ctx.jobs_due = True


def reject_invitation(ctx: Context, params: dict[str, Any]) -> None:
    caller = ctx.caller
    arn = params["GraphArn"]
    with ctx.store.write() as conn:
        row = membership(tx(conn), arn, caller.account_id, caller.region)
        gone = conn.execute(
            delete(members).where(
                members.c.graph_arn == arn, members.c.account_id == caller.account_id, members.c.status == "INVITED"
            )
        ).rowcount
        if not gone:
            raise _conflict(row, "reject the invitation", "INVITED")
        forget_member(conn, arn, caller.account_id)


def disassociate_membership(ctx: Context, params: dict[str, Any]) -> None:
    caller = ctx.caller
    arn = params["GraphArn"]
    with ctx.store.write() as conn:
        row = membership(tx(conn), arn, caller.account_id, caller.region)
        if row.invitation_type == "ORGANIZATION":
            raise ConflictException(
                f"Account {caller.account_id} is an organization account of the organization behavior graph {arn}; "
                "only the Detective administrator account can remove it (DeleteMembers)."
            )
        gone = conn.execute(
            delete(members).where(
                members.c.graph_arn == arn, members.c.account_id == caller.account_id, members.c.status == "ENABLED"
            )
        ).rowcount
        if not gone:
            raise _conflict(row, "disassociate from the behavior graph", "ENABLED")
        forget_member(conn, arn, caller.account_id)
