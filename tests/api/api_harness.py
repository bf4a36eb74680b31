"""Harness of the api unit tests: a Gumshoe without HTTP, api functions called directly
against a real SQLite control store.

``Env`` builds the same Services the app builds (settings, store, directory, tokens) and a
JobRunner with the handlers the app registers, bound the same way (``Gumshoe._bind``).
``env.call(fn, account, params)`` runs one api function as ``account`` and, like the app,
runs the due jobs when the operation says work is due at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, update

from gumshoe.api import graphs as graphs_api
from gumshoe.api import invitations as invitations_api
from gumshoe.api import members as members_api
from gumshoe.api._context import Context, Services
from gumshoe.api.registry import HANDLERS
from gumshoe.clock import now_ms
from gumshoe.config import AccountEntry, Directory, Organization, Settings
from gumshoe.identity.accounts import AccountDirectory, Caller
from gumshoe.jobs import JobRunner
from gumshoe.pagination import TokenCodec
from gumshoe.protocol.model import service_model
from gumshoe.store.db import ControlStore
from gumshoe.store.schema import jobs, volume_usage

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
ADMIN = "111111111111"
OTHER_ADMIN = "999999999999"


def email_of(account_id: str) -> str:
    return f"root+{account_id}@example.com"


@functools.cache
def _output_shape(fn: Callable[..., Any]) -> Any:
    name = next(op for op, handler in HANDLERS.items() if handler is fn)
    return service_model().operation_model(name).output_shape


def from_wire(shape: Any, value: Any) -> Any:
    """A wire value in the api's own form: timestamps as epoch seconds."""
    kind = shape.type_name
    if kind == "timestamp":
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    if kind == "structure":
        return {k: from_wire(shape.members[k], v) for k, v in value.items()}
    if kind == "list":
        return [from_wire(shape.member, v) for v in value]
    if kind == "map":
        return {k: from_wire(shape.value, v) for k, v in value.items()}
    return value


class FakeMailer:
    """Records invitations instead of writing or sending them."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_invitation(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


class Env:
    def __init__(
        self,
        tmp_path: Path,
        *,
        accounts: tuple[AccountEntry, ...] = (),
        organization: Organization | None = None,
        **settings: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.url = f"sqlite:///{tmp_path / 'control.db'}"
        base = Settings(data_dir=tmp_path / "data", **settings)
        full = base.with_directory(Directory(accounts=accounts, organization=organization))
        self.store = ControlStore(self.url)
        self.mailer = FakeMailer()
        self.deleted_graphs: list[str] = []
        self.services = Services(
            settings=full,
            store=self.store,
            directory=AccountDirectory(full),
            tokens=TokenCodec(self.store.token_secret),
            mailer=self.mailer,  # type: ignore[arg-type]
        )
        self.services.on_graph_deleted.append(self.deleted_graphs.append)
        self.runner = JobRunner(self.store)
        for kind, fn in (
            (members_api.VERIFY_MEMBER, members_api.job_verify_member),
            (members_api.ENABLE_ORGANIZATION_MEMBER, members_api.job_enable_organization_member),
            (members_api.CHECK_VOLUME, members_api.job_check_volume),
        ):
            self.runner.register(kind, self._bind(fn))
        self._clock = itertools.count(now_ms())

    def _bind(self, fn: Callable[..., None]) -> Callable[..., None]:
        services = self.services
        return lambda conn, payload, ts: fn(services, conn, payload, ts)

    # --- calling -----------------------------------------------------------------------

    def ctx(self, account: str, region: str = REGION) -> Context:
        return Context(caller=Caller(account, region), services=self.services, now_ms=next(self._clock))

    def call(self, fn: Callable[..., Any], account: str, params: dict[str, Any] | None = None, *,
             region: str = REGION, run_jobs: bool = True) -> Any:
        ctx = self.ctx(account, region)
        result = fn(ctx, dict(params or {}))
        if ctx.jobs_due and run_jobs:
            self.runner.run_due()
        if isinstance(result, bytes):
            # Answered from prebuilt JSON: read back into the api's own form.
            return from_wire(_output_shape(fn), orjson.loads(result))
        return result

    def run_jobs(self, *, all_pending: bool = False) -> int:
        """Run due jobs; ``all_pending`` first makes every pending job due (time passes)."""
        if all_pending:
            with self.store.write() as conn:
                conn.execute(update(jobs).values(due_ms=0))
        return self.runner.run_due()

    # --- the account directory ------------------------------------------------------

    def set_directory(self, accounts: tuple[AccountEntry, ...] = (), organization: Organization | None = None) -> None:
        """What a reload does: new settings and directory on the shared Services."""
        settings = self.services.settings.with_directory(Directory(accounts=accounts, organization=organization))
        self.services.settings = settings
        self.services.directory = AccountDirectory(settings)

    # --- common steps ------------------------------------------------------------------

    def graph(self, admin: str = ADMIN, region: str = REGION, tags: dict[str, str] | None = None) -> str:
        params = {"Tags": tags} if tags else {}
        return str(self.call(graphs_api.create_graph, admin, params, region=region)["GraphArn"])

    def invite(self, arn: str, admin: str, *accounts: str, region: str = REGION, **extra: Any) -> dict[str, Any]:
        params = {"GraphArn": arn, "Accounts": [{"AccountId": a, "EmailAddress": email_of(a)} for a in accounts], **extra}
        return dict(self.call(members_api.create_members, admin, params, region=region))

    def accept(self, arn: str, member: str, region: str = REGION) -> None:
        self.call(invitations_api.accept_invitation, member, {"GraphArn": arn}, region=region)

    def join(self, arn: str, admin: str, member: str) -> dict[str, Any]:
        self.invite(arn, admin, member)
        self.accept(arn, member)
        return self.member(arn, admin, member)

    def member(self, arn: str, admin: str, account: str, region: str = REGION) -> dict[str, Any] | None:
        out = self.call(members_api.get_members, admin, {"GraphArn": arn, "AccountIds": [account]}, region=region)
        details = out["MemberDetails"]
        return details[0] if details else None

    def status(self, arn: str, admin: str, account: str) -> tuple[str, str | None] | None:
        m = self.member(arn, admin, account)
        return (m["Status"], m.get("DisabledReason")) if m else None

    def add_volume(self, arn: str, account: str, package: str, day: str, nbytes: int, updated_ms: int) -> None:
        with self.store.write() as conn:
            conn.execute(
                insert(volume_usage).values(
                    graph_arn=arn, account_id=account, package=package, day=day, bytes=nbytes, updated_ms=updated_ms
                )
            )

    def close(self) -> None:
        self.store.close()


def account(account_id: str, *, daily_volume: int | None = None, guardduty: bool = True,
            email: str | None = "default") -> AccountEntry:
    return AccountEntry(
        id=account_id,
        email=email_of(account_id) if email == "default" else email,
        guardduty=guardduty,
        daily_volume=daily_volume,
    )


def org(management: str, *accounts: str) -> Organization:
    return Organization(management, frozenset({management, *accounts}))
