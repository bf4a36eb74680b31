"""The ``gumshoe`` command line: one module per command group, and the client they share.

    serve.py        gumshoe serve | reload | health
    ingest.py       gumshoe ingest
    graph.py        gumshoe graph entities | profile
    investigate.py  gumshoe investigate
    client.py       endpoint, Region, credentials, signed requests, the messages for errors
    datadir.py      the hold of a data directory: one server, or one ingest --data-dir
"""

from __future__ import annotations

import argparse
import sys
import urllib.error

from rich.markup import escape

from gumshoe import __version__
from gumshoe.cli import graph, ingest, investigate, serve
from gumshoe.cli.client import ServerError, UsageError, cannot_reach, console
from gumshoe.cli.datadir import DataDirInUse
from gumshoe.config import ConfigError

COMMANDS = {"serve": serve, "reload": serve, "health": serve, "ingest": ingest, "graph": graph,
            "investigate": investigate}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gumshoe", description="A self-hosted Amazon Detective.")
    parser.add_argument("--version", action="version", version=f"gumshoe {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (serve, ingest, graph, investigate):
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(COMMANDS[args.command].run(args))
    except ConfigError as exc:
        print(f"gumshoe: {exc}", file=sys.stderr)
        return 2
    except ServerError as exc:
        console.print(f"[red]gumshoe: the server answered {escape(str(exc))}[/]")
        return 1
    except UsageError as exc:
        console.print(f"[red]gumshoe: {escape(str(exc))}[/]")
        return 2
    except DataDirInUse as exc:
        console.print(f"[red]gumshoe: {escape(str(exc))}[/]")
        return 1
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        if getattr(args, "data_dir", None) and args.command == "ingest":
            console.print(f"[red]gumshoe: {escape(str(exc))}[/]")
        else:
            console.print(f"[red]gumshoe: {escape(cannot_reach(args.endpoint_url, exc, args.command))}[/]")
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
