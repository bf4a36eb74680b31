"""SigV4 parsing and verification, checked against botocore as the reference signer.

Requests are produced by a real botocore Detective client (captured at ``before-send``, or
read off a socket), then presented the way an ASGI server (uvicorn) hands them over: raw
path and raw query as sent, a list of (lower-case name, value) byte pairs including the
``host`` and ``accept-encoding`` headers http.client adds, and the body bytes.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

from gumshoe.errors import IncompleteSignatureException, InvalidSignatureException
from gumshoe.identity import sigv4
from gumshoe.identity.sigv4 import SignatureInfo, parse_authorization, verify_signature

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://127.0.0.1:4599"
HOST = b"127.0.0.1:4599"
GRAPH = "arn:aws:detective:us-east-1:123456789012:graph:027c7c4610ea4aacaf0b883093cab899"
UTC = datetime.UTC
MISMATCH = sigv4.SIGNATURE_MISMATCH_MESSAGE
MINUTE = datetime.timedelta(minutes=1)


# --- Requests as an ASGI server sees them ---------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    raw_path: bytes
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header_map(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers}

    def header(self, name: bytes) -> bytes:
        return next(v for k, v in self.headers if k == name)

    def signed_at(self) -> datetime.datetime:
        query = dict(p.partition("=")[::2] for p in self.query_string.decode().split("&"))
        stamp = query.get("X-Amz-Date") or self.header_map()["x-amz-date"]
        return datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    def with_header(self, name: bytes, value: bytes) -> Req:
        """Replace every value of ``name`` (or add it) with ``value``."""
        kept = [(k, v) for k, v in self.headers if k != name]
        return replace(self, headers=[*kept, (name, value)])

    def without_header(self, name: bytes) -> Req:
        return replace(self, headers=[(k, v) for k, v in self.headers if k != name])


def asgi(prepared: AWSPreparedRequest) -> Req:
    """What uvicorn would present for a request botocore is about to send."""
    url = urlsplit(prepared.url)
    headers: list[tuple[bytes, bytes]] = []
    names = {k.lower() for k in prepared.headers}
    if "host" not in names:  # http.client puts Host (and Accept-Encoding) first
        headers.append((b"host", url.netloc.encode("ascii")))
    if "accept-encoding" not in names:
        headers.append((b"accept-encoding", b"identity"))
    for name, value in prepared.headers.items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        headers.append((name.lower().encode("latin-1"), raw.strip()))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return Req(
        prepared.method,
        url.path.encode("ascii"),
        url.query.encode("ascii"),
        headers,
        body,
    )


def check(
    req: Req,
    *,
    secret: str = SECRET_KEY,
    now: datetime.datetime | None = None,
    service: str = "detective",
) -> SignatureInfo:
    info = parse_authorization(req.header_map(), req.query_string)
    assert info is not None
    verify_signature(
        info,
        method=req.method,
        raw_path=req.raw_path,
        query_string=req.query_string,
        headers=req.headers,
        body=req.body,
        secret_access_key=secret,
        now=req.signed_at() if now is None else now,
        service=service,
    )
    return info


def rejected(req: Req, **kwargs: Any) -> str:
    with pytest.raises(InvalidSignatureException) as caught:
        check(req, **kwargs)
    return caught.value.message


def incomplete(req: Req, **kwargs: Any) -> str:
    with pytest.raises(IncompleteSignatureException) as caught:
        check(req, **kwargs)
    return caught.value.message


# --- Capturing botocore's requests ------------------------------------------------------------


class _Body:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b"{}"


class Recorder:
    """A Detective client whose requests are recorded at before-send, never sent."""

    def __init__(self) -> None:
        self.client = botocore.session.get_session().create_client(
            "detective",
            region_name="us-east-1",
            endpoint_url=ENDPOINT,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        self.sent: list[AWSPreparedRequest] = []
        self.client.meta.events.register("before-send", self._record)

    def _record(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.sent.append(request)
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Body())

    def __call__(self, operation: str, **params: Any) -> Req:
        getattr(self.client, operation)(**params)
        return asgi(self.sent[-1])


@pytest.fixture(scope="module")
def capture() -> Recorder:
    return Recorder()


OPERATIONS: dict[str, dict[str, Any]] = {
    "list_graphs": {"MaxResults": 5},
    "create_members": {
        "GraphArn": GRAPH,
        "Message": "Bienvenue à l'équipe  d'enquête",
        "Accounts": [
            {"AccountId": "444455556666", "EmailAddress": "ana+detective@example.com"},
            {"AccountId": "777788889999", "EmailAddress": "bo@example.org"},
        ],
    },
    "list_tags_for_resource": {"ResourceArn": GRAPH},
    "untag_resource": {"ResourceArn": GRAPH, "TagKeys": ["env", "cost center", "z/ü", "a"]},
    "tag_resource": {"ResourceArn": GRAPH, "Tags": {"env": "prod", "team name": "blue/ü"}},
}


@pytest.fixture
def list_graphs(capture: Recorder) -> Req:
    return capture("list_graphs", **OPERATIONS["list_graphs"])


@pytest.fixture
def untag(capture: Recorder) -> Req:
    return capture("untag_resource", **OPERATIONS["untag_resource"])


@pytest.fixture
def list_tags(capture: Recorder) -> Req:
    return capture("list_tags_for_resource", **OPERATIONS["list_tags_for_resource"])


def sign(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    service: str = "detective",
    context: dict[str, Any] | None = None,
) -> Req:
    """Sign a hand-made request with botocore's SigV4Auth (header auth)."""
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    request.context.update(context or {})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, "us-east-1").add_auth(request)
    return asgi(request.prepare())


