"""OperationCodec.parse: labels, query string and JSON body into one validated params dict."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from gumshoe.errors import SerializationException, ValidationException
from gumshoe.protocol.model import service_model
from gumshoe.protocol.parser import OperationCodec

ARN = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef"
UTC = dt.UTC


def codec(name: str) -> OperationCodec:
    return OperationCodec(service_model().operation_model(name))


def body(value: Any) -> bytes:
    return orjson.dumps(value)


# --- What a codec learns from the model -----------------------------------------------


def test_codec_splits_members_by_location() -> None:
    untag = codec("UntagResource")
    assert untag.name == "UntagResource"
    assert untag.uri_members == {"ResourceArn": "ResourceArn"}
    assert untag.query_members == {"tagKeys": ("TagKeys", True)}
    assert untag.body_members == set()
    tag = codec("TagResource")
    assert tag.uri_members == {"ResourceArn": "ResourceArn"}
    assert tag.query_members == {}
    assert tag.body_members == {"Tags"}
    members = codec("CreateMembers")
    assert members.uri_members == {} and members.query_members == {}
    assert members.body_members == {"GraphArn", "Message", "DisableEmailNotification", "Accounts"}


@pytest.mark.parametrize(
    ("name", "status"),
    [("TagResource", 204), ("UntagResource", 204), ("ListTagsForResource", 200), ("ListGraphs", 200), ("AcceptInvitation", 200)],
)
def test_codec_status_from_model(name: str, status: int) -> None:
    assert codec(name).status == status


def test_every_operation_has_a_codec() -> None:
    model = service_model()
    for name in model.operation_names:
        assert codec(name).operation is model.operation_model(name)


# --- Labels and query string ----------------------------------------------------------


def test_uri_label_becomes_member() -> None:
    assert codec("ListTagsForResource").parse({"ResourceArn": ARN}, b"", b"") == {"ResourceArn": ARN}


def test_uri_label_is_validated() -> None:
    with pytest.raises(ValidationException) as info:
        codec("ListTagsForResource").parse({"ResourceArn": "not-an-arn"}, b"", b"")
    assert info.value.message.startswith(
        "1 validation error detected: Value 'not-an-arn' at 'resourceArn' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    )
    assert info.value.members["ErrorCode"] == "INVALID_GRAPH_ARN"


def test_label_and_body_are_merged() -> None:
    params = codec("TagResource").parse({"ResourceArn": ARN}, b"", body({"Tags": {"team": "blue"}}))
    assert params == {"ResourceArn": ARN, "Tags": {"team": "blue"}}


def test_repeated_query_keys_make_a_list_in_order() -> None:
    params = codec("UntagResource").parse({"ResourceArn": ARN}, b"tagKeys=b&tagKeys=a&tagKeys=c", b"")
    assert params == {"ResourceArn": ARN, "TagKeys": ["b", "a", "c"]}


def test_single_query_value_is_still_a_list() -> None:
    params = codec("UntagResource").parse({"ResourceArn": ARN}, b"tagKeys=team", b"")
    assert params["TagKeys"] == ["team"]


def test_query_values_are_percent_decoded() -> None:
    params = codec("UntagResource").parse({"ResourceArn": ARN}, b"tagKeys=a%2Bb%3Ac%2Fd&tagKeys=x%3Dy", b"")
    assert params["TagKeys"] == ["a+b:c/d", "x=y"]


def test_unknown_query_parameters_are_ignored() -> None:
    params = codec("UntagResource").parse({"ResourceArn": ARN}, b"x-id=UntagResource&tagKeys=k&other", b"")
    assert params == {"ResourceArn": ARN, "TagKeys": ["k"]}


def test_blank_query_value_is_kept_and_validated() -> None:
    with pytest.raises(ValidationException) as info:
        codec("UntagResource").parse({"ResourceArn": ARN}, b"tagKeys=", b"")
    assert "at 'tagKeys.1.member' failed to satisfy constraint: Member must have length greater than or equal to 1" in info.value.message


def test_query_for_operation_without_query_members_is_ignored() -> None:
    assert codec("ListGraphs").parse({}, b"tagKeys=a&MaxResults=5", b"") == {}


# --- Body ------------------------------------------------------------------------------


def test_body_values_keep_their_types() -> None:
    params = codec("CreateMembers").parse(
        {}, b"",
        body({"GraphArn": ARN, "Message": "Bienvenue ✓ café", "DisableEmailNotification": False,
              "Accounts": [{"AccountId": "111111111111", "EmailAddress": "a@example.com"}]}),
    )
    assert params == {
        "GraphArn": ARN, "Message": "Bienvenue ✓ café", "DisableEmailNotification": False,
        "Accounts": [{"AccountId": "111111111111", "EmailAddress": "a@example.com"}],
    }
    assert params["DisableEmailNotification"] is False


def test_integer_in_body_is_an_int() -> None:
    params = codec("ListMembers").parse({}, b"", b'{"GraphArn": "%s", "MaxResults": 25}' % ARN.encode())
    assert params["MaxResults"] == 25 and type(params["MaxResults"]) is int


@pytest.mark.parametrize(
    "wire",
    ["2021-08-18T16:35:56Z", "2021-08-18T16:35:56.000Z", "2021-08-18T18:35:56+02:00", 1629304556, 1629304556.0],
)
def test_timestamps_become_utc_datetimes(wire: Any) -> None:
    params = codec("StartInvestigation").parse(
        {}, b"",
        body({"GraphArn": ARN, "EntityArn": "arn:aws:iam::111111111111:user/alice",
              "ScopeStartTime": wire, "ScopeEndTime": "2021-08-19T00:00:00.123456Z"}),
    )
    start = params["ScopeStartTime"]
    assert isinstance(start, dt.datetime)
    assert start.utcoffset() == dt.timedelta(0)
    assert start == dt.datetime(2021, 8, 18, 16, 35, 56, tzinfo=UTC)
    assert params["ScopeEndTime"] == dt.datetime(2021, 8, 19, 0, 0, 0, 123456, tzinfo=UTC)


def test_nested_timestamps_become_datetimes() -> None:
    params = codec("ListInvestigations").parse(
        {}, b"",
        body({"GraphArn": ARN, "FilterCriteria": {"CreatedTime": {
            "StartInclusive": "2021-01-01T00:00:00Z", "EndInclusive": "2021-12-31T23:59:59.999Z"}}}),
    )
    created = params["FilterCriteria"]["CreatedTime"]
    assert created == {
        "StartInclusive": dt.datetime(2021, 1, 1, tzinfo=UTC),
        "EndInclusive": dt.datetime(2021, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    }


def test_utf8_body() -> None:
    raw = f'{{"GraphArn": "{ARN}", "Accounts": [{{"AccountId": "111111111111"}}], "Message": "héllo ✓"}}'
    params = codec("CreateMembers").parse({}, b"", raw.encode("utf-8"))
    assert params["Message"] == "héllo ✓"


def test_operation_without_input_accepts_empty_object_and_empty_body() -> None:
    c = codec("DisableOrganizationAdminAccount")
    assert c.parse({}, b"", b"") == {}
    assert c.parse({}, b"", b"{}") == {}
    with pytest.raises(ValidationException):
        c.parse({}, b"", b'{"x": 1}')
    with pytest.raises(SerializationException):
        c.parse({}, b"", b"{")


def test_serialization_exception_for_non_object_bodies() -> None:
    for raw in (b"[]", b"[1]", b"null", b"1", b'"s"'):
        with pytest.raises(SerializationException) as info:
            codec("ListMembers").parse({}, b"", raw)
        assert info.value.status == 400


# --- ValidationException's ErrorCode ---------------------------------------------------


def test_error_code_invalid_graph_arn_when_only_the_graph_arn_is_wrong() -> None:
    with pytest.raises(ValidationException) as info:
        codec("ListMembers").parse({}, b"", body({"GraphArn": "arn:nope"}))
    assert info.value.members["ErrorCode"] == "INVALID_GRAPH_ARN"
    assert info.value.members["ErrorCodeReason"] == info.value.message.removeprefix("1 validation error detected: ")


def test_error_code_invalid_request_body_otherwise() -> None:
    with pytest.raises(ValidationException) as info:
        codec("ListMembers").parse({}, b"", body({"GraphArn": ARN, "MaxResults": 0}))
    assert info.value.members["ErrorCode"] == "INVALID_REQUEST_BODY"
    with pytest.raises(ValidationException) as info:
        codec("ListMembers").parse({}, b"", body({"GraphArn": "arn:nope", "MaxResults": 0}))
    assert info.value.members == {"ErrorCode": "INVALID_REQUEST_BODY"}


def test_graph_arn_list_element_errors_are_request_body_errors() -> None:
    with pytest.raises(ValidationException) as info:
        codec("BatchGetMembershipDatasources").parse({}, b"", body({"GraphArns": ["arn:nope"]}))
    assert "at 'graphArns.1.member'" in info.value.message
    assert info.value.members["ErrorCode"] == "INVALID_REQUEST_BODY"
