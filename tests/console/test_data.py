"""The console's page data (console/data.py) on a small graph: the hand-written events of
console_world.py ingested by the real pipeline into a real DuckDB graph store, every figure
checked against the events themselves."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import console_world as cw
import pytest

from gumshoe.console import data, worldmap
from gumshoe.console.pages import profile, summary
from gumshoe.console.render import profile_url
from gumshoe.console.timescope import TimeScope
from gumshoe.graph import queries
from gumshoe.graph.stores import GraphStores
from gumshoe.investigate.geo import GeoIP
from gumshoe.investigate.located import locate_addresses

HOUR_MS = 3_600_000


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with cw.ingested_graph(tmp_path_factory.mktemp("console-data"), cw.activity()) as graph:
        graph.events, graph.start = graph.w.events, graph.w.start
        yield graph


@pytest.fixture(scope="module")
def located(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The same world in a graph of its own whose addresses were located with GeoIP test
    databases (alice's home network in Paris, the other address in Lagos)."""
    with cw.located_graph(tmp_path_factory.mktemp("console-located"), cw.activity()) as graph:
        yield graph


def first_ms(events: list[dict[str, Any]]) -> int:
    return min(ms(dt.datetime.fromisoformat(e["eventTime"])) for e in events)


def test_summary_ranks_users_and_roles_by_api_calls(graph: Any) -> None:
    panels = data.summary(graph.store, *graph.scope)
    principals = {(p["type"], p["id"]): p for p in panels["principals"]}
    assert list(principals) == [("aws_user", cw.ALICE), ("aws_role", cw.ROLE)]  # most calls first
    ok, failed = cw.calls(graph.w.of(cw.ALICE))
    assert (principals["aws_user", cw.ALICE]["success"], principals["aws_user", cw.ALICE]["failure"]) == (ok, failed)
    assert failed == 2
    # The role's calls are its session's.
    role = principals["aws_role", cw.ROLE]
    assert (role["success"], role["failure"], role["sessions"]) == (len(graph.w.of(cw.SESSION)), 0, 1)


def test_the_summary_counts_the_scope_s_whole_hours(graph: Any) -> None:
    """A month around the data counts what the data's own hours count; so does a scope whose
    ends are not whole hours (its hours count)."""
    start, end = graph.scope
    short = data.summary(graph.store, start, end)
    assert short["ipAddresses"]
    long = data.summary(graph.store, start - 20 * 24 * HOUR_MS, end + 10 * 24 * HOUR_MS)
    ragged = data.summary(graph.store, start + 1, end - 1)
    assert short["instances"] and short["flowAddresses"]
    for panel in ("ipAddresses", "principals", "instances", "flowAddresses"):
        assert long[panel] == short[panel] == ragged[panel], panel


def test_summary_addresses_instances_and_findings(graph: Any) -> None:
    panels = data.summary(graph.store, *graph.scope)
    by_ip = Counter(e["sourceIPAddress"] for e in graph.events)
    failed_by_ip = Counter(e["sourceIPAddress"] for e in graph.events if e.get("errorCode"))
    assert [(p["id"], p["success"] + p["failure"], p["failure"]) for p in panels["ipAddresses"]] == [
        (ip, n, failed_by_ip[ip]) for ip, n in by_ip.most_common()]
    [instance] = panels["instances"]
    flows = [line.split() for line in cw.flow_log(graph.w).splitlines()[1:]]
    assert instance["id"] == cw.INSTANCE
    assert instance["bytes"] == sum(int(f[9]) for f in flows)
    assert (instance["accepted"], instance["rejected"]) == (5, 5)
    [finding] = panels["findings"]
    assert finding["title"] == cw.XSS_TITLE and finding["id"].startswith("arn:aws:guardduty:")


