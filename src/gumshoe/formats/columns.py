"""A reader's records as Arrow columns: what moves between decoding and the graph store.

    records (msgspec Structs)  ->  pa.Table: the raw table's columns (``RAW_COLUMNS``) + size

``size`` is each record's share of its object's bytes, for the volume figures; it is not a
column of the raw table. Records whose fields are all scalars go to Arrow as tuples in one
C++ pass (half the cost of a Python list per column); the others column by column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pyarrow as pa

from gumshoe.formats import READERS

# The columns taken from each reader's records: its raw table's, and the record's size.
COLUMNS: dict[str, tuple[str, ...]] = {r.KIND: (*r.RAW_COLUMNS, "size") for r in READERS}

_SCALARS = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64()}
_FLAT_TYPES: dict[type, pa.StructType | None] = {}


def _flat_type(record_type: type) -> pa.StructType | None:
    """An Arrow struct type for a record type whose fields are all scalars, else None."""
    if record_type not in _FLAT_TYPES:
        fields = msgspec.structs.fields(record_type)
        flat = all(f.type in _SCALARS for f in fields)
        _FLAT_TYPES[record_type] = pa.struct([(f.name, _SCALARS[f.type]) for f in fields]) if flat else None
    return _FLAT_TYPES[record_type]


def _column(records: Sequence[Any], name: str) -> list[Any]:
    if name == "raw":
        return [r.raw.decode("utf-8", "replace") if isinstance(r.raw, bytes) else r.raw for r in records]
    return [getattr(r, name) for r in records]


def to_table(kind: str, records: Sequence[Any]) -> pa.Table:
    """The records of one reader (``kind``, at least one record) as a table of ``COLUMNS[kind]``."""
    columns = COLUMNS[kind]
    flat = _flat_type(type(records[0]))
    if flat is not None:
        astuple = msgspec.structs.astuple
        batch = pa.RecordBatch.from_struct_array(pa.array([astuple(r) for r in records], type=flat))
        return pa.Table.from_batches([batch]).select(list(columns))
    return pa.table({name: _column(records, name) for name in columns})



def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Tables of one kind as one; a list column that was empty in one of them (typed null
    there) takes the others' type."""
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
