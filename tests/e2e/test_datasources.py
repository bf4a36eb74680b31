"""Datasource packages: ListDatasourcePackages, UpdateDatasourcePackages,
BatchGetGraphMemberDatasources, BatchGetMembershipDatasources, MemberDetail ingest states."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from e2e_helpers import expect_error, invite, member, module_server

CONFIG = """
[[accounts]]
id = "700000000090"
email = "nogd@example.com"
guardduty = false
"""

CORE, EKS, ASFF = "DETECTIVE_CORE", "EKS_AUDIT", "ASFF_SECURITYHUB_FINDING"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, CONFIG, name="datasources") as server:
        yield server


def _recent(value: Any) -> bool:
    now = dt.datetime.now(dt.UTC)
    return isinstance(value, dt.datetime) and now - dt.timedelta(minutes=5) <= value <= now + dt.timedelta(seconds=5)


def test_list_datasource_packages_at_creation(srv: Any) -> None:
    c = srv.client("700000000001")
    arn = c.create_graph()["GraphArn"]
    response = c.list_datasource_packages(GraphArn=arn)
    packages = response["DatasourcePackages"]
    assert set(packages) == {CORE, EKS, ASFF}
    assert packages[CORE]["DatasourcePackageIngestState"] == "STARTED"
    assert packages[EKS]["DatasourcePackageIngestState"] == "STARTED"
    assert packages[ASFF]["DatasourcePackageIngestState"] == "DISABLED"
    for name, detail in packages.items():
        changes = detail["LastIngestStateChange"]
        state = detail["DatasourcePackageIngestState"]
        assert state in changes, (name, changes)
        assert _recent(changes[state]["Timestamp"])
    assert "NextToken" not in response

    # Paged one at a time: the same three packages.
    seen: list[str] = []
    token = None
    for _ in range(5):
        kw: dict[str, Any] = {"GraphArn": arn, "MaxResults": 1}
        if token:
            kw["NextToken"] = token
        page = c.list_datasource_packages(**kw)
        assert len(page["DatasourcePackages"]) == 1
        seen += list(page["DatasourcePackages"])
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted([CORE, EKS, ASFF])


def test_update_starts_a_package_for_graph_and_enabled_members(srv: Any) -> None:
    admin = srv.client("700000000002")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, ("700000000011", "a@example.com"), ("700000000012", "b@example.com"),
           ("700000000090", "nogd@example.com"))
    srv.client("700000000011").accept_invitation(GraphArn=arn)  # ENABLED
    srv.client("700000000090").accept_invitation(GraphArn=arn)  # ACCEPTED_BUT_DISABLED
    # 700000000012 stays INVITED.

    enabled = member(admin, arn, "700000000011")
    assert enabled is not None
    assert enabled["DatasourcePackageIngestStates"] == {CORE: "STARTED", EKS: "STARTED", ASFF: "DISABLED"}

    admin.update_datasource_packages(GraphArn=arn, DatasourcePackages=[ASFF])

    packages = admin.list_datasource_packages(GraphArn=arn)["DatasourcePackages"]
    assert {p: d["DatasourcePackageIngestState"] for p, d in packages.items()} == {
        CORE: "STARTED", EKS: "STARTED", ASFF: "STARTED",
    }
    asff_changes = packages[ASFF]["LastIngestStateChange"]
    assert _recent(asff_changes["STARTED"]["Timestamp"]) and _recent(asff_changes["DISABLED"]["Timestamp"])
    assert asff_changes["STARTED"]["Timestamp"] >= asff_changes["DISABLED"]["Timestamp"]

    enabled = member(admin, arn, "700000000011")
    assert enabled is not None and enabled["DatasourcePackageIngestStates"][ASFF] == "STARTED"
    administrator = member(admin, arn, "700000000002")
    assert administrator is not None and administrator["DatasourcePackageIngestStates"][ASFF] == "STARTED"
    # Documented: before a member is ENABLED its MemberDetail has no package states.
    for other in ("700000000012", "700000000090"):
        detail = member(admin, arn, other)
        assert detail is not None and detail["Status"] != "ENABLED"
        assert "DatasourcePackageIngestStates" not in detail, detail

    history = admin.batch_get_graph_member_datasources(GraphArn=arn, AccountIds=["700000000011"])
    (entry,) = history["MemberDatasources"]
    assert entry["AccountId"] == "700000000011" and entry["GraphArn"] == arn
    assert _recent(entry["DatasourcePackageIngestHistory"][ASFF]["STARTED"]["Timestamp"])
    assert _recent(entry["DatasourcePackageIngestHistory"][CORE]["STARTED"]["Timestamp"])

    # A member enabled afterwards starts with the graph's packages, ASFF included.
    srv.client("700000000012").accept_invitation(GraphArn=arn)
    later = member(admin, arn, "700000000012")
    assert later is not None and later["Status"] == "ENABLED"
    assert later["DatasourcePackageIngestStates"] == {CORE: "STARTED", EKS: "STARTED", ASFF: "STARTED"}

    # Starting an already started package is fine and changes nothing.
    admin.update_datasource_packages(GraphArn=arn, DatasourcePackages=[ASFF, CORE])
    again = admin.list_datasource_packages(GraphArn=arn)["DatasourcePackages"]
    assert again[ASFF]["LastIngestStateChange"]["STARTED"] == asff_changes["STARTED"]


def test_update_rejects_unknown_packages(srv: Any) -> None:
    admin = srv.client("700000000003")
    arn = admin.create_graph()["GraphArn"]
    expect_error("ValidationException", 400, admin.update_datasource_packages, GraphArn=arn, DatasourcePackages=["NOPE"])
    packages = admin.list_datasource_packages(GraphArn=arn)["DatasourcePackages"]
    assert packages[ASFF]["DatasourcePackageIngestState"] == "DISABLED"


def test_batch_get_graph_member_datasources_unprocessed(srv: Any) -> None:
    admin = srv.client("700000000004")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, ("700000000013", "c@example.com"))
    srv.client("700000000013").accept_invitation(GraphArn=arn)
    response = admin.batch_get_graph_member_datasources(
        GraphArn=arn, AccountIds=["700000000013", "700000000004", "700000000099"]
    )
    assert sorted(d["AccountId"] for d in response["MemberDatasources"]) == ["700000000004", "700000000013"]
    assert [u["AccountId"] for u in response["UnprocessedAccounts"]] == ["700000000099"]
    assert response["UnprocessedAccounts"][0]["Reason"]
    # Only the administrator may ask.
    expect_error(
        "ResourceNotFoundException", 404, srv.client("700000000013").batch_get_graph_member_datasources,
        GraphArn=arn, AccountIds=["700000000013"],
    )


def test_batch_get_membership_datasources(srv: Any) -> None:
    admin = srv.client("700000000005")
    arn = admin.create_graph()["GraphArn"]
    foreign = srv.client("700000000006").create_graph()["GraphArn"]
    ghost = "arn:aws:detective:us-east-1:700000000007:graph:" + "b" * 32
    invite(admin, arn, ("700000000014", "d@example.com"))
    m = srv.client("700000000014")
    m.accept_invitation(GraphArn=arn)
    response = m.batch_get_membership_datasources(GraphArns=[arn, foreign, ghost])
    (entry,) = response["MembershipDatasources"]
    assert entry["GraphArn"] == arn and entry["AccountId"] == "700000000014"
    assert set(entry["DatasourcePackageIngestHistory"]) >= {CORE, EKS}
    assert _recent(entry["DatasourcePackageIngestHistory"][CORE]["STARTED"]["Timestamp"])
    unprocessed = {u["GraphArn"]: u["Reason"] for u in response["UnprocessedGraphs"]}
    assert set(unprocessed) == {foreign, ghost}
    assert all(unprocessed.values())
    # From another Region the same graph is unknown.
    eu = srv.client("700000000014", "eu-west-1").batch_get_membership_datasources(GraphArns=[arn])
    assert eu["MembershipDatasources"] == [] and [u["GraphArn"] for u in eu["UnprocessedGraphs"]] == [arn]


def test_datasources_of_foreign_graph_not_found(srv: Any) -> None:
    owner = srv.client("700000000008")
    arn = owner.create_graph()["GraphArn"]
    other = srv.client("700000000009")
    expect_error("ResourceNotFoundException", 404, other.list_datasource_packages, GraphArn=arn)
    expect_error("ResourceNotFoundException", 404, other.update_datasource_packages, GraphArn=arn, DatasourcePackages=[ASFF])
    assert owner.list_datasource_packages(GraphArn=arn)["DatasourcePackages"][ASFF]["DatasourcePackageIngestState"] == "DISABLED"
