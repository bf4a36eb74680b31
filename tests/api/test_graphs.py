"""CreateGraph, DeleteGraph, ListGraphs, and the access rule every graph operation shares."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from api_harness import ADMIN, OTHER_ADMIN, OTHER_REGION, REGION, account
from sqlalchemy import func, select

from gumshoe.api import datasources, graphs, invitations, members, tags
from gumshoe.errors import (
    AccessDeniedException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
)
from gumshoe.store.schema import graph_tags, ingest_states, volume_usage
from gumshoe.store.schema import members as members_table

MEMBER = "222222222222"
ARN_RE = re.compile(r"^arn:aws:detective:us-east-1:111111111111:graph:[0-9a-f]{32}$")


def test_create_graph_answers_an_arn_of_the_callers_account_and_region(env):
    before = time.time()
    arn = env.graph(ADMIN)
    assert ARN_RE.match(arn), arn
    listed = env.call(graphs.list_graphs, ADMIN)
    assert [g["Arn"] for g in listed["GraphList"]] == [arn]
    created = listed["GraphList"][0]["CreatedTime"]
    assert before - 5 <= created <= time.time() + 5
    assert listed.get("NextToken") is None


def test_create_graph_twice_answers_the_same_arn(env):
    first = env.graph(ADMIN)
    assert env.graph(ADMIN) == first
    assert len(env.call(graphs.list_graphs, ADMIN)["GraphList"]) == 1


def test_a_repeated_create_graph_keeps_the_tags(env):
    arn = env.graph(ADMIN, tags={"team": "sec"})
    assert env.graph(ADMIN, tags={"team": "other", "new": "x"}) == arn
    assert env.call(tags.list_tags_for_resource, ADMIN, {"ResourceArn": arn})["Tags"] == {"team": "sec"}


def test_the_administrator_is_the_first_member_of_its_graph(env):
    arn = env.graph(ADMIN)
    env.invite(arn, ADMIN, MEMBER)
    listed = env.call(members.list_members, ADMIN, {"GraphArn": arn})["MemberDetails"]
    assert [m["AccountId"] for m in listed] == [ADMIN, MEMBER]
    admin = listed[0]
    assert admin["Status"] == "ENABLED"
    assert admin["AdministratorId"] == ADMIN
    assert admin.get("InvitationType") is None and admin.get("InvitedTime") is None
    assert admin["DatasourcePackageIngestStates"]["DETECTIVE_CORE"] == "STARTED"
    # It cannot be added or removed as a member.
    out = env.invite(arn, ADMIN, ADMIN)
    assert out["Members"] == [] and [u["AccountId"] for u in out["UnprocessedAccounts"]] == [ADMIN]
    out = env.call(members.delete_members, ADMIN, {"GraphArn": arn, "AccountIds": [ADMIN]})
    assert out["AccountIds"] == [] and [u["AccountId"] for u in out["UnprocessedAccounts"]] == [ADMIN]
    assert env.status(arn, ADMIN, ADMIN) == ("ENABLED", None)


def test_one_graph_per_account_and_region(env):
    here = env.graph(ADMIN)
    there = env.graph(ADMIN, region=OTHER_REGION)
    other = env.graph(OTHER_ADMIN)
    assert len({here, there, other}) == 3
    assert ":eu-west-1:111111111111:graph:" in there
    assert [g["Arn"] for g in env.call(graphs.list_graphs, ADMIN)["GraphList"]] == [here]
    assert [g["Arn"] for g in env.call(graphs.list_graphs, ADMIN, region=OTHER_REGION)["GraphList"]] == [there]
    assert [g["Arn"] for g in env.call(graphs.list_graphs, OTHER_ADMIN)["GraphList"]] == [other]


def test_graph_arn_uses_the_partition_of_the_region(env):
    assert env.graph(ADMIN, region="cn-north-1").startswith("arn:aws-cn:detective:cn-north-1:111111111111:graph:")
    assert env.graph(ADMIN, region="us-gov-west-1").startswith("arn:aws-us-gov:detective:us-gov-west-1:")


def test_list_graphs_of_an_account_without_graph_is_empty(env):
    env.graph(ADMIN)
    assert env.call(graphs.list_graphs, MEMBER)["GraphList"] == []


def test_list_graphs_with_max_results(env):
    arn = env.graph(ADMIN)
    out = env.call(graphs.list_graphs, ADMIN, {"MaxResults": 1})
    assert [g["Arn"] for g in out["GraphList"]] == [arn]
    assert out.get("NextToken") is None


def test_create_graph_requires_guardduty(make_env):
    env = make_env(accounts=(account(ADMIN, guardduty=False),))
    with pytest.raises(AccessDeniedException) as exc:
        env.graph(ADMIN)
    assert "GuardDuty" in exc.value.message
    assert env.call(graphs.list_graphs, ADMIN)["GraphList"] == []


def test_create_graph_refused_when_the_account_volume_exceeds_the_quota(make_env):
    """CreateGraph docs: it checks whether your data volume is within the Detective quota;
    if it exceeds the quota, you cannot enable Detective (ServiceQuotaExceededException)."""
    env = make_env(accounts=(account(ADMIN, daily_volume=1_000),), graph_volume_limit=500)
    with pytest.raises(ServiceQuotaExceededException):
        env.graph(ADMIN)
    assert env.call(graphs.list_graphs, ADMIN)["GraphList"] == []


def test_create_graph_within_the_quota_succeeds(make_env):
    env = make_env(accounts=(account(ADMIN, daily_volume=400),), graph_volume_limit=500)
    assert ARN_RE.match(env.graph(ADMIN))


def test_create_graph_stores_its_tags(env):
    arn = env.graph(ADMIN, tags={"team": "sec", "env": "prod"})
    assert env.call(tags.list_tags_for_resource, ADMIN, {"ResourceArn": arn})["Tags"] == {"env": "prod", "team": "sec"}


def test_delete_graph_removes_it_and_everything_of_it(env):
    arn = env.graph(ADMIN, tags={"k": "v"})
    env.join(arn, ADMIN, MEMBER)
    env.add_volume(arn, MEMBER, "DETECTIVE_CORE", "2024-05-01", 10, 1)
    env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})

    assert env.call(graphs.list_graphs, ADMIN)["GraphList"] == []
    assert env.deleted_graphs == [arn]
    assert env.call(invitations.list_invitations, MEMBER)["Invitations"] == []
    with pytest.raises(ResourceNotFoundException):
        env.call(members.list_members, ADMIN, {"GraphArn": arn})
    with pytest.raises(ResourceNotFoundException):
        env.call(tags.list_tags_for_resource, ADMIN, {"ResourceArn": arn})
    with env.store.read() as conn:
        for table in (members_table, graph_tags, ingest_states, volume_usage):
            assert conn.execute(select(func.count()).select_from(table).where(table.c.graph_arn == arn)).scalar() == 0


def test_create_graph_after_delete_is_a_new_graph(env):
    arn = env.graph(ADMIN)
    env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})
    again = env.graph(ADMIN)
    assert again != arn
    assert [g["Arn"] for g in env.call(graphs.list_graphs, ADMIN)["GraphList"]] == [again]


def test_delete_graph_twice_is_not_found(env):
    arn = env.graph(ADMIN)
    env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})
    with pytest.raises(ResourceNotFoundException):
        env.call(graphs.delete_graph, ADMIN, {"GraphArn": arn})


@pytest.mark.parametrize("who", ["other-admin", "member", "other-region"])
def test_delete_graph_only_by_its_administrator(env, who):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, MEMBER)
    caller, region = {"other-admin": (OTHER_ADMIN, REGION), "member": (MEMBER, REGION),
                      "other-region": (ADMIN, OTHER_REGION)}[who]
    with pytest.raises(ResourceNotFoundException):
        env.call(graphs.delete_graph, caller, {"GraphArn": arn}, region=region)
    assert [g["Arn"] for g in env.call(graphs.list_graphs, ADMIN)["GraphList"]] == [arn]
    assert env.deleted_graphs == []


# --- The access rule: a graph the caller does not administer does not exist for it. ------

ADMIN_OPERATIONS: list[tuple[str, Any, dict[str, Any]]] = [
    ("DeleteGraph", graphs.delete_graph, {}),
    ("CreateMembers", members.create_members, {"Accounts": [{"AccountId": "333333333333", "EmailAddress": "a@b.c"}]}),
    ("GetMembers", members.get_members, {"AccountIds": [MEMBER]}),
    ("ListMembers", members.list_members, {}),
    ("DeleteMembers", members.delete_members, {"AccountIds": [MEMBER]}),
    ("StartMonitoringMember", members.start_monitoring_member, {"AccountId": MEMBER}),
    ("TagResource", tags.tag_resource, {"Tags": {"a": "b"}}),
    ("UntagResource", tags.untag_resource, {"TagKeys": ["a"]}),
    ("ListTagsForResource", tags.list_tags_for_resource, {}),
    ("ListDatasourcePackages", datasources.list_datasource_packages, {}),
    ("UpdateDatasourcePackages", datasources.update_datasource_packages, {"DatasourcePackages": ["EKS_AUDIT"]}),
    ("BatchGetGraphMemberDatasources", datasources.batch_get_graph_member_datasources, {"AccountIds": [MEMBER]}),
]


def _params(name: str, arn: str, extra: dict[str, Any]) -> dict[str, Any]:
    key = "ResourceArn" if name in ("TagResource", "UntagResource", "ListTagsForResource") else "GraphArn"
    return {key: arn, **extra}


@pytest.mark.parametrize("name,fn,extra", ADMIN_OPERATIONS, ids=[o[0] for o in ADMIN_OPERATIONS])
def test_foreign_graph_answers_resource_not_found_like_a_missing_one(env, name, fn, extra):
    arn = env.graph(ADMIN)
    env.join(arn, ADMIN, MEMBER)
    missing = arn[:-32] + "0" * 32
    with pytest.raises(ResourceNotFoundException) as not_there:
        env.call(fn, ADMIN, _params(name, missing, extra))
    for caller, region in ((OTHER_ADMIN, REGION), (MEMBER, REGION), (ADMIN, OTHER_REGION)):
        with pytest.raises(ResourceNotFoundException) as foreign:
            env.call(fn, caller, _params(name, arn, extra), region=region)
        # The same answer as for a graph that does not exist: nothing leaks.
        assert foreign.value.message.replace(arn, "<arn>") == not_there.value.message.replace(missing, "<arn>")
    # Nothing changed.
    assert env.status(arn, ADMIN, MEMBER) == ("ENABLED", None)
    assert [g["Arn"] for g in env.call(graphs.list_graphs, ADMIN)["GraphList"]] == [arn]
    assert env.call(tags.list_tags_for_resource, ADMIN, {"ResourceArn": arn})["Tags"] == {}
