"""A behavior graph's summary for a scope time: investigations by severity, findings, the
users and roles with the most API calls, the addresses and instances with the most traffic,
and what was observed for the first time: entities, places (with a map) and networks (ASOs).
Every row links to its profile."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gumshoe.console import data, worldmap
from gumshoe.console.page import Page
from gumshoe.console.render import profile_url, utc
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


def places_map(graph_id: str, scope: TimeScope, geolocations: list[dict[str, Any]], geo: Any) -> worldmap.Map:
    """The newly observed places as dots, each linking to its first address's profile."""
    return worldmap.draw([
        worldmap.Place(g["location"], g["ip"], [f"first seen {utc(g['firstSeen'], False)} from {g['ip']}"],
                       href=profile_url(graph_id, "ip_address", g["ip"], scope))
        for g in geolocations], geo)


def with_numbers(asos: list[dict[str, Any]], geo: Any) -> list[dict[str, Any]]:
    """Each ASO with the autonomous system number of its first address (GeoIP ASN), when known."""
    known = geo is not None and geo.has_asn
    return [{**a, "asn": geo.asn(a["addresses"][0]) if known and a["addresses"] else None} for a in asos]


def geoip_state(page: Page) -> dict[str, bool]:
    """Which GeoIP databases the server has, for the empty states of the places and ASOs."""
    geo = page.geoip
    return {"city": geo is not None and geo.has_city, "asn": geo is not None and geo.has_asn,
            "locating": page.locating}


async def page(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    scope = parse_scope(page.request.query, page.now_ms)
    panels = await page.query(data.summary, graph.store, scope.start_ms, scope.end_ms)
    extent = await page.query(data.graph_extent, graph.store)
    geolocations = await page.query(data.new_geolocations, graph.store, scope.start_ms, scope.end_ms)
    asos = await page.query(data.new_asos, graph.store, scope.start_ms, scope.end_ms)
    geo = page.geoip
    investigations = investigations_by_severity(page, graph.arn, scope)
    empty = not any(panels[k] for k in ("principals", "ipAddresses", "instances", "flowAddresses", "newEntities",
                                        "findings"))
    return page.render("summary.html", title="Summary", scope=scope, panels=panels,
                       investigations=investigations, geolocations=geolocations, extent=extent, wide=widen(extent),
                       empty=empty, geomap=places_map(graph.id, scope, geolocations, geo) if geolocations else None,
                       asos=with_numbers(asos, geo) if asos is not None else None, geoip=geoip_state(page))
