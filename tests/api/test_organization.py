"""The Organizations integration: the Detective administrator account of the organization,
the organization configuration, organization accounts in CreateMembers, and auto-enable."""

from __future__ import annotations

import pytest
from api_harness import ADMIN, OTHER_REGION, REGION, Env, account, org

from gumshoe.api import graphs, invitations, members, organization
from gumshoe.api.organization import sync_organization
from gumshoe.errors import AccessDeniedException, ValidationException

MANAGEMENT = "100000000000"
DELEGATE = "200000000000"
OTHER_DELEGATE = "200000000001"
ORG_A = "300000000001"
ORG_B = "300000000002"
NEWCOMER = "300000000009"
OUTSIDER = "400000000000"

ORG = org(MANAGEMENT, DELEGATE, OTHER_DELEGATE, ORG_A, ORG_B)


@pytest.fixture
def env(make_env) -> Env:
    return make_env(organization=ORG)


def designate(env, account_id=DELEGATE, region=REGION):
    env.call(organization.enable_organization_admin_account, MANAGEMENT, {"AccountId": account_id}, region=region)


def admins(env, region=REGION):
    return env.call(organization.list_organization_admin_accounts, MANAGEMENT, {}, region=region)["Administrators"]


def org_graph(env, region=REGION):
    designate(env, region=region)
    return env.graph(DELEGATE, region=region)


def enable_org_accounts(env, arn, *accounts):
    return env.call(members.create_members, DELEGATE, {"GraphArn": arn, "Accounts": [{"AccountId": a} for a in accounts]})


# --- Enable/Disable/ListOrganizationAdminAccounts ----------------------------------------------


@pytest.mark.parametrize("caller", [DELEGATE, ORG_A, OUTSIDER])
def test_only_the_management_account_manages_the_administrator(env, caller):
    with pytest.raises(AccessDeniedException):
        env.call(organization.enable_organization_admin_account, caller, {"AccountId": DELEGATE})
    with pytest.raises(AccessDeniedException):
        env.call(organization.list_organization_admin_accounts, caller, {})
    designate(env)
    with pytest.raises(AccessDeniedException):
        env.call(organization.disable_organization_admin_account, caller, {})
    assert [a["AccountId"] for a in admins(env)] == [DELEGATE]


def test_without_an_organization_nobody_is_the_management_account(make_env):
    env = make_env()
    with pytest.raises(AccessDeniedException):
        env.call(organization.enable_organization_admin_account, MANAGEMENT, {"AccountId": DELEGATE})


def test_the_administrator_must_be_an_organization_account(env):
    with pytest.raises(ValidationException):
        designate(env, OUTSIDER)
    assert admins(env) == []


def test_designation_creates_the_organization_graph(env):
    designate(env)
    [admin] = admins(env)
    graph_list = env.call(graphs.list_graphs, DELEGATE)["GraphList"]
    assert [g["Arn"] for g in graph_list] == [admin["GraphArn"]]
    assert admin["AccountId"] == DELEGATE
    assert admin["DelegationTime"] > 0
    assert env.graph(DELEGATE) == admin["GraphArn"]  # CreateGraph answers the same graph
    assert env.call(organization.describe_organization_configuration, DELEGATE,
                    {"GraphArn": admin["GraphArn"]}) == {"AutoEnable": False}


def test_designation_keeps_an_existing_graph_and_its_invited_members(env):
    arn = env.graph(DELEGATE)
    env.invite(arn, DELEGATE, OUTSIDER, ORG_A)
    designate(env)
    assert admins(env)[0]["GraphArn"] == arn
    for account_id in (OUTSIDER, ORG_A):
        detail = env.member(arn, DELEGATE, account_id)
        assert (detail["Status"], detail["InvitationType"]) == ("INVITED", "INVITATION")
    # Organization accounts that were not invited are not members until enabled.
    assert env.member(arn, DELEGATE, ORG_B) is None


def test_designation_is_the_same_account_in_every_region(env):
    designate(env)
    designate(env)  # again: nothing changes
    assert len(admins(env)) == 1
    with pytest.raises(ValidationException):
        designate(env, OTHER_DELEGATE)
    with pytest.raises(ValidationException):
        designate(env, OTHER_DELEGATE, region=OTHER_REGION)
    designate(env, DELEGATE, region=OTHER_REGION)
    [there] = admins(env, region=OTHER_REGION)
    assert there["AccountId"] == DELEGATE and ":eu-west-1:" in there["GraphArn"]
    assert [a["AccountId"] for a in admins(env)] == [DELEGATE]


