"""The command line's traps, each met once: a busy port, a data directory a server holds,
tables read through a pipe, capped lists, and calls made with no credentials at all."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import ingest_fixtures as fx
import pytest
from e2e_helpers import VENV_BIN, free_port, module_server

GUMSHOE = str(VENV_BIN / "gumshoe")
ADMIN = "810000000001"
DEFAULT = "123456789012"
US = "us-east-1"
# Long enough that an 80-column table would fold them.
NAMES = [f"ci/deploy/{team}-release-pipeline-with-a-rather-long-name-{n}" for n, team in enumerate(("payments", "search"))]
NOTICE = "no AWS credentials set: acting as account 123456789012"


def env_of(account: str | None, home: Path) -> dict[str, str]:
    """The environment of a user with ``account`` as access key id, or with no AWS
    credentials anywhere (no AWS_* variables, an empty home); never COLUMNS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "COLUMNS"}
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true")  # no credentials from an instance either
    if account:
        env.update(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="x", AWS_REGION=US)
    return env


def gumshoe(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the command with its stdout and stderr into pipes, as a script would."""
    return subprocess.run([GUMSHOE, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, name="traps") as server:
        home = tmp_path_factory.mktemp("home")
        arn = server.client(ADMIN).create_graph()["GraphArn"]
        logs = tmp_path_factory.mktemp("logs")
        day = fx.day_start(1)
        events = [fx.ct_event(ADMIN, US, day.replace(hour=n + 1), fx.iam_user(ADMIN, name), "iam.amazonaws.com", "GetUser",
                              ip="198.51.100.9", agent="aws-cli/2.15.0") for n, name in enumerate(NAMES)]
        fx.write_cloudtrail(logs, ADMIN, US, events, day)
        loaded = gumshoe("ingest", "--endpoint-url", server.url, "--json", str(logs), env=env_of(ADMIN, home))
        assert loaded.returncode == 0, loaded.stderr
        assert json.loads(loaded.stdout)["graphs"] == {arn: len(events)}
        server.home, server.graph = home, arn
        yield server


# --- gumshoe serve on a port in use -------------------------------------------------------


def test_serve_on_a_busy_port_says_so_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as other:  # another server, listening
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        data = tmp_path / "data"
        result = gumshoe("serve", "--port", str(port), "--data-dir", str(data), env=env_of(None, tmp_path), timeout=60)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"port {port} on 127.0.0.1 is in use: stop the other server, or pass another --port" in result.stderr
    assert "listening" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not data.exists()


# --- gumshoe ingest --data-dir on a server's data directory -------------------------------


def test_ingest_into_a_running_servers_data_directory_names_endpoint_url(make_server: Any, tmp_path: Path) -> None:
    server = make_server()
    assert server.proc is not None
    logs = tmp_path / "logs"
    fx.write_cloudtrail(logs, ADMIN, US, [fx.ct_event(ADMIN, US, fx.day_start(1), fx.iam_user(ADMIN, "alice"),
                                                     "iam.amazonaws.com", "GetUser", ip="198.51.100.9",
                                                     agent="aws-cli/2.15.0")], fx.day_start(1))
    env = env_of(ADMIN, tmp_path)
    held = gumshoe("ingest", "--data-dir", str(server.data_dir), str(logs), env=env)
    assert held.returncode == 1, held.stderr
    assert (f"{server.data_dir.resolve()} is in use by a running gumshoe server (pid {server.proc.pid}): send the logs "
            f"to it with `gumshoe ingest --endpoint-url {server.url} PATH` instead.") in held.stderr
    assert "ingesting" not in held.stderr and "Ingested" not in held.stdout  # said before any work
    # A second server on the same directory is turned away as well, and says by whom.
    second = gumshoe("serve", "--port", str(free_port()), "--data-dir", str(server.data_dir), env=env, timeout=60)
    assert second.returncode == 1 and f"in use by a running gumshoe server (pid {server.proc.pid})" in second.stderr
    assert "listening" not in second.stdout
    # kill -9 leaves the lock file, and holds nothing: the directory is free at once.
    server.kill()
    assert (server.data_dir / ".gumshoe.lock").exists()
    free = gumshoe("ingest", "--data-dir", str(server.data_dir), "--json", str(logs), env=env)
    assert free.returncode == 0, free.stderr
    assert json.loads(free.stdout)["objects"] == 1


# --- tables into a pipe -------------------------------------------------------------------


def test_tables_into_a_pipe_keep_each_arn_whole_on_one_line(world: Any) -> None:
    env = env_of(ADMIN, world.home)
    arns = [f"arn:aws:iam::{ADMIN}:user/{name}" for name in NAMES]
    listed = gumshoe("graph", "entities", "--endpoint-url", world.url, "--graph", world.graph,
                     "--type", "aws_user", env=env)
    assert listed.returncode == 0, listed.stderr
    for arn in arns:
        assert any(arn in line for line in listed.stdout.splitlines()), listed.stdout
    assert "…" not in listed.stdout
    profile = gumshoe("graph", "profile", "--endpoint-url", world.url, "--graph", world.graph, arns[0], env=env)
    assert profile.returncode == 0, profile.stderr
    assert any(arns[0] in line for line in profile.stdout.splitlines()), profile.stdout
    # And an error is one line, however long, for a log or grep.
    missing = gumshoe("graph", "profile", "--endpoint-url", world.url, "--graph", world.graph, arns[0] + "-gone",
                      env=env)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1, missing.stderr


# --- capped lists -------------------------------------------------------------------------


def test_a_capped_listing_says_so_and_json_keeps_the_flag(world: Any) -> None:
    env = env_of(ADMIN, world.home)
    base = ["graph", "entities", "--endpoint-url", world.url, "--graph", world.graph, "--type", "aws_user"]
    cut = gumshoe(*base, "--limit", "1", env=env)
    assert cut.returncode == 0, cut.stderr
    assert "the first 1 entities" in cut.stdout
    assert "… and more not listed: the graph has more than 1 entities of this type; raise --limit" in cut.stdout
    as_json = json.loads(gumshoe(*base, "--limit", "1", "--json", env=env).stdout)
    assert as_json["truncated"] is True and len(as_json["entities"]) == 1
    whole = json.loads(gumshoe(*base, "--json", env=env).stdout)
    assert whole["truncated"] is False and len(whole["entities"]) == len(NAMES)
    assert "more not listed" not in gumshoe(*base, env=env).stdout


# --- no credentials: the default account, said once ----------------------------------------


def test_no_credentials_say_once_which_account_the_command_acts_as(world: Any, tmp_path: Path) -> None:
    bare = env_of(None, tmp_path)
    # The error about the account names it, and where it looked.
    nowhere = gumshoe("investigate", "--endpoint-url", world.url, f"arn:aws:iam::{DEFAULT}:user/bob", env=bare)
    assert nowhere.returncode == 2, nowhere.stderr
    assert nowhere.stderr.count(NOTICE) == 1 and NOTICE not in nowhere.stdout
    assert f"account {DEFAULT} has no behavior graph in the server's default Region" in nowhere.stderr
    assert "the server answered" not in nowhere.stderr
    # A Region cannot be chosen without signing: said, rather than ignored.
    region = gumshoe("investigate", "--endpoint-url", world.url, "--region", "eu-north-1",
                     f"arn:aws:iam::{DEFAULT}:user/bob", env=bare)
    assert region.returncode == 2 and "--region eu-north-1 needs AWS credentials" in region.stderr, region.stderr
    signed_nowhere = gumshoe("investigate", "--endpoint-url", world.url, "--region", "eu-north-1",
                             f"arn:aws:iam::{ADMIN}:user/bob", env=env_of(ADMIN, tmp_path))
    assert signed_nowhere.returncode == 2
    assert f"account {ADMIN} has no behavior graph in eu-north-1" in signed_nowhere.stderr

    arn = world.client(DEFAULT).create_graph()["GraphArn"]
    listed = gumshoe("graph", "entities", "--endpoint-url", world.url, "--graph", arn, env=bare)
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.count(NOTICE) == 1 and NOTICE not in listed.stdout
    assert "set AWS_ACCESS_KEY_ID to your account id" in listed.stderr
    # An ingest's uploads, one notice.
    logs = tmp_path / "logs"
    for n in range(2):
        fx.write_cloudtrail(logs, DEFAULT, US, [fx.ct_event(DEFAULT, US, fx.day_start(1), fx.iam_user(DEFAULT, "bob"),
                                                            "iam.amazonaws.com", "GetUser", ip="198.51.100.9",
                                                            agent="aws-cli/2.15.0")], fx.day_start(1), rand=f"R{n}" * 8)
    ingested = gumshoe("ingest", "--endpoint-url", world.url, "--json", str(logs), env=bare)
    assert ingested.returncode == 0, ingested.stderr
    assert ingested.stderr.count(NOTICE) == 1 and NOTICE not in ingested.stdout
    assert json.loads(ingested.stdout)["graphs"] == {arn: 2}
    # With credentials, no notice.
    signed = gumshoe("graph", "entities", "--endpoint-url", world.url, "--graph", world.graph, env=env_of(ADMIN, tmp_path))
    assert signed.returncode == 0 and "no AWS credentials" not in signed.stderr + signed.stdout
    # health and reload act as no account: no notice.
    health = gumshoe("health", "--endpoint-url", world.url, env=bare)
    assert health.returncode == 0 and "no AWS credentials" not in health.stderr
