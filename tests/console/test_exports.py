"""Raw-event exports past 100,000 records (console/events.py, pages/events.py): a graph of
130,000 CloudTrail rows made in SQL, exported whole as CSV and Parquet, newest first, a filter
still applied; and the same over HTTP from a real server, the CSV and the Parquet streamed in
pieces from a temporary file that is gone once they are sent."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import console_world as cw
import pyarrow.parquet as pq
import pytest
from console_browser import ConsoleClient
from e2e_helpers import module_server

from gumshoe.console import events
from gumshoe.graph.store import GraphStore
from gumshoe.graph.stores import GraphStores

ROWS = 130_000
START = 1_790_000_000_000 - 1_790_000_000_000 % 3_600_000
SCOPE = (START, START + 24 * 3_600_000)
BOB = f"arn:aws:iam::{cw.ADMIN}:user/bob"
COLUMNS = ("object_ref", "time_ms", "account_id", "region", "event_id", "event_source", "event_name", "event_type",
           "read_only", "error_code", "source_ip", "user_agent", "identity_type", "principal_type", "principal_id",
           "principal_account", "access_key_id", "role_arn", "session_name", "mfa", "target_role_arn",
           "target_session_arn", "login_result", "bucket", "instance_id", "vpc_endpoint_id", "request_flags",
           "targets")


def fill(store: GraphStore, rows: int = ROWS) -> None:
    """``rows`` calls a half-second apart from START, every third bob's (the rest alice's), every
    tenth failed, every 1,000th with a user agent a spreadsheet would run as a formula."""
    values = {c: "''" for c in COLUMNS}
    values.update(
        object_ref="'test'", time_ms=f"{START} + i * 500", account_id=f"'{cw.ADMIN}'", region="'us-east-1'",
        event_id="'e' || i", event_source="'s3.amazonaws.com'", event_name="'GetObject'", event_type="'AwsApiCall'",
        read_only="true", error_code="CASE WHEN i % 10 = 0 THEN 'AccessDenied' ELSE '' END",
        source_ip="'198.51.100.' || (i % 200)",
        user_agent="CASE WHEN i % 1000 = 0 THEN '=HYPERLINK(\"x\")' ELSE 'aws-cli/2.15.0' END",
        identity_type="'IAMUser'", principal_type="'aws_user'",
        principal_id=f"CASE WHEN i % 3 = 0 THEN '{BOB}' ELSE '{cw.ALICE}' END", principal_account=f"'{cw.ADMIN}'",
        mfa="false", bucket="'b' || (i % 7)")
    with store.cursor() as conn:
        conn.execute(f"INSERT INTO api_events ({', '.join(COLUMNS)}) "
                     f"SELECT {', '.join(values[c] for c in COLUMNS)} FROM range({rows}) t(i)")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    graph = GraphStore(tmp_path_factory.mktemp("console-exports") / "g.duckdb")
    fill(graph)
    yield graph
    graph.close()


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_csv_and_parquet_hold_every_record_past_100000(store: GraphStore, tmp_path: Path) -> None:
    query = events.parse({"source": "api_events"}, *SCOPE)
    assert events.search(store, query, 0, 1)["total"] == ROWS
    out = tmp_path / "all.csv"
    assert events.export_csv(store, query, out) == ROWS
    table = read_csv(out)
    assert table[0] == list(events.SOURCES["api_events"].columns) and len(table) == ROWS + 1
    ids = [row[table[0].index("event_id")] for row in table[1:]]
    assert ids == [f"e{i}" for i in range(ROWS - 1, -1, -1)]  # every one, newest first
    agents = [row[table[0].index("user_agent")] for row in table[1:]]
    assert agents.count("'=HYPERLINK(\"x\")") == ROWS // 1000  # defused in every chunk
    parquet = tmp_path / "all.parquet"
    assert events.export_parquet(store, query, parquet) == ROWS
    written = pq.read_table(parquet)
    assert written.num_rows == ROWS and written.column_names == table[0]
    assert written.column("event_id").to_pylist() == ids
    assert written.column("time_ms").to_pylist()[:2] == [START + (ROWS - 1) * 500, START + (ROWS - 2) * 500]


def test_the_filter_still_applies_to_the_whole_export(store: GraphStore, tmp_path: Path) -> None:
    query = events.parse({"source": "api_events", "join": "and", "f0": "principal_id", "o0": "equals", "v0": BOB,
                          "f1": "error_code", "o1": "equals", "v1": ""}, *SCOPE)
    expected = [f"e{i}" for i in range(ROWS - 1, -1, -1) if i % 3 == 0 and i % 10 != 0]
    assert events.search(store, query, 0, 1)["total"] == len(expected) > 30_000
    out = tmp_path / "bob.csv"
    assert events.export_csv(store, query, out) == len(expected)
    table = read_csv(out)
    assert [row[table[0].index("event_id")] for row in table[1:]] == expected
    assert {row[table[0].index("principal_id")] for row in table[1:]} == {BOB}
    parquet = tmp_path / "bob.parquet"
    assert events.export_parquet(store, query, parquet) == len(expected)
    assert pq.read_table(parquet).column("event_id").to_pylist() == expected
    # The scope bounds it too: the first hour's records only.
    hour = events.parse({"source": "api_events"}, START, START + 3_600_000)
    assert events.export_csv(store, hour, out) == 7_200 and len(read_csv(out)) == 7_201


# --- over HTTP: streamed from a temporary file ---------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server whose graph holds the rows: made by the API, filled while the server is
    stopped (the graph's DuckDB file is the server's alone while it runs)."""
    with module_server(tmp_path_factory, name="console-exports") as server:
        arn = server.client(cw.ADMIN).create_graph()["GraphArn"]
        server.stop()

        stores = GraphStores(server.data_dir)
        try:
            fill(stores.get(arn))
        finally:
            stores.close()
        server.start()
        server.graph_id = arn.rsplit(":", 1)[-1]
        yield server


