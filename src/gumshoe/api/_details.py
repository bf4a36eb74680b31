"""MemberDetail and datasource views built from member rows, ingest states and volume."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from gumshoe.store.queries import Query, Snapshot, SqlAlchemySnapshot
from gumshoe.store.schema import ingest_history, ingest_states, members, volume_usage

PACKAGES = ("DETECTIVE_CORE", "EKS_AUDIT", "ASFF_SECURITYHUB_FINDING")
# Packages a new behavior graph starts with; ASFF_SECURITYHUB_FINDING is opted into with
# UpdateDatasourcePackages (docs/API.md explains the choice).
PACKAGES_ON_CREATE = ("DETECTIVE_CORE", "EKS_AUDIT")
GRAPH_LEVEL = ""  # account_id of graph-level ingest rows


def set_ingest_state(conn: Connection, graph_arn: str, account_id: str, package: str, state: str, now_ms: int) -> bool:
    """Move one package to a state and stamp the history; False when it was already there."""
    current = conn.execute(
        select(ingest_states.c.state).where(
            ingest_states.c.graph_arn == graph_arn,
            ingest_states.c.account_id == account_id,
            ingest_states.c.package == package,
        )
    ).scalar()
    if current == state:
        return False
    if current is None:
        conn.execute(insert(ingest_states).values(graph_arn=graph_arn, account_id=account_id, package=package, state=state))
    else:
        conn.execute(
            update(ingest_states)
            .where(
                ingest_states.c.graph_arn == graph_arn,
                ingest_states.c.account_id == account_id,
                ingest_states.c.package == package,
            )
            .values(state=state)
        )
    key = dict(graph_arn=graph_arn, account_id=account_id, package=package, state=state)
    changed = conn.execute(
        update(ingest_history)
        .where(*(getattr(ingest_history.c, k) == v for k, v in key.items()))
        .values(changed_ms=now_ms)
    ).rowcount
    if not changed:
        conn.execute(insert(ingest_history).values(**key, changed_ms=now_ms))
    return True


def graph_package_states(conn: Connection, graph_arn: str) -> dict[str, str]:
    rows = conn.execute(
        select(ingest_states.c.package, ingest_states.c.state).where(
            ingest_states.c.graph_arn == graph_arn, ingest_states.c.account_id == GRAPH_LEVEL
        )
    ).all()
    return {p: s for p, s in rows}


def start_member_packages(conn: Connection, graph_arn: str, account_id: str, now_ms: int) -> None:
    for package, state in graph_package_states(conn, graph_arn).items():
        set_ingest_state(conn, graph_arn, account_id, package, state, now_ms)


def forget_member(conn: Connection, graph_arn: str, account_id: str) -> None:
    for table in (ingest_states, ingest_history):
        conn.execute(delete(table).where(table.c.graph_arn == graph_arn, table.c.account_id == account_id))


_STATES_OF_GRAPH = Query(
    select(ingest_states.c.account_id, ingest_states.c.package, ingest_states.c.state).where(
        ingest_states.c.graph_arn == bindparam("graph")
    )
)
_STATES_OF_ACCOUNTS = Query(
    select(ingest_states.c.account_id, ingest_states.c.package, ingest_states.c.state).where(
        ingest_states.c.graph_arn == bindparam("graph"),
        ingest_states.c.account_id.in_(bindparam("accounts", expanding=True)),
    )
)


def member_states(snap: Snapshot, graph_arn: str, account_ids: Sequence[str] | None) -> dict[str, dict[str, str]]:
    if account_ids is None:
        rows = snap.all(_STATES_OF_GRAPH, graph=graph_arn)
    else:
        rows = snap.all(_STATES_OF_ACCOUNTS, graph=graph_arn, accounts=list(account_ids))
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for account, package, state in rows:
        out[account][package] = state
    return out


def histories(
    conn: Connection, graph_arn: str, account_ids: Iterable[str]
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """account -> package -> state -> {"Timestamp": ms}."""
    rows = conn.execute(
        select(ingest_history).where(
            ingest_history.c.graph_arn == graph_arn, ingest_history.c.account_id.in_(list(account_ids))
        )
    ).all()
    out: dict[str, dict[str, dict[str, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        out[row.account_id][row.package][row.state] = {"Timestamp": row.changed_ms / 1000}
    return out


_VOLUME_OF_GRAPH = Query(select(volume_usage).where(volume_usage.c.graph_arn == bindparam("graph")))
_VOLUME_OF_ACCOUNTS = Query(
    select(volume_usage).where(
        volume_usage.c.graph_arn == bindparam("graph"),
        volume_usage.c.account_id.in_(bindparam("accounts", expanding=True)),
    )
)


def latest_volumes(
    snap: Snapshot, graph_arn: str, account_ids: Sequence[str] | None = None
) -> dict[str, tuple[int, int, dict[str, tuple[int, int]]]]:
    """account -> (bytes of its latest day, updated ms, package -> (bytes, updated ms))."""
    if account_ids is None:
        rows = snap.all(_VOLUME_OF_GRAPH, graph=graph_arn)
    else:
        rows = snap.all(_VOLUME_OF_ACCOUNTS, graph=graph_arn, accounts=list(account_ids))
    latest_day: dict[str, str] = {}
    for row in rows:
        if row.day > latest_day.get(row.account_id, ""):
            latest_day[row.account_id] = row.day
    out: dict[str, tuple[int, int, dict[str, tuple[int, int]]]] = {}
    for row in rows:
        if row.day != latest_day[row.account_id]:
            continue
        total, updated, per = out.get(row.account_id, (0, 0, {}))
        per[row.package] = (row.bytes, row.updated_ms)
        out[row.account_id] = (total + row.bytes, max(updated, row.updated_ms), per)
    return out


def enabled_volume(conn: Connection, graph_arn: str, exclude: str, estimate: Any) -> int:
    """Daily volume of the graph's ENABLED accounts other than ``exclude``."""
    enabled = [
        a for (a,) in conn.execute(
            select(members.c.account_id).where(members.c.graph_arn == graph_arn, members.c.status == "ENABLED")
        )
        if a != exclude
    ]
    known = latest_volumes(SqlAlchemySnapshot(conn), graph_arn, enabled) if enabled else {}
    return sum(known[a][0] if a in known else (estimate(a) or 0) for a in enabled)


