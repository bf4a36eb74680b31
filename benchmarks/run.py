"""API benchmark: requests/s and p50/p99 latency of Gumshoe's hot operations under wrk.

    .venv/bin/python benchmarks/run.py [--duration 10] [--quick]     (make bench)

Scenarios, each for --duration seconds at 16 connections (wrk -t1 -c16):

  floor          a bare ASGI app (benchmarks/bare_app.py) on the same server stack
  ListGraphs     POST /graphs/list {}
  ListMembers    POST /graph/members/list, a graph of 1,200 members, MaxResults 200
  GetMembers     POST /graph/members/get, 50 account ids
  CreateMembers  POST /graph/members, 50 new accounts per request, each request to
                 another graph (1,000 pre-created graphs)

each Gumshoe scenario once with --auth open and once with --auth sigv4 (a fresh data directory
and server per mode, seeded through the API with --job-delay 0). The server is pinned to CPU 0
and wrk to CPU 1 when taskset exists. Any non-2xx response, socket error, or CreateMembers
request that did not create its 50 members fails the run (exit 1): a fast error is not a result.

Prints a table and writes it to docs/PERFORMANCE.md between the bench:api markers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
WRK_DIR = BENCH_DIR / "wrk"
DOC = ROOT / "docs" / "PERFORMANCE.md"
START_MARKER = "<!-- bench:api:start -->"
END_MARKER = "<!-- bench:api:end -->"
GUMSHOE = ROOT / ".venv" / "bin" / "gumshoe"
PYTHON = Path(sys.executable)

CONNECTIONS = 16
REGION = "us-east-1"
HOST = "127.0.0.1"
MAIN_ADMIN = "111111111111"  # administrator of the 1,200-member graph
MEMBER_BASE = 100_000_000_001  # its members: MEMBER_BASE .. +1199
CREATE_ADMIN_BASE = 300_000_000_000  # administrators of the CreateMembers graphs
CREATE_MEMBER_BASE = 500_000_000_000  # accounts added during the CreateMembers runs
MEMBERS_IN_GRAPH = 1200
PER_REQUEST = 50
PER_GRAPH = MEMBERS_IN_GRAPH // PER_REQUEST  # CreateMembers requests one graph can take

GOALS_TEXT = [
    "ListGraphs ≥ 30% of the bare floor with --auth open, ≥ 20% with --auth sigv4",
    "ListMembers (200 of a 1,200-member graph) ≥ 2,000 req/s",
]

console = Console(soft_wrap=True)


class BenchError(Exception):
    """A scenario that did not produce a valid measurement."""


# --- small helpers -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pinned(cpu: int, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    console.print("[yellow]wrk not found: installing it with apt-get[/]")
    if subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is not installed and apt-get could not install it")
    return found


def lua_string(text: str) -> str:
    """A Lua string literal for ASCII text (CR and LF kept as escapes, unlike long brackets)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n")
    return f'"{escaped}"'


def amz_now() -> tuple[str, str]:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over a short sample (0..1), from /proc/stat."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
    wrk_version = "?"
    with contextlib.suppress(OSError):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        wrk_version = (out.stdout + out.stderr).split("[", 1)[0].replace("wrk", "").strip() or "?"
    return {"cpu": cpu, "nproc": nproc, "python": platform.python_version(), "wrk": wrk_version,
            "kernel": platform.release()}


# --- talking to the server ---------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str