def test_the_console_streams_exports_of_every_record(served: Any) -> None:
    client = ConsoleClient(served.url)
    try:
        assert client.sign_in(cw.ADMIN).status_code == 303
        path = f"/console/graphs/{served.graph_id}/events"
        scope = {"from": str(SCOPE[0]), "to": str(SCOPE[1])}
        exports = served.data_dir / "exports"
        with client.http.stream("GET", path + ".csv", params={"source": "api_events", **scope}) as answer:
            assert answer.status_code == 200 and answer.headers["x-gumshoe-rows"] == str(ROWS)
            assert answer.headers["content-type"] == "text/csv; charset=utf-8"
            assert "attachment" in answer.headers["content-disposition"]
            assert answer.headers["x-content-type-options"] == "nosniff"  # the console's headers, as on every page
            pieces = [chunk for chunk in answer.iter_raw()]
            assert int(answer.headers["content-length"]) == sum(len(p) for p in pieces)
        assert len(pieces) > 1  # sent in pieces
        table = list(csv.reader(io.StringIO(b"".join(pieces).decode())))
        assert len(table) == ROWS + 1 and table[1][table[0].index("event_id")] == f"e{ROWS - 1}"
        assert list(exports.iterdir()) == []  # the temporary file is gone once sent
        bob = {"source": "api_events", "f0": "principal_id", "o0": "equals", "v0": BOB, **scope}
        answer = client.get(path + ".parquet", params=bob)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/vnd.apache.parquet"
        written = pq.read_table(io.BytesIO(answer.content))
        assert written.num_rows == int(answer.headers["x-gumshoe-rows"]) == len(range(0, ROWS, 3))
        assert set(written.column("principal_id").to_pylist()) == {BOB}
        assert list(exports.iterdir()) == []
        # A HEAD gets the headers only, and leaves no file either.
        head = client.http.head(path + ".csv", params=bob)
        assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
        assert list(exports.iterdir()) == []
        # A query the page refuses is still a 400 page, not a file.
        assert client.get(path + ".csv", params={"source": "nope"}).status_code == 400
    finally:
        client.close()
