"""Who may ingest what, against a real --auth sigv4 server and signed clients (the probe of
the ingestion-security issue): forged accounts refused per record, server paths outside the
roots refused whatever they are, no unsigned side doors, forged addresses not entities."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import ingest_fixtures as fx
import pytest
from e2e_helpers import assert_aws_error, invite, module_server, status_of, wait_for

US = "us-east-1"
KEY_A, SECRET_A, ACCOUNT_A = "AKIAGUMSHOEADMINAAAA", "secret-admin", "830000000001"  # administers a graph
KEY_B, SECRET_B, ACCOUNT_B = "AKIAGUMSHOEOUTSIDERB", "secret-outsider", "830000000002"  # administers nothing
KEY_M, SECRET_M, ACCOUNT_M = "AKIAGUMSHOEMEMBERMMM", "secret-member", "830000000003"  # ENABLED member of A's graph
KEY_OP, SECRET_OP = "AKIAGUMSHOEOPERATOR0", "secret-operator"
GUMSHOE = str(Path(sys.executable).parent / "gumshoe")


def config(root: Path) -> str:
    accounts = "".join(f'[[accounts]]\nid = "{a}"\nemail = "{a}@example.com"\n\n' for a in (ACCOUNT_A, ACCOUNT_B, ACCOUNT_M))
    creds = "".join(
        f'[[credentials]]\naccess_key_id = "{k}"\nsecret_access_key = "{s}"\naccount = "{a}"\n{extra}\n'
        for k, s, a, extra in ((KEY_A, SECRET_A, ACCOUNT_A, ""), (KEY_B, SECRET_B, ACCOUNT_B, ""),
                               (KEY_M, SECRET_M, ACCOUNT_M, ""), (KEY_OP, SECRET_OP, ACCOUNT_B, "operator = true")))
    return f'ingest_roots = ["{root}"]\n\n{accounts}{creds}'


class World:
    def __init__(self, server: Any, base: Path) -> None:
        self.server = server
        self.base = base
        admin = server.client(KEY_A, secret=SECRET_A)
        self.arn = admin.create_graph()["GraphArn"]
        invite(admin, self.arn, (ACCOUNT_M, f"{ACCOUNT_M}@example.com"))
        wait_for(lambda: status_of(admin, self.arn, ACCOUNT_M) == "INVITED", what="member invited")
        server.client(KEY_M, secret=SECRET_M).accept_invitation(GraphArn=self.arn)
        wait_for(lambda: status_of(admin, self.arn, ACCOUNT_M) == "ENABLED", what="member enabled")
        self.day = fx.day_start(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("security")
    root = base / "root"
    root.mkdir()
    with module_server(tmp_path_factory, config(root), args=["--auth", "sigv4", "--job-delay", "0"],
                       name="security") as server:
        yield World(server, base)


def cli(*args: str, key: str, secret: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": US,
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "COLUMNS": "250"}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        env.pop(name, None)
    return subprocess.run([GUMSHOE, *args], capture_output=True, text=True, timeout=120, check=False, env=env)


def ingest(world: World, folder: Path, key: str, secret: str, *extra: str) -> dict[str, Any]:
    result = cli("ingest", "--endpoint-url", world.server.url, "--json", *extra, str(folder), key=key, secret=secret)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def signed(server: Any, method: str, path: str, key: str | None, secret: str = "", body: bytes = b"",
           **params: str) -> httpx.Response:
    # Encoded as SigV4 canonicalizes it, so that what is signed is what is sent.
    url = server.url + path + (f"?{urlencode(params, quote_via=quote, safe='-_.~')}" if params else "")
    headers = {"Content-Type": "application/json"} if body else {}
    if key is not None:
        request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers)
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(key, secret), "detective", US).add_auth(request)
        headers = dict(request.headers.items())
    return httpx.request(method, url, content=body or None, headers=headers, timeout=30)


def users_of(world: World) -> set[str]:
    response = signed(world.server, "GET", "/_gumshoe/v1/entities", KEY_A, SECRET_A, graph=world.arn, type="aws_user")
    assert response.status_code == 200, response.text
    return {e["id"] for e in response.json()["entities"]}


def trail(world: World, folder: Path, account: str, user: str, ip: str = "198.51.100.7", count: int = 3) -> Path:
    events = [fx.ct_event(account, US, world.day + dt.timedelta(minutes=n), fx.iam_user(account, user),
                          "s3.amazonaws.com", "ListBuckets", ip=ip, agent="aws-cli/2.15.0") for n in range(count)]
    fx.write_cloudtrail(folder, account, US, events, world.day, f"{user[:8]:0<8}00000000")
    return folder


def test_an_outsider_cannot_plant_events_in_another_accounts_graph(world: World) -> None:
    before = users_of(world)
    folder = trail(world, world.base / "forged-by-b", ACCOUNT_A, "evil-forged")
    summary = ingest(world, folder, KEY_B, SECRET_B)
    assert summary["graphs"] == {}, summary
    rows = {(r["account"], r["kind"]): r for r in summary["byAccount"]}
    assert rows[(ACCOUNT_A, "cloudtrail")]["refused"] == 3 and rows[(ACCOUNT_A, "cloudtrail")]["unrouted"] == 0
    assert summary["refused"] == [{"account": ACCOUNT_A, "reason": f"account {ACCOUNT_A} is not yours "
                                   f"({ACCOUNT_B}) or a member of a graph you administer"}]
    assert users_of(world) == before
    assert f"arn:aws:iam::{ACCOUNT_A}:user/evil-forged" not in users_of(world)
    # The refusal is kept with the rejects, with why (and no excerpt of anything).
    rejects = [json.loads(line) for path in (world.server.data_dir / "rejects").glob("*.jsonl")
               for line in path.read_text().splitlines()]
    assert any(r["position"] == f"records of account {ACCOUNT_A}" and "3 records refused" in r["reason"]
               for r in rejects), rejects


def test_a_member_cannot_plant_the_administrators_events(world: World) -> None:
    folder = trail(world, world.base / "forged-by-m", ACCOUNT_A, "evil-member")
    summary = ingest(world, folder, KEY_M, SECRET_M)
    assert summary["graphs"] == {} and [r["account"] for r in summary["refused"]] == [ACCOUNT_A], summary
    assert f"arn:aws:iam::{ACCOUNT_A}:user/evil-member" not in users_of(world)


def test_a_member_loads_its_own_and_the_administrator_its_members_logs(world: World) -> None:
    own = trail(world, world.base / "member-own", ACCOUNT_M, "mira")
    summary = ingest(world, own, KEY_M, SECRET_M)
    assert summary["graphs"] == {world.arn: 3} and summary["refused"] == [], summary
    members_logs = trail(world, world.base / "org-trail", ACCOUNT_M, "otto")
    summary = ingest(world, members_logs, KEY_A, SECRET_A)
    assert summary["graphs"] == {world.arn: 3} and summary["refused"] == [], summary
    assert {f"arn:aws:iam::{ACCOUNT_M}:user/mira", f"arn:aws:iam::{ACCOUNT_M}:user/otto"} <= users_of(world)


def test_the_same_upload_refused_for_one_caller_still_loads_for_its_owner(world: World) -> None:
    folder = trail(world, world.base / "shared-copy", ACCOUNT_A, "ada")
    assert ingest(world, folder, KEY_B, SECRET_B)["graphs"] == {}
    summary = ingest(world, folder, KEY_A, SECRET_A)
    assert summary["graphs"] == {world.arn: 3} and summary["skipped"] == 0, summary
    assert f"arn:aws:iam::{ACCOUNT_A}:user/ada" in users_of(world)


def locations(world: World, key: str, secret: str, *where: str) -> httpx.Response:
    body = json.dumps({"locations": list(where)}).encode()
    return signed(world.server, "POST", "/_gumshoe/v1/ingest", key, secret, body)


def test_server_paths_outside_the_ingest_roots_are_refused_alike(world: World) -> None:
    root = world.base / "root"
    outside = trail(world, world.base / "outside", ACCOUNT_A, "outsider")
    (root / "escape").symlink_to(outside)
    probes = ["/etc", "/root", "/proc/self/environ", "../../../../etc/passwd", str(root / ".." / "outside"),
              str(root / "escape"), str(outside), "/no/such/path", "s3://any-bucket/AWSLogs/"]
    messages = set()
    for probe in probes:
        response = locations(world, KEY_A, SECRET_A, probe)
        body = assert_aws_error(response, 403, "AccessDeniedException")
        messages.add(body["message"].replace(probe, "<location>"))
    assert len(messages) == 1, messages  # the same answer whether the path exists or not
    assert "/etc/" not in next(iter(messages)) and "upload" in next(iter(messages))
    assert not (world.server.data_dir / "rejects").exists() or not any(
        "passwd" in p.read_text() or "root:" in p.read_text() for p in (world.server.data_dir / "rejects").glob("*"))


def test_a_path_under_an_ingest_root_is_read_with_the_callers_permit(world: World) -> None:
    root = world.base / "root"
    trail(world, root / "shared", ACCOUNT_A, "rooted")
    trail(world, root / "shared-b", ACCOUNT_B, "bee")
    # B may name the root, but A's records in it are refused for B ...
    response = locations(world, KEY_B, SECRET_B, str(root / "shared"))
    assert response.status_code == 200, response.text
    summary = json.loads(response.text.splitlines()[-1])
    assert summary["type"] == "summary" and summary["graphs"] == {}, summary
    assert [r["account"] for r in summary["refused"]] == [ACCOUNT_A]
    # ... and still load for A, who names the same folder afterwards.
    summary = json.loads(locations(world, KEY_A, SECRET_A, str(root / "shared")).text.splitlines()[-1])
    assert summary["graphs"] == {world.arn: 3}, summary


def test_an_upload_must_match_its_signed_digest(world: World) -> None:
    body = b'{"Records": []}'
    url = world.server.url + "/_gumshoe/v1/upload?name=x.json"
    headers = {"X-Amz-Content-SHA256": "0" * 64, "Content-Type": "application/octet-stream"}
    request = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY_A, SECRET_A), "detective", US).add_auth(request)
    response = httpx.post(url, content=body, headers=dict(request.headers.items()))
    assert_aws_error(response, 403, "InvalidSignatureException")
    unsigned = httpx.post(url, content=body, headers={"X-Amz-Content-SHA256": "0" * 64})
    assert_aws_error(unsigned, 403, "MissingAuthenticationTokenException")
    assert not list((world.server.data_dir / "uploads").glob("*"))  # nothing kept of either


def test_health_tells_unsigned_callers_only_that_it_is_up(world: World) -> None:
    unsigned = signed(world.server, "GET", "/_gumshoe/health", None)
    assert unsigned.status_code == 200 and unsigned.json() == {"status": "ok"}
    full = signed(world.server, "GET", "/_gumshoe/health", KEY_B, SECRET_B).json()
    assert full["status"] == "ok" and full["dataDir"] and full["auth"] == "sigv4"


def test_reload_needs_an_operator_signature(world: World) -> None:
    unsigned = signed(world.server, "POST", "/_gumshoe/reload", None)
    assert unsigned.status_code == 403 and "operator" in unsigned.json()["message"]
    not_operator = signed(world.server, "POST", "/_gumshoe/reload", KEY_A, SECRET_A)
    assert not_operator.status_code == 403
    operator = signed(world.server, "POST", "/_gumshoe/reload", KEY_OP, SECRET_OP)
    assert operator.status_code == 200, operator.text
    assert operator.json()["credentials"] == 4
    result = cli("reload", "--endpoint-url", world.server.url, key=KEY_OP, secret=SECRET_OP)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_forged_address_is_kept_in_the_event_but_is_no_entity(world: World) -> None:
    trail(world, world.base / "bad-ip", ACCOUNT_A, "ipforger", ip="999.999.1.1", count=1)
    summary = ingest(world, world.base / "bad-ip", KEY_A, SECRET_A)
    assert summary["graphs"] == {world.arn: 1}
    response = signed(world.server, "GET", "/_gumshoe/v1/entities", KEY_A, SECRET_A, graph=world.arn, type="ip_address")
    assert "999.999.1.1" not in {e["id"] for e in response.json()["entities"]}
    assert "198.51.100.7" in {e["id"] for e in response.json()["entities"]}  # valid addresses still are
    profile = signed(world.server, "GET", "/_gumshoe/v1/profile", KEY_A, SECRET_A, graph=world.arn,
                     entity=f"arn:aws:iam::{ACCOUNT_A}:user/ipforger", **{"from": "2000-01-01"}).json()
    assert sum(r["success"] for r in profile["panels"]["api"]) == 1  # the event itself is there


def gzip_bomb(unpacked_mib: int) -> bytes:
    """``{"Records":[`` and then ``unpacked_mib`` MiB of spaces, gzipped: gzip members of 1 MiB
    each, one after the other (a valid gzip file; cheap to make, ~1 KiB a member)."""
    member = gzip.compress(b" " * (1 << 20), compresslevel=9)
    return gzip.compress(b'{"Records":[') + member * unpacked_mib


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_gzip_bombs_are_one_reject_each_and_memory_stays_bounded(world: World) -> None:
    folder = world.base / "bombs"
    for name, mib in (("1mb-bomb.json.gz", 1024), ("10mb-bomb.json.gz", 10240)):
        path = folder / "AWSLogs" / ACCOUNT_A / "CloudTrail" / US / "2026" / "12" / "01" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip_bomb(mib))
    summary = ingest(world, folder, KEY_A, SECRET_A)
    assert summary["objects"] == 2 and summary["failed"] == [], summary
    row = next(r for r in summary["byAccount"] if r["kind"] == "cloudtrail")
    assert row["rejects"] == 2 and row["events"] == 0, summary
    assert world.server.proc is not None
    peak = peak_rss_mib(world.server.proc.pid)
    print(f"server peak RSS after the bombs: {peak:.0f} MiB")
    assert peak < 512
    rejects = [json.loads(line) for path in (world.server.data_dir / "rejects").glob("*.jsonl")
               for line in path.read_text().splitlines()]
    assert sum("larger than the" in r["reason"] and "bomb" in r["key"] for r in rejects) == 2, rejects


def test_a_line_nested_too_deep_is_one_reject_between_two_stored_events(world: World) -> None:
    good = [fx.ct_event(ACCOUNT_A, US, world.day + dt.timedelta(minutes=n), fx.iam_user(ACCOUNT_A, f"deep{n}"),
                        "s3.amazonaws.com", "ListBuckets", ip="198.51.100.9", agent="aws-cli/2.15.0") for n in (1, 2)]
    lines = [json.dumps(good[0]), "[" * 100_000 + "]" * 100_000, json.dumps(good[1])]
    path = world.base / "deep" / "events.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    summary = ingest(world, path.parent, KEY_A, SECRET_A)
    assert summary["graphs"] == {world.arn: 2} and summary["failed"] == [], summary
    assert next(r for r in summary["byAccount"] if r["kind"] == "cloudtrail")["rejects"] == 1
    assert {f"arn:aws:iam::{ACCOUNT_A}:user/deep1", f"arn:aws:iam::{ACCOUNT_A}:user/deep2"} <= users_of(world)
    again = ingest(world, path.parent, KEY_A, SECRET_A)  # ledgered: not failed, not read again
    assert (again["objects"], again["skipped"], again["failedBefore"]) == (0, 1, []), again
