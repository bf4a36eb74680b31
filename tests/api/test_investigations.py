"""The investigation operations answer NotImplementedException (501), never an empty success;
and every operation of the model has its api function."""

from __future__ import annotations

import pytest

from api_harness import ADMIN
from gumshoe.api.investigations import INVESTIGATION_OPERATIONS
from gumshoe.api.registry import HANDLERS, READ_ONLY
from gumshoe.protocol.errors import NotImplementedYetException
from gumshoe.protocol.model import operations

PARAMS = {
    "StartInvestigation": {"EntityArn": "arn:aws:iam::222222222222:role/x", "ScopeStartTime": 0, "ScopeEndTime": 1},
    "GetInvestigation": {"InvestigationId": "000000000000000001"},
    "ListInvestigations": {},
    "ListIndicators": {"InvestigationId": "000000000000000001"},
    "UpdateInvestigationState": {"InvestigationId": "000000000000000001", "State": "ARCHIVED"},
}


def test_the_five_investigation_operations():
    assert set(INVESTIGATION_OPERATIONS) == set(PARAMS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_investigation_operations_are_not_implemented_yet(env, name):
    arn = env.graph(ADMIN)
    params = {"GraphArn": arn, **PARAMS[name]}
    with pytest.raises(NotImplementedYetException) as exc:
        HANDLERS[name](env.ctx(ADMIN), params)
    assert exc.value.code == "NotImplementedException"
    assert exc.value.status == 501
    assert exc.value.sender_fault is False
    assert name in exc.value.message


def test_every_model_operation_has_an_api_function():
    assert set(HANDLERS) == {op.name for op in operations()}
    assert len(HANDLERS) >= 29
    assert all(callable(fn) for fn in HANDLERS.values())


def test_read_only_operations():
    assert {"ListGraphs", "GetMembers", "ListMembers", "ListInvitations", "ListTagsForResource",
            "DescribeOrganizationConfiguration", "BatchGetGraphMemberDatasources", "GetInvestigation"} <= READ_ONLY
    assert not READ_ONLY & {"CreateGraph", "CreateMembers", "DeleteMembers", "AcceptInvitation", "TagResource",
                            "UpdateDatasourcePackages", "StartInvestigation", "UpdateInvestigationState"}
