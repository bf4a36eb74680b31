"""The account directory (accounts, organization, credentials) and who a request comes from."""

from __future__ import annotations

from dataclasses import dataclass

from gumshoe.config import AccountEntry, Organization, Settings


@dataclass(frozen=True, slots=True)
class Caller:
    account_id: str
    region: str
    access_key_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


class AccountDirectory:
    def __init__(self, settings: Settings) -> None:
        self.default_account = settings.default_account
        self.strict = settings.strict_accounts
        self._accounts = {a.id: a for a in settings.accounts}
        self._keys = {c.access_key_id: c for c in settings.credentials}
        self.organization: Organization | None = settings.organization

    def account_for_key(self, access_key_id: str) -> str:
        """A key of exactly 12 digits names its account; else the configured mapping; else the default."""
        if len(access_key_id) == 12 and access_key_id.isdigit():
            return access_key_id
        credential = self._keys.get(access_key_id)
        return credential.account if credential is not None else self.default_account

    def secret_for_key(self, access_key_id: str) -> str | None:
        credential = self._keys.get(access_key_id)
        return credential.secret_access_key if credential is not None else None

    def is_operator(self, access_key_id: str | None) -> bool:
        """A configured credential marked ``operator``: it may run the server's own operations."""
        credential = self._keys.get(access_key_id or "")
        return credential is not None and credential.operator

    def entry(self, account_id: str) -> AccountEntry | None:
        return self._accounts.get(account_id)

    def email_matches(self, account_id: str, email: str | None) -> bool:
        """Detective checks that the root email belongs to the account before inviting it."""
        entry = self._accounts.get(account_id)
        if entry is None:
            return not self.strict
        if entry.email is None:
            return True
        return email is not None and email.strip().lower() == entry.email.strip().lower()

    def guardduty_enrolled(self, account_id: str) -> bool:
        entry = self._accounts.get(account_id)
        return entry.guardduty if entry is not None else True

    def estimated_daily_volume(self, account_id: str) -> int | None:
        entry = self._accounts.get(account_id)
        return entry.daily_volume if entry is not None else None

    def email_of(self, account_id: str) -> str | None:
        entry = self._accounts.get(account_id)
        return entry.email if entry is not None else None

    def is_management_account(self, account_id: str) -> bool:
        return self.organization is not None and self.organization.management_account == account_id

    def in_organization(self, account_id: str) -> bool:
        return self.organization is not None and account_id in self.organization.accounts

    def organization_accounts(self) -> frozenset[str]:
        return self.organization.accounts if self.organization is not None else frozenset()