def test_newly_observed_entities_are_those_first_seen_in_the_scope(graph: Any) -> None:
    first_hour = ms(graph.start)
    everything = data.summary(graph.store, *graph.scope)
    assert ("aws_user", cw.ALICE) in {(e["type"], e["id"]) for e in everything["newEntities"]}
    counts = {c["type"]: c["count"] for c in everything["newCounts"]}
    assert counts["aws_user"] == 1 and counts["ip_address"] >= 2 and counts["user_agent"] == 3
    # Two hours later alice is no longer new, the role (first seen in the third hour) is.
    later = data.summary(graph.store, first_hour + 2 * HOUR_MS, first_hour + 4 * HOUR_MS)
    seen = {(e["type"], e["id"]) for e in later["newEntities"]}
    assert ("aws_user", cw.ALICE) not in seen and ("aws_role", cw.ROLE) in seen
    # A later load's partial row of alice, in the later scope: she is still not new there.
    class Undo(Exception):
        pass

    # The block is one read transaction (nested blocks of the thread share it): the row is seen
    # by the summary inside it and rolled back when it ends with an exception.
    with pytest.raises(Undo), graph.store.cursor() as conn:
        conn.execute("INSERT INTO entities VALUES ('aws_user', $id, $a, $t, $t, 1, hash($id))",
                     {"id": cw.ALICE, "a": cw.ADMIN, "t": first_hour + 3 * HOUR_MS})
        again = data.summary(graph.store, first_hour + 2 * HOUR_MS, first_hour + 4 * HOUR_MS)
        raise Undo
    assert ("aws_user", cw.ALICE) not in {(e["type"], e["id"]) for e in again["newEntities"]}
    assert again["newCounts"] == later["newCounts"]
    # Before anything happened: empty panels, and the graph's extent says where the data is.
    empty = data.summary(graph.store, first_hour - 10 * HOUR_MS, first_hour - 5 * HOUR_MS)
    assert not any(empty.values())
    start, end = data.graph_extent(graph.store)  # type: ignore[misc]
    assert start <= first_hour + 5 * 60_000 and end >= first_hour + 2 * HOUR_MS


def test_raw_events_of_an_hour_page_by_page(graph: Any) -> None:
    hour = graph.w.busiest_hour
    expected = sorted(graph.w.in_hour(graph.w.of(cw.ALICE), hour), key=lambda e: (e["eventTime"], e["eventID"]))
    got = data.raw_events(graph.store, "aws_user", cw.ALICE, ms(hour), ms(hour) + HOUR_MS, 0, 10)
    assert got["total"] == len(expected) == 15
    assert [e["eventId"] for e in got["events"]] == [e["eventID"] for e in expected[:10]]
    rest = data.raw_events(graph.store, "aws_user", cw.ALICE, ms(hour), ms(hour) + HOUR_MS, 10, 10)
    assert [e["eventId"] for e in rest["events"]] == [e["eventID"] for e in expected[10:]]
    xss = next(e for e in rest["events"] + got["events"] if e["api"] == "GetCallerIdentity")
    assert xss["userAgent"] == cw.XSS_AGENT
    denied = [e for e in got["events"] + rest["events"] if e["errorCode"]]
    assert [e["errorCode"] for e in denied] == ["AccessDenied", "AccessDenied"]


def test_raw_events_of_other_entity_types(graph: Any) -> None:
    start, end = graph.scope
    role = data.raw_events(graph.store, "aws_role", cw.ROLE, start, end)
    assert role["total"] == len(graph.w.of(cw.SESSION)) == 4
    by_ip = data.raw_events(graph.store, "ip_address", cw.IP_AWAY, start, end)
    assert by_ip["total"] == sum(1 for e in graph.events if e["sourceIPAddress"] == cw.IP_AWAY)
    agent = data.raw_events(graph.store, "user_agent", cw.XSS_AGENT, start, end)
    assert agent["total"] == 1
    assert data.raw_events(graph.store, "finding", "x", start, end) == {"events": [], "total": 0}
    flows = data.raw_flows(graph.store, "ec2_instance", cw.INSTANCE, start, end)
    assert flows["total"] == 10 and {f["action"] for f in flows["flows"]} == {"ACCEPT", "REJECT"}


