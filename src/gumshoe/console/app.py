"""The console's front door: routing, sessions, access to graphs, and the answer to every
request under /console/ (and the browser's GET / , which goes to the console keeping its
fragment, so Detective's own links ``/#entities/...`` open here too).

Who the caller is comes from the session cookie; what the caller may see is decided by the
api functions themselves (``HANDLERS``, called with a ``Context`` exactly as app.py calls them,
their parameters validated by the same codec), or, for a graph's data, by the same
``administered_graph`` check as Gumshoe's /_gumshoe/v1/ API. A graph the caller does not
administer is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import botocore.session
import orjson
from sqlalchemy import select

from gumshoe.api._context import Context
from gumshoe.api._graphs import administered_graph
from gumshoe.api.registry import HANDLERS
from gumshoe.clock import now_ms
from gumshoe.console import pages
from gumshoe.console.render import STATIC, Templates
from gumshoe.console.session import COOKIE, Session, Sessions
from gumshoe.console.timescope import ScopeError
from gumshoe.console.web import (
    FormTooLarge,
    Request,
    Response,
    html,
    json_response,
    parse_request,
    read_form,
    redirect,
    url,
)
from gumshoe.errors import DetectiveError
from gumshoe.graph.store import GraphStore
from gumshoe.identity.accounts import Caller
from gumshoe.store.schema import graphs
from gumshoe.web.asgi import Receive, Send
from gumshoe.web.asgi import Request as HttpRequest

log = logging.getLogger("gumshoe.console")

GRAPH_ID = re.compile(r"^[0-9a-f]{32}$")


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


class Console:
    def __init__(self, server: Any) -> None:
        """``server`` is the Gumshoe application: its services, graph stores, codecs, jobs and
        audit trail are the console's too."""
        self.server = server
        self.sessions = Sessions(server.store.token_secret)
        self.templates = Templates()
        regions = botocore.session.get_session().get_available_regions("detective")
        self.regions = sorted(set(regions) | {server.settings.default_region})
        self.routes = pages.routes()

    @property
    def services(self) -> Any:
        return self.server.services

    # --- ASGI --------------------------------------------------------------------------

    @staticmethod
    def claims(request: HttpRequest) -> bool:
        """Whether a request is the console's: /console and below, and a browser's plain GET /
        (no AWS signature: it wants a page, and may carry a Detective #entities/ fragment)."""
        path = request.path.split("?", 1)[0]
        if path == "/console" or path.startswith("/console/"):
            return True
        if path == "/" and request.method in ("GET", "HEAD"):
            headers = request.headers
            return "authorization" not in headers and "text/html" in headers.get("accept", "")
        return False

    async def handle(self, http: HttpRequest, receive: Receive, send: Send) -> None:
        if http.path in ("/", "/console"):
            # The browser keeps the URL's fragment across a redirect.
            await redirect("/console/", 302).send(send, http.request_id)
            return
        request = parse_request(http)
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        try:
            response = await self._dispatch(request, receive)
        except Exception:
            log.exception("console fault %s %s", request.method, request.path)
            response = html(self.templates.render(
                "error.html", page=self.bare_page(request), title="Something went wrong",
                message="The console could not answer this request. It was logged on the server; try again."), 500)
        await response.send(send, request.request_id, head_only=head)

    async def _dispatch(self, request: Request, receive: Receive) -> Response:
        route, captures = self._route(request)
        if route is None:
            return self._not_found(self.bare_page(request), "This page does not exist.")
        session = self.sessions.decode(request.cookies.get(COOKIE))
        if session is not None and not self._still_valid(session):
            session = None
        page = Page(self, request, session)
        if route.signed_in and session is None:
            return self._signed_out(page)
        if request.method == "POST":
            try:
                await read_form(request, receive)
            except FormTooLarge:
                return page.error(413, "Too large", "The form sent was too large.")
            if not request.same_origin():
                return page.error(403, "Refused", "This form was sent from another site: the console accepts forms "
                                                  "from its own pages only.")
            if route.csrf and (session is None or not self.sessions.csrf_ok(session, request.form.get("csrf"))):
                return page.error(403, "Refused", "The form's security token is missing or wrong, so nothing was "
                                                  "changed. Reload the page and try again.")
        try:
            return await route.handler(page, *captures)
        except NotFound as exc:
            return self._not_found(page, exc.what)
        except Refused as exc:
            return page.error(exc.status, "Refused", exc.message)
        except ScopeError as exc:
            return page.error(400, "The scope time is not valid", str(exc), back=request.path)
        except DetectiveError as exc:
            return page.error(exc.status, "The request was refused", exc.message)

    def _route(self, request: Request) -> tuple[Route | None, list[str]]:
        segments = request.segments
        for route in self.routes:
            if route.method != request.method or len(route.pattern) != len(segments):
                continue
            captures = []
            for want, got in zip(route.pattern, segments, strict=True):
                if want == "*":
                    captures.append(got)
                elif want != got:
                    break
            else:
                return route, captures
        return None, []

    def _still_valid(self, session: Session) -> bool:
        """A sigv4 session lasts while its key keeps the secret it signed in with."""
        if self.server.settings.auth != "sigv4":
            return True
        secret = self.services.directory.secret_for_key(session.access_key_id)
        return secret is not None and self.sessions.secret_check(session.access_key_id, secret) == session.secret_check

    def _signed_out(self, page: Page) -> Response:
        request = page.request
        if request.method == "POST":
            return page.error(403, "Signed out", "Your session has ended, so nothing was changed. Sign in again.")
        if request.segments[-1:] == ["complete"]:
            return json_response({"message": "Sign in first."}, 401)
        if request.headers.get("sec-fetch-site") == "cross-site" and COOKIE not in request.cookies:
            # A link from another site: SameSite=Strict kept the cookie back. Ask again from here.
            return html(self.templates.render("bounce.html", page=page, title="Opening", target=request.target))
        return redirect(url("/console/signin", next=request.target))

    def _not_found(self, page: Page, what: str) -> Response:
        return html(self.templates.render("error.html", page=page, title="Not found", message=what), 404)

    def bare_page(self, request: Request) -> Page:
        return Page(self, request, None)

    # --- static files -------------------------------------------------------------------

    def static_file(self, name: str) -> Response:
        path = (STATIC / name).resolve()
        if STATIC.resolve() not in path.parents or not path.is_file():
            raise NotFound()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "text/javascript"):
            kind += "; charset=utf-8"
        return Response(body=path.read_bytes(), content_type=kind, cacheable=True)


class Page:
    """One request being answered: who asks, and the helpers every page uses."""

    def __init__(self, console: Console, request: Request, session: Session | None) -> None:
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
        server = self.console.server
        codec = server.aws_api.codecs[operation]
        caller = self.caller(region)
        parsed: dict[str, Any] | None = None
        error: DetectiveError | None = None
        try:
            parsed = codec.parse({}, b"", orjson.dumps(params or {}))
            ctx = Context(caller=caller, services=server.services, now_ms=now_ms())
            result = HANDLERS[operation](ctx, parsed)
            if ctx.jobs_due:
                server.jobs.run_due()
            body = codec.serialize(result)
            return orjson.loads(body) if body else {}
        except DetectiveError as exc:
            error = exc
            raise
        finally:
            server.aws_api.record_call(caller, operation, parsed, error, self.request.request_id, caller.source_ip)

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
