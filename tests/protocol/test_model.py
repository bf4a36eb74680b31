"""The model module: botocore's Detective model as the source of operations and error statuses."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.model import OperationModel, ServiceModel

from gumshoe import errors as e
from gumshoe.protocol.model import API_VERSION, SERVICE_NAME, error_members, error_statuses, operations, service_model

BOTOCORE = botocore.session.get_session().get_service_model("detective")

MODELED_STATUSES = {
    "AccessDeniedException": 403,
    "ConflictException": 409,
    "InternalServerException": 500,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 402,
    "TooManyRequestsException": 429,
    "ValidationException": 400,
}


def test_service_model_is_detective_rest_json() -> None:
    model = service_model()
    assert isinstance(model, ServiceModel)
    assert SERVICE_NAME == "detective" and API_VERSION == "2018-10-26"
    assert model.service_name == "detective"
    assert model.api_version == "2018-10-26"
    assert model.protocol == "rest-json"


def test_service_model_is_loaded_once() -> None:
    assert service_model() is service_model()


def test_operations_are_the_29_of_the_model_in_order() -> None:
    ops = operations()
    assert all(isinstance(op, OperationModel) for op in ops)
    assert [op.name for op in ops] == list(BOTOCORE.operation_names)
    assert len(ops) == 29
    assert {"CreateGraph", "ListTagsForResource", "StartInvestigation", "UpdateOrganizationConfiguration"} <= {op.name for op in ops}


def test_error_statuses_come_from_the_model() -> None:
    assert error_statuses() == MODELED_STATUSES


def test_error_statuses_match_botocore_error_shapes() -> None:
    for name in BOTOCORE.shape_names:
        shape = BOTOCORE.shape_for(name)
        if shape.metadata.get("exception"):
            assert error_statuses()[name] == shape.metadata["error"]["httpStatusCode"]


def test_error_members() -> None:
    assert error_members("ValidationException") == {"ErrorCode", "ErrorCodeReason"}
    assert error_members("AccessDeniedException") == {"ErrorCode", "ErrorCodeReason", "SubErrorCode", "SubErrorCodeReason"}
    assert error_members("ServiceQuotaExceededException") == {"Resources"}
    assert error_members("ConflictException") == frozenset()
    assert error_members("SerializationException") == frozenset()  # not a shape of the model
    assert error_members("NoSuchThing") == frozenset()


@pytest.mark.parametrize("code", sorted(MODELED_STATUSES))
def test_error_class_for_each_modeled_error(code: str) -> None:
    cls = getattr(e, code)
    assert issubclass(cls, e.DetectiveError)
    assert cls.code == code
    assert cls.status == MODELED_STATUSES[code]  # the fallback agrees with the model


def test_sender_fault() -> None:
    assert e.InternalServerException.sender_fault is False
    assert e.NotImplementedYetException.sender_fault is False
    assert e.ValidationException.sender_fault is True
    assert e.NotImplementedYetException.code == "NotImplementedException"


def test_error_members_drop_none_and_repr() -> None:
    err = e.ValidationException("bad", error_code="INVALID_REQUEST_BODY")
    assert err.members == {"ErrorCode": "INVALID_REQUEST_BODY"}
    assert err.message == str(err) == "bad"
    assert repr(err) == "ValidationException('bad')"
    assert e.ServiceQuotaExceededException("q", resources=["Members"]).members == {"Resources": ["Members"]}
    assert e.ConflictException("c").members == {}