def test_hourly_series_are_zero_filled_over_the_scope(graph: Any) -> None:
    start, end = graph.scope
    profile = queries.profile(graph.store, cw.ALICE, start, end)
    assert profile is not None
    series = data.hourly_series(profile["hourlyApiVolume"], start, end, "success", "failure")
    assert len(series["hours"]) == 8 and series["hours"][0] == start
    per_hour = Counter(e["eventTime"][:13] for e in graph.w.of(cw.ALICE))
    for h, ok, failed in zip(series["hours"], series["success"], series["failure"], strict=True):
        stamp = dt.datetime.fromtimestamp(h / 1000, dt.UTC).strftime("%Y-%m-%dT%H")
        assert ok + failed == per_hour.get(stamp, 0)
    flows = data.flow_volume(graph.store, "ec2_instance", cw.INSTANCE, start, end)
    assert [(f["accepted"], f["rejected"]) for f in flows] == [(5, 5)]
    assert data.flow_volume(graph.store, "aws_user", cw.ALICE, start, end) == []


def test_entity_completion_search_and_types(graph: Any) -> None:
    found = data.entity(graph.store, cw.ALICE)
    assert found is not None and found["type"] == "aws_user" and found["accountId"] == cw.ADMIN
    assert found["events"] == len(graph.w.of(cw.ALICE))
    assert data.entity(graph.store, "arn:aws:iam::111111111111:user/nobody") is None
    completions = data.complete(graph.store, None, "arn:aws:iam::111111111111:")
    assert {(c["type"], c["id"]) for c in completions} == {("aws_user", cw.ALICE), ("aws_role", cw.ROLE)}
    assert data.complete(graph.store, "aws_role", "arn:aws:iam::") == [{"type": "aws_role", "id": cw.ROLE}]
    assert data.complete(graph.store, None, "") == []
    results = data.search(graph.store, None, "ALICE")
    assert results[0]["id"] == cw.ALICE  # the most active first
    assert {r["id"] for r in results} >= {cw.ALICE, cw.SESSION} and all("alice" in r["id"].lower() for r in results)
    exact = data.search(graph.store, None, cw.ALICE)
    assert exact[0]["id"] == cw.ALICE and exact[0]["exact"]
    # LIKE's wildcards are the text itself; a part of an address finds the address.
    assert data.search(graph.store, None, "%") == data.search(graph.store, None, "a_ice") == []
    part = cw.IP_HOME[: cw.IP_HOME.rindex(".")]
    assert cw.IP_HOME in {r["id"] for r in data.search(graph.store, None, part)}
    assert cw.IP_HOME in {r["id"] for r in data.search(graph.store, "ip_address", part)}
    assert data.types_of(graph.store, [cw.ALICE, cw.IP_HOME, "not-an-entity"]) == {
        cw.ALICE: "aws_user", cw.IP_HOME: "ip_address"}


def test_finding_details(graph: Any) -> None:
    [finding] = data.summary(graph.store, *graph.scope)["findings"]
    details = data.finding(graph.store, finding["id"])
    assert details is not None and details["title"] == cw.XSS_TITLE and details["instanceId"] == cw.INSTANCE
    assert data.finding_arn(graph.store, details["id"]) == finding["id"]  # by its id, as Detective links name it
    assert data.finding(graph.store, "nope") is None


def test_no_data_at_all(tmp_path: Path) -> None:
    stores = GraphStores(tmp_path)
    try:
        store = stores.get("arn:aws:detective:us-east-1:111111111111:graph:" + "0" * 32)
        assert data.graph_extent(store) is None
        assert not any(data.summary(store, 0, HOUR_MS).values())
        assert data.raw_events(store, "aws_user", cw.ALICE, 0, HOUR_MS) == {"events": [], "total": 0}
    finally:
        stores.close()


def test_the_calls_of_an_hour_by_address_api_and_key(graph: Any) -> None:
    hour = graph.w.busiest_hour
    rows = data.call_breakdown(graph.store, "aws_user", cw.ALICE, ms(hour), ms(hour) + HOUR_MS)
    events = graph.w.in_hour(graph.w.of(cw.ALICE), hour)
    expected = Counter((e["sourceIPAddress"], f"{e['eventSource']}:{e['eventName']}", bool(e.get("errorCode")))
                       for e in events)
    got = Counter()
    for r in rows:
        got[(r["sourceIp"], r["api"], False)] += r["success"]
        got[(r["sourceIp"], r["api"], True)] += r["failure"]
    assert +got == expected
    assert rows[0]["api"] == "s3.amazonaws.com:GetObject" and rows[0]["bucket"] == cw.BUCKET  # the most calls first
    assert all(r["accessKeyId"].startswith("AKIA") for r in rows)
    assert data.call_breakdown(graph.store, "finding", "x", 0, HOUR_MS) == []


