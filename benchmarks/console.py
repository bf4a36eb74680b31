"""The console's page times on the benchmark graph: every page type, fetched over HTTP by a
signed-in session, its server time from the console's Server-Timing header.

    .venv/bin/python benchmarks/console.py [--events 10000000] [--quick] [--runs 100] [--fresh] [--no-doc]

1. The graph: --events CloudTrail events of benchmarks/ingest.py's generator (60 days of
   activity) loaded with ``gumshoe ingest --data-dir`` (ingest.py's ``make_graph`` and
   ``ingest``). The data directory is kept in --cache and used again while the code that
   builds a graph is unchanged (``--fresh`` builds it again).
2. ``gumshoe serve`` on it with ingest.py's GeoIP databases (every address has a place), once
   it has geolocated the graph's addresses in the background (``geolocating`` in health).
3. One investigation of the busiest user over the last 30 days of data (reused when a
   successful one is there), so the report page has indicators.
4. Signs in to the console with the form (a real session cookie), then fetches each page
   once to warm it, then ``--runs`` rounds of every page in turn. Scopes are fixed times at
   the end of the data (the generator's events are in the past, so the default scope of the
   last 24 hours of now would be empty): 24 hours (the default's length) and 30 days.
5. p50 / p99 / max of the server time per page (``Server-Timing: console;dur=`` — from the
   request to the rendered page, measured in the console's front door), the client's p50
   (the same plus HTTP and the body over loopback), and the first fetch.

Prints a table and writes it to docs/PERFORMANCE.md between the bench:console markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import inspect
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from rich.console import Console
from rich.table import Table

import ingest  # benchmarks/ingest.py: the generator, the graph, the GeoIP databases

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PERFORMANCE.md"
START_MARKER = "<!-- bench:console:start -->"
END_MARKER = "<!-- bench:console:end -->"
GOAL_P99_MS = 150.0  # issue 9: every page's server time p99 < 150 ms on the 10-million-event graph
HOUR_MS = 3_600_000
DAY_MS = ingest.DAY_MS
# What decides the layout and content of a built graph: when one changes, the cached data
# directory is built again.
GRAPH_CODE = ("graph/store.py", "graph/stores.py", "formats/base.py", "formats/cloudtrail.py", "formats/sql.py",
              "ingest/pipeline.py")

console = Console(soft_wrap=True, width=160)
LOAD: list[float] = []  # the machine's 1-minute load average as the rounds begin and end


@dataclass
class Subjects:
    """The entities the pages are about: the busiest of their kind."""

    user: str
    role: str
    session: str
    address: str
    hour_ms: int  # the user's busiest hour in the 30-day scope
    event_name: str  # a rare API, for the raw-event filter


@dataclass
class PageTimes:
    label: str
    path: str
    status: int
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    first_ms: float = 0.0
    bytes: int = 0


# --- the graph --------------------------------------------------------------------------


def code_stamp() -> str:
    digest = hashlib.sha256()
    for name in GRAPH_CODE:
        digest.update((ROOT / "src" / "gumshoe" / name).read_bytes())
    digest.update(inspect.getsource(ingest._event).encode())
    return digest.hexdigest()[:16]


def graph(cache: Path, events: int, fresh: bool) -> tuple[Path, str]:
    """The data directory of a graph of ``events`` events, and the graph's ARN."""
    folder = cache / f"ct-{events}"
    data_dir = cache / f"console-data-{events}"
    done = data_dir / ".built"
    stamp = code_stamp()
    if not fresh and done.exists():
        arn, built_with = done.read_text().split()
        if built_with == stamp:
            console.print(f"using the graph of {events:,} events in {data_dir}")
            return data_dir, arn
    console.print(f"generating {events:,} events in {folder} (cached between runs) ...")
    ingest.generate(folder, events)
    shutil.rmtree(data_dir, ignore_errors=True)
    arn = ingest.make_graph(data_dir)
    console.print(f"loading them into a graph in {data_dir} ...")
    seconds, _, summary = ingest.ingest(data_dir, folder)
    loaded = summary["graphs"].get(arn, 0)
    if loaded != events:
        raise SystemExit(f"the graph took {loaded:,} events of {events:,}")
    console.print(f"  loaded in {seconds:,.0f} s ({events / seconds:,.0f} events/s)")
    if not compacted(data_dir):
        console.print("  [bold red]the ingest run did not compact the graph[/] (it logged why): pages read "
                      "uncompacted tables, slower than a compacted graph")
    done.write_text(f"{arn} {stamp}\n")
    return data_dir, arn


