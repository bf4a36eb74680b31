"""What every reader shares: the batch it yields, rejects, line splitting and gzip errors.

A reader turns the bytes of one object (already decompressed: the source layer opens gzip
by its magic number) into batches of typed records, streaming, with bounded memory. A record
that cannot be read becomes a ``Reject`` with its position and reason; it never stops the
object. A decompression error (a truncated or corrupt gzip member) ends the object with one
reject after the records read so far.

Every record type has at least:

    account_id: str   the account that produced it (decides which graphs it enters)
    region: str       its Region ("" when the record does not say; the source path may)
    time_ms: int      when it happened, epoch milliseconds
    size: int         bytes of the raw record, for the graph's volume figures
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

R = TypeVar("R")

BATCH_RECORDS = 8192  # records per batch a reader yields
REJECT_RAW_BYTES = 4096  # how much of a rejected record is kept
# Errors a decompressing stream raises on a truncated or corrupt object.
STREAM_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, OSError)

# Datasource packages (the API's names).
DETECTIVE_CORE = "DETECTIVE_CORE"
EKS_AUDIT = "EKS_AUDIT"
ASFF_SECURITYHUB_FINDING = "ASFF_SECURITYHUB_FINDING"


@dataclass(frozen=True)
class Reject:
    position: str  # where in the object: "line 12", "record 3", "byte 4096"
    reason: str  # readable: what was wrong
    raw: bytes = b""  # the start of the record (up to REJECT_RAW_BYTES)


@dataclass
class Batch(Generic[R]):
    # A reader yields a batch once records + rejects reach BATCH_RECORDS.
    records: list[R] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: int = 0  # readable entries that carry nothing (flow-log NODATA rows, headers)


class Reader(Protocol[R]):
    """A reader module exposes these names (see cloudtrail.py, vpcflow.py, guardduty.py).
    A line format whose first line shapes the lines after it also has ``preamble(head) ->
    bytes``: that line, given back before a part of a growing file read from further on."""

    KIND: str  # "cloudtrail", "vpcflow", "guardduty", "eks_audit", "asff"
    PACKAGE: str  # datasource package its records count against

    def sniff(self, head: bytes, name: str) -> bool:
        """Whether the object is this reader's format, from its first decompressed bytes
        (up to 64 KiB) and its key; content decides, the key is only a hint."""
        ...

    def read(self, stream: Stream, name: str) -> Iterator[Batch[R]]:
        """Batches of records and rejects, in object order."""
        ...


class Stream(Protocol):
    """What readers need of a stream: ``read`` (``read1`` is used when present)."""

    def read(self, size: int = -1, /) -> bytes: ...


class Rejoined:
    """A stream whose first bytes were already read (to sniff them) and are given back."""

    def __init__(self, head: bytes, stream: Stream) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int | None = -1, /) -> bytes:
        if self._head:
            head = self._head
            if size is None or size < 0:
                self._head = b""
                return head + self._stream.read()
            if len(head) >= size:
                self._head = head[size:]
                return head[:size]
            self._head = b""
            return head + self._stream.read(size - len(head))
        return self._stream.read(-1 if size is None else size)

    def read1(self, size: int = -1, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        read1 = getattr(self._stream, "read1", None)
        return read1(size) if read1 is not None else self._stream.read(size)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class Failing:
    """A stream that already failed: every read raises the error again."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def read(self, size: int = -1, /) -> bytes:
        raise self.error


def read_head(stream: Stream, size: int) -> tuple[bytes, BaseException | None]:
    """Up to ``size`` first bytes, and the error that stopped the reading early, if any.
    ``read1`` keeps what a truncated gzip member decompressed before its cut."""
    parts: list[bytes] = []
    have = 0
    read1 = getattr(stream, "read1", None)
    try:
        while have < size:
            chunk = read1(size - have) if read1 is not None else stream.read(size - have)
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
    except STREAM_ERRORS as exc:
        return b"".join(parts), exc
    return b"".join(parts), None


def raw_excerpt(raw: bytes) -> bytes:
    return raw[:REJECT_RAW_BYTES]


def iter_lines(stream: Stream, chunk_size: int = 1 << 20) -> Iterator[tuple[int, bytes] | Reject]:
    """Numbered lines (1-based, without the line ending) of a stream read in chunks; a
    decompression error yields one Reject and ends the iteration (after the lines before it:
    ``read1`` returns what a truncated gzip decompressed before the cut)."""
    number = 0
    pending: list[bytes] = []  # pieces of the line not yet ended (joined once: long lines stay linear)
    offset = 0
    read = getattr(stream, "read1", None) or stream.read
    while True:
        try:
            chunk = read(chunk_size)
        except STREAM_ERRORS as exc:
            yield Reject(f"byte {offset}", f"the object is truncated or corrupt: {exc}", raw_excerpt(b"".join(pending)))
            return
        if not chunk:
            break
        offset += len(chunk)
        if b"\n" not in chunk:
            pending.append(chunk)
            continue
        lines = chunk.split(b"\n")
        if pending:
            lines[0] = b"".join(pending) + lines[0]
        pending = [lines.pop()]
        for line in lines:
            number += 1
            yield number, line.rstrip(b"\r")
    rest = b"".join(pending)
    if rest:
        yield number + 1, rest.rstrip(b"\r")


def read_all(stream: Stream) -> bytes | Reject:
    """The whole object (for whole-document formats), or a Reject when it cannot be read
    (a document cut short is not read at all)."""
    try:
        return stream.read()
    except STREAM_ERRORS as exc:
        return Reject("byte 0", f"the object is truncated or corrupt: {exc}")