def test_places_of_addresses_once_investigations_located_them(graph: Any) -> None:
    from gumshoe.investigate.engine import IP_GEO

    assert data.new_geolocations(graph.store, *graph.scope) is None  # never located: no GeoIP database
    assert data.places(graph.store, [cw.IP_HOME]) == {}
    with graph.store.writing() as conn:
        conn.execute(IP_GEO)
        conn.execute("INSERT INTO ip_geo VALUES (?, 'Paris, France', 'AS64500 Example', 'sig'), "
                     "(?, 'Lagos, Nigeria', '', 'sig')", [cw.IP_HOME, cw.IP_AWAY])
    try:
        found = data.new_geolocations(graph.store, *graph.scope)
        assert found is not None
        by_place = {g["location"]: g for g in found}
        assert list(by_place) == ["Lagos, Nigeria", "Paris, France"]  # the latest first
        away = [e for e in graph.events if e["sourceIPAddress"] == cw.IP_AWAY]
        first = min(away, key=lambda e: e["eventTime"])
        assert by_place["Lagos, Nigeria"]["ip"] == cw.IP_AWAY and by_place["Lagos, Nigeria"]["calls"] == len(away)
        assert by_place["Lagos, Nigeria"]["firstSeen"] == ms(dt.datetime.fromisoformat(first["eventTime"]))
        assert (by_place["Lagos, Nigeria"]["principalType"], by_place["Lagos, Nigeria"]["principalId"]) == (
            "aws_user", cw.ALICE)
        # After the first calls from there, nothing is new.
        late = ms(graph.start) + 5 * HOUR_MS
        assert data.new_geolocations(graph.store, late, late + HOUR_MS) == []
        assert data.places(graph.store, [cw.IP_HOME, cw.IP_AWAY, "192.0.2.1"]) == {
            cw.IP_HOME: {"location": "Paris, France", "aso": "AS64500 Example"},
            cw.IP_AWAY: {"location": "Lagos, Nigeria", "aso": ""}}
        # Located again by other GeoIP databases (as many rows, written as the runner writes
        # them): the places follow, though the first answer was kept for the graph as it was.
        with graph.store.writing() as conn:
            conn.execute("DELETE FROM ip_geo")
            conn.execute("INSERT INTO ip_geo VALUES (?, 'Lyon, France', '', 'sig2'), (?, 'Lagos, Nigeria', '', 'sig2')",
                         [cw.IP_HOME, cw.IP_AWAY])
        again = data.new_geolocations(graph.store, *graph.scope)
        assert again is not None and {g["location"] for g in again} == {"Lyon, France", "Lagos, Nigeria"}
    finally:
        with graph.store.writing() as conn:
            conn.execute("DROP TABLE ip_geo")


def test_newly_observed_asos_are_networks_first_seen_in_the_scope(located: Any) -> None:
    start, end = located.scope
    events = located.w.events
    home = [e for e in events if e["sourceIPAddress"] == cw.IP_HOME]
    away = [e for e in events if e["sourceIPAddress"] == cw.IP_AWAY]
    found = data.new_asos(located.store, start, end)
    assert found is not None
    by_aso = {a["aso"]: a for a in found}
    assert list(by_aso) == [cw.AWAY_ASO, cw.HOME_ASO]  # the latest first
    ours, theirs = by_aso[cw.HOME_ASO], by_aso[cw.AWAY_ASO]
    assert (ours["addresses"], ours["addressCount"], ours["firstSeen"]) == ([cw.IP_HOME], 1, first_ms(home))
    # alice first, then the role session she assumed, which worked from home too.
    assert [(p["type"], p["id"]) for p in ours["principals"]] == [("aws_user", cw.ALICE), ("role_session", cw.SESSION)]
    assert ours["principalCount"] == 2 and ours["calls"] == len(home)
    assert (theirs["addresses"], theirs["firstSeen"], theirs["calls"]) == ([cw.IP_AWAY], first_ms(away), len(away))
    assert theirs["principals"] == [{"type": "aws_user", "id": cw.ALICE}]
    # From the busy hour on, the home network had been seen before: only the other one is new.
    busy = ms(located.w.busiest_hour)
    assert [a["aso"] for a in data.new_asos(located.store, busy, end) or []] == [cw.AWAY_ASO]
    # The lists are cut, the counts are not.
    [cut] = [a for a in data.new_asos(located.store, start, end, listed=1) or [] if a["aso"] == cw.HOME_ASO]
    assert cut["principals"] == [{"type": "aws_user", "id": cw.ALICE}] and cut["principalCount"] == 2
    # Before the activity and after its first calls: nothing new.
    assert data.new_asos(located.store, start - 5 * HOUR_MS, start) == []
    assert data.new_asos(located.store, busy + HOUR_MS, end) == []


