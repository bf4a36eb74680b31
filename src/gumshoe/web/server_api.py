"""The server's own endpoints: ``GET /_gumshoe/health`` and ``POST /_gumshoe/reload``.

In --auth sigv4 an unsigned caller learns only that the server is up, and a reload needs a
request signed with a credential marked ``operator`` (or SIGHUP); in --auth open, which
listens on loopback only, a reload is accepted from this machine. Errors are AWS-shaped.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from gumshoe import __version__
from gumshoe.api._context import Services
from gumshoe.config import ConfigError, is_loopback
from gumshoe.errors import AccessDeniedException, DetectiveError, UnknownOperationException, ValidationException
from gumshoe.identity.accounts import Caller
from gumshoe.protocol.serializer import iso8601
from gumshoe.web.asgi import Receive, Request, Send, identify_request, send_error, send_json


class ServerApi:
    def __init__(self, services: Services, reload: Callable[[], dict[str, Any]],
                 activity: Callable[[], dict[str, Any]]) -> None:
        self.services = services
        self.reload = reload
        self.activity = activity  # counts of the background work
        self.started_at = time.time()

    async def handle(self, request: Request, receive: Receive, send: Send) -> None:
        path = request.path.rstrip("/")
        try:
            await request.read_body(receive)
            caller = self._signed_caller(request)
            if path == "/_gumshoe/health" and request.method in ("GET", "HEAD"):
                await send_json(send, request, self._health(caller), head=request.method == "HEAD")
            elif path == "/_gumshoe/reload" and request.method == "POST":
                self._check_may_reload(request, caller)
                try:
                    result = self.reload()
                except ConfigError as exc:
                    raise ValidationException(str(exc)) from None
                await send_json(send, request, result)
            else:
                raise UnknownOperationException(f"Gumshoe has no endpoint {request.method} {request.path}.")
        except DetectiveError as exc:
            await send_error(send, request, exc)

    def _signed_caller(self, request: Request) -> Caller | None:
        """The caller when the request is signed (and the signature holds: a bad one is an
        error); None when it is not signed, or in --auth open, where nothing is checked."""
        if self.services.settings.auth != "sigv4":
            return None
        if "authorization" not in request.headers and b"X-Amz-Signature" not in request.query_string:
            return None
        return identify_request(self.services.settings, self.services.directory, request)

    def _health(self, caller: Caller | None) -> dict[str, Any]:
        settings = self.services.settings
        if settings.auth == "sigv4" and caller is None:
            return {"status": "ok"}  # unsigned callers of a sigv4 server learn only that it is up
        return {
            "status": "ok",
            "service": "gumshoe",
            "version": __version__,
            "auth": settings.auth,
            "dataDir": str(settings.data_dir.resolve()),
            "uptimeSeconds": round(time.time() - self.started_at, 3),
            "time": iso8601(dt.datetime.now(dt.UTC)),
            **self.activity(),
        }

    def _check_may_reload(self, request: Request, caller: Caller | None) -> None:
        if self.services.settings.auth == "sigv4":
            if caller is None or not self.services.directory.is_operator(caller.access_key_id):
                raise AccessDeniedException("Reload needs a request signed with an operator credential "
                                            "(operator = true in [[credentials]]), or send the server SIGHUP.")
        elif request.client_ip is None or not is_loopback(request.client_ip):
            raise AccessDeniedException("Reload is accepted only from this machine.")
