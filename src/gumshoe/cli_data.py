"""``gumshoe ingest`` and ``gumshoe graph entities|profile``: the data plane for people.

Both talk to a running server through its /_gumshoe/v1/ API, signing requests with the
usual AWS credentials (environment, profile) when there are any; ``gumshoe ingest
--data-dir DIR`` works directly on a data directory instead, with no server running.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

DEFAULT_ENDPOINT = "http://127.0.0.1:4599"

console = Console(stderr=True)
out = Console()


class ServerError(Exception):
    pass


def add_commands(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="Ingest log files or S3 objects into the behavior graphs.")
    ingest.add_argument("locations", nargs="+", metavar="PATH_OR_URI", help="Folders, files or s3://bucket/prefix.")
    ingest.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=f"Server URL [default {DEFAULT_ENDPOINT}]")
    ingest.add_argument("--data-dir", default=None, help="Work on this data directory directly (no server running).")
    ingest.add_argument("--region", default=None, help="Region to sign requests for [default: AWS_REGION or us-east-1]")
    ingest.add_argument("--on-server", action="store_true",
                        help="The paths are the server's own (inside its sources or ingest_roots), not files to upload.")
    ingest.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    graph = commands.add_parser("graph", help="Look into a behavior graph: its entities and their profiles.")
    sub = graph.add_subparsers(dest="graph_command", metavar="SUBCOMMAND", required=True)
    entities = sub.add_parser("entities", help="List a graph's entities.")
    entities.add_argument("--graph", required=True, help="Behavior graph ARN.")
    entities.add_argument("--type", default=None, help="Only entities of this type (aws_user, ip_address, ...).")
    entities.add_argument("--limit", type=int, default=10_000, help="At most this many entities [default 10000].")
    profile = sub.add_parser("profile", help="Print an entity's profile panels.")
    profile.add_argument("--graph", required=True, help="Behavior graph ARN.")
    profile.add_argument("entity_id", metavar="ENTITY_ID", help="The entity's id (an ARN, an IP address, ...).")
    profile.add_argument("--from", dest="start", default=None, help="Scope start (ISO 8601 or epoch ms) [default: 30 days before --to]")
    profile.add_argument("--to", dest="end", default=None, help="Scope end (ISO 8601 or epoch ms) [default: now]")
    investigate = commands.add_parser(
        "investigate", help="Investigate an IAM user or role: severity and indicators of compromise.")
    investigate.add_argument("entity_arn", metavar="ENTITY_ARN", help="ARN of the IAM user or role.")
    investigate.add_argument("--graph", default=None, help="Behavior graph ARN [default: your only graph in the Region]")
    investigate.add_argument("--from", dest="start", default=None,
                             help="Scope start (ISO 8601 or epoch ms) [default: 7 days before --to]")
    investigate.add_argument("--to", dest="end", default=None, help="Scope end (ISO 8601 or epoch ms) [default: now]")
    investigate.add_argument("--timeout", type=float, default=600.0, help="Seconds to wait for the result [default 600]")
    for p in (entities, profile, investigate):
        p.add_argument("--endpoint-url", default=DEFAULT_ENDPOINT, help=f"Server URL [default {DEFAULT_ENDPOINT}]")
        p.add_argument("--region", default=None, help="Region of the graph [default: AWS_REGION or us-east-1]")
        p.add_argument("--json", action="store_true", help="Print JSON.")


# --- HTTP to the server ----------------------------------------------------------------------


def region_of(args: argparse.Namespace) -> str:
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def signed_headers(method: str, url: str, body: bytes | BinaryIO, region: str,
                   headers: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of a request signed with the usual AWS credentials, if there are any (an
    open-mode server takes the default account otherwise). A file body is read to hash it."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    headers = dict(headers or ({"Content-Type": "application/json"} if body else {}))
    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        return headers
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "detective", region).add_auth(request)
    return dict(request.headers.items())


def _request(endpoint: str, method: str, path: str, body: bytes | BinaryIO, region: str,
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
    response = _request(args.endpoint_url, "GET", f"{path}?{urlencode(query)}", b"", region_of(args))
    return json.loads(response.read())


# --- ingest ----------------------------------------------------------------------------------


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]ingesting[/]"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[objects]} objects"),
        TextColumn("{task.fields[events]:,} events"), TextColumn("{task.fields[rejects]} rejects"), TimeElapsedColumn(),
        console=console, transient=False,
    )


def _ingest_events_remote(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Local files are read here and uploaded, one request each; s3:// locations (and, with
    --on-server, paths) are named for the server to read: inside its sources or ingest_roots."""
    named = [loc for loc in args.locations if loc.startswith("s3://") or args.on_server]
    local = [loc for loc in args.locations if loc not in named]
    summaries: list[dict[str, Any]] = []
    if named:
        body = json.dumps({"locations": named}).encode()
        response = _request(args.endpoint_url, "POST", "/_gumshoe/v1/ingest", body, region_of(args))
        for line in response:
            if line.strip():
                event = json.loads(line)
                if event["type"] == "summary":
                    summaries.append(event)
                else:
                    yield event
                    if event["type"] == "error":
                        return
    if local:
        yield from _upload_files(args, local, summaries)
    yield {"type": "summary", **merge_summaries(summaries)}


