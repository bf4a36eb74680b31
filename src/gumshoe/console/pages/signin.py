"""Signing in and out, and the Region of the session.

``--auth open``: the access key id alone names the account, as for the API (12 digits are
the account; a configured key maps to its account; any other key is the default account).
``--auth sigv4``: the secret access key must be the one configured for the key id.
"""

from __future__ import annotations

import hmac
import re

from gumshoe.console.page import Page
from gumshoe.console.session import (
    COOKIE,
    SESSION_SECONDS,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
)
from gumshoe.console.web import Response, redirect

KEY_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page of this server, nothing else."""
    if not target or not target.startswith("/console/") or target.startswith("/console//"):
        return "/console/"
    if any(c in target for c in "\\\r\n\t") or "/../" in target:
        return "/console/"
    return target


def _form(page: Page, *, status: int = 200, error: str | None = None, key: str = "") -> Response:
    sessions = page.console.sessions
    nonce = sessions.signin_nonce()
    response = page.render(
        "signin.html", status=status, title="Sign in", signin_token=sessions.signin_token(nonce),
        next=safe_next(page.request.query.get("next") or page.request.form.get("next")), error=error,
        key=key, default_region=page.console.server.settings.default_region,
    )
    response.set_cookie(SIGNIN_COOKIE, nonce, max_age=SIGNIN_SECONDS, secure=page.request.secure)
    return response


async def form(page: Page) -> Response:
    if page.session is not None:
        return redirect(safe_next(page.request.query.get("next")))
    return _form(page)


async def sign_in(page: Page) -> Response:
    request = page.request
    console = page.console
    sessions = console.sessions
    if not sessions.signin_ok(request.cookies.get(SIGNIN_COOKIE), request.form.get("csrf")):
        return _form(page, status=403, error="The sign-in form had expired or was not sent from this page. "
                                             "Sign in again.")
    key = (request.form.get("access_key_id") or "").strip()
    secret = request.form.get("secret_access_key") or ""
    region = request.form.get("region") or console.server.settings.default_region
    if not KEY_ID.match(key):
        return _form(page, status=400, error="Enter an access key id: your 12-digit account id, or a key configured "
                                             "on this server.")
    if region not in console.regions:
        return _form(page, status=400, error=f"Choose one of the Regions listed, not {region[:40]!r}.", key=key)
    secret_check = ""
    if console.server.settings.auth == "sigv4":
        stored = console.services.directory.secret_for_key(key)
        if stored is None or not hmac.compare_digest(stored.encode(), secret.encode()):
            return _form(page, status=401, key=key,
                         error="Wrong access key id or secret access key. This server checks credentials "
                               "(--auth sigv4): use a key and secret configured for it.")
        secret_check = sessions.secret_check(key, stored)
    session = sessions.new(key, region, secret_check)
    response = redirect(safe_next(request.form.get("next")))
    response.set_cookie(COOKIE, sessions.encode(session), max_age=SESSION_SECONDS, secure=request.secure)
    response.delete_cookie(SIGNIN_COOKIE, secure=request.secure)
    return response


async def sign_out(page: Page) -> Response:
    assert page.session is not None
    page.console.sessions.revoke(page.session)
    response = redirect("/console/signin")
    response.delete_cookie(COOKIE, secure=page.request.secure)
    return response


async def set_region(page: Page) -> Response:
    assert page.session is not None
    region = page.request.form.get("region", "")
    if region not in page.console.regions:
        return page.error(400, "Unknown Region", f"Choose one of the Regions listed, not {region[:40]!r}.")
    session = page.console.sessions.with_region(page.session, region)
    response = redirect(safe_next(page.request.form.get("back") or "/console/accounts"))
    response.set_cookie(COOKIE, page.console.sessions.encode(session), max_age=page.session_max_age(),
                        secure=page.request.secure)
    return response
