"""TagResource, UntagResource, ListTagsForResource and their limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from e2e_helpers import assert_aws_error, expect_error, invite, module_server, raw


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, name="tags") as server:
        yield server


def test_tag_untag_list_roundtrip(srv: Any) -> None:
    c = srv.client("600000000001")
    arn = c.create_graph()["GraphArn"]
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
    response = c.tag_resource(ResourceArn=arn, Tags={"env": "prod", "team": "sec", "a:b/c.d=e+f-g_h": "v"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"env": "prod", "team": "sec", "a:b/c.d=e+f-g_h": "v"}
    # Tagging an existing key replaces its value; others are kept.
    c.tag_resource(ResourceArn=arn, Tags={"env": "staging", "new": ""})
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {
        "env": "staging", "team": "sec", "a:b/c.d=e+f-g_h": "v", "new": "",
    }
    response = c.untag_resource(ResourceArn=arn, TagKeys=["team", "a:b/c.d=e+f-g_h", "never-there"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"env": "staging", "new": ""}


def test_limits_of_keys_values_and_counts(srv: Any) -> None:
    c = srv.client("600000000002")
    arn = c.create_graph()["GraphArn"]
    # At the limits: accepted.
    c.tag_resource(ResourceArn=arn, Tags={"k" * 128: "v" * 256})
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"k" * 128: "v" * 256}
    c.untag_resource(ResourceArn=arn, TagKeys=["k" * 128])

    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags={"k" * 129: "v"})
    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags={"k": "v" * 257})
    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags={"aws:reserved": "v"})
    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags={"has space": "v"})
    fifty_one = {f"key{i}": str(i) for i in range(51)}
    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags=fifty_one)
    expect_error("ValidationException", 400, c.untag_resource, ResourceArn=arn, TagKeys=list(fifty_one))
    # Nothing of the refused requests was applied.
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}

    # 50 tags in total is the most a graph may have, across requests too.
    c.tag_resource(ResourceArn=arn, Tags={f"key{i}": str(i) for i in range(30)})
    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags={f"more{i}": "x" for i in range(21)})
    c.tag_resource(ResourceArn=arn, Tags={f"more{i}": "x" for i in range(20)})
    assert len(c.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 50
    # Replacing values of existing keys does not add tags.
    c.tag_resource(ResourceArn=arn, Tags={"key0": "changed"})
    tags = c.list_tags_for_resource(ResourceArn=arn)["Tags"]
    assert len(tags) == 50 and tags["key0"] == "changed"


def test_non_ascii_values_count_characters(srv: Any) -> None:
    c = srv.client("600000000009")
    arn = c.create_graph()["GraphArn"]
    value = "é" * 256  # 512 bytes of UTF-8, 256 characters
    c.tag_resource(ResourceArn=arn, Tags={"name": value, "city": "Zürich – 東京"})
    assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"name": value, "city": "Zürich – 東京"}
    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags={"name": "é" * 257})
    # Keys allow only the model's ASCII characters.
    expect_error("ValidationException", 400, c.tag_resource, ResourceArn=arn, Tags={"clé": "v"})


def test_create_graph_tag_limits(srv: Any) -> None:
    c = srv.client("600000000003")
    expect_error("ValidationException", 400, c.create_graph, Tags={f"k{i}": "v" for i in range(51)})
    expect_error("ValidationException", 400, c.create_graph, Tags={"aws:x": "v"})
    expect_error("ValidationException", 400, c.create_graph, Tags={"k" * 129: "v"})
    expect_error("ValidationException", 400, c.create_graph, Tags={"k": "v" * 257})
    assert c.list_graphs()["GraphList"] == []
    arn = c.create_graph(Tags={f"k{i}": "v" for i in range(50)})["GraphArn"]
    assert len(c.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 50


def test_validation_message_names_the_tags_member(srv: Any) -> None:
    c = srv.client("600000000004")
    arn = c.create_graph()["GraphArn"]
    response = raw(srv, "POST", "/tags/" + quote(arn, safe=""), body={"Tags": {"aws:x": "v"}}, account="600000000004")
    body = assert_aws_error(response, 400, "ValidationException")
    assert body["message"].startswith("1 validation error detected: ")
    assert "at 'tags'" in body["message"]
    assert body.get("ErrorCode") == "INVALID_REQUEST_BODY"


def test_tags_of_someone_elses_graph_are_not_found(srv: Any) -> None:
    owner = srv.client("600000000005")
    arn = owner.create_graph(Tags={"secret": "x"})["GraphArn"]
    invite(owner, arn, ("600000000006", "m@example.com"))
    srv.client("600000000006").accept_invitation(GraphArn=arn)
    for account in ("600000000006", "600000000007"):
        c = srv.client(account)
        expect_error("ResourceNotFoundException", 404, c.list_tags_for_resource, ResourceArn=arn)
        expect_error("ResourceNotFoundException", 404, c.tag_resource, ResourceArn=arn, Tags={"x": "y"})
        expect_error("ResourceNotFoundException", 404, c.untag_resource, ResourceArn=arn, TagKeys=["secret"])
    assert owner.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"secret": "x"}
    ghost = "arn:aws:detective:us-east-1:600000000005:graph:" + "a" * 32
    expect_error("ResourceNotFoundException", 404, owner.list_tags_for_resource, ResourceArn=ghost)


def test_bad_resource_arn(srv: Any) -> None:
    response = raw(srv, "GET", "/tags/" + quote("arn:aws:s3:::bucket", safe=""), account="600000000008")
    body = assert_aws_error(response, 400, "ValidationException")
    assert "at 'resourceArn'" in body["message"]
    assert body.get("ErrorCode") == "INVALID_GRAPH_ARN"
