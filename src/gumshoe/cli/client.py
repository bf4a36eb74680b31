"""What every command that talks to a running server shares: where it is, who you are (the
usual AWS credentials, or none for an open-mode server), signed requests, and the one
message for a server that cannot be reached."""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import sys
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

from rich.console import Console

DEFAULT_ENDPOINT = "http://127.0.0.1:4599"
# The account an open-mode server gives a request that names none (config.DEFAULT_ACCOUNT_ID,
# unless the server sets default_account).
DEFAULT_ACCOUNT = "123456789012"
# The width of output that goes to a pipe or a file: wide enough that no table folds a cell (an
# ARN stays whole on one line, for grep and cut), and no message breaks over lines.
PIPE_WIDTH = 10_000


def _console(stderr: bool) -> Console:
    """A terminal's width on a terminal (long cells fold there, readable in place); elsewhere
    PIPE_WIDTH: for output, unless COLUMNS asks for a width; for messages, always (one line
    each, for a log and grep)."""
    stream = sys.stderr if stderr else sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    chosen = not stderr and os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=None if terminal or chosen else PIPE_WIDTH)


console = _console(stderr=True)
out = _console(stderr=False)


class ServerError(Exception):
    """The server answered with an error (its message says what to do)."""


class UsageError(Exception):
    """The command cannot go on as asked (a bad --from, no graph to pick): the message says why."""


def add_endpoint(parser: argparse.ArgumentParser, region: bool = True) -> None:
    parser.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=f"Server URL [default {DEFAULT_ENDPOINT}]")
    if region:
        parser.add_argument("--region", default=None, help="Region to sign requests for [default: AWS_REGION or us-east-1]")


def region_of(args: argparse.Namespace | None = None) -> str:
    """The Region requests are signed for. A --region with no credentials to sign with is an
    error: an unsigned request is in the server's default Region, whatever the flag says."""
    given = getattr(args, "region", None) if args is not None else None
    if given and credentials(notice=False) is None:
        raise UsageError(f"--region {given} needs AWS credentials: an unsigned request is in the server's default "
                         "Region. Set AWS_ACCESS_KEY_ID (open mode: your account id) and AWS_SECRET_ACCESS_KEY "
                         "(any value in open mode), or leave out --region.")
    return given or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def cannot_reach(endpoint: str, exc: BaseException, command: str = "") -> str:
    hint = " (Or use --data-dir to work on a data directory.)" if command == "ingest" else ""
    return f"cannot reach the server at {endpoint}: {exc}. Is `gumshoe serve` running?{hint}"


_noticed: list[bool] = []


def credentials(notice: bool = True) -> Any:
    """The usual AWS credentials (environment, profile, ...), or None. With none, an open-mode
    server takes the request as its default account: said once, on stderr, so that nobody
    reads that account's graphs believing them their own."""
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None and notice and not _noticed:
        _noticed.append(True)
        console.print(f"[yellow]gumshoe: no AWS credentials set: acting as account {DEFAULT_ACCOUNT} (an open-mode "
                      "server's default account); set AWS_ACCESS_KEY_ID to your account id (open mode) or configure "
                      "credentials (aws configure) to act as your own.[/]")
    return found


def account_of(found: Any) -> str | None:
    """The account a request is taken as, when the access key id is an account id (open mode),
    or the default account when there are no credentials; None when the key names no account."""
    if found is None:
        return DEFAULT_ACCOUNT
    key = str(found.access_key or "")
    return key if key.isdigit() and len(key) == 12 else None


def signed_headers(method: str, url: str, body: bytes | BinaryIO, region: str,
                   headers: dict[str, str] | None = None, notice: bool = True) -> dict[str, str]:
    """The headers of a request signed with the usual AWS credentials, if there are any (an
    open-mode server takes the default account otherwise). A file body is read to hash it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    headers = dict(headers or ({"Content-Type": "application/json"} if body else {}))
    found = credentials(notice)
    if found is None:
        return headers
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(found.get_frozen_credentials(), "detective", region).add_auth(request)
    return dict(request.headers.items())


def request(endpoint: str, method: str, path: str, body: bytes | BinaryIO, region: str,
             headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    url = endpoint.rstrip("/") + path
    parts = urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.hostname or "127.0.0.1", parts.port, timeout=3600)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, target, body=body or None, headers=signed_headers(method, url, body, region, headers))
    response = conn.getresponse()
    if response.status >= 400:
        data = response.read()
        try:
            message = json.loads(data).get("message", data.decode())
        except ValueError:
            message = data.decode("utf-8", "replace")
        raise ServerError(f"{response.status} {response.getheader('x-amzn-ErrorType') or ''}: {message}".strip())
    return response


def get_json(args: argparse.Namespace, path: str, query: dict[str, str]) -> Any:
    response = request(args.endpoint_url, "GET", f"{path}?{urlencode(query)}", b"", region_of(args))
    return json.loads(response.read())


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")
