"""One Settings object from command-line flags, GUMSHOE_* environment variables and gumshoe.toml.

Precedence, highest first: flag, environment variable, config file key, default.
Every setting is listed in ``SETTINGS`` with its type and help text; docs/CONFIGURATION.md
documents each one (a test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
TB = 10**12
# Detective's quota: a behavior graph ingests at most 10 TB of data a day.
DEFAULT_GRAPH_VOLUME_LIMIT = 10 * TB
MAX_BODY_BYTES = 1024 * 1024


class ConfigError(Exception):
    """A setting or config file that cannot be used; the message says what to fix."""


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    help: str
    flag_name: str = ""  # when the flag is not the setting's name (--source for sources)

    @property
    def env(self) -> str:
        return "GUMSHOE_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + (self.flag_name or self.name.replace("_", "-"))


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "Address to listen on."),
    Setting("port", int, 4599, "Port to listen on."),
    Setting("data_dir", Path, Path("gumshoe-data"), "Directory for the database, audit logs and outbox."),
    Setting("config", Path, Path("gumshoe.toml"), "Config file (read when it exists; an explicit path must exist)."),
    Setting("auth", str, "open", "open: signatures parsed, not checked; sigv4: signatures verified."),
    Setting("allow_open_network", bool, False, "Allow --auth open on a non-loopback address."),
    Setting("database_url", str, "", "SQLAlchemy URL of the control store; default: SQLite in the data directory."),
    Setting("log_level", str, "info", "Logging level: debug, info, warning, error."),
    Setting("job_delay", float, 0.0, "Seconds before member verification and volume checks run."),
    Setting("graph_volume_limit", int, DEFAULT_GRAPH_VOLUME_LIMIT, "Bytes a day a behavior graph may ingest."),
    Setting("strict_accounts", bool, False, "Fail verification of accounts missing from the account directory."),
    Setting("default_account", str, DEFAULT_ACCOUNT_ID, "Account of a request whose access key maps to none."),
    Setting("default_region", str, DEFAULT_REGION, "Region of a request that carries no credential scope."),
    Setting("audit_flush_interval", float, 5.0, "Seconds between deliveries of the API's CloudTrail records."),
    Setting("monitoring_interval", float, 3600.0, "Seconds between automatic enabling passes over disabled members."),
    Setting("smtp_host", str, "", "SMTP server for invitation emails; empty: write them to the outbox."),
    Setting("smtp_port", int, 25, "SMTP port."),
    Setting("smtp_username", str, "", "SMTP user name."),
    Setting("smtp_password", str, "", "SMTP password."),
    Setting("smtp_starttls", bool, False, "Use STARTTLS with the SMTP server."),
    Setting("smtp_sender", str, "no-reply@gumshoe.local", "From address of invitation emails."),
    Setting("sqlite_synchronous", str, "NORMAL", "SQLite synchronous mode: NORMAL survives a killed process, FULL also power loss."),
    Setting("sources", tuple, (), "Log folders or s3://bucket/prefix locations to ingest and watch (repeat --source; comma-separated in the environment).", "source"),
    Setting("source_poll_interval", float, 60.0, "Seconds between scans of the sources for new objects."),
    Setting("s3_endpoint_url", str, "", "Endpoint URL of an S3-compatible server for s3:// sources; empty: AWS."),
    Setting("ingest_after_enabled", bool, False, "Take only events after the account became a graph's member (Detective's own rule)."),
    Setting("ingest_roots", tuple, (), "Server folders or s3:// prefixes an API caller may name for ingestion (its records checked against the caller); comma-separated in the environment.", "ingest-root"),
    Setting("upload_max_bytes", int, 1 << 30, "Largest log object a caller may upload to POST /_gumshoe/v1/upload, as sent (compressed)."),
    Setting("max_object_bytes", int, 256 << 20, "Largest unpacked size of one log object (or part of a line file); past it the rest is one reject."),
    Setting("max_record_bytes", int, 8 << 20, "Largest log record (a line, an array element); a larger one is one reject."),
    Setting("ingest_unit_bytes", int, 32 << 20, "Compressed bytes of objects loaded together (one transaction per graph); less: less memory."),
    Setting("ingest_workers", int, -1, "Processes that decode a large ingestion's objects: -1 every core but one, 0 none (all in the server's process)."),
    Setting("memory_limit", str, "256MB", "Memory each behavior graph's DuckDB may use for loads and queries before it spills to disk (DuckDB's memory_limit: 256MB, 2GB ...)."),
    Setting("geoip_city", str, "", "MaxMind DB file of IP locations (GeoLite2-City or DB-IP City Lite); empty: no geolocation indicators."),
    Setting("geoip_asn", str, "", "MaxMind DB file of IP autonomous systems (GeoLite2-ASN or DB-IP ASN Lite); empty: no ASO indicators."),
    Setting("threat_intel", tuple, (), "Files of flagged IP addresses and CIDRs, one a line (repeat --threat-intel; comma-separated in the environment)."),
    Setting("travel_speed_kmh", float, 1000.0, "Fastest plausible travel between two places of activity; faster is impossible travel."),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclasses.dataclass(frozen=True)
class AccountEntry:
    id: str
    email: str | None = None
    name: str | None = None
    guardduty: bool = True
    # What Detective would estimate for the account before any of its data is ingested.
    daily_volume: int | None = None


@dataclasses.dataclass(frozen=True)
class Organization:
    management_account: str
    accounts: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    account: str
    # May run the server's own operations (POST /_gumshoe/reload) in --auth sigv4.
    operator: bool = False


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4599
    data_dir: Path = Path("gumshoe-data")
    config: Path = Path("gumshoe.toml")
    auth: str = "open"
    allow_open_network: bool = False
    database_url: str = ""
    log_level: str = "info"
    job_delay: float = 0.0
    graph_volume_limit: int = DEFAULT_GRAPH_VOLUME_LIMIT
    strict_accounts: bool = False
    default_account: str = DEFAULT_ACCOUNT_ID
    default_region: str = DEFAULT_REGION
    audit_flush_interval: float = 5.0
    monitoring_interval: float = 3600.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_sender: str = "no-reply@gumshoe.local"
    sqlite_synchronous: str = "NORMAL"
    sources: tuple[str, ...] = ()
    source_poll_interval: float = 60.0
    s3_endpoint_url: str = ""
    ingest_after_enabled: bool = False
    ingest_roots: tuple[str, ...] = ()
    upload_max_bytes: int = 1 << 30
    max_object_bytes: int = 256 << 20
    max_record_bytes: int = 8 << 20
    ingest_unit_bytes: int = 32 << 20
    ingest_workers: int = -1
    memory_limit: str = "256MB"
    geoip_city: str = ""
    geoip_asn: str = ""
    threat_intel: tuple[str, ...] = ()
    travel_speed_kmh: float = 1000.0
    accounts: tuple[AccountEntry, ...] = ()
    organization: Organization | None = None
    credentials: tuple[Credential, ...] = ()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'gumshoe.db').resolve()}"

    def with_directory(self, directory: Directory) -> Settings:
        return dataclasses.replace(
            self,
            accounts=directory.accounts,
            organization=directory.organization,
            credentials=directory.credentials,
        )


@dataclasses.dataclass(frozen=True)
class Directory:
    """The account directory of a config file: accounts, organization, credentials."""

    accounts: tuple[AccountEntry, ...] = ()
    organization: Organization | None = None
    credentials: tuple[Credential, ...] = ()


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    try:
        if setting.kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if setting.kind is tuple:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items):
                raise ValueError(value)
            return tuple(x.strip() for x in items if x.strip())
        if setting.kind in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        if setting.kind is int and isinstance(value, float):
            raise ValueError(value)
        result = setting.kind(value)
        if isinstance(result, float) and not math.isfinite(result):
            raise ValueError(value)
        return result
    except (TypeError, ValueError):
        raise ConfigError(
            f"{source}: {value!r} is not a valid {setting.kind.__name__} for {setting.name}"
        ) from None


def _account_id(value: Any, where: str) -> str:
    text = str(value)
    if len(text) != 12 or not text.isdigit():
        raise ConfigError(f"{where}: account id {value!r} must be exactly 12 digits")
    return text


def parse_directory(data: Mapping[str, Any], source: str) -> Directory:
    accounts = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("accounts", []) or []):
        where = f"{source}: accounts[{i}]"
        if not isinstance(entry, dict) or "id" not in entry:
            raise ConfigError(f"{where} needs an id")
        unknown = set(entry) - {"id", "email", "name", "guardduty", "daily_volume"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        account_id = _account_id(entry["id"], where)
        if account_id in seen:
            raise ConfigError(f"{where}: account {account_id} is listed twice")
        seen.add(account_id)
        volume = entry.get("daily_volume")
        if volume is not None and (isinstance(volume, bool) or not isinstance(volume, int) or volume < 0):
            raise ConfigError(f"{where}: daily_volume must be a whole number of bytes, not {volume!r}")
        guardduty = entry.get("guardduty", True)
        if not isinstance(guardduty, bool):
            raise ConfigError(f"{where}: guardduty must be true or false, not {guardduty!r}")
        accounts.append(
            AccountEntry(
                id=account_id,
                email=entry.get("email"),
                name=entry.get("name"),
                guardduty=guardduty,
                daily_volume=volume,
            )
        )
    organization = None
    org = data.get("organization")
    if org:
        unknown = set(org) - {"management_account", "accounts"}
        if unknown:
            raise ConfigError(f"{source}: [organization] has unknown keys {sorted(unknown)}")
        if "management_account" not in org:
            raise ConfigError(f"{source}: [organization] needs management_account")
        management = _account_id(org["management_account"], f"{source}: organization")
        members = frozenset(_account_id(a, f"{source}: organization.accounts") for a in org.get("accounts", []))
        organization = Organization(management, members | {management})
    credentials = []
    for i, entry in enumerate(data.get("credentials", []) or []):
        where = f"{source}: credentials[{i}]"
        unknown = set(entry) - {"access_key_id", "secret_access_key", "account", "operator"} if isinstance(entry, dict) else set()
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            credentials.append(
                Credential(
                    access_key_id=str(entry["access_key_id"]),
                    secret_access_key=str(entry["secret_access_key"]),
                    account=_account_id(entry["account"], where),
                    operator=_flag(entry.get("operator", False), f"{where}: operator"),
                )
            )
        except (KeyError, TypeError):
            raise ConfigError(f"{where} needs access_key_id, secret_access_key and account") from None
    return Directory(tuple(accounts), organization, tuple(credentials))


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, not {value!r}")
    return value


def read_config_file(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist")
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_settings(
    flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Merge flags (None means not given), environment and the config file."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    config_setting = SETTINGS_BY_NAME["config"]
    if "config" in flags:
        config_path, required = Path(flags["config"]), True
    elif config_setting.env in env:
        config_path, required = Path(env[config_setting.env]), True
    else:
        config_path, required = config_setting.default, False
    file_data = read_config_file(config_path, required=required)
    known = set(SETTINGS_BY_NAME) | {"accounts", "organization", "credentials"}
    unknown = set(file_data) - known
    if unknown:
        raise ConfigError(f"{config_path}: unknown keys {sorted(unknown)}; see docs/CONFIGURATION.md")
    values: dict[str, Any] = {"config": config_path}
    for setting in SETTINGS:
        if setting.name == "config":
            continue
        if setting.name in flags:
            values[setting.name] = _coerce(setting, flags[setting.name], setting.flag)
        elif setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env)
        elif setting.name in file_data:
            values[setting.name] = _coerce(setting, file_data[setting.name], str(config_path))
    directory = parse_directory(file_data, str(config_path))
    settings = Settings(**values).with_directory(directory)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if settings.auth not in {"open", "sigv4"}:
        raise ConfigError(f"auth must be 'open' or 'sigv4', not {settings.auth!r}")
    if settings.auth == "open" and not settings.allow_open_network and not is_loopback(settings.host):
        raise ConfigError(
            f"--auth open accepts unsigned requests, so it only listens on a loopback address; "
            f"{settings.host} is not one. Use --auth sigv4, or --allow-open-network if you mean it."
        )
    if not 0 < settings.port < 65536:
        raise ConfigError(f"port {settings.port} is out of range")
    if settings.sqlite_synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
        raise ConfigError("sqlite_synchronous must be NORMAL, FULL or EXTRA")
    if settings.log_level.lower() not in {"debug", "info", "warning", "error"}:
        raise ConfigError(f"log_level must be debug, info, warning or error, not {settings.log_level!r}")
    if not 0 < settings.smtp_port < 65536:
        raise ConfigError(f"smtp_port {settings.smtp_port} is out of range")
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", settings.memory_limit.strip(), re.IGNORECASE):
        raise ConfigError(f"memory_limit must be an amount such as 256MB or 2GB, not {settings.memory_limit!r}")
    for name, fits, rule in _NUMBER_RULES:
        if not fits(getattr(settings, name)):
            raise ConfigError(f"{name} {rule}")


# Numeric settings and what they must be.
_NUMBER_RULES: tuple[tuple[str, Any, str], ...] = (
    ("graph_volume_limit", lambda v: v >= 0, "cannot be negative"),
    ("job_delay", lambda v: v >= 0, "cannot be negative"),
    ("audit_flush_interval", lambda v: v > 0, "must be more than 0 seconds"),
    ("monitoring_interval", lambda v: v > 0, "must be more than 0 seconds"),
    ("max_object_bytes", lambda v: v >= 1, "must be at least 1"),
    ("max_record_bytes", lambda v: v >= 1, "must be at least 1"),
    ("upload_max_bytes", lambda v: v >= 1, "must be at least 1"),
    ("ingest_unit_bytes", lambda v: v >= 1, "must be at least 1"),
    ("ingest_workers", lambda v: v >= -1, "must be -1 (every core but one), 0 or more"),
    ("source_poll_interval", lambda v: v > 0, "must be more than 0 seconds"),
    ("travel_speed_kmh", lambda v: v > 0, "must be more than 0"),
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