class Api:
    """Requests to one server: fake signatures in open mode, botocore SigV4 in sigv4 mode."""

    def __init__(self, port: int, mode: str, keys: dict[str, Key]) -> None:
        self.port = port
        self.mode = mode
        self.keys = keys
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)

    def headers(self, account: str, path: str, body: bytes) -> dict[str, str]:
        if self.mode == "open":
            amz_date, scope_date = amz_now()
            return {
                "Content-Type": "application/json",
                "X-Amz-Date": amz_date,
                "Authorization": f"AWS4-HMAC-SHA256 Credential={account}/{scope_date}/{REGION}/detective/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date, Signature=00",
            }
        key = self.keys[account]
        request = AWSRequest(method="POST", url=f"http://{HOST}:{self.port}{path}", data=body,
                             headers={"Content-Type": "application/json"})
        SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "detective", REGION).add_auth(request)
        return {k: v for k, v in request.headers.items()}

    def raw(self, account: str, path: str, payload: dict[str, Any]) -> bytes:
        """One complete HTTP/1.1 request, as wrk sends it."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in self.headers(account, path, body).items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def send(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            self.conn.request("POST", path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # The server closed the idle keep-alive connection (uvicorn: after 5 s): the
            # request never got out, so sending it again on a new connection is safe.
            self.conn.close()
            self.conn.request("POST", path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def call(self, account: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        status, data = self.send(path, body, self.headers(account, path, body))
        if not 200 <= status < 300:
            raise BenchError(f"seeding: POST {path} as {account} answered {status}: {data[:500]!r}")
        return json.loads(data) if data else {}

    def close(self) -> None:
        self.conn.close()


@dataclass
class Server:
    name: str
    argv: list[str]
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_file: Any = None

    def start(self) -> None:
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(self.argv, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=self.log_path.parent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited at startup (code {self.process.returncode}); "
                                 f"log:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not listen on port {self.port} within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # our own child, by pid
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_file is not None:
            self.log_file.close()

    def problems(self) -> list[str]:
        """Error and warning lines the server logged."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [ln for ln in lines if "level=ERROR" in ln or "level=WARNING" in ln or "level=CRITICAL" in ln
                or ln.startswith("Traceback")]


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- wrk ---------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    mode: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    server_cpu: float  # CPU seconds of the server per second of the run (1.0 = one core)
    raw: dict[str, Any] = field(default_factory=dict)


def write_script(work: Path, name: str, prologue: str, scenario_lua: str) -> Path:
    text = "-- generated by benchmarks/run.py\n" + prologue + "\n"
    text += (WRK_DIR / scenario_lua).read_text() + "\n" + (WRK_DIR / "report.lua").read_text()
    path = work / f"{name}.lua"
    path.write_text(text)
    return path


def static_prologue(raw_request: bytes) -> str:
    head, body = raw_request.decode().split("\r\n\r\n", 1)
    request_line, *header_lines = head.split("\r\n")
    method, path, _ = request_line.split(" ")
    out = [f"wrk.method = {lua_string(method)}", f"wrk.path = {lua_string(path)}", f"wrk.body = {lua_string(body)}"]
    for line in header_lines:
        name, value = line.split(": ", 1)
        if name.lower() in ("host", "content-length"):
            continue  # wrk adds both
        out.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    return "\n".join(out)


