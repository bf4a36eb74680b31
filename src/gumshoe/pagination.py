"""Opaque, tamper-evident pagination tokens bound to the caller and the query.

A token is ``base64url(json payload) . base64url(HMAC-SHA256)`` under a secret kept in the
control store. The payload names the operation, account, region and query (a graph ARN, a
filter) and the key after which the next page starts (keyset pagination, so pages stay
stable while rows are added or removed). Anything else — a forged, truncated or foreign
token — is a ValidationException.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from gumshoe.errors import ValidationException

# The model's MaxResults limit and default for Detective's member-style lists.
DEFAULT_PAGE_SIZE = 200


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def invalid_token() -> ValidationException:
    return ValidationException(
        "The pagination token is invalid: it was not issued for this caller and request. "
        "Repeat the request without NextToken to start from the first page.",
        error_code="INVALID_REQUEST_BODY",
    )


class TokenCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]

    def encode(self, binding: tuple[str, ...], after: list[Any]) -> str:
        payload = orjson.dumps({"b": list(binding), "a": after})
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str, binding: tuple[str, ...]) -> list[Any]:
        try:
            body, mac = token.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac(payload)):
                raise ValueError("bad mac")
            data = orjson.loads(payload)
            if data["b"] != list(binding):
                raise ValueError("foreign token")
            after = data["a"]
            if not isinstance(after, list):
                raise ValueError("bad key")
            return after
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            raise invalid_token() from None
