"""Server-side AWS Signature Version 4: parse the signature a request carries, verify it.

Two entry points, both on the hot path of every request:

* :func:`parse_authorization` reads the ``Authorization`` header (or the ``X-Amz-*``
  query parameters of a presigned URL) into a :class:`SignatureInfo`, without any secret.
  The caller looks the access key up, then calls
* :func:`verify_signature`, which rebuilds the canonical request from the request *as
  received* (raw path, raw query, raw ASGI header list, body), derives the signing key
  (cached), and compares signatures in constant time. It also enforces the clock-skew
  window (15 minutes either way) or, for presigned URLs, ``X-Amz-Expires``.

The canonical request is built in bytes, directly from what the ASGI server hands over,
and follows what botocore's ``SigV4Auth`` signs for a non-S3 service (the ground truth for
every AWS SDK talking to Detective):

* Canonical URI: the raw path, with empty and dot segments removed, then URI-encoded once
  more (so ``/tags/arn%3Aaws%3A...`` is signed as ``/tags/arn%253Aaws%253A...``).
* Canonical query: every ``name=value`` pair percent-decoded, then re-encoded per RFC 3986
  (only ``A-Za-z0-9-_.~`` left bare, so a space is ``%20`` and a literal ``+`` is ``%2B``),
  sorted by name then value; ``X-Amz-Signature`` left out when presigned.
* Canonical headers: only the headers named in ``SignedHeaders``, in that order; repeated
  headers joined with ``,``; each value trimmed with inner whitespace runs collapsed to
  one space. Values are used as the octets received (no re-encoding).

The errors (and their texts) are AWS's: :class:`IncompleteSignatureException` for a
signature that cannot be evaluated, :class:`InvalidSignatureException` for one that is
wrong or out of date. The caller raises :class:`MissingAuthenticationTokenException`
when :func:`parse_authorization` returns ``None`` and
:class:`UnrecognizedClientException` when the access key is unknown; their AWS texts are
:data:`MISSING_AUTHENTICATION_TOKEN_MESSAGE` and :data:`UNRECOGNIZED_CLIENT_MESSAGE`.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import unquote, unquote_to_bytes

from gumshoe.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

__all__ = [
    "ALGORITHM",
    "MISSING_AUTHENTICATION_TOKEN_MESSAGE",
    "SIGNATURE_MISMATCH_MESSAGE",
    "UNRECOGNIZED_CLIENT_MESSAGE",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "SignatureInfo",
    "UnrecognizedClientException",
    "parse_authorization",
    "verify_signature",
]

ALGORITHM = "AWS4-HMAC-SHA256"
MISSING_AUTHENTICATION_TOKEN_MESSAGE = "Missing Authentication Token"
UNRECOGNIZED_CLIENT_MESSAGE = "The security token included in the request is invalid."
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)

_UTC = datetime.UTC
_MAX_SKEW = datetime.timedelta(minutes=15)
_MAX_EXPIRES = 604800  # a week, AWS's ceiling for X-Amz-Expires
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest().encode("ascii")
_UNSIGNED_PAYLOAD = b"UNSIGNED-PAYLOAD"
_ALGORITHM_LINE = ALGORITHM.encode("ascii") + b"\n"

_REGION_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_REGION = re.compile(_REGION_PATTERN)
# The well-formed header every SDK sends, matched in one go; anything else takes the slow
# path, which accepts the same headers in looser forms and explains what is wrong.
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/([0-9]{8})/(" + _REGION_PATTERN + r")/([^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=((?:[^;,\sA-Z]+;)*[^;,\sA-Z]+),\s*Signature=([^,\s]+)\s*"
)
_PATH_CANONICAL = re.compile(rb"[A-Za-z0-9\-._~/]*")
_PATH_TO_ENCODE = re.compile(rb"[^A-Za-z0-9\-._~/]")
_QUERY_CANONICAL = re.compile(rb"[A-Za-z0-9\-._~]*")
_QUERY_TO_ENCODE = re.compile(rb"[^A-Za-z0-9\-._~]")
_PERCENT = [b"%%%02X" % i for i in range(256)]

_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
_NO_DATE = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """What a request's SigV4 signature claims, before any secret is involved."""

    access_key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]  # lower-case, as listed
    signature: str
    amz_date: str | None  # X-Amz-Date header (or query param when presigned), else None
    presigned: bool


