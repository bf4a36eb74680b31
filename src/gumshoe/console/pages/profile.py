"""An entity's profile: ``/console/graphs/<graph id>/entities/<type>/<url-quoted id>?from=&to=``.

The panels of ``graph.queries.profile`` as tables, the API call volume per hour as a chart
(successful and failed calls; VPC flows for addresses and instances), the related entities
as links by relationship, a page of each at a time (``&rel=<direction>-<kind>&rpage=N``:
an instance role has thousands of sessions), the places of its addresses on a map (once
located). ``&hour=<epoch ms>`` narrows the panels to that hour and lists its raw events, a
page at a time (``&page=N``); a chart bar links there, and so does each row of the table
under the chart, for keyboards and for browsers without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gumshoe.console import data, names, worldmap
from gumshoe.console.events import entity_queries
from gumshoe.console.page import NotFound, Page
from gumshoe.console.render import profile_url
from gumshoe.console.timescope import HOUR_MS, TimeScope, parse_scope
from gumshoe.console.web import Response, redirect, url
from gumshoe.graph import queries

PAGE_SIZE = 50
RELATED_PAGE = 25  # related entities of one relationship shown at a time


def int_param(value: str | None, default: int, low: int, high: int) -> int:
    """A query parameter's whole number between ``low`` and ``high``; ``default`` when it is none."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 15:
        return default
    return max(low, min(high, int(value)))


async def entity_of(page: Page, graph: Any, entity_type: str, entity_id: str,
                    scope: TimeScope) -> dict[str, Any] | Response:
    """The graph's entity of this type and id; a redirect to its profile when it is of another
    type; NotFound when the graph has none by that id."""
    found = await page.query(data.entity, graph.store, entity_id)
    if found is None:
        raise NotFound("The behavior graph has no such entity. Search for it by a part of its identifier.")
    if found["type"] != entity_type:
        return redirect(profile_url(graph.id, found["type"], entity_id, scope))
    return found  # type: ignore[no-any-return]


def hour_window(query: dict[str, str], scope: TimeScope) -> tuple[int | None, TimeScope]:
    """The hour ``hour=`` chooses inside the scope (None: none), and the window it narrows to."""
    if not query.get("hour"):
        return None, scope
    hour = int_param(query.get("hour"), scope.start_ms, scope.start_ms, scope.end_ms - 1) // HOUR_MS * HOUR_MS
    return hour, TimeScope(hour, hour + HOUR_MS)


