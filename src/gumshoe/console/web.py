"""Requests and responses of the console: the little of HTTP its pages need, on plain ASGI.

Every response carries the same protective headers: a Content-Security-Policy that allows
only the console's own scripts and styles (no inline script runs, whatever a log field holds),
no framing, no MIME sniffing, and no caching of pages that show a caller's data.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

import orjson

from gumshoe.errors import RequestEntityTooLargeException
from gumshoe.web.asgi import Receive, Send, read_body, send_bytes, send_stream
from gumshoe.web.asgi import Request as HttpRequest

MAX_FORM_BYTES = 64 * 1024
FILE_CHUNK = 256 * 1024  # the pieces a file body is sent in

SECURITY_HEADERS = [
    (b"content-security-policy", (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                  b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class FormTooLarge(Exception):
    pass


@dataclass
class Request:
    request_id: str
    method: str
    segments: list[str]  # the path after /console, split on "/" and each percent-decoded
    query: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]
    client_ip: str | None
    scheme: str
    raw_query: str = ""
    form: dict[str, str] = field(default_factory=dict)
    form_lists: dict[str, list[str]] = field(default_factory=dict)

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")

    @property
    def path(self) -> str:
        """The request's own path (quoted again), for links back to it."""
        return "/console/" + "/".join(quote_segment(s) for s in self.segments)

    @property
    def target(self) -> str:
        return self.path + (f"?{self.raw_query}" if self.raw_query else "")

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    def same_origin(self) -> bool:
        """A state-changing request must come from the console's own pages: browsers send
        Origin with every POST; when it is there it must name this host."""
        origin = self.headers.get("origin")
        if origin is None:
            return True
        host = self.headers.get("host", "")
        match = re.match(r"^https?://([^/]+)$", origin)
        return match is not None and match.group(1).lower() == host.lower()


def quote_segment(value: str) -> str:
    return quote(value, safe="")


def parse_request(http: HttpRequest) -> Request:
    """The console's view of a request (built once by the app, web/asgi.py)."""
    rest = http.path.removeprefix("/console")
    segments = [unquote(s, errors="replace") for s in rest.split("/") if s != ""]
    raw_query = http.query_string.decode("latin-1")
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    cookies = parse_cookies(http.headers.get("cookie", ""))
    return Request(
        request_id=http.request_id, method=http.method, segments=segments, query=query, headers=http.headers,
        cookies=cookies, client_ip=http.client_ip, scheme=http.scheme, raw_query=raw_query,
    )


def parse_cookies(header: str) -> dict[str, str]:
    """The Cookie header's pairs. Cookies are per host, not per port: other programs on the
    same host may have set cookies of any shape, which must not hide the console's (the
    standard library's parser stops at the first one it does not like)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


async def read_form(request: Request, receive: Receive) -> None:
    """The body of a POST as a form (application/x-www-form-urlencoded), capped."""
    try:
        body = (await read_body(receive, request.headers, MAX_FORM_BYTES)).decode("utf-8", "replace")
    except RequestEntityTooLargeException:
        raise FormTooLarge() from None
    pairs = parse_qsl(body, keep_blank_values=True)
    request.form = dict(pairs)
    lists: dict[str, list[str]] = {}
    for key, value in pairs:
        lists.setdefault(key, []).append(value)
    request.form_lists = lists


class FileBody:
    """A response body read from a file in FILE_CHUNK pieces, never whole in memory. The file
    is opened and deleted at once: the open handle keeps its data until the response is sent,
    or failed, or was a HEAD (``close``), and no name is left behind meanwhile."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.size = os.fstat(self._file.fileno()).st_size
        path.unlink(missing_ok=True)

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await asyncio.to_thread(self._file.read, FILE_CHUNK):
            yield chunk

    def close(self) -> None:
        self._file.close()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    cacheable: bool = False
    file: FileBody | None = None  # the body instead of ``body``: sent in pieces, then deleted

    def set_cookie(self, name: str, value: str, *, max_age: int, secure: bool = False) -> None:
        parts = [f"{name}={value}", "Path=/console", "HttpOnly", "SameSite=Strict", f"Max-Age={max_age}"]
        if secure:
            parts.append("Secure")
        self.headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))

    def delete_cookie(self, name: str, *, secure: bool = False) -> None:
        self.set_cookie(name, "", max_age=0, secure=secure)

    async def send(self, send: Send, request_id: str, head_only: bool = False) -> None:
        headers = [*SECURITY_HEADERS, (b"cache-control", b"public, max-age=3600" if self.cacheable else b"no-store")]
        if self.file is not None:
            try:
                await send_stream(send, self.status, self.file.chunks(), request_id,
                                  content_type=self.content_type.encode(), length=self.file.size, head=head_only,
                                  extra_headers=headers + self.headers)
            finally:
                self.file.close()
            return
        await send_bytes(send, self.status, self.body, request_id, content_type=self.content_type.encode(),
                         head=head_only, extra_headers=headers + self.headers)


def html(body: str, status: int = 200) -> Response:
    return Response(status=status, body=body.encode())


def redirect(location: str, status: int = 303) -> Response:
    response = Response(status=status, body=b"", content_type="text/plain; charset=utf-8")
    response.headers.append((b"location", location.encode("latin-1", "replace")))
    return response


def json_response(value: Any, status: int = 200, *, download: str | None = None) -> Response:
    response = Response(status=status, body=orjson.dumps(value, option=orjson.OPT_INDENT_2 if download else 0),
                        content_type="application/json")
    if download:
        response.headers.append((b"content-disposition", f'attachment; filename="{download}"'.encode()))
    return response


def url(path: str, **params: Any) -> str:
    """A console URL with query parameters (those that are None are left out; a list is the
    parameter repeated)."""
    kept = {k: v for k, v in params.items() if v is not None and v != "" and v != []}
    return path + ("?" + urlencode(kept, doseq=True) if kept else "")
