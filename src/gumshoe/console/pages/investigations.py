"""Investigations: the list (ListInvestigations, with its filters), starting one from a
profile (StartInvestigation), the report (``investigation_report``: severity and why,
indicators grouped by type with their evidence, the TTPs as a timeline, impossible travel on
the map, how much baseline it had, the role sessions it covered), its export as JSON, archive and unarchive (UpdateInvestigationState)."""

from __future__ import annotations

import re
from typing import Any

from gumshoe.api.investigations import investigation_report
from gumshoe.console import report as report_view
from gumshoe.console.page import NotFound, Page
from gumshoe.console.render import profile_url, utc
from gumshoe.console.timescope import ScopeError, TimeScope, parse_time
from gumshoe.console.web import Response, json_response, redirect, url
from gumshoe.errors import DetectiveError, ResourceNotFoundException

INVESTIGATION_ID = re.compile(r"^[0-9]{1,64}$")
FILTERS = {
    "severity": ("Severity", report_view.SEVERITIES),
    "status": ("Status", ("RUNNING", "SUCCESSFUL", "FAILED")),
    "state": ("State", ("ACTIVE", "ARCHIVED")),
}
ENTITY_TYPES = report_view.PROFILE_TYPES


async def index(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    query = page.request.query
    criteria: dict[str, Any] = {}
    chosen: dict[str, str] = {}
    for name, (field, allowed) in FILTERS.items():
        value = query.get(name, "")
        if value in allowed:
            criteria[field] = {"Value": value}
            chosen[name] = value
    error = None
    if query.get("entity", "").strip():
        chosen["entity"] = query["entity"].strip()
        criteria["EntityArn"] = {"Value": chosen["entity"]}
    try:
        low = parse_time(query["created_from"], "created from") if query.get("created_from") else None
        high = parse_time(query["created_to"], "created to") if query.get("created_to") else None
    except ScopeError as exc:
        low = high = None
        error = str(exc)
    if low is not None or high is not None:
        chosen.update({k: query[k] for k in ("created_from", "created_to") if query.get(k)})
        criteria["CreatedTime"] = {"StartInclusive": (low or 0) / 1000,
                                   "EndInclusive": (high if high is not None else page.now_ms) / 1000}
    params: dict[str, Any] = {"GraphArn": graph.arn, "MaxResults": 50}
    if criteria:
        params["FilterCriteria"] = criteria
    if query.get("token"):
        params["NextToken"] = query["token"]
    answer: dict[str, Any] = {}
    if error is None:
        try:
            answer = page.call("ListInvestigations", params)
        except DetectiveError as exc:
            error = exc.message
    rows = answer.get("InvestigationDetails") or []
    next_url = url(page.request.path, **chosen, token=answer["NextToken"]) if answer.get("NextToken") else None
    return page.render("investigations.html", title="Investigations", rows=rows, filters=FILTERS, chosen=chosen,
                       next_url=next_url, error=error, entity_types=ENTITY_TYPES)


async def start(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    form = page.request.form
    entity_arn = form.get("entity_arn", "")
    back = form.get("back", "")
    try:
        start_ms, end_ms = parse_time(form.get("from", ""), "from"), parse_time(form.get("to", ""), "to")
    except ScopeError as exc:
        return page.error(400, "The investigation was not started", str(exc))
    try:
        answer = page.call("StartInvestigation", {
            "GraphArn": graph.arn, "EntityArn": entity_arn,
            "ScopeStartTime": start_ms / 1000, "ScopeEndTime": end_ms / 1000,
        })
    except DetectiveError as exc:
        entity_type = "aws_role" if ":role/" in entity_arn else "aws_user"
        fallback = profile_url(graph.id, entity_type, entity_arn, TimeScope(start_ms, end_ms)) \
            if end_ms > start_ms else None
        return page.error(exc.status, "The investigation was not started", exc.message,
                          back=back if back.startswith("/console/") else fallback)
    return redirect(f"/console/graphs/{graph.id}/investigations/{answer['InvestigationId']}")


def _report(page: Page, graph_arn: str, investigation_id: str) -> dict[str, Any]:
    if not INVESTIGATION_ID.match(investigation_id):
        raise NotFound("There is no such investigation.")
    try:
        return investigation_report(page.console.services.store, graph_arn, investigation_id)
    except ResourceNotFoundException:
        raise NotFound("There is no such investigation in this behavior graph.") from None


async def report(page: Page, graph_id: str, investigation_id: str) -> Response:
    graph = page.open_graph(graph_id)
    found = _report(page, graph.arn, investigation_id)
    entity_type = ENTITY_TYPES.get(found["entityType"], "aws_user")
    scope = TimeScope(found["scopeStartTime"], found["scopeEndTime"])
    ttps, untimed = report_view.ttp_timeline(found, utc)
    travel = report_view.travels(found, page.geoip, utc,
                                 lambda ip: profile_url(graph.id, "ip_address", ip, scope))
    return page.render("investigation.html", title=f"Investigation {investigation_id}", report=found,
                       groups=report_view.groups(found), entity_type=entity_type, scope=scope,
                       running=found["status"] == "RUNNING", ttp_chart=ttps, untimed_ttps=untimed, travel=travel,
                       ttp_anchor=report_view.ttp_anchor, indicator_count=report_view.indicator_count(found),
                       baseline_note=report_view.baseline_note(found), role_sessions=report_view.role_sessions(found))


async def export(page: Page, graph_id: str, investigation_id: str) -> Response:
    graph = page.open_graph(graph_id)
    found = _report(page, graph.arn, investigation_id)
    return json_response(found, download=f"investigation-{investigation_id}.json")


async def set_state(page: Page, graph_id: str, investigation_id: str) -> Response:
    graph = page.open_graph(graph_id)
    _report(page, graph.arn, investigation_id)
    state = page.request.form.get("state", "")
    page.call("UpdateInvestigationState", {"GraphArn": graph.arn, "InvestigationId": investigation_id, "State": state})
    return redirect(f"/console/graphs/{graph.id}/investigations/{investigation_id}")