def presign(method: str, url: str, *, expires: int = 300) -> Req:
    request = AWSRequest(method=method, url=url)
    SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "detective", "us-east-1", expires).add_auth(
        request
    )
    return asgi(request.prepare())


# --- Botocore's requests verify -------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_botocore_requests_verify(capture: Recorder, operation: str) -> None:
    req = capture(operation, **OPERATIONS[operation])
    info = check(req)
    assert info.access_key_id == ACCESS_KEY
    assert info.region == "us-east-1"
    assert info.service == "detective"
    assert info.date == req.signed_at().strftime("%Y%m%d")
    assert info.amz_date == req.header(b"x-amz-date").decode()
    assert "host" in info.signed_headers
    assert info.presigned is False


@pytest.mark.parametrize("operation", OPERATIONS)
def test_canonical_request_is_botocores(capture: Recorder, operation: str) -> None:
    """Byte for byte the canonical request SigV4Auth built on the client side."""
    req = capture(operation, **OPERATIONS[operation])
    info = parse_authorization(req.header_map(), req.query_string)
    assert info is not None
    ours, stamp = sigv4._canonical_request(
        info, req.method, req.raw_path, req.query_string, req.headers, req.body, req.signed_at()
    )
    signed = {k.decode(): v.decode("latin-1") for k, v in req.headers}
    original = AWSRequest(
        method=req.method,
        url=capture.sent[-1].url,
        headers={name: signed[name] for name in info.signed_headers},
        data=req.body,
    )
    original.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "detective", "us-east-1")
    assert ours.decode("utf-8") == auth.canonical_request(original)


def test_path_parameter_is_encoded_twice(list_tags: Req) -> None:
    assert list_tags.raw_path.startswith(b"/tags/arn%3Aaws%3Adetective%3Aus-east-1%3A")
    info = check(list_tags)
    canonical, _ = sigv4._canonical_request(
        info,
        list_tags.method,
        list_tags.raw_path,
        list_tags.query_string,
        list_tags.headers,
        list_tags.body,
        list_tags.signed_at(),
    )
    assert canonical.split(b"\n")[1] == (
        b"/tags/arn%253Aaws%253Adetective%253Aus-east-1%253A123456789012%253Agraph%253A"
        b"027c7c4610ea4aacaf0b883093cab899"
    )


def test_repeated_query_keys(untag: Req) -> None:
    assert untag.query_string.count(b"tagKeys=") == 4
    check(untag)


# --- Tampering --------------------------------------------------------------------------------


def test_wrong_secret(list_graphs: Req) -> None:
    assert rejected(list_graphs, secret=SECRET_KEY[:-1] + "X") == MISMATCH


def test_tampered_body(list_graphs: Req) -> None:
    assert list_graphs.body == b'{"MaxResults": 5}'
    assert rejected(replace(list_graphs, body=b'{"MaxResults": 6}')) == MISMATCH
    assert rejected(replace(list_graphs, body=b"")) == MISMATCH


def test_tampered_method(list_graphs: Req) -> None:
    assert rejected(replace(list_graphs, method="PUT")) == MISMATCH


