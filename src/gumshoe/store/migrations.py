"""Changes to an existing control store's tables that ``create_all`` does not make: columns
added since a data directory was created. Each step checks what is there first, so they run
at every start, on any database."""

from __future__ import annotations

from sqlalchemy import Engine, inspect


def migrate(engine: Engine) -> None:
    add_ledger_columns(engine)
    add_scoring_column(engine)


def add_scoring_column(engine: Engine) -> None:
    """Investigations made before the report said why their severity gain the column, empty."""
    with engine.connect() as conn:
        have = {column["name"] for column in inspect(conn).get_columns("investigations")}
    if "scoring" not in have:
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE investigations ADD COLUMN scoring TEXT DEFAULT '{}' NOT NULL")


def add_ledger_columns(engine: Engine) -> None:
    """A ledger made before line files were read in parts (``stream``), or before failed
    objects were ledgered (``failure``), gains their columns."""
    with engine.connect() as conn:
        have = {column["name"] for column in inspect(conn).get_columns("ingest_objects")}
    if {"stream", "failure"} <= have:
        return
    with engine.begin() as conn:
        if "stream" not in have:
            conn.exec_driver_sql("ALTER TABLE ingest_objects ADD COLUMN stream VARCHAR(2048) DEFAULT '' NOT NULL")
            conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ingest_objects_by_stream ON ingest_objects (stream, size)")
        if "failure" not in have:
            conn.exec_driver_sql("ALTER TABLE ingest_objects ADD COLUMN failure TEXT DEFAULT '' NOT NULL")
