"""--auth sigv4: signatures verified against [[credentials]]; and the guard that keeps open
mode off the network."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import boto3
import botocore.config
import httpx
import pytest
from e2e_helpers import GRAPH_ARN_RE, assert_aws_error, expect_error, free_port, invite, module_server, raw

KEY_A, SECRET_A, ACCOUNT_A = "AKIAGUMSHOEAAAAAAAAA", "secret-a/with+chars", "820000000001"
KEY_B, SECRET_B, ACCOUNT_B = "AKIAGUMSHOEBBBBBBBBB", "secret-b", "820000000002"

CONFIG = f"""
[[accounts]]
id = "{ACCOUNT_B}"
email = "b@example.com"

[[credentials]]
access_key_id = "{KEY_A}"
secret_access_key = "{SECRET_A}"
account = "{ACCOUNT_A}"

[[credentials]]
access_key_id = "{KEY_B}"
secret_access_key = "{SECRET_B}"
account = "{ACCOUNT_B}"
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with module_server(tmp_path_factory, CONFIG, args=["--auth", "sigv4"], name="sigv4") as server:
        yield server


def test_signed_client_acts_as_the_mapped_account(srv: Any) -> None:
    a = srv.client(KEY_A, secret=SECRET_A)
    arn = a.create_graph()["GraphArn"]
    match = GRAPH_ARN_RE.match(arn)
    assert match and match["account"] == ACCOUNT_A and match["region"] == "us-east-1"
    assert [g["Arn"] for g in a.list_graphs()["GraphList"]] == [arn]

    b = srv.client(KEY_B, secret=SECRET_B)
    assert b.list_graphs()["GraphList"] == []
    invite(a, arn, (ACCOUNT_B, "b@example.com"))
    assert [i["GraphArn"] for i in b.list_invitations()["Invitations"]] == [arn]
    b.accept_invitation(GraphArn=arn)
    assert a.get_members(GraphArn=arn, AccountIds=[ACCOUNT_B])["MemberDetails"][0]["Status"] == "ENABLED"

    # The region of the signature is the caller's Region.
    eu = srv.client(KEY_A, "eu-west-1", secret=SECRET_A)
    assert eu.list_graphs()["GraphList"] == []
    # Requests with a path label and a query string verify too.
    a.tag_resource(ResourceArn=arn, Tags={"k/1": "v 1", "k:2": "v+2"})
    a.untag_resource(ResourceArn=arn, TagKeys=["k/1"])
    assert a.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"k:2": "v+2"}


def test_wrong_secret(srv: Any) -> None:
    c = srv.client(KEY_A, secret="not-the-secret")
    response = expect_error("InvalidSignatureException", 403, c.list_graphs)
    assert response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
    # Another account's secret does not work either.
    expect_error("InvalidSignatureException", 403, srv.client(KEY_A, secret=SECRET_B).list_graphs)


def test_unknown_access_key(srv: Any) -> None:
    expect_error("UnrecognizedClientException", 403, srv.client("AKIAUNKNOWNKEY000000", secret="x").list_graphs)
    # In sigv4 mode a 12-digit key is just another unknown key, not an account.
    expect_error("UnrecognizedClientException", 403, srv.client("820000000009", secret="x").create_graph)
    assert srv.client(KEY_A, secret=SECRET_A).list_graphs()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_unsigned_request(srv: Any) -> None:
    response = raw(srv, "POST", "/graphs/list", body={}, sign=False)
    assert_aws_error(response, 403, "MissingAuthenticationTokenException")
    # A botocore client that does not sign at all.
    unsigned = boto3.client(
        "detective", region_name="us-east-1", endpoint_url=srv.url,
        config=botocore.config.Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )
    expect_error("MissingAuthenticationTokenException", 403, unsigned.create_graph)


def test_malformed_authorization_header(srv: Any) -> None:
    for header in ("AWS4-HMAC-SHA256 garbage", "AWS4-HMAC-SHA256 Credential=" + KEY_A + ", Signature=abc",
                   "AWS4-HMAC-SHA256 Credential=" + KEY_A + "/20240101/us-east-1/detective/aws4_request, "
                   "SignedHeaders=host;x-amz-date"):
        response = raw(srv, "POST", "/graphs/list", body={}, sign=False,
                       headers={"authorization": header, "x-amz-date": "20240101T000000Z"})
        assert_aws_error(response, 403, "IncompleteSignatureException")