def compacted(data_dir: Path) -> bool:
    """Whether the graph's derived tables were compacted (graph/store.py notes it in store_meta)."""
    import duckdb

    graph_file = next((data_dir / "graphs").glob("*.duckdb"))
    with duckdb.connect(str(graph_file), read_only=True) as conn:
        return bool(conn.execute("SELECT count(*) FROM store_meta WHERE key = 'hourly_sorted'").fetchone()[0])


def subjects(data_dir: Path, scope: tuple[int, int]) -> Subjects:
    """The busiest user, role, session of that role and source address, read before the
    server holds the graph's file."""
    import duckdb

    graph_file = next((data_dir / "graphs").glob("*.duckdb"))
    start, end = scope
    with duckdb.connect(str(graph_file), read_only=True) as conn:
        def one(sql: str, *params: object) -> Any:
            row = conn.execute(sql, list(params)).fetchone()
            assert row is not None, sql
            return row[0]

        user = one("SELECT principal_id FROM api_events WHERE principal_type = 'aws_user' GROUP BY 1 "
                   "ORDER BY count(*) DESC, 1 LIMIT 1")
        role = one("SELECT role_arn FROM api_events WHERE principal_type = 'role_session' GROUP BY 1 "
                   "ORDER BY count(*) DESC, 1 LIMIT 1")
        session = one("SELECT principal_id FROM api_events WHERE principal_type = 'role_session' AND role_arn = ? "
                      "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1", role)
        address = one("SELECT source_ip FROM api_events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        hour = one("SELECT time_ms // 3600000 FROM api_events WHERE principal_type = 'aws_user' AND principal_id = ? "
                   "AND time_ms >= ? AND time_ms < ? GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1", user, start, end)
        event_name = one("SELECT event_name FROM api_events GROUP BY 1 ORDER BY count(*), 1 LIMIT 1")
    return Subjects(str(user), str(role), str(session), str(address), int(hour) * HOUR_MS, str(event_name))