# --- Parsing ------------------------------------------------------------------------------


def parse_authorization(headers: dict[str, str], query_string: bytes) -> SignatureInfo | None:
    """Read the SigV4 signature of a request, or ``None`` when it carries none.

    ``headers`` maps lower-case header names to values (last value wins). A request carries
    no SigV4 when it has no (non-blank) ``Authorization`` header and no ``X-Amz-Algorithm``
    query parameter. Raises :class:`IncompleteSignatureException` when a signature is present
    but malformed: another algorithm, a missing ``Credential``/``SignedHeaders``/``Signature``
    (or date), or a credential scope that is not
    ``<key>/<yyyymmdd>/<region>/<service>/aws4_request``.
    """
    authorization = headers.get("authorization")
    if authorization is not None:
        match = _AUTHORIZATION.fullmatch(authorization)
        if match is not None:
            amz_date = headers.get("x-amz-date")
            if amz_date is not None and _parse_timestamp(amz_date) is not None:
                key, date, region, service, signed, signature = match.groups()
                return SignatureInfo(
                    key, date, region, service, _split_signed_headers(signed), signature,
                    amz_date, False,
                )  # fmt: skip
        if authorization.strip():
            return _parse_header(authorization, headers)
    if b"X-Amz-Algorithm" in query_string:
        params = _auth_query_params(query_string)
        if "X-Amz-Algorithm" in params:
            return _parse_presigned(params)
    return None


def _parse_header(authorization: str, headers: dict[str, str]) -> SignatureInfo:
    value = authorization.strip()
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        if algorithm.startswith("AWS4-") and "=" not in algorithm:
            # Another member of the SigV4 family (SigV4a's AWS4-ECDSA-P256-SHA256, ...).
            raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'.")
        # Not SigV4 at all (a bearer token, Basic auth, ...): AWS lists everything missing.
        rest = ""

    credential = signed = signature = ""
    for part in rest.split(","):
        name, eq, item = part.partition("=")
        if not eq:
            continue
        name = name.strip()
        if name == "Credential":
            credential = item.strip()
        elif name == "SignedHeaders":
            signed = item.strip()
        elif name == "Signature":
            signature = item.strip()

    amz_date = headers.get("x-amz-date")
    signed_headers = _split_signed_headers(signed)
    has_date = amz_date is not None or "date" in headers
    if not (credential and signature and signed_headers and has_date):
        missing = []
        if not credential:
            missing.append("Authorization header requires 'Credential' parameter.")
        if not signature:
            missing.append("Authorization header requires 'Signature' parameter.")
        if not signed_headers:
            missing.append("Authorization header requires 'SignedHeaders' parameter.")
        if not has_date:
            missing.append(_NO_DATE)
        missing.append(f"Authorization={value}")
        raise IncompleteSignatureException(" ".join(missing))

    if amz_date is not None:
        amz_date = amz_date.strip()
        _check_timestamp_format(amz_date)
    key, date, region, service = _parse_credential(credential)
    return SignatureInfo(key, date, region, service, signed_headers, signature, amz_date, False)


_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)


def _auth_query_params(query_string: bytes) -> dict[str, str]:
    """The ``X-Amz-*`` parameters of a raw query string, percent-decoded (last one wins)."""
    params: dict[str, str] = {}
    for piece in query_string.decode("latin-1").split("&"):
        name, _, item = piece.partition("=")
        if name.startswith("X-Amz-"):
            params[name] = unquote(item)
    return params


def _parse_presigned(params: dict[str, str]) -> SignatureInfo:
    missing = [name for name in _PRESIGN_PARAMS if not params.get(name)]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"AWS query-string parameters must include '{name}'." for name in missing)
            + " Re-examine the query-string parameters."
        )
    algorithm = params["X-Amz-Algorithm"]
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"X-Amz-Algorithm only supports '{ALGORITHM}'.")
    _parse_expires(params["X-Amz-Expires"])
    amz_date = params["X-Amz-Date"]
    _check_timestamp_format(amz_date)
    signed_headers = _split_signed_headers(params["X-Amz-SignedHeaders"])
    if not signed_headers:
        raise IncompleteSignatureException(
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "Re-examine the query-string parameters."
        )
    key, date, region, service = _parse_credential(params["X-Amz-Credential"])
    return SignatureInfo(
        key, date, region, service, signed_headers, params["X-Amz-Signature"], amz_date, True
    )


