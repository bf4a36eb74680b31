"""A behavior graph's summary for a scope time: investigations by severity, findings, the
users and roles with the most API calls, the addresses and instances with the most traffic,
and what was observed for the first time. Every row links to its profile."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gumshoe.console import data
from gumshoe.console.page import Page
from gumshoe.console.report import SEVERITIES
from gumshoe.console.timescope import HOUR_MS, TimeScope, parse_scope
from gumshoe.console.web import Response, redirect
from gumshoe.errors import DetectiveError


async def graph_home(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    return redirect(f"/console/graphs/{graph.id}/summary")


def widen(extent: tuple[int, int] | None) -> TimeScope | None:
    """A scope around all of a graph's data (whole hours), for empty states."""
    if extent is None:
        return None
    start = extent[0] // HOUR_MS * HOUR_MS
    end = (extent[1] // HOUR_MS + 1) * HOUR_MS
    return TimeScope(start, end)


def investigations_by_severity(page: Page, graph_arn: str, scope: TimeScope) -> dict[str, Any]:
    criteria = {"CreatedTime": {"StartInclusive": scope.start_ms / 1000, "EndInclusive": (scope.end_ms - 1) / 1000}}
    try:
        found = page.call_all("ListInvestigations", {"GraphArn": graph_arn, "FilterCriteria": criteria},
                              "InvestigationDetails")
    except DetectiveError as exc:
        return {"error": exc.message, "counts": [], "total": 0}
    counts = Counter(d.get("Severity") or "RUNNING" for d in found)
    order = [*SEVERITIES, "RUNNING"]
    return {"error": None, "counts": [(s, counts[s]) for s in order if counts[s]], "total": len(found)}


async def page(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    scope = parse_scope(page.request.query, page.now_ms)
    panels = await page.query(data.summary, graph.store, scope.start_ms, scope.end_ms)
    extent = await page.query(data.graph_extent, graph.store)
    geolocations = await page.query(data.new_geolocations, graph.store, scope.start_ms, scope.end_ms)
    investigations = investigations_by_severity(page, graph.arn, scope)
    empty = not any(panels[k] for k in ("principals", "ipAddresses", "instances", "flowAddresses", "newEntities",
                                        "findings"))
    return page.render("summary.html", title="Summary", scope=scope, panels=panels,
                       investigations=investigations, geolocations=geolocations, extent=extent, wide=widen(extent), empty=empty)
