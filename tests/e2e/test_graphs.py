"""Behavior graphs: CreateGraph, ListGraphs, DeleteGraph, Regions and tags at creation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from e2e_helpers import GRAPH_ARN_RE, expect_error, invitation_arns, invite, module_server

CONFIG = """
[[accounts]]
id = "200000000099"
email = "noguardduty@example.com"
guardduty = false
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, CONFIG, name="graphs") as server:
        yield server


def test_create_graph_is_idempotent_per_account_and_region(srv: Any) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    client = srv.client("200000000001")
    first = client.create_graph(Tags={"orig": "1"})["GraphArn"]
    second = client.create_graph()["GraphArn"]
    again_with_tags = client.create_graph(Tags={"k": "v"})["GraphArn"]
    assert first == second == again_with_tags
    # A repeat call does not change the tags (documented choice).
    assert client.list_tags_for_resource(ResourceArn=first)["Tags"] == {"orig": "1"}

    match = GRAPH_ARN_RE.match(first)
    assert match, first
    assert match["region"] == "us-east-1" and match["account"] == "200000000001"

    graphs = client.list_graphs()["GraphList"]
    assert [g["Arn"] for g in graphs] == [first]
    created = graphs[0]["CreatedTime"]
    assert before <= created <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert "NextToken" not in client.list_graphs()


def test_each_account_and_region_has_its_own_graph(srv: Any) -> None:
    a_us = srv.client("200000000002").create_graph()["GraphArn"]
    b_us = srv.client("200000000003").create_graph()["GraphArn"]
    a_eu = srv.client("200000000002", "eu-west-1").create_graph()["GraphArn"]
    assert len({a_us, b_us, a_eu}) == 3
    eu = GRAPH_ARN_RE.match(a_eu)
    assert eu and eu["region"] == "eu-west-1" and eu["account"] == "200000000002"
    assert [g["Arn"] for g in srv.client("200000000002").list_graphs()["GraphList"]] == [a_us]
    assert [g["Arn"] for g in srv.client("200000000002", "eu-west-1").list_graphs()["GraphList"]] == [a_eu]
    assert [g["Arn"] for g in srv.client("200000000003").list_graphs()["GraphList"]] == [b_us]
    # An account that never enabled Detective administers nothing.
    assert srv.client("200000000004").list_graphs()["GraphList"] == []


def test_graph_is_invisible_from_another_region(srv: Any) -> None:
    us = srv.client("200000000005", "us-east-1")
    eu = srv.client("200000000005", "eu-west-1")
    arn = us.create_graph(Tags={"where": "us"})["GraphArn"]
    invite(us, arn, ("200000000006", "m6@example.com"))

    assert eu.list_graphs()["GraphList"] == []
    expect_error("ResourceNotFoundException", 404, eu.list_members, GraphArn=arn)
    expect_error("ResourceNotFoundException", 404, eu.get_members, GraphArn=arn, AccountIds=["200000000006"])
    expect_error("ResourceNotFoundException", 404, eu.list_tags_for_resource, ResourceArn=arn)
    expect_error("ResourceNotFoundException", 404, eu.delete_graph, GraphArn=arn)
    expect_error("ResourceNotFoundException", 404, eu.list_datasource_packages, GraphArn=arn)
    # The invited member sees the invitation only in the graph's own Region.
    assert invitation_arns(srv.client("200000000006", "eu-west-1")) == []
    expect_error("ResourceNotFoundException", 404, srv.client("200000000006", "eu-west-1").accept_invitation, GraphArn=arn)
    assert invitation_arns(srv.client("200000000006", "us-east-1")) == [arn]
    # Still intact in its Region.
    assert [g["Arn"] for g in us.list_graphs()["GraphList"]] == [arn]


def test_tags_given_at_creation(srv: Any) -> None:
    client = srv.client("200000000007")
    tags = {"Team": "secops", "cost-center": "1234", "empty": ""}
    arn = client.create_graph(Tags=tags)["GraphArn"]
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == tags


def test_graph_without_tags_has_empty_tag_map(srv: Any) -> None:
    client = srv.client("200000000008")
    arn = client.create_graph()["GraphArn"]
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}


