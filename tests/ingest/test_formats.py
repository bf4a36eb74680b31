"""Each format in one place: a reader module declares its sniffing, its reading, its raw table
and the rows derived from it; the graph store and the sniffing order are built from the list."""

from __future__ import annotations

import pytest

from gumshoe.formats import READERS, READERS_BY_KIND
from gumshoe.graph.store import DERIVED, RAW_TABLES, GraphStore


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.KIND)
def test_a_reader_declares_its_whole_format(reader, tmp_path):
    for name in ("KIND", "PACKAGE", "sniff", "read", "RAW_TABLE", "RAW_DDL", "RAW_COLUMNS", "DERIVED"):
        assert hasattr(reader, name), f"{reader.__name__} lacks {name}"
    assert READERS_BY_KIND[reader.KIND] is reader
    assert RAW_TABLES[reader.KIND] == (reader.RAW_TABLE, reader.RAW_COLUMNS)
    assert len(DERIVED[reader.KIND]) == len(reader.DERIVED) >= 1
    store = GraphStore(tmp_path / "g.duckdb")
    try:
        with store.cursor() as conn:
            columns = [row[0] for row in conn.execute(f"DESCRIBE {reader.RAW_TABLE}").fetchall()]
    finally:
        store.close()
    # The table holds the object a row came from, then exactly the declared columns.
    assert columns == ["object_ref", *reader.RAW_COLUMNS]


def test_the_raw_tables_are_one_per_reader():
    assert len({r.RAW_TABLE for r in READERS}) == len(READERS) == len(RAW_TABLES)
