"""Every one of the model's 29 operations, called through boto3 against one server.

A botocore hook records each operation that got an answer from the server; the last test
checks that the walkthrough reached all of them (and nothing answered 500).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import botocore.session
import pytest
from e2e_helpers import GRAPH_ARN_RE, expect_error, module_server, wait_for

MGMT = "910000000001"
ORG_ADMIN = "910000000002"
ADMIN = "910000000010"
MEMBER_OK = "910000000011"
MEMBER_REJECT = "910000000012"
MEMBER_NO_GD = "910000000013"
ORG_MEMBER = "910000000003"

CONFIG = f"""
[[accounts]]
id = "{ADMIN}"
email = "admin@example.com"

[[accounts]]
id = "{MEMBER_OK}"
email = "ok@example.com"

[[accounts]]
id = "{MEMBER_REJECT}"
email = "reject@example.com"

[[accounts]]
id = "{MEMBER_NO_GD}"
email = "nogd@example.com"
guardduty = false

[organization]
management_account = "{MGMT}"
accounts = ["{ORG_ADMIN}", "{ORG_MEMBER}"]
"""

# operation name -> HTTP statuses the server answered with
CALLED: dict[str, set[int]] = {}


def _record(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
    if http_response is not None:
        CALLED.setdefault(model.name, set()).add(http_response.status_code)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, CONFIG, name="ops") as server:
        yield server


@pytest.fixture(scope="module")
def clients(srv: Any) -> Any:
    made: dict[str, Any] = {}

    def get(account: str, region: str = "us-east-1", **kw: Any) -> Any:
        key = (account, region, tuple(sorted(kw.items())))
        if key not in made:
            client = srv.client(account, region, **kw)
            client.meta.events.register("after-call.detective", _record)
            made[key] = client
        return made[key]

    return get


def test_graph_and_membership_operations(clients: Any) -> None:
    admin = clients(ADMIN)
    arn = admin.create_graph(Tags={"team": "sec"})["GraphArn"]
    assert GRAPH_ARN_RE.match(arn)
    graphs = admin.list_graphs()["GraphList"]
    assert [g["Arn"] for g in graphs] == [arn]
    assert isinstance(graphs[0]["CreatedTime"], dt.datetime)

    created = admin.create_members(
        GraphArn=arn,
        Message="please join",
        Accounts=[
            {"AccountId": MEMBER_OK, "EmailAddress": "ok@example.com"},
            {"AccountId": MEMBER_REJECT, "EmailAddress": "reject@example.com"},
            {"AccountId": MEMBER_NO_GD, "EmailAddress": "nogd@example.com"},
        ],
    )
    assert sorted(m["AccountId"] for m in created["Members"]) == sorted([MEMBER_OK, MEMBER_REJECT, MEMBER_NO_GD])
    assert created["UnprocessedAccounts"] == []

    got = admin.get_members(GraphArn=arn, AccountIds=[MEMBER_OK, MEMBER_REJECT])
    assert {m["Status"] for m in got["MemberDetails"]} == {"INVITED"}
    listed = admin.list_members(GraphArn=arn)["MemberDetails"]
    assert {m["AccountId"] for m in listed} >= {MEMBER_OK, MEMBER_REJECT, MEMBER_NO_GD}

    ok = clients(MEMBER_OK)
    assert arn in [i["GraphArn"] for i in ok.list_invitations()["Invitations"]]
    ok.accept_invitation(GraphArn=arn)
    assert admin.get_members(GraphArn=arn, AccountIds=[MEMBER_OK])["MemberDetails"][0]["Status"] == "ENABLED"

    rejecter = clients(MEMBER_REJECT)
    rejecter.reject_invitation(GraphArn=arn)
    assert arn not in [i["GraphArn"] for i in rejecter.list_invitations()["Invitations"]]

    nogd = clients(MEMBER_NO_GD)
    nogd.accept_invitation(GraphArn=arn)
    detail = admin.get_members(GraphArn=arn, AccountIds=[MEMBER_NO_GD])["MemberDetails"][0]
    assert (detail["Status"], detail.get("DisabledReason")) == ("ACCEPTED_BUT_DISABLED", "VOLUME_UNKNOWN")
    admin.start_monitoring_member(GraphArn=arn, AccountId=MEMBER_NO_GD)
    detail = admin.get_members(GraphArn=arn, AccountIds=[MEMBER_NO_GD])["MemberDetails"][0]
    assert detail["Status"] == "ACCEPTED_BUT_DISABLED"

    # Tags.
    admin.tag_resource(ResourceArn=arn, Tags={"env": "prod"})
    assert admin.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "sec", "env": "prod"}
    admin.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert admin.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"env": "prod"}

    # Datasources.
    packages = admin.list_datasource_packages(GraphArn=arn)["DatasourcePackages"]
    assert packages["ASFF_SECURITYHUB_FINDING"]["DatasourcePackageIngestState"] == "DISABLED"
    admin.update_datasource_packages(GraphArn=arn, DatasourcePackages=["ASFF_SECURITYHUB_FINDING"])
    packages = admin.list_datasource_packages(GraphArn=arn)["DatasourcePackages"]
    assert packages["ASFF_SECURITYHUB_FINDING"]["DatasourcePackageIngestState"] == "STARTED"
    member_ds = admin.batch_get_graph_member_datasources(GraphArn=arn, AccountIds=[MEMBER_OK])
    assert [d["AccountId"] for d in member_ds["MemberDatasources"]] == [MEMBER_OK]
    membership_ds = ok.batch_get_membership_datasources(GraphArns=[arn])
    assert [d["GraphArn"] for d in membership_ds["MembershipDatasources"]] == [arn]

    # Leaving and removing.
    ok.disassociate_membership(GraphArn=arn)
    assert arn not in [i["GraphArn"] for i in ok.list_invitations()["Invitations"]]
    deleted = admin.delete_members(GraphArn=arn, AccountIds=[MEMBER_NO_GD])
    assert deleted["AccountIds"] == [MEMBER_NO_GD]
    assert [m["AccountId"] for m in admin.list_members(GraphArn=arn)["MemberDetails"]] == [ADMIN]

    admin.delete_graph(GraphArn=arn)
    assert admin.list_graphs()["GraphList"] == []


def test_organization_operations(clients: Any) -> None:
    mgmt = clients(MGMT)
    mgmt.enable_organization_admin_account(AccountId=ORG_ADMIN)
    admins = mgmt.list_organization_admin_accounts()["Administrators"]
    assert [a["AccountId"] for a in admins] == [ORG_ADMIN]
    arn = admins[0]["GraphArn"]
    org_admin = clients(ORG_ADMIN)
    assert [g["Arn"] for g in org_admin.list_graphs()["GraphList"]] == [arn]

    assert org_admin.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is False
    org_admin.update_organization_configuration(GraphArn=arn, AutoEnable=True)
    assert org_admin.describe_organization_configuration(GraphArn=arn)["AutoEnable"] is True

    raw_client = clients(ORG_ADMIN, parameter_validation=False)
    created = raw_client.create_members(GraphArn=arn, Accounts=[{"AccountId": ORG_MEMBER}])
    assert created["Members"][0]["InvitationType"] == "ORGANIZATION"
    wait_for(lambda: org_admin.get_members(GraphArn=arn, AccountIds=[ORG_MEMBER])["MemberDetails"][0]["Status"] == "ENABLED",
             what="organization member ENABLED")

    mgmt.disable_organization_admin_account()
    assert mgmt.list_organization_admin_accounts()["Administrators"] == []
    assert org_admin.list_graphs()["GraphList"] == []


def test_investigation_operations_through_boto3(clients: Any) -> None:
    """The five operations on the wire: a started investigation runs to SUCCESSFUL in the
    background; lists, indicators and state; bad entities and unknown ids get AWS's errors."""
    admin = clients("910000000020")
    arn = admin.create_graph()["GraphArn"]
    scope = {"ScopeStartTime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
             "ScopeEndTime": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)}
    investigation_id = admin.start_investigation(
        GraphArn=arn, EntityArn="arn:aws:iam::910000000020:role/suspect", **scope)["InvestigationId"]
    assert len(investigation_id) == 21 and investigation_id.isdigit()
    wait_for(lambda: admin.get_investigation(GraphArn=arn, InvestigationId=investigation_id)["Status"] == "SUCCESSFUL",
             what="investigation SUCCESSFUL")
    got = admin.get_investigation(GraphArn=arn, InvestigationId=investigation_id)
    assert got["EntityType"] == "IAM_ROLE" and got["State"] == "ACTIVE" and got["Severity"] == "INFORMATIONAL"
    assert got["ScopeStartTime"] == scope["ScopeStartTime"]
    listed = admin.list_investigations(GraphArn=arn, FilterCriteria={"Status": {"Value": "SUCCESSFUL"}},
                                       SortCriteria={"Field": "CREATED_TIME", "SortOrder": "DESC"})
    assert [d["InvestigationId"] for d in listed["InvestigationDetails"]] == [investigation_id]
    assert admin.list_indicators(GraphArn=arn, InvestigationId=investigation_id)["Indicators"] == []
    admin.update_investigation_state(GraphArn=arn, InvestigationId=investigation_id, State="ARCHIVED")
    assert admin.get_investigation(GraphArn=arn, InvestigationId=investigation_id)["State"] == "ARCHIVED"

    expect_error("ValidationException", 400, lambda: admin.start_investigation(
        GraphArn=arn, EntityArn="arn:aws:iam::910000000020:group/admins", **scope))
    expect_error("ValidationException", 400, lambda: admin.start_investigation(
        GraphArn=arn, EntityArn="arn:aws:iam::910000000099:user/stranger", **scope))
    for call in (lambda: admin.get_investigation(GraphArn=arn, InvestigationId="1" * 21),
                 lambda: admin.list_indicators(GraphArn=arn, InvestigationId="1" * 21),
                 lambda: admin.update_investigation_state(GraphArn=arn, InvestigationId="1" * 21, State="ACTIVE"),
                 lambda: clients("910000000021").list_investigations(GraphArn=arn)):
        expect_error("ResourceNotFoundException", 404, call)


def test_every_model_operation_was_served(clients: Any) -> None:
    """Runs last in this module: all 29 operations answered, none with a 5xx."""
    names = set(botocore.session.get_session().get_service_model("detective").operation_names)
    assert len(names) == 29
    missing = names - set(CALLED)
    assert not missing, f"operations never called: {sorted(missing)}"
    for name, statuses in CALLED.items():
        assert all(s < 500 for s in statuses), (name, statuses)
        assert any(200 <= s < 300 for s in statuses), (name, statuses)
