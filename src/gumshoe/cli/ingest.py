"""``gumshoe ingest PATH_OR_URI...``: load logs into the behavior graphs, with a progress bar
and a summary per account and source type.

Through a running server the client reads its own files and uploads them, one request each
(the server loads only what the caller may load: docs/INGESTION.md, "Security"); ``s3://``
locations, and paths with ``--on-server``, are named for the server to read. ``--data-dir``
works on a data directory directly, with no server running.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode

from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from gumshoe.cli.client import add_endpoint, console, out, region_of, request
from gumshoe.cli.datadir import hold


def add_parser(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="Ingest log files or S3 objects into the behavior graphs.")
    ingest.add_argument("locations", nargs="+", metavar="PATH_OR_URI", help="Folders, files or s3://bucket/prefix.")
    add_endpoint(ingest)
    ingest.add_argument("--data-dir", default=None,
                        help="Work on this data directory directly (no server may be running on it: with one, use "
                             "--endpoint-url).")
    ingest.add_argument("--on-server", action="store_true",
                        help="The paths are the server's own (inside its sources or ingest_roots), not files to upload.")
    ingest.add_argument("--json", action="store_true", help="Print the summary as JSON.")


def run(args: argparse.Namespace) -> int:
    # A data directory is one writer's at a time: a server's, or this command's (datadir.py).
    lock = hold(Path(args.data_dir), "ingest") if args.data_dir else None
    try:
        return _run(args)
    finally:
        if lock is not None:
            lock.close()


def _run(args: argparse.Namespace) -> int:
    events = _events_local(args) if args.data_dir else _events_remote(args)
    summary: dict[str, Any] | None = None
    totals = {"objects": 0, "events": 0, "rejects": 0}
    with _progress() as bar:
        task = bar.add_task("ingest", total=None, objects=0, events=0, rejects=0)
        for event in events:
            if event["type"] == "plan":
                bar.update(task, total=(bar.tasks[0].total or 0) + event["bytes"])
            elif event["type"] == "object":
                totals["objects"] += 1
                totals["events"] += event["records"]
                totals["rejects"] += event["rejects"]
                bar.update(task, advance=event["size"], objects=totals["objects"], events=totals["events"],
                           rejects=totals["rejects"])
            elif event["type"] == "error":
                console.print(f"[red]gumshoe: {escape(event['message'])}[/]")
                return 1
            elif event["type"] == "summary":
                summary = event
    if summary is None:
        where = "the messages above" if args.data_dir else "the server log"
        console.print(f"[red]gumshoe: the ingestion ended without a summary; see {where}.[/]")
        return 1
    if args.json:
        out.print_json(json.dumps(summary))
    else:
        _print_summary(summary)
    return 1 if summary.get("failed") else 0


class EventRate(ProgressColumn):
    """Events a second so far (the bar's ETA is by bytes, as the total is known in bytes)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        events = task.fields.get("events", 0)
        return Text(f"{events / elapsed:,.0f} events/s" if elapsed > 0.5 and events else "- events/s", style="progress.data.speed")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]ingesting[/]"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[objects]} objects"),
        TextColumn("{task.fields[events]:,} events"), EventRate(), TextColumn("{task.fields[rejects]} rejects"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
    )


