"""Settings: flag > GUMSHOE_* environment > config file key > default; readable errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gumshoe.cli import build_parser
from gumshoe.cli.serve import SERVE_FLAGS
from gumshoe.config import (
    DEFAULT_GRAPH_VOLUME_LIMIT,
    SETTINGS,
    SETTINGS_BY_NAME,
    ConfigError,
    Settings,
    load_settings,
)
from gumshoe.identity.accounts import AccountDirectory

REPO = Path(__file__).resolve().parent.parent

# The account directory as the issue describes it.
EXAMPLE_TOML = """
port = 4600
job_delay = 0.5

[[accounts]]
id = "111111111111"
email = "admin@example.com"
name = "Security tooling"
guardduty = true

[[accounts]]
id = "222222222222"
email = "alice@example.com"
name = "Payments"
guardduty = false
daily_volume = 5000000000

[[accounts]]
id = 333333333333
email = "bob@example.com"

[organization]
management_account = "999999999999"
accounts = ["111111111111", "222222222222"]

[[credentials]]
access_key_id = "AKIAIOSFODNN7EXAMPLE"
secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
account = "111111111111"
"""


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default config file is ./gumshoe.toml: keep any real one out of the way.
    monkeypatch.chdir(tmp_path)
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)


def write(tmp_path: Path, text: str, name: str = "gumshoe.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(tmp_path: Path, toml: str | None = None, env: dict[str, str] | None = None,
         flags: dict[str, Any] | None = None) -> Settings:
    flags = dict(flags or {})
    if toml is not None:
        flags.setdefault("config", str(write(tmp_path, toml)))
    return load_settings(flags, env or {})


# --- Precedence -----------------------------------------------------------------------------

PRECEDENCE = [
    # name, toml literal, env value, flag value, then the expected values at each level
    ("port", "5001", "5002", 5003, (4599, 5001, 5002, 5003)),
    ("host", '"127.0.0.2"', "127.0.0.3", "127.0.0.4", ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")),
    ("job_delay", "1.5", "2.5", 3.5, (0.0, 1.5, 2.5, 3.5)),
    ("log_level", '"debug"', "warning", "error", ("info", "debug", "warning", "error")),
    ("graph_volume_limit", "100", "200", 300, (DEFAULT_GRAPH_VOLUME_LIMIT, 100, 200, 300)),
    ("strict_accounts", "true", "0", True, (False, True, False, True)),
    ("data_dir", '"from-file"', "from-env", "from-flag",
     (Path("gumshoe-data"), Path("from-file"), Path("from-env"), Path("from-flag"))),
    ("smtp_sender", '"file@x.test"', "env@x.test", "flag@x.test",
     ("no-reply@gumshoe.local", "file@x.test", "env@x.test", "flag@x.test")),
]


@pytest.mark.parametrize("name,toml_value,env_value,flag_value,expected", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_flag_beats_env_beats_file_beats_default(tmp_path, name, toml_value, env_value, flag_value, expected):
    setting = SETTINGS_BY_NAME[name]
    default, from_file, from_env, from_flag = expected
    toml = f"{name} = {toml_value}\n"
    assert getattr(load(tmp_path), name) == default
    assert getattr(load(tmp_path, toml), name) == from_file
    assert getattr(load(tmp_path, toml, env={setting.env: env_value}), name) == from_env
    assert getattr(load(tmp_path, toml, env={setting.env: env_value}, flags={name: flag_value}), name) == from_flag
    # A flag not given (None) does not hide the environment.
    assert getattr(load(tmp_path, toml, env={setting.env: env_value}, flags={name: None}), name) == from_env


def test_the_default_config_file_is_read_when_present(tmp_path):
    assert load_settings({}, {}).port == 4599  # no gumshoe.toml: defaults
    write(tmp_path, "port = 4700\n")
    assert load_settings({}, {}).port == 4700


def test_the_config_file_can_come_from_the_environment(tmp_path):
    path = write(tmp_path, "port = 4701\n", "elsewhere.toml")
    assert load_settings({}, {"GUMSHOE_CONFIG": str(path)}).port == 4701
    other = write(tmp_path, "port = 4702\n", "flagged.toml")
    assert load_settings({"config": str(other)}, {"GUMSHOE_CONFIG": str(path)}).port == 4702


def test_serve_flags_reach_the_settings(tmp_path):
    toml = write(tmp_path, "port = 5001\nstrict_accounts = false\njob_delay = 9\n")
    args = build_parser().parse_args(
        ["serve", "--config", str(toml), "--port", "5003", "--strict-accounts", "--graph-volume-limit", "77"]
    )
    flags = {name: getattr(args, name) for name in SERVE_FLAGS}
    settings = load_settings(flags, {"GUMSHOE_PORT": "5002", "GUMSHOE_JOB_DELAY": "2"})
    assert settings.port == 5003
    assert settings.strict_accounts is True
    assert settings.graph_volume_limit == 77
    assert settings.job_delay == 2.0  # no flag: the environment


def test_every_setting_has_a_serve_flag():
    parser = build_parser()
    for setting in SETTINGS:
        sample = "sigv4" if setting.name == "auth" else "1"
        argv = ["serve", setting.flag] if setting.kind is bool else ["serve", setting.flag, sample]
        args = parser.parse_args(argv)
        assert getattr(args, setting.name) is not None, setting.flag


# --- Bad values ---------------------------------------------------------------------------------


def test_a_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, env={"GUMSHOE_PORT": "eighty"})
    message = str(exc.value)
    assert "GUMSHOE_PORT" in message and "eighty" in message and "port" in message


def test_a_bad_file_value_names_the_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, 'port = "eighty"\n')
    message = str(exc.value)
    assert "gumshoe.toml" in message and "eighty" in message and "port" in message


def test_a_bad_flag_value_names_the_flag(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, flags={"job_delay": "soon"})
    assert "--job-delay" in str(exc.value) and "soon" in str(exc.value)


@pytest.mark.parametrize(
    "env,fragment",
    [
        ({"GUMSHOE_STRICT_ACCOUNTS": "maybe"}, "strict_accounts"),
        ({"GUMSHOE_ALLOW_OPEN_NETWORK": "sure"}, "allow_open_network"),
        ({"GUMSHOE_GRAPH_VOLUME_LIMIT": "10TB"}, "graph_volume_limit"),
        ({"GUMSHOE_JOB_DELAY": "later"}, "job_delay"),
        ({"GUMSHOE_AUTH": "basic"}, "auth"),
        ({"GUMSHOE_PORT": "0"}, "port"),
        ({"GUMSHOE_PORT": "70000"}, "port"),
        ({"GUMSHOE_SQLITE_SYNCHRONOUS": "OFF"}, "sqlite_synchronous"),
    ],
)
def test_bad_values_are_config_errors(tmp_path, env, fragment):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, env=env)
    assert fragment in str(exc.value)


def test_a_float_is_not_an_int_in_the_file(tmp_path):
    with pytest.raises(ConfigError, match="graph_volume_limit"):
        load(tmp_path, "graph_volume_limit = 1.5\n")


@pytest.mark.parametrize(
    "toml,name",
    [
        ("port = true\n", "port"),  # a TOML boolean is no port number
        ('log_level = "verbose"\n', "log_level"),  # debug, info, warning, error
        ('job_delay = "nan"\n', "job_delay"),
        ('job_delay = "inf"\n', "job_delay"),
        ("graph_volume_limit = -1\n", "graph_volume_limit"),
        ("audit_flush_interval = 0\n", "audit_flush_interval"),
        ("smtp_port = 70000\n", "smtp_port"),
    ],
    ids=["bool-port", "log-level", "nan-delay", "inf-delay", "negative-limit", "zero-flush-interval",
         "smtp-port-range"],
)
def test_values_out_of_their_range_are_config_errors(tmp_path, toml, name):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, toml)
    assert name in str(exc.value)


def test_invalid_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(tmp_path, "port = = 1\n")


def test_an_explicit_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"config": str(tmp_path / "missing.toml")}, {})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, {"GUMSHOE_CONFIG": str(tmp_path / "missing.toml")})


# --- Unknown keys ----------------------------------------------------------------------------------


def test_unknown_keys_are_rejected(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, "port = 5000\nprot = 5001\n")
    assert "prot" in str(exc.value)


def test_unknown_account_keys_are_rejected(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, '[[accounts]]\nid = "222222222222"\nemial = "a@b.c"\n')
    assert "emial" in str(exc.value)


def test_unknown_organization_keys_are_rejected(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, '[organization]\nmanagement_account = "999999999999"\nacounts = ["111111111111"]\n')
    assert "acounts" in str(exc.value)


def test_unknown_credential_keys_are_rejected(tmp_path):
    toml = '[[credentials]]\naccess_key_id = "AK"\nsecret_access_key = "s"\naccount = "111111111111"\nacount = "2"\n'
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, toml)
    assert "acount" in str(exc.value)


# --- The account directory --------------------------------------------------------------------------


def test_the_example_config_parses(tmp_path):
    settings = load(tmp_path, EXAMPLE_TOML)
    assert settings.port == 4600 and settings.job_delay == 0.5
    accounts = {a.id: a for a in settings.accounts}
    assert set(accounts) == {"111111111111", "222222222222", "333333333333"}
    assert accounts["111111111111"].email == "admin@example.com"
    assert accounts["111111111111"].name == "Security tooling"
    assert accounts["222222222222"].guardduty is False
    assert accounts["222222222222"].daily_volume == 5_000_000_000
    assert accounts["333333333333"].guardduty is True
    assert settings.organization is not None
    assert settings.organization.management_account == "999999999999"
    assert settings.organization.accounts == {"999999999999", "111111111111", "222222222222"}
    [credential] = settings.credentials
    assert credential.access_key_id == "AKIAIOSFODNN7EXAMPLE" and credential.account == "111111111111"

    directory = AccountDirectory(settings)
    assert directory.account_for_key("AKIAIOSFODNN7EXAMPLE") == "111111111111"
    assert directory.secret_for_key("AKIAIOSFODNN7EXAMPLE") == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert directory.account_for_key("444444444444") == "444444444444"
    assert directory.account_for_key("AKIAUNKNOWN") == settings.default_account
    assert directory.guardduty_enrolled("222222222222") is False
    assert directory.guardduty_enrolled("555555555555") is True
    assert directory.email_matches("111111111111", "ADMIN@example.com")
    assert not directory.email_matches("111111111111", "other@example.com")
    assert directory.is_management_account("999999999999")
    assert directory.in_organization("222222222222") and not directory.in_organization("333333333333")


def test_the_documented_example_parses(tmp_path):
    doc = (REPO / "docs" / "CONFIGURATION.md").read_text()
    block = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert block, "docs/CONFIGURATION.md has a toml example"
    settings = load(tmp_path, block.group(1))
    assert settings.accounts and settings.organization and settings.credentials


@pytest.mark.parametrize(
    "toml,fragment",
    [
        ('[[accounts]]\nid = "12345"\n', "12 digits"),
        ('[[accounts]]\nemail = "a@b.c"\n', "id"),
        ('[[accounts]]\nid = "222222222222"\n[[accounts]]\nid = "222222222222"\n', "twice"),
        ('[[accounts]]\nid = "222222222222"\ndaily_volume = "lots"\n', "daily_volume"),
        ('[organization]\naccounts = ["111111111111"]\n', "management_account"),
        ('[organization]\nmanagement_account = "999999999999"\naccounts = ["1111"]\n', "12 digits"),
        ('[[credentials]]\naccess_key_id = "AK"\naccount = "111111111111"\n', "secret_access_key"),
        ('[[credentials]]\naccess_key_id = "AK"\nsecret_access_key = "s"\naccount = "x"\n', "12 digits"),
    ],
    ids=["short-id", "no-id", "duplicate", "bad-daily-volume", "no-management", "bad-org-account",
         "no-secret", "bad-credential-account"],
)
def test_bad_directory_entries_are_config_errors(tmp_path, toml, fragment):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, toml)
    assert fragment in str(exc.value)


def test_guardduty_must_be_a_boolean(tmp_path):
    """A quoted "false" must not enroll the account in GuardDuty."""
    try:
        settings = load(tmp_path, '[[accounts]]\nid = "222222222222"\nguardduty = "false"\n')
    except ConfigError as exc:
        assert "guardduty" in str(exc)
    else:
        assert settings.accounts[0].guardduty is False


# --- Open auth on the network -----------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_open_auth_is_refused_on_a_network_address(tmp_path, host):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, env={"GUMSHOE_HOST": host})
    assert host in str(exc.value) and "--allow-open-network" in str(exc.value)
    assert load(tmp_path, env={"GUMSHOE_HOST": host, "GUMSHOE_ALLOW_OPEN_NETWORK": "true"}).host == host
    assert load(tmp_path, flags={"host": host, "auth": "sigv4"}).auth == "sigv4"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"])
def test_open_auth_on_loopback_is_fine(tmp_path, host):
    assert load(tmp_path, flags={"host": host}).host == host


# --- The documentation lists every setting ---------------------------------------------------------


def test_every_setting_is_documented_with_its_env_var_and_flag():
    doc = REPO / "docs" / "CONFIGURATION.md"
    assert doc.exists(), "docs/CONFIGURATION.md is missing"
    lines = doc.read_text().splitlines()
    missing = [
        s.name for s in SETTINGS
        if not any(f"`{s.name}`" in line and s.env in line and s.flag in line for line in lines)
    ]
    assert missing == [], f"settings not documented (name, {SETTINGS[0].env}-style variable and flag on one line): {missing}"
