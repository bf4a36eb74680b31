"""``gumshoe serve``, and the server's own ``reload`` and ``health``.

``serve`` is the one command that starts the server: its flags come from config.SETTINGS, so
every setting has its flag, environment variable and config key.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gumshoe import __version__
from gumshoe.cli.client import add_endpoint, region_of, signed_headers
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
    import uvicorn

    from gumshoe.app import Gumshoe  # the server itself: only this command starts it

    configure_logging(settings.log_level)
    app = Gumshoe(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, loop="auto", http="auto", lifespan="on",
        access_log=False, log_level="warning", server_header=False, date_header=True,
    )
    server = uvicorn.Server(config)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(
        f"Gumshoe {__version__} listening on http://{host}:{settings.port} (auth {settings.auth}); "
        f"data in {settings.data_dir.resolve()}",
        flush=True,
    )
    server.run()
    return 0


def _call(url: str, method: str) -> tuple[int, dict[str, Any]]:
    """Signed with the usual AWS credentials when there are any: a sigv4 server tells signed
    callers more about itself, and reloads only for an operator credential."""
    headers = signed_headers(method, url, b"", region_of(), {})
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