# --- the server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data_dir: Path, work: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """``gumshoe serve`` on the data directory, once it has geolocated the graph's addresses."""
    city, asn = ingest._geo_databases(work / "geo")
    port = free_port()
    log = open(work / "serve.log", "wb")  # noqa: SIM115 -- the server's log while it runs
    server = subprocess.Popen([str(Path(sys.executable).parent / "gumshoe"), "serve", "--port", str(port),
                               "--data-dir", str(data_dir), "--geoip-city", str(city), "--geoip-asn", str(asn),
                               "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    while True:
        if server.poll() is not None:
            raise SystemExit(f"gumshoe serve exited:\n{(work / 'serve.log').read_text()}")
        try:
            with urllib.request.urlopen(url + "/_gumshoe/health", timeout=2) as response:
                if not json.loads(response.read()).get("geolocating"):
                    break
        except OSError:
            pass
        time.sleep(0.5)
    return server, url, time.perf_counter() - began


def investigation(url: str, arn: str, user: str, scope: tuple[int, int]) -> str:
    """A successful investigation of the user over the scope: one already there, or a new one."""
    import boto3
    import botocore.config

    client = boto3.client("detective", endpoint_url=url, region_name=ingest.REGION, aws_access_key_id=ingest.ADMIN,
                          aws_secret_access_key="x", config=botocore.config.Config(retries={"max_attempts": 1}))
    start, end = (dt.datetime.fromtimestamp(t / 1000, dt.UTC) for t in scope)
    found = client.list_investigations(GraphArn=arn, FilterCriteria={
        "EntityArn": {"Value": user}, "Status": {"Value": "SUCCESSFUL"}})["InvestigationDetails"]
    for detail in found:
        got = client.get_investigation(GraphArn=arn, InvestigationId=detail["InvestigationId"])
        if got["ScopeStartTime"] == start and got["ScopeEndTime"] == end:
            return str(detail["InvestigationId"])
    began = time.perf_counter()
    investigation_id = client.start_investigation(GraphArn=arn, EntityArn=user, ScopeStartTime=start,
                                                  ScopeEndTime=end)["InvestigationId"]
    while (status := client.get_investigation(GraphArn=arn, InvestigationId=investigation_id)["Status"]) == "RUNNING":
        time.sleep(0.05)
    if status != "SUCCESSFUL":
        raise SystemExit(f"the investigation of {user} ended {status}")
    console.print(f"  investigated {user} in {time.perf_counter() - began:.1f} s")
    return str(investigation_id)


# --- the pages --------------------------------------------------------------------------


def sign_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=120)
    form = client.get("/console/signin")
    token = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert token, form.text
    answer = client.post("/console/signin", data={"access_key_id": ingest.ADMIN, "secret_access_key": "x",
                                                  "csrf": token.group(1)})
    assert answer.status_code == 303 and "gumshoe_console" in client.cookies, answer.text
    return client


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pages(arn: str, who: Subjects, investigation_id: str, day: tuple[int, int],
          month: tuple[int, int]) -> list[tuple[str, str, int]]:
    """(label, path, status) of every page type."""
    g = f"/console/graphs/{arn.rsplit(':', 1)[-1]}"

    def scoped(scope: tuple[int, int], **more: str | int) -> str:
        return urlencode({"from": iso(scope[0]), "to": iso(scope[1]), **more})

    def profile(kind: str, entity: str, **more: str | int) -> str:
        return f"{g}/entities/{kind}/{quote(entity, safe='')}?{scoped(month, **more)}"

    user_prefix = who.user[: who.user.index("user/") + len("user/")]
    return [
        ("home (redirect to the summary)", "/console/", 303),
        ("summary, 24 hours", f"{g}/summary?{scoped(day)}", 200),
        ("summary, 30 days", f"{g}/summary?{scoped(month)}", 200),
        ("search (a part of an identifier)", f"{g}/search?" + urlencode({"q": "user1"}), 200),
        ("search's completion (JSON)", f"{g}/complete?" + urlencode({"q": user_prefix}), 200),
        ("user profile, 30 days", profile("aws_user", who.user), 200),
        ("role profile, 30 days", profile("aws_role", who.role), 200),
        ("role session profile, 30 days", profile("role_session", who.session), 200),
        ("IP address profile, 30 days", profile("ip_address", who.address), 200),
        ("user profile narrowed to an hour", profile("aws_user", who.user, hour=who.hour_ms), 200),
        ("raw events, 30 days, event_name equals", f"{g}/events?" + scoped(
            month, source="api_events", f0="event_name", o0="equals", v0=who.event_name), 200),
        ("raw events, 24 hours, source_ip in CIDR", f"{g}/events?" + scoped(
            day, source="api_events", f0="source_ip", o0="cidr", v0="10.0.0.0/8"), 200),
        ("investigations", f"{g}/investigations", 200),
        ("investigation report", f"{g}/investigations/{investigation_id}", 200),
        ("accounts", "/console/accounts", 200),
        ("finding groups, 30 days", f"{g}/finding-groups?{scoped(month)}", 200),
    ]


def fetch(client: httpx.Client, times: PageTimes) -> tuple[float, float]:
    began = time.perf_counter()
    answer = client.get(times.path)
    client_ms = (time.perf_counter() - began) * 1000
    if answer.status_code != times.status:
        raise SystemExit(f"{times.label}: {times.path} answered {answer.status_code}:\n{answer.text[:2000]}")
    timing = answer.headers.get("server-timing", "")
    match = re.search(r"dur=([0-9.]+)", timing)
    times.bytes = len(answer.content)
    return (float(match.group(1)) if match else client_ms), client_ms


def measure(client: httpx.Client, listed: list[tuple[str, str, int]], runs: int) -> list[PageTimes]:
    results = [PageTimes(label, path, status) for label, path, status in listed]
    LOAD.append(os.getloadavg()[0])
    for times in results:
        times.first_ms = fetch(client, times)[0]
    for _ in range(runs):  # round-robin, so the machine's other work falls on every page alike
        for times in results:
            server_ms, client_ms = fetch(client, times)
            times.server_ms.append(server_ms)
            times.client_ms.append(client_ms)
    LOAD.append(os.getloadavg()[0])
    return results


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- the report -------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} × {cpu}, Linux {platform.release()}, Python {platform.python_version()}"


