"""The ``gumshoe`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gumshoe import __version__, cli_data
from gumshoe.config import (
    SETTINGS,
    SETTINGS_BY_NAME,
    ConfigError,
    Settings,
    load_settings,
)

DEFAULT_ENDPOINT = "http://127.0.0.1:4599"
SERVE_FLAGS = tuple(s.name for s in SETTINGS)


def _add_setting(parser: argparse.ArgumentParser, name: str) -> None:
    setting = SETTINGS_BY_NAME[name]
    help_text = f"{setting.help} [env {setting.env}; default {setting.default}]"
    if setting.kind is bool:
        parser.add_argument(setting.flag, dest=name, action="store_const", const=True, default=None, help=help_text)
    elif setting.kind is tuple:
        metavar = "PATH_OR_URI" if name == "sources" else "PATH"
        parser.add_argument(setting.flag, dest=name, action="append", default=None, metavar=metavar, help=help_text)
    else:
        kind: Any = str if setting.kind is Path else setting.kind
        parser.add_argument(setting.flag, dest=name, type=kind, default=None, help=help_text,
                            choices=["open", "sigv4"] if name == "auth" else None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gumshoe", description="A self-hosted Amazon Detective.")
    parser.add_argument("--version", action="version", version=f"gumshoe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="Run the Detective API server.")
    for name in SERVE_FLAGS:
        _add_setting(serve, name)
    reload = commands.add_parser("reload", help="Make a running server re-read its config file (like SIGHUP).")
    reload.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=f"Server URL [default {DEFAULT_ENDPOINT}]")
    health = commands.add_parser("health", help="Ask a running server whether it is healthy.")
    health.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=f"Server URL [default {DEFAULT_ENDPOINT}]")
    cli_data.add_commands(commands)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )


def serve(settings: Settings) -> int:
    import uvicorn

    from gumshoe.app import Gumshoe

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
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    headers = cli_data.signed_headers(method, url, b"", region, {})
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "serve":
            flags = {name: getattr(args, name) for name in SERVE_FLAGS}
            return serve(load_settings(flags))
        if args.command in ("ingest", "graph", "investigate"):
            return cli_data.run(args)
        if args.command in ("reload", "health"):
            path = "/_gumshoe/reload" if args.command == "reload" else "/_gumshoe/health"
            status, body = _call(args.endpoint_url.rstrip("/") + path, "POST" if args.command == "reload" else "GET")
            print(json.dumps(body, indent=2))
            return 0 if status == 200 else 1
    except ConfigError as exc:
        print(f"gumshoe: {exc}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, ConnectionError) as exc:
        print(f"gumshoe: cannot reach the server at {args.endpoint_url}: {exc}. Is `gumshoe serve` running?", file=sys.stderr)
        return 1
    return 2