def member_details(
    snap: Snapshot, rows: Sequence[Row[Any]], graph_limit: int, *, by_graph: bool = True
) -> list[dict[str, Any]]:
    """MemberDetail objects for member rows (of one graph, or of several for ListInvitations)."""
    if not rows:
        return []
    states: dict[tuple[str, str], dict[str, str]] = {}
    volumes: dict[tuple[str, str], tuple[int, int, dict[str, tuple[int, int]]]] = {}
    graphs_seen: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        graphs_seen[row.graph_arn].append(row.account_id)
    for graph_arn, accounts in graphs_seen.items():
        scope = None if by_graph and len(accounts) > 50 else accounts
        for account, value in member_states(snap, graph_arn, scope).items():
            states[(graph_arn, account)] = value
        for account, vol in latest_volumes(snap, graph_arn, scope).items():
            volumes[(graph_arn, account)] = vol
    out = []
    for row in rows:
        detail: dict[str, Any] = {
            "AccountId": row.account_id,
            "EmailAddress": row.email,
            "GraphArn": row.graph_arn,
            "MasterId": row.administrator_id,
            "AdministratorId": row.administrator_id,
            "Status": row.status,
            "DisabledReason": row.disabled_reason,
            "InvitedTime": row.invited_ms / 1000 if row.invited_ms is not None else None,
            "UpdatedTime": row.updated_ms / 1000,
            "InvitationType": row.invitation_type,
        }
        key = (row.graph_arn, row.account_id)
        usage = volumes.get(key)
        if usage is not None:
            total, updated, per = usage
            detail["VolumeUsageInBytes"] = total
            detail["VolumeUsageUpdatedTime"] = updated / 1000
            detail["PercentOfGraphUtilization"] = total * 100.0 / graph_limit if graph_limit else 0.0
            detail["PercentOfGraphUtilizationUpdatedTime"] = updated / 1000
            detail["VolumeUsageByDatasourcePackage"] = {
                p: {"VolumeUsageInBytes": b, "VolumeUsageUpdateTime": u / 1000} for p, (b, u) in per.items()
            }
        st = states.get(key)
        if st:
            detail["DatasourcePackageIngestStates"] = st
        out.append(detail)
    return out


def count_members(conn: Connection, graph_arn: str, administrator_id: str) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(members).where(
                members.c.graph_arn == graph_arn, members.c.account_id != administrator_id
            )
        ).scalar_one()
    )
