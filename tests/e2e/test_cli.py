"""Command lines: the AWS CLI against Gumshoe, and Gumshoe's own `health` and `reload`."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from e2e_helpers import VENV_BIN, free_port, module_server

ADMIN = "840000000001"
MEMBER = "840000000002"

CONFIG = f"""
[[accounts]]
id = "{MEMBER}"
email = "cli.member@example.com"
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, CONFIG, name="cli") as server:
        yield server


def aws(server: Any, account: str, *args: str, region: str = "us-east-1") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_PAGER": "",
    }
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run(
        [str(VENV_BIN / "aws"), "detective", *args, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True, text=True, timeout=60, env=env,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_aws_cli_walkthrough(srv: Any) -> None:
    arn = ok(aws(srv, ADMIN, "create-graph", "--tags", "team=cli"))["GraphArn"]
    assert arn.startswith(f"arn:aws:detective:us-east-1:{ADMIN}:graph:")
    assert [g["Arn"] for g in srv.client(ADMIN).list_graphs()["GraphList"]] == [arn]

    created = ok(aws(srv, ADMIN, "create-members", "--graph-arn", arn,
                     "--accounts", f"AccountId={MEMBER},EmailAddress=cli.member@example.com",
                     "--disable-email-notification"))
    assert [m["AccountId"] for m in created["Members"]] == [MEMBER]

    invitations = ok(aws(srv, MEMBER, "list-invitations"))["Invitations"]
    assert [(i["GraphArn"], i["Status"]) for i in invitations] == [(arn, "INVITED")]
    assert ok(aws(srv, MEMBER, "accept-invitation", "--graph-arn", arn)) is None

    members = srv.client(ADMIN).get_members(GraphArn=arn, AccountIds=[MEMBER])
    assert members["MemberDetails"][0]["Status"] == "ENABLED"
    # Timestamps come out as the ISO 8601 text Detective documents.
    assert "T" in invitations[0]["InvitedTime"]
    assert ok(aws(srv, ADMIN, "list-tags-for-resource", "--resource-arn", arn))["Tags"] == {"team": "cli"}


def test_aws_cli_reports_errors(srv: Any) -> None:
    bad = aws(srv, ADMIN, "delete-graph", "--graph-arn", "not-an-arn")
    assert bad.returncode != 0
    assert "ValidationException" in bad.stderr
    assert "Member must satisfy regular expression pattern" in bad.stderr

    arn = srv.client("840000000003").create_graph()["GraphArn"]
    result = aws(srv, "840000000003", "get-investigation", "--graph-arn", arn, "--investigation-id", "1" * 21)
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr

    other = aws(srv, "840000000004", "list-members", "--graph-arn", arn)
    assert other.returncode != 0 and "ResourceNotFoundException" in other.stderr


def gumshoe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "gumshoe"), *args], capture_output=True, text=True, timeout=60)


def test_gumshoe_health(srv: Any) -> None:
    result = gumshoe("health", "--endpoint-url", srv.url)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "ok" and body["auth"] == "open"


def test_gumshoe_cli_without_a_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for command in ("health", "reload"):
        result = gumshoe(command, "--endpoint-url", url)
        assert result.returncode == 1
        assert "cannot reach" in result.stderr


def test_gumshoe_reload_reports_the_directory(srv: Any) -> None:
    result = gumshoe("reload", "--endpoint-url", srv.url)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["accounts"] == 1 and body["credentials"] == 0 and body["organizationAccounts"] == 0


def test_gumshoe_reload_of_a_broken_config_keeps_the_old_one(make_server: Any) -> None:
    server = make_server(config_toml=CONFIG + '\n[[accounts]]\nid = "840000000005"\nemail = "five@example.com"\n',
                         args=["--strict-accounts"])
    assert server.config is not None
    server.config.write_text("this is [not toml")
    result = gumshoe("reload", "--endpoint-url", server.url)
    assert result.returncode == 1
    assert "TOML" in result.stdout or "TOML" in result.stderr
    # The directory loaded at start still applies: the known account verifies.
    admin = server.client("840000000006")
    arn = admin.create_graph()["GraphArn"]
    admin.create_members(GraphArn=arn, Accounts=[{"AccountId": "840000000005", "EmailAddress": "five@example.com"}])
    assert admin.get_members(GraphArn=arn, AccountIds=["840000000005"])["MemberDetails"][0]["Status"] == "INVITED"


def test_gumshoe_version_and_help() -> None:
    result = gumshoe("--version")
    assert result.returncode == 0 and result.stdout.startswith("gumshoe ")
    result = gumshoe()
    assert result.returncode == 2 and "serve" in result.stdout
