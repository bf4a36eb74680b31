"""The console's start, its static files, and Detective's own profile links.

Detective's console links to a profile as ``<console>/detective/home?region=R#entities/<Type>/<id>
?scopeStart=<s>&scopeEnd=<s>`` (GuardDuty and Security Hub write such links); a few lines of
console.js turn the fragment, on any console page, into ``/console/detective?...``, answered
here with a redirect to the same profile in the caller's graph of that Region.
"""

from __future__ import annotations

from gumshoe.console import data, names
from gumshoe.console.page import NotFound, Page
from gumshoe.console.render import profile_url
from gumshoe.console.timescope import DEFAULT_PRESET, TimeScope, detective_time, preset
from gumshoe.console.web import Response, redirect, url
from gumshoe.errors import DetectiveError


async def home(page: Page) -> Response:
    try:
        graphs = page.call("ListGraphs").get("GraphList") or []
    except DetectiveError:
        graphs = []
    if graphs:
        return redirect(f"/console/graphs/{graphs[0]['Arn'].rsplit(':', 1)[-1]}/summary")
    return redirect("/console/accounts")


async def static(page: Page, name: str) -> Response:
    return page.console.static_file(name)


async def vendor_static(page: Page, name: str) -> Response:
    return page.console.static_file(f"vendor/{name}")


async def detective_link(page: Page) -> Response:
    query = page.request.query
    region = query.get("region") if query.get("region") in page.regions else page.region
    graphs = page.call("ListGraphs", region=region).get("GraphList") or []
    if not graphs:
        raise NotFound(f"This link opens a profile in your behavior graph in {region}, and your account administers "
                       "no behavior graph there. Create one on the Accounts page, or switch Region.")
    graph = page.open_graph(graphs[0]["Arn"].rsplit(":", 1)[-1])
    kind = query.get("kind", "entities")
    given_type = query.get("type", "")
    entity_id = query.get("id", "")
    if kind == "findings":
        entity_type = "finding"
        entity_id = await page.query(data.finding_arn, graph.store, entity_id) or entity_id
    else:
        entity_type = names.DETECTIVE_TYPES.get(given_type.lower(), given_type)
    start, end = detective_time(query.get("scopeStart")), detective_time(query.get("scopeEnd"))
    scope = TimeScope(start, end) if start is not None and end is not None and start < end \
        else preset(DEFAULT_PRESET, page.now_ms)
    found = await page.query(data.entity, graph.store, entity_id) if entity_id else None
    if found is None:
        return redirect(url(f"/console/graphs/{graph.id}/search", q=entity_id,
                            type=entity_type if entity_type in names.ENTITY_LABELS else None))
    return redirect(profile_url(graph.id, found["type"], entity_id, scope))
