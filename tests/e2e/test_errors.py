"""Errors on the wire: status codes, headers and bodies of AWS-shaped errors, validation
messages, and no 500 for anything a client can send."""

from __future__ import annotations

import concurrent.futures
import json
import re
from typing import Any
from urllib.parse import quote

import botocore.exceptions
import botocore.session
import httpx
import pytest
from e2e_helpers import assert_aws_error, auth_headers, expect_error, module_server, raw

GRAPH_PATTERN = r"^arn:aws[-\w]{0,10}?:detective:[-\w]{2,20}?:\d{12}?:graph:[abcdef\d]{32}?$"
ACCOUNT = "800000000001"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, name="errors") as server:
        yield server


@pytest.fixture(scope="module")
def graph(srv: Any) -> str:
    return str(srv.client(ACCOUNT).create_graph()["GraphArn"])


def test_malformed_json_is_a_serialization_error(srv: Any, graph: str) -> None:
    response = raw(srv, "POST", "/graph/members/list", body=b'{"GraphArn": ', account=ACCOUNT)
    assert_aws_error(response, 400, "SerializationException")


@pytest.mark.parametrize("body", [b"[]", b'["GraphArn"]', b'"text"', b"42", b"null"])
def test_body_that_is_not_an_object(srv: Any, graph: str, body: bytes) -> None:
    # Documented: a body that is not a JSON object is a SerializationException.
    response = raw(srv, "POST", "/graph/members/list", body=body, account=ACCOUNT)
    assert_aws_error(response, 400, "SerializationException")


def test_json_array_body_is_a_serialization_error(srv: Any) -> None:
    response = raw(srv, "POST", "/graphs/list", body=b"[]", account=ACCOUNT)
    assert_aws_error(response, 400, "SerializationException")


def test_wrong_content_type(srv: Any, graph: str) -> None:
    response = raw(
        srv, "POST", "/graph/members/list", body=json.dumps({"GraphArn": graph}),
        headers={"content-type": "application/xml"}, account=ACCOUNT,
    )
    assert_aws_error(response, 415, "UnsupportedMediaTypeException")
    # The JSON content types botocore and the SDKs use are accepted.
    for content_type in ("application/json", "application/x-amz-json-1.1", "application/json; charset=utf-8"):
        ok = raw(srv, "POST", "/graph/members/list", body={"GraphArn": graph},
                 headers={"content-type": content_type}, account=ACCOUNT)
        assert ok.status_code == 200, (content_type, ok.text)


def test_body_over_one_mebibyte(srv: Any) -> None:
    big = b'{"Message": "' + b"x" * (1024 * 1024) + b'"}'
    try:
        response = raw(srv, "POST", "/graph/members", body=big, account=ACCOUNT)
    except httpx.TransportError as exc:  # pragma: no cover - a server closing early is a failure too
        pytest.fail(f"no 413 response: {exc!r}")
    assert_aws_error(response, 413, "RequestEntityTooLargeException")
    # The server is still healthy afterwards.
    assert srv.client(ACCOUNT).list_graphs()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_unknown_path(srv: Any) -> None:
    for method, path in (("POST", "/nope"), ("GET", "/"), ("POST", "/graph/members/explode"), ("GET", "/tags")):
        response = raw(srv, method, path, body=b"{}", account=ACCOUNT)
        assert_aws_error(response, 404, "UnknownOperationException")


def test_wrong_method_on_a_known_path(srv: Any, graph: str) -> None:
    for method, path in (("GET", "/graph"), ("PUT", "/graphs/list"), ("DELETE", "/graph/members"),
                         ("POST", "/invitation"), ("PUT", "/tags/" + quote(graph, safe=""))):
        response = raw(srv, method, path, body=b"{}", account=ACCOUNT)
        assert_aws_error(response, 405, "MethodNotAllowedException")


def test_validation_message_for_a_bad_graph_arn(srv: Any) -> None:
    response = raw(srv, "POST", "/graph/removal", body={"GraphArn": "x"}, account=ACCOUNT)
    body = assert_aws_error(response, 400, "ValidationException")
    assert body["message"] == (
        "1 validation error detected: Value 'x' at 'graphArn' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {GRAPH_PATTERN}"
    )
    assert body["ErrorCode"] == "INVALID_GRAPH_ARN"

    # Through boto3: same code and message.
    c = srv.client(ACCOUNT)
    err = expect_error("ValidationException", 400, c.delete_graph, GraphArn="x")
    assert err["Error"]["Message"] == body["message"]
    assert err.get("ErrorCode") == "INVALID_GRAPH_ARN"