def test_tampered_path(list_tags: Req) -> None:
    other = list_tags.raw_path[:-1] + b"0"
    assert rejected(replace(list_tags, raw_path=other)) == MISMATCH
    # The same ARN, but not encoded as the client signed it: the raw path is what counts.
    decoded = list_tags.raw_path.replace(b"%3A", b":")
    assert rejected(replace(list_tags, raw_path=decoded)) == MISMATCH


def test_tampered_query(untag: Req) -> None:
    changed = untag.query_string.replace(b"tagKeys=env", b"tagKeys=envy")
    assert rejected(replace(untag, query_string=changed)) == MISMATCH
    dropped = b"&".join(p for p in untag.query_string.split(b"&") if p != b"tagKeys=a")
    assert rejected(replace(untag, query_string=dropped)) == MISMATCH
    added = untag.query_string + b"&tagKeys=extra"
    assert rejected(replace(untag, query_string=added)) == MISMATCH


def test_query_order_and_encoding_variants_still_verify(untag: Req) -> None:
    reordered = b"&".join(reversed(untag.query_string.split(b"&")))
    check(replace(untag, query_string=reordered))
    # Lower-case hex and needlessly encoded unreserved characters mean the same query.
    assert b"z%2F%C3%BC" in untag.query_string
    variant = untag.query_string.replace(b"z%2F%C3%BC", b"%7a%2f%c3%bc")
    check(replace(untag, query_string=variant))


def test_unsigned_headers_are_ignored(list_graphs: Req) -> None:
    info = check(list_graphs)
    assert info.signed_headers == ("content-type", "host", "x-amz-date")
    req = list_graphs.with_header(b"x-forwarded-for", b"10.0.0.1")
    req = req.with_header(b"user-agent", b"something-else/1.0")
    req = req.with_header(b"amz-sdk-request", b"attempt=2")
    check(req)


def test_changed_signed_header(list_graphs: Req) -> None:
    assert rejected(list_graphs.with_header(b"content-type", b"application/x-amz-json-1.1")) == (
        MISMATCH
    )
    assert rejected(list_graphs.with_header(b"host", b"127.0.0.1:4598")) == MISMATCH


def test_repeated_signed_header_is_joined(list_graphs: Req) -> None:
    doubled = replace(list_graphs, headers=[*list_graphs.headers, (b"content-type", b"x")])
    assert rejected(doubled) == MISMATCH


