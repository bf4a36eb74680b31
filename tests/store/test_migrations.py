"""Columns added to the control store since a data directory was made are added at start."""

from __future__ import annotations

from sqlalchemy import inspect

from gumshoe.store.db import ControlStore


def columns(store: ControlStore) -> set[str]:
    with store.read() as conn:
        return {c["name"] for c in inspect(conn).get_columns("ingest_objects")}


def test_a_ledger_from_before_parts_and_failures_gains_their_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'gumshoe.db'}"
    store = ControlStore(url)
    with store.write() as conn:
        conn.exec_driver_sql("DROP INDEX ingest_objects_by_stream")
        conn.exec_driver_sql("ALTER TABLE ingest_objects DROP COLUMN stream")
        conn.exec_driver_sql("ALTER TABLE ingest_objects DROP COLUMN failure")
    assert not {"stream", "failure"} & columns(store)
    store.close()
    reopened = ControlStore(url)
    try:
        assert {"stream", "failure"} <= columns(reopened)
    finally:
        reopened.close()
    again = ControlStore(url)  # and only once
    again.close()