def test_validation_error_code_for_other_members(srv: Any, graph: str) -> None:
    # A bad account id: INVALID_REQUEST_BODY.
    response = raw(srv, "POST", "/graph/members/get", body={"GraphArn": graph, "AccountIds": ["12"]}, account=ACCOUNT)
    body = assert_aws_error(response, 400, "ValidationException")
    assert body["ErrorCode"] == "INVALID_REQUEST_BODY"
    assert body["message"].startswith("1 validation error detected: Value '12' at 'accountIds.1.member' failed to satisfy constraint: ")
    # A bad ARN together with another bad member: several errors, INVALID_REQUEST_BODY.
    response = raw(srv, "POST", "/graph/members/get", body={"GraphArn": "x", "AccountIds": ["12"]}, account=ACCOUNT)
    body = assert_aws_error(response, 400, "ValidationException")
    assert body["message"].startswith("2 validation errors detected: ")
    assert "at 'graphArn'" in body["message"] and "at 'accountIds.1.member'" in body["message"]
    assert body["ErrorCode"] == "INVALID_REQUEST_BODY"
    # A missing required member.
    response = raw(srv, "POST", "/graph/members/get", body={"GraphArn": graph}, account=ACCOUNT)
    body = assert_aws_error(response, 400, "ValidationException")
    assert "Value null at 'accountIds' failed to satisfy constraint: Member must not be null" in body["message"]
    assert body["ErrorCode"] == "INVALID_REQUEST_BODY"


@pytest.mark.parametrize("value", [0, 201, -1])
def test_max_results_out_of_range(srv: Any, graph: str, value: int) -> None:
    c = srv.client(ACCOUNT, parameter_validation=False)
    for fn, kw in (
        (c.list_members, {"GraphArn": graph}),
        (c.list_graphs, {}),
        (c.list_invitations, {}),
        (c.list_datasource_packages, {"GraphArn": graph}),
    ):
        err = expect_error("ValidationException", 400, fn, MaxResults=value, **kw)
        assert "maxResults" in err["Error"]["Message"]
    # The bounds themselves are fine.
    srv.client(ACCOUNT).list_members(GraphArn=graph, MaxResults=1)
    srv.client(ACCOUNT).list_members(GraphArn=graph, MaxResults=200)


def test_validation_message_quotes_the_value_as_sent(srv: Any, graph: str) -> None:
    body = b'{"GraphArn": "%s", "MaxResults": 99999999999999999999999}' % graph.encode()
    response = raw(srv, "POST", "/graph/members/list", body=body, account=ACCOUNT)
    message = assert_aws_error(response, 400, "ValidationException")["message"]
    assert message.startswith("1 validation error detected: Value '99999999999999999999999' at 'maxResults' "), message
    response = raw(srv, "POST", "/graph/members/list", body={"GraphArn": graph, "MaxResults": 500}, account=ACCOUNT)
    assert assert_aws_error(response, 400, "ValidationException")["message"] == (
        "1 validation error detected: Value '500' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 200"
    )


def test_unknown_member_in_body(srv: Any, graph: str) -> None:
    response = raw(srv, "POST", "/graph/members/list", body={"GraphArn": graph, "Bogus": 1}, account=ACCOUNT)
    body = assert_aws_error(response, 400, "ValidationException")
    assert "bogus" in body["message"].lower()
    response = raw(srv, "POST", "/graphs/list", body={"Nope": True}, account=ACCOUNT)
    assert_aws_error(response, 400, "ValidationException")
    # An operation without input members accepts an empty object but nothing else.
    response = raw(srv, "POST", "/orgs/disableAdminAccount", body={"AccountId": "800000000002"}, account=ACCOUNT)
    assert_aws_error(response, 400, "ValidationException")


def test_wrong_types(srv: Any, graph: str) -> None:
    cases = [
        ("/graph/members/list", {"GraphArn": graph, "MaxResults": "ten"}),
        ("/graph/members/list", {"GraphArn": 123}),
        ("/graph/members", {"GraphArn": graph, "Accounts": {"AccountId": "800000000002"}}),
        ("/graph/members", {"GraphArn": graph, "Accounts": [{"AccountId": "800000000002", "EmailAddress": "a@example.com"}],
                            "DisableEmailNotification": "yes"}),
        ("/graph/members", {"GraphArn": graph, "Accounts": [None]}),
        ("/graph", {"Tags": ["a", "b"]}),
        ("/graph", {"Tags": {"k": None}}),
        ("/graph/datasources/update", {"GraphArn": graph, "DatasourcePackages": []}),
    ]
    for path, body in cases:
        response = raw(srv, "POST", path, body=body, account=ACCOUNT)
        assert_aws_error(response, 400, "ValidationException")