@lru_cache(maxsize=256)
def _split_signed_headers(signed: str) -> tuple[str, ...]:
    return tuple(name for name in signed.lower().split(";") if name)


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts[:4]):
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    key, date, region, service, terminator = parts
    if len(date) != 8 or not date.isascii() or not date.isdigit():
        raise IncompleteSignatureException(
            f"Credential should be scoped to a valid date (YYYYMMDD), not '{date}'."
        )
    if not _REGION.fullmatch(region):
        raise IncompleteSignatureException(
            f"Credential should be scoped to a valid region, not '{region}'."
        )
    if terminator != "aws4_request":
        raise IncompleteSignatureException(
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not '{terminator}'."
        )
    return key, date, region, service


def _check_timestamp_format(stamp: str) -> None:
    if _parse_timestamp(stamp) is None:
        raise IncompleteSignatureException(_bad_date_message(stamp))


@lru_cache(maxsize=64)  # requests signed in the same second share their timestamp
def _parse_timestamp(stamp: str) -> datetime.datetime | None:
    """``YYYYMMDDTHHMMSSZ`` to an aware datetime, or ``None`` if it is not one."""
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z" or not stamp.isascii():
        return None
    digits = stamp[:8] + stamp[9:15]
    if not digits.isdigit():
        return None
    try:
        return datetime.datetime(
            int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]),
            int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15]),
            tzinfo=_UTC,
        )  # fmt: skip
    except ValueError:
        return None


def _parse_expires(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise IncompleteSignatureException(
            f"X-Amz-Expires should be a number of seconds, not '{value}'."
        )
    expires = int(value)
    if expires > _MAX_EXPIRES:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be less than a week (in seconds) that is {_MAX_EXPIRES}"
        )
    return expires


# --- Verification -------------------------------------------------------------------------


def verify_signature(
    info: SignatureInfo,
    *,
    method: str,
    raw_path: bytes,
    query_string: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    secret_access_key: str,
    now: datetime.datetime,
    service: str = "detective",
    payload_hash: bytes | None = None,
) -> None:
    """Check ``info`` against the request as received; return quietly if it holds.

    ``headers`` is the raw ASGI header list (lower-case names, names may repeat). Raises
    :class:`InvalidSignatureException` when the signature does not match or is out of date
    (more than 15 minutes from ``now`` either way, or past ``X-Amz-Expires`` when
    presigned), :class:`IncompleteSignatureException` when it cannot be evaluated (scoped
    to another service, ``host`` not signed, a signed header absent), and nothing else.

    ``payload_hash`` (hex) stands for the body when it is checked before the body is read (a
    streamed upload): the caller then compares the body it receives with that digest.
    """
    if info.service != service:
        raise IncompleteSignatureException(
            f"Credential should be scoped to correct service: '{service}'."
        )
    try:
        canonical_request, stamp = _canonical_request(
            info, method, raw_path, query_string, headers, body, now, payload_hash
        )
        inner, outer = _signing_pads(secret_access_key, info.date, info.region, info.service)
        # HMAC-SHA256(kSigning, StringToSign), from the cached pad states (RFC 2104).
        inner = inner.copy()
        inner.update(b"".join((
            _ALGORITHM_LINE,
            stamp.encode("ascii"),
            b"\n",
            f"{info.date}/{info.region}/{info.service}/aws4_request\n".encode(),
            hashlib.sha256(canonical_request).hexdigest().encode("ascii"),
        )))  # fmt: skip
        outer = outer.copy()
        outer.update(inner.digest())
        expected = outer.hexdigest()
    except (ValueError, OverflowError):  # data that cannot be part of any valid signature
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE) from None
    provided = info.signature
    if not provided.isascii() or not hmac.compare_digest(expected, provided):
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)


_CONTENT_SHA256 = b"x-amz-content-sha256"
_DATE = b"date"


