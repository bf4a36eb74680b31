"""The ASGI application: one process serving the Detective API and Gumshoe's own endpoints.

    HTTP ─> body (capped) ─> identity (SigV4) ─> router ─> codec.parse (validate)
        ─> api function (one transaction) ─> due jobs ─> codec.serialize ─> audit record

Every failure on the way becomes an AWS-shaped error; an unexpected one is logged with its
traceback and answered as InternalServerException, never a traceback on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import logging
import math
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson

from gumshoe import __version__
from gumshoe.api import members as members_api
from gumshoe.api._context import Context, Services
from gumshoe.api.organization import sync_organization
from gumshoe.api.registry import HANDLERS, READ_ONLY
from gumshoe.audit import AuditTrail
from gumshoe.config import (
    MAX_BODY_BYTES,
    SETTINGS_BY_NAME,
    ConfigError,
    Settings,
    is_loopback,
    load_settings,
    parse_directory,
    read_config_file,
)
from gumshoe.console import Console
from gumshoe.identity.accounts import AccountDirectory
from gumshoe.identity.caller import identify
from gumshoe.ingest.pipeline import GraphStores, Ingestor
from gumshoe.ingest.watch import SourceWatcher
from gumshoe.investigate import build_investigator
from gumshoe.investigate.runner import InvestigationRunner
from gumshoe.jobs import JobRunner, now_ms
from gumshoe.mail import InvitationMailer, SmtpSettings
from gumshoe.pagination import TokenCodec
from gumshoe.protocol.errors import (
    DetectiveError,
    InternalServerException,
    RequestEntityTooLargeException,
    UnknownOperationException,
    UnsupportedMediaTypeException,
)
from gumshoe.protocol.model import operations
from gumshoe.protocol.parser import OperationCodec
from gumshoe.protocol.router import Router
from gumshoe.protocol.serializer import error_body, iso8601
from gumshoe.store.db import ControlStore
from gumshoe.v1 import DataPlaneApi

log = logging.getLogger("gumshoe.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Bodies botocore, the AWS CLI and the SDKs send for rest-json; no type at all is fine too.
ACCEPTED_CONTENT_TYPES = frozenset(
    {"application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1", "text/plain", "binary/octet-stream"}
)
SENSITIVE_PARAMETERS = frozenset({"accounts.emailAddress", "message"})
JOB_POLL_SECONDS = 0.2


class Gumshoe:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = ControlStore(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
        smtp = None
        if settings.smtp_host:
            smtp = SmtpSettings(
                host=settings.smtp_host, port=settings.smtp_port, username=settings.smtp_username or None,
                password=settings.smtp_password or None, starttls=settings.smtp_starttls, sender=settings.smtp_sender,
            )
        self.services = Services(
            settings=settings,
            store=self.store,
            directory=AccountDirectory(settings),
            tokens=TokenCodec(self.store.token_secret),
            mailer=InvitationMailer(
                settings.data_dir / "outbox", smtp, endpoint_url=f"http://{settings.host}:{settings.port}"
            ),
        )
        self.router = Router()
        self.codecs = {op.name: OperationCodec(op) for op in operations()}
        self.jobs = JobRunner(self.store)
        self.jobs.register(members_api.VERIFY_MEMBER, self._bind(members_api.job_verify_member))
        self.jobs.register(members_api.ENABLE_ORGANIZATION_MEMBER, self._bind(members_api.job_enable_organization_member))
        self.jobs.register(members_api.CHECK_VOLUME, self._bind(members_api.job_check_volume))
        self.audit = AuditTrail(settings.data_dir, flush_interval=settings.audit_flush_interval)
        self.graph_stores = GraphStores(settings.data_dir)
        self.services.on_graph_deleted.append(self.graph_stores.drop)
        self.ingestor = Ingestor(
            self.store, self.graph_stores, settings.data_dir,
            after_enabled=settings.ingest_after_enabled, s3_endpoint_url=settings.s3_endpoint_url,
            unit_bytes=settings.ingest_unit_bytes,
        )
        self.v1 = DataPlaneApi(self.services, self.ingestor, self.graph_stores)
        self.investigations = InvestigationRunner(self.store, self.graph_stores, build_investigator(settings))
        self.services.on_investigation_started.append(self.investigations.wake)
        self.watcher = SourceWatcher(self.ingestor, settings.sources, settings.source_poll_interval)
        self.console = Console(self)
        self._watch_from_file = _watch_settings_from_file(settings)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._jobs_pending = False
        self.started_at = time.time()

    def _bind(self, fn: Callable[..., None]) -> Callable[..., None]:
        services = self.services
        return lambda conn, payload, ts: fn(services, conn, payload, ts)

    # --- lifecycle ------------------------------------------------------------------

    def startup(self) -> None:
        self.audit.start()
        sync_organization(self.services)
        self.jobs.run_due()
        self.watcher.start()
        self.investigations.start()

    async def _background(self) -> None:
        last_monitoring = time.monotonic()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), JOB_POLL_SECONDS)
            self._wake.clear()
            try:
                self._jobs_pending = False
                self.jobs.run_due()
                if time.monotonic() - last_monitoring >= self.settings.monitoring_interval:
                    last_monitoring = time.monotonic()
                    members_api.monitoring_pass(self.services, now_ms())
            except Exception:
                log.exception("background pass failed")

    def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.watcher.stop()
        self.investigations.stop()
        self.audit.close()
        self.graph_stores.close()
        self.store.close()

    def reload(self) -> dict[str, Any]:
        """Re-read the account directory, ``sources`` and ``source_poll_interval`` from the
        config file (SIGHUP, or POST /_gumshoe/reload); a flag or environment variable that
        set the sources or the interval still wins, as at start."""
        data = read_config_file(self.settings.config, required=False)
        directory = parse_directory(data, str(self.settings.config))
        watch: dict[str, Any] = {}
        if self._watch_from_file:
            watch = {name: value for name, value in _watch_settings(data, str(self.settings.config)).items()
                     if name in self._watch_from_file}
        self.settings = dataclasses.replace(self.settings.with_directory(directory), **watch)
        self.services.settings = self.settings
        self.watcher.update(self.settings.sources, self.settings.source_poll_interval)
        self.services.directory = AccountDirectory(self.settings)
        started = sync_organization(self.services)
        self.jobs.run_due()
        log.info("reloaded config=%s accounts=%d auto_enabled=%d", self.settings.config, len(directory.accounts), started)
        return {
            "accounts": len(directory.accounts),
            "organizationAccounts": len(self.services.directory.organization_accounts()),
            "credentials": len(directory.credentials),
            "autoEnabled": started,
            "sources": list(self.settings.sources),
        }

    def _reload_signal(self) -> None:
        try:
            self.reload()
        except ConfigError as exc:
            log.error("reload failed: %s", exc)

    # --- ASGI -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.startup()
                    self._tasks.append(asyncio.create_task(self._background()))
                    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reload_signal)
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        if self.console.claims(scope, path):
            await self.console.handle(scope, receive, send)
            return
        if path.startswith("/_gumshoe/"):
            if path.startswith("/_gumshoe/v1/"):
                await self.v1.handle(scope, lambda headers: _read_body(receive, headers), send, request_id)
            else:
                await self._internal(scope, receive, send, path, request_id)
            return
        if self._jobs_pending:
            # Work an earlier call made due now (job_delay 0): the next read shows its result.
            self._jobs_pending = False
            self.jobs.run_due()
        method: str = scope["method"]
        header_list: list[tuple[bytes, bytes]] = scope["headers"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in header_list}
        query_string: bytes = scope.get("query_string", b"")
        client = scope.get("client")
        source_ip = client[0] if client else None
        operation = None
        params: dict[str, Any] | None = None
        caller = None
        try:
            body = await _read_body(receive, headers)
            caller = identify(
                self.settings, self.services.directory, method=method, raw_path=raw_path,
                query_string=query_string, header_list=header_list, headers=headers, body=body, source_ip=source_ip,
            )
            route = self.router.match(method, path)
            operation = route.operation.name
            codec = self.codecs[operation]
            _check_content_type(headers, body)
            params = codec.parse(route.labels, query_string, body)
            ctx = Context(caller=caller, services=self.services, now_ms=now_ms())
            result = HANDLERS[operation](ctx, params)
            payload = codec.serialize(result)
            status = codec.status
            if ctx.jobs_due:
                # Run after the response is sent; any next request drains them first.
                self._jobs_pending = True
                self._wake.set()
            error: DetectiveError | None = None
        except DetectiveError as exc:
            error = exc
        except Exception:
            log.exception("unexpected fault request_id=%s operation=%s", request_id, operation)
            error = InternalServerException("An internal error occurred. The request may be retried.")
        response_headers = [(b"x-amzn-requestid", request_id.encode())]
        if error is not None:
            status, payload = error_body(error)
            response_headers.append((b"x-amzn-errortype", error.code.encode()))
            log.info("request_id=%s operation=%s status=%d error=%s", request_id, operation, status, error.code)
        if status != 204:
            response_headers.append((b"content-type", b"application/json"))
        response_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        if operation is not None and caller is not None:
            self.audit.record(
                account_id=caller.account_id, region=caller.region, event_name=operation,
                event_time=dt.datetime.now(dt.UTC), request_id=request_id, source_ip=source_ip,
                user_agent=caller.user_agent, access_key_id=caller.access_key_id,
                request_parameters=_audit_params(params) if params else None,
                response_elements=None,
                error_code=error.code if error is not None else None,
                error_message=error.message if error is not None else None,
                read_only=operation in READ_ONLY, sensitive_paths=SENSITIVE_PARAMETERS,
            )

    async def _internal(self, scope: Scope, receive: Receive, send: Send, path: str, request_id: str) -> None:
        method = scope["method"]
        status = 200
        if path.rstrip("/") == "/_gumshoe/health" and method in ("GET", "HEAD"):
            body: dict[str, Any] = {
                "status": "ok",
                "service": "gumshoe",
                "version": __version__,
                "auth": self.settings.auth,
                "dataDir": str(self.settings.data_dir.resolve()),
                "uptimeSeconds": round(time.time() - self.started_at, 3),
                "time": iso8601(dt.datetime.now(dt.UTC)),
                # Addresses of loaded events still waiting for their geolocation (investigations
                # look them up themselves meanwhile, more slowly).
                "geolocating": self.investigations.locating,
            }
        elif path.rstrip("/") == "/_gumshoe/reload" and method == "POST":
            client = scope.get("client")
            if not client or not is_loopback(client[0]):
                status, body = 403, {"message": "Reload is accepted only from this machine.", "Message": "Reload is accepted only from this machine."}
            else:
                try:
                    body = self.reload()
                except ConfigError as exc:
                    status, body = 400, {"message": str(exc), "Message": str(exc)}
        else:
            err = UnknownOperationException(f"Gumshoe has no endpoint {method} {path}.")
            status = err.status
            body = {"message": err.message, "Message": err.message}
        payload = orjson.dumps(body)
        headers = [
            (b"content-type", b"application/json"),
            (b"x-amzn-requestid", request_id.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        if status >= 400:
            headers.append((b"x-amzn-errortype", b"UnknownOperationException" if status == 404 else b"GumshoeError"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload if method != "HEAD" else b""})


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestEntityTooLargeException(
            f"The request body is {declared} bytes; Gumshoe accepts at most {MAX_BODY_BYTES} bytes."
        )
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestEntityTooLargeException(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _check_content_type(headers: dict[str, str], body: bytes) -> None:
    content_type = headers.get("content-type")
    if content_type is None or not body:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedMediaTypeException(
            f"Content-Type {media} is not supported: send the request body as JSON (application/json)."
        )


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def _audit_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso8601(value)
    if isinstance(value, list):
        return [_audit_value(v) for v in value]
    if isinstance(value, dict):
        return {_camel(k): _audit_value(v) for k, v in value.items()}
    return value


def _audit_params(params: dict[str, Any]) -> dict[str, Any]:
    """Request parameters as CloudTrail writes them: lowerCamel names (tag keys kept as given)."""
    out = {}
    for key, value in params.items():
        out[_camel(key)] = dict(value) if key == "Tags" else _audit_value(value)
    return out


def _request_id_head() -> str:
    h = os.urandom(10).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-"


# A UUID-shaped id, as AWS's request ids are: a random head drawn once per process and a
# counter from a random start, unique within the process and across restarts (cheaper than
# drawing 16 random bytes a request).
_REQUEST_ID_HEAD = _request_id_head()
_request_counter = itertools.count(int.from_bytes(os.urandom(5), "big"))


def new_request_id() -> str:
    return f"{_REQUEST_ID_HEAD}{next(_request_counter) & 0xFFFFFFFFFFFF:012x}"


# What a reload re-reads from the config file besides the account directory.
WATCH_SETTINGS = ("sources", "source_poll_interval")


def _watch_settings(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``sources`` and ``source_poll_interval`` from a config file (their defaults if absent)."""
    sources = data.get("sources", SETTINGS_BY_NAME["sources"].default)
    if isinstance(sources, str):
        sources = sources.split(",")
    if not isinstance(sources, (list, tuple)) or not all(isinstance(s, str) for s in sources):
        raise ConfigError(f"{where}: sources must be an array of strings")
    interval = data.get("source_poll_interval", SETTINGS_BY_NAME["source_poll_interval"].default)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not (math.isfinite(interval) and interval > 0):
        raise ConfigError(f"{where}: source_poll_interval must be a number of seconds more than 0, not {interval!r}")
    return {"sources": tuple(s.strip() for s in sources if s.strip()), "source_poll_interval": float(interval)}


def _watch_settings_from_file(settings: Settings) -> set[str]:
    """The watch settings the config file decides: those no environment variable set and
    whose value is the file's (a flag that set them, to another value, keeps them)."""
    try:
        from_file = _watch_settings(read_config_file(settings.config, required=False), str(settings.config))
    except ConfigError:
        return set()
    return {name for name in WATCH_SETTINGS
            if SETTINGS_BY_NAME[name].env not in os.environ and getattr(settings, name) == from_file[name]}


def create_app(settings: Settings | None = None) -> Gumshoe:
    return Gumshoe(settings or load_settings())