def test_changed_timestamp(list_graphs: Req) -> None:
    signed_at = list_graphs.signed_at()
    later = (signed_at + datetime.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ").encode()
    assert rejected(list_graphs.with_header(b"x-amz-date", later), now=signed_at) == MISMATCH


def test_timestamp_from_another_day_than_scope(list_graphs: Req) -> None:
    signed_at = list_graphs.signed_at()
    stamp = (signed_at + datetime.timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ")
    message = rejected(list_graphs.with_header(b"x-amz-date", stamp.encode()), now=signed_at)
    assert message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        f"HTTP: '{signed_at:%Y%m%d}' != '{stamp[:8]}', from 'X-Amz-Date'."
    )


def test_non_ascii_signature_is_a_mismatch(list_graphs: Req) -> None:
    info = parse_authorization(list_graphs.header_map(), b"")
    assert info is not None
    with pytest.raises(InvalidSignatureException):
        verify_signature(
            replace(info, signature="é" * 64),
            method=list_graphs.method,
            raw_path=list_graphs.raw_path,
            query_string=list_graphs.query_string,
            headers=list_graphs.headers,
            body=list_graphs.body,
            secret_access_key=SECRET_KEY,
            now=list_graphs.signed_at(),
        )


# --- Clock skew -------------------------------------------------------------------------------


def stamp(when: datetime.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def test_skew_within_fifteen_minutes_passes(list_graphs: Req) -> None:
    signed_at = list_graphs.signed_at()
    for minutes in (14, 15, -14, -15):
        check(list_graphs, now=signed_at + minutes * MINUTE)


def test_signature_expired_after_sixteen_minutes(list_graphs: Req) -> None:
    signed_at = list_graphs.signed_at()
    now = signed_at + 16 * MINUTE
    assert rejected(list_graphs, now=now) == (
        f"Signature expired: {stamp(signed_at)} is now earlier than "
        f"{stamp(now - 15 * MINUTE)} ({stamp(now)} - 15 min.)"
    )


def test_signature_from_the_future(list_graphs: Req) -> None:
    signed_at = list_graphs.signed_at()
    now = signed_at - 16 * MINUTE
    assert rejected(list_graphs, now=now) == (
        f"Signature not yet current: {stamp(signed_at)} is still later than "
        f"{stamp(now + 15 * MINUTE)} ({stamp(now)} + 15 min.)"
    )


def test_naive_now_is_utc(list_graphs: Req) -> None:
    check(list_graphs, now=list_graphs.signed_at().replace(tzinfo=None) + MINUTE)
    assert rejected(list_graphs, now=list_graphs.signed_at().replace(tzinfo=None) + 16 * MINUTE)


# --- Incomplete signatures found while verifying ---------------------------------------------


def test_scoped_to_another_service() -> None:
    req = sign("POST", ENDPOINT + "/graphs/list", body=b"{}", service="guardduty")
    assert incomplete(req) == "Credential should be scoped to correct service: 'detective'."
    check(req, service="guardduty")


def test_host_must_be_signed(list_graphs: Req) -> None:
    info = parse_authorization(list_graphs.header_map(), b"")
    assert info is not None
    with pytest.raises(IncompleteSignatureException) as caught:
        verify_signature(
            replace(info, signed_headers=("content-type", "x-amz-date")),
            method=list_graphs.method,
            raw_path=list_graphs.raw_path,
            query_string=list_graphs.query_string,
            headers=list_graphs.headers,
            body=list_graphs.body,
            secret_access_key=SECRET_KEY,
            now=list_graphs.signed_at(),
        )
    assert caught.value.message == (
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    )


def test_signed_header_absent(list_graphs: Req) -> None:
    message = incomplete(list_graphs.without_header(b"content-type"))
    assert message == "The request is missing the signed header 'content-type'."


# --- Header canonicalisation (botocore's SigV4Auth on hand-made requests) ---------------------


def test_header_whitespace_is_trimmed_and_collapsed() -> None:
    req = sign(
        "POST",
        ENDPOINT + "/graphs/list",
        headers={"X-Gumshoe-Note": "  several   spaces\there  ", "Content-Type": "text/plain"},
        body=b"{}",
    )
    assert (b"x-gumshoe-note", b"several   spaces\there") in req.headers
    check(req)
    check(req.with_header(b"x-gumshoe-note", b"several spaces here"))
    assert rejected(req.with_header(b"x-gumshoe-note", b"severalspaces here")) == MISMATCH


def test_repeated_header_values_are_joined_with_commas() -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/graphs/list", data=b"{}")
    request.headers["X-Gumshoe-Tag"] = "first"
    request.headers["X-Gumshoe-Tag"] = "  second  value "  # HTTPHeaders keeps both
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "detective", "us-east-1").add_auth(request)
    signed = AWSPreparedRequest("POST", request.url, request.headers, b"{}", False)
    assert request.headers.get_all("X-Gumshoe-Tag") == ["first", "  second  value "]
    req = asgi(signed)  # (prepare() would fold the repeated header into one)
    assert [v for k, v in req.headers if k == b"x-gumshoe-tag"] == [b"first", b"second  value"]
    check(req)
    swapped = [(k, v) for k, v in req.headers if k != b"x-gumshoe-tag"]
    swapped += [(b"x-gumshoe-tag", b"second value"), (b"x-gumshoe-tag", b"first")]
    assert rejected(replace(req, headers=swapped)) == MISMATCH
    joined = req.with_header(b"x-gumshoe-tag", b"first,second value")
    check(joined)  # one header "a,b" canonicalises like two headers "a" and "b"


def test_date_header_instead_of_x_amz_date() -> None:
    req = sign("POST", ENDPOINT + "/graphs/list", headers={"Date": "placeholder"}, body=b"{}")
    assert b"x-amz-date" not in dict(req.headers)
    info = parse_authorization(req.header_map(), b"")
    assert info is not None and info.amz_date is None and "date" in info.signed_headers
    signed_at = email_date(req.header(b"date"))
    check(req, now=signed_at + 14 * MINUTE)
    assert rejected(req, now=signed_at + 16 * MINUTE).startswith("Signature expired:")


def email_date(value: bytes) -> datetime.datetime:
    return email.utils.parsedate_to_datetime(value.decode()).replace(tzinfo=UTC)


# --- Payload hash ------------------------------------------------------------------------------


def test_declared_unsigned_payload_is_honoured() -> None:
    # What botocore does when payload signing is off over HTTPS.
    req = sign(
        "POST",
        "https://detective.example/graphs/list",
        headers={"Content-Type": "application/json"},
        body=b'{"MaxResults": 5}',
        context={"payload_signing_enabled": False},
    )
    assert req.header(b"x-amz-content-sha256") == b"UNSIGNED-PAYLOAD"
    check(req)
    check(replace(req, body=b'{"MaxResults": 6}'))  # the client chose not to sign it
    assert rejected(req.with_header(b"x-amz-content-sha256", b"unsigned-payload")) == MISMATCH


def test_declared_body_hash_must_match_the_body() -> None:
    body = b'{"MaxResults": 5}'
    digest = hashlib.sha256(body).hexdigest()
    req = sign(
        "POST", ENDPOINT + "/graphs/list", headers={"X-Amz-Content-SHA256": digest}, body=body
    )
    check(req)
    assert rejected(replace(req, body=b'{"MaxResults": 6}')) == MISMATCH


def test_undeclared_unsigned_payload_is_not_accepted(list_graphs: Req) -> None:
    # Adding the header to a request signed with its body hash breaks it.
    assert rejected(list_graphs.with_header(b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD")) == (
        MISMATCH
    )


# --- Presigned URLs ------------------------------------------------------------------------------


def test_presigned_url_verifies(list_tags: Req) -> None:
    url = ENDPOINT + list_tags.raw_path.decode()
    req = presign("GET", url, expires=300)
    assert b"X-Amz-Signature=" in req.query_string
    assert b"authorization" not in dict(req.headers)
    info = check(req, now=req.signed_at() + MINUTE)
    assert info.presigned is True
    assert info.signed_headers == ("host",)
    assert info.amz_date == stamp(req.signed_at())
    check(req, now=req.signed_at() + 5 * MINUTE)
    # Unsigned headers (even an X-Amz-Date header) play no part.
    check(req.with_header(b"x-amz-date", b"20000101T000000Z").with_header(b"x-extra", b"1"))


def test_presigned_url_expires(list_tags: Req) -> None:
    req = presign("GET", ENDPOINT + list_tags.raw_path.decode(), expires=300)
    signed_at = req.signed_at()
    now = signed_at + datetime.timedelta(seconds=301)
    assert rejected(req, now=now) == (
        f"Signature expired: {stamp(signed_at)} is now earlier than "
        f"{stamp(now - datetime.timedelta(seconds=300))} ({stamp(now)} - 300 sec.)"
    )
    assert rejected(req, now=signed_at - 16 * MINUTE).startswith("Signature not yet current:")


def test_presigned_url_long_expiry_outlives_skew_window(list_tags: Req) -> None:
    req = presign("GET", ENDPOINT + list_tags.raw_path.decode(), expires=3600)
    check(req, now=req.signed_at() + 59 * MINUTE)


def test_presigned_url_tampering(list_tags: Req) -> None:
    req = presign("GET", ENDPOINT + list_tags.raw_path.decode())
    parts = req.query_string.split(b"&")
    signature = next(p for p in parts if p.startswith(b"X-Amz-Signature="))
    bad = signature[:-1] + (b"0" if signature[-1:] != b"0" else b"1")
    assert rejected(replace(req, query_string=req.query_string.replace(signature, bad))) == (
        MISMATCH
    )
    longer = req.query_string.replace(b"X-Amz-Expires=300", b"X-Amz-Expires=600")
    assert rejected(replace(req, query_string=longer)) == MISMATCH
    assert rejected(replace(req, query_string=req.query_string + b"&extra=1")) == MISMATCH
    assert rejected(req.with_header(b"host", b"evil.example")) == MISMATCH
    assert rejected(req, secret="nope") == MISMATCH


# --- Parsing --------------------------------------------------------------------------------------

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261120/us-east-1/detective/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)
DATE = "20261120T101010Z"


def parse_error(authorization: str, **headers: str) -> str:
    headers.setdefault("x-amz-date", DATE)
    with pytest.raises(IncompleteSignatureException) as caught:
        parse_authorization({"authorization": authorization, **headers}, b"")
    return caught.value.message


def test_parse_well_formed_header() -> None:
    info = parse_authorization({"authorization": AUTH, "x-amz-date": DATE}, b"")
    assert info == SignatureInfo(
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        date="20261120",
        region="us-east-1",
        service="detective",
        signed_headers=("content-type", "host", "x-amz-date"),
        signature="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        amz_date=DATE,
        presigned=False,
    )


@pytest.mark.parametrize(
    "variant",
    [
        AUTH.replace(", ", ","),
        AUTH.replace(", ", " ,  ") + "  ",
        "  " + AUTH,
        AUTH.replace("SignedHeaders=content-type", "SignedHeaders=Content-Type"),
    ],
)
def test_parse_tolerates_spacing_and_case(variant: str) -> None:
    reference = parse_authorization({"authorization": AUTH, "x-amz-date": DATE}, b"")
    assert parse_authorization({"authorization": variant, "x-amz-date": DATE}, b"") == reference


def test_no_signature_at_all() -> None:
    assert parse_authorization({}, b"") is None
    assert parse_authorization({"x-amz-date": DATE, "host": "x"}, b"a=1&b=2") is None
    assert parse_authorization({"authorization": "   "}, b"") is None
    assert parse_authorization({}, b"X-Amz-Algorithm-ish=1") is None


def test_missing_signature() -> None:
    auth = AUTH.rsplit(", ", 1)[0]
    assert parse_error(auth) == (
        f"Authorization header requires 'Signature' parameter. Authorization={auth}"
    )


def test_missing_several_parts() -> None:
    auth = "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc"
    assert parse_error(auth) == (
        f"Authorization header requires 'Credential' parameter. Authorization={auth}"
    )
    auth = "AWS4-HMAC-SHA256 Credential=AKID/20261120/us-east-1/detective/aws4_request"
    assert parse_error(auth) == (
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        f"Authorization={auth}"
    )


def test_missing_date() -> None:
    with pytest.raises(IncompleteSignatureException) as caught:
        parse_authorization({"authorization": AUTH}, b"")
    assert caught.value.message == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={AUTH}"
    )


