"""A graph's finding groups: ``/console/graphs/<graph id>/finding-groups?scope=`` lists those
active in the scope; ``…/finding-groups/<group id>`` shows one as an interactive graph of its
findings (one node per finding type, with its count) and the entities they involve, with
tables of the same nodes and edges (the page without JavaScript), and its findings over time:
a chart of the findings active in each interval by severity, with their table under it."""

from __future__ import annotations

import re
from typing import Any

from gumshoe.console import data, groups, timeline
from gumshoe.console.page import NotFound, Page
from gumshoe.console.render import profile_url
from gumshoe.console.timescope import HOUR_MS, TimeScope, parse_scope
from gumshoe.console.web import Response

SEVERITY_STACK = ("Critical", "High", "Medium", "Low")  # from the bottom of a bar up


def findings_chart(found: dict[str, Any], scope: TimeScope) -> timeline.Stacked:
    """The group's findings active in each interval of its lifetime, by GuardDuty severity."""
    spans = [timeline.Span(f["severityLabel"], f["firstSeen"], f["lastSeen"]) for f in found["findings"]]
    return timeline.stacked(spans, scope.start_ms, scope.end_ms, SEVERITY_STACK)


GROUP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def index(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    scope = parse_scope(page.request.query, page.now_ms)
    listed = await page.query(groups.finding_groups, graph.store, graph.arn, scope.start_ms, scope.end_ms)
    return page.render("finding_groups.html", title="Finding groups", scope=scope, groups=listed)


def lifetime(found: dict[str, Any]) -> TimeScope:
    """Whole hours around the group's first and last finding activity."""
    return TimeScope(found["firstSeen"] // HOUR_MS * HOUR_MS, (found["lastSeen"] // HOUR_MS + 1) * HOUR_MS)


def _graph_json(graph_id: str, found: dict[str, Any], scope: TimeScope) -> dict[str, Any]:
    """What fgraph.js draws: nodes and edges with their profile URLs (no HTML: text only)."""
    def href(node: dict[str, Any]) -> str | None:
        link = node["link"]
        return profile_url(graph_id, link["type"], link["id"], scope) if link else None

    return {
        "nodes": [{"id": n["key"], "type": n["type"], "label": n["label"], "count": n["count"], "href": href(n),
                   "investigate": n["type"] in data.INVESTIGABLE_TYPES and n["link"] is not None,
                   "entity": n["id"]} for n in found["nodes"]],
        "edges": [{"id": f"e{i}", "source": e["source"], "target": e["target"], "kind": e["kind"], "count": e["count"]}
                  for i, e in enumerate(found["edges"])],
    }


async def show(page: Page, graph_id: str, group_id: str) -> Response:
    graph = page.open_graph(graph_id)
    if not GROUP_ID.match(group_id):
        raise NotFound("There is no such finding group.")
    found = await page.query(groups.group, graph.store, graph.arn, group_id)
    if found is None:
        raise NotFound("There is no such finding group in this behavior graph (a group's id changes when an earlier "
                       "finding joins it: open it again from the list).")
    scope = lifetime(found)
    labels = {n["key"]: n["label"] for n in found["nodes"]}
    return page.render("finding_group.html", title="Finding group", group=found, scope=scope, labels=labels,
                       graph_data=_graph_json(graph.id, found, scope), investigable=data.INVESTIGABLE_TYPES,
                       finding_type=groups.FINDING_TYPE, chart=findings_chart(found, scope),
                       severities=SEVERITY_STACK)