def _canonical_request(
    info: SignatureInfo,
    method: str,
    raw_path: bytes,
    query_string: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    now: datetime.datetime,
    declared_hash: bytes | None = None,
) -> tuple[bytes, str]:
    """The canonical request (bytes) and the request timestamp, after the date checks."""
    names, wanted, signed_line = _header_plan(info.signed_headers)

    # One pass over the header list: the signed headers, plus the two that steer signing.
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in wanted:
            value = b" ".join(value.split())  # trim, collapse inner whitespace runs
            previous = found.get(name)
            found[name] = value if previous is None else previous + b"," + value

    lines = []
    for name in names:
        header = found.get(name)
        if header is None:
            raise IncompleteSignatureException(
                f"The request is missing the signed header '{name.decode('latin-1')}'."
            )
        lines.append(name + b":" + header + b"\n")

    # The timestamp: X-Amz-Date (header, or query when presigned), else the Date header.
    if info.amz_date is not None:
        stamp, source = info.amz_date, "X-Amz-Date"
    else:
        stamp, source = _date_header_stamp(found.get(_DATE)), "Date"
    request_time = _parse_timestamp(stamp)
    if request_time is None:
        raise IncompleteSignatureException(_bad_date_message(stamp))
    if stamp[:8] != info.date:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{info.date}' != '{stamp[:8]}', from '{source}'."
        )

    canonical_query, expires = _canonical_query(query_string, info.presigned)
    _check_time(stamp, request_time, now, expires if info.presigned else None)

    # Payload hash. Botocore signs the body's real SHA-256 for Detective; it only ever sends
    # x-amz-content-sha256 with UNSIGNED-PAYLOAD (payload signing turned off over HTTPS), and
    # then signs that literal instead. So: a declared UNSIGNED-PAYLOAD is honoured (the body
    # is then not covered, exactly as on AWS); any other declared value (a digest, S3's
    # STREAMING-*) is ignored and the real body hash is used, so a body that does not match
    # its declared digest fails the signature rather than being trusted. A presigned URL
    # without the header signs the body hash too, as botocore's SigV4QueryAuth does.
    if found.get(_CONTENT_SHA256) == _UNSIGNED_PAYLOAD:
        payload_hash = _UNSIGNED_PAYLOAD
    elif declared_hash is not None:
        payload_hash = declared_hash
    elif body:
        payload_hash = hashlib.sha256(body).hexdigest().encode("ascii")
    else:
        payload_hash = _EMPTY_SHA256

    return b"".join((
        method.upper().encode("ascii"),
        b"\n",
        _canonical_uri(raw_path),
        b"\n",
        canonical_query,
        b"\n",
        *lines,
        b"\n",
        signed_line,
        b"\n",
        payload_hash,
    )), stamp  # fmt: skip


@lru_cache(maxsize=256)
def _header_plan(
    signed_headers: tuple[str, ...],
) -> tuple[tuple[bytes, ...], frozenset[bytes], bytes]:
    """Signed header names as bytes, the names to collect, the SignedHeaders line (cached).

    Raises IncompleteSignatureException when ``host`` is not signed.
    """
    if "host" not in signed_headers:
        raise IncompleteSignatureException(_HOST_NOT_SIGNED)
    names = tuple(name.encode("utf-8") for name in signed_headers)
    return names, frozenset((*names, _CONTENT_SHA256, _DATE)), b";".join(names)


