"""One request the console is answering: who asks (the session), the graph it is about, and
the helpers every page uses (the API called as the caller, templates, errors). Below both
the console's front door (app.py) and its pages, which both build on it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import select

from gumshoe.api._context import Context
from gumshoe.api._graphs import administered_graph
from gumshoe.api.registry import HANDLERS
from gumshoe.clock import now_ms
from gumshoe.console.render import Templates
from gumshoe.console.session import COOKIE, Session, Sessions
from gumshoe.console.web import Request, Response, html
from gumshoe.errors import DetectiveError
from gumshoe.graph.store import GraphStore
from gumshoe.identity.accounts import Caller
from gumshoe.investigate.geo import GeoIP
from gumshoe.store.schema import graphs

GRAPH_ID = re.compile(r"^[0-9a-f]{32}$")


class ConsoleParts(Protocol):
    """What a page needs of the console (app.Console)."""

    server: Any  # the Gumshoe application: its services, graph stores, API and jobs
    sessions: Sessions
    templates: Templates
    regions: list[str]
    exports: Path  # where raw-event exports are written before they are sent

    @property
    def services(self) -> Any: ...

    def static_file(self, name: str) -> Response: ...


class NotFound(Exception):
    """Answered with the console's 404 page (for a graph: also when the caller may not see it)."""

    def __init__(self, what: str = "This page does not exist.") -> None:
        super().__init__(what)
        self.what = what


class Refused(Exception):
    """A request the console will not carry out (a missing or wrong CSRF token, say)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Graph:
    arn: str
    id: str
    region: str
    store: GraphStore


Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # "*" captures a segment
    handler: Handler
    signed_in: bool = True
    csrf: bool = True  # for POST


@dataclass
class _Audited:
    params: dict[str, Any] | None = None


class Page:
    """One request being answered: who asks, and the helpers every page uses."""

    def __init__(self, console: ConsoleParts, request: Request, session: Session | None) -> None:
        self.console = console
        self.request = request
        self.session = session
        self.now_ms = now_ms()
        self.graph: Graph | None = None
        self._new_cookie: str | None = None

    # Who
    @property
    def account_id(self) -> str:
        assert self.session is not None
        return str(self.console.services.directory.account_for_key(self.session.access_key_id))

    @property
    def region(self) -> str:
        return self.session.region if self.session is not None else self.console.server.settings.default_region

    @property
    def csrf(self) -> str:
        return self.console.sessions.csrf_token(self.session) if self.session is not None else ""

    def caller(self, region: str | None = None) -> Caller:
        assert self.session is not None
        return Caller(self.account_id, region or self.region, self.session.access_key_id, self.request.client_ip,
                      self.request.user_agent)

    # The API
    def call(self, operation: str, params: dict[str, Any] | None = None, region: str | None = None) -> dict[str, Any]:
        """Call an api function as the signed-in caller, exactly as the AWS API does: the
        parameters validated by the operation's codec, the result as the wire has it (JSON),
        due jobs run, the call recorded in the audit trail. DetectiveError on refusal."""
        codec = self.console.server.aws_api.codecs[operation]
        caller = self.caller(region)
        with self._audited(operation, caller) as audit:
            audit.params = parsed = codec.parse({}, b"", orjson.dumps(params or {}))
            body = codec.serialize(self._handle(caller, lambda ctx: HANDLERS[operation](ctx, parsed)))
            return orjson.loads(body) if body else {}

    def call_own(self, operation: str, fn: Callable[[Context, dict[str, Any]], Any],
                 params: dict[str, Any]) -> Any:
        """Call one of Gumshoe's own api functions, which no AWS operation (and so no codec)
        has, as the signed-in caller: its own checks, due jobs run, the call recorded in the
        audit trail under ``operation``. DetectiveError on refusal."""
        caller = self.caller()
        with self._audited(operation, caller) as audit:
            audit.params = params
            return self._handle(caller, lambda ctx: fn(ctx, params))

    def _handle(self, caller: Caller, fn: Callable[[Context], Any]) -> Any:
        """An api function's answer for the caller, with the jobs it made due run."""
        server = self.console.server
        ctx = Context(caller=caller, services=server.services, now_ms=now_ms())
        result = fn(ctx)
        if ctx.jobs_due:
            server.jobs.run_due()
        return result

    @contextmanager
    def _audited(self, operation: str, caller: Caller) -> Iterator[_Audited]:
        """The block's call recorded in the audit trail, refused or not, with the parameters
        the block sets (None when they did not parse)."""
        audit = _Audited()
        error: DetectiveError | None = None
        try:
            yield audit
        except DetectiveError as exc:
            error = exc
            raise
        finally:
            self.console.server.aws_api.record_call(caller, operation, audit.params, error, self.request.request_id,
                                                    caller.source_ip)

    def call_all(self, operation: str, params: dict[str, Any], key: str, region: str | None = None,
                 pages_max: int = 20) -> list[Any]:
        """Every page of a list operation (up to ``pages_max`` pages)."""
        out: list[Any] = []
        token = None
        for _ in range(pages_max):
            answer = self.call(operation, {**params, **({"NextToken": token} if token else {})}, region)
            out += answer.get(key) or []
            token = answer.get("NextToken")
            if not token:
                break
        return out

    # Graphs
    def open_graph(self, graph_id: str) -> Graph:
        """A graph the caller administers, by its id; NotFound for any other (or none). A graph
        page is in the graph's own Region: the id names the graph, whatever Region the
        caller's other pages show."""
        if not GRAPH_ID.match(graph_id):
            raise NotFound("There is no such behavior graph.")
        account = self.account_id
        store = self.console.services.store
        with store.read() as conn:
            rows = conn.execute(select(graphs.c.arn, graphs.c.region).where(graphs.c.administrator_id == account)).all()
        match = next(((arn, region) for arn, region in rows if arn.endswith(f":graph:{graph_id}")), None)
        if match is None:
            raise NotFound("There is no such behavior graph, or your account is not its administrator.")
        arn, region = match
        try:
            with store.snapshot() as snap:
                administered_graph(snap, arn, account, region)
        except DetectiveError:
            raise NotFound("There is no such behavior graph, or your account is not its administrator.") from None
        self.graph = Graph(arn, graph_id, region, self.console.server.graph_stores.get(arn))
        return self.graph

    @property
    def geoip(self) -> GeoIP | None:
        """The server's GeoIP databases (the investigations'), for the coordinates of places on a
        map; None when none is configured."""
        runner = getattr(self.console.server, "investigations", None)
        return getattr(getattr(runner, "investigator", None), "geo", None)

    @property
    def locating(self) -> bool:
        """Whether the server is still geolocating the graphs' addresses in the background."""
        return bool(getattr(getattr(self.console.server, "investigations", None), "locating", False))

    async def query(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A graph-store question, off the event loop (DuckDB works without the GIL)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    # Answers
    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        text = self.console.templates.render(template, page=self, **values)
        response = html(text, status)
        if self._new_cookie is not None:
            response.set_cookie(COOKIE, self._new_cookie, max_age=self.session_max_age(), secure=self.request.secure)
        return response

    def session_max_age(self) -> int:
        if self.session is None:
            return 0
        return max(0, self.session.expires - self.now_ms // 1000)

    def error(self, status: int, title: str, message: str, back: str | None = None) -> Response:
        return self.render("error.html", status=status, title=title, message=message, back=back)

    @property
    def regions(self) -> list[str]:
        return self.console.regions

    @property
    def auth(self) -> str:
        return str(self.console.server.settings.auth)
