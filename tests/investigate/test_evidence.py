"""The events behind an indicator: its selector over the principal's events, paged by
(time, event id), on a real graph store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from graph_rows import ALICE, BOB, END, ROLE, SEATTLE, START, Graph

from gumshoe.graph.store import GraphStore
from gumshoe.investigate.engine import HOUR_MS
from gumshoe.investigate.evidence import Subject, indicator_events, load_principal_events

ACCOUNT = ALICE.split(":")[4]


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[Graph]:
    store = GraphStore(tmp_path / "g.duckdb")
    yield Graph(store)
    store.close()


def page(graph: Graph, who: str, selector: dict[str, str], after: tuple[int, str] | None = None,
         limit: int = 100) -> list[dict]:
    kind = "IAM_ROLE" if ":role/" in who else "IAM_USER"
    with graph.store.cursor() as main, main.cursor() as conn:
        return indicator_events(conn, Subject(who, kind, ACCOUNT), START, END, selector, after, limit)


def test_a_selector_names_the_principals_own_calls_in_the_scope(graph: Graph) -> None:
    stop = {"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging", "sourceIp": SEATTLE}
    graph.call(START - HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging")  # before the scope
    graph.call(START + HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging", targets="trail:main")
    graph.call(START + HOUR_MS, source="cloudtrail.amazonaws.com", name="StopLogging", ip="192.0.2.1")  # elsewhere
    graph.call(START + HOUR_MS, who=BOB, source="cloudtrail.amazonaws.com", name="StopLogging")  # someone else
    graph.call(START + 2 * HOUR_MS, source="cloudtrail.amazonaws.com", name="DeleteTrail")
    [event] = page(graph, ALICE, stop)
    assert event["eventId"] == "e2" and event["eventTime"] == START + HOUR_MS
    assert event["targets"] == ["trail:main"] and event["principal"] == ALICE
    assert (event["eventName"], event["sourceIpAddress"], event["errorCode"]) == ("StopLogging", SEATTLE, "")


def test_no_address_means_no_address_or_a_services_name(graph: Graph) -> None:
    graph.call(START + HOUR_MS, ip="")
    graph.call(START + HOUR_MS, ip="ec2.amazonaws.com")
    graph.call(START + HOUR_MS)
    assert [e["sourceIpAddress"] for e in page(graph, ALICE, {"sourceIp": ""})] == ["", "ec2.amazonaws.com"]


def test_pages_follow_time_then_event_id_without_gaps_or_repeats(graph: Graph) -> None:
    for n in range(7):
        graph.call(START + HOUR_MS + (n // 2) * 1000, who=ROLE, session=f"s{n}")
    selector = {"eventName": "ListBuckets"}
    seen: list[str] = []
    after = None
    while True:
        events = page(graph, ROLE, selector, after, limit=3)
        seen += [e["eventId"] for e in events]
        if len(events) < 3:
            break
        after = (events[-1]["eventTime"], events[-1]["eventId"])
    assert seen == [e["eventId"] for e in page(graph, ROLE, selector)] and len(set(seen)) == 7


def test_the_principals_events_are_one_temporary_table(graph: Graph) -> None:
    graph.call(START + HOUR_MS, targets="bucket:b")
    with graph.store.cursor() as main, main.cursor() as conn:
        load_principal_events(conn, Subject(ALICE, "IAM_USER", ACCOUNT), START, END)
        assert conn.execute("SELECT event_id, targets FROM principal_events").fetchall() == [("e1", "bucket:b")]


def test_the_events_of_a_role_chain_are_the_sessions_calls(graph: Graph) -> None:
    admin = "arn:aws:iam::111111111111:role/Admin"
    session = "arn:aws:sts::111111111111:assumed-role/Admin/eve"
    graph.call(START - HOUR_MS, source="sts.amazonaws.com", name="AssumeRole", target_role=admin,
               target_session=session)  # started an hour before the scope
    graph.call(START + HOUR_MS, who=admin, session="eve", name="DeleteBucket")
    graph.call(START + HOUR_MS, name="DeleteBucket")  # the user's own
    [chained] = page(graph, ALICE, {"eventName": "DeleteBucket", "via": admin})
    assert (chained["principal"], chained["viaRole"]) == (session, admin)
    [own] = page(graph, ALICE, {"eventName": "DeleteBucket", "via": ""})
    assert own["principal"] == ALICE and "viaRole" not in own
