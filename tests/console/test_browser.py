"""The console end to end: a real `gumshoe serve` (open mode, GeoIP test databases), a few hours of
CloudTrail with an HTML payload for a user agent, a VPC flow log and a GuardDuty finding uploaded by the
administrator with `gumshoe ingest`, and Debian's Chromium driven by Selenium through what an analyst does:
sign in, summary, profile, the chart, the hour's raw events, investigate, the report (its TTP timeline and
impossible travel on the map), the summary's map. Around
it, over plain HTTP: another account refused on every page of the graph, forms without the
right CSRF token refused, sessions that end.

Accounts: 111111111111 administers the graph; 222222222222 is invited from the Accounts page
and accepts; 999999999999 administers a graph of its own and sees nothing of the first.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import console_world as cw
import httpx
import ingest_fixtures as fx
import pytest
from console_browser import Browser, ConsoleClient
from e2e_helpers import module_server, status_of, wait_for
from mmdb_writer import build_geo_dbs

from gumshoe.investigate.engine import GROUP_NAMESPACE

GREEN, RED = (46, 125, 50), (198, 40, 40)  # charts.js's colours of successful and failed calls


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class World:
    def __init__(self, server: Any, base: Path) -> None:
        self.server = server
        self.url = server.url
        self.activity = cw.activity()
        cw.write_logs(base / "logs", self.activity)
        fx.write_guardduty(base / "logs", cw.ADMIN, cw.REGION, group_findings(self.activity.start), self.activity.start,
                           n=5)
        self.arn = server.client(cw.ADMIN).create_graph()["GraphArn"]
        self.graph_id = self.arn.rsplit(":", 1)[-1]
        self.outsider_arn = server.client(cw.OUTSIDER).create_graph()["GraphArn"]
        # The administrator uploads its logs, as a user would (docs/INGESTION.md, Security).
        env = {**os.environ, "AWS_ACCESS_KEY_ID": cw.ADMIN, "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
        result = subprocess.run([str(Path(sys.executable).parent / "gumshoe"), "ingest", "--endpoint-url", self.url,
                                 "--json", str(base / "logs")], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0 and json.loads(result.stdout)["graphs"], result.stdout + result.stderr

    def profile_path(self, entity_type: str, entity_id: str, **query: str) -> str:
        path = f"/console/graphs/{self.graph_id}/entities/{entity_type}/{quote(entity_id, safe='')}"
        return path + ("?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()) if query else "")

    def graph_pages(self, investigation_id: str) -> list[str]:
        g = f"/console/graphs/{self.graph_id}"
        return [g, f"{g}/summary", f"{g}/summary?scope=7d", f"{g}/search?q=alice", f"{g}/complete?q=arn",
                self.profile_path("aws_user", cw.ALICE), self.profile_path("aws_user", cw.ALICE, hour="0"),
                self.profile_path("ec2_instance", cw.INSTANCE) + "/flows",
                f"{g}/events", f"{g}/events?source=flows&f0=src_addr&o0=private", f"{g}/events.csv",
                f"{g}/events.parquet", f"{g}/investigations", f"{g}/investigations/{investigation_id}",
                f"{g}/investigations/{investigation_id}/report.json", f"{g}/finding-groups?scope=7d",
                self.group_path()]

    def group_path(self) -> str:
        """The finding group of console_world's finding (the earliest) and group_findings'."""
        first = uuid.UUID(int=int(cw.ADMIN) * 1000).hex  # ingest_fixtures.gd_finding's, n = 0
        group = uuid.uuid5(GROUP_NAMESPACE, f"{self.arn}|{first}")
        return f"/console/graphs/{self.graph_id}/finding-groups/{group}"


def group_findings(start: dt.datetime) -> list[dict[str, Any]]:
    """Two more findings of console_world's instance: a port probe like its own (one node of two
    in the group's graph) and an SSH brute force with alice's access key (her node investigable)."""
    probe = fx.gd_finding(cw.ADMIN, cw.REGION, start + cw.HOUR + dt.timedelta(minutes=10), 1,
                          remote_ip="198.51.100.251", instance=cw.INSTANCE)
    brute = fx.gd_finding(cw.ADMIN, cw.REGION, start + cw.HOUR + dt.timedelta(minutes=20), 2,
                          remote_ip="198.51.100.252", instance=cw.INSTANCE)
    brute["type"], brute["severity"], brute["title"] = "UnauthorizedAccess:EC2/SSHBruteForce", 5, cw.XSS_TITLE + " 2"
    brute["resource"]["accessKeyDetails"] = {"accessKeyId": fx.iam_user(cw.ADMIN, "alice")["accessKeyId"],
                                             "userName": "alice", "userType": "IAMUser"}
    return [probe, brute]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    city, asn = build_geo_dbs(tmp_path_factory.mktemp("console-geo"), cw.PLACES)
    args = ["--job-delay", "0", "--geoip-city", str(city), "--geoip-asn", str(asn)]
    with module_server(tmp_path_factory, args=args, name="console") as server:
        yield World(server, tmp_path_factory.mktemp("console-logs"))


@pytest.fixture(scope="module")
def browser(world: World, make_browser: Any) -> Browser:
    return make_browser(world.url)  # type: ignore[no-any-return]


@pytest.fixture
def admin(world: World) -> Iterator[ConsoleClient]:
    client = ConsoleClient(world.url)
    assert client.sign_in(cw.ADMIN).status_code == 303
    yield client
    client.close()


def signed_in(browser: Browser, key: str) -> None:
    if browser.driver.get_cookie("gumshoe_console") is not None:
        browser.get("/console/accounts")
        if f"Account {key}" in browser.text():
            return
        browser.sign_out()
    browser.sign_in(key)


# --- the analyst's path --------------------------------------------------------------------


def test_sign_in_opens_the_summary_with_a_strict_session_cookie(world: World, browser: Browser,
                                                                 no_console_errors: Any) -> None:
    no_console_errors(browser)
    browser.get("/console/")
    assert browser.wait_for_path(r"^/console/signin\?next=") and "Sign in" in browser.text()
    browser.css("#access_key_id").send_keys(cw.ADMIN)
    browser.css("form.stack button[type=submit]").click()
    assert browser.wait_for_path(rf"^/console/graphs/{world.graph_id}/summary$")
    cookie = browser.driver.get_cookie("gumshoe_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    lifetime = cookie["expiry"] - dt.datetime.now(dt.UTC).timestamp()
    assert 11 * 3600 < lifetime <= 12 * 3600 + 5
    assert f"Account {cw.ADMIN}" in browser.text()


def test_the_summary_ranks_alice_first_and_links_to_her_profile(world: World, browser: Browser,
                                                                 no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(f"/console/graphs/{world.graph_id}/summary")
    rows = browser.all("#pr-h ~ table tbody tr")
    ok, failed = cw.calls(world.activity.of(cw.ALICE))
    assert rows[0].text.split() == [cw.ALICE, "AWS", "user", str(ok), str(failed), str(ok + failed)]
    assert cw.ROLE in rows[1].text
    # The finding's title is a script tag: shown as its text.
    assert browser.link(cw.XSS_TITLE) and not browser.alert_open()
    browser.link(cw.ALICE).click()
    path = browser.wait_for_path(r"/entities/aws_user/")
    assert path.startswith(world.profile_path("aws_user", cw.ALICE) + "?from=")


def test_the_profile_charts_api_calls_with_data(world: World, browser: Browser, no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(world.profile_path("aws_user", cw.ALICE))
    browser.wait(lambda d: browser.css("#api-chart").get_attribute("data-rendered"), "the chart drawn")
    hours_with_calls = len({e["eventTime"][:13] for e in world.activity.of(cw.ALICE)})
    assert int(browser.css("#api-chart").get_attribute("data-rendered")) == hours_with_calls + 1  # + one of failures
    green, red = browser.canvas_pixels("#api-chart", [GREEN, RED])
    assert green > 200 and red > 20, (green, red)  # bars, not an empty canvas
    panels = browser.text()
    assert "API calls by service and API" in panels and "s3.amazonaws.com:GetObject" in panels
    # Related entities link to their profiles.
    href = browser.link(cw.IP_AWAY).get_attribute("href")
    assert href == world.url + world.profile_path("ip_address", cw.IP_AWAY) + browser.path[browser.path.index("?"):]
    browser.screenshot("profile")


def test_the_finding_group_graph_is_drawn_and_its_node_table_opens_profiles(world: World, browser: Browser,
                                                                          no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(f"/console/graphs/{world.graph_id}/summary")
    browser.css("#finding-groups-link").click()
    browser.wait_for_path(r"/finding-groups\\?")
    [row] = browser.all("#finding-groups tbody tr")
    assert "Medium" in row.text and " 3 " in f" {row.text} " and "Reconnaissance" in row.text
    row.find_element("css selector", "a").click()
    browser.wait_for_path(r"/finding-groups/[0-9a-f-]{36}$")
    assert browser.path == world.group_path()
    browser.wait(lambda d: browser.css("#fgraph").get_attribute("data-drawn"), "the graph drawn")
    drawn = browser.driver.execute_script(
        """let n = 0;
           for (const canvas of document.querySelectorAll('#fgraph canvas')) {
             const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
             for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
           }
           return n;""")
    assert drawn > 500, drawn  # nodes and edges, not a blank canvas
    cy = browser.driver.execute_script(
        "const cy = window.gumshoeFindingGraph; return cy.nodes().map((n) => [n.id(), n.data('text')]);")
    texts = dict(cy)
    assert texts["finding_type:Recon:EC2/PortProbeUnprotectedPort"].endswith("×2")
    assert f"aws_user:{cw.ALICE}" in texts and f"ec2_instance:{cw.INSTANCE}" in texts
    # The finding titles are text, and alice's node has its Investigate form.
    assert cw.XSS_TITLE in browser.text() and not browser.alert_open()
    assert browser.all(f'#fgraph-nodes input[name="entity_arn"][value="{cw.ALICE}"]')
    # The timeline's chart: bars of the group's severities, drawn (not an empty chart).
    bars = browser.all("#findings-chart rect[class^='sev-fill-']")
    assert bars and int(browser.css("#findings-chart").get_attribute("data-segments")) == len(bars)
    assert all(bar.size["height"] > 0 and bar.size["width"] > 0 for bar in bars)
    assert {bar.get_attribute("class") for bar in bars} == {"sev-fill-low", "sev-fill-medium"}
    browser.screenshot("finding-group")
    # Choosing alice's node shows her profile link and the Investigate form (a user: not a jump).
    browser.driver.execute_script("window.gumshoeFindingGraph.getElementById(arguments[0]).emit('tap')",
                                  f"aws_user:{cw.ALICE}")
    panel = browser.css("#fgraph-selected")
    assert panel.is_displayed() and browser.css("#fgraph-selected-label").text == "alice"
    assert browser.css("#fgraph-selected-profile").get_attribute("href").startswith(
        world.url + world.profile_path("aws_user", cw.ALICE) + "?from=")
    [shown] = [f for f in panel.find_elements("css selector", "[data-node]") if f.is_displayed()]
    assert shown.find_element("css selector", 'input[name="entity_arn"]').get_attribute("value") == cw.ALICE
    browser.css("#fgraph-nodes").find_element("link text", cw.INSTANCE).click()
    path = browser.wait_for_path(r"/entities/ec2_instance/")
    assert path.startswith(world.profile_path("ec2_instance", cw.INSTANCE) + "?from=")


def test_a_bar_of_the_chart_opens_the_raw_events_of_its_hour(world: World, browser: Browser,
                                                              no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(world.profile_path("aws_user", cw.ALICE))
    browser.wait(lambda d: browser.css("#api-chart").get_attribute("data-rendered"), "the chart drawn")
    hour = world.activity.busiest_hour
    browser.click_chart_hour("#api-chart", ms(hour))
    browser.wait_for_path(rf"[?&]hour={ms(hour)}(&|#|$)")
    table = browser.wait_css("#events table.events")
    expected = sorted(world.activity.in_hour(world.activity.of(cw.ALICE), hour), key=lambda e: (e["eventTime"], e["eventID"]))
    ids = [row.find_element("css selector", "td code").text for row in table.find_elements("css selector", "tbody tr")]
    assert ids == [e["eventID"] for e in expected]
    assert "Showing the hour" in browser.text()
    assert f"Page 1 of 1 ({len(expected)} in all)" in browser.text()
    # The panels are the hour's: twelve reads, two denied CreateUser calls.
    api_rows = {r.find_elements("css selector", "td")[0].text: r.text for r in browser.all("#panel-api ~ table tbody tr")}
    assert set(api_rows) == {"s3.amazonaws.com:GetObject", "iam.amazonaws.com:CreateUser", "sts.amazonaws.com:GetCallerIdentity"}
    # Detective's drill-down: the hour's calls by address, API and access key.
    breakdown = [r.text for r in browser.all("table.breakdown tbody tr")]
    away_reads = sum(1 for e in expected if e["sourceIPAddress"] == cw.IP_AWAY and e["eventName"] == "GetObject")
    assert any(row.startswith(f"{cw.IP_AWAY} s3.amazonaws.com:GetObject") and f" {away_reads} 0 " in row
               for row in breakdown), breakdown
    browser.screenshot("drilldown")


def test_an_hours_link_opens_its_raw_events_to_filter_and_export(world: World, browser: Browser,
                                                                   no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    hour = world.activity.busiest_hour
    browser.get(world.profile_path("aws_user", cw.ALICE, hour=str(ms(hour))))
    browser.link("CloudTrail events").click()
    path = browser.wait_for_path(rf"^/console/graphs/{world.graph_id}/events\?")
    assert "from=" + quote(hour.strftime("%Y-%m-%dT%H:%M:%SZ"), safe="") in path
    expected = sorted(world.activity.in_hour(world.activity.of(cw.ALICE), hour), key=lambda e: e["eventTime"],
                      reverse=True)
    header = [th.text for th in browser.all("#results table.raw thead th")]
    event_id = header.index("event_id")

    def shown() -> list[str]:
        return [row.find_elements("css selector", "td")[event_id].text
                for row in browser.all("#results table.raw tbody tr")]

    assert shown() == [e["eventID"] for e in expected]
    assert browser.css("#f0 option:checked").text == "principal_id" and browser.css("#v0").get_attribute("value") == cw.ALICE
    # The HTML payload of a user agent is a cell's text.
    assert cw.XSS_AGENT in browser.css("#results table.raw").text and browser.all("img[src='x']") == []
    # A second filter, with AND: the calls from the other address.
    from selenium.webdriver.support.ui import Select

    Select(browser.css("#f1")).select_by_value("source_ip")
    Select(browser.css("#o1")).select_by_value("cidr")
    browser.css("#v1").send_keys("203.0.113.0/24")
    browser.css("#ev-search").click()
    browser.wait_for_path(r"f1=source_ip")
    away = [e["eventID"] for e in expected if e["sourceIPAddress"] == cw.IP_AWAY]
    assert shown() == away and f"{len(away)} records of CloudTrail events" in browser.text()
    browser.screenshot("raw-events")
    # The CSV export of the same query, fetched with the browser's own session.
    href = browser.css("#export-csv").get_attribute("href")
    cookie = browser.driver.get_cookie("gumshoe_console")["value"]
    answer = httpx.get(href, cookies={"gumshoe_console": cookie})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="gumshoe-api_events-')
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["event_id"] for r in rows] == away and {r["source_ip"] for r in rows} == {cw.IP_AWAY}
    parquet = httpx.get(browser.css("#export-parquet").get_attribute("href"), cookies={"gumshoe_console": cookie})
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    # Without the session, nothing.
    assert httpx.get(href).status_code == 303


def test_the_html_user_agent_is_shown_as_text(world: World, browser: Browser, no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(world.profile_path("aws_user", cw.ALICE, hour=str(ms(world.activity.busiest_hour))))
    agents = [cell.text for cell in browser.all("#events td.ua")]
    assert cw.XSS_AGENT in agents
    assert browser.all("img[src='x']") == [] and not browser.alert_open()
    assert "&lt;img src=x onerror=alert(1)&gt;" in browser.driver.page_source
    # Its own profile, reached by its link, names it as text too.
    browser.link(cw.XSS_AGENT).click()
    browser.wait_for_path(r"/entities/user_agent/")
    assert browser.css("h1.entity-id").text == cw.XSS_AGENT and not browser.alert_open()


def flow_rows(world: World) -> list[tuple[str, str, int, int]]:
    """console_world's flow log as the instance's drill-down rows: (local, remote, bytes in, bytes out),
    the most bytes first."""
    rows = []
    for line in cw.flow_log(world.activity).splitlines()[1:]:
        f = line.split()
        if f[-1] == "egress":
            rows.append((f"{f[3]}:{f[5]}", f"{f[4]}:{f[6]}", 0, int(f[9])))
        else:
            rows.append((f"{f[4]}:{f[6]}", f"{f[3]}:{f[5]}", int(f[9]), 0))
    return sorted(rows, key=lambda r: (-(r[2] + r[3]), r[0], r[1]))


def test_the_flow_drilldown_plots_the_rows_ticked(world: World, browser: Browser, no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(world.profile_path("ec2_instance", cw.INSTANCE))
    browser.css("#flows-tab").click()
    browser.wait_for_path(r"/entities/ec2_instance/[^/?]+/flows\?")
    expected = flow_rows(world)
    rows = browser.all("table.flows tbody tr")
    assert len(rows) == len(expected) == 10
    cells = [r.find_elements("css selector", "td") for r in rows]
    https = [c.text for c in cells[0][1:11]]
    local, remote = expected[0][0].split(":"), expected[0][1].split(":")
    assert https == [local[0], local[1], remote[0], remote[1], "6 TCP", "outbound", "0", f"{expected[0][3]:,}", "1", "0"]
    assert [c.text for c in cells[-1][5:11]] == ["6 TCP", "inbound", "180", "0", "0", "1"]
    # Tick two rows: the chart draws them at once, and the URL keeps them.
    labels = {"https": f"{expected[0][0]} → {expected[0][1]} 6 TCP", "ssh": f"{expected[-1][0]} ← {expected[-1][1]} 6 TCP"}
    cells[0][0].find_element("css selector", "input").click()
    cells[-1][0].find_element("css selector", "input").click()
    browser.wait(lambda d: browser.css("#flow-plot").get_attribute("data-plotted") == "2", "two rows plotted")
    drawn = browser.driver.execute_script(
        "const u = window.gumshoeFlowPlot;"
        "return [u.series.slice(1).map((s) => s.label), u.data.slice(1).map((a) => a.reduce((x, y) => x + y, 0))];")
    assert drawn == [[labels["https"], labels["ssh"]], [expected[0][3], 180]]
    colours = [(0, 114, 178), (213, 94, 0)]  # console/flows.py's first two COLORS
    blue, orange = browser.canvas_pixels("#flow-plot", colours)
    assert blue > 20 and orange > 20, (blue, orange)
    tokens = [r.get_attribute("data-row") for r in (rows[0], rows[-1])]
    browser.wait(lambda d: parse_qs(urlsplit(browser.path).query).get("plot") == tokens, "the selection in the URL")
    assert not browser.css("#plot-empty").is_displayed()
    # The URL opened again draws the same rows, ticked (the server's drawing, for browsers
    # without JavaScript, gives way to the chart).
    browser.driver.refresh()
    browser.wait_css("#static-plot")
    browser.wait(lambda d: browser.css("#flow-plot").get_attribute("data-plotted") == "2", "the rows plotted again")
    assert [b.get_attribute("value") for b in browser.all("table.flows input[name=plot]:checked")] == tokens
    assert not browser.css("#static-plot").is_displayed()
    browser.screenshot("flows")


def test_investigate_starts_an_investigation_and_shows_its_report(world: World, browser: Browser, admin: ConsoleClient,
                                                                   no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(world.profile_path("aws_user", cw.ALICE))
    browser.css("#investigate").click()
    path = browser.wait_for_path(rf"^/console/graphs/{world.graph_id}/investigations/\d+$")
    investigation_id = path.rsplit("/", 1)[-1]
    severity = browser.wait_css("#severity", timeout=90).text  # the page refreshes itself while RUNNING
    assert severity in ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
    browser.screenshot("investigation")
    api = world.server.client(cw.ADMIN).get_investigation(GraphArn=world.arn, InvestigationId=investigation_id)
    assert api["Status"] == "SUCCESSFUL" and api["Severity"] == severity and api["EntityArn"] == cw.ALICE
    scope = api["ScopeEndTime"] - api["ScopeStartTime"]
    assert scope == dt.timedelta(hours=24)
    # The indicators' groups are the report's.
    exported = admin.get(path + "/report.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    report = exported.json()
    assert report["investigationId"] == investigation_id and report["severity"] == severity
    for kind in {i["type"] for i in report["indicators"]}:
        assert browser.all(f"#ind-{kind}"), kind
    # The TTPs on the timeline, each in its tactic's lane; a bar leads to its row of the table.
    ttps = [i for i in report["indicators"] if i["type"] == "TTP_OBSERVED"]
    bars = browser.all("#ttp-timeline a.bar-link")
    assert len(bars) == len(ttps) >= 5
    lanes = [t.text for t in browser.all("#ttp-timeline .lane-label")]
    assert set(lanes) == {t["detail"]["Tactic"] for t in ttps}
    assert all(b.find_element("css selector", "rect").size["width"] > 0 for b in bars)
    assert browser.all(bars[0].get_dom_attribute("href"))  # "#TTP_OBSERVED-n", a row of the table
    # Impossible travel: Paris and Lagos joined on the map.
    assert any(i["type"] == "IMPOSSIBLE_TRAVEL" for i in report["indicators"])
    assert len(browser.all("#travel-map circle.dot")) == 2 and browser.all("#travel-map path.travel")
    assert "Paris, France" in browser.css("#travels").text and " km in " in browser.css("#travels").text
    # Gumshoe's own fields: alice had no baseline, her firsts folded; her role session covered.
    assert "counted as one" in browser.css("#baseline").text
    sessions = browser.all("#role-sessions a.entity")
    assert [a.text for a in sessions] == ["Deployer", "alice-deploy"]
    assert "/entities/role_session/" in sessions[1].get_dom_attribute("href")
    folded = browser.all("tr.folded details.fold-members")
    assert folded and len(folded) == sum(1 for i in report["indicators"] if i.get("group") == "noBaseline")
    browser.get(f"/console/graphs/{world.graph_id}/summary")
    assert severity in browser.css("#inv-h ~ table").text
    # The places first seen in the scope on the map, and the networks they belong to.
    places = browser.all("#geo-table tbody tr")
    assert len(places) == 2 and len(browser.all("#geo-map circle.dot")) == len(places)
    assert int(browser.css("#geo-map").get_attribute("data-dots")) == 2
    asos = browser.css("#aso-table").text
    assert cw.AWAY_ASO in asos and cw.HOME_ASO in asos and browser.all("#aso-table b") == []  # markup as text
    browser.screenshot("summary")
    browser.get(world.profile_path("aws_user", cw.ALICE))
    assert len(browser.all("#places-map circle.dot")) == 2
    # The list shows it, and links back.
    browser.get(f"/console/graphs/{world.graph_id}/investigations")
    browser.link(investigation_id).click()
    browser.wait_for_path(rf"/investigations/{investigation_id}$")


def test_detective_profile_links_open_the_same_profile(world: World, browser: Browser, no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    start = int(world.activity.start.timestamp())
    browser.get(f"/?region=us-east-1#entities/AwsUser/{quote(cw.ALICE, safe='')}?scopeStart={start}"
                f"&scopeEnd={start + 7200}")
    path = browser.wait_for_path(r"/entities/aws_user/")
    assert path.startswith(world.profile_path("aws_user", cw.ALICE) + "?from=")
    assert "from=" + quote(world.activity.start.strftime("%Y-%m-%dT%H:%M:%SZ"), safe="") in path
    # GuardDuty's finding links name the finding by its id.
    finding_id = uuid.UUID(int=int(cw.ADMIN) * 1000).hex  # ingest_fixtures.gd_finding's, n = 0
    browser.get(f"/#findings/GuardDuty/{finding_id}?scopeStart={start}&scopeEnd={start + 7200}")
    browser.wait_for_path(r"/entities/finding/")
    assert browser.css("h1.entity-id").text.endswith(f"/finding/{finding_id}")
    assert cw.XSS_TITLE in browser.text() and not browser.alert_open()


def test_a_detective_link_opened_signed_out_lands_on_the_profile_after_sign_in(world: World, browser: Browser,
                                                                              no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.sign_out()
    start = int(world.activity.start.timestamp())
    browser.get(f"/#entities/AwsRole/{quote(cw.ROLE, safe='')}?scopeStart={start}&scopeEnd={start + 4 * 3600}")
    browser.wait_for_path(r"^/console/signin\?next=%2Fconsole%2Fdetective")
    browser.css("#access_key_id").send_keys(cw.ADMIN)
    browser.css("form.stack button[type=submit]").click()
    browser.wait_for_path(r"/entities/aws_role/")
    assert browser.css("h1.entity-id").text == cw.ROLE
    # A profile of an address has no Investigate button: investigations are of users and roles.
    browser.get(world.profile_path("ip_address", cw.IP_AWAY))
    browser.wait_css("h1.entity-id")
    assert browser.all("#investigate") == []


def test_search_completes_identifiers_and_opens_the_profile(world: World, browser: Browser,
                                                            no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(f"/console/graphs/{world.graph_id}/search")
    box = browser.css("#search-q")
    box.send_keys("arn:aws:iam::111111111111:r")
    browser.wait(lambda d: [o.get_attribute("value") for o in browser.all("#search-completions option")] == [cw.ROLE],
                 "the role among the suggestions")
    box.clear()
    box.send_keys(cw.ROLE)
    browser.css("form.search button[type=submit]").click()
    browser.wait_for_path(r"/entities/aws_role/")
    assert browser.css("h1.entity-id").text == cw.ROLE
    assert "1 role session in the scope" in browser.css(".profile-head .kind").text.lower()


def test_accounts_invite_a_member_who_accepts(world: World, browser: Browser, no_console_errors: Any) -> None:
    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get("/console/accounts")
    # A wrong account id: the API's own message, on the page.
    browser.css("input[name=account_id]").send_keys("12345")
    browser.driver.execute_script("document.querySelector('input[name=account_id]').removeAttribute('pattern')")
    browser.css("form[action='/console/accounts/members'] button").click()
    error = browser.wait_css("p.error").text
    assert "validation error" in error and "accountId" in error
    # The answer's status is 400, which the browser's console notes; that entry and no other.
    assert [e["message"].split(" - ")[0] for e in browser.console_errors()] == [world.url + "/console/accounts/members"]
    browser.get("/console/accounts")
    browser.css("input[name=account_id]").send_keys(cw.MEMBER)
    browser.css("input[name=email]").send_keys("member@example.com")
    browser.css("form[action='/console/accounts/members'] button").click()
    browser.wait(lambda d: "The invitation was sent." in browser.text(), "the notice")
    row = next(r for r in browser.all("table.members tbody tr") if r.text.startswith(cw.MEMBER))
    assert "INVITED" in row.text and "INVITATION" in row.text
    # The member signs in and accepts (over HTTP: the browser stays the administrator's).
    member = ConsoleClient(world.url)
    try:
        assert member.sign_in(cw.MEMBER).status_code == 303
        page = member.get("/console/accounts")
        assert world.arn in page.text and "Accept" in page.text
        answer = member.post("/console/invitations/accept", {"graph_arn": world.arn}, csrf=member.token)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/accounts?done=accepted"
    finally:
        member.close()
    admin_api = world.server.client(cw.ADMIN)
    wait_for(lambda: status_of(admin_api, world.arn, cw.MEMBER) == "ENABLED", what="member enabled")
    browser.get("/console/accounts")
    row = next(r for r in browser.all("table.members tbody tr") if r.text.startswith(cw.MEMBER))
    assert "ENABLED" in row.text


# --- who may see what ----------------------------------------------------------------------


def audit_records(world: World, account: str) -> list[dict[str, Any]]:
    root = world.server.data_dir / "AWSLogs" / account / "CloudTrail" / cw.REGION
    records: list[dict[str, Any]] = []
    for path in sorted(root.glob("*/*/*/*.json.gz")) if root.exists() else []:
        with gzip.open(path) as f:
            records += json.load(f)["Records"]
    return records


def _an_investigation(world: World) -> str:
    found = world.server.client(cw.ADMIN).list_investigations(GraphArn=world.arn)["InvestigationDetails"]
    if found:
        return str(found[0]["InvestigationId"])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return str(world.server.client(cw.ADMIN).start_investigation(
        GraphArn=world.arn, EntityArn=cw.ALICE, ScopeStartTime=start, ScopeEndTime=start + dt.timedelta(days=1),
    )["InvestigationId"])


def test_another_account_is_refused_every_page_of_the_graph(world: World, admin: ConsoleClient) -> None:
    investigation_id = _an_investigation(world)
    outsider = ConsoleClient(world.url)
    try:
        assert outsider.sign_in(cw.OUTSIDER).status_code == 303
        assert outsider.get("/console/accounts").status_code == 200  # its own pages work
        for path in world.graph_pages(investigation_id):
            mine = admin.get(path)
            assert mine.status_code in (200, 303), (path, mine.status_code)
            theirs = outsider.get(path)
            assert theirs.status_code == 404, (path, theirs.status_code)
            for secret in (cw.IP_AWAY, "GetObject", "Deployer", "&lt;img", "acme-reports"):  # the graph's data
                assert secret not in theirs.text, (path, secret)
        refused = outsider.post(f"/console/graphs/{world.graph_id}/investigations",
                                {"entity_arn": cw.ALICE, "from": "2026-01-01T00:00Z", "to": "2026-01-02T00:00Z"},
                                csrf=outsider.token)
        assert refused.status_code == 404
        # Its own graph, by id, is its own.
        own = outsider.get(f"/console/graphs/{world.outsider_arn.rsplit(':', 1)[-1]}/summary")
        assert own.status_code == 200 and "holds no data yet" in own.text
    finally:
        outsider.close()
    # Signed out, nothing of a graph is shown either: the sign-in page.
    anonymous = httpx.get(world.url + f"/console/graphs/{world.graph_id}/summary", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/signin?next=")


def test_the_browser_of_another_account_sees_not_found(world: World, browser: Browser, no_console_errors: Any) -> None:
    signed_in(browser, cw.OUTSIDER)
    browser.driver.get_log("browser")  # the 404 answers below are expected entries
    for path in (f"/console/graphs/{world.graph_id}/summary", world.profile_path("aws_user", cw.ALICE)):
        browser.get(path)
        assert browser.css("h1").text == "Not found" and cw.IP_AWAY not in browser.driver.page_source
    browser.driver.get_log("browser")
    no_console_errors(browser)
    browser.sign_out()


def test_a_form_without_the_right_csrf_token_changes_nothing(world: World, admin: ConsoleClient) -> None:
    api = world.server.client(cw.ADMIN)
    before = len(api.list_investigations(GraphArn=world.arn)["InvestigationDetails"])
    path = f"/console/graphs/{world.graph_id}/investigations"
    form = {"entity_arn": cw.ALICE, "from": "2026-01-01T00:00Z", "to": "2026-01-02T00:00Z"}
    missing = admin.post(path, form)
    forged = admin.post(path, form, csrf="A" * 43)
    other = ConsoleClient(world.url)
    other.sign_in(cw.ADMIN)
    theirs = admin.post(path, form, csrf=other.token)  # another session's token
    other.close()
    cross_site = admin.post(path, form, csrf=admin.token, headers={"origin": "http://evil.example"})
    for answer in (missing, forged, theirs, cross_site):
        assert answer.status_code == 403, answer.text
        assert "nothing was" in answer.text or "another site" in answer.text
    assert len(api.list_investigations(GraphArn=world.arn)["InvestigationDetails"]) == before
    done = admin.post(path, form, csrf=admin.token)
    assert done.status_code == 303 and "/investigations/" in done.headers["location"]
    assert len(api.list_investigations(GraphArn=world.arn)["InvestigationDetails"]) == before + 1
    # The console's calls are the API's: each one in the account's own CloudTrail, with the
    # browser's user agent and address, as AWS records console actions.
    started = done.headers["location"].rsplit("/", 1)[-1]
    record = wait_for(lambda: next((r for r in audit_records(world, cw.ADMIN) if r["eventName"] == "StartInvestigation"
                                    and r["requestParameters"]["entityArn"] == cw.ALICE
                                    and r["requestParameters"]["scopeStartTime"].startswith("2026-01-01")), None),
                      what="the StartInvestigation record")
    assert record["userAgent"].startswith("python-httpx/") and record["sourceIPAddress"] == "127.0.0.1"
    assert started and record["userIdentity"]["accountId"] == cw.ADMIN
    # The sign-in form has its own token too.
    fresh = httpx.post(world.url + "/console/signin", data={"access_key_id": cw.ADMIN, "secret_access_key": ""})
    assert fresh.status_code == 403 and "gumshoe_console=" not in fresh.headers.get("set-cookie", "")


def test_signing_out_ends_the_session(world: World) -> None:
    client = ConsoleClient(world.url)
    try:
        client.sign_in(cw.ADMIN)
        cookie = client.http.cookies.get("gumshoe_console")
        assert client.get("/console/accounts").status_code == 200
        out = client.post("/console/signout", {}, csrf=client.token)
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        replay = httpx.get(world.url + "/console/accounts", cookies={"gumshoe_console": cookie or ""})
        assert replay.status_code == 303 and replay.headers["location"].startswith("/console/signin")
    finally:
        client.close()


def test_errors_are_pages_not_tracebacks(world: World, admin: ConsoleClient) -> None:
    g = f"/console/graphs/{world.graph_id}"
    bad_scope = admin.get(f"{g}/summary?from=yesterday")
    assert bad_scope.status_code == 400 and "from must be a time" in bad_scope.text
    assert admin.get(f"{g}/investigations/12345").status_code == 404
    nobody = admin.get(world.profile_path("aws_user", "arn:aws:iam::111111111111:user/nobody"), follow_redirects=True)
    assert nobody.status_code == 404 and "no such entity" in nobody.text
    assert admin.get("/console/no/such/page").status_code == 404
    for bad in ("2001:db8::/129", "fe80::1%eth0/64", "10.0.0.0/33"):
        refused = admin.get(f"{g}/events", params={"f0": "source_ip", "o0": "cidr", "v0": bad})
        assert refused.status_code == 400 and "is not a CIDR range such as" in refused.text, bad
    v6 = admin.get(f"{g}/events", params={"f0": "source_ip", "o0": "cidr", "v0": "2001:db8::/32"})
    assert v6.status_code == 200 and "0 records of CloudTrail events" in v6.text
    not_a_field = admin.get(f"{g}/events", params={"f0": "object_ref", "o0": "equals", "v0": "x"})
    assert not_a_field.status_code == 400 and "&#39;object_ref&#39; is not a field of CloudTrail events" in not_a_field.text
    assert admin.get(f"{g}/events.csv", params={"source": "nope"}).status_code == 400
    assert admin.get("/console/graphs/not-an-id/summary").status_code == 404
    wrong = admin.post(f"{g}/investigations", {"entity_arn": "arn:aws:s3:::bucket", "from": "2026-01-01T00:00Z",
                                               "to": "2026-01-02T00:00Z"}, csrf=admin.token)
    assert wrong.status_code == 400 and "is not the ARN of an IAM user or role" in wrong.text
    assert "Traceback" not in world.server.log()


def test_every_answer_says_its_server_time(world: World, admin: ConsoleClient) -> None:
    """The Server-Timing header benchmarks/console.py reads: the time from the request to the
    rendered page, in ms, on pages, redirects, refusals and errors alike."""
    g = f"/console/graphs/{world.graph_id}"
    for path, status in ((f"{g}/summary", 200), (g, 303), (f"/console/graphs/{'0' * 32}/summary", 404),
                         ("/console/accounts", 200), (f"{g}/summary?from=yesterday", 400)):
        answer = admin.get(path)
        name, _, dur = answer.headers["server-timing"].partition(";dur=")
        assert answer.status_code == status and name == "console" and 0 < float(dur) < 60_000, answer.headers


def test_membership_forms_remove_decline_and_leave(world: World, admin: ConsoleClient) -> None:
    """The rest of the Accounts page over HTTP: the member that accepted leaves, the
    administrator removes an account and invites another that declines."""
    other = "333333333333"
    api = world.server.client(cw.ADMIN)
    member = ConsoleClient(world.url)
    try:
        member.sign_in(cw.MEMBER)
        member.get("/console/accounts")
        if status_of(api, world.arn, cw.MEMBER) == "ENABLED":
            left = member.post("/console/invitations/leave", {"graph_arn": world.arn}, csrf=member.token)
            assert left.status_code == 303 and left.headers["location"].endswith("done=left")
            assert status_of(api, world.arn, cw.MEMBER) is None
        invited = admin.post("/console/accounts/members", {"graph_arn": world.arn, "account_id": other,
                                                          "email": "other@example.com", "disable_email": "on"},
                             csrf=admin.token)
        assert invited.status_code == 303
        wait_for(lambda: status_of(api, world.arn, other) == "INVITED", what="invited")
        third = ConsoleClient(world.url)
        third.sign_in(other)
        third.get("/console/accounts")
        declined = third.post("/console/invitations/reject", {"graph_arn": world.arn}, csrf=third.token)
        third.close()
        assert declined.status_code == 303 and status_of(api, world.arn, other) is None
        without_email = admin.post("/console/accounts/members", {"graph_arn": world.arn, "account_id": other},
                                   csrf=admin.token)
        assert without_email.status_code == 400 and "emailAddress" in without_email.text
        assert admin.post("/console/accounts/members", {"graph_arn": world.arn, "account_id": other,
                                                        "email": "other@example.com"}, csrf=admin.token).status_code == 303
        wait_for(lambda: status_of(api, world.arn, other) == "INVITED", what="invited again")
        removed = admin.post("/console/accounts/members/delete", {"graph_arn": world.arn, "account_id": other},
                             csrf=admin.token)
        assert removed.status_code == 303 and status_of(api, world.arn, other) is None
        # Refusals read as the API words them, on the page (the administrator cannot remove itself).
        refused = admin.post("/console/accounts/members/delete", {"graph_arn": world.arn, "account_id": cw.ADMIN},
                             csrf=admin.token)
        assert refused.status_code in (400, 403) and 'class="error"' in refused.text
        # A member cannot remove anyone from a graph it does not administer.
        theirs = member.post("/console/accounts/members/delete", {"graph_arn": world.arn, "account_id": cw.ADMIN},
                             csrf=member.token)
        assert theirs.status_code == 404 and "does not exist in this Region" in theirs.text
    finally:
        member.close()


def test_the_region_is_kept_in_the_session(world: World, admin: ConsoleClient) -> None:
    moved = admin.post("/console/region", {"region": "eu-west-1", "back": "/console/accounts"}, csrf=admin.token)
    assert moved.status_code == 303 and moved.headers["location"] == "/console/accounts"
    page = admin.get("/console/accounts")
    assert "in eu-west-1" in page.text and "administers no behavior graph in eu-west-1" in page.text
    assert '<option value="eu-west-1" selected>' in page.text
    # A graph's own pages stay in its Region whatever the session's.
    assert admin.get(f"/console/graphs/{world.graph_id}/summary").status_code == 200
    assert admin.post("/console/region", {"region": "mars-north-1"}, csrf=admin.token).status_code == 400
    admin.post("/console/region", {"region": cw.REGION}, csrf=admin.token)
    assert "in us-east-1" in admin.get("/console/accounts").text


def test_archive_and_unarchive_an_investigation(world: World, admin: ConsoleClient) -> None:
    investigation_id = _an_investigation(world)
    api = world.server.client(cw.ADMIN)
    path = f"/console/graphs/{world.graph_id}/investigations/{investigation_id}"
    for state in ("ARCHIVED", "ACTIVE"):
        done = admin.post(path + "/state", {"state": state}, csrf=admin.token)
        assert done.status_code == 303
        assert api.get_investigation(GraphArn=world.arn, InvestigationId=investigation_id)["State"] == state
    listed = admin.get(f"/console/graphs/{world.graph_id}/investigations?state=ARCHIVED")
    assert listed.status_code == 200 and investigation_id not in listed.text
    wrong = admin.post(path + "/state", {"state": "DELETED"}, csrf=admin.token)
    assert wrong.status_code == 400 and "validation error" in wrong.text


def test_links_from_other_sites_and_api_clients_at_the_root(world: World) -> None:
    # SameSite=Strict keeps the cookie back on a link from another site: the page asks again from here.
    bounce = httpx.get(world.url + f"/console/graphs/{world.graph_id}/summary", headers={"sec-fetch-site": "cross-site"})
    assert bounce.status_code == 200 and 'http-equiv="refresh"' in bounce.text
    # A browser at / goes to the console; an API client at / still talks to the API.
    page = httpx.get(world.url + "/", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 302 and page.headers["location"] == "/console/"
    api = httpx.get(world.url + "/", headers={"accept": "application/json"})
    assert api.headers.get("x-amzn-errortype") and api.status_code != 302


def test_keyboard_focus_is_visible(world: World, browser: Browser, no_console_errors: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    no_console_errors(browser)
    signed_in(browser, cw.ADMIN)
    browser.get(f"/console/graphs/{world.graph_id}/summary")
    body = browser.css("body")
    body.send_keys(Keys.TAB)
    focused = browser.driver.switch_to.active_element
    assert focused.text == "Skip to content"
    style = browser.driver.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]")
    assert style[0] != "none" and style[1] != "0px", style
    focused.send_keys(Keys.ENTER)
    for _ in range(3):
        browser.driver.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.driver.switch_to.active_element.tag_name in ("a", "input", "button")
    # The map's dots are links the keyboard reaches, with the same visible focus (once the
    # server has located the addresses: it does so in the background after the upload).
    def located() -> bool:
        browser.get(f"/console/graphs/{world.graph_id}/summary")
        return bool(browser.all("#geo-map a"))

    browser.wait(lambda d: located(), "the places on the map")
    browser.driver.execute_script("const h = document.getElementById('geo-h'); h.tabIndex = -1; h.focus()")
    browser.driver.switch_to.active_element.send_keys(Keys.TAB)
    dot = browser.driver.switch_to.active_element
    assert dot.tag_name == "a" and "/entities/ip_address/" in dot.get_dom_attribute("href")
    style = browser.driver.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]")
    assert style[0] != "none" and style[1] != "0px", style


def test_an_instance_profile_charts_its_flows_and_lists_an_hours_records(world: World, admin: ConsoleClient) -> None:
    hour = ms(world.activity.busiest_hour)
    page = admin.get(world.profile_path("ec2_instance", cw.INSTANCE), follow_redirects=True)
    assert page.status_code == 200 and 'id="flow-chart"' in page.text and "VPC flow peers" in page.text
    assert 'id="api-chart"' not in page.text  # an instance makes no API calls of its own here
    base = str(page.url).split("?", 1)[1]
    drilled = admin.get(world.profile_path("ec2_instance", cw.INSTANCE) + f"?{base}&hour={hour}")
    assert "Raw VPC flow records" in drilled.text and "Page 1 of 1 (10 in all)" in drilled.text
    assert drilled.text.count(">REJECT<") == 5 and drilled.text.count(">ACCEPT<") == 5


def test_investigations_are_filtered_by_entity_and_creation_time(world: World, admin: ConsoleClient) -> None:
    investigation_id = _an_investigation(world)
    g = f"/console/graphs/{world.graph_id}/investigations"
    assert investigation_id in admin.get(g, params={"entity": cw.ALICE}).text
    assert investigation_id not in admin.get(g, params={"entity": cw.ROLE}).text
    assert investigation_id in admin.get(g, params={"created_from": "2020-01-01T00:00"}).text
    assert investigation_id not in admin.get(g, params={"created_to": "2020-01-01T00:00"}).text
    wrong = admin.get(g, params={"created_from": "soon"})
    assert wrong.status_code == 200 and "created from must be a time" in wrong.text


def test_the_flow_drilldown_without_javascript(world: World, admin: ConsoleClient) -> None:
    """The tab's table, its links to the raw records, and the "Plot ticked rows" form drawn on the server."""
    import re
    from html import unescape

    page = admin.get(world.profile_path("ec2_instance", cw.INSTANCE) + "/flows", follow_redirects=True)
    assert page.status_code == 200 and "/flows?from=" in str(page.url)
    tokens = [unescape(t) for t in re.findall(r'<tr data-row="([^"]+)"', page.text)]
    expected = flow_rows(world)
    assert len(tokens) == 10 and tokens[0].startswith(expected[0][0].replace(":", ",") + ",")
    assert page.text.count(">6 TCP<") == 10 and 'id="static-plot"' not in page.text
    # A row's raw records: the search filled in, one record.
    out_link = unescape(re.search(r'<a class="records-out" href="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    assert "source=flows" in out_link and "f0=instance_id" in out_link
    records = admin.get(out_link)
    assert records.status_code == 200 and "1 record of VPC flow records" in records.text
    # The form's GET: the ticked rows drawn as an SVG, with their bytes, and kept ticked.
    base = str(page.url).split("?", 1)[1]
    plotted = admin.get(str(page.url).split("?", 1)[0] + "?" + base + "&" + urlencode([("plot", t) for t in tokens[:2]]))
    lines = re.findall(r'<polyline class="series" data-row="([^"]+)" data-bytes="(\d+)"', plotted.text)
    assert [(unescape(t), int(b)) for t, b in lines] == [(tokens[0], expected[0][3]), (tokens[1], expected[1][3])]
    assert plotted.text.count(" checked>") == 2
    # Rows it cannot read, or more than it plots, are left out and said so; never a fault.
    odd = admin.get(str(page.url) + "&" + urlencode([("plot", "<script>alert(3)</script>"), *[("plot", t) for t in tokens]]))
    assert odd.status_code == 200 and "3 rows named in the URL are not plotted" in odd.text
    assert "<script>alert(3)" not in odd.text and odd.text.count('<polyline class="series"') == 8
    # An address's tab sees the conversation from its side; other entities have no such tab.
    peer = admin.get(world.profile_path("ip_address", "198.51.100.77") + "/flows", follow_redirects=True)
    assert peer.status_code == 200 and "<td>inbound</td>" in peer.text and "<td>outbound</td>" not in peer.text
    assert admin.get(world.profile_path("aws_user", cw.ALICE) + "/flows", follow_redirects=True).status_code == 404