def test_garbage_algorithm() -> None:
    assert parse_error("Bearer eyJhbGciOi.x.y", **{"x-amz-date": ""}) == (
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization=Bearer eyJhbGciOi.x.y"
    )
    assert parse_error(AUTH.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1)) == (
        "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'."
    )
    assert parse_error(AUTH.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)) == (
        "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'."
    )
    assert parse_error("garbage").startswith("Authorization header requires 'Credential'")


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        (
            "AKID/20261120/us-east-1/detective",
            "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/term, got 'AKID/20261120/us-east-1/detective'",
        ),
        (
            "AKID/20261120/us-east-1/detective/aws4_request/x",
            "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/term, got "
            "'AKID/20261120/us-east-1/detective/aws4_request/x'",
        ),
        (
            "/20261120/us-east-1/detective/aws4_request",
            "Credential must have exactly 5 slash-delimited elements, "
            "e.g. keyid/date/region/service/term, got '/20261120/us-east-1/detective/aws4_request'",
        ),
        (
            "AKID/2026-11-20/us-east-1/detective/aws4_request",
            "Credential should be scoped to a valid date (YYYYMMDD), not '2026-11-20'.",
        ),
        (
            "AKID/20261120/US_EAST_1/detective/aws4_request",
            "Credential should be scoped to a valid region, not 'US_EAST_1'.",
        ),
        (
            "AKID/20261120/us-east-1/detective/aws5_request",
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            "not 'aws5_request'.",
        ),
    ],
)
def test_bad_scope(credential: str, message: str) -> None:
    auth = AUTH.replace(f"{ACCESS_KEY}/20261120/us-east-1/detective/aws4_request", credential)
    assert parse_error(auth) == message


