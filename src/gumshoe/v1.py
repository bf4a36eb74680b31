"""Gumshoe's own JSON API, beside the AWS one: ingestion, entities and profiles.

    POST /_gumshoe/v1/ingest      {"locations": ["./logs", "s3://bucket/prefix"]}
         -> application/x-ndjson: one line per object as it is done, then the summary
    GET  /_gumshoe/v1/entities?graph=ARN[&type=TYPE][&limit=N]   -> {"entities": [...], "truncated": bool}
    GET  /_gumshoe/v1/profile?graph=ARN&entity=ID[&from=ISO|ms][&to=ISO|ms]

Requests are authenticated like the AWS API (signed in sigv4 mode). Ingestion reads the
server's own folders and buckets, so it is accepted from the server's machine only. Entities and profiles
are for the graph's administrator only, in the graph's Region; another caller gets
ResourceNotFoundException, as for the AWS operations. Errors have the AWS error shape.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from gumshoe.api._context import Services
from gumshoe.api._graphs import administered_graph
from gumshoe.api.investigations import investigation_report
from gumshoe.config import is_loopback
from gumshoe.graph import queries
from gumshoe.identity.caller import identify
from gumshoe.ingest.pipeline import GraphStores, Ingestor, ObjectResult, Summary
from gumshoe.protocol.errors import (
    AccessDeniedException,
    DetectiveError,
    InternalServerException,
    ResourceNotFoundException,
    UnknownOperationException,
    ValidationException,
)
from gumshoe.protocol.serializer import error_body

log = logging.getLogger("gumshoe.v1")
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
DAY_MS = 86_400_000


MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_LIMIT = 100_000


def parse_time(value: str, name: str) -> int:
    """Epoch milliseconds from digits, or from an ISO 8601 date or time."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        if len(text) > 15 or int(text) > MAX_TIME_MS:
            raise ValidationException(f"{name} is past the year 9999.")
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationException(f"{name} must be epoch milliseconds or an ISO 8601 time, not {value!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        raise ValidationException(f"{name} is out of range.") from None


def parse_limit(value: str | None) -> int:
    if value is None:
        return 10_000
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or not 1 <= int(value) <= MAX_LIMIT:
        raise ValidationException(f"limit must be a whole number from 1 to {MAX_LIMIT}.")
    return int(value)


class DataPlaneApi:
    def __init__(self, services: Services, ingestor: Ingestor, graph_stores: GraphStores) -> None:
        self.services = services
        self.ingestor = ingestor
        self.graph_stores = graph_stores

    async def handle(self, scope: MutableMapping[str, Any], read_body: Callable[[dict[str, str]], Awaitable[bytes]],
                     send: Send, request_id: str) -> None:
        method = scope["method"]
        path = scope["path"].rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        try:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            body = await read_body(headers)  # capped as for the AWS API
            client = scope.get("client")
            caller = identify(
                self.services.settings, self.services.directory, method=method,
                raw_path=scope.get("raw_path") or scope["path"].encode(), query_string=scope.get("query_string", b""),
                header_list=scope["headers"], headers=headers, body=body, source_ip=client[0] if client else None,
            )
            if path == "/_gumshoe/v1/ingest" and method == "POST":
                if not client or not is_loopback(client[0]):
                    # It reads the server's own folders and buckets: an operator's action.
                    raise AccessDeniedException("Ingestion is accepted only from this machine; configure sources "
                                                "(--source) to ingest on a remote server.")
                await self._ingest(body, send, request_id)
                return
            if path == "/_gumshoe/v1/entities" and method == "GET":
                store = self._graph(query, caller)
                limit = parse_limit(query.get("limit"))
                kind = query.get("type") or None
                if kind is not None and kind not in queries.ENTITY_TYPES:
                    raise ValidationException(f"type must be one of {', '.join(queries.ENTITY_TYPES)}.")
                # One more than asked tells whether the list was cut.
                entities = await asyncio.to_thread(queries.list_entities, store, kind, limit + 1)
                result: Any = {"entities": entities[:limit], "truncated": len(entities) > limit}
            elif path == "/_gumshoe/v1/profile" and method == "GET":
                store = self._graph(query, caller)
                entity = query.get("entity")
                if not entity:
                    raise ValidationException("entity is required: the id of an entity of the graph.")
                end = parse_time(query["to"], "to") if query.get("to") else int(time.time() * 1000)
                start = parse_time(query["from"], "from") if query.get("from") else end - 30 * DAY_MS
                if start >= end:
                    raise ValidationException("from must be earlier than to.")
                result = await asyncio.to_thread(queries.profile, store, entity, start, end)
                if result is None:
                    raise ResourceNotFoundException(f"The behavior graph has no entity {entity}.")
            elif path == "/_gumshoe/v1/investigation" and method == "GET":
                arn = self._graph_arn(query, caller)
                investigation_id = query.get("id")
                if not investigation_id:
                    raise ValidationException("id is required: the InvestigationId StartInvestigation returned.")
                result = investigation_report(self.services.store, arn, investigation_id)
            else:
                raise UnknownOperationException(f"Gumshoe has no endpoint {method} {path}.")
            await _respond(send, 200, orjson.dumps(result), request_id)
        except DetectiveError as exc:
            status, payload = error_body(exc)
            await _respond(send, status, payload, request_id, exc.code)
        except Exception:
            log.exception("unexpected fault request_id=%s path=%s", request_id, path)
            fault = InternalServerException("An internal error occurred. The request may be retried.")
            status, payload = error_body(fault)
            await _respond(send, status, payload, request_id, fault.code)

    def _graph_arn(self, query: dict[str, str], caller: Any) -> str:
        arn = query.get("graph")
        if not arn:
            raise ValidationException("graph is required: the ARN of a behavior graph you administer.")
        with self.services.store.snapshot() as snap:
            administered_graph(snap, arn, caller.account_id, caller.region)
        return arn

    def _graph(self, query: dict[str, str], caller: Any) -> Any:
        return self.graph_stores.get(self._graph_arn(query, caller))

    async def _ingest(self, body: bytes, send: Send, request_id: str) -> None:
        try:
            request = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            raise ValidationException("The body must be JSON: {\"locations\": [\"PATH_OR_S3_URI\", ...]}.") from None
        locations = request.get("locations") if isinstance(request, dict) else None
        if not isinstance(locations, list) or not locations or not all(isinstance(x, str) and x for x in locations):
            raise ValidationException("locations must be a non-empty list of folders, files or s3:// URIs.")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        def progress(result: ObjectResult, summary: Summary) -> None:
            line = {"type": "object", "source": result.source, "key": result.key, "kind": result.kind,
                    "skipped": result.skipped, "records": result.records, "rejects": result.rejects,
                    "bytes": result.bytes, "size": result.size, "objects": summary.objects, "skippedObjects": summary.skipped}
            loop.call_soon_threadsafe(queue.put_nowait, orjson.dumps(line) + b"\n")

        def plan(objects: int, nbytes: int) -> None:
            line = {"type": "plan", "objects": objects, "bytes": nbytes}
            loop.call_soon_threadsafe(queue.put_nowait, orjson.dumps(line) + b"\n")

        def work() -> None:
            try:
                summary = self.ingestor.run(locations, progress, plan)
                line = {"type": "summary", **summary.to_json()}
            except Exception as exc:  # a missing folder, an unreachable bucket, no credentials ...
                log.warning("ingestion of %s stopped: %s", locations, exc)
                line = {"type": "error", "message": f"{type(exc).__name__}: {exc}"}
            try:
                loop.call_soon_threadsafe(queue.put_nowait, orjson.dumps(line) + b"\n")
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/x-ndjson"), (b"x-amzn-requestid", request_id.encode())]})
        task = loop.run_in_executor(None, work)
        while True:
            line = await queue.get()
            if line is None:
                break
            await send({"type": "http.response.body", "body": line, "more_body": True})
        await task
        await send({"type": "http.response.body", "body": b""})


async def _respond(send: Send, status: int, payload: bytes, request_id: str, error_type: str | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"x-amzn-requestid", request_id.encode()),
               (b"content-length", str(len(payload)).encode())]
    if error_type:
        headers.append((b"x-amzn-errortype", error_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
