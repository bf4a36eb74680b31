"""ListDatasourcePackages, UpdateDatasourcePackages, BatchGetGraphMemberDatasources,
BatchGetMembershipDatasources."""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_harness import ADMIN, OTHER_ADMIN, OTHER_REGION, REGION, account

from gumshoe.api import datasources, members
from gumshoe.errors import ResourceNotFoundException, ValidationException

M1 = "222222222222"
M2 = "333333333333"
M3 = "444444444444"
ALL_PACKAGES = {"DETECTIVE_CORE", "EKS_AUDIT", "ASFF_SECURITYHUB_FINDING"}


def packages(env, arn, caller=ADMIN, region=REGION, **params: Any) -> dict[str, Any]:
    return env.call(datasources.list_datasource_packages, caller, {"GraphArn": arn, **params}, region=region)


def member_history(env, arn, account_id):
    out = env.call(datasources.batch_get_graph_member_datasources, ADMIN, {"GraphArn": arn, "AccountIds": [account_id]})
    [entry] = out["MemberDatasources"]
    assert entry["AccountId"] == account_id and entry["GraphArn"] == arn
    return entry["DatasourcePackageIngestHistory"]


def test_a_new_graph_ingests_the_core_package(env):
    before = time.time()
    arn = env.graph(ADMIN)
    out = packages(env, arn)["DatasourcePackages"]
    assert set(out) == ALL_PACKAGES
    assert {p: d["DatasourcePackageIngestState"] for p, d in out.items()} == {
        "DETECTIVE_CORE": "STARTED", "EKS_AUDIT": "STARTED", "ASFF_SECURITYHUB_FINDING": "DISABLED"}
    core = out["DETECTIVE_CORE"]
    assert core["DatasourcePackageIngestState"] == "STARTED"
    assert before - 5 <= core["LastIngestStateChange"]["STARTED"]["Timestamp"] <= time.time() + 5
    for detail in out.values():
        assert detail["DatasourcePackageIngestState"] in {"STARTED", "STOPPED", "DISABLED"}
        assert detail["DatasourcePackageIngestState"] in detail["LastIngestStateChange"]


def test_list_datasource_packages_pages(env):
    arn = env.graph(ADMIN)
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"MaxResults": 1}
        if token:
            params["NextToken"] = token
        out = packages(env, arn, **params)
        assert len(out["DatasourcePackages"]) == 1
        seen += list(out["DatasourcePackages"])
        token = out.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(ALL_PACKAGES)
    # A token is bound to its caller and graph.
    other = env.graph(OTHER_ADMIN)
    first = packages(env, arn, MaxResults=1)["NextToken"]
    with pytest.raises(ValidationException):
        packages(env, other, OTHER_ADMIN, NextToken=first)


def test_update_datasource_packages_starts_a_package_for_the_graph_and_enabled_members(make_env):
    env = make_env(accounts=(account(M2, guardduty=False),))
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)  # ENABLED
    env.join(arn, ADMIN, M2)  # ACCEPTED_BUT_DISABLED
    env.invite(arn, ADMIN, M3)  # INVITED
    before = time.time()
    env.call(datasources.update_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]})
    asff = packages(env, arn)["DatasourcePackages"]["ASFF_SECURITYHUB_FINDING"]
    assert asff["DatasourcePackageIngestState"] == "STARTED"
    assert asff["LastIngestStateChange"]["STARTED"]["Timestamp"] >= before - 5

    assert "STARTED" in member_history(env, arn, M1)["ASFF_SECURITYHUB_FINDING"]
    assert env.member(arn, ADMIN, M1)["DatasourcePackageIngestStates"]["ASFF_SECURITYHUB_FINDING"] == "STARTED"
    for not_enabled in (M2, M3):
        history = member_history(env, arn, not_enabled)
        assert "STARTED" not in history.get("ASFF_SECURITYHUB_FINDING", {})
        # Not ENABLED: no package states at all.
        assert not env.member(arn, ADMIN, not_enabled).get("DatasourcePackageIngestStates")


def test_a_member_enabled_later_ingests_the_graphs_packages(env):
    arn = env.graph(ADMIN)
    env.call(datasources.update_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]})
    env.join(arn, ADMIN, M1)
    states = env.member(arn, ADMIN, M1)["DatasourcePackageIngestStates"]
    assert states["ASFF_SECURITYHUB_FINDING"] == "STARTED"
    assert states["DETECTIVE_CORE"] == "STARTED"
    assert {"DETECTIVE_CORE", "ASFF_SECURITYHUB_FINDING"} <= set(member_history(env, arn, M1))


