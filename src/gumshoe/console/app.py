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

import logging
import mimetypes
import shutil
import time
from typing import Any

import botocore.session

from gumshoe.console import pages
from gumshoe.console.page import NotFound, Page, Refused, Route
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
from gumshoe.web.asgi import Receive, Send
from gumshoe.web.asgi import Request as HttpRequest

log = logging.getLogger("gumshoe.console")

# The metric of every console response's Server-Timing header: ``console;dur=<ms>``.
SERVER_TIMING = "console"



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
        # The raw-event exports being written or sent (pages/events.py); a previous run's
        # leftovers (a crash mid-export) are removed here.
        self.exports = server.settings.data_dir / "exports"
        shutil.rmtree(self.exports, ignore_errors=True)

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
        started = time.perf_counter()
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
        # The page's time in the server, from its request to its rendered body (the body's
        # sending not included): what benchmarks/console.py measures.
        response.headers.append((b"server-timing", f"{SERVER_TIMING};dur={(time.perf_counter() - started) * 1000:.2f}".encode()))
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


