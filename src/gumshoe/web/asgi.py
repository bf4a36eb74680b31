"""Reading requests and sending responses over ASGI, the same way for every surface."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, BinaryIO

from gumshoe.config import MAX_BODY_BYTES
from gumshoe.errors import RequestEntityTooLargeException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def read_body(receive: Receive, headers: dict[str, str], limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refused past ``limit`` bytes (declared or sent)."""
    _check_declared(headers, limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLargeException(f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def stream_body(receive: Receive, headers: dict[str, str], out: BinaryIO, limit: int) -> tuple[int, str]:
    """Write the body to ``out`` as it arrives (never all of it in memory), refused past
    ``limit`` bytes; its size and SHA-256 (hex)."""
    _check_declared(headers, limit)
    digest = hashlib.sha256()
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLargeException(f"The request body exceeds {limit} bytes.")
        digest.update(chunk)
        out.write(chunk)
        if not message.get("more_body"):
            break
    return size, digest.hexdigest()


def _check_declared(headers: dict[str, str], limit: int) -> None:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLargeException(
            f"The request body is {declared} bytes; Gumshoe accepts at most {limit} bytes here."
        )


async def send_bytes(send: Send, status: int, payload: bytes, request_id: str, *,
                     content_type: bytes = b"application/json", error_type: str | None = None,
                     head: bool = False) -> None:
    """One response start and body, with the request id every answer carries."""
    headers = [(b"x-amzn-requestid", request_id.encode())]
    if error_type:
        headers.append((b"x-amzn-errortype", error_type.encode()))
    if status != 204:
        headers.append((b"content-type", content_type))
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else payload})


def spool_path(folder: Path, request_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"upload-{request_id}.part"
