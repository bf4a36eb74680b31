"""``gumshoe investigate ENTITY_ARN``: start an investigation through the Detective API, wait
with a spinner, and print a report an analyst can read: the severity, then the indicators
grouped by kind with their evidence (times, addresses, places, APIs).

The AWS operations go through boto3, exactly as any automation would call them; the report's
extra evidence (first seen, distances, group members, what was not evaluated) comes from
Gumshoe's own /_gumshoe/v1/investigation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from rich.markup import escape
from rich.table import Table

from gumshoe.cli.client import (
    DEFAULT_ENDPOINT,
    ServerError,
    UsageError,
    account_of,
    add_endpoint,
    console,
    credentials,
    get_json,
    out,
    region_of,
    when,
)
from gumshoe.clock import now_ms, parse_time
from gumshoe.errors import ValidationException
from gumshoe.indicators import TITLES

DEFAULT_SCOPE_MS = 7 * 24 * 3_600_000
# The engine's words for an entity the graph has no event of (investigate/engine.py NEVER_SEEN):
# the report then is no clean verdict, and the command fails.
NEVER_SEEN = "has no events in this behavior graph"
QUIET_SCOPE = "made no API call in the scope"  # the engine's note for a principal quiet in the scope
SEVERITY_STYLE = {
    "CRITICAL": "bold white on red", "HIGH": "bold red", "MEDIUM": "bold yellow", "LOW": "bold cyan",
    "INFORMATIONAL": "bold green",
}


def _client(args: argparse.Namespace) -> Any:
    import boto3
    import botocore
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(retries={"max_attempts": 2})
    if credentials() is None:
        config = config.merge(Config(signature_version=botocore.UNSIGNED))  # an open-mode server
    return session.client("detective", endpoint_url=args.endpoint_url or DEFAULT_ENDPOINT,
                          region_name=region_of(args), config=config)


def _aws(call: Callable[..., Any], **params: Any) -> Any:
    from botocore.exceptions import ClientError, EndpointConnectionError

    try:
        return call(**params)
    except EndpointConnectionError as exc:
        raise ConnectionError(str(exc)) from None  # the one "cannot reach the server" message
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        raise ServerError(f"{status} {error.get('Code', '')}: {error.get('Message', '')}".strip()) from None


def _scope(args: argparse.Namespace) -> tuple[int, int]:
    try:
        end = parse_time(args.end, "--to") if args.end else now_ms()
        start = parse_time(args.start, "--from") if args.start else end - DEFAULT_SCOPE_MS
    except ValidationException as exc:
        raise UsageError(exc.message) from None
    if start >= end:
        raise UsageError("--from must be earlier than --to.")
    return start, end


def _graph(args: argparse.Namespace, client: Any) -> str:
    if args.graph:
        return str(args.graph)
    graphs = _aws(client.list_graphs)["GraphList"]
    if len(graphs) == 1:
        return str(graphs[0]["Arn"])
    signed = credentials(notice=False) is not None
    where = region_of(args) if signed else "the server's default Region"
    if not graphs:
        other = "or name the Region with --region" if signed else "or set AWS_ACCESS_KEY_ID to act as your account"
        raise UsageError(f"{_who(client)} has no behavior graph in {where}: create one (aws detective create-graph), "
                         f"{other}.")
    raise UsageError(f"{_who(client)} has several behavior graphs in {where}: name one with --graph.")


def _who(client: Any) -> str:
    """The account the command calls as: its access key id when that is an account id (open
    mode), the default account with no credentials; else the key, which the server maps."""
    found = credentials(notice=False)
    account = account_of(found)
    return f"account {account}" if account else f"the account of access key {found.access_key}"


def add_parser(commands: Any) -> None:
    investigate = commands.add_parser(
        "investigate", help="Investigate an IAM user or role: severity and indicators of compromise.")
    investigate.add_argument("entity_arn", metavar="ENTITY_ARN", help="ARN of the IAM user or role.")
    investigate.add_argument("--graph", default=None, help="Behavior graph ARN [default: your only graph in the Region]")
    investigate.add_argument("--from", dest="start", default=None,
                             help="Scope start (ISO 8601 or epoch ms) [default: 7 days before --to]")
    investigate.add_argument("--to", dest="end", default=None, help="Scope end (ISO 8601 or epoch ms) [default: now]")
    investigate.add_argument("--timeout", type=float, default=600.0, help="Seconds to wait for the result [default 600]")
    investigate.add_argument("--all", action="store_true",
                             help="List every indicator: Discovery call by call, firsts with no baseline one by one "
                                  "[default: Discovery one line per service, firsts with no baseline one line]")
    add_endpoint(investigate)
    investigate.add_argument("--json", action="store_true", help="Print JSON.")


def _as_time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def run(args: argparse.Namespace) -> int:
    client = _client(args)
    start, end = _scope(args)
    graph_arn = _graph(args, client)
    started = _aws(client.start_investigation, GraphArn=graph_arn, EntityArn=args.entity_arn,
                   ScopeStartTime=_as_time(start), ScopeEndTime=_as_time(end))
    investigation_id = started["InvestigationId"]
    deadline = time.monotonic() + args.timeout
    with console.status(f"investigating {escape(args.entity_arn)} ({investigation_id})", spinner="dots"):
        while True:
            status = _aws(client.get_investigation, GraphArn=graph_arn, InvestigationId=investigation_id)["Status"]
            if status != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise ServerError(f"investigation {investigation_id} still RUNNING after {args.timeout:.0f} s; "
                                  "read it later with aws detective get-investigation.")
            time.sleep(0.2)
    report = get_json(args, "/_gumshoe/v1/investigation", {"graph": graph_arn, "id": investigation_id})
    if args.json:
        out.print_json(json.dumps(report))
    else:
        print_report(report, show_all=args.all)
    if any(NEVER_SEEN in note for note in report.get("notes", [])):
        # Not a clean verdict: the graph knows nothing of the entity (a typo'd ARN?).
        console.print(f"[red]gumshoe: {escape(never_seen(args.entity_arn, graph_arn, _principals(args, graph_arn)))}[/]")
        return 1
    return 0 if report["status"] == "SUCCESSFUL" else 1


CLOSEST = 3


def _principals(args: argparse.Namespace, graph_arn: str) -> list[str]:
    """The users and roles the graph knows (the first 10,000 of each), to name the closest."""
    ids: list[str] = []
    for kind in ("aws_user", "aws_role"):
        try:
            answer = get_json(args, "/_gumshoe/v1/entities", {"graph": graph_arn, "type": kind, "limit": "10000"})
        except ServerError:
            continue  # the suggestions are a help, not the answer
        ids += [str(e["id"]) for e in answer.get("entities", [])]
    return ids


def never_seen(entity_arn: str, graph_arn: str, known: list[str]) -> str:
    """The error for an entity the graph has no event of: the graph, and the ids closest to
    the one asked for (a typo, a path left out, another account's)."""
    import difflib

    def resource(arn: str) -> str:  # user/path/name: the ARNs of one partition share all before it
        return arn.split(":", 5)[-1].lower()

    def likeness(arn: str) -> tuple[float, float]:
        return (difflib.SequenceMatcher(None, resource(entity_arn), resource(arn)).ratio(),
                difflib.SequenceMatcher(None, entity_arn, arn).ratio())

    scored = sorted(((likeness(k), k) for k in known), reverse=True)
    closest = [k for (name, _), k in scored[:CLOSEST] if name >= 0.7]
    hint = (f"the closest it has: {', '.join(closest)}" if closest else
            "it has no user or role with a name like it" if known else "it has no user or role yet")
    return (f"{entity_arn} has no events in graph {graph_arn} ({hint}): check the ARN, or load that account's "
            "CloudTrail logs (gumshoe ingest).")


def print_report(report: dict[str, Any], show_all: bool = False) -> None:
    """The report as an analyst reads it: the verdict and why, the notes, then the indicators
    by kind, the kind with the weightiest indicator first (the report's order)."""
    severity = report.get("severity") or "-"
    out.print(f"[bold]Investigation {report['investigationId']}[/]  {escape(report['entityArn'])} "
              f"({report['entityType']})")
    out.print(f"  scope {when(report['scopeStartTime'])} → {when(report['scopeEndTime'])} UTC, "
              f"graph {escape(report['graphArn'])}")
    if report["status"] == "FAILED":
        out.print(f"  [bold red]FAILED[/]: {escape(report.get('reason') or 'no reason recorded')}")
        return
    total = sum(i.get("count", 1) for i in report["indicators"])
    out.print(f"  severity [{SEVERITY_STYLE.get(severity, 'bold')}] {severity} [/]   {total} indicators")
    why = report.get("scoring") or {}
    if why.get("contributions") is not None:
        out.print(f"  why: {escape(why_line(why))}")
    for note in report.get("notes", []):
        out.print(f"  [yellow]note:[/] {escape(note)}")
    groups: dict[str, list[dict[str, Any]]] = {}
    for indicator in report["indicators"]:
        if show_all and indicator.get("group"):
            groups.setdefault(indicator["type"], []).extend(indicator["members"])
        else:
            groups.setdefault(indicator["type"], []).append(indicator)
    if not groups:
        notes = " ".join(report.get("notes", []))
        if NEVER_SEEN in notes:
            out.print("  No verdict: the graph holds no event of this entity (see the note above).")
        elif QUIET_SCOPE in notes:
            out.print("  No verdict: the entity made no API call in this scope (see the note above).")
        else:
            out.print("  No indicator of compromise in the scope.")
    for kind, items in groups.items():
        out.print(_ttp_table(items, show_all) if kind == "TTP_OBSERVED" else _table(kind, items))


def why_line(why: dict[str, Any]) -> str:
    """The scoring in one line: each bucket's points (its indicators, its cap), the bonus, the total."""
    parts = []
    for c in why["contributions"]:
        capped = f", capped at {c['cap']}" if c["cap"] is not None and c["points"] > c["cap"] else ""
        folded = f", {c['noBaseline']} with no baseline counted as one" if c.get("noBaseline") else ""
        parts.append(f"{c['bucket']} {c['counted']} ({c['indicators']} indicators{capped}{folded})")
    if why.get("corroborationBonus"):
        parts.append(f"unusual access with a tactic +{why['corroborationBonus']}")
    threshold = why.get("thresholds", {}).get(why["severity"])
    reached = f" (≥ {threshold})" if threshold is not None else ""
    return f"score {why['score']} = " + (" + ".join(parts) or "nothing") + f" → {why['severity']}{reached}"


SHOWN_TARGETS = 3
REASONS = {"NOT_THE_INSTANCES_ADDRESS": "not an address of the instance", "OUTSIDE_AWS": "outside AWS"}
# Calls of this tactic are the bulk of an attacker's (and an administrator's) work: one line per
# service unless --all.
COLLAPSED_TACTIC = "Discovery"
SHOWN_APIS = 4
TTP_COLUMNS = ["tactic", "technique", "API", "IP address", "ok", "failed", "first", "last", "procedure"]


def _ttp_table(items: list[dict[str, Any]], show_all: bool) -> Table:
    """The TTPs by tactic, the tactic of the weightiest first, each with its count; Discovery one
    line per service unless show_all."""
    by_tactic: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_tactic.setdefault(item["detail"]["Tactic"], []).append(item)
    title = f"{TITLES['TTP_OBSERVED']} ({len(items)}, {len(by_tactic)} tactics)"
    table = Table(title=title, title_justify="left")
    for column in TTP_COLUMNS:
        table.add_column(column, overflow="fold")
    for tactic, rows in by_tactic.items():
        lines = _service_lines(rows) if tactic == COLLAPSED_TACTIC and not show_all else [_ttp_row(r) for r in rows]
        for n, line in enumerate(lines):
            label = f"{tactic} ({len(rows)})" if n == 0 else ""
            table.add_row(*(escape(cell) for cell in [label, *line]), end_section=n == len(lines) - 1)
    return table


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _ttp_row(item: dict[str, Any]) -> list[str]:
    d, e = item["detail"], item["evidence"]
    api = d.get("APIName") or ("finding " + e.get("finding", "").rsplit("/", 1)[-1])
    via = f"\nvia {e['via']['label']}" if e.get("via") else ""
    return [d["Technique"], api + via, d.get("IpAddress", "-"), str(d.get("APISuccessCount", "-")),
            str(d.get("APIFailureCount", "-")), when(e.get("firstSeen")), when(e.get("lastSeen")),
            procedure_cell(d["Procedure"], e)]


def _service_lines(items: list[dict[str, Any]]) -> list[list[str]]:
    """Discovery calls folded: one line per service, with its APIs, addresses, counts and times."""
    services: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        api = item["detail"].get("APIName") or "finding:"
        services.setdefault(api.split(":", 1)[0], []).append(item)
    lines = []
    for service, rows in services.items():
        apis = sorted({r["detail"].get("APIName", "").split(":", 1)[-1] for r in rows} - {""})
        ips = sorted({r["detail"].get("IpAddress", "-") for r in rows})
        techniques = sorted({r["detail"]["Technique"].split(" ", 1)[0] for r in rows})
        firsts = [r["evidence"]["firstSeen"] for r in rows if r["evidence"].get("firstSeen")]
        lasts = [r["evidence"]["lastSeen"] for r in rows if r["evidence"].get("lastSeen")]
        shown = ", ".join(apis[:SHOWN_APIS]) + (f" (+{len(apis) - SHOWN_APIS} more)" if len(apis) > SHOWN_APIS else "")
        lines.append([
            ", ".join(techniques), f"{service}: {_count(len(apis), 'API')}", ", ".join(ips[:2]) + (
                f" (+{len(ips) - 2})" if len(ips) > 2 else ""),
            str(sum(int(r["detail"].get("APISuccessCount") or 0) for r in rows)),
            str(sum(int(r["detail"].get("APIFailureCount") or 0) for r in rows)),
            when(min(firsts) if firsts else None), when(max(lasts) if lasts else None),
            f"{_count(len(rows), 'indicator')}: {shown} (--all lists them)",
        ])
    return lines


def procedure_cell(procedure: str, evidence: dict[str, Any]) -> str:
    """The procedure, then what the calls acted on (the most called first) and the first event
    id (all of them through /_gumshoe/v1/investigation/events)."""
    lines = [procedure]
    targets = [str(t["target"]) for t in evidence.get("targets", ())]
    if targets:
        more = max(int(evidence.get("targetCount") or 0), len(targets)) - SHOWN_TARGETS
        lines.append("on " + ", ".join(targets[:SHOWN_TARGETS]) + (f" (+{more} more)" if more > 0 else ""))
    ids = [str(i) for i in evidence.get("eventIds") or ()]
    if ids:
        count = int(evidence.get("eventCount") or len(ids))
        lines.append("event " + ids[0] + (f" (+{count - 1} more)" if count > 1 else ""))
    return "\n".join(lines)


FIRST_COLUMNS = {
    "NEW_GEOLOCATION": ["location", "IP address", "new for the account", "first seen"],
    "NEW_ASO": ["organization", "first IP address", "new for the account", "first seen"],
    "NEW_USER_AGENT": ["user agent", "new for the account", "first seen"],
}
GROUP_EXAMPLES = 3


def _first_row(kind: str, indicator: dict[str, Any]) -> list[str]:
    d, e = indicator["detail"], indicator["evidence"]
    new, first = _yes(d["IsNewForEntireAccount"]), when(e.get("firstSeen"))
    if kind == "NEW_GEOLOCATION":
        return [d["Location"], d["IpAddress"], new, first]
    if kind == "NEW_ASO":
        return [d["Aso"], e.get("ipAddress", "-"), new, first]
    return [d["UserAgent"], new, first]


def _first_group_row(kind: str, group: dict[str, Any], width: int) -> list[str]:
    """One row for a principal's firsts with no baseline: the summary, a few of them, the
    earliest time (--all lists them one by one)."""
    members = group["members"]
    examples = ", ".join(_first_row(kind, m)[0] for m in members[:GROUP_EXAMPLES])
    more = f" (+{len(members) - GROUP_EXAMPLES} more: --all lists them)" if len(members) > GROUP_EXAMPLES else ""
    new = sum(1 for m in members if m["detail"].get("IsNewForEntireAccount"))
    first = min((m["evidence"].get("firstSeen") or 0 for m in members), default=0)
    return [f"{group['summary']}: {examples}{more}", *["-"] * (width - 3), f"{new:,} of {len(members):,}",
            when(first or None)]


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _table(kind: str, items: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{TITLES.get(kind, kind)} ({len(items)})", title_justify="left")
    rows: list[list[str]] = []
    if kind == "INSTANCE_CREDENTIALS_OFF_INSTANCE":
        columns = ["instance", "used from", "why", "the instance's addresses", "calls", "first", "last", "APIs"]
        for i in items:
            d, e = i["detail"], i["evidence"]
            why = REASONS.get(d["Reason"], d["Reason"]) + (f" ({e['aso']})" if e.get("aso") else "")
            apis = e.get("apis", [])
            rows.append([d["InstanceId"], d["IpAddress"], why, ", ".join(d.get("InstanceIpAddresses", [])) or "-",
                         str(e.get("eventCount", "-")), when(e.get("firstSeen")), when(e.get("lastSeen")),
                         ", ".join(apis[:SHOWN_APIS]) + (f" (+{len(apis) - SHOWN_APIS} more)"
                                                          if len(apis) > SHOWN_APIS else "")])
    elif kind == "UNUSUAL_VOLUME":
        columns = ["hour", "what", "calls", "failed", "baseline (median hour)", "factor", "robust z"]
        for i in items:
            d, e = i["detail"], i["evidence"]
            what = "API calls" if d["Kind"] == "CALLS" else "failed share of calls"
            median = f"{d['BaselineMedian']:g} calls" if d["Kind"] == "CALLS" else f"{d['BaselineMedian']:.0%} failed"
            rows.append([when(d["Hour"]), what, str(d["APICallCount"]), str(d["APIFailureCount"]),
                         f"{median} ({e.get('baselineHours', '-')} active hours)", f"×{d['Factor']:g}",
                         str(e.get("z", "-"))])
    elif kind == "IMPOSSIBLE_TRAVEL":
        columns = ["from", "at", "to", "at", "hours", "km"]
        for i in items:
            d, e = i["detail"], i["evidence"]
            rows.append([f"{d['StartingLocation']} ({d['StartingIpAddress']})", when(e.get("startTime")),
                         f"{d['EndingLocation']} ({d['EndingIpAddress']})", when(e.get("endTime")),
                         str(d["HourlyTimeDelta"]), f"{e.get('distanceKm', 0):,}"])
    elif kind == "FLAGGED_IP_ADDRESS":
        columns = ["IP address", "reason"]
        rows = [[i["detail"]["IpAddress"], i["detail"]["Reason"]] for i in items]
    elif kind in FIRST_COLUMNS:
        columns = FIRST_COLUMNS[kind]
        for i in items:
            if i.get("group") == "noBaseline":
                rows.append(_first_group_row(kind, i, len(columns)))
            else:
                rows.append(_first_row(kind, i))
    elif kind == "RELATED_FINDING":
        columns = ["type", "IP address", "first seen", "last seen", "ARN"]
        rows = [[i["detail"]["Type"], i["detail"].get("IpAddress", "-"), when(i["evidence"].get("firstSeen")),
                 when(i["evidence"].get("lastSeen")), i["detail"]["Arn"]] for i in items]
    else:  # RELATED_FINDING_GROUP
        columns = ["group", "severity", "findings"]
        rows = [[i["detail"]["Id"], str(i["evidence"].get("severity", "-")),
                 "\n".join(a.rsplit("/", 1)[-1] for a in i["evidence"].get("findings", []))] for i in items]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    return table