def test_malformed_x_amz_date() -> None:
    assert parse_error(AUTH, **{"x-amz-date": "2026-11-20T10:10:10Z"}) == (
        "Date must be in ISO-8601 'basic format'. Got '2026-11-20T10:10:10Z'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )
    assert parse_error(AUTH, **{"x-amz-date": "20261320T101010Z"}).startswith("Date must be")


PRESIGN = {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE%2F20261120%2Fus-east-1%2Fdetective%2Faws4_request",
    "X-Amz-Date": DATE,
    "X-Amz-Expires": "300",
    "X-Amz-SignedHeaders": "host",
    "X-Amz-Signature": "ab" * 32,
}


def query(params: dict[str, str]) -> bytes:
    return "&".join(f"{k}={v}" for k, v in params.items()).encode()


def test_parse_presigned() -> None:
    info = parse_authorization({}, b"foo=bar&" + query(PRESIGN))
    assert info == SignatureInfo(
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        date="20261120",
        region="us-east-1",
        service="detective",
        signed_headers=("host",),
        signature="ab" * 32,
        amz_date=DATE,
        presigned=True,
    )


def presign_error(params: dict[str, str]) -> str:
    with pytest.raises(IncompleteSignatureException) as caught:
        parse_authorization({}, query(params))
    return caught.value.message


def test_presigned_parse_errors() -> None:
    partial = {k: v for k, v in PRESIGN.items() if k not in ("X-Amz-Signature", "X-Amz-Expires")}
    assert presign_error(partial) == (
        "AWS query-string parameters must include 'X-Amz-Signature'. "
        "AWS query-string parameters must include 'X-Amz-Expires'. "
        "Re-examine the query-string parameters."
    )
    assert presign_error({**PRESIGN, "X-Amz-Algorithm": "AWS4-HMAC-SHA1"}) == (
        "X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'."
    )
    assert presign_error({**PRESIGN, "X-Amz-Expires": "604801"}) == (
        "X-Amz-Expires must be less than a week (in seconds) that is 604800"
    )
    assert presign_error({**PRESIGN, "X-Amz-Expires": "-1"}).startswith("X-Amz-Expires")
    assert presign_error({**PRESIGN, "X-Amz-Credential": "AKID%2F20261120"}).startswith(
        "Credential must have exactly 5 slash-delimited elements"
    )


def test_authorization_header_wins_over_query() -> None:
    info = parse_authorization({"authorization": AUTH, "x-amz-date": DATE}, query(PRESIGN))
    assert info is not None and info.presigned is False


# --- Canonical forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (b"", b"/"),
        (b"/", b"/"),
        (b"/graphs/list", b"/graphs/list"),
        (b"/a//b/./c/../d/", b"/a/b/d/"),
        (b"/tags/arn%3Aaws", b"/tags/arn%253Aaws"),
        (b"/x y/\xc3\xa9~", b"/x%20y/%C3%A9~"),
    ],
)
def test_canonical_uri(raw: bytes, canonical: bytes) -> None:
    assert sigv4._canonical_uri(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (b"", b""),
        (b"b=2&a=1&a=0&c", b"a=0&a=1&b=2&c="),
        (b"k=a+b&k=a%20b", b"k=a%20b&k=a%2Bb"),
        (b"%7e=%7E&x=%2f%C3%A9", b"x=%2F%C3%A9&~=~"),
        (b"a=1&&b=2", b"a=1&b=2"),
    ],
)
def test_canonical_query(raw: bytes, canonical: bytes) -> None:
    assert sigv4._canonical_query(raw, False) == (canonical, 0)