def test_disable_removes_the_administrator_and_deletes_its_graph(env):
    arn = org_graph(env)
    enable_org_accounts(env, arn, ORG_A)
    env.call(organization.disable_organization_admin_account, MANAGEMENT, {})
    assert admins(env) == []
    assert env.call(graphs.list_graphs, DELEGATE)["GraphList"] == []
    assert env.deleted_graphs == [arn]
    assert env.call(invitations.list_invitations, ORG_A)["Invitations"] == []
    with pytest.raises(ValidationException):
        env.call(organization.disable_organization_admin_account, MANAGEMENT, {})
    # Removed in this Region only; then another account can be designated here.
    designate(env, OTHER_DELEGATE)
    assert [a["AccountId"] for a in admins(env)] == [OTHER_DELEGATE]


def test_a_new_administrator_only_after_removal_in_every_region(env):
    designate(env)
    designate(env, region=OTHER_REGION)
    env.call(organization.disable_organization_admin_account, MANAGEMENT, {})
    with pytest.raises(ValidationException):
        designate(env, OTHER_DELEGATE)
    env.call(organization.disable_organization_admin_account, MANAGEMENT, {}, region=OTHER_REGION)
    designate(env, OTHER_DELEGATE)


# --- Describe/UpdateOrganizationConfiguration --------------------------------------------------


def test_update_and_describe_the_organization_configuration(env):
    arn = org_graph(env)
    env.call(organization.update_organization_configuration, DELEGATE, {"GraphArn": arn, "AutoEnable": True})
    assert env.call(organization.describe_organization_configuration, DELEGATE, {"GraphArn": arn}) == {"AutoEnable": True}
    env.call(organization.update_organization_configuration, DELEGATE, {"GraphArn": arn, "AutoEnable": False})
    assert env.call(organization.describe_organization_configuration, DELEGATE, {"GraphArn": arn}) == {"AutoEnable": False}


@pytest.mark.parametrize("who", ["management", "member", "plain-graph-admin", "other-region"])
def test_only_the_delegated_administrator_manages_the_configuration(env, who):
    arn = org_graph(env)
    plain = env.graph(ADMIN)
    caller, region, target = {
        "management": (MANAGEMENT, REGION, arn),
        "member": (ORG_A, REGION, arn),
        "plain-graph-admin": (ADMIN, REGION, plain),
        "other-region": (DELEGATE, OTHER_REGION, arn),
    }[who]
    with pytest.raises(AccessDeniedException):
        env.call(organization.describe_organization_configuration, caller, {"GraphArn": target}, region=region)
    with pytest.raises(AccessDeniedException):
        env.call(organization.update_organization_configuration, caller, {"GraphArn": target, "AutoEnable": True},
                 region=region)
    assert env.call(organization.describe_organization_configuration, DELEGATE, {"GraphArn": arn}) == {"AutoEnable": False}


# --- Organization accounts in CreateMembers -----------------------------------------------------


def test_organization_accounts_are_enabled_without_invitation(env):
    arn = org_graph(env)
    out = enable_org_accounts(env, arn, ORG_A)
    [m] = out["Members"]
    assert m["InvitationType"] == "ORGANIZATION"
    assert m.get("InvitedTime") is None
    detail = env.member(arn, DELEGATE, ORG_A)
    assert (detail["Status"], detail["InvitationType"]) == ("ENABLED", "ORGANIZATION")
    assert detail.get("InvitedTime") is None
    assert env.mailer.sent == []
    # With an email address given, still no invitation.
    env.invite(arn, DELEGATE, ORG_B)
    assert env.member(arn, DELEGATE, ORG_B)["InvitationType"] == "ORGANIZATION"
    assert env.status(arn, DELEGATE, ORG_B) == ("ENABLED", None)
    assert env.mailer.sent == []


def test_other_accounts_of_the_organization_graph_are_invited(env):
    arn = org_graph(env)
    with pytest.raises(ValidationException):
        enable_org_accounts(env, arn, OUTSIDER)
    env.invite(arn, DELEGATE, OUTSIDER)
    detail = env.member(arn, DELEGATE, OUTSIDER)
    assert (detail["Status"], detail["InvitationType"]) == ("INVITED", "INVITATION")
    assert [s["member_account_id"] for s in env.mailer.sent] == [OUTSIDER]


