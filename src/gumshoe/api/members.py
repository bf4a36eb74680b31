"""CreateMembers, GetMembers, ListMembers, DeleteMembers, StartMonitoringMember,
and the background steps of the membership state machine.

    CreateMembers ─> VERIFICATION_IN_PROGRESS ─verify─> INVITED ─accept─> ACCEPTED_BUT_DISABLED
                                     │                  (or VERIFICATION_FAILED)        │
                                     │ organization account in the organization graph    │ volume check
                                     └──────────────────────────────────────────────────>┴─> ENABLED
                                                                   or stays ACCEPTED_BUT_DISABLED
                                                                   with VOLUME_UNKNOWN / VOLUME_TOO_HIGH
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from gumshoe.api._context import Context, Services
from gumshoe.api._details import (
    count_members,
    enabled_volume,
    forget_member,
    latest_volumes,
    member_details,
    start_member_packages,
)
from gumshoe.api._graphs import MEMBER, administered_graph
from gumshoe.api._member_cache import MemberDetailCache, json_array, json_object
from gumshoe.api._paging import PagedQuery, next_token, page_prepared, token_keys
from gumshoe.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from gumshoe.jobs import enqueue, enqueue_many
from gumshoe.pagination import DEFAULT_PAGE_SIZE
from gumshoe.protocol.validate import Errors, fail, raise_if_any
from gumshoe.store.queries import Query, Snapshot
from gumshoe.store.queries import SqlAlchemySnapshot as tx
from gumshoe.store.schema import members

log = logging.getLogger("gumshoe.members")

# Detective quota: a behavior graph has at most 1,200 member accounts besides its administrator.
MAX_MEMBERS_PER_GRAPH = 1200

VERIFY_MEMBER = "verify_member"
ENABLE_ORGANIZATION_MEMBER = "enable_organization_member"
CHECK_VOLUME = "check_member_volume"


def create_members(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    caller = ctx.caller
    arn = params["GraphArn"]
    accounts = params["Accounts"]
    directory = ctx.directory
    with ctx.store.write() as conn:
        graph = administered_graph(tx(conn), arn, caller.account_id, caller.region)
        organization_graph = bool(graph.is_organization_graph)
        # Invited accounts need their root email; organization accounts of the organization
        # graph are enabled without one.
        errors: Errors = []
        for i, account in enumerate(accounts, 1):
            org_account = organization_graph and directory.in_organization(account["AccountId"])
            if not org_account and not account.get("EmailAddress"):
                fail(errors, None, f"accounts.{i}.member.emailAddress", "Member must not be null")
        raise_if_any(errors)

        existing = {
            a for (a,) in conn.execute(select(members.c.account_id).where(members.c.graph_arn == arn))
        }
        unprocessed: list[dict[str, str]] = []
        to_add: list[dict[str, Any]] = []
        for account in accounts:
            account_id = account["AccountId"]
            if account_id == caller.account_id:
                unprocessed.append({"AccountId": account_id, "Reason": "The administrator account is already part of its own behavior graph and cannot be added as a member account."})
            elif account_id in existing:
                unprocessed.append({"AccountId": account_id, "Reason": "The account is already a member account of the behavior graph."})
            else:
                existing.add(account_id)
                to_add.append(account)
        if to_add:
            ingesting = enabled_volume(conn, arn, "", directory.estimated_daily_volume)
            if ingesting > ctx.settings.graph_volume_limit:
                raise ServiceQuotaExceededException(
                    f"The behavior graph {arn} already ingests {ingesting} bytes a day, over its limit of "
                    f"{ctx.settings.graph_volume_limit}; it cannot take new member accounts.",
                    resources=[arn],
                )
        current = count_members(conn, arn, caller.account_id)
        if to_add and current + len(to_add) > MAX_MEMBERS_PER_GRAPH:
            raise ServiceQuotaExceededException(
                f"A behavior graph can have at most {MAX_MEMBERS_PER_GRAPH} member accounts; it has {current} "
                f"and the request adds {len(to_add)}. Remove member accounts with DeleteMembers first.",
                resources=[arn],
            )
        seq = last_seq(conn, arn)
        added: list[str] = []
        delay = ctx.settings.job_delay
        notify = not params.get("DisableEmailNotification", False)
        new_rows: list[dict[str, Any]] = []
        work: dict[str, list[dict[str, Any]]] = {VERIFY_MEMBER: [], ENABLE_ORGANIZATION_MEMBER: []}
        for account in to_add:
            seq += 1
            account_id = account["AccountId"]
            org_account = organization_graph and directory.in_organization(account_id)
            new_rows.append(
                new_member_row(
                    arn, account_id, caller.account_id, caller.region, seq, ctx.now_ms,
                    email=account.get("EmailAddress"), organization=org_account,
                    message=params.get("Message"), notify=notify,
                )
            )
            kind = ENABLE_ORGANIZATION_MEMBER if org_account else VERIFY_MEMBER
            work[kind].append({"graph": arn, "account": account_id})
            added.append(account_id)
        if new_rows:
            conn.execute(insert(members), new_rows)
        for kind, payloads in work.items():
            enqueue_many(conn, kind, payloads, delay=delay)
        rows = _rows(tx(conn), arn, added)
        details = member_details(tx(conn), rows, ctx.settings.graph_volume_limit)
    if added and delay <= 0:
        ctx.jobs_due = True
    return {"Members": details, "UnprocessedAccounts": unprocessed}


_MEMBERS_BY_ID = Query(
    select(members).where(members.c.graph_arn == bindparam("arn"), members.c.account_id.in_(bindparam("accounts", expanding=True)))
)
_LIST_MEMBERS = PagedQuery(select(members).where(members.c.graph_arn == bindparam("arn")), (members.c.seq,))


def last_seq(conn: Connection, arn: str) -> int:
    """The invitation order of the graph's newest member (0: only the administrator)."""
    return int(
        conn.execute(select(func.coalesce(func.max(members.c.seq), 0)).where(members.c.graph_arn == arn)).scalar_one()
    )