def rows_of(results: list[PageTimes]) -> list[tuple[str, ...]]:
    rows = []
    for t in results:
        p99 = percentile(t.server_ms, 99)
        rows.append((t.label, f"{statistics.median(t.server_ms):.1f}", f"{p99:.1f}", f"{max(t.server_ms):.1f}",
                     f"{statistics.median(t.client_ms):.1f}", f"{t.first_ms:.1f}", f"{t.bytes / 1000:,.0f}",
                     "✅" if p99 < GOAL_P99_MS else "❌"))
    return rows


HEADERS = ("page", "p50 ms", "p99 ms", "max ms", "client p50 ms", "first ms", "KB", f"p99 < {GOAL_P99_MS:.0f} ms")


def report(results: list[PageTimes], events: int, runs: int, total: int, setup: str) -> str:
    rows = rows_of(results)
    table = Table(title=f"Console page times, graph of {total:,} events, {runs} fetches a page")
    for i, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    missed = [t.label for t in results if percentile(t.server_ms, 99) >= GOAL_P99_MS]
    verdict = ("every page's p99 is under the goal" if not missed
               else f"{len(missed)} of {len(results)} pages miss the goal: {', '.join(missed)}")
    console.print(verdict)
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rank = math.ceil(0.99 * runs)
    return (f"Last run: {when}, `benchmarks/console.py --events {events}`, {runs} fetches of each page (p99: the "
            f"{ordinal(rank)} smallest of {runs}); graph of {total:,} CloudTrail events; {machine()}; load average "
            f"{' → '.join(f'{x:.1f}' for x in LOAD)} as the rounds began and ended.\n{setup}\n\n"
            + "\n".join(lines)
            + f"\n\nServer time is the `Server-Timing` header (`console;dur=`); client p50 adds HTTP and the body "
              f"over loopback; *first* is the first fetch of the page, before the rounds. {verdict[0].upper()}"
              f"{verdict[1:]}.")


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def write_doc(block: str) -> None:
    text = DOC.read_text()
    framed = f"{START_MARKER}\n{block}\n{END_MARKER}"
    if START_MARKER in text:
        head, rest = text.split(START_MARKER, 1)
        text = head + framed + rest.split(END_MARKER, 1)[1]
    else:
        text += "\n## Console\n\n" + framed + "\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="a graph of 1,000,000 events")
    parser.add_argument("--runs", type=int, default=100, help="fetches of each page (default 100)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "gumshoe-bench-logs"),
                        help="where the generated logs and the built graph are kept (ingest.py's cache too)")
    parser.add_argument("--fresh", action="store_true", help="build the graph again")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.events = 1_000_000
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    data_dir, arn = graph(cache, args.events, args.fresh)
    end = (ingest.START_MS + ingest.SPAN_MS + HOUR_MS - 1) // HOUR_MS * HOUR_MS
    day, month = (end - DAY_MS, end), (end - 30 * DAY_MS, end)
    who = subjects(data_dir, month)
    work = Path(tempfile.mkdtemp(prefix="gumshoe-console-bench-"))
    server = None
    try:
        server, url, ready_s = serve(data_dir, work)
        console.print(f"  serving {url}, ready and geolocated after {ready_s:.0f} s")
        investigation_id = investigation(url, arn, who.user, month)
        client = sign_in(url)
        try:
            listed = pages(arn, who, investigation_id, day, month)
            console.print(f"fetching {len(listed)} pages {args.runs} times each ...")
            results = measure(client, listed, args.runs)
        finally:
            client.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    import duckdb

    with duckdb.connect(str(next((data_dir / "graphs").glob("*.duckdb"))), read_only=True) as conn:
        row = conn.execute("SELECT count(*) FROM api_events").fetchone()
    total = int(row[0]) if row else 0
    setup = (f"Subjects: the busiest user `{who.user}`, role `{who.role}`, its busiest session, the busiest source "
             f"address `{who.address}`; the user's busiest hour; the rarest API `{who.event_name}` for the raw-event "
             f"filter; scopes end at the data's end, {iso(end)}.")
    block = report(results, args.events, args.runs, total, setup)
    if not args.no_doc:
        write_doc(block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