def test_starting_a_started_package_keeps_its_history(env):
    arn = env.graph(ADMIN)
    first = packages(env, arn)["DatasourcePackages"]["DETECTIVE_CORE"]["LastIngestStateChange"]
    time.sleep(0.01)
    env.call(datasources.update_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["DETECTIVE_CORE"]})
    again = packages(env, arn)["DatasourcePackages"]["DETECTIVE_CORE"]["LastIngestStateChange"]
    assert again == first


def test_batch_get_graph_member_datasources(env):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    out = env.call(datasources.batch_get_graph_member_datasources, ADMIN,
                   {"GraphArn": arn, "AccountIds": [M1, M3, M1]})
    assert [m["AccountId"] for m in out["MemberDatasources"]] == [M1]
    core = out["MemberDatasources"][0]["DatasourcePackageIngestHistory"]["DETECTIVE_CORE"]
    assert core["STARTED"]["Timestamp"] > 0
    assert [u["AccountId"] for u in out["UnprocessedAccounts"]] == [M3]
    assert out["UnprocessedAccounts"][0]["Reason"]


def test_batch_get_membership_datasources_is_the_members_own_view(env):
    mine = env.graph(ADMIN)
    theirs = env.graph(OTHER_ADMIN)
    elsewhere = env.graph(ADMIN, region=OTHER_REGION)
    env.join(mine, ADMIN, M1)
    env.call(members.create_members, ADMIN, {"GraphArn": elsewhere, "Accounts": [{"AccountId": M1, "EmailAddress": "x@y.z"}]},
             region=OTHER_REGION)
    missing = mine[:-32] + "0" * 32
    out = env.call(datasources.batch_get_membership_datasources, M1, {"GraphArns": [mine, theirs, elsewhere, missing]})
    assert [m["GraphArn"] for m in out["MembershipDatasources"]] == [mine]
    entry = out["MembershipDatasources"][0]
    assert entry["AccountId"] == M1
    assert "STARTED" in entry["DatasourcePackageIngestHistory"]["DETECTIVE_CORE"]
    assert sorted(u["GraphArn"] for u in out["UnprocessedGraphs"]) == sorted([theirs, elsewhere, missing])
    assert all(u["Reason"] for u in out["UnprocessedGraphs"])
    # Gone with the membership.
    env.call(members.delete_members, ADMIN, {"GraphArn": mine, "AccountIds": [M1]})
    out = env.call(datasources.batch_get_membership_datasources, M1, {"GraphArns": [mine]})
    assert out["MembershipDatasources"] == []
    assert [u["GraphArn"] for u in out["UnprocessedGraphs"]] == [mine]


# Callers who do not administer ADMIN's graph in REGION: (account, Region).
NOT_THE_ADMINISTRATOR = {"other-admin": (OTHER_ADMIN, REGION), "member": (M1, REGION),
                         "other-region": (ADMIN, OTHER_REGION)}


@pytest.mark.parametrize("who", NOT_THE_ADMINISTRATOR)
def test_datasources_of_a_graph_the_caller_does_not_administer_are_not_found(env, who):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    caller, region = NOT_THE_ADMINISTRATOR[who]
    graph_before = packages(env, arn)["DatasourcePackages"]
    member_before = member_history(env, arn, M1)
    with pytest.raises(ResourceNotFoundException):
        packages(env, arn, caller, region)
    with pytest.raises(ResourceNotFoundException):
        env.call(datasources.update_datasource_packages, caller,
                 {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]}, region=region)
    with pytest.raises(ResourceNotFoundException):
        env.call(datasources.batch_get_graph_member_datasources, caller, {"GraphArn": arn, "AccountIds": [M1]},
                 region=region)
    # Nothing changed.
    assert packages(env, arn)["DatasourcePackages"] == graph_before
    assert member_history(env, arn, M1) == member_before


# --- Gumshoe's own DisableDatasourcePackages --------------------------------------------------


