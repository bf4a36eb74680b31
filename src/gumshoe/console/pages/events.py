"""Raw events: ``/console/graphs/<graph id>/events?source=&join=&f0=&o0=&v0=…&from=&to=[&page=]``
searches one of the graph's raw tables in the scope time (console/events.py builds the
query), 100 records a page, newest first; ``…/events.csv`` and ``…/events.parquet`` download
every record of the same query.

An export is written in one read of the store (its read rules: this thread's connection, one
of its few read slots) to a temporary file under the data directory's ``exports/``, then sent
from that file in pieces and deleted: memory stays bounded however many records match, and a
slow download never holds a read slot of the store."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from gumshoe.console import events
from gumshoe.console.page import Page
from gumshoe.console.render import utc
from gumshoe.console.timescope import TimeScope, iso, parse_scope
from gumshoe.console.web import FileBody, Response, url
from gumshoe.graph.store import GraphStore


def _page_number(value: str | None) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 9:
        return 1
    return max(1, int(value))


def _query(page: Page) -> tuple[TimeScope, events.Query] | Response:
    scope = parse_scope(page.request.query, page.now_ms)
    try:
        return scope, events.parse(page.request.query, scope.start_ms, scope.end_ms)
    except events.QueryError as exc:
        return page.error(400, "The search is not valid", str(exc), back=page.request.path)


async def page(page: Page, graph_id: str) -> Response:
    graph = page.open_graph(graph_id)
    parsed = _query(page)
    if isinstance(parsed, Response):
        return parsed
    scope, query = parsed
    number = _page_number(page.request.query.get("page"))
    found = await page.query(events.search, graph.store, query, (number - 1) * events.PAGE_SIZE, events.PAGE_SIZE)
    pages = max(1, -(-found["total"] // events.PAGE_SIZE))
    path = page.request.path
    here = {**query.params(), **scope.query()}

    def link(n: int) -> str:
        return url(path, **here, page=n) + "#results"

    nav = {"number": number, "pages": pages, "total": found["total"],
           "prev": link(number - 1) if number > 1 else None, "next": link(number + 1) if number < pages else None}
    rows = [*query.filters, *[events.Filter("", "equals", "")] * (events.MAX_FILTERS - len(query.filters))]
    return page.render(
        "events.html", title="Raw events", scope=scope, query=query, sources=events.SOURCES,
        operators=events.OPERATORS, valueless=events.VALUELESS, rows=rows, found=found,
        cells=events.rows_for_page(found["rows"], found["columns"], utc), nav=nav,
        keep=query.params(), csv_url=url(path + ".csv", **here), parquet_url=url(path + ".parquet", **here),
    )


def _filename(query: events.Query, scope: TimeScope, suffix: str) -> str:
    stamp = re.sub(r"[^0-9TZ]", "", iso(scope.start_ms)) + "-" + re.sub(r"[^0-9TZ]", "", iso(scope.end_ms))
    return f"gumshoe-{query.source.name}-{stamp}.{suffix}"


# How each export is written, and its media type.
EXPORTS: dict[str, tuple[Callable[[GraphStore, events.Query, Path], int], str]] = {
    "csv": (events.export_csv, "text/csv; charset=utf-8"),
    "parquet": (events.export_parquet, "application/vnd.apache.parquet"),
}


async def _spool(page: Page, write: Callable[[GraphStore, events.Query, Path], int], store: GraphStore,
                 query: events.Query, suffix: str) -> tuple[Path, int]:
    """The export written to a new temporary file (off the event loop): its path and how many
    records it holds. A request given up on (the client gone) leaves no file behind, even when
    the writing thread finishes after it."""
    folder = page.console.exports
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="export-", suffix=f".{suffix}", dir=folder)
    os.close(handle)
    path = Path(name)
    abandoned = threading.Event()

    def run() -> int:
        try:
            return write(store, query, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            if abandoned.is_set():
                path.unlink(missing_ok=True)

    try:
        rows: int = await page.query(run)
    except BaseException:
        abandoned.set()
        path.unlink(missing_ok=True)
        raise
    return path, rows


async def export(page: Page, graph_id: str, kind: str) -> Response:
    graph = page.open_graph(graph_id)
    parsed = _query(page)
    if isinstance(parsed, Response):
        return parsed
    scope, query = parsed
    write, content_type = EXPORTS[kind]
    path, rows = await _spool(page, write, graph.store, query, kind)
    response = Response(content_type=content_type, file=FileBody(path))
    response.headers += [
        (b"content-disposition", f'attachment; filename="{_filename(query, scope, kind)}"'.encode()),
        (b"x-gumshoe-rows", str(rows).encode()),
    ]
    return response


async def export_csv(page: Page, graph_id: str) -> Response:
    return await export(page, graph_id, "csv")


async def export_parquet(page: Page, graph_id: str) -> Response:
    return await export(page, graph_id, "parquet")
