"""State survives restarts: graceful (SIGTERM) and killed (-9)."""

from __future__ import annotations

from typing import Any

from e2e_helpers import expect_error, invitation_arns, invite, member_ids, status_of, wait_for

MGMT = "850000000001"
ORG_ADMIN = "850000000002"
ORG_MEMBER = "850000000003"
ADMIN = "850000000010"
M_ENABLED = "850000000011"
M_INVITED = "850000000012"
M_DISABLED = "850000000013"
M_FAILED = "850000000014"
M_SLOW = "850000000015"

CONFIG = f"""
[[accounts]]
id = "{M_DISABLED}"
email = "disabled@example.com"
guardduty = false

[[accounts]]
id = "{M_FAILED}"
email = "failed@example.com"

[organization]
management_account = "{MGMT}"
accounts = ["{ORG_ADMIN}", "{ORG_MEMBER}"]
"""


def test_state_survives_restart(make_server: Any) -> None:
    server = make_server(config_toml=CONFIG)
    admin = server.client(ADMIN)
    arn = admin.create_graph(Tags={"env": "prod"})["GraphArn"]
    invite(admin, arn, (M_ENABLED, "e@example.com"), (M_INVITED, "i@example.com"),
           (M_DISABLED, "disabled@example.com"), (M_FAILED, "wrong@example.com"))
    server.client(M_ENABLED).accept_invitation(GraphArn=arn)
    server.client(M_DISABLED).accept_invitation(GraphArn=arn)
    admin.update_datasource_packages(GraphArn=arn, DatasourcePackages=["ASFF_SECURITYHUB_FINDING"])
    eu_arn = server.client(ADMIN, "eu-west-1").create_graph()["GraphArn"]

    mgmt = server.client(MGMT)
    mgmt.enable_organization_admin_account(AccountId=ORG_ADMIN)
    org_arn = mgmt.list_organization_admin_accounts()["Administrators"][0]["GraphArn"]
    server.client(ORG_ADMIN).update_organization_configuration(GraphArn=org_arn, AutoEnable=True)
    server.client(ORG_ADMIN, parameter_validation=False).create_members(
        GraphArn=org_arn, Accounts=[{"AccountId": ORG_MEMBER}]
    )

    def snapshot() -> dict[str, Any]:
        members = admin.list_members(GraphArn=arn)["MemberDetails"]
        return {
            "graphs": admin.list_graphs()["GraphList"],
            "members": members,
            "tags": admin.list_tags_for_resource(ResourceArn=arn)["Tags"],
            "packages": admin.list_datasource_packages(GraphArn=arn)["DatasourcePackages"],
            "invitations": server.client(M_INVITED).list_invitations()["Invitations"],
            "org": mgmt.list_organization_admin_accounts()["Administrators"],
            "org_config": server.client(ORG_ADMIN).describe_organization_configuration(GraphArn=org_arn)["AutoEnable"],
            "org_members": server.client(ORG_ADMIN).list_members(GraphArn=org_arn)["MemberDetails"],
            "eu": server.client(ADMIN, "eu-west-1").list_graphs()["GraphList"],
        }

    before = snapshot()
    statuses = {m["AccountId"]: m["Status"] for m in before["members"]}
    assert statuses == {
        ADMIN: "ENABLED", M_ENABLED: "ENABLED", M_INVITED: "INVITED",
        M_DISABLED: "ACCEPTED_BUT_DISABLED", M_FAILED: "VERIFICATION_FAILED",
    }
    token = admin.list_members(GraphArn=arn, MaxResults=2)["NextToken"]

    server.restart()

    after = snapshot()
    for key in before:
        assert after[key] == before[key], key
    assert [g["Arn"] for g in after["graphs"]] == [arn]
    assert [g["Arn"] for g in after["eu"]] == [eu_arn]
    # Graph ARNs stay idempotent across restarts.
    assert admin.create_graph()["GraphArn"] == arn
    # Tokens issued before the restart still work.
    page = admin.list_members(GraphArn=arn, MaxResults=2, NextToken=token)
    assert [m["AccountId"] for m in page["MemberDetails"]] == [m["AccountId"] for m in before["members"]][2:4]
    # And the state machine goes on.
    server.client(M_INVITED).accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, M_INVITED) == "ENABLED"


