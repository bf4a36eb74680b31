"""CloudTrail-style audit files and the invitation outbox."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import expect_error, health, invite, module_server, wait_for

ADMIN = "830000000001"
MEMBER = "830000000002"
QUIET = "830000000003"
WRONG = "830000000004"
OTHER = "830000000005"

CONFIG = f"""
[[accounts]]
id = "{MEMBER}"
email = "member.root@example.com"

[[accounts]]
id = "{QUIET}"
email = "quiet.root@example.com"

[[accounts]]
id = "{WRONG}"
email = "right.root@example.com"
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, CONFIG, name="audit") as server:
        yield server


def _trail_files(server: Any, account: str, region: str = "us-east-1") -> list[Path]:
    root = server.data_dir / "AWSLogs" / account / "CloudTrail" / region
    return sorted(root.glob("*/*/*/*.json.gz")) if root.exists() else []


def _records(server: Any, account: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in _trail_files(server, account, region):
        with gzip.open(path) as f:
            out += json.load(f)["Records"]
    return out


def _wait_records(server: Any, account: str, predicate: Any, region: str = "us-east-1") -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        records = _records(server, account, region)
        return records if predicate(records) else None

    return wait_for(check, timeout=10, what=f"audit records of {account}")  # type: ignore[no-any-return]


def test_calls_are_written_as_cloudtrail_files(srv: Any) -> None:
    admin = srv.client(ADMIN)
    created = admin.create_graph()
    arn = created["GraphArn"]
    invite(admin, arn, (MEMBER, "member.root@example.com"), Message="secret note for the member")
    ghost = "arn:aws:detective:us-east-1:830000000099:graph:" + "d" * 32
    failed = expect_error("ResourceNotFoundException", 404, admin.delete_graph, GraphArn=ghost)
    admin.list_graphs()

    wanted = {"CreateGraph", "CreateMembers", "DeleteGraph", "ListGraphs"}
    records = _wait_records(srv, ADMIN, lambda rs: wanted <= {r["eventName"] for r in rs})

    # Files sit in CloudTrail's layout, named after account, Region and time.
    files = _trail_files(srv, ADMIN)
    assert files
    today = dt.datetime.now(dt.UTC).date()
    for path in files:
        rel = path.relative_to(srv.data_dir)
        parts = rel.parts
        assert parts[:4] == ("AWSLogs", ADMIN, "CloudTrail", "us-east-1"), rel
        day = dt.date(int(parts[4]), int(parts[5]), int(parts[6]))
        assert abs((day - today).days) <= 1
        assert re.fullmatch(rf"{ADMIN}_CloudTrail_us-east-1_\d{{8}}T\d{{4}}Z_[A-Za-z0-9]+\.json\.gz", path.name), path.name

    by_name: dict[str, dict[str, Any]] = {}
    for r in records:
        by_name.setdefault(r["eventName"], r)
    for r in records:
        assert r["eventSource"] == "detective.amazonaws.com"
        assert r["awsRegion"] == "us-east-1"
        assert r["userIdentity"]["accountId"] == ADMIN
        assert r["recipientAccountId"] == ADMIN
        assert r["requestID"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["eventTime"])

    create = by_name["CreateGraph"]
    assert "errorCode" not in create
    assert create["requestID"] == created["ResponseMetadata"]["RequestId"]
    assert create["readOnly"] is False
    assert by_name["ListGraphs"]["readOnly"] is True

    delete = by_name["DeleteGraph"]
    assert delete["errorCode"] == "ResourceNotFoundException"
    assert delete["errorMessage"]
    assert delete["requestID"] == failed["ResponseMetadata"]["RequestId"]
    assert delete["requestParameters"]["graphArn"] == ghost

    members = by_name["CreateMembers"]
    params = members["requestParameters"]
    assert params["graphArn"] == arn
    assert params["accounts"][0]["accountId"] == MEMBER
    assert params["accounts"][0]["emailAddress"] != "member.root@example.com"
    raw_files = b"".join(gzip.decompress(p.read_bytes()) for p in _trail_files(srv, ADMIN))
    assert b"member.root@example.com" not in raw_files
    assert b"secret note for the member" not in raw_files


def test_each_account_and_region_gets_its_own_trail(srv: Any) -> None:
    srv.client(OTHER, "eu-west-1").create_graph(Tags={"CostCenter": "42"})
    srv.client(OTHER, "eu-west-1").list_graphs()
    records = _wait_records(srv, OTHER, lambda rs: any(r["eventName"] == "ListGraphs" for r in rs), region="eu-west-1")
    assert all(r["awsRegion"] == "eu-west-1" for r in records)
    assert _records(srv, OTHER, "us-east-1") == []
    # Member names are lowerCamel; tag keys are kept as given.
    create = next(r for r in records if r["eventName"] == "CreateGraph")
    assert create["requestParameters"] == {"tags": {"CostCenter": "42"}}


def test_member_calls_are_audited_in_the_members_trail(srv: Any) -> None:
    admin = srv.client("830000000006")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, (QUIET, "quiet.root@example.com"), DisableEmailNotification=True)
    quiet = srv.client(QUIET)
    quiet.accept_invitation(GraphArn=arn)
    expect_error("ConflictException", 409, quiet.accept_invitation, GraphArn=arn)
    records = _wait_records(
        srv, QUIET, lambda rs: sum(r["eventName"] == "AcceptInvitation" for r in rs) >= 2
    )
    accepts = [r for r in records if r["eventName"] == "AcceptInvitation"]
    assert sorted(r.get("errorCode") or "" for r in accepts) == ["", "ConflictException"]


