"""The control store on a real SQLite file: WAL mode, its schema version and token secret
written once, write transactions that commit or leave nothing, reads and snapshots that see
what was committed, and data_version() noticing another store's commits."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, insert, select

from gumshoe.store.db import ControlStore
from gumshoe.store.queries import Query
from gumshoe.store.schema import SCHEMA_VERSION, graphs, meta

ADMIN = "111122223333"
REGION = "us-east-1"

GRAPH_BY_ARN = Query(select(graphs.c.arn, graphs.c.administrator_id, graphs.c.created_ms).where(graphs.c.arn == bindparam("arn")))
GRAPH_ARNS = Query(select(graphs.c.arn).order_by(graphs.c.arn))


def graph_row(n: int) -> dict[str, object]:
    return {"arn": f"arn:aws:detective:{REGION}:{ADMIN}:graph:{n:032x}", "administrator_id": f"{n:012d}",
            "region": REGION, "created_ms": 1_000 + n}


def arns(store: ControlStore) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(graphs.c.arn).order_by(graphs.c.arn)).scalars())


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'control' / 'gumshoe.db'}"


@pytest.fixture
def store(url: str):
    control = ControlStore(url)
    yield control
    control.close()


def database(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def test_the_database_is_created_in_wal_mode(url, store):
    assert database(url).exists()  # its folder made as well
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    # WAL mode is a property of the file: a plain connection sees it too.
    with sqlite3.connect(database(url)) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_schema_version_and_token_secret_are_written_once_and_kept(url, store, tmp_path):
    with store.read() as conn:
        rows = {key: value for key, value in conn.execute(select(meta.c.key, meta.c.value))}
    assert rows["schema_version"] == str(SCHEMA_VERSION)
    assert len(store.token_secret) == 32
    assert bytes.fromhex(rows["token_secret"]) == store.token_secret
    secret = store.token_secret
    store.close()

    for _ in range(2):
        reopened = ControlStore(url)
        try:
            assert reopened.token_secret == secret
            with reopened.read() as conn:
                again = [tuple(r) for r in conn.execute(select(meta.c.key, meta.c.value))]
                assert conn.execute(select(func.count()).select_from(meta)).scalar() == len(rows)
            assert dict(again) == rows
        finally:
            reopened.close()

    # Another data directory gets a secret of its own.
    other = ControlStore(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert other.token_secret != secret
    finally:
        other.close()


def test_a_committed_write_is_seen_by_read_and_snapshot(store):
    with store.write() as conn:
        conn.execute(insert(graphs).values(**graph_row(1)))
        conn.execute(insert(graphs).values(**graph_row(2)))

    assert arns(store) == [graph_row(1)["arn"], graph_row(2)["arn"]]
    with store.snapshot() as snap:
        row = snap.first(GRAPH_BY_ARN, arn=graph_row(2)["arn"])
        assert (row.arn, row.administrator_id, row.created_ms) == (graph_row(2)["arn"], "000000000002", 1_002)
        assert snap.first(GRAPH_BY_ARN, arn="arn:missing") is None
        assert [r.arn for r in snap.all(GRAPH_ARNS)] == arns(store)
    with store.single() as snap:
        assert snap.scalar(GRAPH_BY_ARN, arn=graph_row(1)["arn"]) == graph_row(1)["arn"]


def test_a_write_that_raises_leaves_nothing_behind(url, store):
    with store.write() as conn:
        conn.execute(insert(graphs).values(**graph_row(1)))

    class Failed(Exception):
        pass

    with pytest.raises(Failed), store.write() as conn:
        conn.execute(insert(graphs).values(**graph_row(2)))
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="999"))
        raise Failed

    assert arns(store) == [graph_row(1)["arn"]]
    with store.snapshot() as snap:
        assert snap.first(GRAPH_BY_ARN, arn=graph_row(2)["arn"]) is None
    with store.read() as conn:
        assert conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar() == str(SCHEMA_VERSION)
    # Nor in the file, for another connection.
    with sqlite3.connect(database(url)) as plain:
        assert plain.execute("SELECT arn FROM graphs").fetchall() == [(graph_row(1)["arn"],)]

    # The store still writes after the failure (the lock and the connection were given back).
    with store.write() as conn:
        conn.execute(insert(graphs).values(**graph_row(3)))
    assert arns(store) == [graph_row(1)["arn"], graph_row(3)["arn"]]


def test_data_version_changes_after_another_store_commits(url, store):
    other = ControlStore(url)
    try:
        before = store.data_version()
        assert before is not None
        assert store.data_version() == before  # nothing committed: the same

        with other.write() as conn:
            conn.execute(insert(graphs).values(**graph_row(1)))
        after = store.data_version()
        assert after is not None and after != before
        assert arns(store) == [graph_row(1)["arn"]]  # and the commit is there to read
        with store.snapshot() as snap:
            assert snap.first(GRAPH_BY_ARN, arn=graph_row(1)["arn"]) is not None

        # A write of the other store that fails commits nothing: no change.
        with pytest.raises(ZeroDivisionError), other.write() as conn:
            conn.execute(insert(graphs).values(**graph_row(2)))
            _ = 1 / 0
        assert store.data_version() == after

        # And the other way round.
        seen = other.data_version()
        with store.write() as conn:
            conn.execute(insert(graphs).values(**graph_row(3)))
        assert other.data_version() != seen
        assert arns(other) == [graph_row(1)["arn"], graph_row(3)["arn"]]
    finally:
        other.close()