def test_email_is_validated_and_not_echoed(srv: Any, graph: str) -> None:
    response = raw(srv, "POST", "/graph/members", account=ACCOUNT, body={
        "GraphArn": graph, "Accounts": [{"AccountId": "800000000002", "EmailAddress": "not-an-email"}],
    })
    body = assert_aws_error(response, 400, "ValidationException")
    assert "accounts.1.member.emailAddress" in body["message"]
    # The model marks email addresses sensitive.
    assert "not-an-email" not in body["message"]


def test_successful_responses_carry_a_request_id(srv: Any, graph: str) -> None:
    ids = set()
    for method, path, body in (
        ("POST", "/graphs/list", {}),
        ("POST", "/graph/members/list", {"GraphArn": graph}),
        ("POST", "/invitations/list", {}),
        ("GET", "/tags/" + quote(graph, safe=""), None),
        ("POST", "/tags/" + quote(graph, safe=""), {"Tags": {"a": "b"}}),
    ):
        response = raw(srv, method, path, body=body, account=ACCOUNT)
        assert 200 <= response.status_code < 300, response.text
        request_id = response.headers.get("x-amzn-RequestId")
        assert request_id
        ids.add(request_id)
    assert len(ids) == 5
    # boto3 sees it too.
    meta = srv.client(ACCOUNT).list_graphs()["ResponseMetadata"]
    assert meta["RequestId"] and meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
    # A 204 has no body.
    response = raw(srv, "DELETE", "/tags/" + quote(graph, safe=""), params={"tagKeys": "a"}, account=ACCOUNT)
    assert response.status_code == 204 and response.content == b""
    assert response.headers.get("x-amzn-RequestId")


def test_error_responses_always_have_both_message_members(srv: Any, graph: str) -> None:
    other = "arn:aws:detective:us-east-1:800000000009:graph:" + "c" * 32
    cases = [
        (("POST", "/graph/removal", {"GraphArn": other}), 404, "ResourceNotFoundException"),
        (("PUT", "/invitation", {"GraphArn": other}), 404, "ResourceNotFoundException"),
        (("POST", "/orgs/adminAccountslist", {}), 403, "AccessDeniedException"),
        (("POST", "/investigations/getInvestigation", {"GraphArn": graph, "InvestigationId": "1" * 21}), 404,
         "ResourceNotFoundException"),
        (("POST", "/graph/member/monitoringstate", {"GraphArn": graph, "AccountId": "800000000003"}), 404,
         "ResourceNotFoundException"),
    ]
    for (method, path, body), status, code in cases:
        assert_aws_error(raw(srv, method, path, body=body, account=ACCOUNT), status, code)


def _all_operation_requests(graph: str) -> list[tuple[str, str, Any]]:
    model = botocore.session.get_session().get_service_model("detective")
    out = []
    for name in model.operation_names:
        op = model.operation_model(name)
        method = op.http["method"]
        uri = op.http["requestUri"].split("?")[0].replace("{ResourceArn}", quote(graph, safe=""))
        out.append((method, uri, name))
    return out


GARBAGE_BODIES: list[Any] = [
    b"",
    b"{}",
    b"{",
    b"\xff\xfe\x00",
    b"[1,2,3]",
    {"GraphArn": None},
    {"GraphArn": ["x"]},
    {"GraphArn": {"a": 1}},
    {"AccountIds": "x", "Accounts": 5, "Tags": 3, "MaxResults": 10**30, "NextToken": "%%%"},
    {"GraphArn": "GRAPH", "NextToken": "a.b", "MaxResults": 5},
    {"GraphArn": "GRAPH", "Accounts": [{"AccountId": "800000000004", "EmailAddress": "e@example.com", "X": 1}]},
    {"GraphArn": "GRAPH", "AccountIds": [""], "GraphArns": [""], "DatasourcePackages": ["x"]},
    {"GraphArn": "GRAPH", "ScopeStartTime": "not a time", "ScopeEndTime": 1e300, "EntityArn": 7},
]


def test_no_request_causes_a_500(srv: Any, graph: str) -> None:
    requests = _all_operation_requests(graph)
    assert len(requests) == 29
    for method, path, name in requests:
        for body in GARBAGE_BODIES:
            if isinstance(body, dict):
                body = json.loads(json.dumps(body).replace('"GRAPH"', json.dumps(graph)))
            response = raw(srv, method, path, body=body, account=ACCOUNT)
            assert response.status_code < 500 or response.status_code == 501, (name, body, response.status_code, response.text)
            assert response.headers.get("x-amzn-RequestId"), (name, body)
            if response.status_code >= 400:
                assert_aws_error(response, response.status_code, response.headers["x-amzn-ErrorType"].split(":")[0])
    # Query strings and path labels are parsed safely too.
    for path in ("/tags/%ZZ", "/tags/" + "a" * 5000, "/tags/%2F%2F", "/tags/arn%3Aaws%3Adetective"):
        response = raw(srv, "GET", path, account=ACCOUNT)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    response = raw(srv, "DELETE", "/tags/" + quote(graph, safe=""), params={"tagKeys": ""}, account=ACCOUNT)
    assert 200 <= response.status_code < 500