def test_delete_graph_removes_it_everywhere(srv: Any) -> None:
    admin = srv.client("200000000010")
    arn = admin.create_graph(Tags={"a": "b"})["GraphArn"]
    invite(admin, arn, ("200000000011", "m11@example.com"), ("200000000012", "m12@example.com"))
    srv.client("200000000012").accept_invitation(GraphArn=arn)
    assert invitation_arns(srv.client("200000000011")) == [arn]
    assert invitation_arns(srv.client("200000000012")) == [arn]

    admin.delete_graph(GraphArn=arn)

    assert admin.list_graphs()["GraphList"] == []
    assert invitation_arns(srv.client("200000000011")) == []
    assert invitation_arns(srv.client("200000000012")) == []
    expect_error("ResourceNotFoundException", 404, admin.list_members, GraphArn=arn)
    expect_error("ResourceNotFoundException", 404, admin.list_tags_for_resource, ResourceArn=arn)
    expect_error("ResourceNotFoundException", 404, admin.delete_graph, GraphArn=arn)
    expect_error("ResourceNotFoundException", 404, srv.client("200000000011").accept_invitation, GraphArn=arn)
    ds = srv.client("200000000012").batch_get_membership_datasources(GraphArns=[arn])
    assert ds["MembershipDatasources"] == [] and [g["GraphArn"] for g in ds["UnprocessedGraphs"]] == [arn]

    # Enabling Detective again makes a new graph, without the old tags.
    new_arn = admin.create_graph()["GraphArn"]
    assert new_arn != arn and GRAPH_ARN_RE.match(new_arn)
    assert admin.list_tags_for_resource(ResourceArn=new_arn)["Tags"] == {}
    assert admin.list_members(GraphArn=new_arn)["MemberDetails"][0]["AccountId"] == "200000000010"


def test_only_the_administrator_can_delete_a_graph(srv: Any) -> None:
    admin = srv.client("200000000020")
    arn = admin.create_graph()["GraphArn"]
    invite(admin, arn, ("200000000021", "m21@example.com"))
    srv.client("200000000021").accept_invitation(GraphArn=arn)
    for outsider in ("200000000021", "200000000022"):
        expect_error("ResourceNotFoundException", 404, srv.client(outsider).delete_graph, GraphArn=arn)
    assert [g["Arn"] for g in admin.list_graphs()["GraphList"]] == [arn]


def test_nonexistent_graph_is_not_found(srv: Any) -> None:
    client = srv.client("200000000030")
    ghost = "arn:aws:detective:us-east-1:200000000030:graph:" + "0" * 32
    expect_error("ResourceNotFoundException", 404, client.delete_graph, GraphArn=ghost)
    expect_error("ResourceNotFoundException", 404, client.list_members, GraphArn=ghost)


def test_administrator_is_a_member_of_its_own_graph(srv: Any) -> None:
    client = srv.client("200000000040")
    arn = client.create_graph()["GraphArn"]
    invite(client, arn, ("200000000041", "m41@example.com"))
    details = client.list_members(GraphArn=arn)["MemberDetails"]
    assert [(d["AccountId"], d["Status"], d["AdministratorId"]) for d in details] == [
        ("200000000040", "ENABLED", "200000000040"),
        ("200000000041", "INVITED", "200000000040"),
    ]
    # Documented: the administrator comes first, without InvitationType or InvitedTime.
    assert "InvitationType" not in details[0] and "InvitedTime" not in details[0]
    assert details[0]["MasterId"] == "200000000040" and details[0]["GraphArn"] == arn
    # ... but it does not invite itself: ListInvitations excludes its own graph.
    assert invitation_arns(client) == []


def test_create_graph_needs_guardduty(srv: Any) -> None:
    # Documented: an account not enrolled in GuardDuty cannot enable Detective.
    client = srv.client("200000000099")
    expect_error("AccessDeniedException", 403, client.create_graph)
    assert client.list_graphs()["GraphList"] == []


def test_create_graph_over_the_volume_quota(make_server: Any) -> None:
    # Documented: if the account's data volume exceeds the quota, Detective cannot be enabled.
    server = make_server(
        config_toml='[[accounts]]\nid = "200000000098"\ndaily_volume = 500\n\n'
                    '[[accounts]]\nid = "200000000097"\ndaily_volume = 100\n',
        args=["--graph-volume-limit", "100"],
    )
    big = server.client("200000000098")
    response = expect_error("ServiceQuotaExceededException", 402, big.create_graph)
    assert response["Error"]["Message"]
    assert big.list_graphs()["GraphList"] == []
    # At the limit is still fine.
    assert GRAPH_ARN_RE.match(server.client("200000000097").create_graph()["GraphArn"])


def test_partition_follows_the_region(srv: Any) -> None:
    for region, partition in (("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")):
        client = srv.client("200000000050", region)
        arn = client.create_graph()["GraphArn"]
        assert arn.startswith(f"arn:{partition}:detective:{region}:200000000050:graph:"), arn
        assert [m["AccountId"] for m in client.list_members(GraphArn=arn)["MemberDetails"]] == ["200000000050"]
        assert client.create_graph()["GraphArn"] == arn
