"""``gumshoe graph entities|profile``: a behavior graph's entities, and one entity's profile
panels, from the server's /_gumshoe/v1/ API."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.markup import escape
from rich.table import Table

from gumshoe.cli.client import add_endpoint, get_json, out, when

MAX_LIMIT = 100_000  # the most entities the server lists in one answer (web/data_api.py)
# A profile's panels are the top values of each dimension, its related entities the top ones
# (graph/queries.py profile()): a full panel may have been cut there.
PANEL_TOP = 50
RELATED_TOP = 4 * PANEL_TOP


def add_parser(commands: Any) -> None:
    graph = commands.add_parser("graph", help="Look into a behavior graph: its entities and their profiles.")
    sub = graph.add_subparsers(dest="graph_command", metavar="SUBCOMMAND", required=True)
    entities = sub.add_parser("entities", help="List a graph's entities.")
    entities.add_argument("--graph", required=True, help="Behavior graph ARN.")
    entities.add_argument("--type", default=None, help="Only entities of this type (aws_user, ip_address, ...).")
    entities.add_argument("--limit", type=int, default=10_000,
                          help=f"At most this many entities [default 10000, at most {MAX_LIMIT}].")
    profile = sub.add_parser("profile", help="Print an entity's profile panels.")
    profile.add_argument("--graph", required=True, help="Behavior graph ARN.")
    profile.add_argument("entity_id", metavar="ENTITY_ID", help="The entity's id (an ARN, an IP address, ...).")
    profile.add_argument("--from", dest="start", default=None, help="Scope start (ISO 8601 or epoch ms) [default: 30 days before --to]")
    profile.add_argument("--to", dest="end", default=None, help="Scope end (ISO 8601 or epoch ms) [default: now]")
    for p in (entities, profile):
        add_endpoint(p)
        p.add_argument("--json", action="store_true", help="Print JSON.")


def run(args: argparse.Namespace) -> int:
    return entities(args) if args.graph_command == "entities" else profile(args)


def entities(args: argparse.Namespace) -> int:
    query = {"graph": args.graph, "limit": str(args.limit), **({"type": args.type} if args.type else {})}
    result = get_json(args, "/_gumshoe/v1/entities", query)
    entities = result["entities"]
    if args.json:
        out.print_json(json.dumps(result))  # as the server answered: the entities, and whether they were cut
        return 0
    title = f"the first {len(entities):,} entities" if result.get("truncated") else f"{len(entities):,} entities"
    table = Table(title=title)
    for column in ("type", "id", "account", "first seen", "last seen", "events"):
        table.add_column(column, justify="right" if column == "events" else "left", overflow="fold")
    for e in entities:
        table.add_row(e["type"], escape(e["id"]), e["accountId"] or "-", when(e["firstSeen"]), when(e["lastSeen"]),
                      f"{e['events']:,}")
    out.print(table)
    if result.get("truncated"):
        kind = " of this type" if args.type else ""
        narrow = "" if args.type else ", or narrow with --type"
        out.print(f"  … and more not listed: the graph has more than {len(entities):,} entities{kind}; "
                  f"raise --limit (up to {MAX_LIMIT:,}){narrow}")
    return 0


def profile(args: argparse.Namespace) -> int:
    query = {"graph": args.graph, "entity": args.entity_id}
    if args.start:
        query["from"] = args.start
    if args.end:
        query["to"] = args.end
    profile = get_json(args, "/_gumshoe/v1/profile", query)
    if args.json:
        out.print_json(json.dumps(profile))
        return 0
    scope = profile["scope"]
    out.print(f"[bold]{profile['type']}[/] {escape(profile['id'])}   {when(scope['start'])} → {when(scope['end'])} UTC")
    if profile.get("sessions") is not None:
        out.print(f"  activity of the role and its {profile['sessions']} role sessions")
    for dimension, rows in profile["panels"].items():
        top = f" (the top {PANEL_TOP}: there may be more)" if len(rows) >= PANEL_TOP else ""
        table = Table(title=dimension.replace("_", " ") + top, title_justify="left")
        for column in ("value", "success", "failure", "bytes", "first seen", "last seen"):
            table.add_column(column, justify="left" if column == "value" else "right", overflow="fold")
        for r in rows:
            table.add_row(escape(r["value"]), f"{r['success']:,}", f"{r['failure']:,}", f"{r['bytes']:,}",
                          when(r["firstSeen"]), when(r["lastSeen"]))
        out.print(table)
    if profile["related"]:
        more = [f"{t['count']:,} {t['kind']}" for t in profile["relatedTotals"] if t["count"] > RELATED_TOP]
        top = f" (the busiest {RELATED_TOP} of each relationship; in all {', '.join(more)})" if more else ""
        table = Table(title="related entities" + top, title_justify="left")
        for column in ("", "relationship", "type", "id", "count", "first seen", "last seen"):
            table.add_column(column, overflow="fold")
        for r in profile["related"]:
            table.add_row("→" if r["direction"] == "out" else "←", r["kind"], r["type"], escape(r["id"]), f"{r['count']:,}",
                          when(r["firstSeen"]), when(r["lastSeen"]))
        out.print(table)
    return 0
