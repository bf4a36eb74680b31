"""The ASGI application: one process serving the Detective API and Gumshoe's own endpoints.

This module is the wiring: it builds the services, the background workers (jobs, the sources'
watch, investigations, audit delivery) and the HTTP surfaces of ``web/``, and sends each
request to its surface by path:

    /_gumshoe/v1/...   web/data_api.py     ingestion, entities, profiles, investigation reports
    /_gumshoe/...      web/server_api.py   health, reload
    everything else    web/aws_api.py      the Detective API
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

from gumshoe.api import members as members_api
from gumshoe.api._context import Services
from gumshoe.api.organization import sync_organization
from gumshoe.audit import AuditTrail
from gumshoe.clock import now_ms
from gumshoe.config import (
    SETTINGS_BY_NAME,
    ConfigError,
    Settings,
    load_settings,
    parse_directory,
    read_config_file,
)
from gumshoe.console import Console
from gumshoe.graph.stores import GraphStores
from gumshoe.identity.accounts import AccountDirectory
from gumshoe.ingest.pipeline import Ingestor
from gumshoe.ingest.watch import SourceWatcher
from gumshoe.investigate import build_investigator
from gumshoe.investigate.runner import InvestigationRunner
from gumshoe.jobs import JobRunner
from gumshoe.mail import InvitationMailer, SmtpSettings
from gumshoe.pagination import TokenCodec
from gumshoe.store.db import ControlStore
from gumshoe.web.asgi import Receive, Request, Scope, Send
from gumshoe.web.aws_api import AwsApi
from gumshoe.web.data_api import DataPlaneApi
from gumshoe.web.server_api import ServerApi

log = logging.getLogger("gumshoe.server")

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
        self.jobs = JobRunner(self.store)
        self.jobs.register(members_api.VERIFY_MEMBER, self._bind(members_api.job_verify_member))
        self.jobs.register(members_api.ENABLE_ORGANIZATION_MEMBER, self._bind(members_api.job_enable_organization_member))
        self.jobs.register(members_api.CHECK_VOLUME, self._bind(members_api.job_check_volume))
        self.audit = AuditTrail(settings.data_dir, flush_interval=settings.audit_flush_interval)
        self.graph_stores = GraphStores(settings.data_dir, settings.memory_limit)
        self.services.on_graph_deleted.append(self.graph_stores.drop)
        self.ingestor = Ingestor.for_settings(self.store, self.graph_stores, settings)
        self.investigations = InvestigationRunner(self.store, self.graph_stores, build_investigator(settings))
        self.aws_api = AwsApi(self.services, self.audit, self._jobs_due)
        self.data_api = DataPlaneApi(self.services, self.ingestor, self.graph_stores)
        self.server_api = ServerApi(self.services, self.reload, self._activity)
        self.monitoring_passes = 0
        self.services.on_investigation_started.append(self.investigations.wake)
        self.watcher = SourceWatcher(self.ingestor, settings.sources, settings.source_poll_interval)
        self.console = Console(self)
        self._watch_from_file = _watch_settings_from_file(settings)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._jobs_pending = False

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
                    self.monitoring_passes += 1
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
        retried = self.ingestor.retry_failed()
        log.info("reloaded config=%s accounts=%d auto_enabled=%d", self.settings.config, len(directory.accounts), started)
        return {
            "accounts": len(directory.accounts),
            "organizationAccounts": len(self.services.directory.organization_accounts()),
            "credentials": len(directory.credentials),
            "autoEnabled": started,
            "sources": list(self.settings.sources),
            "failedObjectsRetried": retried,
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
        request = Request.from_scope(scope, new_request_id())
        if self.console.claims(request):
            await self.console.handle(request, receive, send)
        elif request.path.startswith("/_gumshoe/v1/"):
            await self.data_api.handle(request, receive, send)
        elif request.path.startswith("/_gumshoe/"):
            await self.server_api.handle(request, receive, send)
        else:
            if self._jobs_pending:
                # Work an earlier call made due now (job_delay 0): the next read shows its result.
                self._jobs_pending = False
                self.jobs.run_due()
            await self.aws_api.handle(request, receive, send)

    def _activity(self) -> dict[str, Any]:
        """Counts of the background work, for health: what an operator (or a test) waits on."""
        return {
            # Addresses of loaded events still waiting for their geolocation (investigations
            # look them up themselves meanwhile, more slowly).
            "geolocating": self.investigations.locating,
            "sourceScans": self.watcher.scans,
            "monitoringPasses": self.monitoring_passes,
            "jobsPending": self.jobs.pending(),
        }

    def _jobs_due(self) -> None:
        """Run after the response is sent; any next request drains them first."""
        self._jobs_pending = True
        self._wake.set()


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
