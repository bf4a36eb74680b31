"""The VPC flow drill-down tab of an address's or an instance's profile:
``/console/graphs/<graph id>/entities/<type>/<id>/flows?from=&to=[&hour=][&sort=&order=][&page=][&plot=…]``.

The flow volume per hour as a chart (a bar, or an hour of the table under it, narrows the
drill-down to that hour); the drill-down of the hour or of the whole scope (console/flows.py),
50 rows a page, sorted by bytes or records; each row with links to its raw records. Ticked
rows (``plot=``, repeated: each a row's token) are drawn as series of bytes per hour over
the scope: by static/flowplot.js as soon as a box is ticked, and without JavaScript by the
"Plot ticked rows" button of the page's GET form, as an SVG drawn here. The selection is in
the URL, so a plotted page can be shared.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from gumshoe.console import data, flows
from gumshoe.console.flows import Conversation
from gumshoe.console.page import NotFound, Page
from gumshoe.console.pages.profile import entity_of, hour_window, int_param
from gumshoe.console.render import flows_url, human_bytes, utc_short
from gumshoe.console.timescope import HOUR_MS, parse_scope
from gumshoe.console.web import Response, redirect, url

ANCHOR = "drilldown"
# The static plot's drawing area, in SVG units (it scales with the card).
WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 78, 14, 12, 40


def plotted(raw_query: str) -> tuple[list[Conversation], int]:
    """The rows ``plot=`` names, in the order ticked, without repeats: (the first
    MAX_PLOTTED of them, how many more were named or could not be read)."""
    keys: list[Conversation] = []
    unread = 0
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        if name != "plot":
            continue
        key = flows.parse_token(value)
        if key is None:
            unread += 1
        elif key not in keys:
            keys.append(key)
    return keys[: flows.MAX_PLOTTED], unread + max(0, len(keys) - flows.MAX_PLOTTED)


def _static_plot(keys: list[Conversation], per_hour: dict[Conversation, dict[int, int]], hours: list[int],
                 selected: int | None) -> dict[str, Any]:
    """The geometry of the ticked rows' chart as an SVG: a line per row, at the middle of its hours."""
    count = max(1, len(hours))
    first = hours[0] if hours else 0
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max([1, *(v for key in keys for v in per_hour.get(key, {}).values())])

    def x(i: float) -> float:
        return round(LEFT + (i + 0.5) * width / count, 1)

    def y(v: int) -> float:
        return round(TOP + height - v / top * height, 1)

    lines = []
    for n, key in enumerate(keys):
        values = {(h - first) // HOUR_MS: v for h, v in per_hour.get(key, {}).items()}
        points: list[tuple[float, float]] = []
        for i in sorted(values):
            if i - 1 >= 0 and i - 1 not in values:
                points.append((x(i - 1), y(0)))
            points.append((x(i), y(values[i])))
            if i + 1 < count and i + 1 not in values:
                points.append((x(i + 1), y(0)))
        if not points:
            points = [(x(0), y(0)), (x(count - 1), y(0))]
        lines.append({"token": key.token, "label": key.label, "color": flows.COLORS[n % len(flows.COLORS)],
                      "points": " ".join(f"{a},{b}" for a, b in points), "total": sum(values.values())})
    ticks = [{"y": y(v), "label": human_bytes(v)} for v in (0, top // 2, top)]
    marks = sorted({0, count // 2, count - 1}) if hours else []
    anchors = {0: "start", count - 1: "end"}
    times = [{"x": x(i), "label": utc_short(hours[i]), "anchor": anchors.get(i, "middle")} for i in marks]
    band = None
    if selected is not None and hours and first <= selected < first + count * HOUR_MS:
        i = (selected - first) // HOUR_MS
        band = {"x": round(LEFT + i * width / count, 1), "width": round(width / count, 1)}
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": HEIGHT - BOTTOM, "lines": lines, "ticks": ticks, "times": times, "band": band}


async def page(page: Page, graph_id: str, entity_type: str, entity_id: str) -> Response:
    graph = page.open_graph(graph_id)
    if entity_type not in flows.ENTITY_TYPES:
        raise NotFound("VPC flows are drilled down for IP addresses and EC2 instances.")
    query = page.request.query
    scope = parse_scope(query, page.now_ms)
    keys, left_out = plotted(page.request.raw_query)
    sort = query.get("sort") if query.get("sort") in flows.SORTS else "bytes"
    descending = query.get("order") != "asc"
    keep: dict[str, Any] = {"sort": None if sort == "bytes" else sort, "order": None if descending else "asc",
                            "plot": [k.token for k in keys]}
    if not query.get("from") or not query.get("to"):
        return redirect(flows_url(graph.id, entity_type, entity_id, scope, hour=query.get("hour"), **keep))
    found = await entity_of(page, graph, entity_type, entity_id, scope)
    if isinstance(found, Response):
        return found
    hour, window = hour_window(query, scope)
    number = int_param(query.get("page"), 1, 1, 1_000_000)
    drill = await page.query(flows.drilldown, graph.store, entity_type, entity_id, window.start_ms, window.end_ms,
                             sort, descending, (number - 1) * flows.PAGE_SIZE, flows.PAGE_SIZE)
    volume_rows = await page.query(data.flow_volume, graph.store, entity_type, entity_id, scope.start_ms,
                                   scope.end_ms)
    volume = data.hourly_series(volume_rows, scope.start_ms, scope.end_ms, "accepted", "rejected")
    on_page = [r["key"] for r in drill["rows"]]
    per_hour = await page.query(flows.series, graph.store, entity_type, entity_id, scope.start_ms, scope.end_ms,
                                on_page + keys)
    hours = volume["hours"]

    def here(**changes: Any) -> str:
        params = {"hour": hour, **keep, "page": number if number > 1 else None, **changes}
        return flows_url(graph.id, entity_type, entity_id, scope, **params)

    pages = max(1, -(-drill["total"] // flows.PAGE_SIZE))
    nav = {"number": number, "pages": pages, "total": drill["total"],
           "prev": here(page=number - 1) + f"#{ANCHOR}" if number > 1 else None,
           "next": here(page=number + 1) + f"#{ANCHOR}" if number < pages else None}
    sorts = {key: here(sort=None if key == "bytes" else key, page=None,
                       order="asc" if key == sort and descending else None) + f"#{ANCHOR}"
             for key in flows.SORTS}
    searches = {r["token"]: {d: url(f"/console/graphs/{graph.id}/events", **params, **window.range_query())
                             for d, params in flows.record_searches(entity_type, entity_id, r["key"]).items()}
                for r in drill["rows"]}
    ticked = {k.token for k in keys}
    first = hours[0] if hours else scope.start_ms
    plot_data = {
        "first": first, "count": len(hours), "selected": hour, "colors": list(flows.COLORS), "max": flows.MAX_PLOTTED,
        "plotted": [k.token for k in keys],
        "rows": {key.token: {"label": key.label,
                             "points": [[(h - first) // HOUR_MS, v] for h, v in sorted(per_hour.get(key, {}).items())]}
                 for key in dict.fromkeys(on_page + keys)},
    }
    chart = {"hours": hours, "series": [volume["accepted"], volume["rejected"]],
             "labels": ["Accepted flows", "Rejected flows"], "drill": here(hour=None, page=None), "selected": hour,
             "anchor": ANCHOR}
    return page.render(
        "flows.html", title=f"VPC flows of {entity_id}", scope=scope, entity=found, hour=hour, window=window,
        drill=drill, volume=volume, chart=chart, nav=nav, sort=sort, descending=descending, sorts=sorts,
        sort_labels=flows.SORT_LABELS, directions=flows.DIRECTIONS, searches=searches, ticked=ticked,
        off_page=[k for k in keys if k not in set(on_page)], plotted=keys, left_out=left_out,
        static_plot=_static_plot(keys, per_hour, hours, hour) if keys else None, plot_data=plot_data,
        max_plotted=flows.MAX_PLOTTED, keep={k: v for k, v in keep.items() if v}, whole=here(hour=None, page=None) + f"#{ANCHOR}",
        hour_link=lambda h: here(hour=h, page=None) + f"#{ANCHOR}", anchor=ANCHOR,
        clear=here(plot=[]) + f"#{ANCHOR}",
    )
