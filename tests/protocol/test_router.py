"""Router: (method, raw path) -> operation and decoded path labels, from the model's http traits."""

from __future__ import annotations

import dataclasses

import botocore.session
import pytest

from gumshoe.errors import MethodNotAllowedException, UnknownOperationException
from gumshoe.protocol.model import operations
from gumshoe.protocol.router import Route, Router

SERVICE = botocore.session.get_session().get_service_model("detective")
OPERATION_NAMES = list(SERVICE.operation_names)
ARN = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef"
ENCODED_ARN = ARN.replace(":", "%3A")


@pytest.fixture(scope="module")
def router() -> Router:
    return Router()


def _concrete(uri: str) -> str:
    return uri.split("?", 1)[0].replace("{ResourceArn}", ENCODED_ARN)


def test_all_29_operations_have_distinct_routes() -> None:
    assert len(OPERATION_NAMES) == 29
    pairs = {(SERVICE.operation_model(n).http["method"], SERVICE.operation_model(n).http["requestUri"]) for n in OPERATION_NAMES}
    assert len(pairs) == 29


@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_every_operation_routes_from_its_model_http_trait(router: Router, name: str) -> None:
    http = SERVICE.operation_model(name).http
    route = router.match(http["method"], _concrete(http["requestUri"]))
    assert isinstance(route, Route)
    assert route.operation.name == name
    if "{" in http["requestUri"]:
        assert route.labels == {"ResourceArn": ARN}
    else:
        assert route.labels == {}


@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_trailing_slash_is_tolerated(router: Router, name: str) -> None:
    http = SERVICE.operation_model(name).http
    route = router.match(http["method"], _concrete(http["requestUri"]) + "/")
    assert route.operation.name == name
    if "{" in http["requestUri"]:
        assert route.labels == {"ResourceArn": ARN}


@pytest.mark.parametrize(
    ("method", "name"),
    [("GET", "ListTagsForResource"), ("POST", "TagResource"), ("DELETE", "UntagResource")],
)
def test_tags_path_dispatches_on_method_with_decoded_arn(router: Router, method: str, name: str) -> None:
    route = router.match(method, f"/tags/{ENCODED_ARN}")
    assert route.operation.name == name
    assert route.labels == {"ResourceArn": ARN}


def test_unencoded_label_is_taken_as_is(router: Router) -> None:
    assert router.match("GET", f"/tags/{ARN}").labels == {"ResourceArn": ARN}


def test_encoded_slash_stays_inside_the_label(router: Router) -> None:
    route = router.match("GET", "/tags/arn%3Aaws%3Aiam%3A%3A111111111111%3Auser%2Falice")
    assert route.operation.name == "ListTagsForResource"
    assert route.labels == {"ResourceArn": "arn:aws:iam::111111111111:user/alice"}


def test_label_decoding_is_utf8_and_not_form_decoding(router: Router) -> None:
    route = router.match("GET", "/tags/caf%C3%A9+x%20y")
    assert route.labels == {"ResourceArn": "café+x y"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/"),
        ("POST", "/nope"),
        ("POST", "/graph/members/nope"),
        ("POST", "/graphs/list/extra"),
        ("GET", "/tags"),
        ("GET", "/tags/"),
        ("GET", f"/tags/{ARN}/extra"),
        ("GET", "/tags//"),
        ("POST", "/Graphs/List"),
    ],
)
def test_unknown_path_is_unknown_operation(router: Router, method: str, path: str) -> None:
    with pytest.raises(UnknownOperationException) as info:
        router.match(method, path)
    assert info.value.code == "UnknownOperationException"
    assert info.value.status == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/graphs/list"),
        ("PUT", "/graph"),
        ("DELETE", "/graph/members"),
        ("POST", "/invitation"),  # AcceptInvitation is PUT
        ("GET", "/graphs/list/"),
        ("PUT", f"/tags/{ENCODED_ARN}"),
        ("PATCH", f"/tags/{ENCODED_ARN}/"),
    ],
)
def test_known_path_with_wrong_method_is_method_not_allowed(router: Router, method: str, path: str) -> None:
    with pytest.raises(MethodNotAllowedException) as info:
        router.match(method, path)
    assert info.value.code == "MethodNotAllowedException"
    assert info.value.status == 405


def test_router_can_be_built_from_a_subset_of_operations() -> None:
    ops = [op for op in operations() if op.name in ("ListGraphs", "TagResource")]
    router = Router(ops)
    assert router.match("POST", "/graphs/list").operation.name == "ListGraphs"
    assert router.match("POST", f"/tags/{ENCODED_ARN}").operation.name == "TagResource"
    with pytest.raises(MethodNotAllowedException):
        router.match("GET", f"/tags/{ENCODED_ARN}")
    with pytest.raises(UnknownOperationException):
        router.match("POST", "/graph")


def test_route_is_immutable(router: Router) -> None:
    route = router.match("POST", "/graphs/list")
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.labels = {}  # type: ignore[misc]
