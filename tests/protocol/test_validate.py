"""Request validation: AWS's message form, member paths, the documented email quirk."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from gumshoe.errors import SerializationException, ValidationException
from gumshoe.protocol.model import service_model
from gumshoe.protocol.parser import OperationCodec
from gumshoe.protocol.validate import OPTIONAL_OVERRIDES, compile_shape, lower_camel, parse_timestamp, render

ARN = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef"
GRAPH_ARN_PATTERN = r"^arn:aws[-\w]{0,10}?:detective:[-\w]{2,20}?:\d{12}?:graph:[abcdef\d]{32}?$"
EMAIL_PATTERN = r"^.+@(?:(?:(?!-)[A-Za-z0-9-]{1,62})?[A-Za-z0-9]{1}\.)+[A-Za-z]{2,63}$"
TAG_KEY_PATTERN = r"^(?!aws:)[a-zA-Z+-=._:/]+$"
ENUM_PACKAGES = "[DETECTIVE_CORE, EKS_AUDIT, ASFF_SECURITYHUB_FINDING]"

_CODECS: dict[str, OperationCodec] = {}


def codec(name: str) -> OperationCodec:
    if name not in _CODECS:
        _CODECS[name] = OperationCodec(service_model().operation_model(name))
    return _CODECS[name]


def parse(name: str, body: Any, labels: dict[str, str] | None = None, query: bytes = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return codec(name).parse(labels or {}, query, raw)


def reject(name: str, body: Any, labels: dict[str, str] | None = None, query: bytes = b"") -> ValidationException:
    with pytest.raises(ValidationException) as info:
        parse(name, body, labels, query)
    exc = info.value
    assert exc.code == "ValidationException" and exc.status == 400
    return exc


def one(reason: str) -> str:
    return f"1 validation error detected: {reason}"


def account(n: int = 0, **over: Any) -> dict[str, Any]:
    return {"AccountId": str(111111111111 + n), "EmailAddress": f"user{n}@example.com", **over}


# --- Required members ------------------------------------------------------------------


def test_required_member_missing() -> None:
    exc = reject("ListMembers", {})
    reason = "Value null at 'graphArn' failed to satisfy constraint: Member must not be null"
    assert exc.message == one(reason)
    assert str(exc) == exc.message
    assert exc.members["ErrorCodeReason"] == reason


def test_required_member_explicit_null() -> None:
    exc = reject("ListMembers", {"GraphArn": None})
    assert exc.message == one("Value null at 'graphArn' failed to satisfy constraint: Member must not be null")


def test_required_member_missing_with_empty_body() -> None:
    exc = reject("DeleteGraph", b"")
    assert exc.message == one("Value null at 'graphArn' failed to satisfy constraint: Member must not be null")


def test_required_nested_member_missing() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": [account(0), {"EmailAddress": "a@example.com"}]})
    assert exc.message == one(
        "Value null at 'accounts.2.member.accountId' failed to satisfy constraint: Member must not be null"
    )


def test_required_uri_label_missing() -> None:
    exc = reject("ListTagsForResource", b"", labels={})
    assert exc.message == one("Value null at 'resourceArn' failed to satisfy constraint: Member must not be null")


def test_required_query_list_missing() -> None:
    exc = reject("UntagResource", b"", labels={"ResourceArn": ARN})
    assert exc.message == one("Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")


# --- Lengths of strings, lists and maps ------------------------------------------------


def test_string_too_long() -> None:
    token = "t" * 1025
    exc = reject("ListGraphs", {"NextToken": token})
    assert exc.message == one(
        f"Value '{token}' at 'nextToken' failed to satisfy constraint: "
        "Member must have length less than or equal to 1024"
    )


def test_string_too_short() -> None:
    exc = reject("ListGraphs", {"NextToken": ""})
    assert exc.message == one(
        "Value '' at 'nextToken' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )


def test_string_length_boundaries_are_inclusive() -> None:
    assert parse("ListGraphs", {"NextToken": "t" * 1024}) == {"NextToken": "t" * 1024}
    assert parse("ListGraphs", {"NextToken": "t"}) == {"NextToken": "t"}


def test_string_length_counts_characters_not_bytes() -> None:
    # TagValue max is 256: 256 two-byte characters are still 256 characters.
    value = "é" * 256
    assert parse("TagResource", {"Tags": {"k": value}}, labels={"ResourceArn": ARN})["Tags"] == {"k": value}


def test_list_too_short() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": []})
    assert exc.message == one(
        "Value '[]' at 'accounts' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )


def test_list_too_long() -> None:
    ids = [str(111111111111 + n) for n in range(51)]
    exc = reject("GetMembers", {"GraphArn": ARN, "AccountIds": ids})
    assert exc.message == one(
        f"Value '[{', '.join(ids)}]' at 'accountIds' failed to satisfy constraint: "
        "Member must have length less than or equal to 50"
    )


def test_list_length_boundary_is_inclusive() -> None:
    ids = [str(111111111111 + n) for n in range(50)]
    assert parse("GetMembers", {"GraphArn": ARN, "AccountIds": ids})["AccountIds"] == ids
    many = [str(111111111111 + n) for n in range(200)]
    assert parse("BatchGetGraphMemberDatasources", {"GraphArn": ARN, "AccountIds": many})["AccountIds"] == many


def test_map_too_short_and_too_long() -> None:
    exc = reject("TagResource", {"Tags": {}}, labels={"ResourceArn": ARN})
    assert exc.message == one(
        "Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1"
    )
    tags = {f"k{n}": "v" for n in range(51)}
    exc = reject("TagResource", {"Tags": tags}, labels={"ResourceArn": ARN})
    assert exc.message.startswith("1 validation error detected: Value '{k0=v, k1=v, ")
    assert exc.message.endswith("' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")


def test_map_key_and_value_constraints() -> None:
    exc = reject("TagResource", {"Tags": {"aws:reserved": "v"}}, labels={"ResourceArn": ARN})
    assert exc.message == one(
        "Value '{aws:reserved=v}' at 'tags' failed to satisfy constraint: "
        f"Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {TAG_KEY_PATTERN}]"
    )
    long_value = "v" * 257
    exc = reject("TagResource", {"Tags": {"ok": long_value}}, labels={"ResourceArn": ARN})
    assert exc.message == one(
        f"Value '{{ok={long_value}}}' at 'tags' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must have length less than or equal to 256]"
    )


def test_map_null_value() -> None:
    exc = reject("TagResource", {"Tags": {"team": None}}, labels={"ResourceArn": ARN})
    assert exc.message.startswith("1 validation error detected: Value '{team=")
    assert exc.message.endswith(
        "}' at 'tags' failed to satisfy constraint: Map value must satisfy constraint: [Member must not be null]"
    )


# --- Patterns and enums ----------------------------------------------------------------


def test_pattern() -> None:
    exc = reject("ListMembers", {"GraphArn": "arn:aws:detective:us-east-1:111111111111:graph:XYZ"})
    assert exc.message == one(
        "Value 'arn:aws:detective:us-east-1:111111111111:graph:XYZ' at 'graphArn' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {GRAPH_ARN_PATTERN}"
    )
    assert exc.members == {"ErrorCode": "INVALID_GRAPH_ARN", "ErrorCodeReason": exc.message.split(": ", 1)[1]}


def test_pattern_must_match_the_whole_value() -> None:
    reject("ListMembers", {"GraphArn": ARN + "\n"})
    reject("ListMembers", {"GraphArn": ARN + "0"})
    reject("ListMembers", {"GraphArn": "x" + ARN})


def test_pattern_and_length_errors_on_the_same_value_are_both_reported() -> None:
    exc = reject("StartMonitoringMember", {"GraphArn": ARN, "AccountId": "12ab"})
    assert exc.message == (
        "2 validation errors detected: "
        "Value '12ab' at 'accountId' failed to satisfy constraint: Member must have length greater than or equal to 12; "
        "Value '12ab' at 'accountId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9]+$"
    )


def test_enum() -> None:
    exc = reject("UpdateDatasourcePackages", {"GraphArn": ARN, "DatasourcePackages": ["NOPE"]})
    assert exc.message == one(
        "Value 'NOPE' at 'datasourcePackages.1.member' failed to satisfy constraint: "
        f"Member must satisfy enum value set: {ENUM_PACKAGES}"
    )
    assert exc.members["ErrorCode"] == "INVALID_REQUEST_BODY"


def test_enum_is_case_sensitive() -> None:
    exc = reject("UpdateInvestigationState", {"GraphArn": ARN, "InvestigationId": "1" * 21, "State": "active"})
    assert exc.message == one(
        "Value 'active' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ACTIVE, ARCHIVED]"
    )


# --- Integers --------------------------------------------------------------------------


def test_integer_below_minimum() -> None:
    exc = reject("ListMembers", {"GraphArn": ARN, "MaxResults": 0})
    assert exc.message == one(
        "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
    )


def test_integer_above_maximum() -> None:
    exc = reject("ListMembers", {"GraphArn": ARN, "MaxResults": 201})
    assert exc.message == one(
        "Value '201' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 200"
    )


@pytest.mark.parametrize("value", [1, 200])
def test_integer_boundaries_are_inclusive(value: int) -> None:
    assert parse("ListMembers", {"GraphArn": ARN, "MaxResults": value}) == {"GraphArn": ARN, "MaxResults": value}


def test_integer_range_is_per_shape() -> None:
    # ListIndicators' MaxResults is the MaxResults shape (1..100), not MemberResultsLimit (1..200).
    exc = reject("ListIndicators", {"GraphArn": ARN, "InvestigationId": "1" * 21, "MaxResults": 101})
    assert exc.message == one(
        "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"
    )


# --- Paths, sensitive values, several errors --------------------------------------------


def test_nested_list_element_path() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": [account(0), account(1, AccountId="12345678901x"), account(2)]})
    assert exc.message == one(
        "Value '12345678901x' at 'accounts.2.member.accountId' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[0-9]+$"
    )


def test_null_list_element() -> None:
    exc = reject("GetMembers", {"GraphArn": ARN, "AccountIds": ["111111111111", None]})
    assert exc.message == one("Value null at 'accountIds.2.member' failed to satisfy constraint: Member must not be null")


def test_sensitive_email_is_not_echoed() -> None:
    secret = "alice-at-example.com"
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": [account(0, EmailAddress=secret)]})
    assert exc.message == one(
        "Value at 'accounts.1.member.emailAddress' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {EMAIL_PATTERN}"
    )
    assert secret not in exc.message
    assert all(secret not in str(v) for v in exc.members.values())


def test_sensitive_email_message_is_not_echoed() -> None:
    secret = "confidential " * 80  # 1040 characters, EmailMessage max is 1000
    exc = reject("CreateMembers", {"GraphArn": ARN, "Message": secret, "Accounts": [account(0)]})
    assert exc.message == one(
        "Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 1000"
    )
    assert "confidential" not in exc.message


def test_sensitive_email_is_not_echoed_in_a_too_long_list() -> None:
    # The list-length error renders the list; the accounts' email addresses must not appear in it.
    accounts = [account(n, EmailAddress=f"secret{n}@example.com") for n in range(51)]
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": accounts})
    assert exc.message.startswith("1 validation error detected: Value ")
    assert exc.message.endswith(
        " at 'accounts' failed to satisfy constraint: Member must have length less than or equal to 50"
    )
    assert "@example.com" not in exc.message
    assert all("@example.com" not in str(v) for v in exc.members.values())


def test_sensitive_email_is_not_echoed_when_the_parent_has_the_wrong_type() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": account(0, EmailAddress="secret@example.com")})
    assert "at 'accounts' failed to satisfy constraint: " in exc.message
    assert "secret@example.com" not in exc.message


def test_sensitive_value_of_wrong_type_is_not_echoed() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": [account(0, EmailAddress=123456789)]})
    assert "123456789" not in exc.message
    assert "at 'accounts.1.member.emailAddress'" in exc.message


def test_several_errors_are_counted_and_joined() -> None:
    exc = reject("ListMembers", {"GraphArn": "bad", "NextToken": "", "MaxResults": 0})
    reasons = [
        f"Value 'bad' at 'graphArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {GRAPH_ARN_PATTERN}",
        "Value '' at 'nextToken' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
    ]
    assert exc.message == "3 validation errors detected: " + "; ".join(reasons)
    assert exc.members == {"ErrorCode": "INVALID_REQUEST_BODY"}  # no single reason for several errors


def test_two_errors_use_plural_noun() -> None:
    exc = reject("GetInvestigation", {})
    assert exc.message == (
        "2 validation errors detected: "
        "Value null at 'graphArn' failed to satisfy constraint: Member must not be null; "
        "Value null at 'investigationId' failed to satisfy constraint: Member must not be null"
    )


# --- Unknown members --------------------------------------------------------------------


def test_unknown_top_level_member_is_rejected() -> None:
    exc = reject("ListGraphs", {"Bogus": 1})
    assert exc.message == one("Value '1' at 'bogus' failed to satisfy constraint: Member is not defined by the model of this operation")


def test_unknown_nested_member_is_rejected() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": [account(0, Extra="x")]})
    assert exc.message == one(
        "Value 'x' at 'accounts.1.member.extra' failed to satisfy constraint: Member is not defined by the model of this operation"
    )


def test_member_name_case_matters() -> None:
    exc = reject("ListMembers", {"graphArn": ARN})
    assert "Value null at 'graphArn' failed to satisfy constraint: Member must not be null" in exc.message
    assert "Member is not defined by the model of this operation" in exc.message


def test_body_member_for_operation_without_input_is_rejected() -> None:
    exc = reject("DisableOrganizationAdminAccount", {"AccountId": "111111111111"})
    assert exc.message == one(
        "Value '111111111111' at 'accountId' failed to satisfy constraint: Member is not defined by the model of this operation"
    )
    assert parse("DisableOrganizationAdminAccount", b"") == {}
    assert parse("DisableOrganizationAdminAccount", {}) == {}


def test_path_member_in_body_is_unknown() -> None:
    exc = reject("ListTagsForResource", {"ResourceArn": ARN}, labels={"ResourceArn": ARN})
    assert "Member is not defined by the model of this operation" in exc.message
    assert "at 'resourceArn'" in exc.message


def test_query_member_in_body_is_unknown() -> None:
    exc = reject("UntagResource", {"TagKeys": ["a"]}, labels={"ResourceArn": ARN}, query=b"tagKeys=a")
    assert exc.message == one(
        "Value '[a]' at 'tagKeys' failed to satisfy constraint: Member is not defined by the model of this operation"
    )


# --- Wrong JSON types --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "path"),
    [
        ("ListMembers", {"GraphArn": ARN, "MaxResults": "5"}, "maxResults"),  # string for integer
        ("ListMembers", {"GraphArn": ARN, "MaxResults": 5.5}, "maxResults"),  # fraction for integer
        ("ListMembers", {"GraphArn": ARN, "MaxResults": True}, "maxResults"),  # boolean for integer
        ("ListMembers", {"GraphArn": 12}, "graphArn"),  # number for string
        ("ListMembers", {"GraphArn": [ARN]}, "graphArn"),  # list for string
        ("ListGraphs", {"NextToken": {"a": 1}}, "nextToken"),  # object for string
        ("ListInvestigations", {"GraphArn": ARN, "FilterCriteria": []}, "filterCriteria"),  # list for structure
        ("ListInvestigations", {"GraphArn": ARN, "SortCriteria": "SEVERITY"}, "sortCriteria"),  # string for structure
        ("GetMembers", {"GraphArn": ARN, "AccountIds": "111111111111"}, "accountIds"),  # string for list
        ("CreateMembers", {"GraphArn": ARN, "Accounts": {"AccountId": "111111111111"}}, "accounts"),  # object for list
        ("CreateMembers", {"GraphArn": ARN, "Accounts": ["111111111111"]}, "accounts.1.member"),  # string for structure
        ("CreateMembers", {"GraphArn": ARN, "Accounts": [account(0)], "DisableEmailNotification": "true"}, "disableEmailNotification"),
        ("UpdateOrganizationConfiguration", {"GraphArn": ARN, "AutoEnable": 1}, "autoEnable"),  # number for boolean
        ("CreateGraph", {"Tags": ["a"]}, "tags"),  # list for map
        ("StartInvestigation", {"GraphArn": ARN, "EntityArn": "arn:x", "ScopeStartTime": "yesterday",
                                "ScopeEndTime": "2021-08-18T16:35:56Z"}, "scopeStartTime"),
        ("StartInvestigation", {"GraphArn": ARN, "EntityArn": "arn:x", "ScopeStartTime": True,
                                "ScopeEndTime": "2021-08-18T16:35:56Z"}, "scopeStartTime"),
    ],
)
def test_wrong_json_type_is_a_validation_error(name: str, body: dict[str, Any], path: str) -> None:
    exc = reject(name, body)
    assert exc.message.startswith("1 validation error detected: ")
    assert f"at '{path}' failed to satisfy constraint: " in exc.message


def test_wrong_type_message_form() -> None:
    assert reject("ListMembers", {"GraphArn": ARN, "MaxResults": "5"}).message == one(
        "Value '5' at 'maxResults' failed to satisfy constraint: Member must be an integer"
    )
    assert reject("ListMembers", {"GraphArn": 12}).message == one(
        "Value '12' at 'graphArn' failed to satisfy constraint: Member must be a string"
    )
    assert reject("ListInvestigations", {"GraphArn": ARN, "FilterCriteria": []}).message == one(
        "Value '[]' at 'filterCriteria' failed to satisfy constraint: Member must be a structure"
    )


# --- The documented quirk: Account.EmailAddress may be absent ----------------------------


def test_account_email_may_be_absent() -> None:
    assert ("Account", "EmailAddress") in OPTIONAL_OVERRIDES
    assert "EmailAddress" in service_model().shape_for("Account").required_members  # the model says required
    body = {"GraphArn": ARN, "Accounts": [{"AccountId": "111111111111"}, account(1)]}
    assert parse("CreateMembers", body) == body


def test_account_email_when_present_is_still_validated() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": [account(0, EmailAddress="")]})
    assert exc.message == (
        "2 validation errors detected: "
        "Value at 'accounts.1.member.emailAddress' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value at 'accounts.1.member.emailAddress' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {EMAIL_PATTERN}"
    )


def test_override_does_not_relax_other_required_members() -> None:
    exc = reject("CreateMembers", {"GraphArn": ARN, "Accounts": [{}]})
    assert exc.message == one(
        "Value null at 'accounts.1.member.accountId' failed to satisfy constraint: Member must not be null"
    )


# --- Unreadable bodies and empty bodies --------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b"{'a': 1}", b"not json", b'{"GraphArn": }', b"\xff\xfe"])
def test_malformed_json_is_serialization_exception(body: bytes) -> None:
    with pytest.raises(SerializationException) as info:
        codec("ListMembers").parse({}, b"", body)
    assert info.value.code == "SerializationException"
    assert info.value.status == 400


@pytest.mark.parametrize("body", [b"[]", b'[{"GraphArn": "x"}]', b"null", b"42", b'"text"', b"true"])
def test_non_object_json_is_serialization_exception(body: bytes) -> None:
    with pytest.raises(SerializationException):
        codec("ListGraphs").parse({}, b"", body)


def test_array_body_is_rejected_even_for_operation_without_input() -> None:
    with pytest.raises(SerializationException):
        codec("DisableOrganizationAdminAccount").parse({}, b"", b"[]")


@pytest.mark.parametrize("body", [b"", b"   ", b"\n", b"{}", b" { } "])
def test_empty_body_for_all_optional_operation_is_empty_params(body: bytes) -> None:
    assert codec("ListGraphs").parse({}, b"", body) == {}


def test_explicit_null_optional_members_are_dropped() -> None:
    assert parse("ListGraphs", {"NextToken": None, "MaxResults": None}) == {}


# --- Building blocks ---------------------------------------------------------------------


def test_lower_camel() -> None:
    assert lower_camel("GraphArn") == "graphArn"
    assert lower_camel("TTPsObservedDetail") == "tTPsObservedDetail"
    assert lower_camel("") == ""


def test_render_like_java() -> None:
    assert render(True) == "true"
    assert render(False) == "false"
    assert render([1, "a", [True]]) == "[1, a, [true]]"
    assert render({"k": "v", "n": 2}) == "{k=v, n=2}"
    assert render("plain") == "plain"


def test_render_null_like_java() -> None:
    # render() promises Java's rendering: a null inside a list or map prints as "null".
    assert render([None, "a"]) == "[null, a]"
    assert render({"team": None}) == "{team=null}"


def test_parse_timestamp_forms() -> None:
    utc = dt.UTC
    assert parse_timestamp("2021-08-18T16:35:56.284Z") == dt.datetime(2021, 8, 18, 16, 35, 56, 284000, tzinfo=utc)
    assert parse_timestamp("2021-08-18T16:35:56Z") == dt.datetime(2021, 8, 18, 16, 35, 56, tzinfo=utc)
    assert parse_timestamp("2021-08-18T18:35:56+02:00") == dt.datetime(2021, 8, 18, 16, 35, 56, tzinfo=utc)
    assert parse_timestamp("2021-08-18T16:35:56") == dt.datetime(2021, 8, 18, 16, 35, 56, tzinfo=utc)
    assert parse_timestamp(1629304556) == dt.datetime(2021, 8, 18, 16, 35, 56, tzinfo=utc)
    assert parse_timestamp(1629304556.5) == dt.datetime(2021, 8, 18, 16, 35, 56, 500000, tzinfo=utc)
    for bad in ("yesterday", "", True, None, [], {}, 10**20):
        assert parse_timestamp(bad) is None, bad
    parsed = parse_timestamp("2021-08-18T18:35:56+02:00")
    assert parsed is not None and parsed.utcoffset() == dt.timedelta(0)


def test_compiled_validator_converts_timestamps_and_collects_errors() -> None:
    shape = service_model().shape_for("DateFilter")
    check = compile_shape(shape)
    errors: list[str] = []
    out = check({"StartInclusive": "2021-08-18T16:35:56Z", "EndInclusive": 1629304556}, "filterCriteria.createdTime", errors)
    assert errors == []
    assert out["StartInclusive"] == out["EndInclusive"] == dt.datetime(2021, 8, 18, 16, 35, 56, tzinfo=dt.UTC)
    out = check({"StartInclusive": "2021-08-18T16:35:56Z"}, "filterCriteria.createdTime", errors)
    assert errors == [
        "Value null at 'filterCriteria.createdTime.endInclusive' failed to satisfy constraint: Member must not be null"
    ]