def _upload_files(args: argparse.Namespace, locations: list[str], summaries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    # Listing only: the same files the server would see.
    from gumshoe.ingest.sources import layout_name, list_objects

    objects = [obj for location in locations for obj in list_objects(location)]
    yield {"type": "plan", "objects": len(objects), "bytes": sum(o.size for o in objects)}
    for obj in objects:
        # Named with its place in the AWSLogs/ layout: the server reads account and Region hints there.
        with open(obj.identity, "rb") as file:
            digest = _sha256_of(file)
            headers = {"Content-Type": "application/octet-stream", "X-Amz-Content-SHA256": digest,
                       "Content-Length": str(obj.size)}
            query = urlencode({"name": layout_name(obj.identity, obj.key), "source": obj.source})
            answer = json.loads(_request(args.endpoint_url, "POST", f"/_gumshoe/v1/upload?{query}",
                                         file, region_of(args), headers).read())
        summaries.append(answer["summary"])
        if answer.get("object"):
            yield {**answer["object"], "size": obj.size}


def _sha256_of(file: BinaryIO) -> str:
    import hashlib

    digest = hashlib.sha256()
    for chunk in iter(lambda: file.read(1 << 20), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of several answers (uploads, and a server-side run)."""
    total: dict[str, Any] = {"objects": 0, "skipped": 0, "failed": [], "failedBefore": [], "byAccount": [],
                             "graphs": {}, "refused": []}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    refused: dict[str, str] = {}
    for summary in summaries:
        total["objects"] += summary["objects"]
        total["skipped"] += summary["skipped"]
        total["failed"] += summary.get("failed", [])
        total["failedBefore"] += summary.get("failedBefore", [])
        for arn, count in summary["graphs"].items():
            total["graphs"][arn] = total["graphs"].get(arn, 0) + count
        for row in summary["byAccount"]:
            into = rows.setdefault((row["account"], row["kind"]), {"account": row["account"], "kind": row["kind"]})
            for name, value in row.items():
                if isinstance(value, int):
                    into[name] = into.get(name, 0) + value
        refused.update({r["account"]: r["reason"] for r in summary.get("refused", [])})
    total["byAccount"] = [rows[key] for key in sorted(rows)]
    total["refused"] = [{"account": a, "reason": r} for a, r in sorted(refused.items())]
    return total


def _ingest_events_local(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    import queue
    import threading

    from gumshoe.config import load_settings
    from gumshoe.ingest.pipeline import GraphStores, Ingestor
    from gumshoe.store.db import ControlStore

    settings = load_settings({"data_dir": args.data_dir})
    store = ControlStore(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    stores = GraphStores(settings.data_dir)
    ingestor = Ingestor(store, stores, settings.data_dir, after_enabled=settings.ingest_after_enabled,
                        s3_endpoint_url=settings.s3_endpoint_url, unit_bytes=settings.ingest_unit_bytes)
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def work() -> None:
        try:
            summary = ingestor.run(
                args.locations,
                lambda r, s: lines.put({"type": "object", "kind": r.kind, "skipped": r.skipped, "records": r.records,
                                        "rejects": r.rejects, "size": r.size, "key": r.key}),
                lambda n, b: lines.put({"type": "plan", "objects": n, "bytes": b}),
            )
            lines.put({"type": "summary", **summary.to_json()})
        except (OSError, ValueError) as exc:
            lines.put({"type": "error", "message": str(exc)})
        finally:
            lines.put(None)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while (item := lines.get()) is not None:
            yield item
    finally:
        thread.join()
        stores.close()
        store.close()


def ingest(args: argparse.Namespace) -> int:
    events = _ingest_events_local(args) if args.data_dir else _ingest_events_remote(args)
    summary: dict[str, Any] | None = None
    totals = {"objects": 0, "events": 0, "rejects": 0}
    with _progress() as bar:
        task = bar.add_task("ingest", total=None, objects=0, events=0, rejects=0)
        for event in events:
            if event["type"] == "plan":
                bar.update(task, total=event["bytes"])
            elif event["type"] == "object":
                totals["objects"] += 1
                totals["events"] += event["records"]
                totals["rejects"] += event["rejects"]
                bar.update(task, advance=event["size"], **totals)
            elif event["type"] == "error":
                console.print(f"[red]gumshoe: {escape(event['message'])}[/]")
                return 1
            elif event["type"] == "summary":
                summary = event
    if summary is None:
        console.print("[red]gumshoe: the ingestion ended without a summary; see the server log.[/]")
        return 1
    if args.json:
        out.print_json(json.dumps(summary))
    else:
        _print_summary(summary)
    return 1 if summary.get("failed") else 0


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"Ingested {summary['objects']} objects ({summary['skipped']} already done)")
    for column in ("account", "source type", "files", "events", "bytes", "rejects", "refused", "not in a graph"):
        table.add_column(column, justify="left" if column in ("account", "source type") else "right")
    for row in summary["byAccount"]:
        table.add_row(escape(row["account"]) or "-", escape(row["kind"]), f"{row['files']:,}", f"{row['events']:,}",
                      f"{row['bytes']:,}", f"{row['rejects']:,}", f"{row.get('refused', 0):,}", f"{row['unrouted']:,}")
    out.print(table)
    for arn, count in summary["graphs"].items():
        out.print(f"  {count:,} events into {escape(arn)}")
    for refusal in summary.get("refused", []):
        out.print(f"[yellow]  refused: {escape(refusal['reason'])}[/]")
    for failure in summary.get("failed", []):
        out.print(f"[red]  not ingested (read again when it changes, or after gumshoe reload): {escape(failure)}[/]")
    for failure in summary.get("failedBefore", []):
        out.print(f"[red]  failed in an earlier run, unchanged since: {escape(failure)}[/]")
    if any(row["rejects"] for row in summary["byAccount"]):
        out.print("  Unreadable records are kept with their reasons in the data directory's rejects/ folder.")


# --- graph entities / profile ----------------------------------------------------------------


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def graph(args: argparse.Namespace) -> int:
    if args.graph_command == "entities":
        query = {"graph": args.graph, "limit": str(args.limit), **({"type": args.type} if args.type else {})}
        result = get_json(args, "/_gumshoe/v1/entities", query)
        entities = result["entities"]
        if args.json:
            out.print_json(json.dumps(entities))
            return 0
        table = Table(title=f"{len(entities)} entities")
        for column in ("type", "id", "account", "first seen", "last seen", "events"):
            table.add_column(column, justify="right" if column == "events" else "left", overflow="fold")
        for e in entities:
            table.add_row(e["type"], escape(e["id"]), e["accountId"] or "-", when(e["firstSeen"]), when(e["lastSeen"]),
                          f"{e['events']:,}")
        out.print(table)
        if result.get("truncated"):
            out.print(f"  only the first {len(entities):,}: narrow with --type, or raise --limit")
        return 0
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
        table = Table(title=dimension.replace("_", " "), title_justify="left")
        for column in ("value", "success", "failure", "bytes", "first seen", "last seen"):
            table.add_column(column, justify="left" if column == "value" else "right", overflow="fold")
        for r in rows:
            table.add_row(escape(r["value"]), f"{r['success']:,}", f"{r['failure']:,}", f"{r['bytes']:,}",
                          when(r["firstSeen"]), when(r["lastSeen"]))
        out.print(table)
    if profile["related"]:
        table = Table(title="related entities", title_justify="left")
        for column in ("", "relationship", "type", "id", "count", "first seen", "last seen"):
            table.add_column(column, overflow="fold")
        for r in profile["related"]:
            table.add_row("→" if r["direction"] == "out" else "←", r["kind"], r["type"], escape(r["id"]), f"{r['count']:,}",
                          when(r["firstSeen"]), when(r["lastSeen"]))
        out.print(table)
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "investigate":
            from gumshoe.cli_investigate import investigate
            return investigate(args)
        return ingest(args) if args.command == "ingest" else graph(args)
    except ServerError as exc:
        console.print(f"[red]gumshoe: the server answered {escape(str(exc))}[/]")
        return 1
    except (ConnectionError, OSError) as exc:
        if getattr(args, "data_dir", None):
            console.print(f"[red]gumshoe: {escape(str(exc))}[/]")
        else:
            console.print(f"[red]gumshoe: cannot reach the server at {args.endpoint_url}: {escape(str(exc))}. "
                          "Is `gumshoe serve` running? (Or use --data-dir to work on a data directory.)[/]")
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