def _signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
    key = hmac.digest(("AWS4" + secret_access_key).encode("utf-8"), date.encode(), "sha256")
    key = hmac.digest(key, region.encode("utf-8"), "sha256")
    key = hmac.digest(key, service.encode("utf-8"), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


class _HashState(Protocol):
    def copy(self) -> _HashState: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


@lru_cache(maxsize=1024)
def _signing_pads(
    secret_access_key: str, date: str, region: str, service: str
) -> tuple[_HashState, _HashState]:
    """The signing key, derived once per (secret, date, region, service) and kept as the two
    SHA-256 states HMAC starts from (key XOR ipad, key XOR opad): copying them is about half
    the cost of a fresh ``hmac.digest`` (OpenSSL 3 HMAC set-up is slow)."""
    key = _signing_key(secret_access_key, date, region, service).ljust(64, b"\0")
    return (
        hashlib.sha256(key.translate(_IPAD)),
        hashlib.sha256(key.translate(_OPAD)),
    )


_IPAD = bytes(i ^ 0x36 for i in range(256))
_OPAD = bytes(i ^ 0x5C for i in range(256))


def _bad_date_message(stamp: str) -> str:
    return (
        f"Date must be in ISO-8601 'basic format'. Got '{stamp}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _date_header_stamp(value: bytes | None) -> str:
    """The ``Date`` header (RFC 7231) as ``YYYYMMDDTHHMMSSZ``."""
    if value is None:
        raise IncompleteSignatureException(_NO_DATE)
    text = value.decode("latin-1")
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise IncompleteSignatureException(_bad_date_message(text)) from None
    if when.tzinfo is None:  # "-0000": UTC, with no claim about the sender's zone
        when = when.replace(tzinfo=_UTC)
    return _stamp(when)


def _check_time(
    stamp: str, request_time: datetime.datetime, now: datetime.datetime, expires: int | None
) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=_UTC)
    age = now - request_time
    if -age > _MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {stamp} is still later than "
            f"{_stamp(now + _MAX_SKEW)} ({_stamp(now)} + 15 min.)"
        )
    if expires is None:
        if age > _MAX_SKEW:
            raise InvalidSignatureException(
                f"Signature expired: {stamp} is now earlier than "
                f"{_stamp(now - _MAX_SKEW)} ({_stamp(now)} - 15 min.)"
            )
    elif age > datetime.timedelta(seconds=expires):
        raise InvalidSignatureException(
            f"Signature expired: {stamp} is now earlier than "
            f"{_stamp(now - datetime.timedelta(seconds=expires))} ({_stamp(now)} - {expires} sec.)"
        )


def _stamp(when: datetime.datetime) -> str:
    return when.astimezone(_UTC).strftime("%Y%m%dT%H%M%SZ")


def _percent(match: re.Match[bytes]) -> bytes:
    return _PERCENT[match.group()[0]]


def _canonical_uri(raw_path: bytes) -> bytes:
    """The raw path with empty/dot segments removed, URI-encoded once more (non-S3 rule)."""
    if not raw_path:
        return b"/"
    if b"//" in raw_path or b"/." in raw_path or raw_path[:1] == b".":
        raw_path = _remove_dot_segments(raw_path)
    if _PATH_CANONICAL.fullmatch(raw_path):
        return raw_path
    return _PATH_TO_ENCODE.sub(_percent, raw_path)


def _remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 5.2.4, plus the removal of empty segments AWS wants (as botocore does)."""
    output: list[bytes] = []
    for segment in path.split(b"/"):
        if not segment or segment == b".":
            continue
        if segment == b"..":
            if output:
                output.pop()
        else:
            output.append(segment)
    first = b"/" if path[:1] == b"/" else b""
    last = b"/" if path[-1:] == b"/" and output else b""
    return first + b"/".join(output) + last or b"/"


def _canonical_query(query_string: bytes, presigned: bool) -> tuple[bytes, int]:
    """The canonical query string, and X-Amz-Expires when presigned (else 0)."""
    if not query_string:
        return b"", 0
    pairs: list[tuple[bytes, bytes]] = []
    expires = b""
    for piece in query_string.split(b"&"):
        if not piece:
            continue
        name, _, value = piece.partition(b"=")
        if not _QUERY_CANONICAL.fullmatch(name):
            name = _QUERY_TO_ENCODE.sub(_percent, unquote_to_bytes(name))
        if not _QUERY_CANONICAL.fullmatch(value):
            value = _QUERY_TO_ENCODE.sub(_percent, unquote_to_bytes(value))
        if presigned:
            if name == b"X-Amz-Signature":
                continue
            if name == b"X-Amz-Expires":
                expires = value
        pairs.append((name, value))
    pairs.sort()
    canonical = b"&".join([name + b"=" + value for name, value in pairs])
    if not presigned:
        return canonical, 0
    if not expires:
        raise IncompleteSignatureException(
            "AWS query-string parameters must include 'X-Amz-Expires'. "
            "Re-examine the query-string parameters."
        )
    return canonical, _parse_expires(expires.decode("ascii"))