def test_chunked_body_over_one_mebibyte(srv: Any) -> None:
    def chunks() -> Any:
        yield b'{"Message": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    try:
        response = httpx.post(srv.url + "/graph/members", content=chunks(), timeout=30,
                              headers={"content-type": "application/json", **auth_headers(ACCOUNT)})
    except httpx.TransportError as exc:  # pragma: no cover
        pytest.fail(f"no 413 response: {exc!r}")
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_aws_error(response, 413, "RequestEntityTooLargeException")


def test_timestamps_on_the_wire_are_iso8601_with_milliseconds(srv: Any, graph: str) -> None:
    raw(srv, "POST", "/graph/members", account=ACCOUNT, body={
        "GraphArn": graph, "Accounts": [{"AccountId": "800000000005", "EmailAddress": "ts@example.com"}],
        "DisableEmailNotification": True,
    })
    body = raw(srv, "POST", "/graph/members/get", account=ACCOUNT,
               body={"GraphArn": graph, "AccountIds": ["800000000005"]}).json()
    detail = body["MemberDetails"][0]
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
    assert iso.match(detail["InvitedTime"]), detail
    assert iso.match(detail["UpdatedTime"]), detail
    graphs = raw(srv, "POST", "/graphs/list", body={}, account=ACCOUNT).json()["GraphList"]
    assert iso.match(graphs[0]["CreatedTime"]), graphs
    # Absent members are left out, never sent as null.
    assert "DisabledReason" not in detail and None not in detail.values()


def test_open_mode_unsigned_request_is_the_default_account(srv: Any) -> None:
    response = raw(srv, "POST", "/graph", body={}, sign=False)
    assert response.status_code == 200, response.text
    assert response.json()["GraphArn"].startswith("arn:aws:detective:us-east-1:123456789012:graph:")
    # The Region comes from the signature's credential scope.
    response = raw(srv, "POST", "/graph", body={}, account="800000000006", region="ap-southeast-2")
    assert response.json()["GraphArn"].startswith("arn:aws:detective:ap-southeast-2:800000000006:graph:")


def test_gumshoe_endpoints(srv: Any) -> None:
    assert raw(srv, "GET", "/_gumshoe/health").json()["status"] == "ok"
    head = raw(srv, "HEAD", "/_gumshoe/health")
    assert head.status_code == 200 and head.content == b""
    response = raw(srv, "GET", "/_gumshoe/nothing")
    assert_aws_error(response, 404, "UnknownOperationException")
    response = raw(srv, "GET", "/_gumshoe/reload")
    assert response.status_code == 404


def test_concurrent_requests_stay_consistent(srv: Any) -> None:
    admin = srv.client("800000000007")
    arn = admin.create_graph()["GraphArn"]
    accounts = [f"80000001{n:04d}" for n in range(20)]

    def create(i: int) -> tuple[int, list[str]]:
        client = srv.client("800000000007")
        chosen = accounts[i % 5: i % 5 + 10]
        try:
            r = client.create_members(GraphArn=arn, DisableEmailNotification=True,
                                      Accounts=[{"AccountId": a, "EmailAddress": f"{a}@example.com"} for a in chosen])
            return 200, [m["AccountId"] for m in r["Members"]]
        except botocore.exceptions.ClientError as exc:
            return exc.response["ResponseMetadata"]["HTTPStatusCode"], []

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(16)))
    assert all(status == 200 for status, _ in results), results
    created = [a for _, ids in results for a in ids]
    # Each account was added by exactly one request.
    assert len(created) == len(set(created)) == 14
    assert sorted(member_ids_of(admin, arn)) == sorted(["800000000007", *created])

    def accept(account: str) -> int:
        try:
            srv.client(account).accept_invitation(GraphArn=arn)
            return 200
        except botocore.exceptions.ClientError as exc:
            return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(accept, [accounts[0]] * 8))
    assert sorted(statuses) == [200] + [409] * 7


def member_ids_of(client: Any, arn: str) -> list[str]:
    return [m["AccountId"] for m in client.list_members(GraphArn=arn)["MemberDetails"]]


def test_server_log_has_no_tracebacks(srv: Any) -> None:
    """Runs last: everything above was answered without an unexpected fault."""
    log = srv.log()
    assert "Traceback" not in log, log[-5000:]
    assert "unexpected fault" not in log, log[-5000:]
