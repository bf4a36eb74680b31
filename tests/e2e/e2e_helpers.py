"""Helpers shared by the end-to-end tests (not collected: no ``test_`` prefix).

The ``Server`` class comes from tests/conftest.py; ``module_server`` starts one server for a
whole test module so the suite stays fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
VENV_BIN = Path(sys.executable).parent


def _load_conftest() -> Any:
    module = sys.modules.get("conftest")
    if module is not None and hasattr(module, "Server"):
        return module
    spec = importlib.util.spec_from_file_location("gumshoe_tests_conftest", TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_conftest = _load_conftest()
Server = _conftest.Server
free_port = _conftest.free_port

GRAPH_ARN_RE = re.compile(r"^arn:aws:detective:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):graph:[0-9a-f]{32}$")


@contextlib.contextmanager
def module_server(
    tmp_path_factory: pytest.TempPathFactory,
    config_toml: str | None = None,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    name: str = "srv",
) -> Iterator[Any]:
    """A server for a whole module (or any scope): started here, stopped on exit."""
    base = tmp_path_factory.mktemp(name)
    config = None
    if config_toml is not None:
        config = base / "gumshoe.toml"
        config.write_text(config_toml)
    server = Server(base / "data", config, args or [], env or {})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def error_of(exc_info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int, str]:
    """(code, HTTP status, message) of a boto3 ClientError."""
    response = exc_info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def expect_error(code: str, status: int | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call ``fn`` and assert it fails with ``code`` (and ``status``); return the error response."""
    with pytest.raises(botocore.exceptions.ClientError) as exc_info:
        fn(*args, **kwargs)
    got_code, got_status, _ = error_of(exc_info)
    assert got_code == code, exc_info.value.response
    if status is not None:
        assert got_status == status, exc_info.value.response
    return exc_info.value.response  # type: ignore[no-any-return]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value {last!r}")


def health(server: Any) -> dict[str, Any]:
    """The server's health with its background counts (an open-mode server tells anyone)."""
    response = _http().get(server.url + "/_gumshoe/health")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_for_more(server: Any, count: str, more: int = 1, timeout: float = 15.0) -> None:
    """Wait until health's ``count`` (sourceScans, monitoringPasses) has grown by ``more``:
    what a test waits on before asserting that nothing else happened."""
    start = health(server)[count]
    wait_for(lambda: health(server)[count] >= start + more, timeout=timeout, what=f"{more} more {count}")


def member(client: Any, graph_arn: str, account_id: str) -> dict[str, Any] | None:
    details = client.get_members(GraphArn=graph_arn, AccountIds=[account_id])["MemberDetails"]
    return details[0] if details else None


def status_of(client: Any, graph_arn: str, account_id: str) -> str | None:
    detail = member(client, graph_arn, account_id)
    return detail["Status"] if detail else None


def invitation_arns(client: Any) -> list[str]:
    return [i["GraphArn"] for i in client.list_invitations()["Invitations"]]


def member_ids(client: Any, graph_arn: str) -> list[str]:
    out: list[str] = []
    token = None
    while True:
        kw: dict[str, Any] = {"GraphArn": graph_arn}
        if token:
            kw["NextToken"] = token
        page = client.list_members(**kw)
        out += [m["AccountId"] for m in page["MemberDetails"]]
        token = page.get("NextToken")
        if not token:
            return out


def invite(admin: Any, graph_arn: str, *accounts: tuple[str, str], **kw: Any) -> dict[str, Any]:
    return admin.create_members(  # type: ignore[no-any-return]
        GraphArn=graph_arn, Accounts=[{"AccountId": a, "EmailAddress": e} for a, e in accounts], **kw
    )


def auth_headers(account: str, region: str = "us-east-1") -> dict[str, str]:
    """A SigV4-shaped Authorization header (checked only in sigv4 mode) naming account and Region."""
    return {
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential={account}/20240101/{region}/detective/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        ),
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
    }


def raw(
    server: Any,
    method: str,
    path: str,
    *,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
    sign: bool = True,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    """A raw HTTP request. With ``sign`` it carries an (unchecked in open mode) SigV4-shaped
    Authorization header naming ``account`` and ``region``."""
    hdrs = {"content-type": "application/json"}
    if sign:
        hdrs.update(auth_headers(account, region))
    hdrs.update(headers or {})
    content: bytes | None
    if isinstance(body, (dict, list)):
        content = json.dumps(body).encode()
    elif isinstance(body, str):
        content = body.encode()
    else:
        content = body
    return _http().request(method, server.url + path, content=content, headers=hdrs, params=params)


_HTTP: list[httpx.Client] = []


def _http() -> httpx.Client:
    """One shared client: building one per request (its SSL context) costs tens of ms."""
    if not _HTTP:
        _HTTP.append(httpx.Client(timeout=30))
    return _HTTP[0]


def assert_aws_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An AWS-shaped error: status, x-amzn-ErrorType, x-amzn-RequestId, JSON message and Message."""
    assert response.status_code == status, (response.status_code, response.text)
    error_type = response.headers.get("x-amzn-ErrorType")
    assert error_type is not None, dict(response.headers)
    assert error_type.split(":", 1)[0] == code, (error_type, response.text)
    assert response.headers.get("x-amzn-RequestId"), dict(response.headers)
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert body.get("Message") == body["message"], body
    return body  # type: ignore[no-any-return]