def test_committed_state_and_pending_jobs_survive_a_kill(make_server: Any) -> None:
    server = make_server(config_toml=CONFIG, args=["--job-delay", "1"])
    admin = server.client(ADMIN)
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, (M_SLOW, "slow@example.com"))
    assert status_of(admin, arn, M_SLOW) == "VERIFICATION_IN_PROGRESS"
    server.kill()
    server.start()
    # The verification job was stored with the member: it still runs after the crash.
    assert M_SLOW in member_ids(admin, arn)
    wait_for(lambda: status_of(admin, arn, M_SLOW) == "INVITED", timeout=10, what="verification after restart")
    assert invitation_arns(server.client(M_SLOW)) == [arn]


def test_auto_enable_for_accounts_that_joined_while_down(make_server: Any) -> None:
    server = make_server(config_toml=CONFIG)
    mgmt = server.client(MGMT)
    mgmt.enable_organization_admin_account(AccountId=ORG_ADMIN)
    org_arn = mgmt.list_organization_admin_accounts()["Administrators"][0]["GraphArn"]
    org_admin = server.client(ORG_ADMIN)
    org_admin.update_organization_configuration(GraphArn=org_arn, AutoEnable=True)
    server.stop()
    assert server.config is not None
    server.config.write_text(CONFIG.replace(f'"{ORG_MEMBER}"]', f'"{ORG_MEMBER}", "850000000020"]'))
    server.start()
    wait_for(lambda: status_of(org_admin, org_arn, "850000000020") == "ENABLED", timeout=10,
             what="account that joined while the server was down")
    # The account that was in the organization from the start was not auto-enabled.
    assert ORG_MEMBER not in member_ids(org_admin, org_arn)


def test_raised_volume_limit_after_restart_lets_start_monitoring_enable(make_server: Any) -> None:
    config = (
        '[[accounts]]\nid = "850000000030"\ndaily_volume = 10\n\n'
        '[[accounts]]\nid = "850000000031"\nemail = "big@example.com"\ndaily_volume = 500\n'
    )
    server = make_server(config_toml=config, args=["--graph-volume-limit", "100"])
    admin = server.client("850000000030")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, ("850000000031", "big@example.com"))
    server.client("850000000031").accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, "850000000031") == "ACCEPTED_BUT_DISABLED"

    server.args = ["--graph-volume-limit", "1000"]
    server.restart()
    # The member keeps its state until the volume is checked again ...
    detail = admin.get_members(GraphArn=arn, AccountIds=["850000000031"])["MemberDetails"][0]
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_TOO_HIGH")
    # ... which StartMonitoringMember asks for.
    admin.start_monitoring_member(GraphArn=arn, AccountId="850000000031")
    detail = admin.get_members(GraphArn=arn, AccountIds=["850000000031"])["MemberDetails"][0]
    assert detail["Status"] == "ENABLED" and "DisabledReason" not in detail
    assert detail["DatasourcePackageIngestStates"]["DETECTIVE_CORE"] == "STARTED"


def test_no_new_members_while_the_graph_ingests_over_its_limit(make_server: Any) -> None:
    # Model: ServiceQuotaExceededException when "the current volume ingested is above the limit".
    config = (
        '[[accounts]]\nid = "850000000040"\ndaily_volume = 10\n\n'
        '[[accounts]]\nid = "850000000041"\nemail = "a@example.com"\ndaily_volume = 50\n'
    )
    server = make_server(config_toml=config, args=["--graph-volume-limit", "100"])
    admin = server.client("850000000040")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, ("850000000041", "a@example.com"))
    server.client("850000000041").accept_invitation(GraphArn=arn)
    assert status_of(admin, arn, "850000000041") == "ENABLED"

    server.args = ["--graph-volume-limit", "40"]  # 10 + 50 now ingested, over the limit
    server.restart()
    response = expect_error("ServiceQuotaExceededException", 402, invite, admin, arn, ("850000000042", "b@example.com"))
    assert response.get("Resources") == [arn]
    assert "850000000042" not in member_ids(admin, arn)
    # Already-present accounts are still just reported, not refused as a whole.
    again = invite(admin, arn, ("850000000041", "a@example.com"))
    assert [u["AccountId"] for u in again["UnprocessedAccounts"]] == ["850000000041"]
    # Once under the limit again, members can be added.
    admin.delete_members(GraphArn=arn, AccountIds=["850000000041"])
    invite(admin, arn, ("850000000042", "b@example.com"))
    assert status_of(admin, arn, "850000000042") == "INVITED"
