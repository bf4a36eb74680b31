"""StartInvestigation, GetInvestigation, ListInvestigations, ListIndicators, UpdateInvestigationState.

Only a graph's administrator may use them (anyone else gets ResourceNotFoundException, as for
every graph operation). StartInvestigation records the investigation as RUNNING; the
investigation runner (investigate/runner.py) does the analysis in the background and moves it
to SUCCESSFUL or FAILED. Choices where Detective's documentation is silent are listed in
docs/INVESTIGATIONS.md.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

import orjson
from sqlalchemy import insert, select, update

from gumshoe.api._context import Context
from gumshoe.api._graphs import administered_graph
from gumshoe.api._paging import next_token, page_list, token_keys
from gumshoe.errors import ResourceNotFoundException, ValidationException
from gumshoe.indicators import GUMSHOE_TYPES, group_firsts
from gumshoe.store.queries import SqlAlchemySnapshot as tx
from gumshoe.store.schema import investigation_indicators, investigations, members

ENTITY_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:iam::(\d{12}):(user|role)/(?:[\x21-\x7e]+/)?[\w+=,.@-]{1,128}$")
ENTITY_TYPES = {"user": "IAM_USER", "role": "IAM_ROLE"}
SEVERITY_RANK = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
STATUS_RANK = {"RUNNING": 0, "SUCCESSFUL": 1, "FAILED": 2}
FILTER_VALUES = {
    "Severity": frozenset(SEVERITY_RANK),
    "Status": frozenset(STATUS_RANK),
    "State": frozenset({"ACTIVE", "ARCHIVED"}),
}
DEFAULT_PAGE_SIZE = 50


def parse_entity_arn(arn: str) -> tuple[str, str]:
    """(account id, IAM_USER | IAM_ROLE) of an IAM user or role ARN, else ValidationException."""
    match = ENTITY_ARN.match(arn)
    if match is None:
        raise ValidationException(
            f"EntityArn {arn} is not the ARN of an IAM user or role. Investigations take an ARN such as "
            "arn:aws:iam::111122223333:user/alice or arn:aws:iam::111122223333:role/Admin.",
            error_code="INVALID_REQUEST_BODY",
        )
    return match.group(1), ENTITY_TYPES[match.group(2)]


def new_investigation_id(now_ms: int) -> str:
    """21 digits: the creation time in milliseconds, then eight random digits."""
    return f"{now_ms:013d}{secrets.randbelow(10**8):08d}"


def start_investigation(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    graph_arn = params["GraphArn"]
    entity_arn = params["EntityArn"]
    start = params["ScopeStartTime"].timestamp()
    end = params["ScopeEndTime"].timestamp()
    if start >= end:
        raise ValidationException(
            "ScopeStartTime must be earlier than ScopeEndTime.", error_code="INVALID_REQUEST_BODY"
        )
    account_id, entity_type = parse_entity_arn(entity_arn)
    investigation_id = new_investigation_id(ctx.now_ms)
    with ctx.store.write() as conn:
        graph = administered_graph(tx(conn), graph_arn, ctx.caller.account_id, ctx.caller.region)
        if account_id != graph.administrator_id:
            status = conn.execute(
                select(members.c.status).where(members.c.graph_arn == graph_arn, members.c.account_id == account_id)
            ).scalar()
            if status != "ENABLED":
                raise ValidationException(
                    f"Account {account_id} of {entity_arn} does not contribute data to the behavior graph {graph_arn}: "
                    "it is neither the graph's administrator account nor an ENABLED member account.",
                    error_code="INVALID_REQUEST_BODY",
                )
        conn.execute(insert(investigations).values(
            investigation_id=investigation_id, graph_arn=graph_arn, entity_arn=entity_arn, entity_type=entity_type,
            created_ms=ctx.now_ms, scope_start_ms=int(start * 1000), scope_end_ms=int(end * 1000),
            status="RUNNING", severity=None, state="ACTIVE", attempts=0, notes="[]",
        ))
    ctx.services.investigation_started()
    return {"InvestigationId": investigation_id}


def _investigation(conn: Any, graph_arn: str, investigation_id: str) -> Any:
    row = conn.execute(
        select(investigations).where(
            investigations.c.investigation_id == investigation_id, investigations.c.graph_arn == graph_arn
        )
    ).first()
    if row is None:
        raise ResourceNotFoundException(
            f"The investigation {investigation_id} does not exist in the behavior graph {graph_arn}."
        )
    return row


def get_investigation(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    graph_arn = params["GraphArn"]
    with ctx.store.read() as conn:
        administered_graph(tx(conn), graph_arn, ctx.caller.account_id, ctx.caller.region)
        row = _investigation(conn, graph_arn, params["InvestigationId"])
    return {
        "GraphArn": graph_arn,
        "InvestigationId": row.investigation_id,
        "EntityArn": row.entity_arn,
        "EntityType": row.entity_type,
        "CreatedTime": row.created_ms / 1000,
        "ScopeStartTime": row.scope_start_ms / 1000,
        "ScopeEndTime": row.scope_end_ms / 1000,
        "Status": row.status,
        "Severity": row.severity,
        "State": row.state,
    }


def _filter_value(criteria: dict[str, Any], name: str) -> str | None:
    entry = criteria.get(name)
    if entry is None:
        return None
    value: str = entry["Value"]
    allowed = FILTER_VALUES.get(name)
    if allowed is not None and value not in allowed:
        raise ValidationException(
            f"FilterCriteria.{name}.Value {value!r} is not one of {', '.join(sorted(allowed))}.",
            error_code="INVALID_REQUEST_BODY",
        )
    return value


def list_investigations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    graph_arn = params["GraphArn"]
    criteria = params.get("FilterCriteria") or {}
    sort = params.get("SortCriteria") or {}
    query = select(investigations).where(investigations.c.graph_arn == graph_arn)
    for name, column in (("Severity", investigations.c.severity), ("Status", investigations.c.status),
                         ("State", investigations.c.state), ("EntityArn", investigations.c.entity_arn)):
        value = _filter_value(criteria, name)
        if value is not None:
            query = query.where(column == value)
    created = criteria.get("CreatedTime")
    if created is not None:
        low, high = created["StartInclusive"].timestamp() * 1000, created["EndInclusive"].timestamp() * 1000
        if low > high:
            raise ValidationException(
                "FilterCriteria.CreatedTime.StartInclusive must not be later than EndInclusive.",
                error_code="INVALID_REQUEST_BODY",
            )
        query = query.where(investigations.c.created_ms >= low, investigations.c.created_ms <= high)
    with ctx.store.read() as conn:
        administered_graph(tx(conn), graph_arn, ctx.caller.account_id, ctx.caller.region)
        rows = list(conn.execute(query).all())
    field = sort.get("Field", "CREATED_TIME")
    descending = sort.get("SortOrder", "DESC" if field == "CREATED_TIME" else "ASC") == "DESC"

    def key(row: Any) -> tuple[Any, ...]:
        if field == "SEVERITY":
            return (SEVERITY_RANK.get(row.severity or "", -1), row.created_ms, row.investigation_id)
        if field == "STATUS":
            return (STATUS_RANK[row.status], row.created_ms, row.investigation_id)
        return (row.created_ms, row.investigation_id)

    rows.sort(key=key, reverse=descending)
    # The token is bound to the filter and the order: a token of one query is refused by another.
    digest = hashlib.sha256(orjson.dumps([criteria, sort], default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    page, token = page_list(ctx, rows, params, binding=("ListInvestigations", graph_arn, digest),
                            default_size=DEFAULT_PAGE_SIZE)
    out: dict[str, Any] = {"InvestigationDetails": [
        {
            "InvestigationId": row.investigation_id,
            "Severity": row.severity,
            "Status": row.status,
            "State": row.state,
            "CreatedTime": row.created_ms / 1000,
            "EntityArn": row.entity_arn,
            "EntityType": row.entity_type,
        }
        for row in page
    ]}
    if token:
        out["NextToken"] = token
    return out


def list_indicators(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    graph_arn = params["GraphArn"]
    investigation_id = params["InvestigationId"]
    kind = params.get("IndicatorType")
    limit = params.get("MaxResults") or DEFAULT_PAGE_SIZE
    binding = ("ListIndicators", graph_arn, investigation_id, kind or "")
    after = token_keys(ctx, params, binding, 1)
    query = select(investigation_indicators.c.seq, investigation_indicators.c.indicator_type,
                   investigation_indicators.c.detail).where(
        investigation_indicators.c.investigation_id == investigation_id)
    if kind:
        query = query.where(investigation_indicators.c.indicator_type == kind)
    else:  # Gumshoe's own indicators are its report's, not the AWS API's
        query = query.where(investigation_indicators.c.indicator_type.not_in(sorted(GUMSHOE_TYPES)))
    if after is not None:
        query = query.where(investigation_indicators.c.seq > after[0])
    with ctx.store.read() as conn:
        administered_graph(tx(conn), graph_arn, ctx.caller.account_id, ctx.caller.region)
        _investigation(conn, graph_arn, investigation_id)
        rows = conn.execute(query.order_by(investigation_indicators.c.seq).limit(limit + 1)).all()
    out: dict[str, Any] = {
        "GraphArn": graph_arn,
        "InvestigationId": investigation_id,
        "Indicators": [
            {"IndicatorType": t, "IndicatorDetail": orjson.loads(detail)} for _, t, detail in rows[:limit]
        ],
    }
    if len(rows) > limit:
        out["NextToken"] = next_token(ctx, binding, [rows[limit - 1].seq])
    return out


def update_investigation_state(ctx: Context, params: dict[str, Any]) -> None:
    graph_arn = params["GraphArn"]
    with ctx.store.write() as conn:
        administered_graph(tx(conn), graph_arn, ctx.caller.account_id, ctx.caller.region)
        row = _investigation(conn, graph_arn, params["InvestigationId"])
        conn.execute(update(investigations).where(investigations.c.investigation_id == row.investigation_id)
                     .values(state=params["State"]))


def investigation_report(store: Any, graph_arn: str, investigation_id: str) -> dict[str, Any]:
    """Everything about one investigation, for Gumshoe's own API and the command line's report:
    the AWS fields, why it failed or what it could not evaluate, how much baseline it had, how
    its severity was reached, and each indicator's evidence (a principal's firsts with no
    baseline as one finding per kind)."""
    with store.read() as conn:
        row = _investigation(conn, graph_arn, investigation_id)
        indicators = conn.execute(
            select(investigation_indicators.c.seq, investigation_indicators.c.indicator_type,
                   investigation_indicators.c.detail, investigation_indicators.c.evidence)
            .where(investigation_indicators.c.investigation_id == investigation_id)
            .order_by(investigation_indicators.c.seq)
        ).all()
    scoring = orjson.loads(row.scoring or "{}")
    return {
        "graphArn": graph_arn,
        "investigationId": row.investigation_id,
        "entityArn": row.entity_arn,
        "entityType": row.entity_type,
        "createdTime": row.created_ms,
        "scopeStartTime": row.scope_start_ms,
        "scopeEndTime": row.scope_end_ms,
        "finishedTime": row.finished_ms,
        "status": row.status,
        "severity": row.severity,
        "state": row.state,
        "reason": row.reason,
        "notes": orjson.loads(row.notes or "[]"),
        "baseline": scoring.pop("baseline", None),
        "roleSessions": scoring.pop("roleSessions", []),
        "scoring": scoring,
        "indicators": group_firsts([
            {"seq": seq, "type": t, "detail": next(iter(orjson.loads(detail).values())),
             "evidence": orjson.loads(evidence or "{}")}
            for seq, t, detail, evidence in indicators
        ]),
    }


def indicator_scope(store: Any, graph_arn: str, investigation_id: str, seq: int) -> tuple[Any, dict[str, Any]]:
    """An investigation's row (its entity and scope) and one of its indicators' evidence, for the
    events behind that indicator."""
    with store.read() as conn:
        row = _investigation(conn, graph_arn, investigation_id)
        evidence = conn.execute(
            select(investigation_indicators.c.evidence).where(
                investigation_indicators.c.investigation_id == investigation_id,
                investigation_indicators.c.seq == seq)
        ).scalar()
    if evidence is None:
        raise ResourceNotFoundException(f"The investigation {investigation_id} has no indicator {seq}.")
    found: dict[str, Any] = orjson.loads(evidence or "{}")
    return row, found
