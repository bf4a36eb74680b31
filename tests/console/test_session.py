"""Console sessions and scopes without a server: signed cookies, CSRF tokens, the scope
time a URL names."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from gumshoe.console.pages.signin import safe_next
from gumshoe.console.session import SESSION_SECONDS, Sessions
from gumshoe.console.timescope import (
    HOUR_MS,
    ScopeError,
    TimeScope,
    detective_time,
    parse_scope,
)

SECRET = bytes(range(32))


def test_a_session_cookie_round_trips_and_expires() -> None:
    sessions = Sessions(SECRET)
    now = time.time()
    session = sessions.new("111111111111", "eu-west-1", now=now)
    assert session.expires == int(now) + SESSION_SECONDS
    cookie = sessions.encode(session)
    assert sessions.decode(cookie, now=now) == session
    assert sessions.decode(cookie, now=now + SESSION_SECONDS + 1) is None
    # Another server's secret (another data directory) does not know it.
    assert Sessions(bytes(32)).decode(cookie, now=now) is None


@pytest.mark.parametrize("forge", ["payload", "signature", "shape"])
def test_a_changed_cookie_is_no_session(forge: str) -> None:
    sessions = Sessions(SECRET)
    cookie = sessions.encode(sessions.new("111111111111", "us-east-1"))
    payload, signature = cookie.split(".")
    if forge == "payload":
        data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        data["key"] = "999999999999"  # someone else's account, same signature
        forged = base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode() + "." + signature
    elif forge == "signature":
        forged = payload + "." + signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    else:
        forged = cookie + ".x"
    assert sessions.decode(forged) is None
    assert sessions.decode("") is None and sessions.decode(None) is None and sessions.decode("a.!!!") is None


def test_signing_out_revokes_the_session() -> None:
    sessions = Sessions(SECRET)
    session = sessions.new("111111111111", "us-east-1")
    cookie = sessions.encode(session)
    sessions.revoke(session)
    assert sessions.decode(cookie) is None
    other = sessions.new("111111111111", "us-east-1")
    assert sessions.decode(sessions.encode(other)) == other


def test_csrf_tokens_are_per_session() -> None:
    sessions = Sessions(SECRET)
    a, b = sessions.new("111111111111", "us-east-1"), sessions.new("111111111111", "us-east-1")
    token = sessions.csrf_token(a)
    assert sessions.csrf_ok(a, token)
    assert not sessions.csrf_ok(b, token)
    assert not sessions.csrf_ok(a, None) and not sessions.csrf_ok(a, "") and not sessions.csrf_ok(a, token[:-1])
    # The Region changes, the session (and its token) stays.
    assert sessions.csrf_ok(sessions.with_region(a, "eu-west-1"), token)
    nonce = sessions.signin_nonce()
    assert sessions.signin_ok(nonce, sessions.signin_token(nonce))
    assert not sessions.signin_ok(sessions.signin_nonce(), sessions.signin_token(nonce))
    assert not sessions.signin_ok(None, sessions.signin_token(nonce))


def test_secret_check_binds_a_sigv4_session_to_its_secret() -> None:
    sessions = Sessions(SECRET)
    assert sessions.secret_check("AKIA1", "s1") == sessions.secret_check("AKIA1", "s1")
    assert sessions.secret_check("AKIA1", "s1") != sessions.secret_check("AKIA1", "s2")


@pytest.mark.parametrize("target,expected", [
    ("/console/graphs/abc/summary?scope=7d", "/console/graphs/abc/summary?scope=7d"),
    ("https://evil.example/", "/console/"),
    ("//evil.example/console/", "/console/"),
    ("/console//evil.example", "/console/"),
    ("/console/\\evil", "/console/"),
    ("/console/../_gumshoe/reload", "/console/"),
    (None, "/console/"),
])
def test_only_console_pages_are_followed_after_sign_in(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


NOW = 1_796_000_000_000 + 1234  # not on an hour


def test_the_default_scope_is_the_last_24_hours_to_the_next_hour() -> None:
    scope = parse_scope({}, NOW)
    assert scope.preset == "24h" and scope.end_ms % HOUR_MS == 0 and scope.end_ms > NOW
    assert scope.end_ms - scope.start_ms == 24 * HOUR_MS and scope.hours == 24
    assert parse_scope({"scope": "7d"}, NOW).hours == 7 * 24
    assert parse_scope({"scope": "30d"}, NOW).query() == {"scope": "30d"}


def test_a_custom_scope_is_kept_as_given() -> None:
    scope = parse_scope({"from": "2026-11-20T14:00", "to": "2026-11-21T02:30:00Z"}, NOW)
    assert scope == TimeScope(1_795_183_200_000, 1_795_228_200_000)
    assert scope.range_query() == {"from": "2026-11-20T14:00:00Z", "to": "2026-11-21T02:30:00Z"}
    assert parse_scope(scope.range_query(), NOW) == scope
    assert parse_scope({"from": "1795183200000", "to": "1795228200000"}, NOW) == scope
    # An offset is honoured.
    assert parse_scope({"from": "2026-11-20T16:00+02:00", "to": "2026-11-21T02:30Z"}, NOW).start_ms == scope.start_ms


@pytest.mark.parametrize("query", [
    {"scope": "1y"}, {"from": "yesterday"}, {"from": "2026-11-21T00:00", "to": "2026-11-20T00:00"},
    {"from": "2020-01-01", "to": "2026-01-01"}, {"to": "99999999999999999"},
])
def test_a_wrong_scope_says_why(query: dict[str, str]) -> None:
    with pytest.raises(ScopeError):
        parse_scope(query, NOW)


def test_detective_scope_times_are_seconds() -> None:
    assert detective_time("1552867200") == 1_552_867_200_000
    assert detective_time("1552867200000") == 1_552_867_200_000
    assert detective_time("abc") is None and detective_time(None) is None


def test_cookies_of_other_programs_on_the_host_do_not_hide_the_session() -> None:
    from gumshoe.console.web import parse_cookies

    header = 'jupyter="2|a:b|c"; weird=[x]; gumshoe_console=abc.def; empty=; =novalue; gumshoe_console=second'
    assert parse_cookies(header)["gumshoe_console"] == "abc.def"
    assert parse_cookies("") == {}