def run_wrk(wrk: str, port: int, script: Path, seconds: float, args: list[str] | None = None) -> dict[str, Any]:
    argv = pinned(1, [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                      "-s", str(script), f"http://{HOST}:{port}"])
    if args:
        argv += ["--", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / (time.monotonic() - started)
    match = re.search(r"^GUMSHOE_BENCH (\{.*\})$", proc.stdout, re.M)
    if proc.returncode != 0 or match is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data: dict[str, Any] = json.loads(match.group(1))
    data["stderr"] = proc.stderr.strip()
    data["wrk_cpu"] = wrk_cpu
    return data


def measure(wrk: str, server: Server, script: Path, scenario: str, mode: str, seconds: float,
            args: list[str] | None = None) -> Result:
    assert server.process is not None
    cpu0, wall0 = process_cpu_seconds(server.process.pid), time.monotonic()
    data = run_wrk(wrk, server.port, script, seconds, args)
    server_cpu = (process_cpu_seconds(server.process.pid) - cpu0) / (time.monotonic() - wall0)
    problems = []
    if data["non2xx"]:
        problems.append(f"{data['non2xx']} non-2xx responses")
    for kind in ("connect", "read", "write", "timeout"):
        if data[kind]:
            problems.append(f"{data[kind]} socket {kind} errors")
    if data["bad_body"]:
        problems.append(f"{data['bad_body']} 2xx responses with an unexpected body")
    if data["exhausted"]:
        problems.append(f"{data['exhausted']} requests beyond the prepared ones (raise the capacity)")
    if data["requests"] == 0:
        problems.append("no request completed")
    if problems:
        detail = f"\n{data['stderr']}" if data["stderr"] else ""
        raise BenchError(f"{scenario} ({mode}): " + "; ".join(problems) + detail)
    rps = data["requests"] / (data["duration_us"] / 1e6)
    result = Result(scenario, mode, rps, data["p50_us"] / 1000, data["p99_us"] / 1000, data["requests"],
                    server_cpu, data)
    console.print(f"  {scenario:<14} {mode:<6} {rps:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                  f"p99 {result.p99_ms:7.2f} ms  ({data['requests']:,} requests, CPU: server {100 * server_cpu:.0f}%, "
                  f"wrk {100 * data['wrk_cpu']:.0f}%)",
                  highlight=False)
    if server_cpu < 0.8:
        console.print(f"  [yellow]the server used only {100 * server_cpu:.0f}% of a CPU: it waited on I/O or on wrk, "
                      "or another process competed for CPU 0[/]")
    if data["wrk_cpu"] > 0.9:
        console.print(f"  [yellow]wrk used {100 * data['wrk_cpu']:.0f}% of a CPU: it may be the bottleneck[/]")
    return result


# --- the benchmark -----------------------------------------------------------------------


@dataclass
class Options:
    duration: float
    warmup: float
    graphs: int
    keep: bool
    write_doc: bool


def run_floor(wrk: str, work: Path, opts: Options) -> Result:
    port = free_port()
    server = Server("bare app", pinned(0, [str(PYTHON), str(BENCH_DIR / "bare_app.py"), "--port", str(port)]),
                    work / "bare.log", port)
    with running(server):
        api = Api(port, "open", {})
        raw = api.raw(MAIN_ADMIN, "/graphs/list", {})
        status, _ = api.send("/graphs/list", b"{}", api.headers(MAIN_ADMIN, "/graphs/list", b"{}"))
        api.close()
        if status != 200:
            raise BenchError(f"bare app answered {status}")
        script = write_script(work, "floor", static_prologue(raw), "static.lua")
        run_wrk(wrk, port, script, opts.warmup)
        return measure(wrk, server, script, "floor", "bare", opts.duration)


def member_count(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM members").fetchone()[0])


def settled_member_count(db: Path) -> int:
    """The member count once the server has finished the requests still in flight."""
    last = member_count(db)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = member_count(db)
        if now == last:
            break
        last = now
    return last


def run_mode(wrk: str, work: Path, mode: str, opts: Options, create_capacity: int | None) -> list[Result]:
    data_dir = work / f"data-{mode}"
    data_dir.mkdir()
    admins = [str(CREATE_ADMIN_BASE + i) for i in range(opts.graphs)]
    keys: dict[str, Key] = {}
    config = data_dir.parent / f"gumshoe-{mode}.toml"
    lines = ["# generated by benchmarks/run.py", 'log_level = "info"', ""]
    if mode == "sigv4":
        for i, account in enumerate([MAIN_ADMIN, *admins]):
            keys[account] = Key(f"AKIAGUMSHOEBENCH{i:05d}", secrets.token_hex(20))
            lines += ["[[credentials]]", f'access_key_id = "{keys[account].access_key_id}"',
                      f'secret_access_key = "{keys[account].secret_access_key}"', f'account = "{account}"', ""]
    config.write_text("\n".join(lines))
    port = free_port()
    argv = [str(GUMSHOE), "serve", "--port", str(port), "--data-dir", str(data_dir), "--config", str(config),
            "--job-delay", "0"]
    if mode == "sigv4":
        argv += ["--auth", "sigv4"]
    server = Server(f"gumshoe ({mode})", pinned(0, argv), work / f"server-{mode}.log", port)
    results: list[Result] = []
    with running(server):
        api = Api(port, mode, keys)
        started = time.monotonic()
        # The 1,200-member graph of MAIN_ADMIN, through CreateMembers like any client.
        graph = api.call(MAIN_ADMIN, "/graph", {})["GraphArn"]
        members = [str(MEMBER_BASE + i) for i in range(MEMBERS_IN_GRAPH)]
        for chunk in range(0, MEMBERS_IN_GRAPH, PER_REQUEST):
            accounts = [{"AccountId": a, "EmailAddress": f"member-{a}@example.com"} for a in members[chunk:chunk + PER_REQUEST]]
            out = api.call(MAIN_ADMIN, "/graph/members", {"GraphArn": graph, "Accounts": accounts})
            if out.get("UnprocessedAccounts"):
                raise BenchError(f"seeding: CreateMembers left accounts unprocessed: {out['UnprocessedAccounts'][:2]}")
        # One graph per administrator for the CreateMembers runs.
        graphs = [api.call(admin, "/graph", {})["GraphArn"] for admin in admins]
        console.print(f"  seeded {mode}: 1 graph of {MEMBERS_IN_GRAPH:,} members and {len(graphs):,} graphs "
                      f"in {time.monotonic() - started:.1f} s")

        def check(name: str, raw: bytes, ok: Any) -> None:
            head, body = raw.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1].decode()
            headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
            headers.pop("Host", None)
            api.conn.close()  # idle during the last wrk run: start a new connection
            status, data = api.send(path, body, headers)
            if status != 200 or not ok(json.loads(data)):
                raise BenchError(f"{name} ({mode}): the benchmark request answered {status}: {data[:300]!r}")

        static = [
            ("ListGraphs", "/graphs/list", {},
             lambda r: [g["Arn"] for g in r["GraphList"]] == [graph]),
            ("ListMembers", "/graph/members/list", {"GraphArn": graph, "MaxResults": 200},
             lambda r: len(r["MemberDetails"]) == 200 and r.get("NextToken")),
            ("GetMembers", "/graph/members/get", {"GraphArn": graph, "AccountIds": members[500:550]},
             lambda r: len(r["MemberDetails"]) == 50 and not r["UnprocessedAccounts"]),
        ]
        for name, path, payload, ok in static:
            raw = api.raw(MAIN_ADMIN, path, payload)  # signed now: valid for 15 minutes
            check(name, raw, ok)
            script = write_script(work, f"{name}-{mode}", static_prologue(raw), "static.lua")
            run_wrk(wrk, port, script, opts.warmup)
            results.append(measure(wrk, server, script, name, mode, opts.duration))

        # CreateMembers: request i adds accounts CREATE_MEMBER_BASE + 50*i .. +49 to graph i % len(graphs).
        db = data_dir / "gumshoe.db"
        capacity = len(graphs) * PER_GRAPH
        if mode == "open":
            amz_date, scope_date = amz_now()
            prologue = "\n".join([
                "GRAPHS = {" + ",".join(lua_string(g) for g in graphs) + "}",
                "ADMINS = {" + ",".join(lua_string(a) for a in admins) + "}",
                f"MEMBER_BASE = {CREATE_MEMBER_BASE}",
                f"PER_GRAPH = {PER_GRAPH}",
                f"AMZ_DATE = {lua_string(amz_date)}",
                f"SCOPE_DATE = {lua_string(scope_date)}",
            ])
            script = write_script(work, f"CreateMembers-{mode}", prologue, "create_members_open.lua")
        else:
            count = min(capacity, create_capacity or capacity)
            signing = time.monotonic()
            requests = []
            for i in range(count):
                base = CREATE_MEMBER_BASE + PER_REQUEST * i
                accounts = [{"AccountId": f"{base + j:012d}", "EmailAddress": f"member-{base + j:012d}@example.com"}
                            for j in range(PER_REQUEST)]
                requests.append(api.raw(admins[i % len(graphs)], "/graph/members",
                                        {"GraphArn": graphs[i % len(graphs)], "Accounts": accounts}))
            prologue = "REQUESTS = {\n" + ",\n".join(lua_string(r.decode()) for r in requests) + "\n}"
            script = write_script(work, f"CreateMembers-{mode}", prologue, "create_members_signed.lua")
            console.print(f"  signed {count:,} CreateMembers requests in {time.monotonic() - signing:.1f} s "
                          f"({script.stat().st_size / 1e6:.1f} MB of Lua)")
        api.close()
        before = member_count(db)
        result = measure(wrk, server, script, "CreateMembers", mode, opts.duration)
        created = settled_member_count(db) - before
        low, high = PER_REQUEST * result.requests, PER_REQUEST * (result.requests + CONNECTIONS)
        if not low <= created <= high:
            raise BenchError(f"CreateMembers ({mode}): {result.requests:,} requests answered but {created:,} members "
                             f"were created (expected {low:,}..{high:,})")
        results.append(result)
    problems = server.problems()
    if problems:
        console.print(f"[yellow]  the {mode} server logged {len(problems)} warning/error lines, e.g.:[/]")
        for line in problems[:5]:
            console.print(f"    {line}", markup=False)
    return results


# --- output ------------------------------------------------------------------------------


def rows(results: list[Result]) -> list[list[str]]:
    floor = next(r.rps for r in results if r.scenario == "floor")
    return [[r.scenario, r.mode, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{100 * r.rps / floor:.1f}%"]
            for r in results]


HEADER = ["scenario", "mode", "req/s", "p50 ms", "p99 ms", "% of floor"]


def goals(results: list[Result]) -> list[tuple[str, bool]]:
    by = {(r.scenario, r.mode): r for r in results}
    floor = by[("floor", "bare")].rps
    out = []
    for mode, share in (("open", 30), ("sigv4", 20)):
        r = by.get(("ListGraphs", mode))
        if r:
            pct = 100 * r.rps / floor
            out.append((f"ListGraphs {mode}: {pct:.1f}% of floor (goal ≥ {share}%)", pct >= share))
    for mode in ("open", "sigv4"):
        r = by.get(("ListMembers", mode))
        if r:
            out.append((f"ListMembers {mode}: {r.rps:,.0f} req/s (goal ≥ 2,000)", r.rps >= 2000))
    return out


def print_table(results: list[Result]) -> None:
    table = Table(title=f"Gumshoe API benchmark (wrk -t1 -c{CONNECTIONS})")
    for i, name in enumerate(HEADER):
        table.add_column(name, justify="left" if i < 2 else "right")
    for row in rows(results):
        table.add_row(*row)
    console.print(table)
    for text, met in goals(results):
        console.print(f"  {'[green]met[/]' if met else '[red]NOT met[/]'}  {text}")


def markdown(results: list[Result], info: dict[str, str], opts: Options, command: str) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    busy = f" The machine was {info['busy']}% busy before the run: numbers are noisy." \
        if int(info.get("busy", "0")) > 15 else ""
    lines = [
        f"Last run: {today}, `{command}`, {opts.duration:g} s per scenario, wrk -t1 -c{CONNECTIONS}; "
        f"{info['nproc']} × {info['cpu']}, Linux {info['kernel']}, Python {info['python']}, wrk {info['wrk']}.{busy}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:"]) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    lines.append("")
    lines += [f"- {'✅' if met else '❌'} {text}" for text, met in goals(results)]
    return "\n".join(lines)


def write_doc(block: str, info: dict[str, str]) -> None:
    section = f"{START_MARKER}\n{block}\n{END_MARKER}"
    if DOC.exists():
        text = DOC.read_text()
        start, end = text.find(START_MARKER), text.find(END_MARKER)
        if start != -1 and end > start:
            DOC.write_text(text[:start] + section + text[end + len(END_MARKER):])
            return
        DOC.write_text(text.rstrip("\n") + "\n\n" + section + "\n")
        return
    DOC.parent.mkdir(parents=True, exist_ok=True)
    intro = f"""# Performance

How fast Gumshoe answers its hot API operations, measured by `make bench`
(`.venv/bin/python benchmarks/run.py`; `--quick` for 3 s scenarios, `--duration N` for N s).

## What is measured

[wrk](https://github.com/wg/wrk) drives one running server with 16 keep-alive connections
(`wrk -t1 -c16`) for 10 s per scenario and reports requests/s and the p50 and p99 latency.
The server (`gumshoe serve`: uvicorn with uvloop and httptools, one process) is pinned to
CPU 0 and wrk to CPU 1 with `taskset`, so the two do not fight over a core.

- **floor**: a bare ASGI app (`benchmarks/bare_app.py`) on the same server stack that reads the
  request and answers a fixed JSON body. No Python web server does less; "% of floor" compares
  each scenario with it.
- **ListGraphs**: `POST /graphs/list` with body `{{}}`.
- **ListMembers**: `POST /graph/members/list` of a graph with 1,200 members, `MaxResults` 200.
- **GetMembers**: `POST /graph/members/get` with 50 account ids.
- **CreateMembers**: `POST /graph/members` adding 50 new accounts per request (email
  invitations on, as the API's default), each request to another of 1,000 pre-created graphs,
  so every request really creates 50 members (the run checks the member count); with
  `--job-delay 0` the verification jobs run inside the request, as they do by default.

Each Gumshoe scenario runs with `--auth open` (the account is the 12-digit access key id of a
fake signature) and with `--auth sigv4` (requests signed with botocore and verified by the
server; wrk replays them within their 15-minute validity). Each mode gets a fresh data
directory, seeded through the API itself. A run with any non-2xx response or socket error
fails instead of reporting a number.

Reference machine: {info['nproc']} × {info['cpu']} (`nproc` = {info['nproc']}).

## Goals

""" + "\n".join(f"- {g}" for g in GOALS_TEXT) + """

## Results

"""
    DOC.write_text(intro + section + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the Gumshoe API with wrk.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s per scenario")
    parser.add_argument("--graphs", type=int, default=1000, help="graphs pre-created for CreateMembers (default 1000)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directories and scripts")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/PERFORMANCE.md")
    parser.add_argument("--wait-idle", type=float, default=30.0, metavar="SECONDS",
                        help="wait up to this long for the machine to be idle before starting (default 30)")
    args = parser.parse_args(argv)
    duration = 3.0 if args.quick else args.duration
    opts = Options(duration=duration, warmup=1.0, graphs=args.graphs, keep=args.keep, write_doc=not args.no_doc)
    given = sys.argv[1:] if argv is None else argv
    command = "make bench" if not given else "benchmarks/run.py " + " ".join(given)

    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="gumshoe-bench-"))
    results: list[Result] = []
    try:
        wrk = ensure_wrk()
        info = machine()
        if not shutil.which("taskset"):
            console.print("[yellow]taskset not found: server and wrk are not pinned to separate CPUs[/]")
        console.print(f"[bold]Gumshoe API benchmark[/]: {info['nproc']} × {info['cpu']}, {duration:g} s per scenario, "
                      f"work dir {work}", highlight=False)
        busy = cpu_busy()
        waited_until = time.monotonic() + args.wait_idle
        if busy > 0.15 and args.wait_idle > 0:
            console.print(f"machine {100 * busy:.0f}% busy: waiting up to {args.wait_idle:g} s for it to be idle")
            while busy > 0.15 and time.monotonic() < waited_until:
                busy = cpu_busy(2.0)
        info["busy"] = f"{100 * busy:.0f}"
        if busy > 0.15:
            console.print(f"[yellow]the machine is not idle ({100 * busy:.0f}% CPU busy before the run): "
                          "other processes will compete with the server and wrk; expect noisy numbers[/]")
        results.append(run_floor(wrk, work, opts))
        open_results = run_mode(wrk, work, "open", opts, None)
        results += open_results
        # Sign enough CreateMembers requests for sigv4 (which is not faster than open): twice
        # what the open run needed, within the graphs' capacity.
        open_create = next(r for r in open_results if r.scenario == "CreateMembers")
        needed = math.ceil(open_create.rps * duration * 2) + 200
        results += run_mode(wrk, work, "sigv4", opts, needed)
    except BenchError as exc:
        console.print("[bold red]benchmark failed:[/]")
        console.print(str(exc), markup=False, highlight=False)
        console.print(f"(server logs and scripts kept in {work})")
        return 1
    finally:
        if not args.keep and results and len(results) == 9:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    if opts.write_doc:
        write_doc(markdown(results, info, opts, command), info)
        console.print(f"wrote {DOC.relative_to(ROOT)}")
    console.print(f"total {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
