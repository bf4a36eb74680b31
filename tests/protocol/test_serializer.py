"""Responses and errors on the wire: timestamps, absent members, empty bodies, error bodies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from gumshoe import errors as e
from gumshoe.protocol.model import service_model
from gumshoe.protocol.parser import OperationCodec
from gumshoe.protocol.serializer import compile_output, error_body, iso8601

ARN = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef"
UTC = dt.UTC


def codec(name: str) -> OperationCodec:
    return OperationCodec(service_model().operation_model(name))


def out(name: str, result: Any) -> Any:
    return orjson.loads(codec(name).serialize(result))


# --- iso8601 -----------------------------------------------------------------------------


def test_iso8601_milliseconds_and_z() -> None:
    assert iso8601(dt.datetime(2021, 8, 18, 16, 35, 56, 284000, tzinfo=UTC)) == "2021-08-18T16:35:56.284Z"
    assert iso8601(dt.datetime(2021, 8, 18, 16, 35, 56, tzinfo=UTC)) == "2021-08-18T16:35:56.000Z"


def test_iso8601_truncates_to_milliseconds() -> None:
    assert iso8601(dt.datetime(2021, 8, 18, 16, 35, 56, 284999, tzinfo=UTC)) == "2021-08-18T16:35:56.284Z"
    assert iso8601(dt.datetime(2021, 8, 18, 16, 35, 56, 999, tzinfo=UTC)) == "2021-08-18T16:35:56.000Z"


def test_iso8601_converts_other_zones_to_utc() -> None:
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert iso8601(dt.datetime(2021, 8, 18, 18, 35, 56, 284000, tzinfo=plus2)) == "2021-08-18T16:35:56.284Z"
    minus5 = dt.timezone(dt.timedelta(hours=-5))
    assert iso8601(dt.datetime(2021, 12, 31, 22, 0, 0, tzinfo=minus5)) == "2022-01-01T03:00:00.000Z"


def test_iso8601_naive_is_taken_as_utc() -> None:
    assert iso8601(dt.datetime(2021, 8, 18, 16, 35, 56, 284000)) == "2021-08-18T16:35:56.284Z"


# --- Timestamps in results -----------------------------------------------------------------


def test_timestamp_from_datetime() -> None:
    created = dt.datetime(2021, 8, 18, 16, 35, 56, 284000, tzinfo=UTC)
    assert out("CreateGraph", {"GraphArn": ARN}) == {"GraphArn": ARN}
    assert out("ListGraphs", {"GraphList": [{"Arn": ARN, "CreatedTime": created}]}) == {
        "GraphList": [{"Arn": ARN, "CreatedTime": "2021-08-18T16:35:56.284Z"}]
    }


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (1629304556, "2021-08-18T16:35:56.000Z"),
        (1629304556.284, "2021-08-18T16:35:56.284Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1629304556.5, "2021-08-18T16:35:56.500Z"),
    ],
)
def test_timestamp_from_epoch_seconds(epoch: float, text: str) -> None:
    assert out("GetInvestigation", {"CreatedTime": epoch}) == {"CreatedTime": text}


def test_timestamps_in_nested_maps_and_lists() -> None:
    t = dt.datetime(2022, 1, 3, 4, 5, 6, 7000, tzinfo=UTC)
    result = {
        "DatasourcePackages": {
            "DETECTIVE_CORE": {
                "DatasourcePackageIngestState": "STARTED",
                "LastIngestStateChange": {"STARTED": {"Timestamp": t}, "STOPPED": {"Timestamp": 1641182706}},
            }
        }
    }
    assert out("ListDatasourcePackages", result) == {
        "DatasourcePackages": {
            "DETECTIVE_CORE": {
                "DatasourcePackageIngestState": "STARTED",
                "LastIngestStateChange": {
                    "STARTED": {"Timestamp": "2022-01-03T04:05:06.007Z"},
                    "STOPPED": {"Timestamp": "2022-01-03T04:05:06.000Z"},
                },
            }
        }
    }


def test_timestamp_in_list_of_structures() -> None:
    t = dt.datetime(2021, 8, 18, 16, 35, 56, 284000, tzinfo=UTC)
    got = out("ListOrganizationAdminAccounts", {"Administrators": [
        {"AccountId": "111111111111", "GraphArn": ARN, "DelegationTime": t},
        {"AccountId": "222222222222", "DelegationTime": 1629304556},
    ]})
    assert got == {"Administrators": [
        {"AccountId": "111111111111", "GraphArn": ARN, "DelegationTime": "2021-08-18T16:35:56.284Z"},
        {"AccountId": "222222222222", "DelegationTime": "2021-08-18T16:35:56.000Z"},
    ]}


# --- Absent members -------------------------------------------------------------------------


def test_none_members_are_dropped_at_top_level() -> None:
    assert out("GetInvestigation", {"GraphArn": ARN, "Status": None, "CreatedTime": None}) == {"GraphArn": ARN}
    assert out("CreateGraph", {"GraphArn": None}) == {}
    assert out("ListGraphs", {"GraphList": [], "NextToken": None}) == {"GraphList": []}


def test_none_members_are_dropped_in_nested_structures() -> None:
    got = out("GetMembers", {
        "MemberDetails": [{"AccountId": "111111111111", "EmailAddress": None, "InvitedTime": None, "Status": "ENABLED",
                           "VolumeUsageByDatasourcePackage": {"DETECTIVE_CORE": {"VolumeUsageInBytes": 5, "VolumeUsageUpdateTime": None}}}],
        "UnprocessedAccounts": [{"AccountId": "222222222222", "Reason": None}],
    })
    assert got == {
        "MemberDetails": [{"AccountId": "111111111111", "Status": "ENABLED",
                           "VolumeUsageByDatasourcePackage": {"DETECTIVE_CORE": {"VolumeUsageInBytes": 5}}}],
        "UnprocessedAccounts": [{"AccountId": "222222222222"}],
    }


def test_falsy_values_are_kept() -> None:
    assert out("DescribeOrganizationConfiguration", {"AutoEnable": False}) == {"AutoEnable": False}
    assert out("ListGraphs", {"GraphList": [], "NextToken": ""}) == {"GraphList": [], "NextToken": ""}
    assert out("GetMembers", {"MemberDetails": [{"VolumeUsageInBytes": 0, "PercentOfGraphUtilization": 0}]}) == {
        "MemberDetails": [{"VolumeUsageInBytes": 0, "PercentOfGraphUtilization": 0.0}]
    }


def test_members_outside_the_model_are_not_emitted() -> None:
    assert out("CreateGraph", {"GraphArn": ARN, "_owner": "111111111111"}) == {"GraphArn": ARN}
    got = out("ListGraphs", {"GraphList": [{"Arn": ARN, "internal_id": 7}], "extra": 1})
    assert got == {"GraphList": [{"Arn": ARN}]}


def test_doubles_are_floats_on_the_wire() -> None:
    raw = codec("GetMembers").serialize({"MemberDetails": [{"PercentOfGraphUtilization": 50}]})
    assert raw == b'{"MemberDetails":[{"PercentOfGraphUtilization":50.0}]}'


def test_long_values_keep_precision() -> None:
    big = 2**53 + 1
    assert out("GetMembers", {"MemberDetails": [{"VolumeUsageInBytes": big}]}) == {"MemberDetails": [{"VolumeUsageInBytes": big}]}


# --- Empty bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["TagResource", "UntagResource"])
@pytest.mark.parametrize("result", [None, {}])
def test_204_operations_have_empty_body(name: str, result: Any) -> None:
    c = codec(name)
    assert c.status == 204
    assert c.has_body_output is False
    assert c.serialize(result) == b""


NO_OUTPUT = [n for n in service_model().operation_names if service_model().operation_model(n).output_shape is None]


def test_operations_without_output() -> None:
    assert sorted(NO_OUTPUT) == sorted([
        "AcceptInvitation", "DeleteGraph", "DisableOrganizationAdminAccount", "DisassociateMembership",
        "EnableOrganizationAdminAccount", "RejectInvitation", "StartMonitoringMember", "UpdateDatasourcePackages",
        "UpdateInvestigationState", "UpdateOrganizationConfiguration",
    ])


@pytest.mark.parametrize("name", NO_OUTPUT)
@pytest.mark.parametrize("result", [None, {}, {"ignored": 1}])
def test_operations_without_output_give_empty_object(name: str, result: Any) -> None:
    c = codec(name)
    assert c.status == 200
    assert c.serialize(result) == b"{}"


def test_output_operation_with_no_result_gives_empty_object() -> None:
    assert codec("ListGraphs").serialize(None) == b"{}"
    assert codec("ListGraphs").serialize({}) == b"{}"


def test_compile_output_is_reusable_with_a_shared_cache() -> None:
    model = service_model()
    cache: dict[str, Any] = {}
    first = compile_output(model.shape_for("GetMembersResponse"), cache)
    second = compile_output(model.shape_for("ListInvitationsResponse"), cache)
    member = {"AccountId": "111111111111", "InvitedTime": 0, "Nope": 1}
    assert first({"MemberDetails": [member]}) == {"MemberDetails": [{"AccountId": "111111111111", "InvitedTime": "1970-01-01T00:00:00.000Z"}]}
    assert second({"Invitations": [member]}) == {"Invitations": [{"AccountId": "111111111111", "InvitedTime": "1970-01-01T00:00:00.000Z"}]}


# --- Error bodies --------------------------------------------------------------------------


def test_error_body_has_both_message_spellings() -> None:
    status, raw = error_body(e.ResourceNotFoundException("The graph does not exist."))
    assert status == 404
    assert orjson.loads(raw) == {"message": "The graph does not exist.", "Message": "The graph does not exist."}


def test_validation_error_body_members() -> None:
    status, raw = error_body(e.ValidationException("bad", error_code="INVALID_GRAPH_ARN", error_code_reason="why"))
    assert status == 400
    assert orjson.loads(raw) == {"message": "bad", "Message": "bad", "ErrorCode": "INVALID_GRAPH_ARN", "ErrorCodeReason": "why"}


def test_absent_error_members_are_not_sent() -> None:
    _, raw = error_body(e.ValidationException("bad"))
    assert orjson.loads(raw) == {"message": "bad", "Message": "bad"}
    _, raw = error_body(e.ServiceQuotaExceededException("quota"))
    assert orjson.loads(raw) == {"message": "quota", "Message": "quota"}


def test_service_quota_resources() -> None:
    status, raw = error_body(e.ServiceQuotaExceededException("quota", resources=["Members"]))
    assert status == 402
    assert orjson.loads(raw)["Resources"] == ["Members"]


def test_members_a_modeled_error_does_not_declare_are_not_sent() -> None:
    err = e.AccessDeniedException("no", ErrorCode="INVALID_REQUEST_BODY", Internal="secret")
    _, raw = error_body(err)
    assert orjson.loads(raw) == {"message": "no", "Message": "no", "ErrorCode": "INVALID_REQUEST_BODY"}


def test_members_of_an_error_shape_with_only_a_message_are_not_sent() -> None:
    # ConflictException declares only Message: nothing else belongs in its body.
    _, raw = error_body(e.ConflictException("busy", Internal="secret"))
    assert orjson.loads(raw) == {"message": "busy", "Message": "busy"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (e.SerializationException("x"), 400),
        (e.UnknownOperationException("x"), 404),
        (e.MethodNotAllowedException("x"), 405),
        (e.UnsupportedMediaTypeException("x"), 415),
        (e.RequestEntityTooLargeException("x"), 413),
        (e.NotImplementedYetException("x"), 501),
        (e.MissingAuthenticationTokenException("x"), 403),
        (e.InvalidSignatureException("x"), 403),
        (e.AccessDeniedException("x"), 403),
        (e.ConflictException("x"), 409),
        (e.TooManyRequestsException("x"), 429),
        (e.InternalServerException("x"), 500),
    ],
)
def test_error_status(error: e.DetectiveError, status: int) -> None:
    got, raw = error_body(error)
    assert got == status
    assert orjson.loads(raw)["message"] == "x"


def test_error_message_with_non_ascii_and_quotes() -> None:
    _, raw = error_body(e.ConflictException('Le graphe "g" est occupé ✓'))
    assert orjson.loads(raw)["Message"] == 'Le graphe "g" est occupé ✓'
