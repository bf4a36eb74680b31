"""The Organizations integration: the management account designates the Detective
administrator account, whose graph becomes the organization behavior graph."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    VENV_BIN,
    expect_error,
    invitation_arns,
    invite,
    member,
    member_ids,
    module_server,
    status_of,
    wait_for,
)

MGMT = "500000000001"
ADMIN = "500000000002"
ADMIN2 = "500000000003"
ORG1 = "500000000004"
ORG2 = "500000000005"
ORG3 = "500000000006"
LATE = "500000000007"  # joins the organization later
OUTSIDER = "500000000099"


def org_config(accounts: list[str]) -> str:
    listed = ", ".join(f'"{a}"' for a in accounts)
    return f"""
[[accounts]]
id = "{OUTSIDER}"
email = "outsider@example.com"

[[accounts]]
id = "{ORG1}"
email = "org1@example.com"

[[accounts]]
id = "{LATE}"
email = "late@example.com"

[organization]
management_account = "{MGMT}"
accounts = [{listed}]
"""


BASE_ACCOUNTS = [ADMIN, ADMIN2, ORG1, ORG2, ORG3]


@pytest.fixture
def org(make_server: Any) -> Any:
    """A server of its own, for tests that rewrite the config or designate another account."""
    return make_server(config_toml=org_config(BASE_ACCOUNTS))


class InRegion:
    """A shared server seen from one Region: each test gets a Region of its own, so tests that
    all designate ADMIN (allowed: the same account in every Region) do not see each other."""

    def __init__(self, server: Any, region: str) -> None:
        self.server = server
        self.region = region

    def client(self, account: str, region: str | None = None, **kw: Any) -> Any:
        return self.server.client(account, region or self.region, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


REGIONS = iter([
    "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-south-1", "sa-east-1", "ca-central-1",
])


@pytest.fixture(scope="module")
def shared_org(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, org_config(BASE_ACCOUNTS), name="org") as server:
        yield server


@pytest.fixture
def org_r(shared_org: Any) -> InRegion:
    return InRegion(shared_org, next(REGIONS))


def _designate(server: Any, account: str = ADMIN, region: str | None = None) -> str:
    mgmt = server.client(MGMT, region) if region else server.client(MGMT)
    mgmt.enable_organization_admin_account(AccountId=account)
    admins = mgmt.list_organization_admin_accounts()["Administrators"]
    assert [a["AccountId"] for a in admins] == [account]
    return str(admins[0]["GraphArn"])


def _outbox(server: Any, mentioning: str | None = None) -> list[Path]:
    found = sorted((server.data_dir / "outbox").glob("*.eml"))
    if mentioning is not None:
        found = [p for p in found if mentioning in p.read_text(errors="replace")]
    return found


def test_only_the_management_account_manages_the_administrator(org_r: Any) -> None:
    for account in (ADMIN, ORG1, OUTSIDER):
        c = org_r.client(account)
        expect_error("AccessDeniedException", 403, c.enable_organization_admin_account, AccountId=ADMIN)
        expect_error("AccessDeniedException", 403, c.list_organization_admin_accounts)
        expect_error("AccessDeniedException", 403, c.disable_organization_admin_account)
    mgmt = org_r.client(MGMT)
    assert mgmt.list_organization_admin_accounts()["Administrators"] == []
    # Nothing was designated by the refused calls.
    assert org_r.client(ADMIN).list_graphs()["GraphList"] == []
    _designate(org_r)
    # The designated administrator still cannot manage the designation.
    admin = org_r.client(ADMIN)
    expect_error("AccessDeniedException", 403, admin.list_organization_admin_accounts)
    expect_error("AccessDeniedException", 403, admin.disable_organization_admin_account)
    expect_error("AccessDeniedException", 403, admin.enable_organization_admin_account, AccountId=ADMIN2)
    assert len(mgmt.list_organization_admin_accounts()["Administrators"]) == 1


def test_enable_creates_the_graph_when_missing(org_r: Any) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    mgmt = org_r.client(MGMT)
    mgmt.enable_organization_admin_account(AccountId=ADMIN)
    admins = mgmt.list_organization_admin_accounts()["Administrators"]
    assert len(admins) == 1
    entry = admins[0]
    assert entry["AccountId"] == ADMIN
    assert before <= entry["DelegationTime"] <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    admin = org_r.client(ADMIN)
    assert [g["Arn"] for g in admin.list_graphs()["GraphList"]] == [entry["GraphArn"]]
    assert entry["GraphArn"].split(":")[4] == ADMIN
    assert admin.describe_organization_configuration(GraphArn=entry["GraphArn"])["AutoEnable"] is False
    # CreateGraph by the administrator answers the same graph.
    assert admin.create_graph()["GraphArn"] == entry["GraphArn"]
    # Designating the same account again changes nothing.
    mgmt.enable_organization_admin_account(AccountId=ADMIN)
    assert mgmt.list_organization_admin_accounts()["Administrators"] == admins


def test_enable_turns_an_existing_graph_into_the_organization_graph(org_r: Any) -> None:
    admin = org_r.client(ADMIN)
    arn = admin.create_graph(Tags={"keep": "me"})["GraphArn"]
    invite(admin, arn, (OUTSIDER, "outsider@example.com"))
    expect_error("AccessDeniedException", 403, admin.describe_organization_configuration, GraphArn=arn)

    assert _designate(org_r) == arn
    assert [g["Arn"] for g in admin.list_graphs()["GraphList"]] == [arn]
    assert admin.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is False
    # Members, tags and invitation types carry over.
    detail = member(admin, arn, OUTSIDER)
    assert detail is not None and (detail["Status"], detail["InvitationType"]) == ("INVITED", "INVITATION")
    assert admin.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"keep": "me"}
    # Organization accounts are not members until enabled.
    assert ORG1 not in member_ids(admin, arn)


def test_enable_organization_account_without_email(make_server: Any) -> None:
    # A job delay makes the intermediate states observable.
    server = make_server(config_toml=org_config(BASE_ACCOUNTS), args=["--job-delay", "0.5"])
    arn = _designate(server)
    admin = server.client(ADMIN, parameter_validation=False)
    response = admin.create_members(GraphArn=arn, Accounts=[{"AccountId": ORG2}, {"AccountId": ORG3}])
    assert response["UnprocessedAccounts"] == []
    assert sorted(m["AccountId"] for m in response["Members"]) == [ORG2, ORG3]
    for detail in response["Members"]:
        assert detail["InvitationType"] == "ORGANIZATION"
        assert detail["Status"] == "VERIFICATION_IN_PROGRESS"
        assert detail["AdministratorId"] == ADMIN
        assert "InvitedTime" not in detail  # organization accounts are not invited

    seen: set[str] = set()

    def enabled() -> bool:
        details = admin.get_members(GraphArn=arn, AccountIds=[ORG2, ORG3])["MemberDetails"]
        seen.update(d["Status"] for d in details)
        return len(details) == 2 and all(d["Status"] == "ENABLED" for d in details)

    wait_for(enabled, timeout=10, what="organization accounts ENABLED")
    assert "INVITED" not in seen
    assert seen <= {"VERIFICATION_IN_PROGRESS", "ACCEPTED_BUT_DISABLED", "ENABLED"}
    for detail in admin.get_members(GraphArn=arn, AccountIds=[ORG2, ORG3])["MemberDetails"]:
        assert detail["InvitationType"] == "ORGANIZATION"
        assert "InvitedTime" not in detail
    assert _outbox(server) == []
    # Documented choice: the member sees its organization membership in ListInvitations.
    memberships = server.client(ORG2).list_invitations()["Invitations"]
    assert [(i["GraphArn"], i["Status"], i["InvitationType"]) for i in memberships] == [(arn, "ENABLED", "ORGANIZATION")]
    # Already enabled: nothing to accept.
    expect_error("ConflictException", 409, server.client(ORG2).accept_invitation, GraphArn=arn)
    # An organization account cannot leave the organization graph by itself ...
    expect_error("ConflictException", 409, server.client(ORG2).disassociate_membership, GraphArn=arn)
    assert status_of(admin, arn, ORG2) == "ENABLED"
    # ... the administrator removes it, and can enable it again.
    assert admin.delete_members(GraphArn=arn, AccountIds=[ORG2])["AccountIds"] == [ORG2]
    assert ORG2 not in member_ids(admin, arn)
    admin.create_members(GraphArn=arn, Accounts=[{"AccountId": ORG2}])
    wait_for(lambda: status_of(admin, arn, ORG2) == "ENABLED", timeout=10, what="ORG2 enabled again")


def test_organization_account_with_email_is_enabled_without_email_notification(org_r: Any) -> None:
    arn = _designate(org_r)
    admin = org_r.client(ADMIN)
    response = invite(admin, arn, (ORG1, "org1@example.com"))
    assert response["Members"][0]["InvitationType"] == "ORGANIZATION"
    assert status_of(admin, arn, ORG1) == "ENABLED"
    assert _outbox(org_r, mentioning=arn) == []


def test_accounts_outside_the_organization_need_an_email(org_r: Any) -> None:
    arn = _designate(org_r)
    raw = org_r.client(ADMIN, parameter_validation=False)
    response = expect_error("ValidationException", 400, raw.create_members, GraphArn=arn, Accounts=[{"AccountId": OUTSIDER}])
    assert "emailAddress" in response["Error"]["Message"]
    # All or nothing: an organization account in the same request is not enabled either.
    expect_error(
        "ValidationException", 400, raw.create_members, GraphArn=arn,
        Accounts=[{"AccountId": ORG2}, {"AccountId": OUTSIDER}],
    )
    assert member_ids(org_r.client(ADMIN), arn) == [ADMIN]
    # With an email the outsider is invited the usual way.
    invite(org_r.client(ADMIN), arn, (OUTSIDER, "outsider@example.com"))
    detail = member(org_r.client(ADMIN), arn, OUTSIDER)
    assert detail is not None and (detail["Status"], detail["InvitationType"]) == ("INVITED", "INVITATION")
    assert arn in invitation_arns(org_r.client(OUTSIDER))


def test_organization_accounts_need_an_email_outside_the_organization_graph(org_r: Any) -> None:
    _designate(org_r)
    other = org_r.client(ADMIN2, parameter_validation=False)
    arn = other.create_graph()["GraphArn"]
    expect_error("ValidationException", 400, other.create_members, GraphArn=arn, Accounts=[{"AccountId": ORG1}])
    invite(other, arn, (ORG1, "org1@example.com"))
    detail = member(other, arn, ORG1)
    assert detail is not None and (detail["Status"], detail["InvitationType"]) == ("INVITED", "INVITATION")


def test_organization_configuration_only_by_the_administrator(org_r: Any) -> None:
    arn = _designate(org_r)
    admin = org_r.client(ADMIN)
    admin.update_organization_configuration(GraphArn=arn, AutoEnable=True)
    assert admin.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is True
    admin.update_organization_configuration(GraphArn=arn, AutoEnable=False)
    assert admin.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is False

    other_arn = org_r.client(ADMIN2).create_graph()["GraphArn"]
    for account in (MGMT, ADMIN2, ORG1, OUTSIDER):
        c = org_r.client(account)
        expect_error("AccessDeniedException", 403, c.describe_organization_configuration, GraphArn=arn)
        expect_error("AccessDeniedException", 403, c.update_organization_configuration, GraphArn=arn, AutoEnable=True)
    # A graph that is not the organization graph has no organization configuration.
    c = org_r.client(ADMIN2)
    expect_error("AccessDeniedException", 403, c.describe_organization_configuration, GraphArn=other_arn)
    expect_error("AccessDeniedException", 403, c.update_organization_configuration, GraphArn=other_arn, AutoEnable=True)
    assert admin.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is False


def _add_to_organization(server: Any, account: str) -> None:
    assert server.config is not None
    server.config.write_text(org_config(BASE_ACCOUNTS + [account]))


def _cli_reload(server: Any) -> dict[str, Any]:
    result = subprocess.run(
        [str(VENV_BIN / "gumshoe"), "reload", "--endpoint-url", server.url],
        capture_output=True, text=True, timeout=30, env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_auto_enable_on_sighup(org: Any) -> None:
    arn = _designate(org)
    admin = org.client(ADMIN)
    admin.update_organization_configuration(GraphArn=arn, AutoEnable=True)
    assert LATE not in member_ids(admin, arn)
    _add_to_organization(org, LATE)
    os.kill(org.proc.pid, signal.SIGHUP)
    wait_for(lambda: status_of(admin, arn, LATE) == "ENABLED", timeout=10, what="late account auto-enabled")
    detail = member(admin, arn, LATE)
    assert detail is not None and detail["InvitationType"] == "ORGANIZATION"
    assert _outbox(org) == []
    # The new account is also an organization account now: it can be designated.
    assert org.client(LATE).list_graphs()["GraphList"] == []


def test_auto_enable_on_cli_reload(org: Any) -> None:
    arn = _designate(org)
    admin = org.client(ADMIN)
    admin.update_organization_configuration(GraphArn=arn, AutoEnable=True)
    _add_to_organization(org, LATE)
    body = _cli_reload(org)
    assert body.get("autoEnabled") == 1
    wait_for(lambda: status_of(admin, arn, LATE) == "ENABLED", timeout=10, what="late account auto-enabled")
    assert member(admin, arn, LATE)["InvitationType"] == "ORGANIZATION"  # type: ignore[index]
    # A second reload with no new account enables nothing more.
    assert _cli_reload(org).get("autoEnabled") == 0
    assert sorted(member_ids(admin, arn)) == sorted([ADMIN, LATE])


def test_no_auto_enable_when_off(org: Any) -> None:
    arn = _designate(org)
    admin = org.client(ADMIN)
    assert admin.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is False
    _add_to_organization(org, LATE)
    body = _cli_reload(org)
    assert body.get("autoEnabled") == 0
    assert body.get("organizationAccounts") == len(BASE_ACCOUNTS) + 2  # + management + LATE
    assert LATE not in member_ids(admin, arn)
    # The account did join the organization: it can be enabled by hand without an email.
    raw = org.client(ADMIN, parameter_validation=False)
    response = raw.create_members(GraphArn=arn, Accounts=[{"AccountId": LATE}])
    assert response["Members"][0]["InvitationType"] == "ORGANIZATION"
    assert status_of(admin, arn, LATE) == "ENABLED"
    # Turning AutoEnable on later does not retro-enable anything on a reload without changes.
    admin.delete_members(GraphArn=arn, AccountIds=[LATE])
    admin.update_organization_configuration(GraphArn=arn, AutoEnable=True)
    assert _cli_reload(org).get("autoEnabled") == 0
    assert LATE not in member_ids(admin, arn)


def test_disable_deletes_the_organization_graph(org: Any) -> None:
    arn = _designate(org)
    admin = org.client(ADMIN)
    raw = org.client(ADMIN, parameter_validation=False)
    raw.create_members(GraphArn=arn, Accounts=[{"AccountId": ORG1}])
    invite(admin, arn, (OUTSIDER, "outsider@example.com"))
    assert arn in invitation_arns(org.client(OUTSIDER))

    mgmt = org.client(MGMT)
    mgmt.disable_organization_admin_account()
    assert mgmt.list_organization_admin_accounts()["Administrators"] == []
    assert admin.list_graphs()["GraphList"] == []
    expect_error("ResourceNotFoundException", 404, admin.list_members, GraphArn=arn)
    assert arn not in invitation_arns(org.client(OUTSIDER))
    assert arn not in invitation_arns(org.client(ORG1))
    expect_error("AccessDeniedException", 403, admin.describe_organization_configuration, GraphArn=arn)
    # Nothing left to disable.
    expect_error("ValidationException", 400, mgmt.disable_organization_admin_account)

    # A different administrator may be designated now; it gets a new graph.
    new_arn = _designate(org, ADMIN2)
    assert new_arn != arn
    assert [g["Arn"] for g in org.client(ADMIN2).list_graphs()["GraphList"]] == [new_arn]


def test_administrator_must_be_the_same_in_every_region(org: Any) -> None:
    us_arn = _designate(org, ADMIN, "us-east-1")
    mgmt_eu = org.client(MGMT, "eu-west-1")
    expect_error("ValidationException", 400, mgmt_eu.enable_organization_admin_account, AccountId=ADMIN2)
    assert mgmt_eu.list_organization_admin_accounts()["Administrators"] == []
    assert org.client(ADMIN2, "eu-west-1").list_graphs()["GraphList"] == []
    # In us-east-1 too, another account cannot replace the administrator.
    expect_error("ValidationException", 400, org.client(MGMT).enable_organization_admin_account, AccountId=ADMIN2)

    eu_arn = _designate(org, ADMIN, "eu-west-1")
    assert eu_arn != us_arn and eu_arn.split(":")[3] == "eu-west-1"
    # Each Region lists its own designation.
    us = org.client(MGMT).list_organization_admin_accounts()["Administrators"]
    assert [(a["AccountId"], a["GraphArn"]) for a in us] == [(ADMIN, us_arn)]

    # Removing it in one Region only is not enough to change it.
    org.client(MGMT, "eu-west-1").disable_organization_admin_account()
    expect_error("ValidationException", 400, mgmt_eu.enable_organization_admin_account, AccountId=ADMIN2)
    org.client(MGMT).disable_organization_admin_account()
    _designate(org, ADMIN2, "eu-west-1")


def test_only_organization_accounts_can_be_designated(org_r: Any) -> None:
    mgmt = org_r.client(MGMT)
    expect_error("ValidationException", 400, mgmt.enable_organization_admin_account, AccountId=OUTSIDER)
    assert mgmt.list_organization_admin_accounts()["Administrators"] == []
    assert org_r.client(OUTSIDER).list_graphs()["GraphList"] == []


def test_no_organization_configured(server: Any) -> None:
    c = server.client("500000000050")
    expect_error("AccessDeniedException", 403, c.enable_organization_admin_account, AccountId="500000000051")
    expect_error("AccessDeniedException", 403, c.list_organization_admin_accounts)
