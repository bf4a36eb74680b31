"""Pagination: page sizes, stable order, tokens bound to caller and query, and botocore
paginators.

botocore's Detective model ships no paginator definitions (paginators-1.json is empty), so
``get_paginator`` is exercised with a definition loaded from a data path of our own: it
drives NextToken/MaxResults exactly like a stock paginator would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest
from e2e_helpers import expect_error, invite, module_server

ADMIN = "810000000001"
OTHER_ADMIN = "810000000002"
MEMBER = "810000000003"
MEMBER2 = "810000000004"
N_MEMBERS = 250


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, name="pagination") as server:
        yield server


@pytest.fixture(scope="module")
def big_graph(srv: Any) -> str:
    admin = srv.client(ADMIN)
    arn = str(admin.create_graph()["GraphArn"])
    for batch in range(N_MEMBERS // 50):
        accounts = [(f"8119{batch:02d}{n:06d}", f"p{batch}-{n}@example.com") for n in range(50)]
        invite(admin, arn, *accounts, DisableEmailNotification=True)
    return arn


@pytest.fixture(scope="module")
def other_graph(srv: Any) -> str:
    admin = srv.client(OTHER_ADMIN)
    arn = str(admin.create_graph()["GraphArn"])
    invite(admin, arn, *[(f"8129{n:08d}", f"o{n}@example.com") for n in range(10)], DisableEmailNotification=True)
    return arn


def _pages(fn: Any, key: str, **kw: Any) -> list[list[Any]]:
    pages = []
    token = None
    for _ in range(1000):
        args = dict(kw)
        if token:
            args["NextToken"] = token
        response = fn(**args)
        pages.append(response[key])
        token = response.get("NextToken")
        if not token:
            return pages
    raise AssertionError("pagination did not end")


def test_list_members_in_pages_of_100(srv: Any, big_graph: str) -> None:
    admin = srv.client(ADMIN)
    pages = _pages(admin.list_members, "MemberDetails", GraphArn=big_graph, MaxResults=100)
    assert [len(p) for p in pages] == [100, 100, N_MEMBERS + 1 - 200]
    ids = [m["AccountId"] for p in pages for m in p]
    assert len(ids) == len(set(ids)) == N_MEMBERS + 1

    full = [m["AccountId"] for p in _pages(admin.list_members, "MemberDetails", GraphArn=big_graph) for m in p]
    assert ids == full
    by_7 = [m["AccountId"] for p in _pages(admin.list_members, "MemberDetails", GraphArn=big_graph, MaxResults=7) for m in p]
    assert by_7 == full
    max_page = _pages(admin.list_members, "MemberDetails", GraphArn=big_graph, MaxResults=200)
    assert [len(p) for p in max_page] == [200, N_MEMBERS + 1 - 200]
    # The default page is the maximum, 200.
    first = admin.list_members(GraphArn=big_graph)
    assert len(first["MemberDetails"]) == 200 and first["NextToken"]


def test_pages_stay_consistent_while_members_change(srv: Any, big_graph: str) -> None:
    admin = srv.client(ADMIN)
    first = admin.list_members(GraphArn=big_graph, MaxResults=100)
    seen = [m["AccountId"] for m in first["MemberDetails"]]
    # Remove one member already seen and one not yet seen, between pages.
    gone_seen, gone_unseen = seen[50], None
    rest_before = [m["AccountId"] for p in _pages(admin.list_members, "MemberDetails", GraphArn=big_graph, MaxResults=200) for m in p][100:]
    gone_unseen = rest_before[10]
    admin.delete_members(GraphArn=big_graph, AccountIds=[gone_seen, gone_unseen])
    try:
        rest = []
        token = first["NextToken"]
        while token:
            page = admin.list_members(GraphArn=big_graph, MaxResults=100, NextToken=token)
            rest += [m["AccountId"] for m in page["MemberDetails"]]
            token = page.get("NextToken")
        assert rest == [a for a in rest_before if a != gone_unseen]
        assert not set(rest) & set(seen)
    finally:
        invite(admin, big_graph, (gone_seen, "back1@example.com"), (gone_unseen, "back2@example.com"),
               DisableEmailNotification=True)


def test_token_is_bound_to_graph_caller_and_operation(srv: Any, big_graph: str, other_graph: str) -> None:
    admin = srv.client(ADMIN)
    token = admin.list_members(GraphArn=big_graph, MaxResults=5)["NextToken"]
    # Another graph, by its own administrator.
    other = srv.client(OTHER_ADMIN)
    expect_error("ValidationException", 400, other.list_members, GraphArn=other_graph, NextToken=token)
    # Another operation of the same caller.
    expect_error("ValidationException", 400, admin.list_invitations, NextToken=token)
    expect_error("ValidationException", 400, admin.list_graphs, NextToken=token)
    expect_error("ValidationException", 400, admin.list_datasource_packages, GraphArn=big_graph, NextToken=token)
    # The same caller and graph from another Region cannot even see the graph.
    expect_error("ResourceNotFoundException", 404, srv.client(ADMIN, "eu-west-1").list_members,
                 GraphArn=big_graph, NextToken=token)
    # Still valid where it was issued.
    assert admin.list_members(GraphArn=big_graph, MaxResults=5, NextToken=token)["MemberDetails"]


def test_token_is_bound_to_the_caller(srv: Any) -> None:
    admins = [srv.client(f"81000000001{i}") for i in range(3)]
    for a in admins:
        arn = a.create_graph()["GraphArn"]
        invite(a, arn, (MEMBER, "member@example.com"), (MEMBER2, "member2@example.com"))
    member = srv.client(MEMBER)
    first = member.list_invitations(MaxResults=1)
    assert len(first["Invitations"]) == 1 and first["NextToken"]
    expect_error("ValidationException", 400, srv.client(MEMBER2).list_invitations, NextToken=first["NextToken"])
    expect_error("ValidationException", 400, srv.client(MEMBER, "eu-west-1").list_invitations, NextToken=first["NextToken"])
    pages = _pages(member.list_invitations, "Invitations", MaxResults=1)
    arns = [i["GraphArn"] for p in pages for i in p]
    assert len(arns) == len(set(arns)) == 3
    assert [len(p) for p in pages] == [1, 1, 1]


def _flip(token: str, index: int) -> str:
    c = token[index]
    replacement = "A" if c != "A" else "B"
    return token[:index] + replacement + token[index + 1:]


def test_tampered_tokens_are_rejected(srv: Any, big_graph: str) -> None:
    admin = srv.client(ADMIN)
    token = admin.list_members(GraphArn=big_graph, MaxResults=100)["NextToken"]
    tampered = {_flip(token, i) for i in (0, 3, len(token) // 2)} | {
        token[:-1], token + "x", token[::-1], "x" + token, token.replace(".", ""), "not-a-token",
    }
    tampered.discard(token)
    for bad in tampered:
        response = expect_error("ValidationException", 400, admin.list_members, GraphArn=big_graph, NextToken=bad)
        assert response["Error"]["Message"]
    # An over-long token breaks the model's length limit.
    expect_error("ValidationException", 400, admin.list_members, GraphArn=big_graph, NextToken="a" * 1025)


def test_tokens_survive_nothing_but_their_own_query(srv: Any, big_graph: str) -> None:
    # A token issued with one page size continues with another.
    admin = srv.client(ADMIN)
    first = admin.list_members(GraphArn=big_graph, MaxResults=100)
    second = admin.list_members(GraphArn=big_graph, MaxResults=50, NextToken=first["NextToken"])
    full = [m["AccountId"] for p in _pages(admin.list_members, "MemberDetails", GraphArn=big_graph) for m in p]
    assert [m["AccountId"] for m in second["MemberDetails"]] == full[100:150]


PAGINATORS = {
    "pagination": {
        "ListMembers": {"input_token": "NextToken", "output_token": "NextToken", "limit_key": "MaxResults",
                        "result_key": "MemberDetails"},
        "ListInvitations": {"input_token": "NextToken", "output_token": "NextToken", "limit_key": "MaxResults",
                            "result_key": "Invitations"},
        "ListGraphs": {"input_token": "NextToken", "output_token": "NextToken", "limit_key": "MaxResults",
                       "result_key": "GraphList"},
    }
}


@pytest.fixture(scope="module")
def paginating_session(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data = tmp_path_factory.mktemp("botocore-data")
    folder = Path(data) / "detective" / "2018-10-26"
    folder.mkdir(parents=True)
    (folder / "paginators-1.json").write_text(json.dumps(PAGINATORS))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(data))
    return boto3.session.Session(botocore_session=session)


def test_boto3_paginator(srv: Any, big_graph: str, paginating_session: Any) -> None:
    client = paginating_session.client(
        "detective", region_name="us-east-1", endpoint_url=srv.url, aws_access_key_id=ADMIN,
        aws_secret_access_key="x", config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    assert client.can_paginate("list_members")
    pages = list(client.get_paginator("list_members").paginate(GraphArn=big_graph, PaginationConfig={"PageSize": 100}))
    assert [len(p["MemberDetails"]) for p in pages] == [100, 100, N_MEMBERS + 1 - 200]
    ids = [m["AccountId"] for p in pages for m in p["MemberDetails"]]
    assert len(set(ids)) == N_MEMBERS + 1

    # MaxItems and StartingToken: resume where a truncated run stopped.
    paginator = client.get_paginator("list_members")
    head = paginator.paginate(GraphArn=big_graph, PaginationConfig={"PageSize": 40, "MaxItems": 90}).build_full_result()
    assert len(head["MemberDetails"]) == 90 and head["NextToken"]
    tail = paginator.paginate(
        GraphArn=big_graph, PaginationConfig={"PageSize": 40, "StartingToken": head["NextToken"]}
    ).build_full_result()
    resumed = [m["AccountId"] for m in head["MemberDetails"] + tail["MemberDetails"]]
    assert resumed == ids

    graphs = client.get_paginator("list_graphs").paginate().build_full_result()
    assert [g["Arn"] for g in graphs["GraphList"]] == [big_graph]
