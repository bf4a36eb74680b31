"""Pagination tokens: opaque, tamper-evident, bound to caller and query."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest

from gumshoe.errors import ValidationException
from gumshoe.pagination import TokenCodec

SECRET = bytes(range(32))
BINDING = ("111111111111", "us-east-1", "ListMembers", "arn:aws:detective:us-east-1:111111111111:graph:abc")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(payload: object, secret: bytes = SECRET) -> str:
    """A token signed with ``secret`` the way the codec signs them (only the server knows its secret)."""
    body = orjson.dumps(payload)
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:16]
    return f"{b64(body)}.{b64(mac)}"


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(SECRET)


@pytest.mark.parametrize("after", [[0], [42, "arn:x"], ["123456789012"], [1.5, None, "ü"], []])
def test_round_trip(codec, after):
    token = codec.encode(BINDING, after)
    assert isinstance(token, str) and token
    assert codec.decode(token, BINDING) == after


def test_tokens_are_url_safe_and_opaque(codec):
    token = codec.encode(BINDING, [12345])
    assert all(c.isalnum() or c in "-_." for c in token)
    assert "111111111111" not in token and "ListMembers" not in token


def test_another_codec_with_the_same_secret_accepts_the_token(codec):
    token = codec.encode(BINDING, [7])
    assert TokenCodec(SECRET).decode(token, BINDING) == [7]


def invalid(codec: TokenCodec, token: str, binding: tuple[str, ...] = BINDING) -> ValidationException:
    with pytest.raises(ValidationException) as exc:
        codec.decode(token, binding)
    assert exc.value.message
    return exc.value


def test_a_tampered_body_is_rejected(codec):
    token = codec.encode(BINDING, [5])
    body, mac = token.split(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["a"] = [500]
    invalid(codec, f"{b64(orjson.dumps(payload))}.{mac}")
    # One character changed anywhere.
    for i in range(0, len(token)):
        if token[i] == ".":
            continue
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        try:
            decoded = codec.decode(flipped, BINDING)
        except ValidationException:
            continue
        # Only a change in the unused padding bits of the last base64 character can survive.
        assert decoded == [5]


def test_a_tampered_mac_is_rejected(codec):
    body, mac = codec.encode(BINDING, [5]).split(".")
    invalid(codec, f"{body}.{b64(b'0' * 16)}")
    invalid(codec, f"{body}.")
    invalid(codec, body)


@pytest.mark.parametrize("cut", [1, 3, 10, -1, -5])
def test_a_truncated_token_is_rejected(codec, cut):
    token = codec.encode(BINDING, [5, "x" * 20])
    invalid(codec, token[:cut])


@pytest.mark.parametrize(
    "other",
    [
        ("222222222222",) + BINDING[1:],  # another account
        (BINDING[0], "eu-west-1") + BINDING[2:],  # another Region
        BINDING[:2] + ("ListInvitations",) + BINDING[3:],  # another operation
        BINDING[:3] + ("arn:aws:detective:us-east-1:111111111111:graph:def",),  # another graph
        BINDING[:3],  # a shorter binding
    ],
    ids=["account", "region", "operation", "graph", "shorter"],
)
def test_a_token_of_another_binding_is_rejected(codec, other):
    invalid(codec, codec.encode(BINDING, [5]), other)


def test_a_token_of_another_server_is_rejected(codec):
    foreign = TokenCodec(b"another secret entirely").encode(BINDING, [5])
    invalid(codec, foreign)


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "..", "abc", "abc.def", "!!!.@@@", "ü.ü", "null", "e30.e30", "a" * 5000, " " + "x.y", "Zm9v.YmFy.YmF6"],
)
def test_garbage_is_rejected(codec, garbage):
    invalid(codec, garbage)


@pytest.mark.parametrize(
    "payload",
    [
        {"b": list(BINDING), "a": 5},  # the key is not a list
        {"b": list(BINDING), "a": {"k": 1}},
        {"b": list(BINDING)},  # no key
        {"a": [1]},  # no binding
        [list(BINDING), [1]],  # not an object
        "just a string",
        None,
    ],
)
def test_well_signed_but_malformed_payloads_are_rejected(codec, payload):
    invalid(codec, forge(payload))


def test_the_error_is_a_client_error_with_a_code(codec):
    err = invalid(codec, "nonsense")
    assert err.code == "ValidationException"
    assert err.status == 400
    assert err.members.get("ErrorCode") == "INVALID_REQUEST_BODY"