def test_refused_requests_are_audited_too(srv: Any) -> None:
    c = srv.client("830000000010")
    invalid = expect_error("ValidationException", 400, c.delete_graph, GraphArn="not-an-arn")
    expect_error("ResourceNotFoundException", 404, c.list_investigations,
                 GraphArn="arn:aws:detective:us-east-1:830000000010:graph:" + "e" * 32)
    records = _wait_records(srv, "830000000010", lambda rs: {"DeleteGraph", "ListInvestigations"} <= {r["eventName"] for r in rs})
    by_name = {r["eventName"]: r for r in records}
    assert by_name["DeleteGraph"]["errorCode"] == "ValidationException"
    assert by_name["DeleteGraph"]["requestID"] == invalid["ResponseMetadata"]["RequestId"]
    assert by_name["ListInvestigations"]["errorCode"] == "ResourceNotFoundException"


def _outbox(server: Any) -> list[Path]:
    return sorted((server.data_dir / "outbox").glob("*.eml"))


def test_invitation_email_lands_in_the_outbox(srv: Any) -> None:
    admin = srv.client("830000000007")
    arn = admin.create_graph()["GraphArn"]
    before = set(_outbox(srv))
    invite(admin, arn, (MEMBER, "member.root@example.com"), Message="Welcome to the team graph")
    new = wait_for(lambda: [p for p in _outbox(srv) if p not in before], timeout=10, what="invitation email")
    assert len(new) == 1
    msg = email.message_from_bytes(new[0].read_bytes(), policy=email.policy.default)
    assert msg["To"] == "member.root@example.com"
    assert "830000000007" in msg["Subject"]
    body = msg.get_content()
    assert arn in body
    assert MEMBER in body
    assert "Welcome to the team graph" in body


def test_no_email_when_notification_disabled_or_verification_fails(srv: Any) -> None:
    admin = srv.client("830000000008")
    arn = admin.create_graph()["GraphArn"]
    before = set(_outbox(srv))
    invite(admin, arn, (QUIET, "quiet.root@example.com"), DisableEmailNotification=True)
    invite(admin, arn, (WRONG, "wrong.root@example.com"))
    assert admin.get_members(GraphArn=arn, AccountIds=[QUIET])["MemberDetails"][0]["Status"] == "INVITED"
    assert admin.get_members(GraphArn=arn, AccountIds=[WRONG])["MemberDetails"][0]["Status"] == "VERIFICATION_FAILED"
    # A control invitation that does send mail, to know the outbox is being written.
    invite(admin, arn, (MEMBER, "member.root@example.com"))
    new = wait_for(lambda: [p for p in _outbox(srv) if p not in before], timeout=10, what="control email")
    recipients = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["To"] for p in new]
    assert recipients == ["member.root@example.com"]


def test_audit_survives_a_restart(make_server: Any) -> None:
    server = make_server(env={"GUMSHOE_AUDIT_FLUSH_INTERVAL": "60"})
    server.client("830000000009").create_graph()
    # A long flush interval: the record is written at shutdown, not lost.
    server.stop()
    names = [r["eventName"] for r in _records(server, "830000000009")]
    assert names == ["CreateGraph"]


def test_reinvited_account_gets_one_email(make_server: Any) -> None:
    server = make_server(config_toml=CONFIG, args=["--job-delay", "0.3"])
    admin = server.client("830000000011")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, (MEMBER, "member.root@example.com"))
    admin.delete_members(GraphArn=arn, AccountIds=[MEMBER])
    invite(admin, arn, (MEMBER, "member.root@example.com"))  # two verifications now queued
    wait_for(lambda: admin.get_members(GraphArn=arn, AccountIds=[MEMBER])["MemberDetails"][0]["Status"] == "INVITED",
             timeout=10, what="INVITED")
    mails = wait_for(lambda: _outbox(server), timeout=10, what="invitation email")
    # Let any stale second verification run too: no job is left waiting.
    wait_for(lambda: health(server)["jobsPending"] == 0, timeout=10, what="no job pending")
    assert len(_outbox(server)) == len(mails) == 1