def new_member_row(
    arn: str, account_id: str, administrator_id: str, region: str, seq: int, now_ms: int, *,
    email: str | None, organization: bool, message: str | None = None, notify: bool = False,
) -> dict[str, Any]:
    """A member entering verification: invited, or (organization accounts) being enabled."""
    return dict(
        graph_arn=arn, account_id=account_id, administrator_id=administrator_id, region=region,
        email=email, status="VERIFICATION_IN_PROGRESS", disabled_reason=None,
        invitation_type="ORGANIZATION" if organization else "INVITATION",
        invited_ms=None if organization else now_ms, updated_ms=now_ms, seq=seq, enabled_ms=None,
        message=message, email_notification=notify and not organization,
    )


def _rows(snap: Snapshot, arn: str, account_ids: list[str]) -> list[Any]:
    if not account_ids:
        return []
    found = {r.account_id: r for r in snap.all(_MEMBERS_BY_ID, arn=arn, accounts=account_ids)}
    return [found[a] for a in account_ids if a in found]


def get_members(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | bytes:
    arn = params["GraphArn"]
    wanted = list(dict.fromkeys(params["AccountIds"]))
    with ctx.store.snapshot() as snap:
        administered_graph(snap, arn, ctx.caller.account_id, ctx.caller.region)
        revision = MemberDetailCache.revision(snap, arn)
        if revision is not None:
            cached = ctx.services.member_cache.get(snap, arn, revision, ctx.settings.graph_volume_limit)
            found = [cached.by_account[a] for a in wanted if a in cached.by_account]
            return json_object(
                MemberDetails=json_array([cached.fragments[i] for i in found]),
                UnprocessedAccounts=_not_members(a for a in wanted if a not in cached.by_account),
            )
        rows = _rows(snap, arn, wanted)
        details = member_details(snap, rows, ctx.settings.graph_volume_limit)
    present = {r.account_id for r in rows}
    return {"MemberDetails": details, "UnprocessedAccounts": _not_members(a for a in wanted if a not in present)}


def _not_members(account_ids: Iterable[str]) -> list[dict[str, str]]:
    return [{"AccountId": a, "Reason": "The account is not a member account of the behavior graph."} for a in account_ids]


def list_members(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | bytes:
    arn = params["GraphArn"]
    binding = ("ListMembers", arn)
    with ctx.store.snapshot() as snap:
        administered_graph(snap, arn, ctx.caller.account_id, ctx.caller.region)
        revision = MemberDetailCache.revision(snap, arn)
        if revision is not None:
            cached = ctx.services.member_cache.get(snap, arn, revision, ctx.settings.graph_volume_limit)
            after = token_keys(ctx, params, binding, 1)
            page, last_seq = cached.page_after(
                after[0] if after is not None else None, params.get("MaxResults") or DEFAULT_PAGE_SIZE
            )
            token = next_token(ctx, binding, [last_seq]) if last_seq is not None else None
            return json_object(MemberDetails=json_array(page), NextToken=token)
        rows, token = page_prepared(ctx, snap, _LIST_MEMBERS, params, binding=binding, arn=arn)
        details = member_details(snap, rows, ctx.settings.graph_volume_limit)
    return {"MemberDetails": details, "NextToken": token}


def delete_members(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    caller = ctx.caller
    arn = params["GraphArn"]
    deleted: list[str] = []
    unprocessed: list[dict[str, str]] = []
    with ctx.store.write() as conn:
        administered_graph(tx(conn), arn, caller.account_id, caller.region)
        for account_id in dict.fromkeys(params["AccountIds"]):
            if account_id == caller.account_id:
                unprocessed.append({"AccountId": account_id, "Reason": "The administrator account cannot be removed from its own behavior graph. Use DeleteGraph to disable Detective."})
                continue
            gone = conn.execute(
                delete(members).where(members.c.graph_arn == arn, members.c.account_id == account_id)
            ).rowcount
            if gone:
                forget_member(conn, arn, account_id)
                deleted.append(account_id)
            else:
                unprocessed.append({"AccountId": account_id, "Reason": "The account is not a member account of the behavior graph."})
    return {"AccountIds": deleted, "UnprocessedAccounts": unprocessed}


def start_monitoring_member(ctx: Context, params: dict[str, Any]) -> None:
    caller = ctx.caller
    arn = params["GraphArn"]
    account_id = params["AccountId"]
    with ctx.store.write() as conn:
        administered_graph(tx(conn), arn, caller.account_id, caller.region)
        row = conn.execute(
            select(members).where(members.c.graph_arn == arn, members.c.account_id == account_id)
        ).first()
        if row is None:
            raise ResourceNotFoundException(f"Account {account_id} is not a member account of the behavior graph {arn}.")
        if row.status != "ACCEPTED_BUT_DISABLED":
            raise ConflictException(
                f"Account {account_id} has status {row.status}; StartMonitoringMember needs ACCEPTED_BUT_DISABLED."
            )
        enqueue(conn, CHECK_VOLUME, {"graph": arn, "account": account_id}, delay=ctx.settings.job_delay)
    if ctx.settings.job_delay <= 0:
        ctx.jobs_due = True


# --- Background steps ------------------------------------------------------------------


def _member(conn: Connection, arn: str, account_id: str) -> Any:
    return tx(conn).first(MEMBER, arn=arn, account=account_id)


def _transition(conn: Connection, arn: str, account_id: str, expected: str, now_ms: int, **values: Any) -> bool:
    """Compare-and-set on the status, so concurrent changes end in one consistent state."""
    return bool(
        conn.execute(
            update(members)
            .where(members.c.graph_arn == arn, members.c.account_id == account_id, members.c.status == expected)
            .values(updated_ms=now_ms, **values)
        ).rowcount
    )


def volume_verdict(conn: Connection, services: Services, arn: str, account_id: str) -> str | None:
    """None when the account can be enabled, else the DisabledReason."""
    directory = services.directory
    if not directory.guardduty_enrolled(account_id):
        return "VOLUME_UNKNOWN"
    known = latest_volumes(tx(conn), arn, [account_id]).get(account_id)
    own = known[0] if known else (directory.estimated_daily_volume(account_id) or 0)
    others = enabled_volume(conn, arn, account_id, directory.estimated_daily_volume)
    if others + own > services.settings.graph_volume_limit:
        return "VOLUME_TOO_HIGH"
    return None


def try_enable(conn: Connection, services: Services, arn: str, account_id: str, now_ms: int) -> bool:
    row = _member(conn, arn, account_id)
    if row is None or row.status != "ACCEPTED_BUT_DISABLED":
        return False
    reason = volume_verdict(conn, services, arn, account_id)
    if reason is None:
        if _transition(conn, arn, account_id, "ACCEPTED_BUT_DISABLED", now_ms, status="ENABLED", disabled_reason=None, enabled_ms=now_ms):
            start_member_packages(conn, arn, account_id, now_ms)
            return True
        return False
    if row.disabled_reason != reason:
        _transition(conn, arn, account_id, "ACCEPTED_BUT_DISABLED", now_ms, disabled_reason=reason)
    return False


def job_verify_member(services: Services, conn: Connection, payload: dict[str, Any], now_ms: int) -> None:
    arn, account_id = payload["graph"], payload["account"]
    row = _member(conn, arn, account_id)
    if row is None or row.status != "VERIFICATION_IN_PROGRESS":
        return
    if not services.directory.email_matches(account_id, row.email):
        _transition(conn, arn, account_id, "VERIFICATION_IN_PROGRESS", now_ms, status="VERIFICATION_FAILED")
        return
    if not _transition(conn, arn, account_id, "VERIFICATION_IN_PROGRESS", now_ms, status="INVITED", invited_ms=now_ms):
        return  # someone else moved it on; their outcome stands, and no second email goes out
    if row.email_notification and services.mailer is not None and row.email:
        services.mailer.send_invitation(
            to_address=row.email, member_account_id=account_id, administrator_account_id=row.administrator_id,
            graph_arn=arn, region=row.region, message=row.message,
        )


def job_enable_organization_member(services: Services, conn: Connection, payload: dict[str, Any], now_ms: int) -> None:
    arn, account_id = payload["graph"], payload["account"]
    row = _member(conn, arn, account_id)
    if row is None or row.status != "VERIFICATION_IN_PROGRESS":
        return
    if not services.directory.in_organization(account_id):
        _transition(conn, arn, account_id, "VERIFICATION_IN_PROGRESS", now_ms, status="VERIFICATION_FAILED")
        return
    _transition(conn, arn, account_id, "VERIFICATION_IN_PROGRESS", now_ms, status="ACCEPTED_BUT_DISABLED")
    try_enable(conn, services, arn, account_id, now_ms)


def job_check_volume(services: Services, conn: Connection, payload: dict[str, Any], now_ms: int) -> None:
    try_enable(conn, services, payload["graph"], payload["account"], now_ms)


def monitoring_pass(services: Services, now_ms: int) -> int:
    """Detective's hourly pass: enable members held back by volume, in invitation order."""
    enabled = 0
    with services.store.read() as conn:
        candidates = conn.execute(
            select(members.c.graph_arn, members.c.account_id)
            .where(members.c.status == "ACCEPTED_BUT_DISABLED", members.c.disabled_reason == "VOLUME_TOO_HIGH")
            .order_by(members.c.graph_arn, members.c.seq)
        ).all()
    for arn, account_id in candidates:
        with services.store.write() as conn:
            if try_enable(conn, services, arn, account_id, now_ms):
                enabled += 1
    return enabled

