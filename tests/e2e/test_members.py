"""The membership state machine from the administrator's side: CreateMembers, GetMembers,
ListMembers, DeleteMembers, StartMonitoringMember, volume checks and quotas."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from e2e_helpers import (
    expect_error,
    invitation_arns,
    invite,
    member,
    member_ids,
    module_server,
    status_of,
    wait_for,
    wait_for_more,
)


def _accounts_toml(entries: list[dict[str, Any]]) -> str:
    out = []
    for e in entries:
        out.append("[[accounts]]")
        for k, v in e.items():
            if isinstance(v, bool):
                out.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, int):
                out.append(f"{k} = {v}")
            else:
                out.append(f'{k} = "{v}"')
        out.append("")
    return "\n".join(out)


# Accounts 3000000001NN are in the directory with email mNN@example.com; 300000000150..159
# are not enrolled in GuardDuty.
DIRECTORY = [{"id": f"3000000001{n:02d}", "email": f"m{n:02d}@example.com"} for n in range(50)] + [
    {"id": f"3000000001{n:02d}", "email": f"m{n:02d}@example.com", "guardduty": False} for n in range(50, 60)
]


def acct(n: int) -> tuple[str, str]:
    return f"3000000001{n:02d}", f"m{n:02d}@example.com"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, _accounts_toml(DIRECTORY), name="members") as server:
        yield server


def _recent(value: Any) -> bool:
    now = dt.datetime.now(dt.UTC)
    return isinstance(value, dt.datetime) and now - dt.timedelta(minutes=5) <= value <= now + dt.timedelta(seconds=5)


def test_create_members_verifies_then_invites(srv: Any) -> None:
    admin = srv.client("300000000001")
    arn = admin.create_graph()["GraphArn"]
    m1, m2 = acct(1), acct(2)
    response = invite(admin, arn, m1, m2, Message="Join us")
    assert response["UnprocessedAccounts"] == []
    by_id = {m["AccountId"]: m for m in response["Members"]}
    assert set(by_id) == {m1[0], m2[0]}
    for account_id, email in (m1, m2):
        detail = by_id[account_id]
        assert detail["Status"] == "VERIFICATION_IN_PROGRESS"
        assert detail["EmailAddress"] == email
        assert detail["GraphArn"] == arn
        assert detail["AdministratorId"] == "300000000001"
        assert detail["MasterId"] == "300000000001"
        assert detail["InvitationType"] == "INVITATION"
        assert _recent(detail["UpdatedTime"])
        assert "DisabledReason" not in detail

    # With job delay 0 the verification is done by the next read.
    details = admin.get_members(GraphArn=arn, AccountIds=[m1[0], m2[0]])
    assert details["UnprocessedAccounts"] == []
    for detail in details["MemberDetails"]:
        assert detail["Status"] == "INVITED"
        assert _recent(detail["InvitedTime"])
        assert _recent(detail["UpdatedTime"])
        assert detail["AdministratorId"] == detail["MasterId"] == "300000000001"
        assert detail["InvitationType"] == "INVITATION"

    # The member sees the same invitation.
    invitations = srv.client(m1[0]).list_invitations()["Invitations"]
    assert len(invitations) == 1
    inv = invitations[0]
    assert inv["GraphArn"] == arn and inv["AccountId"] == m1[0] and inv["Status"] == "INVITED"
    assert inv["AdministratorId"] == inv["MasterId"] == "300000000001"
    assert inv["EmailAddress"] == m1[1]
    assert _recent(inv["InvitedTime"])


def test_list_members_includes_administrator_and_all_states(srv: Any) -> None:
    admin = srv.client("300000000003")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, acct(3), acct(4), ("300000000199", "whoever@example.com"))
    invite(admin, arn, (acct(5)[0], "wrong@example.com"))
    srv.client(acct(4)[0]).accept_invitation(GraphArn=arn)
    statuses = {m["AccountId"]: m["Status"] for m in admin.list_members(GraphArn=arn)["MemberDetails"]}
    assert statuses == {
        "300000000003": "ENABLED",
        acct(3)[0]: "INVITED",
        acct(4)[0]: "ENABLED",
        "300000000199": "INVITED",  # not in the directory, and the server is not strict
        acct(5)[0]: "VERIFICATION_FAILED",
    }


def test_email_mismatch_fails_verification(srv: Any) -> None:
    admin = srv.client("300000000006")
    arn = admin.create_graph()["GraphArn"]
    account_id = acct(6)[0]
    response = invite(admin, arn, (account_id, "not-the-root@example.com"))
    assert response["Members"][0]["Status"] == "VERIFICATION_IN_PROGRESS"
    assert status_of(admin, arn, account_id) == "VERIFICATION_FAILED"
    assert invitation_arns(srv.client(account_id)) == []
    # No invitation was sent, so there is nothing to accept (the status is not INVITED).
    expect_error("ConflictException", 409, srv.client(account_id).accept_invitation, GraphArn=arn)
    # The failed account stays listed until the administrator removes it.
    assert account_id in member_ids(admin, arn)
    assert admin.delete_members(GraphArn=arn, AccountIds=[account_id])["AccountIds"] == [account_id]
    assert account_id not in member_ids(admin, arn)


def test_email_match_is_case_insensitive(srv: Any) -> None:
    admin = srv.client("300000000024")
    arn = admin.create_graph()["GraphArn"]
    account_id, email = acct(24)
    invite(admin, arn, (account_id, email.upper()))
    assert status_of(admin, arn, account_id) == "INVITED"


def test_accept_enables_member_enrolled_in_guardduty(srv: Any) -> None:
    admin = srv.client("300000000007")
    arn = admin.create_graph()["GraphArn"]
    account_id = acct(7)[0]
    invite(admin, arn, acct(7))
    invited = member(admin, arn, account_id)
    assert invited is not None
    time.sleep(0.01)
    srv.client(account_id).accept_invitation(GraphArn=arn)
    detail = member(admin, arn, account_id)
    assert detail is not None
    assert detail["Status"] == "ENABLED"
    assert "DisabledReason" not in detail
    assert detail["UpdatedTime"] >= invited["UpdatedTime"]
    assert detail["InvitedTime"] == invited["InvitedTime"]
    inv = srv.client(account_id).list_invitations()["Invitations"]
    assert [(i["GraphArn"], i["Status"]) for i in inv] == [(arn, "ENABLED")]


def test_accept_without_guardduty_is_accepted_but_disabled(srv: Any) -> None:
    admin = srv.client("300000000008")
    arn = admin.create_graph()["GraphArn"]
    account_id = acct(50)[0]
    invite(admin, arn, acct(50))
    srv.client(account_id).accept_invitation(GraphArn=arn)
    detail = member(admin, arn, account_id)
    assert detail is not None
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")
    inv = srv.client(account_id).list_invitations()["Invitations"]
    assert [(i["Status"], i.get("DisabledReason")) for i in inv] == [("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")]

    # StartMonitoringMember is accepted, but the account still cannot be enabled.
    admin.start_monitoring_member(GraphArn=arn, AccountId=account_id)
    detail = member(admin, arn, account_id)
    assert detail is not None
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")


def test_start_monitoring_member_errors(srv: Any) -> None:
    admin = srv.client("300000000009")
    arn = admin.create_graph()["GraphArn"]
    invited, enabled = acct(9), acct(10)
    invite(admin, arn, invited, enabled)
    srv.client(enabled[0]).accept_invitation(GraphArn=arn)
    # Conflict: the member is not ACCEPTED_BUT_DISABLED.
    expect_error("ConflictException", 409, admin.start_monitoring_member, GraphArn=arn, AccountId=invited[0])
    expect_error("ConflictException", 409, admin.start_monitoring_member, GraphArn=arn, AccountId=enabled[0])
    # Not a member at all.
    expect_error("ResourceNotFoundException", 404, admin.start_monitoring_member, GraphArn=arn, AccountId="300000000198")
    # Nothing changed.
    assert status_of(admin, arn, invited[0]) == "INVITED"
    assert status_of(admin, arn, enabled[0]) == "ENABLED"


def test_accept_twice_is_a_conflict(srv: Any) -> None:
    admin = srv.client("300000000011")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, acct(11))
    member_client = srv.client(acct(11)[0])
    member_client.accept_invitation(GraphArn=arn)
    expect_error("ConflictException", 409, member_client.accept_invitation, GraphArn=arn)
    expect_error("ConflictException", 409, member_client.reject_invitation, GraphArn=arn)
    assert status_of(admin, arn, acct(11)[0]) == "ENABLED"


def test_delete_members_reports_unprocessed_accounts(srv: Any) -> None:
    admin = srv.client("300000000012")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, acct(12), acct(13))
    srv.client(acct(13)[0]).accept_invitation(GraphArn=arn)
    response = admin.delete_members(
        GraphArn=arn, AccountIds=[acct(12)[0], "300000000012", "300000000197", acct(13)[0]]
    )
    assert sorted(response["AccountIds"]) == sorted([acct(12)[0], acct(13)[0]])
    unprocessed = {u["AccountId"]: u["Reason"] for u in response["UnprocessedAccounts"]}
    assert set(unprocessed) == {"300000000012", "300000000197"}
    for reason in unprocessed.values():
        assert isinstance(reason, str) and len(reason) > 10 and " " in reason
    assert "administrator" in unprocessed["300000000012"].lower()
    assert "member" in unprocessed["300000000197"].lower()

    assert member_ids(admin, arn) == ["300000000012"]
    assert invitation_arns(srv.client(acct(12)[0])) == []
    assert invitation_arns(srv.client(acct(13)[0])) == []
    got = admin.get_members(GraphArn=arn, AccountIds=[acct(12)[0]])
    assert got["MemberDetails"] == [] and [u["AccountId"] for u in got["UnprocessedAccounts"]] == [acct(12)[0]]
    # A removed account can be invited again.
    again = invite(admin, arn, acct(12))
    assert [m["AccountId"] for m in again["Members"]] == [acct(12)[0]]
    assert status_of(admin, arn, acct(12)[0]) == "INVITED"


def test_create_members_reports_existing_and_administrator(srv: Any) -> None:
    admin = srv.client("300000000014")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, acct(14))
    response = invite(admin, arn, acct(14), ("300000000014", "admin@example.com"), acct(15))
    assert [m["AccountId"] for m in response["Members"]] == [acct(15)[0]]
    unprocessed = {u["AccountId"]: u["Reason"] for u in response["UnprocessedAccounts"]}
    assert set(unprocessed) == {acct(14)[0], "300000000014"}
    assert all(isinstance(r, str) and r for r in unprocessed.values())
    # No duplicate rows.
    ids = member_ids(admin, arn)
    assert sorted(ids) == sorted(["300000000014", acct(14)[0], acct(15)[0]])


def test_create_members_duplicate_in_one_request(srv: Any) -> None:
    admin = srv.client("300000000016")
    arn = admin.create_graph()["GraphArn"]
    response = invite(admin, arn, acct(16), acct(16))
    assert [m["AccountId"] for m in response["Members"]] == [acct(16)[0]]
    assert [u["AccountId"] for u in response["UnprocessedAccounts"]] == [acct(16)[0]]
    assert member_ids(admin, arn).count(acct(16)[0]) == 1


def test_more_than_50_accounts_is_a_validation_error(srv: Any) -> None:
    admin = srv.client("300000000017")
    arn = admin.create_graph()["GraphArn"]
    accounts = [(f"3017{n:08d}", f"x{n}@example.com") for n in range(51)]
    expect_error("ValidationException", 400, invite, admin, arn, *accounts)
    assert member_ids(admin, arn) == ["300000000017"]
    ids = [a for a, _ in accounts]
    expect_error("ValidationException", 400, admin.get_members, GraphArn=arn, AccountIds=ids)
    expect_error("ValidationException", 400, admin.delete_members, GraphArn=arn, AccountIds=ids)


def test_member_quota_is_1200(srv: Any) -> None:
    admin = srv.client("300000000018")
    arn = admin.create_graph()["GraphArn"]
    for batch in range(24):
        accounts = [(f"318{batch:03d}{n:06d}", f"q{batch}-{n}@example.com") for n in range(50)]
        response = invite(admin, arn, *accounts, DisableEmailNotification=True)
        assert len(response["Members"]) == 50, response["UnprocessedAccounts"]
    response = expect_error(
        "ServiceQuotaExceededException", 402, invite, admin, arn, ("318999000000", "over@example.com"),
        DisableEmailNotification=True,
    )
    assert response["Error"]["Message"]
    assert response.get("Resources") == [arn]
    assert len(member_ids(admin, arn)) == 1201  # 1200 members and the administrator
    # Making room allows one more.
    admin.delete_members(GraphArn=arn, AccountIds=["318000000000"])
    response = invite(admin, arn, ("318999000000", "over@example.com"), DisableEmailNotification=True)
    assert [m["AccountId"] for m in response["Members"]] == ["318999000000"]


def test_member_cannot_use_administrator_operations(srv: Any) -> None:
    admin = srv.client("300000000019")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, acct(19), acct(20))
    srv.client(acct(19)[0]).accept_invitation(GraphArn=arn)
    for account_id in (acct(19)[0], acct(20)[0], "300000000196"):
        c = srv.client(account_id)
        calls = [
            (c.list_members, {"GraphArn": arn}),
            (c.get_members, {"GraphArn": arn, "AccountIds": [acct(19)[0]]}),
            (c.create_members, {"GraphArn": arn, "Accounts": [{"AccountId": "300000000195", "EmailAddress": "a@example.com"}]}),
            (c.delete_members, {"GraphArn": arn, "AccountIds": [acct(20)[0]]}),
            (c.start_monitoring_member, {"GraphArn": arn, "AccountId": acct(19)[0]}),
            (c.delete_graph, {"GraphArn": arn}),
            (c.tag_resource, {"ResourceArn": arn, "Tags": {"x": "y"}}),
            (c.untag_resource, {"ResourceArn": arn, "TagKeys": ["x"]}),
            (c.list_tags_for_resource, {"ResourceArn": arn}),
            (c.list_datasource_packages, {"GraphArn": arn}),
            (c.update_datasource_packages, {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]}),
            (c.batch_get_graph_member_datasources, {"GraphArn": arn, "AccountIds": [acct(19)[0]]}),
        ]
        for fn, kwargs in calls:
            response = expect_error("ResourceNotFoundException", 404, fn, **kwargs)
            # The message must not tell who administers the graph or who its members are.
            message = response["Error"]["Message"]
            assert acct(20)[0] not in message and "300000000195" not in message
    assert sorted(member_ids(admin, arn)) == sorted(["300000000019", acct(19)[0], acct(20)[0]])
    assert status_of(admin, arn, acct(20)[0]) == "INVITED"


def test_get_members_unknown_accounts_are_unprocessed(srv: Any) -> None:
    admin = srv.client("300000000021")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, acct(21))
    response = admin.get_members(GraphArn=arn, AccountIds=[acct(21)[0], "300000000194"])
    assert [m["AccountId"] for m in response["MemberDetails"]] == [acct(21)[0]]
    assert [u["AccountId"] for u in response["UnprocessedAccounts"]] == ["300000000194"]
    assert response["UnprocessedAccounts"][0]["Reason"]


# --- Servers with other settings --------------------------------------------------------


def test_verification_in_progress_is_visible_with_job_delay(make_server: Any) -> None:
    server = make_server(config_toml=_accounts_toml(DIRECTORY[:3]), args=["--job-delay", "1"])
    admin = server.client("300000000022")
    arn = admin.create_graph()["GraphArn"]
    started = time.monotonic()
    requested = dt.datetime.now(dt.UTC)
    response = invite(admin, arn, acct(1), (acct(2)[0], "wrong@example.com"))
    assert {m["Status"] for m in response["Members"]} == {"VERIFICATION_IN_PROGRESS"}
    assert status_of(admin, arn, acct(1)[0]) == "VERIFICATION_IN_PROGRESS"
    assert status_of(admin, arn, acct(2)[0]) == "VERIFICATION_IN_PROGRESS"
    # Nothing was sent yet, so the member has no invitation to see or accept.
    assert invitation_arns(server.client(acct(1)[0])) == []
    expect_error("ConflictException", 409, server.client(acct(1)[0]).accept_invitation, GraphArn=arn)
    assert time.monotonic() - started < 1.0, "reads were too slow to observe the in-progress state"

    wait_for(lambda: status_of(admin, arn, acct(1)[0]) == "INVITED", timeout=10, what="INVITED")
    assert time.monotonic() - started >= 0.9
    wait_for(lambda: status_of(admin, arn, acct(2)[0]) == "VERIFICATION_FAILED", timeout=10, what="VERIFICATION_FAILED")
    assert invitation_arns(server.client(acct(1)[0])) == [arn]
    invited = member(admin, arn, acct(1)[0])
    assert invited is not None
    # Documented: while verifying, InvitedTime is the request time; then when the invitation went out.
    requested_time = response["Members"][0]["InvitedTime"]
    assert abs(requested_time - requested) < dt.timedelta(seconds=2)
    assert requested_time + dt.timedelta(seconds=0.8) <= invited["InvitedTime"] <= dt.datetime.now(dt.UTC)
    assert invited["UpdatedTime"] >= response["Members"][0]["UpdatedTime"]

    # The volume check after accepting is delayed as well.
    server.client(acct(1)[0]).accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, acct(1)[0]) == "ACCEPTED_BUT_DISABLED"
    wait_for(lambda: status_of(admin, arn, acct(1)[0]) == "ENABLED", timeout=10, what="ENABLED")
    enabled = member(admin, arn, acct(1)[0])
    assert enabled is not None and enabled["InvitedTime"] == invited["InvitedTime"]


def test_strict_accounts_fail_unknown_accounts(make_server: Any) -> None:
    server = make_server(config_toml=_accounts_toml(DIRECTORY[:3]), args=["--strict-accounts"])
    admin = server.client("300000000023")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, acct(1), ("300000000193", "unknown@example.com"))
    assert status_of(admin, arn, acct(1)[0]) == "INVITED"
    assert status_of(admin, arn, "300000000193") == "VERIFICATION_FAILED"
    assert invitation_arns(server.client("300000000193")) == []


VOLUME_DIRECTORY = [
    {"id": "300000000300", "email": "vadmin@example.com", "daily_volume": 10},
    {"id": "300000000301", "email": "v1@example.com", "daily_volume": 50},
    {"id": "300000000302", "email": "v2@example.com", "daily_volume": 150},
    {"id": "300000000303", "email": "v3@example.com", "daily_volume": 60},
    {"id": "300000000304", "email": "v4@example.com", "daily_volume": 20},
]


def test_volume_too_high(make_server: Any) -> None:
    server = make_server(config_toml=_accounts_toml(VOLUME_DIRECTORY), args=["--graph-volume-limit", "100"])
    admin = server.client("300000000300")
    arn = admin.create_graph()["GraphArn"]
    invite(
        admin, arn, ("300000000301", "v1@example.com"), ("300000000302", "v2@example.com"),
        ("300000000303", "v3@example.com"), ("300000000304", "v4@example.com"),
    )

    # 10 (administrator) + 50 fits in 100.
    server.client("300000000301").accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, "300000000301") == "ENABLED"

    # 150 alone is over the limit.
    server.client("300000000302").accept_invitation(GraphArn=arn)
    detail = member(admin, arn, "300000000302")
    assert detail is not None
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")

    # 10 + 50 + 60 > 100: the graph's total counts, not the account alone.
    server.client("300000000303").accept_invitation(GraphArn=arn)
    detail = member(admin, arn, "300000000303")
    assert detail is not None
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")

    # 10 + 50 + 20 fits.
    server.client("300000000304").accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, "300000000304") == "ENABLED"

    # StartMonitoringMember succeeds as a call, the member stays disabled for volume.
    admin.start_monitoring_member(GraphArn=arn, AccountId="300000000302")
    detail = member(admin, arn, "300000000302")
    assert detail is not None
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")

    # A disabled member cannot disassociate (it is not ENABLED) but can be removed.
    expect_error("ConflictException", 409, server.client("300000000302").disassociate_membership, GraphArn=arn)
    admin.delete_members(GraphArn=arn, AccountIds=["300000000302", "300000000304"])
    # With room made (10 + 50 + 60 = 120 still > 100), 303 stays disabled ...
    admin.start_monitoring_member(GraphArn=arn, AccountId="300000000303")
    assert status_of(admin, arn, "300000000303") == "ACCEPTED_BUT_DISABLED"
    # ... until 301 leaves: 10 + 60 fits.
    server.client("300000000301").disassociate_membership(GraphArn=arn)
    admin.start_monitoring_member(GraphArn=arn, AccountId="300000000303")
    detail = member(admin, arn, "300000000303")
    assert detail is not None
    assert detail["Status"] == "ENABLED" and "DisabledReason" not in detail


def test_monitoring_pass_enables_volume_too_high_members_in_invitation_order(make_server: Any) -> None:
    directory = [
        {"id": "300000000400", "email": "w0@example.com", "daily_volume": 0},
        {"id": "300000000401", "email": "w1@example.com", "daily_volume": 60},
        {"id": "300000000402", "email": "w2@example.com", "daily_volume": 50},
        {"id": "300000000403", "email": "w3@example.com", "daily_volume": 55},
    ]
    server = make_server(
        config_toml=_accounts_toml(directory), args=["--graph-volume-limit", "100"],
        env={"GUMSHOE_MONITORING_INTERVAL": "0.2"},
    )
    admin = server.client("300000000400")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, ("300000000401", "w1@example.com"))
    invite(admin, arn, ("300000000402", "w2@example.com"))  # invited before 403 ...
    invite(admin, arn, ("300000000403", "w3@example.com"))
    server.client("300000000401").accept_invitation(GraphArn=arn)
    server.client("300000000403").accept_invitation(GraphArn=arn)  # ... but accepts after it
    server.client("300000000402").accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, "300000000401") == "ENABLED"
    for account_id in ("300000000402", "300000000403"):
        detail = member(admin, arn, account_id)
        assert detail is not None and detail.get("DisabledReason") == "VOLUME_TOO_HIGH"
    # Several passes run while the graph is full: nothing changes.
    wait_for_more(server, "monitoringPasses", 2)
    assert status_of(admin, arn, "300000000402") == "ACCEPTED_BUT_DISABLED"
    assert status_of(admin, arn, "300000000403") == "ACCEPTED_BUT_DISABLED"

    # Room for one of them: the earlier invitation (50) goes first; then 50 + 55 > 100.
    server.client("300000000401").disassociate_membership(GraphArn=arn)
    wait_for(lambda: status_of(admin, arn, "300000000402") == "ENABLED", timeout=10, what="monitoring pass")
    wait_for_more(server, "monitoringPasses", 2)
    detail = member(admin, arn, "300000000403")
    assert detail is not None
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")