def test_organization_accounts_in_a_plain_graph_are_invited(env):
    arn = env.graph(ADMIN)
    with pytest.raises(ValidationException):
        env.call(members.create_members, ADMIN, {"GraphArn": arn, "Accounts": [{"AccountId": ORG_A}]})
    env.invite(arn, ADMIN, ORG_A)
    assert env.member(arn, ADMIN, ORG_A)["InvitationType"] == "INVITATION"
    assert env.status(arn, ADMIN, ORG_A) == ("INVITED", None)


def test_organization_accounts_get_volume_verdicts_too(make_env):
    env = make_env(
        organization=ORG,
        accounts=(account(ORG_A, daily_volume=80), account(ORG_B, guardduty=False)),
        graph_volume_limit=50,
    )
    arn = org_graph(env)
    enable_org_accounts(env, arn, ORG_A, ORG_B)
    assert env.status(arn, DELEGATE, ORG_A) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    assert env.status(arn, DELEGATE, ORG_B) == ("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")


def test_organization_accounts_are_removed_by_the_administrator(env):
    arn = org_graph(env)
    enable_org_accounts(env, arn, ORG_A)
    out = env.call(members.delete_members, DELEGATE, {"GraphArn": arn, "AccountIds": [ORG_A]})
    assert out["AccountIds"] == [ORG_A]
    assert env.member(arn, DELEGATE, ORG_A) is None


# --- Auto-enable: sync_organization ----------------------------------------------------------------


def test_auto_enable_adds_accounts_that_join_the_organization(env):
    arn = org_graph(env)
    env.call(organization.update_organization_configuration, DELEGATE, {"GraphArn": arn, "AutoEnable": True})
    assert sync_organization(env.services) == 0  # the first look only records the organization
    assert env.member(arn, DELEGATE, ORG_A) is None  # existing accounts are not auto-enabled
    env.set_directory(organization=org(MANAGEMENT, DELEGATE, OTHER_DELEGATE, ORG_A, ORG_B, NEWCOMER))
    assert sync_organization(env.services) == 1
    env.run_jobs()
    detail = env.member(arn, DELEGATE, NEWCOMER)
    assert (detail["Status"], detail["InvitationType"]) == ("ENABLED", "ORGANIZATION")
    assert env.mailer.sent == []
    # Seen once, enabled once.
    assert sync_organization(env.services) == 0
    assert len([m for m in env.call(members.list_members, DELEGATE, {"GraphArn": arn})["MemberDetails"]
                if m["AccountId"] == NEWCOMER]) == 1


def test_no_auto_enable_when_it_is_off(env):
    arn = org_graph(env)
    sync_organization(env.services)
    env.set_directory(organization=org(MANAGEMENT, DELEGATE, OTHER_DELEGATE, ORG_A, ORG_B, NEWCOMER))
    assert sync_organization(env.services) == 0
    env.run_jobs()
    assert env.member(arn, DELEGATE, NEWCOMER) is None


def test_auto_enable_skips_accounts_that_are_already_members(env):
    arn = org_graph(env)
    env.call(organization.update_organization_configuration, DELEGATE, {"GraphArn": arn, "AutoEnable": True})
    sync_organization(env.services)
    env.invite(arn, DELEGATE, NEWCOMER)  # invited while outside the organization
    env.set_directory(organization=org(MANAGEMENT, DELEGATE, OTHER_DELEGATE, ORG_A, ORG_B, NEWCOMER))
    assert sync_organization(env.services) == 0
    detail = env.member(arn, DELEGATE, NEWCOMER)
    assert (detail["Status"], detail["InvitationType"]) == ("INVITED", "INVITATION")


def test_auto_enable_finds_accounts_that_joined_while_the_server_was_down(tmp_path):
    first = Env(tmp_path, organization=ORG)
    try:
        arn = org_graph(first)
        first.call(organization.update_organization_configuration, DELEGATE, {"GraphArn": arn, "AutoEnable": True})
        assert sync_organization(first.services) == 0
    finally:
        first.close()
    second = Env(tmp_path, organization=org(MANAGEMENT, DELEGATE, OTHER_DELEGATE, ORG_A, ORG_B, NEWCOMER))
    try:
        assert sync_organization(second.services) == 1
        second.run_jobs()
        assert second.status(arn, DELEGATE, NEWCOMER) == ("ENABLED", None)
        assert second.member(arn, DELEGATE, ORG_A) is None
    finally:
        second.close()