def _panels(profile: dict[str, Any], kinds: dict[str, str], located: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """The profile's panels in the console's order; a value that is an entity links to its profile."""
    out = []
    panels = profile["panels"]
    for name in [*names.PANEL_ORDER, *sorted(set(panels) - set(names.PANEL_ORDER))]:
        rows = panels.get(name)
        if not rows:
            continue
        out.append({
            "name": name, "title": names.PANEL_TITLES.get(name, name),
            "column": names.PANEL_COLUMNS.get(name, "Value"), "bytes": name.startswith("flow_"),
            "rows": [{**r, "link": kinds.get(r["value"]), "place": located.get(r["value"])} for r in rows],
        })
    return out


def places_of(graph_id: str, scope: TimeScope, located: dict[str, dict[str, str]], geo: Any
              ) -> tuple[worldmap.Map, list[dict[str, Any]]] | None:
    """The located addresses of a profile: on the map (a dot per place, linking to the address
    when it is the only one there) and as a table of places (its text)."""
    by_place: dict[str, dict[str, Any]] = {}
    for ip in sorted(located):
        where = located[ip]
        if not where["location"]:
            continue
        row = by_place.setdefault(where["location"], {"location": where["location"], "ips": [], "asos": []})
        row["ips"].append(ip)
        if where["aso"] and where["aso"] not in row["asos"]:
            row["asos"].append(where["aso"])
    if not by_place:
        return None
    rows = sorted(by_place.values(), key=lambda r: (-len(r["ips"]), r["location"]))
    drawn = worldmap.draw([
        worldmap.Place(r["location"], r["ips"][0], [", ".join(r["ips"])],
                       href=profile_url(graph_id, "ip_address", r["ips"][0], scope) if len(r["ips"]) == 1 else None)
        for r in rows], geo)
    return drawn, rows


def related_groups(related: list[dict[str, Any]], totals: list[dict[str, Any]], query: dict[str, str],
                   link: Callable[[str, int], str]) -> list[dict[str, Any]]:
    """The related entities by relationship (kind and direction, the busiest first),
    ``RELATED_PAGE`` of each at a time: the page of the group the URL names (``rel``,
    ``rpage``), the first of the others. ``link(group, n)`` is the URL of a group's page n.
    ``totals`` says how many each relationship has in all (the profile lists the busiest)."""
    in_all = {f"{t['direction']}-{t['kind']}": t["count"] for t in totals}
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in related:
        groups.setdefault(f"{r['direction']}-{r['kind']}", []).append(r)
    out = []
    for key, rows in groups.items():
        pages = max(1, -(-len(rows) // RELATED_PAGE))
        number = min(int_param(query.get("rpage"), 1, 1, pages), pages) if query.get("rel") == key else 1
        out.append({
            "key": key, "label": names.relationship_label(rows[0]["kind"], rows[0]["direction"]),
            "total": in_all.get(key, len(rows)), "listed": len(rows),
            "rows": rows[(number - 1) * RELATED_PAGE:number * RELATED_PAGE],
            "nav": None if pages == 1 else {
                "number": number, "pages": pages, "total": len(rows), "listed": len(rows) < in_all.get(key, 0),
                "prev": link(key, number - 1) if number > 1 else None,
                "next": link(key, number + 1) if number < pages else None},
        })
    return out


def lifetime(entity: dict[str, Any]) -> TimeScope:
    """Whole hours around an entity's first and last event (the last 30 days of it at most)."""
    end = (entity["lastSeen"] // HOUR_MS + 1) * HOUR_MS
    start = max(entity["firstSeen"] // HOUR_MS * HOUR_MS, end - 30 * 24 * HOUR_MS)
    return TimeScope(start, end)


async def page(page: Page, graph_id: str, entity_type: str, entity_id: str) -> Response:
    graph = page.open_graph(graph_id)
    query = page.request.query
    scope = parse_scope(query, page.now_ms)
    if not query.get("from") or not query.get("to"):
        # A preset (or the default) becomes fixed times: a profile's URL shows the same thing when shared.
        extra = {k: query[k] for k in ("hour",) if query.get(k)}
        return redirect(profile_url(graph.id, entity_type, entity_id, scope, **extra))
    found = await entity_of(page, graph, entity_type, entity_id, scope)
    if isinstance(found, Response):
        return found
    hour, window = hour_window(query, scope)
    profile = await page.query(queries.profile, graph.store, entity_id, window.start_ms, window.end_ms)
    assert profile is not None
    overall = profile if hour is None else await page.query(queries.profile, graph.store, entity_id,
                                                            scope.start_ms, scope.end_ms)
    volume = data.hourly_series(overall["hourlyApiVolume"], scope.start_ms, scope.end_ms, "success", "failure")
    flows_rows = await page.query(data.flow_volume, graph.store, entity_type, entity_id, scope.start_ms, scope.end_ms)
    flows = data.hourly_series(flows_rows, scope.start_ms, scope.end_ms, "accepted", "rejected") if flows_rows else None
    value_ids = [r["value"] for p in profile["panels"].values() for r in p]
    kinds = await page.query(data.types_of, graph.store, value_ids) if value_ids else {}
    addresses = [i for i, t in kinds.items() if t == "ip_address"] + ([entity_id] if entity_type == "ip_address" else [])
    located = await page.query(data.places, graph.store, addresses, page.geoip)
    page_number = int_param(query.get("page"), 1, 1, 1_000_000)
    events = flows_page = None
    breakdown: list[dict[str, Any]] = []
    if hour is not None:
        offset = (page_number - 1) * PAGE_SIZE
        if data.has_raw_events(entity_type):
            events = await page.query(data.raw_events, graph.store, entity_type, entity_id, window.start_ms,
                                      window.end_ms, offset, PAGE_SIZE)
            breakdown = await page.query(data.call_breakdown, graph.store, entity_type, entity_id, window.start_ms,
                                         window.end_ms)
        if flows_rows:
            flows_page = await page.query(data.raw_flows, graph.store, entity_type, entity_id, window.start_ms,
                                          window.end_ms, offset, PAGE_SIZE)
    details = await page.query(data.finding, graph.store, entity_id) if entity_type == "finding" else None

    def nav(found: dict[str, Any] | None) -> dict[str, Any] | None:
        if found is None:
            return None
        pages = max(1, -(-found["total"] // PAGE_SIZE))
        def link(n: int) -> str:
            return profile_url(graph.id, entity_type, entity_id, scope, hour=hour, page=n) + "#events"
        return {"number": page_number, "pages": pages, "total": found["total"],
                "prev": link(page_number - 1) if page_number > 1 else None,
                "next": link(page_number + 1) if page_number < pages else None}

    drill = profile_url(graph.id, entity_type, entity_id, scope)

    def related_link(group: str, n: int) -> str:
        return profile_url(graph.id, entity_type, entity_id, scope, hour=hour, rel=group, rpage=n) + f"#rel-{group}"
    hour_links = [] if hour is None else [
        (label, url(f"/console/graphs/{graph.id}/events", **params, **window.range_query()))
        for label, params in entity_queries(entity_type, entity_id)]
    chart = {"hours": volume["hours"], "series": [volume["success"], volume["failure"]],
             "labels": ["Successful calls", "Failed calls"], "drill": drill, "selected": hour}
    flow_chart = None
    if flows is not None:
        flow_chart = {"hours": flows["hours"], "series": [flows["accepted"], flows["rejected"]],
                      "labels": ["Accepted flows", "Rejected flows"], "drill": drill, "selected": hour}
    active = any(volume["success"]) or any(volume["failure"]) or bool(profile["panels"]) or bool(profile["related"]) \
        or (flows is not None and (any(flows["accepted"]) or any(flows["rejected"])))
    return page.render(
        "profile.html", title=f"{names.entity_label(entity_type)} {entity_id}", scope=scope, entity=found,
        profile=profile, panels=_panels(profile, kinds, located), volume=volume, chart=chart, flows=flows,
        flow_chart=flow_chart, hour=hour, window=window, events=events, flows_page=flows_page,
        page_number=page_number, page_size=PAGE_SIZE, details=details, active=active, drill=drill,
        investigable=entity_type in data.INVESTIGABLE_TYPES, events_nav=nav(events), flows_nav=nav(flows_page),
        breakdown=breakdown, ip_types=await page.query(data.types_of, graph.store, [b["sourceIp"] for b in breakdown]),
        wide=lifetime(found).range_query(), hour_links=hour_links, places=places_of(graph.id, scope, located, page.geoip),
        related=related_groups(profile["related"], profile["relatedTotals"], query, related_link),
    )
