"""ListDatasourcePackages, UpdateDatasourcePackages, BatchGetGraphMemberDatasources,
BatchGetMembershipDatasources; and Gumshoe's own DisableDatasourcePackages, which the AWS API
lacks (its UpdateDatasourcePackages only starts packages) and Detective's console has: the
console's Accounts page turns an optional package off with it (docs/API.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gumshoe.api._context import Context
from gumshoe.api._details import (
    GRAPH_LEVEL,
    PACKAGES,
    graph_package_states,
    histories,
    set_ingest_state,
)
from gumshoe.api._graphs import administered_graph
from gumshoe.api._paging import page_list
from gumshoe.errors import ValidationException
from gumshoe.store.queries import SqlAlchemySnapshot as tx
from gumshoe.store.schema import ingest_states, members

# The packages DisableDatasourcePackages may turn off: DETECTIVE_CORE is the graph itself.
OPTIONAL_PACKAGES = tuple(p for p in PACKAGES if p != "DETECTIVE_CORE")


def list_datasource_packages(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["GraphArn"]
    with ctx.store.read() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        states = graph_package_states(conn, arn)
        history = histories(conn, arn, [GRAPH_LEVEL]).get(GRAPH_LEVEL, {})
    ordered = [p for p in PACKAGES if p in states]
    chunk, token = page_list(ctx, ordered, params, binding=("ListDatasourcePackages", arn))
    return {
        "DatasourcePackages": {
            p: {"DatasourcePackageIngestState": states[p], "LastIngestStateChange": dict(history.get(p, {}))}
            for p in chunk
        },
        "NextToken": token,
    }


def update_datasource_packages(ctx: Context, params: dict[str, Any]) -> None:
    arn = params["GraphArn"]
    with ctx.store.write() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        enabled = [
            a for (a,) in conn.execute(
                select(members.c.account_id).where(members.c.graph_arn == arn, members.c.status == "ENABLED")
            )
        ]
        for package in dict.fromkeys(params["DatasourcePackages"]):
            set_ingest_state(conn, arn, GRAPH_LEVEL, package, "STARTED", ctx.now_ms)
            for account_id in enabled:
                set_ingest_state(conn, arn, account_id, package, "STARTED", ctx.now_ms)


def disable_datasource_packages(ctx: Context, params: dict[str, Any]) -> None:
    """Gumshoe's own: stop ingesting optional datasource packages into a graph. The rules of
    UpdateDatasourcePackages: the caller administers the graph (in its Region); each package
    is one of the model's, and DETECTIVE_CORE cannot be disabled (ValidationException, nothing
    changed). Each package becomes DISABLED for the graph and for every account that has a
    state of it there (its ENABLED members, and members enabled before), stamped in the
    ingest history as the AWS model's DatasourcePackageIngestState DISABLED; a member enabled
    later takes the graph's states. Ingestion routes an account's records only for its
    STARTED packages, so the graph takes no more EKS audit or Security Hub records; what it
    holds stays. UpdateDatasourcePackages starts the package again."""
    arn = params["GraphArn"]
    wanted = params.get("DatasourcePackages")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(p, str) for p in wanted):
        raise ValidationException("DatasourcePackages must list one or more datasource packages.")
    unknown = [p for p in wanted if p not in PACKAGES]
    if unknown:
        raise ValidationException(f"{unknown[0]} is not a datasource package: the packages are {', '.join(PACKAGES)}.")
    if "DETECTIVE_CORE" in wanted:
        raise ValidationException("DETECTIVE_CORE cannot be disabled: it is the behavior graph's own data. Only the "
                                  f"optional packages can: {', '.join(OPTIONAL_PACKAGES)}.")
    with ctx.store.write() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        for package in dict.fromkeys(wanted):
            accounts = [a for (a,) in conn.execute(
                select(ingest_states.c.account_id).where(ingest_states.c.graph_arn == arn,
                                                         ingest_states.c.package == package))]
            set_ingest_state(conn, arn, GRAPH_LEVEL, package, "DISABLED", ctx.now_ms)
            for account_id in accounts:
                if account_id != GRAPH_LEVEL:
                    set_ingest_state(conn, arn, account_id, package, "DISABLED", ctx.now_ms)


def _membership_datasources(arn: str, account_id: str, history: dict[str, Any]) -> dict[str, Any]:
    return {
        "AccountId": account_id,
        "GraphArn": arn,
        "DatasourcePackageIngestHistory": {p: dict(states) for p, states in history.items()},
    }


def batch_get_graph_member_datasources(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["GraphArn"]
    wanted = list(dict.fromkeys(params["AccountIds"]))
    with ctx.store.read() as conn:
        administered_graph(tx(conn), arn, ctx.caller.account_id, ctx.caller.region)
        found = {
            a for (a,) in conn.execute(
                select(members.c.account_id).where(members.c.graph_arn == arn, members.c.account_id.in_(wanted))
            )
        }
        history = histories(conn, arn, found)
    return {
        "MemberDatasources": [_membership_datasources(arn, a, history.get(a, {})) for a in wanted if a in found],
        "UnprocessedAccounts": [
            {"AccountId": a, "Reason": "The account is not a member account of the behavior graph."}
            for a in wanted if a not in found
        ],
    }


def batch_get_membership_datasources(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    caller = ctx.caller
    wanted = list(dict.fromkeys(params["GraphArns"]))
    out = []
    unprocessed = []
    with ctx.store.read() as conn:
        rows = {
            r.graph_arn: r
            for r in conn.execute(
                select(members.c.graph_arn, members.c.region).where(
                    members.c.account_id == caller.account_id, members.c.graph_arn.in_(wanted)
                )
            )
        }
        for arn in wanted:
            row = rows.get(arn)
            if row is None or row.region != caller.region:
                unprocessed.append({"GraphArn": arn, "Reason": "The calling account is not a member of this behavior graph in this Region."})
                continue
            history = histories(conn, arn, [caller.account_id]).get(caller.account_id, {})
            out.append(_membership_datasources(arn, caller.account_id, history))
    return {"MembershipDatasources": out, "UnprocessedGraphs": unprocessed}

