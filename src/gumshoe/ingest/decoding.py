"""Decoding objects into Arrow tables, in this process or in worker processes.

    object (gzip or not) -> sniff its reader -> reader.read -> batches -> columns.to_table
                                                             = Decoded pieces

``decode`` is the one path from bytes to tables. The pipeline runs it in its own process,
batch by batch, for large objects and the parts of growing files (memory stays bounded by a
batch), and ``Decoders`` run it in a pool of processes, whole, for the ordinary objects of a
large run (S3 deliveries are a few MB at most): Python decodes at one core's speed, so the
other cores decode the next objects while the pipeline routes and DuckDB writes.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, BinaryIO

import pyarrow as pa

from gumshoe.formats import READERS, columns
from gumshoe.formats.base import Failing, Limits, Reject, Rejoined, read_head
from gumshoe.ingest.sources import SourceObject, unpacked

log = logging.getLogger("gumshoe.ingest")

SNIFF_BYTES = 65536
# Objects decoded in the pool: up to this size as stored (larger ones are read here, batch
# by batch), when a run has at least POOL_MIN_OBJECTS of them (starting the workers takes a
# second or so).
POOL_OBJECT_BYTES = 8 << 20
POOL_MIN_OBJECTS = 8
# Decoded ahead of the pipeline: per worker, and in all (bytes as stored).
AHEAD_PER_WORKER = 3
AHEAD_BYTES = 96 << 20


@dataclass
class Decoded:
    """One piece of an object: its reader's kind ("unknown": none reads it), some of its
    records as a table (None: no records in this piece) and its rejects."""

    kind: str
    table: pa.Table | None = None
    rejects: list[Reject] = field(default_factory=list)
    not_a_log: bool = False  # readable, but no reader's format: said in the log, not a reject


def sniff(head: bytes, key: str) -> ModuleType | None:
    return next((r for r in READERS if r.sniff(head, key)), None) if head.strip() else None


def decode(stream: BinaryIO, key: str, limits: Limits) -> Iterator[Decoded]:
    """The pieces of an object read from ``stream`` (decompressed); the first says its kind."""
    head, error = read_head(stream, SNIFF_BYTES)
    reader = sniff(head, key)
    if reader is None:
        if error is not None:
            yield Decoded("unknown", rejects=[Reject("byte 0", f"the object cannot be read: {error}")])
        else:
            yield Decoded("unknown", not_a_log=bool(head.strip()))
        return
    yield from decode_with(reader, Rejoined(head, Failing(error) if error is not None else stream), key, limits)


def decode_with(reader: ModuleType, stream: Any, key: str, limits: Limits) -> Iterator[Decoded]:
    """The pieces of an object of a known format (a part of a growing file)."""
    kind = reader.KIND
    any_piece = False
    for batch in reader.read(stream, key, limits):
        any_piece = True
        yield Decoded(kind, columns.to_table(kind, batch.records) if batch.records else None, batch.rejects)
    if not any_piece:
        yield Decoded(kind)


def decode_bytes(data: bytes, key: str, max_object_bytes: int, limits: Limits) -> list[Decoded]:
    """``decode`` of an object's bytes as stored, whole: what a worker process runs."""
    stream = unpacked(io.BytesIO(data), max_object_bytes)
    try:
        pieces = list(decode(stream, key, limits))
    finally:
        stream.close()
    tables = [p.table for p in pieces if p.table is not None]
    rejects = [r for p in pieces for r in p.rejects]
    # One table to send back: one Arrow IPC message instead of one per batch.
    return [Decoded(pieces[0].kind, columns.concat(tables) if tables else None, rejects, pieces[0].not_a_log)]


def return_memory_promptly() -> None:
    """Arrow's tables on the system allocator: mimalloc (pyarrow's default) keeps what a batch
    freed for later, some 40 MiB more at the peak of a large load."""
    pa.set_memory_pool(pa.system_memory_pool())


def default_workers() -> int:
    """Worker processes when the setting leaves it to Gumshoe: every core but the one the
    pipeline and DuckDB's writer use."""
    return max(0, (os.cpu_count() or 1) - 1)


class Decoders:
    """A run's objects decoded ahead of the pipeline in a pool of processes, in order.

    ``take(obj)`` gives an object's pieces once decoded, or None for an object the pool does
    not take (too large, a part of a growing file) or could not (its workers died: the
    pipeline then reads it itself, so a bad object fails as it would have anyway).
    """

    def __init__(self, objects: Sequence[SourceObject], workers: int, max_object_bytes: int, limits: Limits) -> None:
        self._waiting = deque(o for o in objects if takes(o))
        self._ahead: dict[str, tuple[SourceObject, Future[list[Decoded]]]] = {}
        self._ahead_bytes = 0
        self._most = workers * AHEAD_PER_WORKER
        self._args = (max_object_bytes, limits)
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=return_memory_promptly)
        self._fill()

    @classmethod
    def for_run(cls, objects: Sequence[SourceObject], workers: int, max_object_bytes: int,
                limits: Limits) -> Decoders | None:
        """Decoders for a run with enough objects for a pool to be worth starting, else None."""
        if workers < 1 or sum(1 for o in objects if takes(o)) < POOL_MIN_OBJECTS:
            return None
        return cls(objects, workers, max_object_bytes, limits)

    def _fill(self) -> None:
        while self._pool is not None and self._waiting and len(self._ahead) < self._most and (
                not self._ahead or self._ahead_bytes + self._waiting[0].size <= AHEAD_BYTES):
            obj = self._waiting.popleft()
            future: Future[list[Decoded]]
            try:
                with obj.open_raw() as raw:
                    data = raw.read(POOL_OBJECT_BYTES + 1)
            except Exception as exc:  # the pipeline sees it as it would have reading it itself
                future = Future()
                future.set_exception(exc)
            else:
                future = self._pool.submit(decode_bytes, data, obj.key, *self._args)
            self._ahead[obj.ref] = (obj, future)
            self._ahead_bytes += obj.size

    def take(self, obj: SourceObject) -> list[Decoded] | None:
        entry = self._ahead.pop(obj.ref, None)
        if entry is None:
            if self._waiting and self._waiting[0].ref == obj.ref:
                self._waiting.popleft()
            return None
        self._ahead_bytes -= entry[0].size
        try:
            return entry[1].result()
        except BrokenProcessPool:
            log.warning("a decoding worker died; the rest of this run is decoded in one process")
            self.close()
            return None
        finally:
            self._fill()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._ahead.clear()
        self._waiting.clear()

    def __enter__(self) -> Decoders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def takes(obj: SourceObject) -> bool:
    """Whether the pool decodes this object (whole objects, not too large)."""
    return obj.part is None and obj.size <= POOL_OBJECT_BYTES