def test_signing_key_is_cached(list_graphs: Req) -> None:
    sigv4._signing_pads.cache_clear()
    check(list_graphs)
    check(list_graphs)
    check(list_graphs)
    info = sigv4._signing_pads.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# --- On the wire ---------------------------------------------------------------------------------


class _Handler(socketserver.StreamRequestHandler):
    """Reads one HTTP/1.1 request and records it as h11/uvicorn would present it."""

    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline().rstrip(b"\r\n")
        headers: list[tuple[bytes, bytes]] = []
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.rstrip(b"\r\n").partition(b":")
            headers.append((name.strip().lower(), value.strip(b" \t")))
        length = int(dict(headers).get(b"content-length", b"0"))
        body = self.rfile.read(length)
        method, target, _ = request_line.split(b" ", 2)
        path, _, query_string = target.partition(b"?")
        self.server.captured.append(Req(method.decode(), path, query_string, headers, body))
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    captured: list[Req]


@pytest.fixture(scope="module")
def wire() -> Iterator[Callable[..., Req]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.captured = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = botocore.session.get_session().create_client(
        "detective",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 0}),
    )

    def call(operation: str, **params: Any) -> Req:
        getattr(client, operation)(**params)
        return server.captured[-1]

    try:
        yield call
    finally:
        server.shutdown()
        server.server_close()
        client.close()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_requests_read_off_the_socket_verify(
    wire: Callable[..., Req], operation: str
) -> None:
    req = wire(operation, **OPERATIONS[operation])
    check(req)
    assert rejected(req, secret="wrong") == MISMATCH
