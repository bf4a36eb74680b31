"""Search: an entity by type and identifier. An exact match opens its profile; otherwise the
entities whose identifier contains the text are listed. ``complete`` feeds the search box's
datalist (identifiers that start with what was typed), as JSON."""

from __future__ import annotations

from gumshoe.console import data, names
from gumshoe.console.page import Page
from gumshoe.console.render import profile_url
from gumshoe.console.timescope import parse_scope
from gumshoe.console.web import Response, json_response, redirect

MAX_TEXT = 2048


def _type(value: str | None) -> str | None:
    return value if value in names.ENTITY_LABELS else None


async def page(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    query = page.request.query
    scope = parse_scope(query, page.now_ms)
    text = (query.get("q") or "").strip()[:MAX_TEXT]
    entity_type = _type(query.get("type"))
    results = await page.query(data.search, graph.store, entity_type, text) if text else []
    exact = [r for r in results if r["exact"]]
    if len(exact) == 1 and query.get("go") != "list":
        return redirect(profile_url(graph.id, exact[0]["type"], exact[0]["id"], scope))
    return page.render("search.html", title="Search", scope=scope, text=text, entity_type=entity_type,
                       results=results, searched=bool(text))


async def complete(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    prefix = (page.request.query.get("q") or "")[:MAX_TEXT]
    found = await page.query(data.complete, graph.store, _type(page.request.query.get("type")), prefix)
    return json_response({"values": found})