def _events_remote(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Local files are read here and uploaded, one request each; s3:// locations (and, with
    --on-server, paths) are named for the server to read: inside its sources or ingest_roots."""
    named = [loc for loc in args.locations if loc.startswith("s3://") or args.on_server]
    local = [loc for loc in args.locations if loc not in named]
    summaries: list[dict[str, Any]] = []
    if named:
        body = json.dumps({"locations": named}).encode()
        response = request(args.endpoint_url, "POST", "/_gumshoe/v1/ingest", body, region_of(args))
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


# Files sent together in one upload (a tar): few requests and few load units for a folder of
# small files, and a bounded spool file on both sides.
BATCH_BYTES = 64 << 20
BATCH_FILES = 1000


def _upload_files(args: argparse.Namespace, locations: list[str], summaries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    # Listing only: the same files the server would see.
    from gumshoe.ingest.sources import list_objects

    objects = [obj for location in locations for obj in list_objects(location)]
    yield {"type": "plan", "objects": len(objects), "bytes": sum(o.size for o in objects)}
    for batch in _batches(objects):
        with tempfile.TemporaryFile() as body:
            with tarfile.open(fileobj=body, mode="w") as archive:
                for obj in batch:
                    archive.add(obj.identity, arcname=_upload_name(obj), recursive=False)
            size = body.tell()
            body.seek(0)
            headers = {"Content-Type": "application/x-tar", "X-Amz-Content-SHA256": _sha256_of(body),
                       "Content-Length": str(size)}
            query = urlencode({"source": batch[0].source})
            answer = json.loads(request(args.endpoint_url, "POST", f"/_gumshoe/v1/upload?{query}",
                                        body, region_of(args), headers).read())
        summaries.append(answer["summary"])
        sizes = {_upload_name(obj): obj.size for obj in batch}
        for line in answer["objects"]:
            yield {**line, "size": sizes.get(line["key"], line["size"])}


def _batches(objects: list[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = 0
    for obj in objects:
        if batch and (size + obj.size > BATCH_BYTES or len(batch) >= BATCH_FILES):
            yield batch
            batch, size = [], 0
        batch.append(obj)
        size += obj.size
    if batch:
        yield batch


def _upload_name(obj: Any) -> str:
    """Its place in the AWSLogs/ layout, where the server reads account and Region hints."""
    from gumshoe.ingest.sources import layout_name

    return layout_name(obj.identity, obj.key)


def _sha256_of(file: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: file.read(1 << 20), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of several answers (uploads, and a server-side run)."""
    total: dict[str, Any] = {"objects": 0, "skipped": 0, "failed": [], "failedBefore": [], "byAccount": [],
                             "graphs": {}, "duplicates": {}, "refused": []}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    refused: dict[str, str] = {}
    for summary in summaries:
        total["objects"] += summary["objects"]
        total["skipped"] += summary["skipped"]
        total["failed"] += summary.get("failed", [])
        total["failedBefore"] += summary.get("failedBefore", [])
        for name in ("graphs", "duplicates"):
            for arn, count in summary.get(name, {}).items():
                total[name][arn] = total[name].get(arn, 0) + count
        for row in summary["byAccount"]:
            into = rows.setdefault((row["account"], row["kind"]), {"account": row["account"], "kind": row["kind"]})
            for name, value in row.items():
                if isinstance(value, int):
                    into[name] = into.get(name, 0) + value
        refused.update({r["account"]: r["reason"] for r in summary.get("refused", [])})
    total["byAccount"] = [rows[key] for key in sorted(rows)]
    total["refused"] = [{"account": a, "reason": r} for a, r in sorted(refused.items())]
    return total


def _events_local(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    import queue
    import threading

    from gumshoe.config import load_settings
    from gumshoe.graph.stores import GraphStores
    from gumshoe.ingest.pipeline import Ingestor
    from gumshoe.store.db import ControlStore

    settings = load_settings({"data_dir": args.data_dir})
    store = ControlStore(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    stores = GraphStores(settings.data_dir, settings.memory_limit)
    ingestor = Ingestor.for_settings(store, stores, settings)
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
    for arn, count in summary.get("duplicates", {}).items():
        out.print(f"  {count:,} events skipped: already in {escape(arn)} (the same eventID: CloudTrail delivers some "
                  "events more than once, and a trail copied into two folders holds them twice)")
    unrouted = [row for row in summary["byAccount"] if row["unrouted"] and row["account"]]
    for row in unrouted:
        out.print(f"[yellow]  {row['unrouted']:,} {escape(row['kind'])} records of account {escape(row['account'])} "
                  "are in no graph (none of theirs in their Region)[/]")
    if unrouted:
        accounts = ", ".join(sorted({escape(row["account"]) for row in unrouted}))
        out.print(f"  To load them, create a graph as {accounts} (aws detective create-graph with that account's "
                  "credentials), or add the account as a member of a graph (create-members, then accept-invitation "
                  "as the member), and run gumshoe ingest again: objects already read are taken again for new members.")
    for refusal in summary.get("refused", []):
        out.print(f"[yellow]  refused: {escape(refusal['reason'])}[/]")
    if summary.get("refused"):
        out.print("  To load them, run gumshoe ingest as that account (AWS_ACCESS_KEY_ID), or as the administrator "
                  "of a graph it is a member of; an operator can add the folder to the server's sources.")
    for failure in summary.get("failed", []):
        out.print(f"[red]  not ingested (read again when it changes, or after gumshoe reload): {escape(failure)}[/]")
    for failure in summary.get("failedBefore", []):
        out.print(f"[red]  failed in an earlier run, unchanged since: {escape(failure)}[/]")
    if any(row["rejects"] for row in summary["byAccount"]):
        out.print("  Unreadable records are kept with their reasons in the data directory's rejects/ folder.")
