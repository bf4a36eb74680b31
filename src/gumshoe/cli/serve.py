"""``gumshoe serve``, and the server's own ``reload`` and ``health``.

``serve`` is the one command that starts the server: its flags come from config.SETTINGS, so
every setting has its flag, environment variable and config key.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.markup import escape

from gumshoe import __version__
from gumshoe.cli.client import add_endpoint, console, region_of, signed_headers
from gumshoe.cli.datadir import DataDirInUse, hold
from gumshoe.config import SETTINGS, SETTINGS_BY_NAME, Settings, load_settings

SERVE_FLAGS = tuple(s.name for s in SETTINGS)


def add_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="Run the Detective API server.")
    for name in SERVE_FLAGS:
        _add_setting(serve, name)
    reload = commands.add_parser("reload", help="Make a running server re-read its config file (like SIGHUP).")
    add_endpoint(reload, region=False)
    health = commands.add_parser("health", help="Ask a running server whether it is healthy.")
    add_endpoint(health, region=False)


def _add_setting(parser: argparse.ArgumentParser, name: str) -> None:
    setting = SETTINGS_BY_NAME[name]
    help_text = f"{setting.help} [env {setting.env}; default {setting.default}]"
    if setting.kind is bool:
        parser.add_argument(setting.flag, dest=name, action="store_const", const=True, default=None, help=help_text)
    elif setting.kind is tuple:
        metavar = "PATH_OR_URI" if name in ("sources", "ingest_roots") else "PATH"
        parser.add_argument(setting.flag, dest=name, action="append", default=None, metavar=metavar, help=help_text)
    else:
        kind: Any = str if setting.kind is Path else setting.kind
        parser.add_argument(setting.flag, dest=name, type=kind, default=None, help=help_text,
                            choices=["open", "sigv4"] if name == "auth" else None)


def run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(load_settings({name: getattr(args, name) for name in SERVE_FLAGS}))
    path = "/_gumshoe/reload" if args.command == "reload" else "/_gumshoe/health"
    status, body = _call(args.endpoint_url.rstrip("/") + path, "POST" if args.command == "reload" else "GET")
    print(json.dumps(body, indent=2))
    return 0 if status == 200 else 1


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )


def serve(settings: Settings) -> int:
    """Take the port, then the data directory, then start: a port in use, or a data directory
    another server holds, ends here with a message, before anything is created or printed."""
    import uvicorn

    from gumshoe.app import Gumshoe  # the server itself: only this command starts it

    configure_logging(settings.log_level)
    try:
        sockets = listen(settings.host, settings.port)
    except PortInUse as exc:
        console.print(f"[red]gumshoe: {escape(str(exc))}[/]")
        return 1
    try:
        port = sockets[0].getsockname()[1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        url = f"http://{host}:{port}"
        try:
            lock = hold(settings.data_dir, "server", _reachable(settings.host, port))
        except DataDirInUse as exc:
            console.print(f"[red]gumshoe: {escape(str(exc))}[/]")
            return 1
        try:
            app = Gumshoe(settings)
            config = uvicorn.Config(
                app, host=settings.host, port=port, loop="auto", http="auto", lifespan="on",
                access_log=False, log_level="warning", server_header=False, date_header=True,
            )
            print(f"Gumshoe {__version__} listening on {url} (auth {settings.auth}); "
                  f"data in {settings.data_dir.resolve()}", flush=True)
            uvicorn.Server(config).run(sockets=sockets)
        finally:
            if lock is not None:
                lock.close()
    finally:
        for sock in sockets:
            sock.close()
    return 0


def _reachable(host: str, port: int) -> str:
    """The URL a client on this machine reaches the server at (every interface: loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class PortInUse(Exception):
    """The server cannot listen where asked: the message says where, and what to do."""


def listen(host: str, port: int) -> list[socket.socket]:
    """The server's listening sockets, bound here (one per address of ``host``, as asyncio
    would) and handed to uvicorn: a port in use is known before anything else is done, and no
    other process can take it between the check and the start."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUse(f"cannot listen on {host}: {exc.strerror}; pass a --host this machine has "
                        "(127.0.0.1, or 0.0.0.0 for every interface).") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    chosen = port  # --port 0: the port the first address got, for them all
    try:
        for family, kind, proto, _, address in addresses:
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart needs no wait
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], chosen, *address[2:]))
            sock.listen(2048)  # uvicorn's default backlog
            sock.setblocking(False)
            chosen = sock.getsockname()[1]
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is in use: stop the other server, or pass another --port "
                            "(or --host).") from None
        if exc.errno == errno.EACCES:
            raise PortInUse(f"not allowed to listen on port {port} on {host}: pass a --port above 1023, or "
                            "run as a user that may.") from None
        raise PortInUse(f"cannot listen on port {port} on {host}: {exc.strerror or exc}; pass another --host or "
                        "--port.") from None
    return sockets


def _call(url: str, method: str) -> tuple[int, dict[str, Any]]:
    """Signed with the usual AWS credentials when there are any: a sigv4 server tells signed
    callers more about itself, and reloads only for an operator credential."""
    headers = signed_headers(method, url, b"", region_of(), {}, notice=False)
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