def test_the_summary_maps_newly_observed_places(located: Any) -> None:
    start, end = located.scope
    found = data.new_geolocations(located.store, start, end)
    assert found is not None
    assert [(g["location"], g["ip"]) for g in found] == [("Lagos, Nigeria", cw.IP_AWAY), ("Paris, France", cw.IP_HOME)]
    home = [e for e in located.w.events if e["sourceIPAddress"] == cw.IP_HOME]
    assert found[1]["calls"] == len(home) and found[1]["firstSeen"] == first_ms(home)
    graph_id = "0" * 32
    scope = TimeScope(start, end)
    drawn = summary.places_map(graph_id, scope, found, located.geo)
    dots = {d.label: d for d in drawn.dots}
    assert set(dots) == {"Lagos, Nigeria", "Paris, France"} and drawn.missing == 0
    assert (dots["Paris, France"].x, dots["Paris, France"].y) == worldmap.project(*cw.PARIS)
    assert (dots["Lagos, Nigeria"].x, dots["Lagos, Nigeria"].y) == worldmap.project(*cw.LAGOS)
    assert dots["Paris, France"].href == profile_url(graph_id, "ip_address", cw.IP_HOME, scope)
    assert cw.IP_HOME in dots["Paris, France"].title
    # Without a GeoIP City database the places are known, their coordinates are not.
    unplaced = summary.places_map(graph_id, scope, found, None)
    assert unplaced.dots == [] and unplaced.missing == 2


def test_a_profile_maps_the_places_of_its_addresses(located: Any) -> None:
    scope = TimeScope(*located.scope)
    places = data.places(located.store, [cw.IP_HOME, cw.IP_AWAY, "192.0.2.1"])
    drawn = profile.places_of("0" * 32, scope, places, located.geo)
    assert drawn is not None
    shown, rows = drawn
    assert [(r["location"], r["ips"], r["asos"]) for r in rows] == [
        ("Lagos, Nigeria", [cw.IP_AWAY], [cw.AWAY_ASO]), ("Paris, France", [cw.IP_HOME], [cw.HOME_ASO])]
    assert sorted((d.x, d.y) for d in shown.dots) == sorted([worldmap.project(*cw.PARIS), worldmap.project(*cw.LAGOS)])
    assert profile.places_of("0" * 32, scope, {}, located.geo) is None
    # Looked up in the server's GeoIP databases, the same places as located in the graph.
    assert data.places(located.store, [cw.IP_HOME, cw.IP_AWAY, "192.0.2.1"], located.geo) == places


def test_without_an_asn_database_the_asos_are_unknown(located: Any) -> None:
    start, end = located.scope
    city_only = GeoIP(located.geo_dir / "city.mmdb", None)
    try:
        with located.store.writing() as main, main.cursor() as conn:
            locate_addresses(conn, city_only)  # another signature: the addresses located again
        assert data.new_asos(located.store, start, end) is None
        assert [g["location"] for g in data.new_geolocations(located.store, start, end) or []] == [
            "Lagos, Nigeria", "Paris, France"]
    finally:
        city_only.close()
        with located.store.writing() as main, main.cursor() as conn:
            locate_addresses(conn, located.geo)
    assert data.new_asos(located.store, start, end)


