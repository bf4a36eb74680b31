"""Reading requests and sending responses over ASGI, the same way for every surface: the AWS
API, Gumshoe's own /_gumshoe/ endpoints and the console.

A ``Request`` is built once per request from the ASGI scope; its body is read (capped) or
streamed by the surface that knows how much it takes. Every answer goes out through
``send_bytes`` (or ``send_json`` / ``send_error``): the request id on every response, errors in
AWS's shape with their type in ``x-amzn-ErrorType``. A body too large to hold in memory (the
console's exports) goes out in pieces through ``send_stream``, with the same headers.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs

import orjson

from gumshoe.config import MAX_BODY_BYTES, Settings
from gumshoe.errors import DetectiveError, RequestEntityTooLargeException
from gumshoe.identity.accounts import AccountDirectory, Caller
from gumshoe.identity.caller import identify
from gumshoe.protocol.serializer import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Request:
    """What every surface needs of a request, decoded once."""

    method: str
    raw_path: bytes
    path: str  # the raw path as text (latin-1): routing sees exactly what was sent
    query_string: bytes
    header_list: list[tuple[bytes, bytes]]  # as received: SigV4 signs these
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    client_ip: str | None
    request_id: str
    scheme: str = "http"
    body: bytes = b""
    _query: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def from_scope(cls, scope: Scope, request_id: str) -> Request:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        header_list: list[tuple[bytes, bytes]] = scope["headers"]
        client = scope.get("client")
        return cls(
            method=scope["method"], raw_path=raw_path, path=raw_path.decode("latin-1"),
            query_string=scope.get("query_string", b""), header_list=header_list,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in header_list},
            client_ip=client[0] if client else None, request_id=request_id, scheme=scope.get("scheme", "http"),
        )

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the last value of a repeated one)."""
        if self._query is None:
            self._query = {k: v[-1] for k, v in parse_qs(self.query_string.decode("latin-1")).items()}
        return self._query

    async def read_body(self, receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
        self.body = await read_body(receive, self.headers, limit)
        return self.body


def identify_request(settings: Settings, directory: AccountDirectory, request: Request,
                     payload_hash: bytes | None = None) -> Caller:
    """Who sent the request (its signature verified in --auth sigv4), over its body as read, or
    over ``payload_hash`` when the body is streamed after the check."""
    return identify(settings, directory, method=request.method, raw_path=request.raw_path,
                    query_string=request.query_string, header_list=request.header_list, headers=request.headers,
                    body=request.body, source_ip=request.client_ip, payload_hash=payload_hash)


async def read_body(receive: Receive, headers: dict[str, str], limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refused past ``limit`` bytes (declared or sent)."""
    return b"".join([chunk async for chunk in _chunks(receive, headers, limit)])


async def stream_body(receive: Receive, headers: dict[str, str], out: BinaryIO, limit: int) -> tuple[int, str]:
    """Write the body to ``out`` as it arrives (never all of it in memory), refused past
    ``limit`` bytes; its size and SHA-256 (hex)."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in _chunks(receive, headers, limit):
        size += len(chunk)
        digest.update(chunk)
        out.write(chunk)
    return size, digest.hexdigest()


async def _chunks(receive: Receive, headers: dict[str, str], limit: int) -> AsyncIterator[bytes]:
    """The body's pieces as they arrive; past ``limit`` bytes (declared or sent), refused."""
    _check_declared(headers, limit)
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLargeException(f"The request body exceeds {limit} bytes.")
        yield chunk
        if not message.get("more_body"):
            return


def _check_declared(headers: dict[str, str], limit: int) -> None:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLargeException(
            f"The request body is {declared} bytes; Gumshoe accepts at most {limit} bytes here."
        )


async def send_bytes(send: Send, status: int, payload: bytes, request_id: str, *,
                     content_type: bytes = b"application/json", error_type: str | None = None,
                     head: bool = False, extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """One response start and body, with the request id every answer carries."""
    headers = [(b"x-amzn-requestid", request_id.encode())]
    if error_type:
        headers.append((b"x-amzn-errortype", error_type.encode()))
    if status != 204:
        headers.append((b"content-type", content_type))
    headers.append((b"content-length", str(len(payload)).encode()))
    if extra_headers:
        headers += extra_headers
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else payload})


async def send_stream(send: Send, status: int, chunks: AsyncIterator[bytes], request_id: str, *,
                      content_type: bytes, length: int | None = None, head: bool = False,
                      extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """One response start, then its body piece by piece as ``chunks`` gives them (one ASGI
    message each, ``more_body`` until the last): ``content-length`` when the length is known,
    chunked transfer otherwise. A HEAD gets the headers only (``chunks`` is not read)."""
    headers = [(b"x-amzn-requestid", request_id.encode()), (b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    if extra_headers:
        headers += extra_headers
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if not head:
        async for chunk in chunks:
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def send_json(send: Send, request: Request, value: Any, status: int = 200, *, head: bool = False) -> None:
    await send_bytes(send, status, orjson.dumps(value), request.request_id, head=head)


async def send_error(send: Send, request: Request, error: DetectiveError) -> None:
    """An AWS-shaped error: the model's status and body, the error type in x-amzn-ErrorType."""
    status, payload = error_body(error)
    await send_bytes(send, status, payload, request.request_id, error_type=error.code)


def spool_path(folder: Path, request_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"upload-{request_id}.part"
