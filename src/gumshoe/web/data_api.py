"""Gumshoe's own JSON API, beside the AWS one: ingestion, entities and profiles.

    POST /_gumshoe/v1/upload?name=KEY   one log object (gzip or not), or a tar of many
         (application/x-tar), streamed -> {"objects": [...], "summary": {...}}
    POST /_gumshoe/v1/ingest      {"locations": ["/srv/logs/x", "s3://bucket/prefix"]}
         -> application/x-ndjson: one line per object as it is done, then the summary
    GET  /_gumshoe/v1/entities?graph=ARN[&type=TYPE][&limit=N]   -> {"entities": [...], "truncated": bool}
    GET  /_gumshoe/v1/profile?graph=ARN&entity=ID[&from=ISO|ms][&to=ISO|ms]
    GET  /_gumshoe/v1/investigation?graph=ARN&id=ID   the report: the AWS fields, the scoring, notes,
         and each indicator's evidence (its seq, targets, first event ids ...)
    GET  /_gumshoe/v1/investigation/events?graph=ARN&id=ID&indicator=SEQ[&limit=N][&nextToken=T]
         -> {"events": [...], "nextToken": ...}: every event behind one indicator, in time order

Requests are authenticated like the AWS API (signed in sigv4 mode). Who may ingest what is
ingest/access.py's: an upload's records, and those of locations under ``ingest_roots``, load
only as the caller's Permit allows; locations inside the configured sources are read as the
watch reads them; no other server path can be named. Entities and profiles
are for the graph's administrator only, in the graph's Region; another caller gets
ResourceNotFoundException, as for the AWS operations. Errors have the AWS error shape.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gumshoe.api._context import Services
from gumshoe.api._graphs import administered_graph
from gumshoe.api.investigations import indicator_scope, investigation_report
from gumshoe.clock import DAY_MS, now_ms, parse_time
from gumshoe.errors import (
    AccessDeniedException,
    DetectiveError,
    InternalServerException,
    InvalidSignatureException,
    ResourceNotFoundException,
    UnknownOperationException,
    ValidationException,
)
from gumshoe.graph import queries
from gumshoe.graph.stores import GraphStores
from gumshoe.identity.accounts import Caller
from gumshoe.ingest.access import LocationRefused, Permit, grant, permit_for
from gumshoe.ingest.pipeline import Ingestor, ObjectResult, Summary
from gumshoe.ingest.uploads import uploaded_objects
from gumshoe.investigate.evidence import Subject, indicator_events
from gumshoe.pagination import invalid_token
from gumshoe.web.asgi import (
    Receive,
    Request,
    Send,
    identify_request,
    send_error,
    send_json,
    spool_path,
    stream_body,
)

log = logging.getLogger("gumshoe.data_api")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


MAX_LIMIT = 100_000
EVENTS_PAGE = 100  # an indicator's events per page, unless limit says otherwise
MAX_EVENTS_PAGE = 1000


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

    async def handle(self, request: Request, receive: Receive, send: Send) -> None:
        path, method = request.path.rstrip("/"), request.method
        try:
            if path == "/_gumshoe/v1/upload" and method == "POST":
                await send_json(send, request, await self._upload(request, receive))
                return
            await request.read_body(receive)  # capped as for the AWS API
            caller = identify_request(self.services.settings, self.services.directory, request)
            if path == "/_gumshoe/v1/ingest" and method == "POST":
                await self._ingest(request, caller, send)
                return
            answer = self._READS.get((method, path))
            if answer is None:
                raise UnknownOperationException(f"Gumshoe has no endpoint {method} {request.path}.")
            await send_json(send, request, await answer(self, request.query, caller))
        except DetectiveError as exc:
            await send_error(send, request, exc)
        except Exception:
            log.exception("unexpected fault request_id=%s path=%s", request.request_id, path)
            await send_error(send, request, InternalServerException("An internal error occurred. The request may be retried."))

    async def _entities(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        store = self._graph(query, caller)
        limit = parse_limit(query.get("limit"))
        kind = query.get("type") or None
        if kind is not None and kind not in queries.ENTITY_TYPES:
            raise ValidationException(f"type must be one of {', '.join(queries.ENTITY_TYPES)}.")
        # One more than asked tells whether the list was cut.
        entities = await asyncio.to_thread(queries.list_entities, store, kind, limit + 1)
        return {"entities": entities[:limit], "truncated": len(entities) > limit}

    async def _profile(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        store = self._graph(query, caller)
        entity = query.get("entity")
        if not entity:
            raise ValidationException("entity is required: the id of an entity of the graph.")
        end = parse_time(query["to"], "to") if query.get("to") else now_ms()
        start = parse_time(query["from"], "from") if query.get("from") else end - 30 * DAY_MS
        if start >= end:
            raise ValidationException("from must be earlier than to.")
        result = await asyncio.to_thread(queries.profile, store, entity, start, end)
        if result is None:
            raise ResourceNotFoundException(f"The behavior graph has no entity {entity}.")
        return result

    async def _investigation(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        arn = self._graph_arn(query, caller)
        investigation_id = query.get("id")
        if not investigation_id:
            raise ValidationException("id is required: the InvestigationId StartInvestigation returned.")
        return investigation_report(self.services.store, arn, investigation_id)

    async def _investigation_events(self, query: dict[str, str], caller: Caller) -> dict[str, Any]:
        """The events behind one indicator of an investigation, a page at a time, in (time,
        event id) order; nextToken is bound to the caller, the investigation and the indicator."""
        arn = self._graph_arn(query, caller)
        investigation_id = query.get("id")
        if not investigation_id:
            raise ValidationException("id is required: the InvestigationId StartInvestigation returned.")
        seq = query.get("indicator", "")
        if not (seq.isascii() and seq.isdigit()) or len(seq) > 6:
            raise ValidationException("indicator is required: the seq of an indicator of the investigation's report.")
        limit = parse_limit(query.get("limit") or str(EVENTS_PAGE))
        if limit > MAX_EVENTS_PAGE:
            raise ValidationException(f"limit must be a whole number from 1 to {MAX_EVENTS_PAGE}.")
        row, evidence = indicator_scope(self.services.store, arn, investigation_id, int(seq))
        selector = evidence.get("selector")
        if not isinstance(selector, dict):
            raise ValidationException(f"Indicator {seq} of the investigation {investigation_id} stands for no API "
                                      "events of the principal (a finding, or a pair of places).")
        binding = (caller.account_id, caller.region, "InvestigationEvents", arn, investigation_id, seq)
        after: tuple[int, str] | None = None
        if query.get("nextToken"):
            keys = self.services.tokens.decode(query["nextToken"], binding)
            if len(keys) != 2 or not isinstance(keys[0], int) or not isinstance(keys[1], str):
                raise invalid_token()
            after = (keys[0], keys[1])
        subject = Subject(row.entity_arn, row.entity_type, row.entity_arn.split(":")[4])
        store = self.graph_stores.get(arn)

        def page() -> list[dict[str, Any]]:
            with store.cursor() as main, main.cursor() as conn:
                return indicator_events(conn, subject, row.scope_start_ms, row.scope_end_ms, selector, after,
                                        limit + 1)

        events = await asyncio.to_thread(page)
        out: dict[str, Any] = {"graphArn": arn, "investigationId": investigation_id, "indicator": int(seq),
                               "eventCount": evidence.get("eventCount"), "events": events[:limit]}
        if len(events) > limit:
            last = events[limit - 1]
            out["nextToken"] = self.services.tokens.encode(binding, [last["eventTime"], last["eventId"]])
        return out

    _READS: dict[tuple[str, str], Callable[[DataPlaneApi, dict[str, str], Caller], Awaitable[dict[str, Any]]]] = {
        ("GET", "/_gumshoe/v1/entities"): _entities,
        ("GET", "/_gumshoe/v1/profile"): _profile,
        ("GET", "/_gumshoe/v1/investigation"): _investigation,
        ("GET", "/_gumshoe/v1/investigation/events"): _investigation_events,
    }

    def _permit(self, caller: Caller) -> Permit:
        with self.services.store.read() as conn:
            return permit_for(conn, caller.account_id)

    def _graph_arn(self, query: dict[str, str], caller: Any) -> str:
        arn = query.get("graph")
        if not arn:
            raise ValidationException("graph is required: the ARN of a behavior graph you administer.")
        with self.services.store.snapshot() as snap:
            administered_graph(snap, arn, caller.account_id, caller.region)
        return arn

    def _graph(self, query: dict[str, str], caller: Any) -> Any:
        return self.graph_stores.get(self._graph_arn(query, caller))

    async def _upload(self, request: Request, receive: Receive) -> dict[str, Any]:
        """Log objects in the body (one, or a tar of many: ingest/uploads.py), streamed to a
        spool file, then ingested with the caller's Permit. The signature is checked first,
        over the declared body digest, so an unsigned caller never gets a byte written; the
        body must then match that digest."""
        query, headers = request.query, request.headers
        name = query.get("name", "")
        if len(name) > 1024 or "\x00" in name:
            raise ValidationException("name is the object's path as the client has it: up to 1024 characters.")
        declared = headers.get("x-amz-content-sha256", "").lower()
        if not _HEX_DIGEST.fullmatch(declared):
            if self.services.settings.auth == "sigv4" or declared:
                raise ValidationException("x-amz-content-sha256 must be the SHA-256 of the body (64 hex digits): "
                                          "an upload is signed over its digest.")
            declared = ""
        caller = identify_request(settings := self.services.settings, self.services.directory, request,
                                  payload_hash=declared.encode() if declared else None)
        spool = spool_path(settings.data_dir / "uploads", request.request_id)
        try:
            with spool.open("wb") as out:
                size, digest = await stream_body(receive, headers, out, settings.upload_max_bytes)
            if declared and digest != declared:
                raise InvalidSignatureException("The request body does not match its x-amz-content-sha256.")
            permit = self._permit(caller)
            # Named as the client has them (display only): the ledger knows them by their digests.
            source = query.get("source", "upload")[:1024] or "upload"
            loop = asyncio.get_running_loop()
            objects = await loop.run_in_executor(None, lambda: uploaded_objects(
                spool, name=name, source=source, digest=digest, size=size,
                content_type=headers.get("content-type", "")))
            results: list[dict[str, Any]] = []

            def work() -> Summary:
                return self.ingestor.run((), lambda r, _s: results.append(_object_line(r)), permit=permit,
                                         objects=objects)

            summary = await loop.run_in_executor(None, work)
        finally:
            spool.unlink(missing_ok=True)
        return {"objects": results, "summary": summary.to_json()}

    async def _ingest(self, request: Request, caller: Caller, send: Send) -> None:
        try:
            asked = orjson.loads(request.body or b"{}")
        except orjson.JSONDecodeError:
            raise ValidationException("The body must be JSON: {\"locations\": [\"PATH_OR_S3_URI\", ...]}.") from None
        locations = asked.get("locations") if isinstance(asked, dict) else None
        if not isinstance(locations, list) or not locations or not all(isinstance(x, str) and x for x in locations):
            raise ValidationException("locations must be a non-empty list of folders, files or s3:// URIs.")
        settings = self.services.settings
        try:
            grants = [grant(x, settings.sources, settings.ingest_roots) for x in locations]
        except LocationRefused as exc:
            raise AccessDeniedException(str(exc)) from None
        trusted = [g.location for g in grants if g.trusted]
        checked = [g.location for g in grants if not g.trusted]
        permit = self._permit(caller) if checked else None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        def progress(result: ObjectResult, summary: Summary) -> None:
            line = {**_object_line(result), "objects": summary.objects, "skippedObjects": summary.skipped}
            loop.call_soon_threadsafe(queue.put_nowait, orjson.dumps(line) + b"\n")

        def plan(objects: int, nbytes: int) -> None:
            line = {"type": "plan", "objects": objects, "bytes": nbytes}
            loop.call_soon_threadsafe(queue.put_nowait, orjson.dumps(line) + b"\n")

        def work() -> None:
            try:
                summary = Summary()
                if trusted:
                    summary = self.ingestor.run(trusted, progress, plan)
                if checked:
                    summary.merge(self.ingestor.run(checked, progress, plan, permit=permit))
                line = {"type": "summary", **summary.to_json()}
            except Exception as exc:  # a missing folder, an unreachable bucket, no credentials ...
                log.warning("ingestion of %s stopped: %s", locations, exc)
                line = {"type": "error", "message": f"{type(exc).__name__}: {exc}"}
            try:
                loop.call_soon_threadsafe(queue.put_nowait, orjson.dumps(line) + b"\n")
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/x-ndjson"), (b"x-amzn-requestid", request.request_id.encode())]})
        task = loop.run_in_executor(None, work)
        while True:
            line = await queue.get()
            if line is None:
                break
            await send({"type": "http.response.body", "body": line, "more_body": True})
        await task
        await send({"type": "http.response.body", "body": b""})


def _object_line(result: ObjectResult) -> dict[str, Any]:
    return {"type": "object", "source": result.source, "key": result.key, "kind": result.kind,
            "skipped": result.skipped, "records": result.records, "rejects": result.rejects,
            "refused": sum(result.refused.values()), "bytes": result.bytes, "size": result.size}
