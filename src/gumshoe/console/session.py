"""Console sessions: signed cookies, and the CSRF tokens of their forms.

A session is a cookie the server signed and can check without storing anything:

    gumshoe_console = base64url(JSON {sid, key, region, exp, sec}) "." base64url(HMAC-SHA256)

The HMAC key is derived from the control store's token secret (kept in the data directory's
database, made once), so sessions survive restarts and no other secret needs managing. The
cookie is HttpOnly, SameSite=Strict, Path=/console and expires after ``SESSION_SECONDS``; the
signature is checked with ``hmac.compare_digest``. ``sec`` binds a sigv4 session to the
secret it signed in with: when the configured secret changes (a reload), the session ends.
Signing out revokes the session id in this process as well as clearing the cookie.

Each session has one CSRF token, an HMAC of its id, put in a hidden field of every form and
compared in constant time on every POST. The sign-in form, which has no session yet, has its
own: a random nonce in a short-lived cookie and its HMAC in the form (a double submit).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, replace

import orjson

COOKIE = "gumshoe_console"
SIGNIN_COOKIE = "gumshoe_console_signin"
SESSION_SECONDS = 12 * 3600
SIGNIN_SECONDS = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    sid: str
    access_key_id: str
    region: str
    expires: int  # epoch seconds
    secret_check: str = ""  # sigv4: binds the session to the secret it signed in with


class Sessions:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"gumshoe console session v1", hashlib.sha256).digest()
        self._revoked: dict[str, int] = {}
        self._lock = threading.Lock()

    def _mac(self, *parts: str) -> bytes:
        return hmac.new(self._key, "\x00".join(parts).encode(), hashlib.sha256).digest()

    # --- sessions ------------------------------------------------------------------------

    def secret_check(self, access_key_id: str, secret: str) -> str:
        return _b64(self._mac("secret", access_key_id, secret)[:18])

    def new(self, access_key_id: str, region: str, secret_check: str = "", now: float | None = None) -> Session:
        issued = int(now if now is not None else time.time())
        return Session(secrets.token_urlsafe(18), access_key_id, region, issued + SESSION_SECONDS, secret_check)

    def encode(self, session: Session) -> str:
        payload = _b64(orjson.dumps({"sid": session.sid, "key": session.access_key_id, "region": session.region,
                                     "exp": session.expires, "sec": session.secret_check}))
        return f"{payload}.{_b64(self._mac('session', payload))}"

    def decode(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None when it is absent, forged, expired or revoked."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 4096:
            return None
        payload, signature = cookie.split(".")
        try:
            given = _unb64(signature)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(given, self._mac("session", payload)):
            return None
        try:
            data = orjson.loads(_unb64(payload))
            session = Session(str(data["sid"]), str(data["key"]), str(data["region"]), int(data["exp"]),
                              str(data.get("sec", "")))
        except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            return None
        if session.expires <= (now if now is not None else time.time()):
            return None
        with self._lock:
            if session.sid in self._revoked:
                return None
        return session

    def with_region(self, session: Session, region: str) -> Session:
        return replace(session, region=region)

    def revoke(self, session: Session) -> None:
        now = int(time.time())
        with self._lock:
            for sid in [s for s, exp in self._revoked.items() if exp <= now]:
                del self._revoked[sid]
            self._revoked[session.sid] = session.expires

    # --- CSRF ----------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return _b64(self._mac("csrf", session.sid))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token(session).encode())  # type: ignore[union-attr]

    def signin_nonce(self) -> str:
        return secrets.token_urlsafe(18)

    def signin_token(self, nonce: str) -> str:
        return _b64(self._mac("signin", nonce))

    def signin_ok(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(token.encode(), self.signin_token(nonce).encode())