def test_disable_datasource_packages_disables_an_optional_package_for_the_graph_and_its_members(make_env):
    env = make_env(accounts=(account(M2, guardduty=False),))
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)  # ENABLED
    env.join(arn, ADMIN, M2)  # ACCEPTED_BUT_DISABLED: no package states
    started = packages(env, arn)["DatasourcePackages"]["EKS_AUDIT"]["LastIngestStateChange"]["STARTED"]
    time.sleep(0.01)
    before = time.time()
    env.call(datasources.disable_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["EKS_AUDIT"]})
    eks = packages(env, arn)["DatasourcePackages"]["EKS_AUDIT"]
    # As the AWS model's DatasourcePackageIngestState has it, with both changes in the history.
    assert eks["DatasourcePackageIngestState"] == "DISABLED"
    assert eks["LastIngestStateChange"]["STARTED"] == started
    assert before - 5 <= eks["LastIngestStateChange"]["DISABLED"]["Timestamp"] <= time.time() + 5
    for enabled in (ADMIN, M1):
        assert env.member(arn, ADMIN, enabled)["DatasourcePackageIngestStates"]["EKS_AUDIT"] == "DISABLED"
        assert env.member(arn, ADMIN, enabled)["DatasourcePackageIngestStates"]["DETECTIVE_CORE"] == "STARTED"
        assert {"STARTED", "DISABLED"} <= set(member_history(env, arn, enabled)["EKS_AUDIT"])
    assert "DISABLED" not in member_history(env, arn, M2).get("EKS_AUDIT", {})
    assert not env.member(arn, ADMIN, M2).get("DatasourcePackageIngestStates")
    # The member's own view says so too.
    [mine] = env.call(datasources.batch_get_membership_datasources, M1, {"GraphArns": [arn]})["MembershipDatasources"]
    assert "DISABLED" in mine["DatasourcePackageIngestHistory"]["EKS_AUDIT"]
    # A member enabled later takes the graph's states: EKS_AUDIT disabled.
    env.join(arn, ADMIN, M3)
    assert env.member(arn, ADMIN, M3)["DatasourcePackageIngestStates"]["EKS_AUDIT"] == "DISABLED"
    # Disabling it again changes nothing; UpdateDatasourcePackages starts it again.
    disabled = packages(env, arn)["DatasourcePackages"]["EKS_AUDIT"]["LastIngestStateChange"]
    env.call(datasources.disable_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["EKS_AUDIT"]})
    assert packages(env, arn)["DatasourcePackages"]["EKS_AUDIT"]["LastIngestStateChange"] == disabled
    env.call(datasources.update_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["EKS_AUDIT"]})
    assert packages(env, arn)["DatasourcePackages"]["EKS_AUDIT"]["DatasourcePackageIngestState"] == "STARTED"
    assert env.member(arn, ADMIN, M1)["DatasourcePackageIngestStates"]["EKS_AUDIT"] == "STARTED"


def test_ingestion_skips_a_disabled_packages_records(env):
    from gumshoe.ingest.pipeline import routes

    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    env.call(datasources.update_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING"]})
    env.call(datasources.disable_datasource_packages, ADMIN,
             {"GraphArn": arn, "DatasourcePackages": ["ASFF_SECURITYHUB_FINDING", "EKS_AUDIT"]})
    with env.store.read() as conn:
        routed = routes(conn)
    for who in (ADMIN, M1):
        [target] = routed[who]
        assert target.graph_arn == arn and target.packages == {"DETECTIVE_CORE"}


@pytest.mark.parametrize("wanted", [["DETECTIVE_CORE"], ["EKS_AUDIT", "DETECTIVE_CORE"], ["NOT_A_PACKAGE"], []])
def test_detective_core_and_unknown_packages_cannot_be_disabled(env, wanted):
    arn = env.graph(ADMIN)
    before = packages(env, arn)["DatasourcePackages"]
    with pytest.raises(ValidationException) as refused:
        env.call(datasources.disable_datasource_packages, ADMIN, {"GraphArn": arn, "DatasourcePackages": wanted})
    if "DETECTIVE_CORE" in wanted:
        assert "DETECTIVE_CORE cannot be disabled" in refused.value.message
    assert packages(env, arn)["DatasourcePackages"] == before  # nothing changed, EKS_AUDIT included


@pytest.mark.parametrize("who", NOT_THE_ADMINISTRATOR)
def test_only_the_graphs_administrator_disables_a_package(env, who):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, M1)
    caller, region = NOT_THE_ADMINISTRATOR[who]
    before = packages(env, arn)["DatasourcePackages"]
    with pytest.raises(ResourceNotFoundException):
        env.call(datasources.disable_datasource_packages, caller, {"GraphArn": arn, "DatasourcePackages": ["EKS_AUDIT"]},
                 region=region)
    assert packages(env, arn)["DatasourcePackages"] == before
    assert env.member(arn, ADMIN, M1)["DatasourcePackageIngestStates"]["EKS_AUDIT"] == "STARTED"
