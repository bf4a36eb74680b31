"""What every api function receives: who calls, and the stores and services it may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gumshoe.api._member_cache import MemberDetailCache
from gumshoe.config import Settings
from gumshoe.identity.accounts import AccountDirectory, Caller
from gumshoe.pagination import TokenCodec
from gumshoe.store.db import ControlStore

if TYPE_CHECKING:
    from gumshoe.mail import InvitationMailer


@dataclass
class Services:
    """Long-lived parts shared by all requests."""

    settings: Settings
    store: ControlStore
    directory: AccountDirectory
    tokens: TokenCodec
    mailer: InvitationMailer | None = None
    # Called with a graph ARN after DeleteGraph commits (the data plane drops its store).
    on_graph_deleted: list[Callable[[str], None]] = field(default_factory=list)
    member_cache: MemberDetailCache = field(default_factory=MemberDetailCache)
    # ListGraphs answers: (caller, Region, MaxResults, NextToken) -> (data version, JSON bytes)
    list_graphs_answers: dict[tuple[Any, ...], tuple[Any, bytes]] = field(default_factory=dict)
    # Called after StartInvestigation commits (wakes the investigation runner).
    on_investigation_started: list[Callable[[], None]] = field(default_factory=list)

    def investigation_started(self) -> None:
        for hook in self.on_investigation_started:
            hook()

    def graph_deleted(self, arn: str) -> None:
        self.member_cache.forget(arn)
        for hook in self.on_graph_deleted:
            hook(arn)


@dataclass
class Context:
    caller: Caller
    services: Services
    now_ms: int
    # Set when the operation enqueued work that is due at once (job_delay 0).
    jobs_due: bool = field(default=False)

    @property
    def store(self) -> ControlStore:
        return self.services.store

    @property
    def directory(self) -> AccountDirectory:
        return self.services.directory

    @property
    def settings(self) -> Settings:
        return self.services.settings