def test_forged_signature_header(srv: Any) -> None:
    # A well-formed Authorization header with a made-up signature.
    response = raw(srv, "POST", "/graphs/list", body={}, account=KEY_A)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"].split(":")[0] in ("InvalidSignatureException", "IncompleteSignatureException")
    assert_aws_error(response, 403, response.headers["x-amzn-ErrorType"].split(":")[0])


def test_tampered_body_after_signing(srv: Any) -> None:
    c = srv.client(KEY_A, secret=SECRET_A)
    arn = c.create_graph()["GraphArn"]

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"k1", b"k2")

    c.meta.events.register_last("before-send.detective.TagResource", tamper)
    expect_error("InvalidSignatureException", 403, c.tag_resource, ResourceArn=arn, Tags={"k1": "v"})
    assert "k2" not in srv.client(KEY_A, secret=SECRET_A).list_tags_for_resource(ResourceArn=arn)["Tags"]


def test_health_needs_no_signature(srv: Any) -> None:
    # Unsigned callers learn that the server is up, nothing more (tests/e2e/test_ingest_security.py
    # has the signed answer).
    with urllib.request.urlopen(srv.url + "/_gumshoe/health") as r:
        body = json.load(r)
    assert body == {"status": "ok"}


def test_open_mode_refuses_a_non_loopback_host(tmp_path: Any) -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "gumshoe", "serve", "--host", "0.0.0.0", "--port", str(port),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert "--allow-open-network" in output, output
    # Nothing is listening.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_gumshoe/health", timeout=1)


def test_sigv4_mode_may_listen_on_any_address(tmp_path: Any) -> None:
    # The same host is fine once signatures are verified (checked without keeping it up).
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gumshoe", "serve", "--host", "0.0.0.0", "--port", str(port),
         "--data-dir", str(tmp_path / "data"), "--auth", "sigv4"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_gumshoe/health", timeout=1) as r:
                    assert json.load(r) == {"status": "ok"}  # unsigned: up, and no more
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("sigv4 server on 0.0.0.0 did not start")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _shifted_clock(monkeypatch: pytest.MonkeyPatch, delta: dt.timedelta) -> None:
    import botocore.auth

    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: real(*a, **k) + delta)


def test_signature_too_old_or_too_new(srv: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _shifted_clock(monkeypatch, -dt.timedelta(minutes=20))
    response = expect_error("InvalidSignatureException", 403, srv.client(KEY_A, secret=SECRET_A).list_graphs)
    assert "expired" in response["Error"]["Message"].lower()
    monkeypatch.undo()
    _shifted_clock(monkeypatch, dt.timedelta(minutes=20))
    expect_error("InvalidSignatureException", 403, srv.client(KEY_A, secret=SECRET_A).list_graphs)
    monkeypatch.undo()
    # Within the 15 minutes AWS allows: fine.
    _shifted_clock(monkeypatch, -dt.timedelta(minutes=5))
    assert srv.client(KEY_A, secret=SECRET_A).list_graphs()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_presigned_url(srv: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    c = srv.client(KEY_B, secret=SECRET_B)
    arn = c.create_graph(Tags={"presigned": "yes"})["GraphArn"]
    url = c.generate_presigned_url("list_tags_for_resource", Params={"ResourceArn": arn}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    assert response.json() == {"Tags": {"presigned": "yes"}}
    # A changed signature, or another account's key, is refused.
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")[: len(url)]
    assert httpx.get(forged).status_code == 403
    # An expired URL is refused.
    _shifted_clock(monkeypatch, -dt.timedelta(minutes=10))
    old = c.generate_presigned_url("list_tags_for_resource", Params={"ResourceArn": arn}, ExpiresIn=60)
    response = httpx.get(old)
    assert_aws_error(response, 403, "InvalidSignatureException")


def test_credential_scope_must_name_detective(srv: Any) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=srv.url + "/graphs/list", data=b"{}",
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY_A, SECRET_A), "s3", "us-east-1").add_auth(request)
    response = httpx.post(srv.url + "/graphs/list", content=b"{}", headers=dict(request.headers.items()))
    assert response.status_code == 403
    assert_aws_error(response, 403, response.headers["x-amzn-ErrorType"].split(":")[0])
    assert response.headers["x-amzn-ErrorType"].split(":")[0] in ("IncompleteSignatureException", "InvalidSignatureException")
