"""Who is calling: account and Region from the SigV4 credential scope, verified in sigv4 mode.

- open (default): the signature is parsed but not checked; a request without one, or with
  one that cannot be parsed, is the default account in the default Region.
- sigv4: the signature is recomputed with the configured secret and compared in constant
  time; AWS's authentication errors otherwise.
"""

from __future__ import annotations

import datetime as dt
import re

from gumshoe.config import Settings
from gumshoe.errors import (
    IncompleteSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from gumshoe.identity.accounts import AccountDirectory, Caller
from gumshoe.identity.sigv4 import parse_authorization, verify_signature

_LENIENT_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/,\s]*/([^/,\s]*)")


def identify(
    settings: Settings,
    directory: AccountDirectory,
    *,
    method: str,
    raw_path: bytes,
    query_string: bytes,
    header_list: list[tuple[bytes, bytes]],
    headers: dict[str, str],
    body: bytes,
    source_ip: str | None,
    payload_hash: bytes | None = None,
) -> Caller:
    user_agent = headers.get("user-agent")
    if settings.auth == "open":
        try:
            info = parse_authorization(headers, query_string)
        except IncompleteSignatureException:
            # Open mode checks nothing, but the caller still names itself: read the scope as
            # well as it can be read (a hand-made header without X-Amz-Date, say).
            scope = _LENIENT_CREDENTIAL.search(headers.get("authorization", ""))
            if scope is None:
                return Caller(settings.default_account, settings.default_region, None, source_ip, user_agent)
            key, region = scope.group(1), scope.group(2)
            return Caller(directory.account_for_key(key), region or settings.default_region, key, source_ip, user_agent)
        if info is None:
            return Caller(settings.default_account, settings.default_region, None, source_ip, user_agent)
        return Caller(
            directory.account_for_key(info.access_key_id), info.region or settings.default_region,
            info.access_key_id, source_ip, user_agent,
        )
    info = parse_authorization(headers, query_string)
    if info is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    secret = directory.secret_for_key(info.access_key_id)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    verify_signature(
        info, method=method, raw_path=raw_path, query_string=query_string, headers=header_list, body=body,
        secret_access_key=secret, now=dt.datetime.now(dt.UTC), payload_hash=payload_hash,
    )
    return Caller(directory.account_for_key(info.access_key_id), info.region, info.access_key_id, source_ip, user_agent)