def test_newly_observed_entities_after_a_compaction_and_an_earlier_load(tmp_path: Path) -> None:
    """Compaction keeps each entity's first sighting sorted by time (``firsts``); entities with
    rows loaded since count from both, an older log loaded late included."""
    import io
    import json

    from gumshoe.formats import cloudtrail
    from gumshoe.graph.store import GraphStore

    t0 = ms(dt.datetime(2026, 10, 1, tzinfo=dt.UTC))

    def calls(*who: tuple[str, int]) -> list[Any]:
        lines = [json.dumps({
            "eventTime": dt.datetime.fromtimestamp((t0 + hour * HOUR_MS) / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2", "eventID": f"{user}-{hour}",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/{user}",
                             "accountId": "111122223333"}}) for user, hour in who]
        return [r for b in cloudtrail.read(io.BytesIO("\n".join(lines).encode()), "x.json") for r in b.records]

    def new_users(store: GraphStore, first_hour: int, hours: int) -> dict[str, int]:
        found = data.summary(store, t0 + first_hour * HOUR_MS, t0 + (first_hour + hours) * HOUR_MS)
        return {e["id"].rsplit("/", 1)[1]: (e["firstSeen"] - t0) // HOUR_MS
                for e in found["newEntities"] if e["type"] == "aws_user"}

    def load(store: GraphStore, ref: str, records: list[Any]) -> None:
        batch = store.begin(t0)
        batch.add(ref, "cloudtrail", cloudtrail.PACKAGE, records)
        batch.commit()

    store = GraphStore(tmp_path / "g.duckdb")
    try:
        load(store, "a", calls(("alice", 10), ("bob", 11), ("bob", 30)))
        assert store.compact(force=True)
        load(store, "b", calls(("carol", 12), ("alice", 40), ("bob", 5)))  # bob's older log comes late
        assert new_users(store, 0, 48) == {"alice": 10, "bob": 5, "carol": 12}
        assert new_users(store, 10, 2) == {"alice": 10}  # bob was first seen before this scope
        assert new_users(store, 11, 24) == {"carol": 12}
        assert new_users(store, 20, 24) == {}
        assert store.compact(force=True)  # the same, all of it from firsts now
        assert new_users(store, 0, 48) == {"alice": 10, "bob": 5, "carol": 12}
        assert new_users(store, 10, 2) == {"alice": 10}
    finally:
        store.close()


def test_related_entities_show_a_page_of_each_relationship_at_a_time() -> None:
    sessions = [{"direction": "in", "kind": "session_of", "type": "role_session", "id": f"s{n:03d}", "count": 100 - n}
                for n in range(60)]
    accounts = [{"direction": "out", "kind": "belongs_to", "type": "aws_account", "id": "111122223333", "count": 1}]

    def link(group: str, n: int) -> str:
        return f"{group}/{n}"

    totals = [{"direction": "in", "kind": "session_of", "count": 15_000}]
    first, = [g for g in profile.related_groups(sessions + accounts, totals, {}, link) if g["key"] == "in-session_of"]
    assert (first["total"], first["listed"]) == (15_000, 60)
    assert [r["id"] for r in first["rows"]] == [f"s{n:03d}" for n in range(profile.RELATED_PAGE)]
    assert first["nav"] == {"number": 1, "pages": 3, "total": 60, "listed": True, "prev": None, "next": "in-session_of/2"}
    groups = profile.related_groups(sessions + accounts, totals, {"rel": "in-session_of", "rpage": "3"}, link)
    paged, belongs = groups
    assert [r["id"] for r in paged["rows"]] == [f"s{n:03d}" for n in range(50, 60)]
    assert (paged["nav"]["prev"], paged["nav"]["next"]) == ("in-session_of/2", None)
    # The other relationship stays on its only page, with no pager; a page past the end is the last.
    assert belongs["rows"] == accounts and belongs["nav"] is None and belongs["total"] == 1
    past = profile.related_groups(sessions, totals, {"rel": "in-session_of", "rpage": "99"}, link)[0]
    assert past["nav"]["number"] == 3
